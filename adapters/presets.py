"""Presets for the ``json`` kind: the senders people connect most, mapped and verified out of the box.

``preset: webflow`` on a ``json`` source brings what the user would otherwise write: which part of
the body holds the person's answers (read with the form rules of ``adapters.answers``: names,
sub-inputs, recognition by value), a JMESPath ``mapping`` for the rest (a user's ``mapping`` keys
override the preset's), the ``event_id`` re-sends are deduplicated on, which events are leads
(``items``), what is never forwarded, and the sender's own signature scheme, checked on the raw
body with the source's ``secret``. Where each fact comes from is in
``tests/corpus/platforms/NOTES.md``; every preset is exercised by published samples there.

=========  ============================================================  ===================
preset     signature (``secret``)                                         answers
=========  ============================================================  ===================
webflow    ``x-webflow-signature``: hex HMAC-SHA256 of ``ts:body``,       ``payload.data``
           ``x-webflow-timestamp`` in ms, 5 minutes
calendly   ``Calendly-Webhook-Signature: t=<s>,v1=<hex>`` over            questions_and_answers
           ``t.body``, 3 minutes
tally      ``Tally-Signature``: base64 HMAC-SHA256 of the body            ``data.fields``
jotform    none (Jotform does not sign): use ``token`` in the URL        ``rawRequest``
hubspot    ``X-HubSpot-Signature-v3``: base64 HMAC-SHA256 of              ``properties``
           ``METHOD+url+body+ts`` (ms, 5 minutes); v2/v1 by their header
=========  ============================================================  ===================

Pure, but for the clock the timestamped signatures compare against.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from adapters.base import BadInput
from adapters.base import InboundRequest
from adapters.base import Unauthorized
from adapters.form_fields import Entry
from adapters.form_fields import entries_from_json
from adapters.signatures import require_hmac_sha256
from adapters.signatures import signature_value
from leadgate.credentials import secrets_match

__all__ = ["PRESETS", "Preset", "Signature"]


# --- signatures ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """A sender's signing scheme: how to check a request, and how to sign one (``leadgate send-test``, tests)."""

    headers: tuple[str, ...]
    check: Callable[[InboundRequest, str, float, float], None]
    sign: Callable[[bytes, str, float, str, str], dict[str, str]]
    max_age: float | None
    """Seconds a signed timestamp stays acceptable (None: the scheme signs no time)."""


def _fresh(timestamp: str, header: str, seconds_per_unit: float, max_age: float, now: float) -> None:
    try:
        sent = float(timestamp) * seconds_per_unit
    except ValueError:
        raise Unauthorized(f"{header} is not a timestamp") from None
    if abs(now - sent) > max_age:
        raise Unauthorized(f"{header} is {abs(now - sent):.0f}s away from now; the limit is {max_age:.0f}s")


def _webflow_check(request: InboundRequest, secret: str, max_age: float, now: float) -> None:
    timestamp = request.header("x-webflow-timestamp").strip()
    if not timestamp:
        raise Unauthorized("missing x-webflow-timestamp header")
    _fresh(timestamp, "x-webflow-timestamp", 0.001, max_age, now)
    message = timestamp.encode() + b":" + request.body
    require_hmac_sha256(message, secret, request.header("x-webflow-signature"), header="x-webflow-signature", prefix="")


def _webflow_sign(body: bytes, secret: str, now: float, method: str, url: str) -> dict[str, str]:
    timestamp = str(int(now * 1000))
    digest = signature_value(timestamp.encode() + b":" + body, secret, prefix="")
    return {"x-webflow-timestamp": timestamp, "x-webflow-signature": digest}


