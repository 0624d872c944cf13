"""The gateway's HTTP surface as marshmallow schemas: what the hooks, health and admin endpoints answer.

The admin API dumps its answers through these schemas and loads its query strings with
them, and :mod:`gateway.openapi` turns the same classes into ``/openapi.json``, so the
document cannot drift from what the endpoints send. The normalized lead is
``leadgate.contract.LeadPayloadSchema``, the ConnectGain contract itself.

Only data descriptions here: no Flask, no Redis.
"""

from __future__ import annotations

from marshmallow import EXCLUDE
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from leadgate.contract import LeadPayloadSchema
from leadgate.events import STATUSES
from leadgate.history import TILES
from leadgate.operations import EDITABLE_FIELDS

__all__ = [
    "AcceptedEventSchema",
    "AttemptSchema",
    "ContactSchema",
    "DiffRowSchema",
    "EditFieldsSchema",
    "EditRequestSchema",
    "EditResultSchema",
    "ErrorSchema",
    "EventDetailSchema",
    "EventPageSchema",
    "EventQuerySchema",
    "EventSummarySchema",
    "HealthSchema",
    "HookAcceptedSchema",
    "OperatorActionSchema",
    "PurgeResultSchema",
    "ReadySchema",
    "ReplayBatchSchema",
    "ReplayQuerySchema",
    "ReplayResultSchema",
    "RequestMetaSchema",
    "SourceListSchema",
    "SourceSchema",
    "SourcesQuerySchema",
]

MAX_PAGE = 200
"""Largest ``limit`` the event list accepts."""

MAX_EDIT_VALUE = 5000
"""Longest value an edit may set (a description; names and addresses are far shorter)."""

EVENT_STATUSES = (*STATUSES, "purged")
"""Every status an event can show (``purged``: a dead letter an operator dropped, kept until it expires)."""


class ErrorSchema(Schema):
    """Every 4xx/5xx answer of the gateway (``gateway.responses.error_response``)."""

    ok = fields.Boolean(required=True, metadata={"description": "always false"})
    error = fields.String(required=True, metadata={"description": "machine-readable name", "example": "not_found"})
    message = fields.String(required=True, metadata={"description": "a sentence for a person"})
    errors = fields.Dict(
        keys=fields.String(), metadata={"description": "per-field problems (422) or details of the refusal"}
    )


class AcceptedEventSchema(Schema):
    """One stored event in a hook's answer."""

    event_id = fields.String(required=True, metadata={"example": "ev_0193a1b2c3d4e5f6a7b8c9d0"})
    status = fields.String(required=True, metadata={"description": "queued, rejected, ignored or duplicate"})
    duplicate = fields.Boolean(required=True, metadata={"description": "true when an earlier event had this lead"})


class HookAcceptedSchema(Schema):
    """``202``: stored and queued. One event inline; a request that held several lists them in ``events``."""

    ok = fields.Boolean(required=True)
    event_id = fields.String()
    status = fields.String()
    duplicate = fields.Boolean()
    events = fields.List(fields.Nested(AcceptedEventSchema))


class HealthSchema(Schema):
    ok = fields.Boolean(required=True)


class ReadySchema(Schema):
    ok = fields.Boolean(required=True)
    redis = fields.String(
        required=True, metadata={"description": '"ok", or why Redis cannot store leads (unreachable, refusing writes)'}
    )
    config = fields.String(metadata={"description": '"loaded" (the file\'s path is not shown on this public endpoint)'})
    sources = fields.Integer(metadata={"description": "configured sources"})
    paused_destinations = fields.Dict(
        keys=fields.String(), metadata={"description": "paused destinations and why (leads still accepted)"}
    )


