"""How an event moves through delivery: claims, leases, dispatch, outcomes, replays.

Every transition that can race with another worker is one Lua script, so a late or
duplicate job can never undo a delivery and no lead is ever in two deliveries at once:

``claim``        a job takes its event (a lease), unless stale, final, or its destination paused
``claim_ready``  a bulk call takes up to 100 queued leads of one destination at once
``dispatch_due`` retry times and expired leases put events back on the queue
``finish``       an attempt's outcome: delivered, retry, dead or park (counters included)
``requeue``      an operator's replay or resume: due now, and a dispatcher woken
``purge``        an operator drops a dead letter or parked event

:class:`leadgate.events.EventStore` inherits these; the keys are its.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import cast

from redis import Redis
from redis.client import Pipeline
from redis.typing import EncodableT
from redis.typing import FieldT

from leadgate import metrics
from leadgate.keys import StoreKeys
from leadgate.payloads import encode_json

__all__ = [
    "CLAIMABLE",
    "DeliveryLifecycle",
    "OUTCOME_COUNTERS",
    "PAYLOAD_FIELDS",
    "SETTLED_FIELDS",
    "hash_mapping",
    "this_process",
]

CLAIMABLE = frozenset({"queued", "delivering", "retrying"})
"""Statuses a delivery job may pick up."""

PAYLOAD_FIELDS = ("raw", "lead", "request", "dedupe_keys")
"""The event's payloads: one compressed blob, the first item of ``lg:ev:<id>:payload`` (its attempts follow)."""
SETTLED_FIELDS = ("lease_until", "held_by", "next_attempt_at", "batchable")
"""Summary fields that mean nothing once an event is final: dropped from its hash then."""

OUTCOME_COUNTERS = {
    "delivered": "delivered",
    "retry": "retried",
    "dead": "dead_lettered",
    "park": "parked",
    "ignore": "ignored",
}
"""The counter each delivery outcome adds to: a destination's, except ``ignored`` (a source's: nothing was sent)."""


def this_process() -> str:
    """Who holds a claim (``held_by``): host and process id, the names ``ps`` and a supervisor know a worker by.

    Read at each claim, not cached: a forked process is another holder.
    """
    return f"{socket.gethostname()}:{os.getpid()}"


# KEYS: event, due, paused destinations, parked, backlog, counters, the ready set of ARGV[6].
# ARGV: id, dispatch, now, lease_until, claimable statuses, the destination the caller read, holder
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
if not string.find(ARGV[5], ',' .. status .. ',', 1, true) then return 0 end
local current = redis.call('HMGET', KEYS[1], 'dispatch', 'destination')
if current[1] ~= ARGV[2] then return -1 end
local destination = current[2]
if (destination or '') ~= ARGV[6] then return -3 end  -- changed since the caller read it: KEYS[7] is not its set
if destination and redis.call('HEXISTS', KEYS[3], destination) == 1 then
  redis.call('HSET', KEYS[1], 'status', 'paused', 'updated_at', ARGV[3], 'next_attempt_at', '')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('HINCRBY', KEYS[6], 'parked|' .. destination, 1)
  return -2
