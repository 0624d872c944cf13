"""``/admin/api/``: the admin JSON API (sources, event history, replay, edit and replay, dead letters).

Authentication happens before any view here (:mod:`gateway.auth`: bearer token, 404
when the admin surface is off). Answers are dumped through :mod:`gateway.schemas`,
the same classes ``/openapi.json`` is generated from. What an event shows is decided
here once and reused by the dashboard: payloads and request data are redacted again on
the way out, whatever was stored.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for
from marshmallow import ValidationError

from adapters.corrections import correct_lead
from gateway.limits import client_ip
from gateway.responses import error_response
from gateway.schemas import DestinationListSchema
from gateway.schemas import EditRequestSchema
from gateway.schemas import EditResultSchema
from gateway.schemas import EventDetailSchema
from gateway.schemas import EventPageSchema
from gateway.schemas import EventQuerySchema
from gateway.schemas import PurgeResultSchema
from gateway.schemas import ReplayBatchSchema
from gateway.schemas import ReplayQuerySchema
from gateway.schemas import ReplayResultSchema
from gateway.schemas import ResumeResultSchema
from gateway.schemas import SourceListSchema
from gateway.schemas import SourcesQuerySchema
from leadgate.abridge import Abridged
from leadgate.abridge import first_items
from leadgate.events import Event
from leadgate.events import is_event_id
from leadgate.health import paused_destinations
from leadgate.history import CursorError
from leadgate.history import contacts_for
from leadgate.history import find_events
from leadgate.history import operator_log
from leadgate.history import payload_diff
from leadgate.history import source_counters
from leadgate.history import timeline
from leadgate.operations import EditResult
from leadgate.operations import ReplayResult
from leadgate.operations import edit_and_replay
from leadgate.operations import replay_event
from leadgate.operations import resume_destination
from leadgate.redaction import redact_fields
from leadgate.redaction import redact_request
from leadgate.runtime import Runtime

__all__ = [
    "bp",
    "edit_event",
    "event_detail",
    "event_summaries",
    "event_summary",
    "raw_download",
    "replay_waiting",
]

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")

NOT_AN_EVENT_ID = "no such event: an event id is ev_ and 24 hex digits"


def runtime() -> Runtime:
    return current_app.extensions["leadgate"]


@bp.before_request
def known_event_id() -> Response | None:
    """404 for an ``<event_id>`` in the URL that is not an event id, before it comes near a Redis key name."""
    event_id = (request.view_args or {}).get("event_id")
    if event_id is None or is_event_id(event_id):
        return None
    return error_response(404, "unknown_event", NOT_AN_EVENT_ID)


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def event_summary(event: Event, contact: dict[str, str | None]) -> dict[str, Any]:
    """What a list shows of one event: its fate and who the lead is."""
    return {**event.summary(), "kind": event.kind, "contact": contact}


def event_summaries(rt: Runtime, events: list[Event]) -> list[dict[str, Any]]:
    """Summaries for a list, each with a contact: spam and duplicate rows name theirs too (:func:`contacts_for`)."""
    contacts = contacts_for(rt.store, events)
    return [event_summary(e, contacts[e.id]) for e in events]


def event_detail(rt: Runtime, event: Event) -> dict[str, Any]:
    """Everything about one event, redacted for display; long values and lists cut (``truncated``).

    The diff reads the first items of the raw event and lead with their values whole, so its
    matching stays right and its cost stays bounded; what it shows is cut like the rest.
    """
    shown = Abridged()
    lead = redact_fields(event.lead) if event.lead else None
    diff = payload_diff(redact_fields(first_items(event.raw)), first_items(lead))
    entries = timeline(rt.store.attempts(event.id), operator_log(event))
    [summary] = event_summaries(rt, [event])
    return {
        **summary,
        "destination": event.destination,
        "raw": redact_fields(shown(event.raw)),
        "request": redact_request(event.request),
        "lead": shown(lead),
        "delivery_attempts": [e for e in entries if e["entry"] == "attempt"],
        "operator_log": [e for e in entries if e["entry"] == "operator"],
        "timeline": entries,
        "diff": [shown(row) for row in diff],
        "truncated": shown.cut,
        "raw_url": url_for("admin_api.download_raw", event_id=event.id),
    }


def raw_download(event: Event) -> Response:
    """The stored raw event in full (what a replay reads), redacted like everywhere, as a JSON file."""
    body = json.dumps(redact_fields(event.raw), ensure_ascii=False, indent=2)
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{event.id}.raw.json"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def replay_waiting(rt: Runtime, source: str | None = None, *, by: str) -> list[ReplayResult]:
    """Replays every dead letter and parked event (of one source, when given), like ``leadgate dlq replay --all``."""
    waiting = rt.store.dead_letters(source) + rt.store.parked(source)
    return [replay_event(rt, event.id, by=by) for event in waiting]


def edit_event(rt: Runtime, event_id: str, changes: dict[str, str], by: str) -> EditResult:
    """Edit and replay with the adapters' field cleaning; the dashboard's form and the API both come here."""
    return edit_and_replay(rt, event_id, changes, by=by, correct=correct_lead)


def operator(surface: str) -> str:
    """Who did it, for the operator log: the surface and the address it came from (one admin token, no users)."""
    return f"{surface} from {client_ip()}"


def _load(schema: Any) -> dict[str, Any] | Response:
    """The query string through ``schema``; an empty parameter (``status=``) counts as absent."""
    try:
        return schema.load({name: value for name, value in request.args.items() if value != ""})
    except ValidationError as err:
        return error_response(400, "bad_request", "invalid query parameters", err.messages_dict)


@bp.get("/sources")
def list_sources() -> Response:
    return jsonify(SourceListSchema().dump({"sources": source_counters(runtime())}))


@bp.get("/events")
def list_events() -> Response:
    query = _load(EventQuerySchema())
    if isinstance(query, Response):
        return query
    try:
        page = find_events(
            runtime().store,
            source=query.get("source"),
            status=query.get("status"),
            query=query.get("q"),
            limit=query["limit"],
            cursor=query.get("cursor"),
        )
    except CursorError as err:
        return error_response(400, "bad_request", str(err), {"cursor": [str(err)]})
    body = {"events": event_summaries(runtime(), page.events), "next_cursor": page.next_cursor}
    return jsonify(EventPageSchema().dump(body))


@bp.get("/events/<event_id>")
def show_event(event_id: str) -> Response:
    rt = runtime()
    event = rt.store.get(event_id)
    if event is None:
        return error_response(404, "unknown_event", f"no event {event_id!r} (it may have expired)")
    return jsonify(EventDetailSchema().dump(event_detail(rt, event)))


@bp.get("/events/<event_id>/raw")
def download_raw(event_id: str) -> Response:
    event = runtime().store.get(event_id)
    if event is None:
        return error_response(404, "unknown_event", f"no event {event_id!r} (it may have expired)")
    return raw_download(event)


@bp.post("/events/<event_id>/replay")
def replay(event_id: str) -> Response:
    query = _load(ReplayQuerySchema())
    if isinstance(query, Response):
        return query
    result = replay_event(runtime(), event_id, force=query["force"], by=operator("admin API"))
    if result.status == "missing":
        return error_response(404, "unknown_event", f"no event {event_id!r} (it may have expired)")
    if not result.ok:
        return error_response(409, "replay_refused", result.message, {"status": result.status})
    response = jsonify(ReplayResultSchema().dump(result))
    response.status_code = 202
    return response


@bp.post("/events/<event_id>/edit")
def edit(event_id: str) -> Response:
    """Corrects a rejected, dead or parked lead's fields and queues it (the raw event is kept)."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        return error_response(400, "bad_request", 'send a JSON object: {"fields": {"email": "..."}}')
    try:
        changes = EditRequestSchema().load(body)["fields_"]
    except ValidationError as err:
        return error_response(400, "bad_request", "invalid edit", err.messages_dict)
    result = edit_event(runtime(), event_id, changes, operator("admin API"))
    if result.status == "missing":
        return error_response(404, "unknown_event", f"no event {event_id!r} (it may have expired)")
    if result.errors:
        return error_response(422, "unprocessable", result.message, result.errors)
    if not result.ok:
        return error_response(409, "edit_refused", result.message, {"status": result.status})
    response = jsonify(EditResultSchema().dump(result))
    response.status_code = 202
    return response


