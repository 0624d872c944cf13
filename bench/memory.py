"""Part (d): Redis memory per delivered event, form and Facebook leads, before-format baseline vs now.

Leads are stored and delivered in this process as the gateway and a worker do it
(:mod:`leadgate.sandbox.footprint`, to the run's sandbox CRM), then measured with ``MEMORY USAGE``:
the event's keys plus its share of the index sorted sets. The baseline is the same delivered events
written again, into a second set of keys, in the layout used before issue 15 (every field in the
event hash as plain JSON or text, empty ones included; attempts as plain JSON), so both figures come
from the same Redis in the same run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from bench.stack import FACEBOOK_SOURCE
from bench.stack import FORM_SOURCE
from bench.stack import Bench
from leadgate.events import Event
from leadgate.runtime import Runtime
from leadgate.sandbox import footprint

__all__ = ["BUDGET_BYTES", "MemoryResults", "MemoryRun", "measure_memory"]

BUDGET_BYTES = 1536
"""Issue 15's budget: 1.5 KB per delivered event."""

_LEGACY_PREFIX = "lgold:"
_LEGACY_FIELDS = (
    "source",
    "kind",
    "destination",
    "status",
    "received_at",
    "updated_at",
    "attempts",
    "dispatch",
    "raw",
    "lead",
    "request",
    "dedupe_keys",
    "last_error",
    "last_status_code",
    "contact_id",
    "next_attempt_at",
    "delivered_at",
    "lease_until",
    "deal_id",
    "batchable",
)


@dataclass
class MemoryRun:
    kind: str
    events: int
    now: footprint.Footprint
    before: float
    redis_version: str


@dataclass
class MemoryResults:
    runs: list[MemoryRun] = field(default_factory=list)


def _legacy_value(event: Event, name: str) -> str:
    value: Any = getattr(event, name, None) if name != "deal_id" else event.extra.get("deal_id", "")
    if name in ("raw", "lead", "request", "dedupe_keys"):
        return "" if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if name == "batchable":
        return "1"
    if name == "lease_until":
        value = event.updated_at + 60
    return "" if value in (None, 0, 0.0) and name != "attempts" else str(value)


def _legacy_bytes(rt: Runtime, ids: list[str]) -> float:
    """What ``ids`` cost stored the pre-issue-15 way (hash with every field, JSON attempts list, two indexes)."""
    client = rt.redis
    pipe = client.pipeline(transaction=False)
    for event in rt.store.get_many(ids):
        key = f"{_LEGACY_PREFIX}ev:{event.id}"
        pipe.hset(key, mapping={name: _legacy_value(event, name) for name in _LEGACY_FIELDS})
        for attempt in rt.store.attempts(event.id):
            pipe.rpush(f"{key}:attempts", json.dumps(attempt, separators=(",", ":"), ensure_ascii=False))
        pipe.zadd(f"{_LEGACY_PREFIX}events", {event.id: event.received_at})
        pipe.zadd(f"{_LEGACY_PREFIX}events:src:{event.source}", {event.id: event.received_at})
    pipe.execute()
    keys = [k for i in ids for k in (f"{_LEGACY_PREFIX}ev:{i}", f"{_LEGACY_PREFIX}ev:{i}:attempts")]
    keys += [k.decode() for k in client.scan_iter(match=f"{_LEGACY_PREFIX}events*")]
    for key in keys:
        pipe.memory_usage(key, samples=0)
    total = sum(int(size or 0) for size in pipe.execute())
    return total / max(len(ids), 1)


def measure_memory(bench: Bench, count: int, log: Callable[[str], None]) -> MemoryResults:
    """Stores and delivers ``count`` form leads, then ``count`` Facebook leads, and measures each batch."""
    results = MemoryResults()
    rt = bench.runtime(100)
    bench.crm_reset(0.0)
    version = str(rt.redis.info("server")["redis_version"])
    kinds: list[tuple[str, str, Callable[[Runtime, str, int], str]]] = [
        ("form", FORM_SOURCE, footprint.acknowledge_form),
        ("facebook", FACEBOOK_SOURCE, footprint.acknowledge_facebook),
    ]
    for kind, source, acknowledge in kinds:
        bench.flush()
        ids = [acknowledge(rt, source, i) for i in range(count)]
        footprint.deliver_everything(rt, timeout=300)
        now = footprint.measure(rt, ids)
        before = _legacy_bytes(rt, ids)
        results.runs.append(MemoryRun(kind, count, now, before, version))
        log(f"memory: {kind} {now.event:,.0f} B per delivered event (before-format {before:,.0f} B)")
    bench.flush()
    return results
