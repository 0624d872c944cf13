"""The event store: every inbound lead's record in Redis, from acknowledgement to its fate.

An event is one hash (``lg:ev:<id>``) holding the raw inbound piece (so it can be
re-normalized on replay), the normalized lead, its status and the last error, plus a
list of delivery attempts (``lg:ev:<id>:attempts``). Sorted sets index it:

``lg:events`` / ``lg:events:src:<source>``
    every event by time received (history, ``leadgate events``).
``lg:due``
    every event still owed a delivery, scored by when something must happen next:
    its retry time, or when the lease of the worker delivering it runs out. This set
    is what makes acknowledged leads impossible to lose: an event leaves it only by
    reaching a final state.
``lg:dead``
    the dead-letter queue.
``lg:parked``
    events waiting for an operator (a revoked key, an expired token), not failed.

Status changes that race with other workers (claiming, finishing) are Lua scripts,
so a late or duplicate job can never undo a delivery.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import cast

import redis

from leadgate import defaults
from leadgate.lifecycle import CLAIMABLE
from leadgate.lifecycle import PAYLOAD_FIELDS
from leadgate.lifecycle import SETTLED_FIELDS
from leadgate.lifecycle import DeliveryLifecycle
from leadgate.lifecycle import hash_mapping
from leadgate.payloads import decode_json
from leadgate.payloads import encode_json

__all__ = [
    "CLAIMABLE",
    "FINAL",
    "PARKED",
    "PAYLOAD_FIELDS",
    "STATUSES",
    "Event",
    "EventStore",
    "encode_fields",
    "encode_payloads",
    "is_event_id",
    "new_event_id",
]


STATUSES = (
    "queued",
    "delivering",
    "retrying",
    "delivered",
    "dead",
    "rejected",
    "duplicate",
    "spam",
    "ignored",
    "needs_token",
    "paused",
)
PARKED = frozenset({"needs_token", "paused"})
"""Statuses of events waiting for an operator (in ``lg:parked``), not failed."""
FINAL = frozenset({"delivered", "dead", "rejected", "duplicate", "spam", "ignored"})
"""Statuses that need no more work; ``dead`` and ``rejected`` may still be replayed."""
EXPIRING = frozenset({"delivered", "duplicate", "spam", "ignored", "rejected"})
"""Statuses whose records expire after the retention period; the others wait for an operator.

A ``rejected`` event can still be replayed while it lasts (a replay makes it lasting again)."""

_JSON_FIELDS = ("dedupe_keys",)
"""JSON kept in the hash by events stored before compaction (now a payload)."""
_NUMBER_FIELDS = ("received_at", "updated_at", "next_attempt_at", "delivered_at", "lease_until")
_INT_FIELDS = ("attempts", "dispatch", "last_status_code")


def new_event_id(now: float | None = None) -> str:
    """Time-sortable id: milliseconds in hex, then 48 random bits."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"ev_{millis:012x}{secrets.token_hex(6)}"


EVENT_ID = re.compile(r"ev_[0-9a-f]{24}")
"""What :func:`new_event_id` makes (``ev_`` and 24 lowercase hex digits) and nothing else."""


def is_event_id(text: str) -> bool:
    """Whether ``text`` can name an event; anything else (``ev_x:attempts``) must never reach a key name."""
    return EVENT_ID.fullmatch(text) is not None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _scored(rows: object) -> list[tuple[bytes | str, float]]:
    """A ``withscores=True`` range reply as the ``(member, score)`` pairs it is.

    redis-py types every sorted-set range reply as one union (members only, pairs, or RESP3 lists) whatever
    ``withscores`` says; with scores and the client's default ``legacy_responses``, each row is a pair.
    """
    return cast(list[tuple[bytes | str, float]], rows)


