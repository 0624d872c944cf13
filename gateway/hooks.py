"""``/hooks/<source_id>``: the one URL scheme every source kind receives on.

Order matters and is the same for every kind: find the source, bound the body (its
size as it streams, its fields' count, names and values: 413 or 400), verify (signature,
key, Origin) on the raw bytes, parse, normalize when the kind carries the lead inline,
then store and enqueue. Only after the store has the event
does a 2xx go out; an unreachable store answers 503 so the sender retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import redis
from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import jsonify
from flask import make_response
from flask import request

from adapters import get_adapter
from adapters.base import Accepted
from adapters.base import AdapterError
from adapters.base import InboundEvent
from adapters.base import Reply
from adapters.base import Unprocessable
from adapters.negotiation import origin_allowed
from adapters.negotiation import wants_page
from gateway.inbound import inbound_request
from gateway.inbound import request_meta
from gateway.limits import limiter
from gateway.limits import source_key
from gateway.limits import source_limit
from gateway.limits import unlimited
from gateway.responses import error_response
from gateway.responses import refusal_page
from leadgate import metrics
from leadgate.config import SourceConfig
from leadgate.intake import accept
from leadgate.runtime import Runtime

__all__ = ["bp"]

bp = Blueprint("hooks", __name__)
log = logging.getLogger(__name__)

STORE_RETRY_AFTER = "30"
ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
"""The ``error`` of a refusal, by status (422 and the rest: ``unprocessable``)."""


def runtime() -> Runtime:
    return current_app.extensions["leadgate"]


@bp.before_app_request
def start_clock() -> None:
    g.started = time.perf_counter()


@bp.after_app_request
def log_request(response: Response) -> Response:
    """One line per hook request: source, status, duration and the event ids it produced (no payload)."""
    if request.path.startswith("/hooks/"):
        log.info(
            "request",
            extra={
                "kind": "request",
                "method": request.method,
                "path": request.path,
                "source": (request.view_args or {}).get("source_id"),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
                "event_ids": g.get("event_ids", []),
                "remote_addr": request.remote_addr,
            },
        )
    return response


def rate_limited(limit: Any) -> Response:
    """The 429 answer: JSON like every refusal, counted; flask-limiter adds Retry-After."""
    source = runtime().config.sources.get((request.view_args or {}).get("source_id", ""))
    message = f"too many requests from this address ({limit.limit})"
    if source is None:
        return error_response(429, "rate_limited", message)
    count_refusal(source, "rate_limited")
    return refuse(get_adapter(source.kind), source, 429, "rate_limited", message)


@limiter.request_filter
def skip_limits_of_unlimited_sources() -> bool:
    """A hook request for a source without ``rate_limit`` has no limit to check: spare it the limiter's work.

    The same answer as ``exempt_when=unlimited`` on the route (no limit, no rate-limit headers),
    decided before flask-limiter resolves the request's limits, which it otherwise does twice.
    """
    return request.endpoint == "hooks.receive" and unlimited()


def count_refusal(source: SourceConfig, counter: str) -> None:
    """Counts a refused request; best effort, a refusal must not turn into a 503."""
    try:
        rt = runtime()
        with rt.redis.pipeline(transaction=False) as pipe:
            metrics.incr(pipe, rt.store.counters_key, "received", source.id)
            metrics.incr(pipe, rt.store.counters_key, counter, source.id)
            pipe.execute()
    except redis.RedisError:
        pass


# On the blueprint, not the view: checked once, in flask-limiter's before_request (a route decorator
# checks a second time in the view). The blueprint has this one route.
limiter.limit(source_limit, key_func=source_key, exempt_when=unlimited, on_breach=rate_limited)(bp)


@bp.route("/hooks/<source_id>", methods=["GET", "POST", "OPTIONS"])
def receive(source_id: str) -> Response:
    source = runtime().config.sources.get(source_id)
    if source is None:
        return error_response(404, "unknown_source", f"no source named {source_id!r} is configured")
    adapter = get_adapter(source.kind)
    if request.method == "OPTIONS":
        return preflight(source)
    if request.method in ("GET", "HEAD"):  # Flask routes HEAD here too: answer it like GET, store nothing
        handshake = getattr(adapter, "handshake", None)
        if handshake is None:
            return error_response(405, "method_not_allowed", "POST leads to this URL", headers={"Allow": "POST"})
        try:
            challenge = inbound_request(request, source)
        except AdapterError as err:
            return refuse(adapter, source, err.status, error_name(err), err.message, err.errors)
        return with_cors(source, reply(handshake(challenge, source)))
    try:
        # Bounded before anything else reads it: an over-limit body is refused before its signature is checked.
        inbound = inbound_request(request, source, runtime().config.public_url)
    except AdapterError as err:
        count_refusal(source, "invalid")
        return refuse(adapter, source, err.status, error_name(err), err.message, err.errors)
    # Every config is loaded against the kinds registry (adapters.KINDS), so a configured source's kind exists.
    assert adapter is not None
    try:
        adapter.verify(inbound, source)
        events = adapter.parse(inbound, source)
        prepared = [prepare(adapter, source, event) for event in events]
    except AdapterError as err:
        count_refusal(source, "unauthorized" if err.status in (401, 403) else "invalid")
        return refuse(adapter, source, err.status, error_name(err), err.message, err.errors)
    meta = request_meta(inbound)
    idempotency_key = inbound.header("idempotency-key") or None
    try:
        accepted = [
            accept(
                runtime(),
                source,
                event,
                lead=lead,
                status=status,
                reason=reason,
                request_meta=meta,
                idempotency_key=f"{idempotency_key}#{index}" if idempotency_key and index else idempotency_key,
            )
            for index, (event, lead, status, reason, _) in enumerate(prepared)
        ]
    except redis.RedisError as err:
        log.error("store unavailable for %s: %s", source.id, type(err).__name__)
        # nothing was stored: a platform retries on the 503, a visitor's browser is asked to send it again
        message = "the lead store is unavailable; retry later"
        return refuse(adapter, source, 503, "store_unavailable", message, headers={"Retry-After": STORE_RETRY_AFTER})
    g.event_ids = [a.event_id for a in accepted]
    refused = [(a, item[4]) for a, item in zip(accepted, prepared, strict=True) if item[4] is not None]
    if refused:
        # Stored as rejected (replayable after a field_map fix), and still told to the sender.
        stored, refusal = refused[0]
        errors = {**refusal.errors, "event_id": stored.event_id}
        return refuse(
            adapter, source, refusal.status, error_name(refusal), refusal.message, errors, event_id=stored.event_id
        )
    acknowledge = getattr(adapter, "acknowledge", None)
    custom = acknowledge(accepted, inbound, source) if acknowledge else None
    return with_cors(source, reply(custom) if custom is not None else default_reply(accepted))


Prepared = tuple[InboundEvent, Any, str | None, str, Unprocessable | None]
"""An event ready to store: (event, lead, status override, reason, the refusal to answer with after storing)."""


def prepare(adapter: Any, source: SourceConfig, event: InboundEvent) -> Prepared:
    """Normalizes an inline lead now, so bad input is answered while the sender is still there.

    A lead with no usable contact field is stored anyway, as ``rejected`` with its reason, so a
    ``field_map`` fix and a replay deliver it. Kinds whose senders must not see a 4xx
    (``ACCEPT_UNPROCESSABLE``) are then answered 2xx; the others (forms) still get the 422.
    """
    if event.outcome != "queued" or not adapter.NORMALIZE_ON_RECEIVE:
        return event, None, None, "", None
    try:
        return event, adapter.normalize(event.raw, source), None, "", None
    except Unprocessable as err:
        refusal = None if getattr(adapter, "ACCEPT_UNPROCESSABLE", False) else err
        return event, None, "rejected", f"{err.message}: {err.errors}", refusal


def refuse(
    adapter: Any,
    source: SourceConfig,
    status: int,
    error: str,
    message: str,
    errors: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The refusal: JSON for scripts; for a visitor's browser, ``error_redirect`` or a small page."""
    if visitor_browser(adapter):
        target = source.option("error_redirect")
        if target:
            query = urlencode({"error": error, **({"event_id": event_id} if event_id else {})})
            response = make_response("", 303)
            response.headers["Location"] = f"{target}{'&' if '?' in target else '?'}{query}"
        else:
            response = refusal_page(status, source.language, message, event_id, headers)
        return with_cors(source, response)
    return with_cors(source, error_response(status, error, message, errors, headers))