class ContactSchema(Schema):
    """Who the lead is: from the normalized payload; for spam, rejected and duplicate events from the raw
    event (or the original's lead) as read by field name, a guess that is shown, never sent."""

    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class EventSummarySchema(Schema):
    """An event in lists: its fate, not its payloads."""

    id = fields.String(required=True)
    source = fields.String(required=True)
    kind = fields.String()
    status = fields.String(required=True, validate=validate.OneOf(EVENT_STATUSES))
    attempts = fields.Integer(required=True)
    last_error = fields.String()
    last_status_code = fields.Integer(allow_none=True)
    contact_id = fields.String(allow_none=True, metadata={"description": "ConnectGain contact id once delivered"})
    received_at = fields.Float(required=True, metadata={"description": "Unix time"})
    updated_at = fields.Float()
    next_attempt_at = fields.Float(allow_none=True)
    delivered_at = fields.Float(allow_none=True)
    duplicate_of = fields.String(allow_none=True)
    held_by = fields.String(
        allow_none=True, metadata={"description": "while delivering: the worker process holding it (host:pid)"}
    )
    lease_until = fields.Float(
        allow_none=True, metadata={"description": "while delivering: Unix time another worker may take it over"}
    )
    contact = fields.Nested(ContactSchema)


class AttemptSchema(Schema):
    """One delivery attempt to ConnectGain."""

    n = fields.Integer(required=True, metadata={"description": "1-based attempt number of its dispatch"})
    number = fields.Integer(metadata={"description": "1-based attempt number over the event's whole history"})
    run = fields.Integer(metadata={"description": "1 for the first run of attempts, +1 after each replay or resume"})
    replay = fields.Boolean(metadata={"description": "true for the first attempt after a replay, edit or resume"})
    at = fields.Float(required=True, metadata={"description": "Unix time the attempt started"})
    outcome = fields.String(metadata={"description": "delivered, retry, dead, or the parked status"})
    status_code = fields.Integer(allow_none=True, metadata={"description": "null when no HTTP answer came"})
    duration_ms = fields.Integer()
    error = fields.String(allow_none=True)
    response = fields.Raw(allow_none=True, metadata={"description": "ConnectGain's response body"})


class RequestMetaSchema(Schema):
    """What was kept of the inbound HTTP request; secret-bearing headers and query values read "[redacted]"."""

    method = fields.String()
    content_type = fields.String()
    remote_addr = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    query = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    body_bytes = fields.Integer()


class DiffRowSchema(Schema):
    """One line of the inbound-to-normalized diff."""

    field = fields.String(allow_none=True, metadata={"description": "normalized field path (null when dropped)"})
    value = fields.Raw(allow_none=True)
    inbound_field = fields.String(allow_none=True, metadata={"description": "inbound field path it came from"})
    inbound_value = fields.Raw(allow_none=True)
    change = fields.String(
        required=True, validate=validate.OneOf(("copied", "normalized", "derived", "added", "dropped"))
    )


class ChangeSchema(Schema):
    """One field an operator changed; values masked (``j***@example.com``)."""

    field = fields.String(required=True)
    old = fields.String(allow_none=True)
    new = fields.String(allow_none=True)


class OperatorActionSchema(Schema):
    """A replay, edit or resume of the event, as its operator log keeps it."""

    action = fields.String(required=True, validate=validate.OneOf(("replay", "edit", "resume")))
    at = fields.Float(required=True, metadata={"description": "Unix time"})
    by = fields.String(metadata={"description": 'who: "dashboard from 203.0.113.5", "admin API from ...", "operator"'})
    from_status = fields.String(metadata={"description": "the event's status before"})
    fields_ = fields.List(
        fields.String(), data_key="fields", attribute="fields", metadata={"description": "the fields an edit changed"}
    )
    changes = fields.List(fields.Nested(ChangeSchema))


class EventDetailSchema(EventSummarySchema):
    """One event with everything known about it."""

    destination = fields.String()
    raw = fields.Raw(
        allow_none=True,
        metadata={"description": "the stored inbound event, replayed as is (long values and lists cut: truncated)"},
    )
    request = fields.Nested(RequestMetaSchema, allow_none=True)
    lead = fields.Nested(LeadPayloadSchema, allow_none=True, metadata={"description": "the ConnectGain payload"})
    delivery_attempts = fields.List(fields.Nested(AttemptSchema), required=True)
    operator_log = fields.List(fields.Nested(OperatorActionSchema), metadata={"description": "replays and edits"})
    diff = fields.List(fields.Nested(DiffRowSchema))
    truncated = fields.Boolean(
        metadata={
            "description": "a value over 4096 characters or a list over 200 items was cut here, marked "
            "'… [cut: N characters in all]'; raw_url has the raw event in full"
        }
    )
    raw_url = fields.String(metadata={"description": "GET it (admin token) for the whole raw event as a JSON file"})


