"""Finds every active alert condition by reading the store: the checks behind alerts and ``leadgate health``.

Each ``*_conditions`` function reads Redis (never another service: the Facebook checks' results are
read from :mod:`leadgate.page_health`, written by the workers' watchdog) and returns the
:class:`~leadgate.alerts.Condition` list of one kind. :func:`evaluate` runs all of them with the
settings of ``alerts:``; a condition a source turned off is not looked for.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import quote

import redis

from leadgate.alert_settings import ConditionSettings
from leadgate.alerts import Condition
from leadgate.alerts import describe_duration
from leadgate.page_health import PageHealthStore
from leadgate.traffic import Traffic
from leadgate.traffic import learned_silence

__all__ = ["dead_letter_times", "evaluate", "fix_link", "health_problems", "silence_bound"]

DEAD_SCAN = 2000
"""Most dead letters read per evaluation (the newest): enough to count and group them, bounded in cost."""
WEEK = 7 * 86400


def fix_link(config: Any, path: str) -> str:
    """A dashboard link: absolute under ``public_url`` when it is set, else the path alone."""
    return f"{config.public_url.rstrip('/')}{path}" if config.public_url else path


def _dead_letters(rt: Any, now: float) -> list[tuple[float, str, str]]:
    """(when, source, reason) of the newest dead letters."""
    entries = rt.redis.zrevrange(rt.store.dead_key, 0, DEAD_SCAN - 1, withscores=True)
    pipe = rt.redis.pipeline(transaction=False)
    for member, _ in entries:
        pipe.hmget(rt.store.key(member.decode()), ["source", "last_status_code", "last_error"])
    out = []
    for (_, score), (source, code, error) in zip(entries, pipe.execute(), strict=True):
        if source is None:
            continue
        code_text, error_text = (code or b"").decode(), (error or b"").decode()[:80]
        reason = error_text if code_text in error_text else f"{code_text} {error_text}".strip()
        out.append((float(score), source.decode(), reason or "no reason recorded"))
    return out


def dead_letter_times(rt: Any, now: float) -> dict[str, list[float]]:
    """Source -> when each of its dead letters (still in the queue) died: the dashboard's chart."""
    out: dict[str, list[float]] = {}
    for ts, source, _ in _dead_letters(rt, now):
        if ts >= now - WEEK:
            out.setdefault(source, []).append(ts)
    return out


def dead_letter_conditions(rt: Any, now: float, settings_for: Callable[[str], ConditionSettings]) -> list[Condition]:
    """One condition per source with dead letters waiting: batched, so 7 dead letters are one message."""
    by_source: dict[str, list[tuple[float, str]]] = {}
    for ts, source, reason in _dead_letters(rt, now):
        by_source.setdefault(source, []).append((ts, reason))
    out = []
    for source, letters in sorted(by_source.items()):
        settings = settings_for(source)
        if not settings.dead_letters:
            continue
        window = settings.dead_letter_window
        recent = sum(1 for ts, _ in letters if ts >= now - window)
        reasons = Counter(reason for _, reason in letters).most_common(3)
        title = f"{len(letters)} lead(s) dead-lettered on {source}"
        if recent:
            title = f"{recent} lead(s) dead-lettered in the last {describe_duration(window)} on {source}"
        title += ": " + "; ".join(f"{reason} ({count})" if count > 1 else reason for reason, count in reasons)
        out.append(
            Condition(
                key=f"dead_letters:{source}",
                kind="dead_letters",
                subject=source,
                title=title[:300],
                since=min(ts for ts, _ in letters),
                affected=len(letters),
                detail=f"{len(letters)} dead letter(s) waiting on {source} in all.",
                fix=f"leadgate dlq replay --all --source {source} once the cause is fixed, or "
                + fix_link(rt.config, f"/admin/dead-letters?source={quote(source)}"),
                regrow_after=window,
            )
        )
    return out


def paused_conditions(rt: Any, now: float) -> list[Condition]:
    """One condition per paused destination (ConnectGain refused its API key), with the leads parked behind it."""
    paused = {k.decode(): json.loads(v) for k, v in rt.redis.hgetall(rt.store.paused_key).items()}
    if not paused:
        return []
    parked = _parked(rt)
    out = []
    for name, why in sorted(paused.items()):
        waiting = sum(1 for status, destination, _ in parked if status == "paused" and destination == name)
        out.append(
            Condition(
                key=f"paused:{name}",
                kind="paused",
                subject=name,
                title=f"deliveries to {name} are paused: {str(why.get('reason', ''))[:200]}",
                since=float(why.get("at") or now),
                affected=waiting,
                fix=f"fix the API key of destination {name}, then: leadgate destinations resume {name} (or "
                + fix_link(rt.config, "/admin/")
                + ")",
            )
        )
    return out


