"""``/admin/``: the web dashboard (server-rendered pages over the same history as the admin API).

Pages: sources with their last-24-hour counters, the event list (filter, search,
numbered pages, CSV export), one event (attempt timeline across replays, inbound-to-normalized
diff, replay, edit and replay), and the dead letters (replay one, replay all, purge). Logging
in takes the admin token and starts a cookie session (:mod:`gateway.auth`); every form post
carries a CSRF token.

What an event shows comes from :mod:`gateway.admin_api` (already redacted); this
module only decides pages, redirects and messages. No secrets reach a template.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from datetime import timezone
from typing import Any
from urllib.parse import unquote

import redis
from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from gateway import auth
from gateway.admin_api import edit_event
from gateway.admin_api import event_detail
from gateway.admin_api import event_summaries
from gateway.admin_api import operator
from gateway.admin_api import raw_download
from gateway.admin_api import replay_waiting
from gateway.schemas import EVENT_STATUSES
from gateway.schemas import EventQuerySchema
from leadgate import defaults
from leadgate.events import Event
from leadgate.events import is_event_id
from leadgate.health import paused_destinations
from leadgate.history import CursorError
from leadgate.history import contact_from_raw
from leadgate.history import contacts_for
from leadgate.history import find_events
from leadgate.history import matcher_for
from leadgate.history import page_map
from leadgate.history import source_counters
from leadgate.operations import EDITABLE
from leadgate.operations import EDITABLE_FIELDS
from leadgate.operations import REPLAYABLE
from leadgate.operations import lead_to_edit
from leadgate.operations import replay_event
from leadgate.operations import resume_destination
from leadgate.runtime import Runtime
from leadgate.spreadsheet import neutralise

__all__ = ["bp"]

bp = Blueprint("dashboard", __name__, url_prefix="/admin")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
BADGES = {
    "delivered": "ok",
    "queued": "pending",
    "delivering": "pending",
    "retrying": "pending",
    "dead": "bad",
    "rejected": "bad",
    "spam": "muted",
    "duplicate": "muted",
    "ignored": "muted",
    "purged": "muted",
}
IN_FLIGHT = frozenset({"queued", "delivering", "retrying"})
PAGE_WINDOW = 2
"""Numbered page links shown either side of the current page (plus the first and the last)."""
CSV_COLUMNS = (
    "event_id",
    "received_at",
    "source",
    "status",
    "name",
    "email",
    "phone",
    "attempts",
    "last_status_code",
    "last_error",
    "contact_id",
    "duplicate_of",
)
FIELD_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "company_name": "Company",
    "description": "Description",
}
NEXT_PATH = re.compile(r"/admin/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")
"""What ``next`` may be: a dashboard path and query in URL characters only (no CR, LF, space, ``\\`` or ``#``)."""


def runtime() -> Runtime:
    return current_app.extensions["leadgate"]


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(f"dashboard/{template}", **context), status


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return page("error.html", status, title=title, message=message)


def safe_next(target: str | None) -> str:
    """Only a path inside the dashboard: ``next`` must never send a logged-in admin elsewhere.

    Anything else (another site, ``//host``, a backslash, CR or LF, a ``..`` segment even
    percent-encoded) falls back to the dashboard's home rather than into a ``Location`` header.
    """
    if target and NEXT_PATH.fullmatch(target) and "//" not in target:
        segments = unquote(target.partition("?")[0]).split("/")
        if "." not in segments and ".." not in segments:
            return target
    return url_for("dashboard.index")


@bp.before_request
def guard() -> Any:
    """Log-in first (except the log-in page), then the CSRF token on every post."""
    if request.endpoint != "dashboard.login" and not auth.logged_in():
        wanted = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("dashboard.login", next=wanted))
    if request.method == "POST":
        problem = auth.check_csrf()
        if problem:
            return error_page(400, "Form expired", f"{problem} Reload the page and try again.")
    event_id = (request.view_args or {}).get("event_id")
    if event_id is not None and not is_event_id(event_id):
        return error_page(404, "No such event", "There is no such event: an event id is ev_ and 24 hex digits.")
    return None


