"""What an operator does to events: replay dead letters, parked and rejected events, resume a paused destination.

A replay re-normalizes the stored raw event with the *current* config (so a fixed
``field_map`` or a new API key takes effect) and queues it with a fresh attempt budget. The
source's kind comes from the config's registry (``Config.kinds``), so the core needs no adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadgate.intake import is_batchable
from leadgate.model import Unprocessable
from leadgate.runtime import Runtime

__all__ = ["REPLAYABLE", "ReplayResult", "replay_event", "requeue", "resume_destination"]

REPLAYABLE = frozenset({"dead", "rejected", "queued", "retrying", "delivering"})
"""Statuses a replay acts on without ``force``; parked statuses are added by the kinds that park."""


@dataclass(frozen=True)
class ReplayResult:
    event_id: str
    ok: bool
    message: str
    status: str


def requeue(rt: Runtime, event_id: str, fields: dict[str, Any]) -> None:
    """Queues an event again now (its delivery job is created by the dispatcher it wakes)."""
    rt.store.requeue(event_id, fields=fields)


def replay_event(rt: Runtime, event_id: str, *, force: bool = False) -> ReplayResult:
    """Re-normalizes and re-queues one event; refuses delivered events unless ``force``."""
    event = rt.store.get(event_id)
    if event is None:
        return ReplayResult(event_id, False, "no such event", "missing")
    parked = rt.store.redis.zscore(rt.store.parked_key, event_id) is not None
    if event.status not in REPLAYABLE and not parked and not force:
        return ReplayResult(event_id, False, f"event is {event.status}; use force to send it again", event.status)
    if not event.has_payloads:
        days = rt.config.payload_retention_days
        message = f"its payloads (the raw event a replay re-reads) expired: payload_retention_days is {days}"
        return ReplayResult(event_id, False, message, event.status)
    source = rt.config.sources.get(event.source)
    adapter = rt.config.kinds.get(source.kind) if source else None
    if source is None or adapter is None:
        return ReplayResult(event_id, False, f"source {event.source!r} is not configured", event.status)
    lead = None
    if adapter.NORMALIZE_ON_RECEIVE:
        try:
            lead = adapter.normalize(event.raw, source)
        except Unprocessable as err:
            rt.store.update(event_id, last_error=f"replay: {err.message}: {err.errors}")
            return ReplayResult(event_id, False, f"{err.message}: {err.errors}", event.status)
    fields = {"lead": lead, "batchable": is_batchable(lead), "destination": source.destination, "last_error": ""}
    requeue(rt, event_id, fields)
    return ReplayResult(event_id, True, "queued", "queued")


def resume_destination(rt: Runtime, destination: str) -> int:
    """Un-pauses a destination and queues every lead that waited for it; returns how many."""
    rt.redis.hdel(rt.store.paused_key, destination)
    waiting = [e for e in rt.store.parked() if e.status == "paused" and e.destination == destination]
    for event in waiting:
        requeue(rt, event.id, {"last_error": ""})
    return len(waiting)