def _parked(rt: Any) -> list[tuple[str, str, str]]:
    """(status, destination, source) of every parked event."""
    members = rt.redis.zrange(rt.store.parked_key, 0, -1)
    pipe = rt.redis.pipeline(transaction=False)
    for member in members:
        pipe.hmget(rt.store.key(member.decode()), ["status", "destination", "source"])
    return [(_text(status), _text(destination), _text(source)) for status, destination, source in pipe.execute()]


def _text(value: bytes | None) -> str:
    return (value or b"").decode()


def needs_token_conditions(rt: Any, now: float, settings_for: Callable[[str], ConditionSettings]) -> list[Condition]:
    """One condition per source with leads parked because its platform token stopped working."""
    entries = dict(rt.redis.zrange(rt.store.parked_key, 0, -1, withscores=True))
    pipe = rt.redis.pipeline(transaction=False)
    for member in entries:
        pipe.hmget(rt.store.key(member.decode()), ["status", "source"])
    per_source: dict[str, list[float]] = {}
    for score, (status, source) in zip(entries.values(), pipe.execute(), strict=True):
        if status == b"needs_token" and source is not None:
            per_source.setdefault(source.decode(), []).append(float(score))
    return [
        Condition(
            key=f"needs_token:{source}",
            kind="needs_token",
            subject=source,
            title=f"{len(times)} lead(s) on {source} wait for a working access token",
            since=min(times),
            affected=len(times),
            fix=f"put a valid page token in the config for {source}, then: leadgate facebook retry-parked --source "
            f"{source}",
        )
        for source, times in sorted(per_source.items())
        if settings_for(source).needs_token
    ]


def backlog_conditions(rt: Any, now: float, settings: ConditionSettings) -> list[Condition]:
    """The oldest undelivered lead is older than the bound: deliveries are failing or not running."""
    if not settings.backlog:
        return []
    bound = settings.backlog_older_than
    oldest = rt.redis.zrange(rt.store.backlog_key, 0, 0, withscores=True)
    if not oldest or now - oldest[0][1] < bound:
        return []
    late = int(rt.redis.zcount(rt.store.backlog_key, "-inf", now - bound))
    return [
        Condition(
            key="backlog:all",
            kind="backlog",
            subject="all",
            title=f"{late} lead(s) undelivered for more than {describe_duration(bound)} "
            f"(the oldest for {describe_duration(now - oldest[0][1])})",
            since=float(oldest[0][1]),
            affected=late,
            fix="leadgate health (is a worker running? is ConnectGain answering?), and "
            + fix_link(rt.config, "/admin/events?status=retrying"),
        )
    ]


def silence_bound(settings: ConditionSettings, times: list[float]) -> tuple[float | None, str]:
    """How long this source may go without a lead, and where that bound comes from."""
    learned = (
        learned_silence(times, settings.silence_factor, settings.silence_minimum) if settings.learn_silence else None
    )
    if settings.expect_every is not None and (learned is None or settings.expect_every <= learned):
        return settings.expect_every, "expect_every"
    if learned is not None:
        return learned, f"{settings.silence_factor:g}x its median gap over 7 days"
    return None, ""


def silence_conditions(rt: Any, now: float, settings_for: Callable[[str], ConditionSettings]) -> list[Condition]:
    """Sources with no accepted lead for longer than ``expect_every``, or than their learned bound."""
    traffic = Traffic(rt.redis, rt.store.prefix)
    out = []
    for source in sorted(rt.config.sources):
        settings = settings_for(source)
        if not settings.silence:
            continue
        times = traffic.accepted_times(rt.store.source_index_key(source), rt.store.key, now - WEEK)
        bound, why = silence_bound(settings, times)
        if why != "expect_every" and settings.learn_silence:
            remembered = traffic.remember_bound(source, bound)
            if bound is None and remembered is not None:
                bound, why = remembered, "its learned bound (no lead in 7 days to learn from)"
        if bound is None:
            continue
        last = traffic.last_lead(source, max(times) if times else None, now)
        url = rt.config.source_url(rt.config.sources[source])
        if now - last < bound:
            continue
        out.append(
            Condition(
                key=f"silence:{source}",
                kind="silence",
                subject=source,
                title=f"no lead from {source} for {describe_duration(now - last)} (expected within "
                f"{describe_duration(bound)}: {why})",
                since=last,
                affected=0,
                severity="warning",
                fix=f"check that the form or ad behind {source} still posts to {url} "
                f"(leadgate send-test {source}), and " + fix_link(rt.config, "/admin/watch"),
            )
        )
    return out