@bp.errorhandler(redis.RedisError)
def redis_unreachable(err: redis.RedisError) -> tuple[str, int]:
    """Sessions and history live in Redis: without it the dashboard says so instead of a bare 500."""
    return error_page(503, "Redis unreachable", f"The dashboard cannot reach Redis ({type(err).__name__}). Try again.")


@bp.after_request
def headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.app_template_filter("when")
def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else ""


@bp.app_template_filter("iso")
def iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts else ""


@bp.app_template_filter("pretty")
def pretty(value: Any) -> str:
    """JSON indented for reading; a response body kept as text is parsed first when it is JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


@bp.app_template_filter("scalar")
def scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@bp.app_template_filter("badge")
def badge(status: str) -> str:
    """The colour class of a status: parked statuses (operator action) read as warnings."""
    return BADGES.get(status, "warn")


@bp.context_processor
def helpers() -> dict[str, Any]:
    return {"statuses": EVENT_STATUSES}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return redirect(target) if auth.logged_in() else page("login.html", next=target)
    locked = auth.lockout()
    if locked is not None:
        error = f"Too many wrong tokens from this address ({locked.limit}). Try again in {locked.retry_after} seconds."
        body, status = page("login.html", 429, next=target, error=error)
        return body, status, {"Retry-After": str(locked.retry_after)}
    if not auth.log_in(request.form.get("token")):
        return page("login.html", 401, next=target, error="That is not the admin token.")
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> BaseResponse:
    auth.log_out()
    flash("Logged out.", "ok")
    return redirect(url_for("dashboard.login"), code=303)


@bp.get("/")
def index() -> Any:
    rt = runtime()
    counters = source_counters(rt)
    dead = sum(c["dead_letters"] for c in counters)
    parked = {"needs_token": 0, "paused": 0}
    for event in rt.store.parked():
        parked[event.status] = parked.get(event.status, 0) + 1
    return page("index.html", counters=counters, dead=dead, parked=parked, paused=paused_destinations(rt))


@bp.post("/destinations/<name>/resume")
def resume(name: str) -> BaseResponse:
    if name not in runtime().config.destinations:
        flash(f"No destination named {name}.", "error")
    else:
        queued = resume_destination(runtime(), name, by=operator("dashboard"))
        flash(f"Destination {name} resumed; {queued} waiting lead(s) queued.", "ok")
    return redirect(url_for("dashboard.index"), code=303)


@bp.get("/events")
def events() -> Any:
    try:
        query = EventQuerySchema().load({k: v for k, v in request.args.items() if v})  # "Any status" sends status=
    except ValidationError as err:
        flash(f"Ignored a bad filter: {', '.join(sorted(err.messages))}.", "error")
        query = EventQuerySchema().load({})
    filters = {k: query[k] for k in ("source", "status", "q") if query.get(k)}
    rt = runtime()
    limit = query["limit"]
    cursor = query.get("cursor")
    try:
        found = find_events(rt.store, limit=limit, cursor=cursor, **_search_args(filters))
    except CursorError:
        return redirect(url_for("dashboard.events", **filters))
    pages = page_map(rt.store, limit=limit, **_search_args(filters))
    number = pages.page_of(cursor)
    paging: dict[str, Any] = {**filters, **({"limit": limit} if limit != EventQuerySchema().load({})["limit"] else {})}

    def page_url(n: int) -> str:
        start = pages.cursors[n - 1]
        return url_for("dashboard.events", **({**paging, "cursor": start} if start else paging))

    shown = range(max(1, (number or 1) - PAGE_WINDOW), min(len(pages.cursors), (number or 1) + PAGE_WINDOW) + 1)
    numbers = sorted({1, len(pages.cursors), *shown}) if number else []
    older = url_for("dashboard.events", **paging, cursor=found.next_cursor) if found.next_cursor else None
    newer = page_url(number - 1) if number and number > 1 else None
    first = (number - 1) * limit + 1 if number else None
    return page(
        "events.html",
        events=event_summaries(rt, found.events),
        filters=filters,
        sources=sorted(rt.config.sources),
        older=older,
        newer=newer,
        paged=bool(cursor),
        pages=pages,
        number=number,
        numbers=[(n, page_url(n)) for n in numbers],
        first=first,
        csv_url=url_for("dashboard.events_csv", **filters),
    )


def _search_args(filters: dict[str, str]) -> dict[str, Any]:
    return {"source": filters.get("source"), "status": filters.get("status"), "query": filters.get("q")}


@bp.get("/events.csv")
def events_csv() -> Any:
    """The list's current filter as CSV, newest first: at most ``CSV_EXPORT_MAX_ROWS`` rows, no payloads.

    Every cell goes through :func:`leadgate.spreadsheet.neutralise`: lead data is typed by strangers,
    and a name such as ``=HYPERLINK(...)`` must stay text when the file is opened.
    """
    try:
        query = EventQuerySchema().load({k: v for k, v in request.args.items() if v})
    except ValidationError as err:
        return error_page(400, "Bad filter", f"Not exported: {', '.join(sorted(err.messages))}.")
    rt = runtime()
    filters = _search_args({k: query[k] for k in ("source", "status", "q") if query.get(k)})
    events, complete = _export_events(rt, **filters)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for start in range(0, len(events), 500):
        chunk = events[start : start + 500]
        contacts = contacts_for(rt.store, chunk)
        for event in chunk:
            writer.writerow([neutralise(cell) for cell in _csv_row(event, contacts[event.id])])
    name = "-".join(["leadgate-events", *[str(v) for v in filters.values() if v and len(str(v)) < 40]])
    response = current_app.response_class(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{re.sub(r"[^A-Za-z0-9_.-]", "_", name)}.csv"'
    response.headers["X-Leadgate-Export-Complete"] = "true" if complete else "false"
    return response


def _export_events(
    rt: Runtime, *, source: str | None, status: str | None, query: str | None
) -> tuple[list[Event], bool]:
    """The matching events, newest first, up to the export bound; False when more matched than it holds."""
    matches = matcher_for(query) if query and query.strip() else None
    found: list[Event] = []
    for _, event in rt.store.iter_index(source):
        if (status is None or event.status == status) and (matches is None or matches(event)):
            if len(found) == defaults.CSV_EXPORT_MAX_ROWS:
                return found, False
            found.append(event)
    return found, True


def _csv_row(event: Event, contact: dict[str, str | None]) -> list[str]:
    values = [
        event.id,
        iso(event.received_at),
        event.source,
        event.status,
        contact.get("name") or "",
        contact.get("email") or "",
        contact.get("phone") or "",
        str(event.attempts),
        str(event.last_status_code or ""),
        event.last_error,
        event.contact_id,
        event.duplicate_of,
    ]
    return [str(v) for v in values]


@bp.get("/events/<event_id>")
def event(event_id: str) -> Any:
    rt = runtime()
    found = rt.store.get(event_id)
    if found is None:
        return error_page(404, "No such event", f"There is no event {event_id} (it may have expired).")
    detail = event_detail(rt, found)
    parked = rt.store.redis.zscore(rt.store.parked_key, event_id) is not None
    replayable = parked or detail["status"] in REPLAYABLE
    editable = (parked or detail["status"] in EDITABLE) and found.has_payloads
    return page(
        "event.html",
        event=detail,
        in_flight=detail["status"] in IN_FLIGHT,
        replayable=replayable,
        editable=editable,
    )


def _form_values(rt: Runtime, event: Event) -> dict[str, str]:
    """What the edit form starts with: the lead as it would be built today, else what the raw event names."""
    lead = lead_to_edit(rt, event)
    if lead is not None:
        return {name: str(lead.get(name) or "") for name in EDITABLE_FIELDS}
    guess = contact_from_raw(event.raw)
    first, _, last = (guess["name"] or "").partition(" ")
    named = {"first_name": first, "last_name": last, "email": guess["email"], "phone": guess["phone"]}
    return {name: str(named.get(name) or "") for name in EDITABLE_FIELDS}


@bp.route("/events/<event_id>/edit", methods=["GET", "POST"])
def edit(event_id: str) -> Any:
    """Edit and replay: the form (GET), then the corrected lead queued (POST) or the form again naming the problem."""
    rt = runtime()
    found = rt.store.get(event_id)
    if found is None:
        return error_page(404, "No such event", f"There is no event {event_id} (it may have expired).")
    parked = rt.store.redis.zscore(rt.store.parked_key, event_id) is not None
    if found.status not in EDITABLE and not parked:
        message = f"This event is {found.status}: only a rejected, dead or parked lead can be edited."
        return error_page(409, "Cannot edit this event", message)
    [summary] = event_summaries(rt, [found])
    values = _form_values(rt, found)
    if request.method == "GET":
        return page("edit.html", event=summary, values=values, labels=FIELD_LABELS, errors={})
    submitted = {name: request.form.get(name) for name in EDITABLE_FIELDS}
    changes = {n: v.strip() for n, v in submitted.items() if v is not None and v.strip() != values[n].strip()}
    if not changes:
        flash("Nothing changed: edit a field, or use Replay to send the lead as it is.", "error")
        return page("edit.html", 422, event=summary, values=values, labels=FIELD_LABELS, errors={})
    result = edit_event(rt, event_id, changes, operator("dashboard"))
    if not result.ok:
        shown = {**values, **{n: v for n, v in submitted.items() if v is not None}}
        flash(f"Not replayed: {result.message}.", "error")
        return page("edit.html", 422, event=summary, values=shown, labels=FIELD_LABELS, errors=result.errors)
    changed = ", ".join(FIELD_LABELS[n].lower() for n in result.changed) or "the lead"
    flash(f"Corrected {changed} and queued the lead for delivery; the original raw event is kept.", "ok")
    return redirect(url_for("dashboard.event", event_id=event_id), code=303)


@bp.get("/events/<event_id>/raw")
def event_raw(event_id: str) -> Any:
    found = runtime().store.get(event_id)
    if found is None:
        return error_page(404, "No such event", f"There is no event {event_id} (it may have expired).")
    return raw_download(found)


@bp.post("/events/<event_id>/replay")
def replay(event_id: str) -> Any:
    result = replay_event(runtime(), event_id, force=request.form.get("force") == "1", by=operator("dashboard"))
    if result.status == "missing":
        return error_page(404, "No such event", f"There is no event {event_id} (it may have expired).")
    if result.ok:
        flash("Replay queued: the event is re-normalized with the current config and delivered again.", "ok")
    else:
        flash(f"Not replayed: {result.message}", "error")
    return redirect(url_for("dashboard.event", event_id=event_id), code=303)


@bp.get("/dead-letters")
def dead_letters() -> Any:
    rt = runtime()
    source = request.args.get("source") or None
    waiting = rt.store.dead_letters(source) + rt.store.parked(source)
    waiting.sort(key=lambda e: e.updated_at, reverse=True)
    return page(
        "dead_letters.html",
        events=event_summaries(rt, waiting),
        source=source,
        sources=sorted(rt.config.sources),
    )


@bp.post("/dead-letters/replay")
def replay_all() -> Any:
    source = request.form.get("source") or None
    if source is not None and source not in runtime().config.sources:
        flash(f"No source named {source}.", "error")
        return redirect(url_for("dashboard.dead_letters"), code=303)
    results = replay_waiting(runtime(), source, by=operator("dashboard"))
    failed = [r for r in results if not r.ok]
    if not results:
        flash("Nothing to replay.", "ok")
    elif failed:
        reasons = "; ".join(f"{r.event_id}: {r.message}" for r in failed[:5])
        flash(f"Queued {len(results) - len(failed)}, {len(failed)} not replayed ({reasons}).", "error")
    else:
        flash(f"Queued {len(results)} event(s) for delivery.", "ok")
    return redirect(url_for("dashboard.dead_letters", source=source), code=303)


@bp.post("/dead-letters/<event_id>/purge")
def purge(event_id: str) -> Any:
    if runtime().store.purge(event_id):
        flash(f"Dropped dead letter {event_id}.", "ok")
    else:
        flash(f"{event_id} is not a dead letter.", "error")
    return redirect(url_for("dashboard.dead_letters"), code=303)
