"""What the Facebook watchdog last learned about each configured page token: validity, expiry, scopes,
and whether the app is subscribed to the page's ``leadgen`` field.

The workers' watchdog (:mod:`workers.watchdogs`) asks the Graph API and writes a :class:`PageHealth`
per token here (``lg:watch:facebook``, field ``<source>|<token label>``); the alert conditions, the
dashboard and ``leadgate health`` only read it, so none of them calls Meta.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from leadgate import defaults

__all__ = ["REQUIRED_SCOPES", "PageHealth", "PageHealthStore"]

REQUIRED_SCOPES = ("leads_retrieval", "pages_manage_metadata")
"""Without ``leads_retrieval`` no lead can be read; without ``pages_manage_metadata`` the page cannot be
(re)subscribed. Meta's Lead Access Manager revoking the app's access shows up as a missing scope or a 190."""


@dataclass(frozen=True)
class PageHealth:
    """One token's check. ``label`` is ``page <id>`` for a ``page_tokens`` entry, ``access_token`` otherwise."""

    source: str
    label: str
    checked_at: float
    page_id: str = ""
    valid: bool | None = None
    """None when the check itself failed (Graph unreachable): nothing is concluded then."""
    error: str = ""
    expires_at: float = 0.0
    """0: never expires (Meta's long-lived page tokens), or not known."""
    scopes: tuple[str, ...] = ()
    subscribed: bool | None = None
    """None: not checked (no page id known, or the token is invalid)."""
    subscription_error: str = ""
    app_id: str = ""

    @property
    def missing_scopes(self) -> tuple[str, ...]:
        if not self.valid or not self.scopes:
            return ()
        return tuple(scope for scope in REQUIRED_SCOPES if scope not in self.scopes)

    @property
    def field_name(self) -> str:
        return f"{self.source}|{self.label}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: bytes | str) -> PageHealth:
        data = json.loads(text)
        data["scopes"] = tuple(data.get("scopes") or ())
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class PageHealthStore:
    """The watchdog's results in Redis, under the event store's ``prefix``."""

    redis: Any
    """A ``redis.Redis`` (bytes replies)."""
    prefix: str = defaults.KEY_PREFIX
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = f"{self.prefix}watch:facebook"

    def save(self, health: PageHealth) -> None:
        self.redis.hset(self.key, health.field_name, health.to_json())

    def get(self, source: str, label: str) -> PageHealth | None:
        raw = self.redis.hget(self.key, f"{source}|{label}")
        return PageHealth.from_json(raw) if raw is not None else None

    def all(self) -> list[PageHealth]:
        return [PageHealth.from_json(v) for _, v in sorted(self.redis.hgetall(self.key).items())]

    def last_checked(self) -> float:
        return max((h.checked_at for h in self.all()), default=0.0)
