"""Events stored and moved the way the gateway and the workers do it, without HTTP or a ConnectGain call.

A form post goes through its adapter's ``parse`` and ``normalize`` and then :func:`leadgate.intake.accept`,
as ``gateway.hooks`` does; delivery outcomes go through the event store's own transitions
(``dispatch_due``, ``claim``, ``finish``), as a worker records them.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from adapters.base import InboundRequest
from leadgate.intake import accept
from leadgate.model import Accepted
from leadgate.model import InboundEvent
from leadgate.model import Unprocessable
from leadgate.runtime import Runtime

__all__ = ["accept_form", "claim_now", "dead_letter", "form_event", "park", "pause", "unreachable_redis"]


def form_event(rt: Runtime, fields: Mapping[str, str], source_id: str = "contact-us") -> InboundEvent:
    """The one event a urlencoded post of ``fields`` becomes, by the source's adapter."""
    source = rt.config.sources[source_id]
    body = urlencode(fields).encode()
    inbound = InboundRequest(
        method="POST",
        content_type="application/x-www-form-urlencoded",
        body=body,
        headers={"content-type": "application/x-www-form-urlencoded", "content-length": str(len(body))},
        form=tuple(fields.items()),
        remote_addr="10.0.0.7",
    )
    (event,) = rt.config.kinds[source.kind].parse(inbound, source)
    return event


def accept_form(rt: Runtime, fields: Mapping[str, str], source_id: str = "contact-us", **kwargs: Any) -> Accepted:
    """Parses, normalizes and stores a form post as the gateway does (no usable contact field: ``rejected``)."""
    source = rt.config.sources[source_id]
    event = form_event(rt, fields, source_id)
    if event.outcome != "queued":
        return accept(rt, source, event, **kwargs)
    try:
        lead = rt.config.kinds[source.kind].normalize(event.raw, source)
    except Unprocessable as err:
        return accept(rt, source, event, status="rejected", reason=f"{err.message}: {err.errors}", **kwargs)
    return accept(rt, source, event, lead=lead, **kwargs)


def claim_now(rt: Runtime, event_id: str) -> tuple[int, int]:
    """Dispatches everything due and claims ``event_id`` as its job would; returns (dispatch, claim result)."""
    now = time.time()
    dispatched = dict(rt.store.dispatch_due(now, now + 60))
    dispatch = dispatched.get(event_id) or int(rt.redis.hget(rt.store.key(event_id), "dispatch") or 0)
    return dispatch, rt.store.claim(event_id, dispatch, now, now + 60)


def dead_letter(rt: Runtime, event_id: str, error: str = "ConnectGain answered 400") -> None:
    """One failed attempt that dead-letters the event, recorded as a worker records it."""
    dispatch, attempt = claim_now(rt, event_id)
    assert attempt >= 1, f"{event_id} could not be claimed ({attempt})"
    destination = rt.store.get(event_id).destination  # type: ignore[union-attr]
    fields = {"status": "dead", "last_error": error, "last_status_code": 400, "next_attempt_at": ""}
    record = {"n": attempt, "outcome": "dead", "status_code": 400, "error": error}
    assert rt.store.finish(event_id, dispatch, "dead", record, fields, destination=destination)


def park(rt: Runtime, event_id: str, error: str = "the page token expired") -> None:
    """One attempt that parks the event as ``needs_token`` (waiting for an operator), as a worker records it."""
    dispatch, attempt = claim_now(rt, event_id)
    assert attempt >= 1, f"{event_id} could not be claimed ({attempt})"
    destination = rt.store.get(event_id).destination  # type: ignore[union-attr]
    fields = {"status": "needs_token", "last_error": error, "next_attempt_at": ""}
    record = {"n": attempt, "outcome": "needs_token", "error": error}
    assert rt.store.finish(event_id, dispatch, "park", record, fields, destination=destination)


def pause(rt: Runtime, destination: str, reason: str = "ConnectGain refused the API key") -> None:
    """Pauses a destination as a worker does when ConnectGain answers 401: its next claims park as ``paused``."""
    rt.redis.hsetnx(rt.store.paused_key, destination, json.dumps({"reason": reason, "at": time.time()}))


def unreachable_redis() -> redis.Redis:
    """A client for a loopback port nobody listens on, failing at once (no retries)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