def visitor_browser(adapter: Any) -> bool:
    """A visitor's browser submitting a form to a browser-facing kind (not a script, not a platform)."""
    accept = request.headers.get("Accept", "")
    requested_with = request.headers.get("X-Requested-With", "")
    return request.method == "POST" and getattr(adapter, "BROWSER_FACING", False) and wants_page(accept, requested_with)


def error_name(err: AdapterError) -> str:
    return ERROR_NAMES.get(err.status, "unprocessable")


def default_reply(accepted: list[Accepted]) -> Response:
    """202 with the event id(s); spam is answered exactly like a lead so bots learn nothing."""
    items = [
        {"event_id": a.event_id, "status": "queued" if a.status == "spam" else a.status, "duplicate": a.duplicate}
        for a in accepted
    ]
    body: dict[str, Any] = {"ok": True, **items[0]} if len(items) == 1 else {"ok": True, "events": items}
    # an empty list (a batch with no leads in it) is still a success: {"ok": true, "events": []}
    response = jsonify(body)
    response.status_code = 202
    return response


def reply(answer: Reply) -> Response:
    if isinstance(answer.body, (dict, list)):
        response = jsonify(answer.body)
    else:
        response = make_response(answer.body)
        response.content_type = answer.content_type
    response.status_code = answer.status
    for name, value in answer.headers.items():
        response.headers[name] = value
    return response


def allowed_origin(source: SourceConfig) -> str | None:
    """The request's ``Origin`` as sent, when the source allows it (the same rule the form kind checks)."""
    origin = request.headers.get("Origin", "")
    return origin if origin_allowed(origin, source.option("allowed_origins") or []) else None


def with_cors(source: SourceConfig, response: Response) -> Response:
    origin = allowed_origin(source)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def preflight(source: SourceConfig) -> Response:
    """CORS preflight for AJAX form posts from the configured origins."""
    origin = allowed_origin(source)
    if origin is None:
        return error_response(403, "forbidden", "this origin may not post to this source")
    response = make_response("", 204)
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Idempotency-Key"
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Vary"] = "Origin"
    return response