@dataclass
class Event:
    """One event as stored; JSON fields decoded, numbers parsed."""

    id: str
    source: str = ""
    kind: str = ""
    destination: str = ""
    status: str = "queued"
    received_at: float = 0.0
    updated_at: float = 0.0
    attempts: int = 0
    dispatch: int = 0
    raw: Any = None
    lead: Any = None
    request: Any = None
    dedupe_keys: Any = None
    last_error: str = ""
    last_status_code: int = 0
    contact_id: str = ""
    next_attempt_at: float = 0.0
    delivered_at: float = 0.0
    lease_until: float = 0.0
    held_by: str = ""
    """The worker process (host:pid) whose claim the lease is; kept until the next claim, dropped once final."""
    duplicate_of: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    has_payloads: bool = True
    """False once a final event's payloads expired (``payload_retention_days``): only its summary is left."""

    @classmethod
    def from_hash(cls, event_id: str, data: Mapping[Any, Any], payload: bytes | None = None) -> Event:
        """Decodes a stored event: its summary hash and its payload blob (``None``: none stored).

        Fields left out of the hash (empty, or meaningless once final) get their defaults. Events
        written before compaction keep their payloads in the hash, as plain JSON: they read the same.
        """
        values: dict[str, Any] = {}
        extra: dict[str, str] = {}
        names = cls.__dataclass_fields__
        legacy = False
        for raw_key, raw_value in data.items():
            key = _text(raw_key)
            if key in PAYLOAD_FIELDS:
                values[key] = decode_json(raw_value)
                legacy = legacy or key != "dedupe_keys"
                continue
            value = _text(raw_value)
            if key in _NUMBER_FIELDS:
                values[key] = float(value) if value else 0.0
            elif key in _INT_FIELDS:
                values[key] = int(value) if value else 0
            elif key in names and key not in ("id", "extra", "has_payloads"):
                values[key] = value
            else:
                extra[key] = value
        if payload:
            values.update({k: v for k, v in (decode_json(payload) or {}).items() if k in PAYLOAD_FIELDS})
        values.pop("id", None)
        values.setdefault("updated_at", values.get("received_at", 0.0))
        return cls(id=event_id, extra=extra, has_payloads=bool(payload) or legacy, **values)

    def summary(self) -> dict[str, Any]:
        """The fields ``leadgate events`` and the admin list show (no raw payloads)."""
        delivering = self.status == "delivering"  # a claim's holder and lease mean nothing after it
        return {
            "id": self.id,
            "source": self.source,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_status_code": self.last_status_code or None,
            "contact_id": self.contact_id or None,
            "received_at": self.received_at,
            "updated_at": self.updated_at,
            "next_attempt_at": self.next_attempt_at or None,
            "delivered_at": self.delivered_at or None,
            "duplicate_of": self.duplicate_of or None,
            "held_by": (self.held_by or None) if delivering else None,
            "lease_until": (self.lease_until or None) if delivering else None,
        }


def encode_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """Flattens summary fields for HSET; '' (from None or '') marks a field to remove: empty ones are not stored.

    Payload fields (:data:`PAYLOAD_FIELDS`) do not belong here: :func:`encode_payloads` packs them.
    """
    out: dict[str, str] = {}
    for key, value in values.items():
        if key in PAYLOAD_FIELDS:
            raise ValueError(f"{key} is a payload: it is stored with encode_payloads, not in the event hash")
        if value is None:
            out[key] = ""
        elif isinstance(value, bool):
            out[key] = "1" if value else "0"
        else:
            out[key] = str(value)
    return out


def encode_payloads(values: Mapping[str, Any]) -> bytes:
    """The event's payloads (raw, lead, request) as its one stored blob: compressed JSON (:mod:`leadgate.payloads`)."""
    return encode_json({key: values.get(key) for key in PAYLOAD_FIELDS})