class EventPageSchema(Schema):
    events = fields.List(fields.Nested(EventSummarySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True, metadata={"description": "pass as cursor; null: end"})


class QuerySchema(Schema):
    """Query strings ignore parameters they do not know (cache busters, tracking)."""

    class Meta:
        unknown = EXCLUDE


class EventQuerySchema(QuerySchema):
    """``GET /admin/api/events`` query string."""

    source = fields.String(metadata={"description": "only this source id"})
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES), metadata={"description": "only this status"})
    q = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "search email, phone (digits compared) and name, in the lead and the raw event"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.String(metadata={"description": "next_cursor of the previous page"})


class ReplayQuerySchema(QuerySchema):
    """``POST /admin/api/events/<id>/replay`` query string."""

    force = fields.Boolean(load_default=False, metadata={"description": "send a delivered event again"})


class SourcesQuerySchema(QuerySchema):
    """``POST /admin/api/dead-letters/replay`` query string."""

    source = fields.String(metadata={"description": "only this source's dead letters"})


class SourceSchema(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "where the sender posts"})
    destination = fields.String(required=True)
    window_seconds = fields.Integer(required=True, metadata={"description": "counts cover this many seconds"})
    total = fields.Integer(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    tiles = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": f"counts summed by tile ({', '.join(TILES)}, other): they add up to total"},
    )
    dead_letters = fields.Integer(required=True, metadata={"description": "waiting now, whenever received"})
    parked = fields.Integer(required=True)


class SourceListSchema(Schema):
    sources = fields.List(fields.Nested(SourceSchema), required=True)


class ReplayResultSchema(Schema):
    event_id = fields.String(required=True)
    ok = fields.Boolean(required=True)
    message = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "the event's status after the call"})


class ReplayBatchSchema(Schema):
    ok = fields.Boolean(required=True, metadata={"description": "true when every replay was queued"})
    replayed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    results = fields.List(fields.Nested(ReplayResultSchema), required=True)


class PurgeResultSchema(Schema):
    ok = fields.Boolean(required=True)
    event_id = fields.String(required=True)
    purged = fields.Boolean(required=True)


class EditFieldsSchema(Schema):
    """The corrected lead fields ('' removes one); fields left out keep their value."""

    class Meta:
        unknown = RAISE

    first_name = fields.String(validate=validate.Length(max=MAX_EDIT_VALUE))
    last_name = fields.String(validate=validate.Length(max=MAX_EDIT_VALUE))
    email = fields.String(validate=validate.Length(max=MAX_EDIT_VALUE))
    phone = fields.String(validate=validate.Length(max=MAX_EDIT_VALUE))
    company_name = fields.String(validate=validate.Length(max=MAX_EDIT_VALUE))
    description = fields.String(validate=validate.Length(max=MAX_EDIT_VALUE))


class EditRequestSchema(Schema):
    """``POST /admin/api/events/<id>/edit`` body."""

    class Meta:
        unknown = RAISE

    fields_ = fields.Nested(
        EditFieldsSchema,
        data_key="fields",
        required=True,
        validate=validate.Length(min=1, error="name at least one field to change"),
        metadata={"description": f"some of {', '.join(EDITABLE_FIELDS)}"},
    )


class EditResultSchema(Schema):
    event_id = fields.String(required=True)
    ok = fields.Boolean(required=True)
    message = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "the event's status after the call"})
    changed = fields.List(fields.String(), required=True, metadata={"description": "the fields whose value changed"})


class DestinationStateSchema(Schema):
    name = fields.String(required=True)
    base_url = fields.String(required=True)
    paused = fields.Boolean(required=True, metadata={"description": "deliveries wait: ConnectGain refused the API key"})
    paused_reason = fields.String(allow_none=True)


class DestinationListSchema(Schema):
    destinations = fields.List(fields.Nested(DestinationStateSchema), required=True)


class ResumeResultSchema(Schema):
    ok = fields.Boolean(required=True)
    destination = fields.String(required=True)
    queued = fields.Integer(required=True, metadata={"description": "leads that waited and are queued again"})
