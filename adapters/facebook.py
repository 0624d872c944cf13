"""The ``facebook`` source kind: Facebook and Instagram Lead Ads through Meta's Page ``leadgen`` webhook.

Meta's notification only *names* a lead (``leadgen_id``, page, form, ad); the answers must be
read from the Graph API afterwards. So the request is handled in two halves:

* in the request (this module): the subscription handshake, the ``X-Hub-Signature-256`` check on
  the raw bytes, and splitting a batch (several ``entry[]``, each with several ``changes[]``) into
  one event per ``leadgen`` change, keyed by its ``leadgen_id`` for dedupe;
* in the worker (``workers/facebook_graph.py``): fetching the lead, whose object is stored beside the
  webhook as ``raw["lead"]``, then :func:`normalize` maps it here with the current config.

Pure: no Redis, no HTTP client. The Graph fetch lives in ``workers/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from adapters.base import Accepted
from adapters.base import BadInput
from adapters.base import InboundEvent
from adapters.base import InboundRequest
from adapters.base import NotALead
from adapters.base import Reply
from adapters.base import Unprocessable
from adapters.jsonbody import load_json
from adapters.normalize import LeadDraft
from adapters.normalize import canonical_key
from adapters.normalize import finalize
from adapters.normalize import map_target
from adapters.normalize import parse_bool
from adapters.options import TEST_LEAD_TAG
from adapters.options import test_leads_field
from adapters.signatures import require_hmac_sha256
from leadgate.config import SourceConfig
from leadgate.credentials import secrets_match
from leadgate.speed import parse_platform_time

__all__ = [
    "created_at",
    "DEFAULT_GRAPH_API_URL",
    "DEFAULT_SOURCE",
    "KIND",
    "NORMALIZE_ON_RECEIVE",
    "STANDARD_FIELDS",
    "Options",
    "acknowledge",
    "handshake",
    "normalize",
    "parse",
    "token_for",
    "verify",
]

KIND = "facebook"
DEFAULT_SOURCE = "facebook_lead_ads"
"""Meta's product name: the same webhook carries Instagram leads (``platform`` tells them apart)."""
NORMALIZE_ON_RECEIVE = False
LIMITS = {"max_fields": 50_000}
"""Meta batches up to 1,000 changes in one signed notification (about 10 values each): the body size bounds it."""

DEFAULT_GRAPH_API_URL = "https://graph.facebook.com/v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
GRAPH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Graph ids are numeric strings; anything outside this shape could not be a safe URL path segment."""

WEBHOOK_IDS = ("leadgen_id", "page_id", "form_id", "adgroup_id", "ad_id")
DUMMY_VALUE = re.compile(r"^\s*<\s*test lead\b[^>]*>\s*$", re.IGNORECASE)
"""How the Lead Ads Testing Tool fills answers it was not given (``<test lead: dummy data for email>``):
such a value marks the lead as a test lead and is never used as a name, an email or a phone."""

STANDARD_FIELDS: dict[str, str] = {
    "full_name": "full_name",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone_number": "phone",
    "phone": "phone",
    "company_name": "company_name",
}
"""Meta's standard question keys that have a ConnectGain field, in :func:`canonical_key` spelling:
matched whatever the case (``EMAIL``, ``FULL_NAME``, ``PHONE_NUMBER`` come from the Testing Tool and
some real forms). Every other key goes to custom_fields."""

OTHER_STANDARD_KEYS = frozenset(
    {
        "city",
        "state",
        "province",
        "country",
        "zip_code",
        "post_code",
        "street_address",
        "job_title",
        "date_of_birth",
        "gender",
        "marital_status",
        "relationship_status",
        "military_status",
        "work_email",
        "work_phone_number",
    }
)
"""Meta's other standard keys: kept in custom_fields under their lower-case name whatever case they came in."""

SECONDARY_FIELDS: dict[str, str] = {"work_email": "email", "work_phone_number": "phone"}
"""Assigned after the personal ones, so they are the primary value only when the personal one is missing."""

LEAD_METADATA = (
    "leadgen_id",
    "page_id",
    "form_id",
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
    "created_time",
    "is_organic",
    "platform",
)
"""Facts about the lead, not answers; kept in custom_fields under these names (``field_map`` may redirect them)."""


class PageIdKey(fields.String):
    """A page id as a YAML key: ``1234567890:`` unquoted is an int in YAML, and must still work."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not GRAPH_ID.match(text):
            raise ValidationError(f"{text!r} is not a Facebook page id")
        return text


class Options(Schema):
    """The ``facebook`` kind's own config keys."""

    app_secret = fields.String(required=True, validate=validate.Length(min=1))
    verify_token = fields.String(required=True, validate=validate.Length(min=1))
    access_token = fields.String(required=True, validate=validate.Length(min=1))
    page_tokens = fields.Dict(
        keys=PageIdKey(), values=fields.String(validate=validate.Length(min=1)), load_default=dict
    )
    graph_api_url = fields.Url(load_default=DEFAULT_GRAPH_API_URL, schemes={"http", "https"}, require_tld=False)
    test_leads = test_leads_field()


