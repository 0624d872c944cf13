"""Acknowledging an inbound event: dedupe and store it, due for delivery, in one atomic Redis step.

This is the durability line. When :func:`accept` returns, the event record, its dedupe keys,
its entry in the due set (the queue: ``leadgate.queue``'s dispatcher turns due events into RQ
jobs within a millisecond) and a wake token were written together by one Lua script, so a 2xx
can be sent. No RQ job is written here. When Redis is unreachable it raises ``redis.RedisError``
and the gateway answers 503 so the sender retries. With ``durability: replicated`` the script is
followed by ``WAIT`` on its connection, and too few replicas raise ``NotReplicated`` (also a
``RedisError``): the event is on the master then, and the sender's retry is its duplicate.
"""

from __future__ import annotations

import hashlib
import json
import time
import weakref
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import redis
from redis.commands import CoreCommands

from leadgate import defaults
from leadgate import metrics
from leadgate.config import Durability
from leadgate.config import SourceConfig
from leadgate.durability import run_durably
from leadgate.events import new_event_id
from leadgate.model import Accepted
from leadgate.model import InboundEvent
from leadgate.model import content_digest
from leadgate.runtime import Runtime

__all__ = ["accept", "dedupe_claims", "is_batchable", "platform_ids_seen"]

IDEMPOTENCY_KEY_SECONDS = 86400

STATUS_COUNTERS = {"queued": "accepted"}
"""The source counter an acknowledged event adds to, by its status (the others count under their own name)."""


def is_batchable(lead: Mapping[str, Any] | None) -> bool:
    """Whether a lead may travel in a ``create-leads-bulk`` call: normalized already, and no deal (bulk takes none)."""
    return bool(lead) and "deal" not in lead  # type: ignore[operator]


def dedupe_claims(event: InboundEvent, idempotency_key: str | None) -> list[tuple[str, str, int]]:
    """The (kind, value, ttl) keys that make an event a duplicate of an earlier one."""
    claims = [("id", key, defaults.PLATFORM_DEDUPE_SECONDS) for key in event.dedupe_keys]
    if idempotency_key:
        claims.append(("idem", hashlib.sha256(idempotency_key.encode()).hexdigest(), IDEMPOTENCY_KEY_SECONDS))
    claims.append(("body", content_digest(event.raw), defaults.DEDUPE_WINDOW_SECONDS))
    return claims


def platform_ids_seen(runtime: Runtime, source: SourceConfig, ids: list[str]) -> set[str]:
    """Those of ``ids`` :func:`accept` would answer as duplicates on ``source``: a platform id counts for its
    whole window (90 days), whether or not its event still exists. One read, for a caller (the Facebook
    backfill) that wants to skip known leads before fetching them; :func:`accept` still decides."""
    if not ids:
        return set()
    holders = runtime.redis.mget([runtime.store.dedupe_key(source.id, "id", value) for value in ids])
    return {value for value, holder in zip(ids, holders, strict=True) if holder is not None}


def accept(
    runtime: Runtime,
    source: SourceConfig,
    event: InboundEvent,
    *,
    lead: Mapping[str, Any] | None = None,
    status: str | None = None,
    reason: str = "",
    request_meta: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Accepted:
    """Stores one event and, when it is a lead, queues its delivery.

    ``status`` overrides the event's outcome (``rejected`` for an acknowledged event
    with no usable lead). Duplicates are recorded as their own ``duplicate`` event
    pointing at the original, and nothing is queued for them.
    """
    store = runtime.store
    status = status or event.outcome
    now = time.time()
    event_id = new_event_id(now)
    # a rejected event claims its keys too: a re-send must not become a second copy to replay
    claims = dedupe_claims(event, idempotency_key) if status in ("queued", "rejected") else []
    keys = [store.dedupe_key(source.id, kind, value) for kind, value, _ in claims]
    fields: dict[str, Any] = {
        "source": source.id,
        "kind": source.kind,
        "destination": source.destination,
        "status": status,
        "received_at": now,
        "updated_at": now,
        "attempts": 0,
        "dispatch": 0,
        "raw": event.raw,
        "lead": lead,
        "batchable": is_batchable(lead),
        "request": request_meta,
        "dedupe_keys": list(event.dedupe_keys),
        "last_error": reason or event.reason,
    }
    due_at = now if status == "queued" else None

    # The writes are recorded with the store's own commands, then run by one script
    # that first checks the dedupe keys: one round trip where WATCH, MGET and MULTI/EXEC took three.
    def write(pipe: Any) -> None:  # a CommandRecorder, written to as a pipeline would be
        metrics.incr(pipe, store.counters_key, "received", source.id)
        store.write_new(pipe, event_id, fields, due_at=due_at)
        for key, (_, _, ttl) in zip(keys, claims, strict=True):
            pipe.set(key, event_id, ex=ttl)
        if status == "queued":
            store.wake(pipe)
        metrics.incr(pipe, store.counters_key, STATUS_COUNTERS.get(status, status), source.id)

    lasting = sum(kind == "id" for kind, _, _ in claims)  # dedupe_claims puts the platform ids first
    original = _write_unless_duplicate(runtime, keys, _recorded(write), lasting)
    if original is None:
        return Accepted(event_id=event_id, status=status)
    fields.update(status="duplicate", dispatch=0, duplicate_of=original, lead=None)

    def write_duplicate(pipe: Any) -> None:
        metrics.incr(pipe, store.counters_key, "received", source.id)
        store.write_new(pipe, event_id, fields, due_at=None)
        metrics.incr(pipe, store.counters_key, "duplicate", source.id)

    # Through the same script (no keys to check), so under ``replicated`` its WAIT also covers the
    # original: a re-send after a 503 is answered 2xx only once the first copy is on the replicas.
    _write_unless_duplicate(runtime, [], _recorded(write_duplicate), 0)
    return Accepted(event_id=original, status="duplicate", duplicate=True)


class CommandRecorder(CoreCommands):
    """redis-py's command methods, taking each command as its argument tuple instead of running it.

    What the store's writers (``write_new``, ``wake``, ``metrics.incr``) are handed at intake, so the
    intake script runs their commands: the same methods as on a pipeline, without a pipeline's
    per-command bookkeeping (a third of the recording's CPU), and the same shape whatever the client.
    """

    _event_dispatcher: Any = None
    """What redis-py's typing protocol asks of a command class; nothing is dispatched, nothing is sent."""

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **options: Any) -> None:
        self.commands.append(args)