def rejection_conditions(rt: Any, now: float, settings_for: Callable[[str], ConditionSettings]) -> list[Condition]:
    """A sharp rise of a source's rejections (its markup or payload changed and every post fails)."""
    traffic = Traffic(rt.redis, rt.store.prefix)
    out = []
    for source in sorted(rt.config.sources):
        settings = settings_for(source)
        if not settings.rejections:
            continue
        recent, usual = traffic.rejections(source, now)
        if recent < settings.rejection_minimum or recent <= settings.rejection_factor * usual:
            continue
        out.append(
            Condition(
                key=f"rejections:{source}",
                kind="rejections",
                subject=source,
                title=f"{recent} rejected post(s) on {source} in the last two hours (usually {usual:.1f})",
                since=now - 3600,
                affected=recent,
                severity="warning",
                fix=fix_link(rt.config, f"/admin/events?source={quote(source)}&status=rejected")
                + " shows why; fix the mapping, then replay them",
            )
        )
    return out


def _page_condition(
    kind: str,
    title: str,
    fix: str = "",
    severity: str = "critical",
    *,
    key: str,
    where: str,
    since: float,
    token_fix: str,
) -> Condition:
    """One Facebook page's problem; ``fix`` defaults to getting a new page token."""
    return Condition(
        key=f"{kind}:{key}",
        kind=kind,
        subject=where,
        title=title,
        since=since,
        affected=0,
        fix=fix or token_fix,
        severity=severity,
    )


def facebook_conditions(rt: Any, now: float, settings_for: Callable[[str], ConditionSettings]) -> list[Condition]:
    """Page tokens invalid, expiring soon or short of scopes, and pages the app is no longer subscribed to."""
    out = []
    for health in PageHealthStore(rt.redis, rt.store.prefix).all():
        if health.source not in rt.config.sources:
            continue
        settings = settings_for(health.source)
        where = f"{health.source} ({health.label})"
        key = f"{health.source}:{health.label.replace(' ', '-')}"
        token_fix = (
            f"give {where} a new long-lived page token in the config (leadgate reads it at start), then: "
            f"leadgate facebook retry-parked --source {health.source}"
        )
        page = partial(_page_condition, key=key, where=where, since=health.checked_at, token_fix=token_fix)
        if settings.facebook_token and health.valid is False:
            out.append(page("facebook_token", f"the Facebook token of {where} is invalid: {health.error[:200]}"))
        elif settings.facebook_token and health.missing_scopes:
            out.append(
                page(
                    "facebook_token",
                    f"the Facebook token of {where} lacks {', '.join(health.missing_scopes)}",
                    token_fix + " (grant the missing permissions when you create it, and check Lead Access "
                    "Manager in Meta Business Suite)",
                )
            )
        elif (
            settings.facebook_token
            and health.valid
            and health.expires_at
            and health.expires_at - now < settings.token_expires_within
        ):
            expires = describe_duration(health.expires_at - now)
            title = f"the Facebook token of {where} expires in {expires}"
            out.append(page("facebook_token_expiry", title, severity="warning"))
        if settings.facebook_subscription and health.subscribed is False:
            title = f"page {health.page_id} of {health.source} is not subscribed to leadgen: no lead will arrive"
            fix = f"leadgate facebook subscribe {health.page_id} --source {health.source}"
            out.append(page("facebook_subscription", title, fix))
    return out


def evaluate(rt: Any, now: float | None = None) -> list[Condition]:
    """Every active condition, under the settings of ``alerts:`` (and each source's overrides)."""
    now = time.time() if now is None else now
    alerts = rt.config.alerts
    settings_for = alerts.for_source
    found: list[Condition] = []
    found += dead_letter_conditions(rt, now, settings_for)
    if alerts.conditions.paused:
        found += paused_conditions(rt, now)
    found += needs_token_conditions(rt, now, settings_for)
    found += backlog_conditions(rt, now, alerts.conditions)
    found += silence_conditions(rt, now, settings_for)
    found += rejection_conditions(rt, now, settings_for)
    found += facebook_conditions(rt, now, settings_for)
    return found


REPORTED_BY_HEALTH = frozenset({"paused", "needs_token"})
"""Conditions ``leadgate health`` reports already (paused destinations, parked leads)."""


def health_problems(rt: Any) -> list[str]:
    """Every other active alert condition as one line for ``leadgate health`` (which exits non-zero on any)."""
    try:
        found = evaluate(rt)
    except redis.RedisError:  # health reports Redis itself
        return []
    return [f"{c.title} (fix: {c.fix})" for c in found if c.kind not in REPORTED_BY_HEALTH]