def token_for(source: SourceConfig, page_id: Any) -> str:
    """The token that reads ``page_id``'s leads: its ``page_tokens`` entry, else ``access_token``."""
    tokens = source.option("page_tokens") or {}
    page_token = tokens.get(str(page_id)) if page_id else None
    return page_token or source.option("access_token")


def handshake(request: InboundRequest, source: SourceConfig) -> Reply:
    """Answers Meta's subscription check: the ``hub.challenge`` echoed as text when the token matches."""
    mode = request.query_value("hub.mode")
    token = request.query_value("hub.verify_token")
    challenge = request.query_value("hub.challenge")
    if mode != "subscribe" or not secrets_match(token, source.option("verify_token")):
        body = {"ok": False, "error": "forbidden", "message": "hub.mode must be subscribe with the right verify token"}
        return Reply(403, body)
    if not challenge:
        return Reply(400, {"ok": False, "error": "bad_request", "message": "hub.challenge is missing"})
    return Reply(200, challenge, content_type="text/plain")


def verify(request: InboundRequest, source: SourceConfig) -> None:
    """Checks ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body keyed with the app secret)."""
    require_hmac_sha256(
        request.body, source.option("app_secret"), request.header(SIGNATURE_HEADER), header=SIGNATURE_HEADER
    )


def _graph_id(value: Any) -> str | None:
    """An id as the exact decimal string, whether Meta sent a JSON number or a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value.is_finite() and value == value.to_integral_value() else None
    if isinstance(value, str):
        return value.strip() or None
    return None


def _timestamp(value: Any) -> int | str | None:
    """``created_time`` / ``time`` as unix seconds; anything else Meta might send is kept as text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite():
        return int(value)
    return str(value)[:64]


def _body(request: InboundRequest, source: SourceConfig) -> dict[str, Any]:
    # Decimal keeps a number written as 1.2e16 exact; ints already are (no float on the way).
    data = load_json(request.body, limits=source.limits, exact_numbers=True)
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise BadInput("expected a Meta webhook notification: an object with an entry list")
    return data


def _leadgen_event(value: Any, entry: Mapping[str, Any]) -> InboundEvent:
    """One event for one ``leadgen`` change; a change without a usable leadgen_id is kept as rejected."""
    if not isinstance(value, dict):
        return InboundEvent(raw={"change": None}, outcome="rejected", reason="leadgen change without a value object")
    webhook: dict[str, Any] = {}
    for name in WEBHOOK_IDS:
        text = _graph_id(value.get(name))
        if text is not None:
            webhook[name] = text
    if "page_id" not in webhook and _graph_id(entry.get("id")):
        webhook["page_id"] = _graph_id(entry.get("id"))
    if _timestamp(value.get("created_time")) is not None:
        webhook["created_time"] = _timestamp(value["created_time"])
    raw: dict[str, Any] = {"webhook": webhook, "entry_time": _timestamp(entry.get("time"))}
    leadgen_id = webhook.get("leadgen_id")
    if leadgen_id is None or not GRAPH_ID.match(leadgen_id):
        return InboundEvent(raw=raw, outcome="rejected", reason="leadgen change without a usable leadgen_id")
    return InboundEvent(raw=raw, dedupe_keys=(leadgen_id,))


