"""Events written straight into the store with chosen ids, times and statuses, and Redis state read back plainly.

Intake stamps every event with the current time and a random id; paging, ties, retention and
the Lua transitions need exact ones. :func:`write_event` writes through
:meth:`EventStore.write_new` on a ``MULTI`` pipeline, exactly as :func:`leadgate.intake.accept`
queues it, so what lands in Redis is what intake would have written for those fields.
"""

from __future__ import annotations

import json
import time
from typing import Any
from typing import cast

import redis

from leadgate.events import PAYLOAD_FIELDS
from leadgate.events import EventStore
from leadgate.lifecycle import hash_mapping
from leadgate.payloads import decode_json

__all__ = [
    "PAYLOAD_RETENTION_DAYS",
    "PAYLOAD_RETENTION_SECONDS",
    "RAW",
    "RECEIVED_AT",
    "RETENTION_DAYS",
    "RETENTION_SECONDS",
    "eid",
    "hash_of",
    "make_store",
    "members",
    "now_between",
    "payload_list",
    "queue_event",
    "ttl_is",
    "write_event",
    "write_legacy_event",
]

RETENTION_DAYS = 3
"""Not the default (30), so a TTL that equals it was set from the store's setting."""
RETENTION_SECONDS = RETENTION_DAYS * 86400
PAYLOAD_RETENTION_DAYS = 2
"""Not the default (7) either, and shorter than :data:`RETENTION_DAYS`, so the two TTLs differ."""
PAYLOAD_RETENTION_SECONDS = PAYLOAD_RETENTION_DAYS * 86400
RECEIVED_AT = 1_700_000_000.25
"""A fixed receipt time (with a fraction, so scores are not accidentally whole numbers)."""
RAW = {"fields": [["email", "lead@example.com"]]}


def eid(n: int) -> str:
    """A well-formed event id whose order among others follows ``n`` (``ev_`` and 24 hex digits)."""
    return f"ev_{n:024x}"


def make_store(
    client: redis.Redis, retention_days: int = RETENTION_DAYS, payload_retention_days: int = PAYLOAD_RETENTION_DAYS
) -> EventStore:
    return EventStore(client, retention_days=retention_days, payload_retention_days=payload_retention_days)


FORM_LEAD: dict[str, Any] = {
    "source": "contact-us",
    "kind": "form",
    "destination": "main",
    "status": "queued",
    "received_at": RECEIVED_AT,
}
"""What every event the helpers write starts as: a queued form lead for ``main``."""


def write_event(store: EventStore, event_id: str, *, due_at: float | None = None, **fields: Any) -> str:
    """Writes one event as intake does (``write_new`` inside MULTI/EXEC); returns its id.

    Defaults describe a form lead for ``main`` received at :data:`RECEIVED_AT`, status ``queued``;
    ``due_at`` is left to the caller, since only a queued event has one.
    """
    values: dict[str, Any] = {
        **FORM_LEAD,
        "updated_at": fields.get("received_at", RECEIVED_AT),
        "attempts": 0,
        "dispatch": 0,
        "raw": RAW,
        "lead": {"email": "lead@example.com"},
        "batchable": False,
        "request": None,
        "dedupe_keys": [],
        "last_error": "",
        **fields,
    }
    with store.redis.pipeline() as pipe:
        pipe.multi()
        store.write_new(pipe, event_id, values, due_at=due_at)
        pipe.execute()
    return event_id


def queue_event(store: EventStore, event_id: str, **fields: Any) -> str:
    """A lead as :func:`~leadgate.intake.accept` leaves it: ``queued`` (unless told) and due at its receipt."""
    fields.setdefault("received_at", RECEIVED_AT)
    fields.setdefault("status", "queued")
    return write_event(store, event_id, due_at=float(fields["received_at"]), **fields)


def hash_of(client: redis.Redis, key: str) -> dict[str, str]:
    """A hash as text (the store's client answers bytes)."""
    return {k.decode(): v.decode() for k, v in cast(dict[bytes, bytes], client.hgetall(key)).items()}


def members(client: redis.Redis, key: str) -> dict[str, float]:
    """A sorted set as ``{member: score}``."""
    rows = cast(list[tuple[bytes, float]], client.zrange(key, 0, -1, withscores=True))
    return {member.decode(): score for member, score in rows}


def payload_list(client: redis.Redis, store: EventStore, event_id: str) -> list[Any]:
    """The event's ``:payload`` list decoded: its payloads object, then one record per attempt."""
    return [decode_json(item) for item in cast(list[bytes], client.lrange(store.payload_key(event_id), 0, -1))]


def ttl_is(client: redis.Redis, key: str, seconds: int) -> bool:
    """Whether ``key`` expires in ``seconds`` (as just set: Redis may have rounded one second off by now)."""
    return client.ttl(key) in (seconds, seconds - 1)


def now_between(before: float, value: float) -> bool:
    """Whether ``value`` is a clock reading taken from ``before`` until now (for fields stamped with time.time()).

    Stored times keep milliseconds, so ``value`` may sit up to half a millisecond either side.
    """
    return before - 0.0005 <= value <= time.time() + 0.0005


def write_legacy_event(client: redis.Redis, store: EventStore, event_id: str, **fields: Any) -> str:
    """An event as stored before compaction: every field in its hash, payloads as plain JSON, no ``:payload`` list."""
    values: dict[str, Any] = {
        **FORM_LEAD,
        "updated_at": RECEIVED_AT,
        "attempts": 0,
        "dispatch": 0,
        "raw": RAW,
        "lead": {"email": "lead@example.com"},
        "request": None,
        "dedupe_keys": [],
        "batchable": False,
        "last_error": "",
        **fields,
    }
    plain = {
        key: ("" if value is None else json.dumps(value, separators=(",", ":")))
        if key in PAYLOAD_FIELDS
        else ("1" if value is True else "0" if value is False else str(value))
        for key, value in values.items()
    }
    client.hset(store.key(event_id), mapping=hash_mapping(plain))
    return event_id
