"""The delivery job: take one event, send it to ConnectGain, record what happened.

Flow of one attempt: claim the event (a lease, so a killed worker only delays it),
build the lead (the stored one, or a fresh normalization of the raw event), POST it,
then record ``delivered``, a retry at the next backoff time, or a dead letter. Every
outcome goes through :meth:`EventStore.finish`, which ignores stale jobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from rq.timeouts import JobTimeoutException

from adapters import KINDS
from adapters import get_adapter
from adapters.base import NotALead
from adapters.base import Unprocessable
from leadgate import runtime as runtime_module
from leadgate.events import Event
from leadgate.intake import is_batchable
from leadgate.runtime import Runtime
from workers import inflight
from workers.batch import deliver_batch
from workers.clients import pooled
from workers.connectgain import ConnectGainClient
from workers.errors import DeliveryError
from workers.errors import NothingToDeliver
from workers.errors import PermanentError
from workers.facebook_graph import fetch_leadgen
from workers.outcomes import record_delivered
from workers.outcomes import record_failure

PAUSED = -2
"""What ``EventStore.claim`` answers when the event's destination is paused."""

__all__ = ["LEAD_FETCHERS", "deliver", "deliver_event", "prepare_lead"]

log = logging.getLogger(__name__)

LeadFetcher = Callable[[Runtime, Event, Any], dict[str, Any]]
LEAD_FETCHERS: dict[str, LeadFetcher] = {"facebook": fetch_leadgen}
"""Kinds whose webhook only names a lead register here how to fetch its raw data (e.g. facebook)."""


def http_client(timeout: float) -> ConnectGainClient:
    """The process-wide pooled ConnectGain client (one per worker process, reused across jobs)."""
    return pooled(ConnectGainClient, timeout)


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
    except NotALead as err:
        raise NothingToDeliver(err.message) from err
    except Unprocessable as err:
        raise PermanentError(f"{err.message}: {err.errors}") from err
    rt.store.update(event.id, lead=lead, batchable=is_batchable(lead))
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
        if policy.batch_size > 1 and is_batchable(lead):
            event.lead = lead  # fetched or normalized just now (facebook leads arrive without one)
            outcome = deliver_batch(rt, client, destination, event, dispatch, attempt_no, started)
            if outcome is not None:
                return outcome
        created = client.create_lead(destination, lead, idempotency_key=event_id)
    except DeliveryError as err:
        return record_failure(rt, event, dispatch, attempt_no, attempt, started, err)
    except JobTimeoutException:
        # RQ's time limit (lease plus the record window) ran out: what happened at the CRM is unknown, so the
        # lead is left to its lease and tried again with the same Idempotency-Key, never dead-lettered here
        raise
    except Exception as err:  # a bug must leave a visible, replayable dead letter, not a lead stuck in delivery
        log.exception("unexpected error delivering %s", event_id)
        failure = PermanentError(f"internal error while delivering: {type(err).__name__}: {err}")
        return record_failure(rt, event, dispatch, attempt_no, attempt, started, failure)
    attempt.update(status_code=created.status_code, response=created.body)
    return record_delivered(rt, event, dispatch, attempt, started, created.contact_id, created.deal_id)


def deliver_event(event_id: str, dispatch: int) -> str:
    """The RQ job: deliver one event with this process's runtime and pooled client.

    In a worker with calls in flight (:mod:`workers.inflight`) the job hands the delivery to a sender
    thread and returns ``in flight``; the outcome is the event's, in the store, as always.
    """
    rt = runtime_module.current(KINDS)
    client = http_client(rt.config.delivery.timeout_seconds)
    senders = inflight.active()
    if senders is None:
        return deliver(rt, client, event_id, dispatch)
    senders.submit(deliver, rt, client, event_id, dispatch)
    return "in flight"
