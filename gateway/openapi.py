"""``/openapi.json``: the OpenAPI 3 document of the whole HTTP surface, built with apispec.

Paths come from the app's own ``url_map`` and bodies from the marshmallow schemas the
endpoints dump with (:mod:`gateway.schemas`, and ``LeadPayloadSchema`` for the
normalized lead), so neither can drift from the code. Each endpoint's operations are
written out in :data:`OPERATIONS`; an endpoint missing there is missing from the
document, which the tests catch. The document is built once per app.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from werkzeug.routing import Rule

from gateway import schemas as s
from leadgate.contract import LeadPayloadSchema

__all__ = ["OPERATIONS", "bp", "build_spec", "openapi_path"]

bp = Blueprint("openapi", __name__)

RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
JSON = "application/json"
HTML = "text/html"
ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
DASHBOARD: list[dict[str, list[str]]] = [{"dashboardSession": []}]


def body(description: str, schema: Any = None, media: str = JSON, headers: dict[str, Any] | None = None) -> dict:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = {media: {"schema": schema}}
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()
        }
    return answer


def error(description: str, headers: dict[str, Any] | None = None) -> dict:
    return body(description, s.ErrorSchema, headers=headers)


def page(description: str) -> dict:
    return body(description, {"type": "string"}, media=HTML)


ADMIN_ERRORS = {
    "401": error("missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}),
    "404": error("unknown id, or the admin surface is off (no admin_token configured)"),
    "429": error("too many wrong admin tokens from this address (errors.limit)", headers={"Retry-After": "seconds"}),
}
HOOK_BODY = {
    "required": True,
    "description": "the sender's payload; each source kind reads its own shape (JSON kinds may post an array)",
    "content": {
        "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": True}},
        "multipart/form-data": {"schema": {"type": "object", "additionalProperties": True}},
        JSON: {"schema": {}},
    },
}
LOGIN_REDIRECT = body("not logged in: to the login page", headers={"Location": "/admin/login?next=..."})
DONE_REDIRECT = body("done: back to a dashboard page, with a message", headers={"Location": "the page"})
CSRF_FAILED = page("the form's CSRF token is missing or wrong")
REDIS_DOWN = page("Redis (sessions, history) is unreachable")


def hook_operations() -> dict[str, Any]:
    tags = ["hooks"]
    return {
        "post": {
            "tags": tags,
            "operationId": "postHook",
            "summary": "Receive a lead (or a batch) for a source",
            "description": "Verified on the raw bytes and stored before the answer; spam is answered as a lead.",
            "parameters": [{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}}],
            "requestBody": HOOK_BODY,
            "responses": {
                "202": body("stored and queued (or a duplicate of an earlier event)", s.HookAcceptedSchema),
                "200": body("stored; the platform expects its own acknowledgement body", {}),
                "303": body("browser form post: to the source's redirect page", headers={"Location": "redirect"}),
                "400": error("malformed body, or a name or nesting over max_name_length or max_depth"),
                "401": error("missing or wrong signature, key or token"),
                "403": error("Origin not allowed"),
                "404": error("no such source"),
                "413": error("over a request limit: max_body_bytes, max_fields or max_value_length (errors.limit)"),
                "415": error("content type the source kind does not read"),
                "422": error("no usable contact field; errors names each field"),
                "503": error("the lead store is unreachable: nothing was stored, retry", {"Retry-After": "seconds"}),
            },
        },
        "get": {
            "tags": tags,
            "operationId": "getHook",
            "summary": "Subscription handshake (kinds that verify their URL with a GET)",
            "responses": {
                "200": body("the challenge answer the platform expects", {"type": "string"}, media="text/plain"),
                "401": error("wrong verify token"),
                "403": error("wrong verify token or origin"),
                "400": error("a form body with a name over max_name_length"),
                "404": error("no such source"),
                "405": error("this kind only takes POST", {"Allow": "POST"}),
                "413": error("a body over a request limit (max_body_bytes, max_fields, max_value_length)"),
            },
        },
        "options": {
            "tags": tags,
            "operationId": "preflightHook",
            "summary": "CORS preflight for AJAX form posts",
            "responses": {
                "204": body("allowed", headers={"Access-Control-Allow-Origin": "the Origin"}),
                "403": error("Origin not in allowed_origins"),
                "404": error("no such source"),
            },
        },
    }


def admin(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "tags": ["admin"],
        "operationId": op_id,
        "summary": summary,
        "security": ADMIN,
        "responses": {**responses, **ADMIN_ERRORS},
        **extra,
    }


def dashboard(op_id: str, summary: str, post: bool = False) -> dict[str, Any]:
    answers = {"303": DONE_REDIRECT, "400": CSRF_FAILED} if post else {"200": page("the page")}
    answers.update({"302": LOGIN_REDIRECT, "404": page("unknown id, or the admin surface is off"), "503": REDIS_DOWN})
    return {
        "tags": ["dashboard"],
        "operationId": op_id,
        "summary": summary,
        "security": DASHBOARD,
        "responses": answers,
    }


def with_pages(operation: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """A dashboard operation with more answers than :func:`dashboard` lists."""
    return {**operation, "responses": {**operation["responses"], **answers}}


EVENT_FORM = {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}

OPERATIONS: dict[str, dict[str, Any]] = {
    "hooks.receive": hook_operations(),
    "health.healthz": {
        "get": {
            "tags": ["health"],
            "operationId": "healthz",
            "summary": "The process answers",
            "responses": {"200": body("alive", s.HealthSchema)},
        }
    },
    "health.readyz": {
        "get": {
            "tags": ["health"],
            "operationId": "readyz",
            "summary": "Redis takes writes: leads can be stored",
            "responses": {
                "200": body("ready", s.ReadySchema),
                "503": body("Redis unreachable or refusing writes", s.ReadySchema),
            },
        }
    },
    "health.prometheus_metrics": {
        "get": {
            "tags": ["health"],
            "operationId": "metrics",
            "summary": "Prometheus metrics (bearer admin token unless metrics_public)",
            "security": [{}, {"adminToken": []}],
            "responses": {
                "200": body("Prometheus text format", {"type": "string"}, media="text/plain"),
                "401": error("metrics need the admin token (or metrics_public: true)"),
                "429": ADMIN_ERRORS["429"],
                "503": error("Redis unreachable: no metrics"),
            },
        }
    },
    "openapi.document": {
        "get": {
            "tags": ["meta"],
            "operationId": "openapi",
            "summary": "This document",
            "responses": {"200": body("OpenAPI 3 document", {"type": "object"})},
        }
    },
    "static": {
        "get": {
            "tags": ["dashboard"],
            "operationId": "staticFile",
            "summary": "The dashboard's stylesheet and script",
            "responses": {"200": body("the file", {"type": "string"}, media="text/css"), "404": page("no such file")},
        }
    },
    "admin_api.list_sources": {
        "get": admin(
            "listSources",
            "Sources with their URL and last-24-hour counts",
            {"200": body("every configured source", s.SourceListSchema)},
        )
    },
    "admin_api.list_events": {
        "get": admin(
            "listEvents",
            "Event history, newest first: filter, search, page with cursor",
            {"200": body("one page", s.EventPageSchema), "400": error("invalid query parameter or cursor")},
            parameters=[{"in": "query", "schema": s.EventQuerySchema}],
        )
    },
    "admin_api.show_event": {
        "get": admin(
            "getEvent",
            "One event: raw inbound event, redacted request, normalized payload, every attempt",
            {"200": body("the event", s.EventDetailSchema)},
        )
    },
    "admin_api.download_raw": {
        "get": admin(
            "getEventRaw",
            "The stored raw event in full (secrets redacted), as a JSON file download",
            {"200": body("the raw event", {"type": "object"}, headers={"Content-Disposition": "attachment"})},
        )
    },
    "admin_api.replay": {
        "post": admin(
            "replayEvent",
            "Re-normalize the stored raw event with the current config and deliver it",
            {
                "202": body("queued", s.ReplayResultSchema),
                "400": error("invalid query parameter"),
                "409": error("refused: delivered (use force) or no longer valid"),
            },
            parameters=[{"in": "query", "schema": s.ReplayQuerySchema}],
        )
    },
    "admin_api.edit": {
        "post": admin(
            "editEvent",
            "Correct a rejected, dead or parked lead's fields and deliver it (the raw event is kept)",
            {
                "202": body("corrected and queued", s.EditResultSchema),
                "400": error("not a JSON object, an unknown field, or no field named"),
                "409": error("refused: the event is not rejected, dead or parked, or nothing changed"),
                "422": error("a corrected value is not valid (errors names each), or no contact field is left"),
            },
            requestBody={"required": True, "content": {JSON: {"schema": s.EditRequestSchema}}},
        )
    },
    "admin_api.replay_dead_letters": {
        "post": admin(
            "replayDeadLetters",
            "Replay every dead letter and parked event, or one source's",
            {"200": body("one result per event", s.ReplayBatchSchema), "400": error("invalid query parameter")},
            parameters=[{"in": "query", "schema": s.SourcesQuerySchema}],
        )
    },
    "admin_api.purge_dead_letter": {
        "delete": admin("purgeDeadLetter", "Drop a dead letter for good", {"200": body("purged", s.PurgeResultSchema)})
    },
    "admin_api.list_destinations": {
        "get": admin(
            "listDestinations",
            "ConnectGain destinations and whether their deliveries are paused",
            {"200": body("every destination", s.DestinationListSchema)},
        )
    },
    "admin_api.resume": {
        "post": admin(
            "resumeDestination",
            "Resume a destination paused by a refused API key and queue what waited",
            {"200": body("resumed", s.ResumeResultSchema)},
        )
    },
    "dashboard.index": {"get": dashboard("dashboardHome", "Sources and last-24-hour counters")},
    "dashboard.resume": {"post": dashboard("resumeFromPage", "Resume a paused destination", post=True)},
    "dashboard.login": {
        "get": {
            "tags": ["dashboard"],
            "operationId": "loginPage",
            "summary": "Log-in form",
            "responses": {"200": page("the form"), "404": page("the admin surface is off")},
        },
        "post": {
            "tags": ["dashboard"],
            "operationId": "logIn",
            "summary": "Log in with the admin token (sets the session cookie)",
            "requestBody": EVENT_FORM,
            "responses": {
                "303": DONE_REDIRECT,
                "400": CSRF_FAILED,
                "401": page("wrong token"),
                "404": page("the admin surface is off"),
                "429": body(
                    "too many wrong tokens from this address", {"type": "string"}, HTML, {"Retry-After": "seconds"}
                ),
                "503": REDIS_DOWN,
            },
        },
    },
    "dashboard.logout": {"post": dashboard("logOut", "End the session", post=True)},
    "dashboard.events": {"get": dashboard("eventsPage", "Filterable event list")},
    "dashboard.event": {"get": dashboard("eventPage", "Event detail, attempt timeline and diff")},
    "dashboard.events_csv": {
        "get": {
            "tags": ["dashboard"],
            "operationId": "eventsCsv",
            "summary": "The event list's current filter as a CSV file (cells neutralised against formulas)",
            "security": DASHBOARD,
            "responses": {
                "200": body(
                    "the CSV file", {"type": "string"}, media="text/csv", headers={"Content-Disposition": "attachment"}
                ),
                "302": LOGIN_REDIRECT,
                "400": page("a filter that is not valid (nothing exported)"),
                "404": page("the admin surface is off"),
                "503": REDIS_DOWN,
            },
        }
    },
    "dashboard.edit": {
        "get": with_pages(
            dashboard("editPage", "Form to correct a rejected, dead or parked lead"),
            {"409": page("the event is not rejected, dead or parked")},
        ),
        "post": with_pages(
            {
                **dashboard("editFromPage", "Correct the lead's fields and replay it", post=True),
                "requestBody": EVENT_FORM,
            },
            {
                "409": page("the event is not rejected, dead or parked"),
                "422": page("the form again, naming each value that is not valid (nothing queued)"),
            },
        ),
    },
    "dashboard.event_raw": {
        "get": {
            "tags": ["dashboard"],
            "operationId": "eventRawDownload",
            "summary": "Download an event's raw body in full (secrets redacted)",
            "security": DASHBOARD,
            "responses": {
                "200": body("the raw event", {"type": "object"}, headers={"Content-Disposition": "attachment"}),
                "302": LOGIN_REDIRECT,
                "404": page("unknown id, or the admin surface is off"),
                "503": REDIS_DOWN,
            },
        }
    },
    "dashboard.replay": {"post": dashboard("replayFromPage", "Replay one event", post=True)},
    "dashboard.dead_letters": {"get": dashboard("deadLettersPage", "Dead letters and parked events")},
    "dashboard.replay_all": {"post": dashboard("replayAllFromPage", "Replay all dead letters", post=True)},
    "dashboard.purge": {"post": dashboard("purgeFromPage", "Drop one dead letter", post=True)},
    "watch.watch": {"get": dashboard("watchPage", "Leads per hour, speed to lead and every watchdog's state")},
    "watch.alerts": {"get": dashboard("alertsPage", "Active alert conditions and the messages sent")},
}

COMPONENTS = (
    s.ErrorSchema,
    s.HookAcceptedSchema,
    s.AcceptedEventSchema,
    s.HealthSchema,
    s.ReadySchema,
    s.ContactSchema,
    s.EventSummarySchema,
    s.AttemptSchema,
    s.RequestMetaSchema,
    s.DiffRowSchema,
    s.EventDetailSchema,
    s.EventPageSchema,
    s.SourceSchema,
    s.SourceListSchema,
    s.ReplayResultSchema,
    s.EditRequestSchema,
    s.EditResultSchema,
    s.OperatorActionSchema,
    s.ReplayBatchSchema,
    s.PurgeResultSchema,
    s.DestinationListSchema,
    s.ResumeResultSchema,
    LeadPayloadSchema,
)


def openapi_path(rule: Rule) -> str:
    """``/hooks/<source_id>`` -> ``/hooks/{source_id}``; ``<path:filename>`` -> ``{filename}``."""
    return RULE_ARGUMENT.sub(r"{\1}", rule.rule)


def _schema_name(schema: Any) -> str:
    name = schema.__name__ if isinstance(schema, type) else type(schema).__name__
    return name.removesuffix("Schema")


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3 document for every documented route of ``app``."""
    try:
        release = version("leadgate")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        release = "0"
    spec = APISpec(
        title="leadgate",
        version=release,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={"description": "Webhook-to-lead gateway for the ConnectGain CRM: hooks, health and the admin surface."},
    )
    spec.components.security_scheme("adminToken", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("dashboardSession", {"type": "apiKey", "in": "cookie", "name": "leadgate_admin"})
    for schema in COMPONENTS:
        if _schema_name(schema) not in spec.components.schemas:  # nested ones register with their parent
            spec.components.schema(_schema_name(schema), schema=schema)
    paths: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for rule in app.url_map.iter_rules():
        operations = OPERATIONS.get(rule.endpoint)
        if operations is None:
            continue
        parameters = [
            {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
            for name in sorted(rule.arguments)
        ]
        merged, _ = paths.setdefault(openapi_path(rule), ({}, parameters))
        merged.update(operations)
    for path, (operations, parameters) in sorted(paths.items()):
        spec.path(path=path, operations=operations, parameters=parameters)
    return spec.to_dict()


@bp.get("/openapi.json")
def document() -> Response:
    extensions = current_app.extensions
    if "leadgate.openapi" not in extensions:
        extensions["leadgate.openapi"] = build_spec(current_app._get_current_object())  # type: ignore[attr-defined]
    return jsonify(extensions["leadgate.openapi"])