def parse(request: InboundRequest, source: SourceConfig) -> list[InboundEvent]:
    """One event per ``leadgen`` change across every entry; other fields are not leads and are skipped.

    A malformed ``leadgen`` change becomes a ``rejected`` event instead of failing the request: Meta
    re-sends a whole batch it was not given a 200 for, so one bad change must not hold back the rest.
    """
    events: list[InboundEvent] = []
    for entry in _body(request, source)["entry"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            continue
        for change in entry["changes"]:
            if isinstance(change, dict) and change.get("field") == "leadgen":
                events.append(_leadgen_event(change.get("value"), entry))
    return events


def acknowledge(accepted: Sequence[Accepted], request: InboundRequest, source: SourceConfig) -> Reply:
    """200, which is all Meta looks at; the counts help whoever reads the Testing Tool's log."""
    duplicates = sum(1 for item in accepted if item.duplicate)
    return Reply(200, {"ok": True, "events": len(accepted), "duplicates": duplicates})


def _values(item: Mapping[str, Any]) -> list[Any]:
    values = item.get("values")
    if values is None:
        return []
    return list(values) if isinstance(values, list | tuple) else [values]


def _assign_answer(draft: LeadDraft, target: str | None, values: list[Any]) -> None:
    """A custom field keeps a one-answer question as a scalar and a multi-select as a list."""
    if target is not None and target.startswith("custom_fields."):
        if values:
            draft.assign(target, values[0] if len(values) == 1 else values)
        return
    draft.assign(target, values)


def is_dummy_value(value: Any) -> bool:
    return isinstance(value, str) and DUMMY_VALUE.match(value) is not None


def _custom_name(name: str) -> str:
    key = canonical_key(name)
    return key if key in OTHER_STANDARD_KEYS else name


def _answers(draft: LeadDraft, field_data: Iterable[Any], source: SourceConfig) -> bool:
    """Assigns every answer; returns whether the Testing Tool's dummy values were seen.

    Dummy values are left out: a ``<test lead: dummy data for full_name>`` is not a person's name.
    """
    deferred: list[tuple[str, list[Any]]] = []
    test_lead = False
    for item in field_data:
        if not isinstance(item, dict) or not str(item.get("name") or "").strip():
            continue
        name, given = str(item["name"]), _values(item)
        values = [value for value in given if not is_dummy_value(value)]
        test_lead = test_lead or len(values) < len(given)
        if not values:
            continue
        found, target = map_target(name, source.field_map)
        key = canonical_key(name)
        if found:
            _assign_answer(draft, target, values)
        elif key in STANDARD_FIELDS:
            draft.assign(STANDARD_FIELDS[key], values)
        elif key in SECONDARY_FIELDS:
            deferred.append((SECONDARY_FIELDS[key], values))
        else:
            _assign_answer(draft, f"custom_fields.{_custom_name(name)}", values)
    for target, values in deferred:
        draft.assign(target, values)
    return test_lead


def _consent(draft: LeadDraft, responses: Any, source: SourceConfig) -> None:
    """Checked disclaimer boxes set opt_in_status; each box is also kept as ``consent_<checkbox_key>``."""
    for item in responses if isinstance(responses, list) else []:
        if not isinstance(item, dict) or not item.get("checkbox_key"):
            continue
        key, checked = str(item["checkbox_key"]), item.get("is_checked")
        parsed = parse_bool(checked)
        found, target = map_target(key, source.field_map)
        if found:
            draft.assign(target, parsed if parsed is not None else checked)
            continue
        draft.assign("opt_in_status", parsed if parsed is not None else checked)
        draft.assign(f"custom_fields.consent_{key}", parsed if parsed is not None else checked)


def _metadata(lead: Mapping[str, Any], webhook: Mapping[str, Any]) -> dict[str, Any]:
    """The lead's ids and facts, from the Graph object first and the webhook where it has no value."""
    known = {"leadgen_id": lead.get("id"), "adset_id": lead.get("adset_id") or webhook.get("adgroup_id")}
    out: dict[str, Any] = {}
    for name in LEAD_METADATA:
        value = known.get(name) or lead.get(name)
        if value is None or value == "":
            value = webhook.get(name)
        if value is None or value == "":
            continue
        out[name] = _graph_id(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return out


def normalize(raw: Mapping[str, Any], source: SourceConfig) -> dict[str, Any]:
    """Builds the ConnectGain payload from a fetched Graph lead (``raw["lead"]``) with the current mapping.

    Raises:
        Unprocessable: when the lead was never fetched, or no contact field survives cleaning.
    """
    lead = raw.get("lead")
    if not isinstance(lead, dict):
        raise Unprocessable(
            "the lead has not been fetched from the Graph API", errors={"lead": "missing from the stored event"}
        )
    webhook = raw.get("webhook")
    if not isinstance(webhook, dict):
        webhook = {}
    draft = LeadDraft()
    field_data = lead.get("field_data")
    test_lead = _answers(draft, field_data if isinstance(field_data, list) else [], source)
    _consent(draft, lead.get("custom_disclaimer_responses"), source)
    for name, value in _metadata(lead, webhook).items():
        found, target = map_target(name, source.field_map)
        draft.assign(target if found else f"custom_fields.{name}", value)
    mode = source.option("test_leads") or "tag"
    if test_lead and mode == "drop":
        raise NotALead("a test lead (Lead Ads Testing Tool dummy data) and test_leads is drop")
    if test_lead:
        draft.assign("custom_fields.test_lead", True)
        if mode == "tag":
            draft.assign("tags", TEST_LEAD_TAG)
    try:
        return finalize(draft, source)
    except Unprocessable:
        if test_lead:
            raise NotALead("a test lead with dummy answers only (Lead Ads Testing Tool): nothing to deliver") from None
        raise


def created_at(raw: Mapping[str, Any]) -> float | None:
    """When Meta says the lead was created: the webhook's ``created_time``, else the Graph lead's (speed to lead)."""
    for part in ("webhook", "lead"):
        holder = raw.get(part)
        created = parse_platform_time(holder.get("created_time")) if isinstance(holder, dict) else None
        if created is not None:
            return created
    return None