def split_fields(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``fields`` as (summary fields, payload fields)."""
    summary = {k: v for k, v in fields.items() if k not in PAYLOAD_FIELDS}
    return summary, {k: v for k, v in fields.items() if k in PAYLOAD_FIELDS}


def _set_and_unset(encoded: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    return {k: v for k, v in encoded.items() if v != ""}, [k for k, v in encoded.items() if v == ""]


class EventStore(DeliveryLifecycle):
    """Reads and writes events; every key it touches starts with ``prefix`` (:func:`leadgate.keys.prefix_for`)."""

    def __init__(
        self,
        client: redis.Redis,
        retention_days: int = defaults.RETENTION_DAYS,
        payload_retention_days: int = defaults.PAYLOAD_RETENTION_DAYS,
        *,
        prefix: str = defaults.KEY_PREFIX,
    ):
        self.redis = client
        self.prefix = prefix
        self.retention_seconds = int(retention_days * 86400)
        self.payload_retention_seconds = int(min(payload_retention_days, retention_days) * 86400)
        self.register_scripts(client)

    encode = staticmethod(encode_fields)

    # writing
    def write_new(
        self, pipe: redis.client.Pipeline, event_id: str, fields: Mapping[str, Any], due_at: float | None
    ) -> None:
        """Queues the commands that create an event on a pipeline already in MULTI."""
        summary, _ = split_fields(fields)
        if summary.get("updated_at") == summary.get("received_at"):
            summary.pop("updated_at", None)  # derivable: decode reads received_at
        final = fields.get("status") in EXPIRING
        if final:
            summary = {k: v for k, v in summary.items() if k not in SETTLED_FIELDS}
        stored, _ = _set_and_unset(encode_fields(summary))
        pipe.hset(self.key(event_id), mapping=hash_mapping(stored))
        pipe.rpush(self.payload_key(event_id), encode_payloads(fields))
        received = float(fields["received_at"])
        pipe.zadd(self.index_key, {event_id: received})
        pipe.zadd(self.source_index_key(str(fields["source"])), {event_id: received})
        if due_at is not None:
            pipe.zadd(self.due_key, {event_id: due_at})
            pipe.zadd(self.backlog_key, {event_id: received})
            if fields.get("batchable"):
                pipe.zadd(self.ready_key(str(fields["destination"])), {event_id: received})
        if final:
            pipe.expire(self.key(event_id), self.retention_seconds)
            pipe.expire(self.payload_key(event_id), self.payload_retention_seconds)
        if fields.get("status") == "dead":
            pipe.zadd(self.dead_key, {event_id: received})

    def update(self, event_id: str, **fields: Any) -> None:
        """Sets summary fields ('' or None removes one) and merges payload fields into the event's payload blob.

        A payload change reads, merges and writes the blob under WATCH, so two writers never lose one
        another's change; an event written before compaction moves its payloads out of its hash then.
        """
        summary, payloads = split_fields({**fields, "updated_at": time.time()})
        stored, removed = _set_and_unset(encode_fields(summary))
        key, payload_key = self.key(event_id), self.payload_key(event_id)
        with self.redis.pipeline(transaction=True) as pipe:  # explicit: a cluster client defaults to none
            while True:
                try:
                    merged: dict[str, Any] = {}
                    blob = None
                    if payloads:
                        pipe.watch(key, payload_key)
                        blob = pipe.lindex(payload_key, 0)
                        current = self._event(event_id, pipe.hgetall(key), blob)
                        merged = {name: getattr(current, name) for name in PAYLOAD_FIELDS} if current else {}
                        merged.update(payloads)
                    pipe.multi()
                    pipe.hset(key, mapping=hash_mapping(stored))
                    if removed:
                        pipe.hdel(key, *removed)
                    if payloads and blob is not None:
                        pipe.lset(payload_key, 0, encode_payloads(merged))  # type: ignore[arg-type]  # bytes are fine
                    elif payloads:
                        pipe.rpush(payload_key, encode_payloads(merged))
                        pipe.hdel(key, *PAYLOAD_FIELDS)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    # reading
    @staticmethod
    def _event(event_id: str, data: Mapping[Any, Any], payload: Any) -> Event | None:
        return Event.from_hash(event_id, data, payload) if data else None

    def get(self, event_id: str) -> Event | None:
        """The event, or None when there is none (or ``event_id`` is not an event id at all)."""
        if not is_event_id(event_id):
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.key(event_id))
        pipe.lindex(self.payload_key(event_id), 0)
        data, payload = pipe.execute()
        return self._event(event_id, data, payload)

    def get_many(self, event_ids: Iterable[str]) -> list[Event]:
        ids = list(event_ids)
        pipe = self.redis.pipeline(transaction=False)
        for event_id in ids:
            pipe.hgetall(self.key(event_id))
            pipe.lindex(self.payload_key(event_id), 0)
        replies = pipe.execute()
        found = (self._event(i, replies[2 * n], replies[2 * n + 1]) for n, i in enumerate(ids))
        return [event for event in found if event is not None]

    def attempts(self, event_id: str) -> list[dict[str, Any]]:
        """The event's delivery attempts, oldest first (none once its payloads expired)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.lrange(self.attempts_key(event_id), 0, -1)
        pipe.lrange(self.payload_key(event_id), 1, -1)
        old, new = pipe.execute()
        return [decode_json(item) for item in [*old, *new]]

    def first_attempts(self, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Each event's first delivery attempt, for those that have one."""
        ids = list(event_ids)
        pipe = self.redis.pipeline(transaction=False)
        for event_id in ids:
            pipe.lindex(self.attempts_key(event_id), 0)
            pipe.lindex(self.payload_key(event_id), 1)
        replies = pipe.execute()
        firsts = {i: replies[2 * n] or replies[2 * n + 1] for n, i in enumerate(ids)}
        return {i: decode_json(item) for i, item in firsts.items() if item}

    def recent(self, source: str | None = None, status: str | None = None, limit: int = 50) -> list[Event]:
        """Newest first, filtered by source and status (the first page of :meth:`iter_index`)."""
        found: list[Event] = []
        if limit <= 0:
            return found
        for _, event in self.iter_index(source):
            if status is None or event.status == status:
                found.append(event)
                if len(found) >= limit:
                    break
        return found

    def dead_letters(self, source: str | None = None) -> list[Event]:
        """Dead letters, the latest to fail first (every list leadgate shows is newest first)."""
        ids = [_text(i) for i in self.redis.zrevrange(self.dead_key, 0, -1)]
        return [e for e in self.get_many(ids) if source is None or e.source == source]

    def parked(self, source: str | None = None) -> list[Event]:
        """Parked events, the latest parked first."""
        ids = [_text(i) for i in self.redis.zrevrange(self.parked_key, 0, -1)]
        return [e for e in self.get_many(ids) if source is None or e.source == source]

    def due_count(self) -> int:
        return int(self.redis.zcard(self.due_key))

    def trim_history(self, now: float | None = None) -> int:
        """Drops index entries older than the retention period.

        An entry whose record expired sooner (a shorter retention when it was written) stays until
        then; :meth:`iter_index` skips it meanwhile, so trimming it earlier would cost a scan for nothing.
        """
        now = time.time() if now is None else now
        cutoff = now - self.retention_seconds
        removed = int(self.redis.zremrangebyscore(self.index_key, "-inf", cutoff))
        for key in self.redis.scan_iter(match=f"{self.prefix}events:src:*", count=100):
            removed += int(self.redis.zremrangebyscore(key, "-inf", cutoff))
        return removed

    # reading for the admin surface (API and dashboard)
    def iter_index(
        self, source: str | None = None, after: tuple[float, str] | None = None, batch: int = 200
    ) -> Iterator[tuple[float, Event]]:
        """Yields ``(received_at, event)`` newest first, starting just past the position ``after``.

        ``after`` is the ``(received_at, event_id)`` of the last event already seen, so a
        cursor stays exact even when events share a timestamp (ties come in descending id
        order, Redis's reverse order for equal scores). Index entries whose record has
        expired are skipped.
        """
        index = self.source_index_key(source) if source else self.index_key
        position = after
        while True:
            if position is None:
                rows = _scored(self.redis.zrevrangebyscore(index, "+inf", "-inf", start=0, num=batch, withscores=True))
            else:
                score, last_id = position
                ties = _scored(self.redis.zrevrangebyscore(index, score, score, withscores=True))
                rows = [row for row in ties if _text(row[0]) < last_id]
                rows += _scored(
                    self.redis.zrevrangebyscore(index, f"({score!r}", "-inf", start=0, num=batch, withscores=True)
                )
            if not rows:
                return
            pairs = [(_text(member), float(score)) for member, score in rows]
            events = {event.id: event for event in self.get_many(event_id for event_id, _ in pairs)}
            for event_id, score in pairs:
                if event_id in events:
                    yield score, events[event_id]
            position = (pairs[-1][1], pairs[-1][0])

    def count_by_status(self, source: str | None = None, since: float = 0.0, chunk: int = 500) -> dict[str, int]:
        """How many events received since ``since`` are in each status (expired records not counted)."""
        index = self.source_index_key(source) if source else self.index_key
        ids = [_text(i) for i in self.redis.zrangebyscore(index, since, "+inf")]
        counts: dict[str, int] = {}
        for start in range(0, len(ids), chunk):
            pipe = self.redis.pipeline(transaction=False)
            for event_id in ids[start : start + chunk]:
                pipe.hget(self.key(event_id), "status")
            for status in pipe.execute():
                if status is not None:
                    counts[_text(status)] = counts.get(_text(status), 0) + 1
        return counts
