"""The ``google_ads`` source kind: Google Ads lead form assets delivering leads by webhook.

Google POSTs one JSON object per lead: a ``lead_id``, the campaign data (``form_id``,
``campaign_id``, ``adgroup_id``, ``creative_id``, ``asset_group_id``: int64 numbers), ``gcl_id``,
``is_test`` and ``user_column_data``, a list of ``{column_id, column_name, string_value}``.
There is no signature header: the only proof of origin is the ``google_key`` the advertiser typed
into the form, sent inside the body (Google's own samples spell it ``Google_key``).

The stored event is the body without the key (secrets are never stored) and with every int64 id
as an exact decimal string. Answers follow Google's contract: ``200 {}`` once stored; 4xx is final
for Google, so a well-formed lead with no usable contact field is kept as ``rejected`` (replayable
after a mapping fix) instead of being refused.

No I/O: the module only reads the request it is handed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from adapters.base import Accepted
from adapters.base import BadInput
from adapters.base import InboundEvent
from adapters.base import InboundRequest
from adapters.base import Reply
from adapters.jsonbody import load_json
from adapters.normalize import LeadDraft
from adapters.normalize import finalize
from adapters.normalize import map_target
from adapters.normalize import parse_bool
from adapters.options import TEST_LEAD_TAG
from adapters.options import test_leads_field
from adapters.signatures import require_shared_secret
from leadgate.config import SourceConfig
from leadgate.speed import parse_platform_time

__all__ = [
    "created_at",
    "ACCEPT_UNPROCESSABLE",
    "COLUMNS",
    "DEFAULT_SOURCE",
    "KIND",
    "NORMALIZE_ON_RECEIVE",
    "Options",
    "TEST_LEAD_TAG",
    "acknowledge",
    "normalize",
    "parse",
    "verify",
]

KIND = "google_ads"
DEFAULT_SOURCE = "google_ads"
NORMALIZE_ON_RECEIVE = True
ACCEPT_UNPROCESSABLE = True
"""Google never retries a 4xx, so a lead refused with 422 would be lost; stored as ``rejected`` it can be replayed."""

KEY_FIELDS = ("google_key", "Google_key")
ID_FIELDS = ("form_id", "campaign_id", "adgroup_id", "creative_id", "asset_group_id", "asset_id")
"""int64 ids: kept as exact decimal strings; ``0`` is protobuf's "not set" (asset_group_id outside Performance Max)."""
TEXT_FIELDS = ("lead_id", "gcl_id", "lead_submit_time", "lead_stage", "api_version")
METADATA = ("lead_id", *ID_FIELDS, "gcl_id", "lead_submit_time", "lead_stage", "api_version")
"""Body fields forwarded as ``custom_fields`` under their own names (``field_map`` may redirect them)."""
COLUMN_FIELDS = ("column_id", "column_name", "string_value")
WORK_COLUMNS = frozenset({"WORK_EMAIL", "WORK_PHONE"})
_JSON_TYPES = {dict: "an object", str: "a string", bool: "a boolean"}

COLUMNS: dict[str, str] = {
    "FULL_NAME": "full_name",
    "FIRST_NAME": "first_name",
    "LAST_NAME": "last_name",
    "EMAIL": "email",
    "WORK_EMAIL": "email",
    "PHONE_NUMBER": "phone",
    "WORK_PHONE": "phone",
    "COMPANY_NAME": "company_name",
    **{
        column: f"custom_fields.{column.lower()}"
        for column in (
            # ConnectGain has no job or address fields.
            "JOB_TITLE",
            "STREET_ADDRESS",
            "CITY",
            "REGION",
            "POSTAL_CODE",
            "COUNTRY",
            *(f"GOVERNMENT_ISSUED_ID_{suffix}" for suffix in ("CPF_BR", "DNI_AR", "DNI_PE", "RUT_CL", "CC_CO")),
            *(f"GOVERNMENT_ISSUED_ID_{suffix}" for suffix in ("CI_EC", "RFC_MX")),
            # Google's pre-approved qualifying questions (LeadFormFieldUserInputType >= 1001).
            *("VEHICLE_MODEL", "VEHICLE_TYPE", "PREFERRED_DEALERSHIP", "VEHICLE_PURCHASE_TIMELINE"),
            *("VEHICLE_OWNERSHIP", "VEHICLE_PAYMENT_TYPE", "VEHICLE_CONDITION", "COMPANY_SIZE", "ANNUAL_SALES"),
            *("YEARS_IN_BUSINESS", "JOB_DEPARTMENT", "JOB_ROLE", *(f"OVER_{age}_AGE" for age in range(18, 66))),
            *("EDUCATION_PROGRAM", "EDUCATION_COURSE", "PRODUCT", "SERVICE", "OFFER", "CATEGORY"),
            *("PREFERRED_CONTACT_METHOD", "PREFERRED_LOCATION", "PREFERRED_CONTACT_TIME", "PURCHASE_TIMELINE"),
            *("YEARS_OF_EXPERIENCE", "JOB_INDUSTRY", "LEVEL_OF_EDUCATION", "PROPERTY_TYPE", "REALTOR_HELP_GOAL"),
            *("PROPERTY_COMMUNITY", "PRICE_RANGE", "NUMBER_OF_BEDROOMS", "FURNISHED_PROPERTY"),
            *("PETS_ALLOWED_PROPERTY", "NEXT_PLANNED_PURCHASE", "EVENT_SIGNUP_INTEREST", "PREFERRED_SHOPPING_PLACES"),
            *("FAVORITE_BRAND", "TRANSPORTATION_COMMERCIAL_LICENSE_TYPE", "EVENT_BOOKING_INTEREST"),
            *("DESTINATION_COUNTRY", "DESTINATION_CITY", "DEPARTURE_COUNTRY", "DEPARTURE_CITY", "DEPARTURE_DATE"),
            *("RETURN_DATE", "NUMBER_OF_TRAVELERS", "TRAVEL_BUDGET", "TRAVEL_ACCOMMODATION"),
        )
    },
}
"""Google's documented ``column_id`` values and the lead field each one fills; other ids are custom questions."""