def _calendly_check(request: InboundRequest, secret: str, max_age: float, now: float) -> None:
    header = request.header("calendly-webhook-signature")
    if not header:
        raise Unauthorized("missing Calendly-Webhook-Signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key.strip(), []).append(value.strip())
    timestamp = (parts.get("t") or [""])[0]
    if not timestamp or not parts.get("v1"):
        raise Unauthorized("Calendly-Webhook-Signature must read t=<timestamp>,v1=<signature>")
    _fresh(timestamp, "Calendly-Webhook-Signature t", 1.0, max_age, now)
    message = timestamp.encode() + b"." + request.body
    for candidate in parts["v1"]:  # a signing-key rotation may send two
        try:
            require_hmac_sha256(message, secret, candidate, header="Calendly-Webhook-Signature v1", prefix="")
            return
        except Unauthorized:
            continue
    raise Unauthorized("Calendly-Webhook-Signature does not match the body")


def _calendly_sign(body: bytes, secret: str, now: float, method: str, url: str) -> dict[str, str]:
    timestamp = str(int(now))
    digest = signature_value(timestamp.encode() + b"." + body, secret, prefix="")
    return {"Calendly-Webhook-Signature": f"t={timestamp},v1={digest}"}


def _tally_check(request: InboundRequest, secret: str, max_age: float, now: float) -> None:
    require_hmac_sha256(
        request.body, secret, request.header("tally-signature"), header="Tally-Signature", encoding="base64", prefix=""
    )


def _tally_sign(body: bytes, secret: str, now: float, method: str, url: str) -> dict[str, str]:
    return {"Tally-Signature": signature_value(body, secret, encoding="base64", prefix="")}


def _hubspot_check(request: InboundRequest, secret: str, max_age: float, now: float) -> None:
    v3 = request.header("x-hubspot-signature-v3")
    if v3:
        timestamp = request.header("x-hubspot-request-timestamp").strip()
        if not timestamp:
            raise Unauthorized("missing X-HubSpot-Request-Timestamp header")
        _fresh(timestamp, "X-HubSpot-Request-Timestamp", 0.001, max_age, now)
        message = (request.method.upper() + request.url).encode() + request.body + timestamp.encode()
        require_hmac_sha256(message, secret, v3, header="X-HubSpot-Signature-v3", encoding="base64", prefix="")
        return
    given = request.header("x-hubspot-signature").strip().lower()
    if not given:
        raise Unauthorized("missing X-HubSpot-Signature-v3 (or X-HubSpot-Signature) header")
    version = request.header("x-hubspot-signature-version").strip().lower() or "v1"
    signed = secret.encode() + (
        (request.method.upper() + request.url).encode() + request.body if version == "v2" else request.body
    )
    if not secrets_match(given, hashlib.sha256(signed).hexdigest()):
        raise Unauthorized(f"X-HubSpot-Signature ({version}) does not match the body")


def _hubspot_sign(body: bytes, secret: str, now: float, method: str, url: str) -> dict[str, str]:
    timestamp = str(int(now * 1000))
    message = (method.upper() + url).encode() + body + timestamp.encode()
    digest = signature_value(message, secret, encoding="base64", prefix="")
    return {"X-HubSpot-Signature-v3": digest, "X-HubSpot-Request-Timestamp": timestamp}


WEBFLOW_SIGNATURE = Signature(("x-webflow-signature", "x-webflow-timestamp"), _webflow_check, _webflow_sign, 300.0)
CALENDLY_SIGNATURE = Signature(("Calendly-Webhook-Signature",), _calendly_check, _calendly_sign, 180.0)
TALLY_SIGNATURE = Signature(("Tally-Signature",), _tally_check, _tally_sign, None)
HUBSPOT_SIGNATURE = Signature(
    ("X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"), _hubspot_check, _hubspot_sign, 300.0
)


# --- answers --------------------------------------------------------------------------------------------------


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def webflow_answers(lead: Mapping[str, Any]) -> list[Entry]:
    """The form's fields, by the names the designer gave them (v2 ``payload.data``, v1 ``data``)."""
    data = _object(_object(lead.get("payload")).get("data")) or _object(lead.get("data"))
    return [Entry(str(name), (str(name),), value) for name, value in data.items()]


def calendly_answers(lead: Mapping[str, Any]) -> list[Entry]:
    """The booking questions, each named by its question text."""
    items = _list(_object(lead.get("payload")).get("questions_and_answers"))
    return [
        Entry(str(item["question"]), (str(item["question"]),), item.get("answer"))
        for item in items
        if isinstance(item, Mapping) and str(item.get("question") or "").strip()
    ]


TALLY_HINTS = {"INPUT_EMAIL": "email", "INPUT_PHONE_NUMBER": "phone", "TEXTAREA": "description"}
TALLY_CHOICES = frozenset({"MULTIPLE_CHOICE", "DROPDOWN", "MULTI_SELECT", "CHECKBOXES", "RANKING"})


def tally_answers(lead: Mapping[str, Any]) -> list[Entry]:
    """Each question by its label; choice ids resolved to their text; per-option checkbox copies skipped."""
    out: list[Entry] = []
    fields = _list(_object(lead.get("data")).get("fields"))
    keys = {str(item.get("key")) for item in fields if isinstance(item, Mapping)}
    for item in fields:
        if not isinstance(item, Mapping) or not str(item.get("label") or "").strip():
            continue
        key, kind, value = str(item.get("key")), str(item.get("type") or ""), item.get("value")
        if kind == "CHECKBOXES" and isinstance(value, bool) and any(key.startswith(k + "_") for k in keys if k != key):
            continue  # "Which channels? (Email)": true repeats the answer above
        if kind in TALLY_CHOICES:
            options = {str(o.get("id")): o.get("text") for o in _list(item.get("options")) if isinstance(o, Mapping)}
            chosen = value if isinstance(value, list) else [value]
            value = [options.get(str(choice), choice) for choice in chosen if choice is not None]
        label = str(item["label"])
        out.append(Entry(label, (label,), value, hint=TALLY_HINTS.get(kind, "")))
    return out


def jotform_answers(lead: Mapping[str, Any]) -> list[Entry]:
    """The browser's post inside ``rawRequest``, read with Jotform's form naming (``q3_fullName[first]``)."""
    raw = _object(lead.get("rawRequest"))
    return [Entry("formID", ("formID",), lead.get("formID")), *entries_from_json(raw)]


HUBSPOT_BOOKKEEPING = frozenset({"createdate", "lastmodifieddate"})


def hubspot_answers(lead: Mapping[str, Any]) -> list[Entry]:
    """Contact properties: ``properties.<name>.value`` (a workflow's record) or plain values.

    HubSpot's own bookkeeping (``hs_*`` properties, create and modify dates) is not lead data.
    """
    out = []
    for name, prop in _object(lead.get("properties")).items():
        if str(name).startswith("hs_") or name in HUBSPOT_BOOKKEEPING:
            continue
        value = prop.get("value") if isinstance(prop, Mapping) else prop
        out.append(Entry(str(name), (str(name),), value))
    return out


def jotform_body(request: InboundRequest) -> dict[str, Any]:
    """Jotform posts multipart parts; ``rawRequest`` is the browser's post as a JSON string."""
    if request.form is None:
        raise BadInput("Jotform webhooks are multipart/form-data posts")
    body: dict[str, Any] = {str(name): value for name, value in request.form}
    try:
        body["rawRequest"] = json.loads(body.get("rawRequest") or "{}")
    except (ValueError, RecursionError):
        raise BadInput("rawRequest is not JSON; is this a Jotform webhook?") from None
    return body


# --- examples (what ``leadgate send-test`` posts) ------------------------------------------------------------

EXAMPLE_PERSON = {"first": "Jane", "last": "Roe", "email": "jane.roe@example.com", "phone": "+14155552671"}


def webflow_example(run_id: str) -> dict[str, Any]:
    data = {"Name": "Jane Roe", "Email": EXAMPLE_PERSON["email"], "Phone": EXAMPLE_PERSON["phone"], "Message": run_id}
    payload = {"name": "Contact", "siteId": "site", "data": data, "submittedAt": "2026-01-01T00:00:00.000Z"}
    return {"triggerType": "form_submission", "payload": {**payload, "id": run_id, "formId": "form"}}


def calendly_example(run_id: str) -> dict[str, Any]:
    invitee = {
        "uri": f"https://api.calendly.com/scheduled_events/send-test/invitees/{run_id}",
        "email": EXAMPLE_PERSON["email"],
        "name": "Jane Roe",
        "text_reminder_number": EXAMPLE_PERSON["phone"],
        "questions_and_answers": [{"question": "Anything we should know?", "answer": run_id, "position": 0}],
        "old_invitee": None,
    }
    return {"event": "invitee.created", "payload": invitee}


def tally_example(run_id: str) -> dict[str, Any]:
    fields = [
        {"key": "q1", "label": "Full name", "type": "INPUT_TEXT", "value": "Jane Roe"},
        {"key": "q2", "label": "Email", "type": "INPUT_EMAIL", "value": EXAMPLE_PERSON["email"]},
        {"key": "q3", "label": "Phone", "type": "INPUT_PHONE_NUMBER", "value": EXAMPLE_PERSON["phone"]},
        {"key": "q4", "label": "Message", "type": "TEXTAREA", "value": run_id},
    ]
    return {"eventId": run_id, "eventType": "FORM_RESPONSE", "data": {"responseId": run_id, "fields": fields}}


def hubspot_example(run_id: str) -> dict[str, Any]:
    properties = {"firstname": "Jane", "lastname": "Roe", "email": EXAMPLE_PERSON["email"], "message": run_id}
    return {"vid": 1, "properties": {name: {"value": value} for name, value in properties.items()}}


def jotform_example(run_id: str) -> dict[str, Any]:
    raw = {"q3_name": {"first": "Jane", "last": "Roe"}, "q4_email": EXAMPLE_PERSON["email"], "q5_message": run_id}
    return {"formID": "1", "submissionID": run_id, "formTitle": "Contact", "rawRequest": json.dumps(raw)}


# --- the presets ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """What ``preset: <name>`` brings to a ``json`` source."""

    name: str
    source: str
    answers: Callable[[Mapping[str, Any]], list[Entry]]
    answers_at: tuple[tuple[str, ...], ...]
    """Where the answers live in a lead (read by :attr:`answers`, so never "unmapped")."""
    mapping: Mapping[str, str] = field(default_factory=dict)
    event_id: str | None = None
    items: str | None = None
    ignored: tuple[tuple[str, ...], ...] = ()
    """Parts of a lead never forwarded: envelopes, schemas, URLs carrying tokens, duplicates of answers."""
    signature: Signature | None = None
    body: Callable[[InboundRequest], Any] | None = None
    """How to read a body that is not JSON (Jotform's multipart)."""
    example: Callable[[str], dict[str, Any]] | None = None
    """A lead as the sender posts it, for ``leadgate send-test`` (multipart parts for Jotform)."""


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="webflow",
            example=webflow_example,
            source="webflow",
            answers=webflow_answers,
            answers_at=(("payload", "data"), ("data",)),
            mapping={
                "custom_fields.form_name": "payload.name || name",
                "custom_fields.form_id": "payload.formId",
                "custom_fields.site_id": "payload.siteId || site",
                "custom_fields.submitted_at": "payload.submittedAt || d",
            },
            event_id="payload.id || _id",
            items="[@][?triggerType == 'form_submission' || !triggerType]",
            ignored=(("payload", "schema"), ("triggerType",), ("payload", "formElementId")),
            signature=WEBFLOW_SIGNATURE,
        ),
        Preset(
            name="calendly",
            example=calendly_example,
            source="calendly",
            answers=calendly_answers,
            answers_at=(("payload", "questions_and_answers"),),
            mapping={
                "email": "payload.email",
                "full_name": "payload.name",
                "first_name": "payload.first_name",
                "last_name": "payload.last_name",
                "phone": "payload.text_reminder_number",
                "custom_fields.event_name": "payload.scheduled_event.name",
                "custom_fields.start_time": "payload.scheduled_event.start_time",
                "custom_fields.timezone": "payload.timezone",
                "custom_fields.utm_source": "payload.tracking.utm_source",
                "custom_fields.utm_medium": "payload.tracking.utm_medium",
                "custom_fields.utm_campaign": "payload.tracking.utm_campaign",
                "custom_fields.utm_content": "payload.tracking.utm_content",
                "custom_fields.utm_term": "payload.tracking.utm_term",
            },
            event_id="payload.uri",
            # A reschedule is a new invitee.created pointing at the old one: not a second lead.
            items="[@][?event == 'invitee.created' && !(payload.old_invitee)]",
            ignored=(("created_by",), ("created_at",), ("event",), ("payload",)),
            signature=CALENDLY_SIGNATURE,
        ),
        Preset(
            name="tally",
            example=tally_example,
            source="tally",
            answers=tally_answers,
            answers_at=(("data", "fields"),),
            mapping={
                "custom_fields.form_name": "data.formName",
                "custom_fields.form_id": "data.formId",
                "custom_fields.submitted_at": "data.createdAt",
            },
            event_id="data.responseId || eventId",
            items="[@][?eventType == 'FORM_RESPONSE']",
            ignored=(("eventId",), ("eventType",), ("createdAt",), ("data",)),
            signature=TALLY_SIGNATURE,
        ),
        Preset(
            name="jotform",
            example=jotform_example,
            source="jotform",
            answers=jotform_answers,
            answers_at=(("rawRequest",),),
            mapping={"custom_fields.form_name": "formTitle"},  # the form id comes with the answers (formID)
            event_id="submissionID",
            # webhookURL carries the source's token; pretty repeats the answers; the rest is framing
            ignored=tuple(
                (name,)
                for name in (
                    "action webhookURL username formID type customParams product formTitle customTitle submissionID "
                    "event documentID teamID subject isSilent customBody fromTable appID pretty unread parent ip"
                ).split()
            ),
            body=jotform_body,
        ),
        Preset(
            name="hubspot",
            example=hubspot_example,
            source="hubspot",
            answers=hubspot_answers,
            answers_at=(("properties",),),
            mapping={
                "custom_fields.hubspot_contact_id": "to_string(vid)",
                "custom_fields.hubspot_portal_id": '"portal-id"',
            },
            # The body has no event id: the contact and its last change identify one enrolment.
            event_id="join('-', [to_string(vid), to_string(properties.lastmodifieddate.value)])",
            ignored=tuple(
                (name,)
                for name in (
                    "vid canonical-vid merged-vids portal-id is-contact profile-token profile-url "
                    "form-submissions list-memberships identity-profiles merge-audits"
                ).split()
            ),
            signature=HUBSPOT_SIGNATURE,
        ),
    )
}
"""Every preset, by the name ``preset:`` takes."""