@bp.post("/dead-letters/replay")
def replay_dead_letters() -> Response:
    query = _load(SourcesQuerySchema())
    if isinstance(query, Response):
        return query
    source = query.get("source")
    if source is not None and source not in runtime().config.sources:
        return error_response(404, "unknown_source", f"no source named {source!r} is configured")
    results = replay_waiting(runtime(), source, by=operator("admin API"))
    replayed = sum(r.ok for r in results)
    body = {"ok": replayed == len(results), "replayed": replayed, "failed": len(results) - replayed, "results": results}
    return jsonify(ReplayBatchSchema().dump(body))


@bp.delete("/dead-letters/<event_id>")
def purge_dead_letter(event_id: str) -> Response:
    rt = runtime()
    if not rt.store.purge(event_id):
        known = rt.store.get(event_id) is not None
        message = f"event {event_id!r} is not a dead letter" if known else f"no dead letter {event_id!r}"
        return error_response(404, "not_a_dead_letter", message)
    return jsonify(PurgeResultSchema().dump({"ok": True, "event_id": event_id, "purged": True}))


@bp.get("/destinations")
def list_destinations() -> Response:
    rt = runtime()
    paused = paused_destinations(rt)
    items = [
        {
            "name": name,
            "base_url": dest.base_url,
            "paused": name in paused,
            "paused_reason": paused.get(name, {}).get("reason"),
        }
        for name, dest in rt.config.destinations.items()
    ]
    return jsonify(DestinationListSchema().dump({"destinations": items}))


@bp.post("/destinations/<name>/resume")
def resume(name: str) -> Response:
    rt = runtime()
    if name not in rt.config.destinations:
        return error_response(404, "unknown_destination", f"no destination named {name!r} is configured")
    queued = resume_destination(rt, name, by=operator("admin API"))
    return jsonify(ResumeResultSchema().dump({"ok": True, "destination": name, "queued": queued}))