class Options(Schema):
    """The ``google_ads`` kind's own config keys."""

    google_key = fields.String(required=True, validate=validate.Length(min=1))
    test_leads = test_leads_field()


def _decode(body: bytes, source: SourceConfig) -> dict[str, Any]:
    """The body as a JSON object; non-integer numbers stay ``Decimal`` so no id goes through a float."""
    data = load_json(body, limits=source.limits, exact_numbers=True)
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object (one Google Ads lead)")
    return data


def verify(request: InboundRequest, source: SourceConfig) -> None:
    """Checks the ``google_key`` (or ``Google_key``) in the body against the configured key, in constant time."""
    body = _decode(request.body, source)
    given = next((v for v in (body.get(name) for name in KEY_FIELDS) if isinstance(v, str) and v), None)
    require_shared_secret(given, source.option("google_key"), "google_key")


def _id_text(value: Any, where: str) -> str | None:
    """An int64 id as its exact decimal string; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    raise BadInput(f"{where} must be an integer id, not {json.dumps(_plain(value))}", errors={where: "not an id"})


def _text(value: Any, where: str) -> str | None:
    """A string field; numbers are accepted and kept as their exact JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise BadInput(f"{where} must be a string", errors={where: "must be a string"})


def _plain(value: Any) -> Any:
    """Makes fields this module does not interpret JSON-serialisable again (Decimal -> float)."""
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) else str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _columns(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        shown = "missing" if value is None else _JSON_TYPES.get(type(value), "a number")
        raise BadInput(
            f"user_column_data must be a list of answer objects, not {shown}",
            errors={"user_column_data": "must be a list of {column_id, column_name, string_value} objects"},
        )
    columns: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        where = f"user_column_data[{index}]"
        if not isinstance(item, dict):
            raise BadInput(f"{where} must be an object", errors={where: "must be an object"})
        column = _plain(item)
        for name in COLUMN_FIELDS:
            if name in item:
                column[name] = _text(item[name], f"{where}.{name}")
        columns.append(column)
    return columns


def _test_mode(source: SourceConfig) -> str:
    return source.option("test_leads") or "tag"


def parse(request: InboundRequest, source: SourceConfig) -> list[InboundEvent]:
    """One event per request: the lead without its key, ids as exact strings, deduplicated on ``lead_id``."""
    body = _decode(request.body, source)
    raw = {name: _plain(value) for name, value in body.items() if name not in KEY_FIELDS}
    for name in ID_FIELDS:
        if name in body:
            raw[name] = _id_text(body[name], name)
    for name in TEXT_FIELDS:
        if name in body:
            raw[name] = _text(body[name], name)
    raw["user_column_data"] = _columns(body.get("user_column_data"))
    lead_id = (raw.get("lead_id") or "").strip()
    keys = (lead_id,) if lead_id else ()
    if parse_bool(raw.get("is_test")) is True and _test_mode(source) == "drop":
        return [InboundEvent(raw=raw, dedupe_keys=keys, outcome="ignored", reason="test lead")]
    return [InboundEvent(raw=raw, dedupe_keys=keys)]


def _target(column: Mapping[str, Any], position: int, source: SourceConfig) -> str | None:
    """Where one answer goes: ``field_map`` by column id, then by question text; then the built-in table."""
    column_id = str(column.get("column_id") or "").strip()
    name = str(column.get("column_name") or "").strip()
    for key in (column_id, name):
        if key:
            found, target = map_target(key, source.field_map)
            if found:
                return target
    if column_id in COLUMNS:
        return COLUMNS[column_id]
    return f"custom_fields.{name or column_id or f'column_{position}'}"


def _ordered(columns: Sequence[Any]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Answers in the order they were sent, work email and phone last so personal ones stay primary."""
    numbered = [(position, column) for position, column in enumerate(columns, 1) if isinstance(column, Mapping)]
    yield from ((p, c) for p, c in numbered if c.get("column_id") not in WORK_COLUMNS)
    yield from ((p, c) for p, c in numbered if c.get("column_id") in WORK_COLUMNS)


def normalize(raw: Mapping[str, Any], source: SourceConfig) -> dict[str, Any]:
    """Builds the ConnectGain payload from a stored Google lead with the source's current mapping."""
    draft = LeadDraft()
    for position, column in _ordered(raw.get("user_column_data") or []):
        draft.assign(_target(column, position, source), column.get("string_value"))
    for name in METADATA:
        value = raw.get(name)
        if value is None or (name in ID_FIELDS and str(value) == "0"):
            continue
        found, target = map_target(name, source.field_map)
        draft.assign(target if found else f"custom_fields.{name}", str(value))
    if parse_bool(raw.get("is_test")) is True and _test_mode(source) != "deliver":
        draft.assign("tags", TEST_LEAD_TAG)
    return finalize(draft, source)


def acknowledge(accepted: Sequence[Accepted], request: InboundRequest, source: SourceConfig) -> Reply:
    """``200 {}``: what Google reads as delivered, for new leads, re-sends and dropped test leads alike."""
    return Reply(200, {})


def created_at(raw: Mapping[str, Any]) -> float | None:
    """When Google says the form was submitted: ``lead_submit_time``, where the webhook has it (speed to lead)."""
    return parse_platform_time(raw.get("lead_submit_time"))
