"""Alert conditions and their dedup: what is wrong, what was said about it, what to say next.

A :class:`Condition` is one thing that needs someone (dead letters on a source, a paused destination,
a token about to expire), found by :mod:`leadgate.conditions`. Each has a stable ``key``; its state
lives in one Redis hash (``lg:alert:<key>``: first seen, last sent, leads affected), and
:func:`plan` turns this evaluation's conditions plus the stored states into the :class:`Notice`
list to send: ``firing`` for a new one (or one never successfully sent), ``reminder`` once
``repeat_after`` has passed, ``update`` when a batched condition grew after its window, and
``resolved`` when a stored one is no longer found. Sending is the workers' (:mod:`workers.alerting`);
nothing here does network I/O besides Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from datetime import datetime
from datetime import timezone
from typing import Any

from redis import Redis

from leadgate import defaults
from leadgate.redaction import mask_email
from leadgate.redaction import redact_text

__all__ = [
    "AlertBook",
    "AlertState",
    "Condition",
    "Notice",
    "describe_duration",
    "format_utc",
    "shareable",
    "plan",
]

SEVERITIES = ("critical", "warning")


def describe_duration(seconds: float) -> str:
    """``600`` -> ``10 minutes``, ``93600`` -> ``26 hours``: what a person reads in an alert."""
    seconds = max(float(seconds), 0.0)
    for bound, size, unit in ((2 * 86400, 86400, "days"), (7200, 3600, "hours"), (120, 60, "minutes")):
        if seconds >= bound:
            return f"{int(seconds // size)} {unit}"
    return "1 second" if int(seconds) == 1 else f"{int(seconds)} seconds"


def shareable(text: str) -> str:
    """Text from a peer (an error body, Graph's message) as it may leave leadgate: secrets redacted, emails masked.

    Phones are not masked here: page and lead ids are long digit strings, and the fix commands quote them.
    """
    return mask_email(redact_text(text))


def format_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ts else "unknown"


@dataclass(frozen=True, kw_only=True)
class Problem:
    """What an alert is about: shared by a condition found now, its stored state and a message about it."""

    key: str
    """Stable across evaluations: ``<kind>:<subject>`` (``dead_letters:contact-us``)."""
    kind: str
    subject: str
    title: str
    """What happened, in one line: ``7 leads dead-lettered on contact-us ...``."""
    since: float
    affected: int
    """Leads affected (0 when none are yet, e.g. a token that will expire)."""
    fix: str
    """The one command or dashboard link that fixes it."""
    detail: str = ""
    severity: str = "critical"


@dataclass(frozen=True, kw_only=True)
class Condition(Problem):
    """One active problem, as found by one evaluation."""

    regrow_after: float | None = None
    """For batched conditions (dead letters): send an ``update`` when more leads are affected and this long passed."""


@dataclass(frozen=True, kw_only=True)
class Notice(Problem):
    """One message to every channel about one condition."""

    state: str
    """``firing``, ``update``, ``reminder``, ``resolved`` or ``test``."""
    at: float = field(default_factory=time.time)

    @property
    def headline(self) -> str:
        mark = {"resolved": "RESOLVED", "test": "TEST", "reminder": "STILL"}.get(self.state, self.severity.upper())
        return f"[leadgate {mark}] {self.title}"

    def text(self) -> str:
        """The message body every channel sends (plain text; Slack renders it as is)."""
        lines = [self.headline]
        if self.detail:
            lines.append(self.detail)
        if self.state == "resolved":
            lines.append(f"Cleared after {describe_duration(self.at - self.since)} (since {format_utc(self.since)}).")
        elif self.state != "test":
            lasting = describe_duration(self.at - self.since)
            lines.append(f"Since {format_utc(self.since)} ({lasting}); leads affected: {self.affected}.")
            lines.append(f"Fix: {self.fix}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text()}

    @classmethod
    def about(cls, problem: Problem, state: str, now: float) -> Notice:
        """A message about ``problem``, its texts made shareable (secrets redacted, e-mails masked)."""
        shared = {name: getattr(problem, name) for name in PROBLEM_FIELDS}
        shared.update(title=shareable(problem.title), detail=shareable(problem.detail))
        return cls(**shared, state=state, at=now)


PROBLEM_FIELDS = tuple(f.name for f in fields(Problem))


@dataclass(frozen=True, kw_only=True)
class AlertState(Problem):
    """What is stored about one condition (``lg:alert:<key>``)."""

    last_sent: float = 0.0
    """0 until one channel took a message about it: the next evaluation tries again."""
    sent_affected: int = 0

    @classmethod
    def from_hash(cls, key: str, raw: Mapping[bytes, bytes]) -> AlertState:
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(
            key=key,
            kind=data.get("kind", ""),
            subject=data.get("subject", ""),
            title=data.get("title", ""),
            since=float(data.get("since") or 0),
            affected=int(data.get("affected") or 0),
            fix=data.get("fix", ""),
            detail=data.get("detail", ""),
            severity=data.get("severity", "critical"),
            last_sent=float(data.get("last_sent") or 0),
            sent_affected=int(data.get("sent_affected") or 0),
        )


def plan(
    conditions: Iterable[Condition], states: Mapping[str, AlertState], now: float, repeat_after: float
) -> list[Notice]:
    """What to send now: the transitions from the stored ``states`` to this evaluation's ``conditions``."""
    notices: list[Notice] = []
    found = {c.key: c for c in conditions}
    for key, condition in found.items():
        state = states.get(key)
        if state is None or not state.last_sent:
            notices.append(Notice.about(condition, "firing", now))
        elif (
            condition.regrow_after is not None
            and condition.affected > state.sent_affected
            and now - state.last_sent >= condition.regrow_after
        ):
            notices.append(Notice.about(condition, "update", now))
        elif now - state.last_sent >= repeat_after:
            notices.append(Notice.about(condition, "reminder", now))
    for key, state in states.items():
        if key not in found:
            notices.append(Notice.about(state, "resolved", now))
    return notices


class AlertBook:
    """The alerts' Redis keys: one hash per condition, the set of active ones, the log of sent messages,
    and the short lease that lets one worker at a time evaluate."""

    def __init__(self, client: Redis, prefix: str = defaults.KEY_PREFIX):
        self.redis: Any = client  # replies are bytes (decode_responses is off); redis-py types them bytes | str
        self.prefix = prefix

    def state_key(self, key: str) -> str:
        return f"{self.prefix}alert:{key}"

    @property
    def active_key(self) -> str:
        return f"{self.prefix}alerts:active"

    @property
    def log_key(self) -> str:
        return f"{self.prefix}alerts:sent"

    @property
    def lock_key(self) -> str:
        return f"{self.prefix}alerts:lock"

    def states(self) -> dict[str, AlertState]:
        keys = sorted(k.decode() for k in self.redis.smembers(self.active_key))
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(self.state_key(key))
        out = {}
        for key, raw in zip(keys, pipe.execute(), strict=True):
            if raw:
                out[key] = AlertState.from_hash(key, raw)
        return out

    def record(self, notice: Notice, delivered: bool) -> None:
        """Stores what a notice changes: a firing/update/reminder keeps the condition (sent or not), a resolved
        one sent (or with nowhere to go) drops it."""
        key = self.state_key(notice.key)
        with self.redis.pipeline(transaction=True) as pipe:
            if notice.state == "resolved":
                if delivered:
                    pipe.delete(key)
                    pipe.srem(self.active_key, notice.key)
            else:
                mapping: dict[str, Any] = {
                    "kind": notice.kind,
                    "subject": notice.subject,
                    "title": notice.title,
                    "since": repr(notice.since),
                    "affected": notice.affected,
                    "fix": notice.fix,
                    "detail": notice.detail,
                    "severity": notice.severity,
                }
                if delivered:
                    mapping.update(last_sent=repr(notice.at), sent_affected=notice.affected)
                pipe.hset(key, mapping=mapping)
                pipe.sadd(self.active_key, notice.key)
            pipe.execute()

    def refresh(self, conditions: Iterable[Condition]) -> None:
        """Keeps each stored condition's figures current (the dashboard and ``health`` read them) without sending."""
        with self.redis.pipeline(transaction=False) as pipe:
            for condition in conditions:
                pipe.hset(
                    self.state_key(condition.key),
                    mapping={"affected": condition.affected, "title": condition.title, "detail": condition.detail},
                )
            pipe.execute()

    def log(self, notice: Notice, results: Mapping[str, str]) -> None:
        """Appends a sent notice and each channel's result (``ok`` or the error) to the alerts page's log."""
        entry = json.dumps({**notice.as_dict(), "channels": dict(results)})
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.lpush(self.log_key, entry)
            pipe.ltrim(self.log_key, 0, defaults.ALERT_LOG_SIZE - 1)
            pipe.execute()

    def sent(self, limit: int = 100) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.redis.lrange(self.log_key, 0, limit - 1)]

    def take_lease(self, owner: str, seconds: float) -> bool:
        """True when ``owner`` holds (or now took) the evaluation lease; it lapses by itself after ``seconds``."""
        ms = max(int(seconds * 1000), 1)
        if self.redis.set(self.lock_key, owner, nx=True, px=ms):
            return True
        current = self.redis.get(self.lock_key)
        if current is not None and current.decode() == owner:
            self.redis.pexpire(self.lock_key, ms)
            return True
        return False

    def release_lease(self, owner: str) -> None:
        current = self.redis.get(self.lock_key)
        if current is not None and current.decode() == owner:
            self.redis.delete(self.lock_key)