def _recorded(build: Callable[[Any], None]) -> list[tuple[Any, ...]]:
    """The commands ``build`` issues, as argument tuples, for the intake script to run."""
    recorder = CommandRecorder()
    build(recorder)
    return recorder.commands


# KEYS: the dedupe keys (ARGV[2] of them, platform ids first), then the keys the writes touch, then the keys of
# the ARGV[3] events named next. ARGV: how many of the dedupe keys are platform ids, how many dedupe keys there
# are, how many events' keys the caller declared, those events' ids, then the writes as one JSON array (each
# write: its command, the index in KEYS of its key, its other arguments as strings, or as the number k for the
# k-th binary argument, which follow the array in ARGV: JSON cannot carry bytes).
# A held claim that is not a platform id counts only while its event exists and was not purged; the script
# cannot read an event key it was not given, so it answers {original} and is called again with that key too.
# One JSON argument instead of about ninety: redis-py encodes each argument in Python, and that was a third
# of the request's cost of storing an event (bench.phases); Redis decodes the array in C.
_WRITE_UNLESS_DUPLICATE = """
local lasting = tonumber(ARGV[1])
local claims = tonumber(ARGV[2])
local declared = tonumber(ARGV[3])
local events = {}
for j = 1, declared do events[ARGV[3 + j]] = KEYS[#KEYS - declared + j] end
for index = 1, claims do
  local original = redis.call('GET', KEYS[index])
  if original then
    if index <= lasting then return original end
    if not events[original] then return {original} end
    local status = redis.call('HGET', events[original], 'status')
    if status and status ~= 'purged' then return original end  -- a purged dead letter may be sent afresh
  end
end
local plan = 4 + declared
for _, write in ipairs(cjson.decode(ARGV[plan])) do
  for j = 3, #write do
    if type(write[j]) == 'number' then write[j] = ARGV[plan + write[j]] end
  end
  redis.call(write[1], KEYS[write[2]], unpack(write, 3))
end
return false
"""

_scripts: weakref.WeakKeyDictionary[redis.Redis, Any] = weakref.WeakKeyDictionary()


def _write_unless_duplicate(runtime: Runtime, claims: list[str], writes: list[Any], lasting: int) -> str | None:
    """The id of an earlier event holding one of the ``claims`` keys; else runs ``writes`` and returns None. Atomic.

    The first ``lasting`` keys are platform ids: they count for their whole window (90 days) even
    after the event they name has expired (30 days after delivery), since neither Facebook nor
    Typeform signs a timestamp and an old signed body re-posted later must not be delivered again.
    The others (an ``Idempotency-Key``, an identical body: hours or minutes) count only while
    their event exists and was not purged, so a purged dead letter can be sent afresh.

    Every key the script touches is declared (a Redis Cluster, Dragonfly and others require it).
    Under ``durability: replicated`` the script and a ``WAIT`` share one pipeline (one connection:
    ``WAIT`` counts the replicas that have that connection's writes); see :mod:`leadgate.durability`.
    """
    client, durability, store = runtime.redis, runtime.config.durability, runtime.store
    script = _scripts.get(client)
    if script is None:
        script = _scripts[client] = client.register_script(_WRITE_UNLESS_DUPLICATE)
    written: list[str] = []
    plan: list[list[Any]] = []
    blobs: list[bytes] = []
    for command, key, *rest in writes:
        if key not in written:
            written.append(key)
        write: list[Any] = [command, len(claims) + written.index(key) + 1]
        for value in rest:
            if isinstance(value, bytes):
                blobs.append(value)
                write.append(len(blobs))
            else:
                write.append(_argument(value))
        plan.append(write)
    encoded = [json.dumps(plan, ensure_ascii=False, separators=(",", ":")), *blobs]
    checked: list[str] = []
    for _ in range(len(claims) + 1):  # each round declares one more claim holder: at most one per claim
        keys = [*claims, *written, *(store.key(event_id) for event_id in checked)]
        args = [lasting, len(claims), len(checked), *checked, *encoded]
        original = _run(client, durability, script, keys, args)
        if not isinstance(original, list):
            return _text(original) if original else None
        checked.append(_text(original[0]))
    raise redis.ResponseError("the events holding this lead's dedupe keys kept changing; try again")


def _run(client: redis.Redis, durability: Durability, script: Any, keys: list[str], args: list[Any]) -> Any:
    if not durability.replicated:
        return script(keys=keys, args=args)
    [reply] = run_durably(client, durability, lambda pipe: script(keys=keys, args=args, client=pipe))
    return reply


def _argument(value: Any) -> str:
    """A command argument as redis-py would send it (floats by ``repr``), as text for the JSON array."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    raise TypeError(f"cannot send {type(value).__name__} {value!r} to Redis")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