end
redis.call('HSET', KEYS[1], 'status', 'delivering', 'updated_at', ARGV[3], 'lease_until', ARGV[4], 'held_by', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if destination then redis.call('ZREM', KEYS[7], ARGV[1]) end
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
"""

# KEYS: due, then the n events' keys, then the ready set of each one's destination as the caller read it.
# ARGV: now, grace_until, then the n ids, then those destinations ('' for none)
# An id another dispatcher took since the caller read the due set (its score moved past now) is skipped.
_DISPATCH = """
local n = (#ARGV - 2) / 2
local out = {}
for i = 1, n do
  local id = ARGV[2 + i]
  local key = KEYS[1 + i]
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and tonumber(due) <= tonumber(ARGV[1]) then
    local event = redis.call('HMGET', key, 'received_at', 'batchable', 'destination')
    if not event[1] then  -- every event has received_at: the record is gone
      redis.call('ZREM', KEYS[1], id)
    else
      redis.call('ZADD', KEYS[1], ARGV[2], id)
      table.insert(out, id)
      table.insert(out, redis.call('HINCRBY', key, 'dispatch', 1))
      -- a destination changed since the read goes without a ready entry: its job sends it alone
      if event[2] == '1' and event[3] == ARGV[2 + n + i] then
        redis.call('ZADD', KEYS[1 + n + i], event[1], id)
      end
    end
  end
end
return out
"""

# KEYS: event, due, dead, attempts, parked, backlog, counters, latency, payload.
# ARGV: id, dispatch, outcome, now, next_at, attempt, retention,
#       counter field, latency bucket field, latency seconds, destination, payload retention,
#       settled fields (comma-separated), field pairs... ('' removes the field)
_FINISH = """
local outcome = ARGV[3]
if redis.call('EXISTS', KEYS[9]) == 1 then  -- item 0 is the payloads: attempts follow it
  redis.call('RPUSH', KEYS[9], ARGV[6])
else
  redis.call('RPUSH', KEYS[4], ARGV[6])  -- stored before compaction, or its payloads expired: the plain list
end
if outcome ~= 'delivered' then
  if redis.call('HGET', KEYS[1], 'dispatch') ~= ARGV[2] then return 0 end
  if redis.call('HGET', KEYS[1], 'status') == 'delivered' then return 0 end
end
local set, unset = {}, {}
for i = 14, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    table.insert(unset, ARGV[i])
  else
    table.insert(set, ARGV[i])
    table.insert(set, ARGV[i + 1])
  end
end
if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
local function settle()
  for name in string.gmatch(ARGV[13], '[^,]+') do table.insert(unset, name) end
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[12])
  redis.call('EXPIRE', KEYS[9], ARGV[12])
end
if outcome == 'delivered' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
  settle()
  redis.call('HINCRBY', KEYS[8], ARGV[11] .. '|' .. ARGV[9], 1)
  redis.call('HINCRBY', KEYS[8], ARGV[11] .. '|count', 1)
  redis.call('HINCRBYFLOAT', KEYS[8], ARGV[11] .. '|sum', ARGV[10])
elseif outcome == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
elseif outcome == 'dead' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
elseif outcome == 'park' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
elseif outcome == 'ignore' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
  settle()
end
if #unset > 0 then redis.call('HDEL', KEYS[1], unpack(unset)) end  -- one HDEL: emptied and settled fields
redis.call('HINCRBY', KEYS[7], ARGV[8], 1)
return 1
"""


# KEYS: ready set, due, then the events' keys. ARGV: now, lease_until, due_before, holder, then the ids (the
# ready set's first members when the caller read it). An id still in the set is taken off it here, so
# two bulk calls never take one lead; a stale entry (claimed by its own job, or waiting for a retry
# time) is dropped as it is met.
_CLAIM_READY = """
local out = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local key = KEYS[i - 2]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    local status = redis.call('HGET', key, 'status')
    local due = redis.call('ZSCORE', KEYS[2], id)
    if (status == 'queued' or status == 'retrying') and due and tonumber(due) <= tonumber(ARGV[3]) then
      local old = redis.call('HGET', key, 'dispatch')
      local dispatch = redis.call('HINCRBY', key, 'dispatch', 1)
      redis.call('HSET', key, 'status', 'delivering', 'updated_at', ARGV[1], 'lease_until', ARGV[2], 'held_by', ARGV[4])
      redis.call('ZADD', KEYS[2], ARGV[2], id)
      local attempt = redis.call('HINCRBY', key, 'attempts', 1)
      table.insert(out, id)
      table.insert(out, dispatch)
      table.insert(out, attempt)
      table.insert(out, old)
    end
  end
end
return out
"""

# KEYS: dead, event, attempts, parked, backlog, payload. ARGV: id, now, retention, payload retention
_PURGE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('ZREM', KEYS[4], ARGV[1])
if removed == 0 then return 0 end
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('HSET', KEYS[2], 'status', 'purged', 'updated_at', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('EXPIRE', KEYS[6], ARGV[4])
return 1
"""


CHANGED = -3
"""What the claim script answers when the event's destination is not the one its caller read."""
CLAIM_TRIES = 3
READY_ROUNDS = 4
"""How often a bulk claim reads the ready set again when stale entries left it short of its limit."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def hash_mapping(fields: Mapping[str, str]) -> Mapping[FieldT, EncodableT]:
    """Encoded event fields as HSET's ``mapping=``, unchanged.

    redis-py types ``mapping`` as ``Mapping[FieldT, EncodableT]``, and a ``Mapping``'s key type is invariant,
    so a ``dict[str, str]`` (str being one of the ``FieldT`` members) is refused; the cast only widens it.
    """
    return cast(Mapping[FieldT, EncodableT], fields)


class DeliveryLifecycle(StoreKeys):
    """The state transitions of :class:`~leadgate.events.EventStore` (a mixin: the store brings the client)."""

    redis: Redis
    retention_seconds: int
    payload_retention_seconds: int
    encode: Callable[[Mapping[str, Any]], dict[str, str]]
    update: Callable[..., None]

    def register_scripts(self, client: Redis) -> None:
        self._claim = client.register_script(_CLAIM)
        self._dispatch = client.register_script(_DISPATCH)
        self._finish = client.register_script(_FINISH)
        self._purge = client.register_script(_PURGE)
        self._claim_ready = client.register_script(_CLAIM_READY)

    def claim(self, event_id: str, dispatch: int, now: float, lease_until: float) -> int:
        """Takes an event for delivery; returns the attempt number.

        0 means the event needs no delivery (final or gone), -1 that this job is stale,
        -2 that its destination is paused (the event was parked as ``paused``).
        """
        claimable = "," + ",".join(sorted(CLAIMABLE)) + ","
        key = self.key(event_id)
        result = CHANGED
        for _ in range(CLAIM_TRIES):
            # The script leaves the event's ready set; which one it is must be read first (declared keys).
            destination = _text(self.redis.hget(key, "destination") or "")
            result = int(
                self._claim(
                    keys=[
                        key,
                        self.due_key,
                        self.paused_key,
                        self.parked_key,
                        self.backlog_key,
                        self.counters_key,
                        self.ready_key(destination),
                    ],
                    args=[event_id, dispatch, now, lease_until, claimable, destination, this_process()],
                )
            )
            if result != CHANGED:
                return result
        raise RuntimeError(f"event {event_id}'s destination keeps changing under its claim")

    def claim_ready(
        self, destination: str, limit: int, now: float, lease_until: float, due_before: float
    ) -> list[tuple[str, int, int, int]]:
        """Takes up to ``limit`` queued leads for ``destination`` in one atomic step each round (for a bulk call).

        Each taken event gets a new dispatch number, so the job that was queued for it
        finds itself stale. Returns ``(event_id, dispatch, attempt, old_dispatch)``.
        """
        ready = self.ready_key(destination)
        taken: list[tuple[str, int, int, int]] = []
        for _ in range(READY_ROUNDS):
            wanted = limit - len(taken)
            if wanted <= 0:
                break
            ids = [_text(member) for member in self.redis.zrange(ready, 0, wanted - 1)]
            if not ids:
                break
            flat = self._claim_ready(
                keys=[ready, self.due_key, *(self.key(event_id) for event_id in ids)],
                args=[now, lease_until, due_before, this_process(), *ids],
            )
            taken += [
                (_text(flat[i]), int(flat[i + 1]), int(flat[i + 2]), int(flat[i + 3])) for i in range(0, len(flat), 4)
            ]
            if len(ids) < wanted:
                break  # the set had no more
        return taken

    def dispatch_due(self, now: float, grace_until: float, limit: int = 200) -> list[tuple[str, int]]:
        """Marks due events dispatched (pushing their deadline to ``grace_until``); returns (id, dispatch)."""
        ids = [_text(member) for member in self.redis.zrangebyscore(self.due_key, "-inf", now, start=0, num=limit)]
        if not ids:
            return []
        # The script adds batchable ones to their destination's ready set: read which, to declare it.
        with self.redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hget(self.key(event_id), "destination")
            destinations = [_text(value or "") for value in pipe.execute()]
        flat = self._dispatch(
            keys=[
                self.due_key,
                *(self.key(event_id) for event_id in ids),
                *(self.ready_key(destination) for destination in destinations),
            ],
            args=[now, grace_until, *ids, *destinations],
        )
        return [(_text(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    def hold(self, *event_ids: str) -> None:
        """Takes events out of the due set so no dispatcher sends it again; its lease no longer runs out.

        For a delivery ConnectGain accepted whose outcome Redis would not record: ``ZREM`` is one of
        the commands Redis still runs when ``maxmemory`` is reached under ``noeviction`` (it frees
        memory), while the script that records the outcome, and the claim that would send the
        lead again, are refused. :meth:`finish` then records the delivery once Redis takes writes.
        """
        if event_ids:
            self.redis.zrem(self.due_key, *event_ids)

    def finish(
        self,
        event_id: str,
        dispatch: int,
        outcome: str,
        attempt: Mapping[str, Any],
        fields: Mapping[str, Any],
        next_at: float = 0.0,
        now: float | None = None,
        *,
        destination: str = "",
        received_at: float | None = None,
        source: str = "",
        pipe: Pipeline | None = None,
    ) -> bool:
        """Records one attempt and its outcome (``delivered``, ``retry``, ``dead``, ``park`` or ``ignore``).

        A stale job (the event was dispatched again since) only adds its attempt to
        the log; a delivery is always recorded, whoever made it. The destination's
        counters (and, for a delivery, the receipt-to-delivery latency histogram) are
        updated in the same script, so metrics never disagree with the store.

        With ``pipe`` the script is queued on that pipeline (the leads of one bulk call are recorded in
        one round trip); its answer is then the pipeline's, and this returns False.
        """
        now = time.time() if now is None else now
        values = {**fields, "updated_at": now}
        pairs: list[str] = []
        for key, value in self.encode(values).items():
            pairs.extend((key, value))
        latency = max(now - received_at, 0.0) if received_at else 0.0
        result = self._finish(
            keys=[
                self.key(event_id),
                self.due_key,
                self.dead_key,
                self.attempts_key(event_id),
                self.parked_key,
                self.backlog_key,
                self.counters_key,
                self.latency_key,
                self.payload_key(event_id),
            ],
            args=[
                event_id,
                dispatch,
                outcome,
                now,
                next_at,
                encode_json(attempt),
                self.retention_seconds,
                metrics.counter_field(OUTCOME_COUNTERS[outcome], source if outcome == "ignore" else destination),
                metrics.latency_bucket(latency),
                repr(latency),
                destination,
                self.payload_retention_seconds,
                ",".join(SETTLED_FIELDS),
                *pairs,
            ],
            client=pipe,
        )
        return pipe is None and bool(result)

    def requeue(self, event_id: str, *, fields: Mapping[str, Any] | None = None) -> None:
        """Puts an event back in line for delivery now (replay, resume) and wakes a dispatcher.

        The dispatch that follows gives it a fresh dispatch number, so any job still
        queued for an earlier attempt finds itself stale.
        """
        key = self.key(event_id)
        values = {"status": "queued", "attempts": 0, "next_attempt_at": "", **(fields or {})}
        payloads = {name: values.pop(name) for name in PAYLOAD_FIELDS if name in values}
        if payloads:
            self.update(event_id, **payloads)
        received, destination = self.redis.hmget(key, ["received_at", "destination"])
        now = time.time()
        encoded = self.encode({**values, "updated_at": now})
        with self.redis.pipeline(transaction=True) as pipe:  # explicit: a cluster client defaults to none
            pipe.hset(key, mapping=hash_mapping({k: v for k, v in encoded.items() if v != ""}))
            if any(v == "" for v in encoded.values()):
                pipe.hdel(key, *(k for k, v in encoded.items() if v == ""))
            pipe.persist(key)
            pipe.persist(self.attempts_key(event_id))
            pipe.persist(self.payload_key(event_id))
            pipe.zrem(self.dead_key, event_id)
            pipe.zrem(self.parked_key, event_id)
            pipe.zadd(self.due_key, {event_id: now})
            pipe.zadd(self.backlog_key, {event_id: float(received or now)})
            if values.get("batchable"):
                where = values.get("destination") or _text(destination or b"")
                pipe.zadd(self.ready_key(str(where)), {event_id: float(received or now)})
            self.wake(pipe)
            pipe.execute()

    def wake(self, pipe: Pipeline) -> None:
        """Tells a waiting dispatcher there is work now (one token at most is kept: wakes coalesce)."""
        pipe.lpush(self.wake_key, 1)
        pipe.ltrim(self.wake_key, 0, 0)

    def purge(self, event_id: str) -> bool:
        """Drops a dead letter or a parked event for good (an operator's decision); anything else is left alone."""
        result = self._purge(
            keys=[
                self.dead_key,
                self.key(event_id),
                self.attempts_key(event_id),
                self.parked_key,
                self.backlog_key,
                self.payload_key(event_id),
            ],
            args=[event_id, time.time(), self.retention_seconds, self.payload_retention_seconds],
        )
        return bool(result)
