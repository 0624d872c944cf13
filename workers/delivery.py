"""The delivery job: take one event, send it to ConnectGain, record what happened.

Flow of one attempt: claim the event (a lease, so a killed worker only delays it),
build the lead (the stored one, or a fresh normalization of the raw event), POST it,
then record ``delivered``, a retry at the next backoff time, or a dead letter. Every
outcome goes through :meth:`EventStore.finish`, which ignores stale jobs.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from adapters import get_adapter
from adapters.base import Unprocessable
from leadgate import runtime as runtime_module
from leadgate.events import Event
from leadgate.runtime import Runtime
from workers.connectgain import ConnectGainClient
from workers.errors import DeliveryError
from workers.errors import OperatorActionError
from workers.errors import PermanentError
from workers.errors import TransientError
from workers.graph import fetch_leadgen

PAUSED = -2
"""What ``EventStore.claim`` answers when the event's destination is paused."""

__all__ = ["LEAD_FETCHERS", "deliver", "deliver_event", "prepare_lead", "retry_delay"]

log = logging.getLogger(__name__)

LeadFetcher = Callable[[Runtime, Event, Any], dict[str, Any]]
LEAD_FETCHERS: dict[str, LeadFetcher] = {"facebook": fetch_leadgen}
"""Kinds whose webhook only names a lead register here how to fetch its raw data (e.g. facebook)."""

_client: ConnectGainClient | None = None
_client_lock = threading.Lock()


def http_client(timeout: float) -> ConnectGainClient:
    """The process-wide pooled client (one per worker process, reused across jobs)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = ConnectGainClient(timeout=timeout)
        return _client


def retry_delay(policy: Any, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Seconds to wait before the next try: the server's Retry-After, else backoff with jitter."""
    if retry_after is not None:
        return max(retry_after, 0.0)
    base = policy.backoff(attempt)
    spread = policy.jitter
    return base * (rng or random).uniform(1 - spread, 1 + spread)


def prepare_lead(rt: Runtime, event: Event, source: Any) -> dict[str, Any]:
    """The payload to send: the stored lead, or the raw event normalized with the current config."""
    if event.lead:
        return dict(event.lead)
    if source is None:
        raise PermanentError(f"source {event.source!r} is no longer configured")
    adapter = get_adapter(source.kind)
    if adapter is None:
        raise PermanentError(f"source kind {source.kind!r} is not available")
    fetch = LEAD_FETCHERS.get(source.kind)
    raw = fetch(rt, event, source) if fetch else event.raw
    try:
        lead = adapter.normalize(raw, source)
    except Unprocessable as err:
        raise PermanentError(f"{err.message}: {err.errors}") from err
    rt.store.update(event.id, lead=lead)
    return lead


def deliver(rt: Runtime, client: ConnectGainClient, event_id: str, dispatch: int) -> str:
    """One delivery attempt of one event; returns the outcome (``delivered``, ``retry``, ``dead``, ``skipped``)."""
    policy = rt.config.delivery
    started = time.time()
    attempt_no = rt.store.claim(event_id, dispatch, started, started + policy.lease_seconds)
    if attempt_no == PAUSED:
        log.info("parked %s: its destination is paused", event_id)
        return "paused"
    if attempt_no <= 0:
        return "skipped"
    event = rt.store.get(event_id)
    if event is None:
        return "skipped"
    source = rt.config.sources.get(event.source)
    destination = rt.config.destinations.get(event.destination)
    attempt: dict[str, Any] = {"n": attempt_no, "at": started}
    try:
        lead = prepare_lead(rt, event, source)
        if destination is None:
            raise PermanentError(f"destination {event.destination!r} is no longer configured")
        created = client.create_lead(destination, lead, idempotency_key=event_id)
    except DeliveryError as err:
        return _record_failure(rt, event, dispatch, attempt_no, attempt, started, err)
    attempt.update(outcome="delivered", status_code=created.status_code, duration_ms=_ms(started))
    attempt["response"] = created.body
    rt.store.finish(
        event_id,
        dispatch,
        "delivered",
        attempt,
        {
            "status": "delivered",
            "contact_id": created.contact_id,
            "deal_id": created.deal_id,
            "delivered_at": time.time(),
            "last_status_code": created.status_code,
            "last_error": "",
            "next_attempt_at": "",
        },
        destination=event.destination,
        received_at=event.received_at,
    )
    log_attempt(event, attempt)
    return "delivered"


def _record_failure(
    rt: Runtime,
    event: Event,
    dispatch: int,
    attempt_no: int,
    attempt: dict[str, Any],
    started: float,
    err: DeliveryError,
) -> str:
    policy = rt.config.delivery
    attempt.update(status_code=err.status_code or None, error=err.message, duration_ms=_ms(started))
    if err.body:
        attempt["response"] = err.body
    fields: dict[str, Any] = {"last_error": err.message, "last_status_code": err.status_code}
    if isinstance(err, TransientError) and attempt_no < policy.max_attempts:
        next_at = time.time() + retry_delay(policy, attempt_no, err.retry_after)
        attempt["outcome"] = "retry"
        fields.update(status="retrying", next_attempt_at=next_at)
        rt.store.finish(event.id, dispatch, "retry", attempt, fields, next_at=next_at, destination=event.destination)
        log_attempt(event, attempt, next_attempt_in=round(next_at - time.time(), 1))
        return "retry"
    if isinstance(err, OperatorActionError):
        attempt["outcome"] = err.park_as
        fields.update(status=err.park_as, next_attempt_at="")
        if err.park_as == "paused":
            pause_destination(rt, event.destination, err.message)
        rt.store.finish(event.id, dispatch, "park", attempt, fields, destination=event.destination)
        log_attempt(event, attempt)
        return err.park_as
    if isinstance(err, TransientError):
        fields["last_error"] = f"gave up after {attempt_no} attempts: {err.message}"
    attempt["outcome"] = "dead"
    fields.update(status="dead", next_attempt_at="", dead_at=time.time())
    rt.store.finish(event.id, dispatch, "dead", attempt, fields, destination=event.destination)
    log_attempt(event, attempt, error=fields["last_error"])
    return "dead"


def log_attempt(event: Event, attempt: dict[str, Any], **extra: Any) -> None:
    """One line per delivery attempt: ids, outcome, status code, duration; never the lead itself."""
    outcome = attempt.get("outcome", "")
    level = logging.INFO if outcome == "delivered" else logging.ERROR if outcome == "dead" else logging.WARNING
    log.log(
        level,
        "delivery attempt",
        extra={
            "kind": "delivery",
            "event_id": event.id,
            "source": event.source,
            "destination": event.destination,
            "attempt": attempt.get("n"),
            "status": outcome,
            "status_code": attempt.get("status_code"),
            "duration_ms": attempt.get("duration_ms"),
            "error": extra.pop("error", attempt.get("error")),
            **extra,
        },
    )


def pause_destination(rt: Runtime, destination: str, reason: str) -> None:
    """Stops deliveries to a destination until ``leadgate destinations resume`` (e.g. its API key was revoked)."""
    rt.redis.hsetnx(rt.store.paused_key, destination, json.dumps({"reason": reason, "at": time.time()}))


def _ms(started: float) -> int:
    return int((time.time() - started) * 1000)


def deliver_event(event_id: str, dispatch: int) -> str:
    """The RQ job: deliver one event with this process's runtime and pooled client."""
    rt = runtime_module.current()
    return deliver(rt, http_client(rt.config.delivery.timeout_seconds), event_id, dispatch)
