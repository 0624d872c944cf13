"""The ConnectGain request contract: marshmallow schemas, request limits and the lead fields a mapping may name.

``normalize.finalize`` checks each payload it builds against :class:`LeadPayloadSchema`, and the
sandbox CRM fake loads every request body with these schemas, so a drift between what the gateway
sends and what ConnectGain accepts fails a test instead of a delivery.

The schemas are deliberately strict where the API doc is loose: JSON types are not coerced
(``"5000"`` is not a number, ``"true"`` is not a boolean), unknown keys are rejected, and phones
must be E.164, which is the only form the gateway ever sends. Id fields stay plain strings because
the doc's own examples (``"your-pipeline-uuid"``) are not UUIDs.

This module only describes data; it performs no I/O.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

__all__ = [
    "CONTACT_FIELDS",
    "CUSTOM_PREFIX",
    "DROP_TARGETS",
    "LIST_TARGETS",
    "SINGLE_TARGETS",
    "TARGETS",
    "is_valid_target",
    "BulkContactsRequestSchema",
    "BulkDealSchema",
    "BulkDealsRequestSchema",
    "BulkLeadsRequestSchema",
    "ContactPayloadSchema",
    "DealPayloadSchema",
    "LeadPayloadSchema",
    "ProductSchema",
]

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")
"""ConnectGain refuses a contact unless at least one of these is present."""

DEAL_CONTACT_FIELDS = ("contact_id", "contact_email", "contact_phone")
"""A bulk deal must name its contact by one of these."""

CONTACT_REQUIRED_MESSAGE = "at least one of first_name, last_name, email or phone is required"

CUSTOM_PREFIX = "custom_fields."
DROP_TARGETS = frozenset({"", "-", "drop"})
LIST_TARGETS = {"email": "emails", "emails": "emails", "phone": "phones", "phones": "phones"}
SINGLE_TARGETS = frozenset({"first_name", "last_name", "company_name", "company_id", "assignee_id", "source"})
TARGETS = frozenset({*SINGLE_TARGETS, *LIST_TARGETS, "full_name", "name", "description", "tags", "opt_in_status"})
"""The lead fields a ``field_map`` or ``mapping`` may name (besides ``custom_fields.<name>`` and a drop)."""


def is_valid_target(target: str | None) -> bool:
    """Whether ``target`` may appear as a ``field_map`` value (checked at config load)."""
    if target is None or target in DROP_TARGETS or target in TARGETS:
        return True
    return target.startswith(CUSTOM_PREFIX) and bool(target[len(CUSTOM_PREFIX) :].strip())


MAX_BULK_LEADS = 100
MAX_BULK_CONTACTS = 500
MAX_BULK_DEALS = 100

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+$")


class StrictNumber(fields.Float):
    """A JSON number: ints and finite floats only, never strings or booleans."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("special")
        return value


class StrictBoolean(fields.Boolean):
    """A JSON boolean: ``true`` or ``false`` only, so ``"no"`` cannot slip through as consent."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _iso_date(value: str) -> None:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValidationError("Not a valid ISO date (YYYY-MM-DD).") from None


def _text(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1), **kwargs)


def _email(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(EMAIL_SHAPE, error="Not a valid email address."), **kwargs)


def _phone(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(E164, error="Not an E.164 phone number."), **kwargs)


def _has_any(data: dict[str, Any], names: tuple[str, ...]) -> bool:
    return any(isinstance(data.get(name), str) and data[name].strip() for name in names)


class ProductSchema(Schema):
    """One deal line item."""

    name = _text(required=True)
    quantity = StrictNumber(validate=validate.Range(min=0))
    unit_price = StrictNumber()


class DealPayloadSchema(Schema):
    """A deal, as nested in ``create-lead`` (every field of the doc's Deal Fields table)."""

    title = _text(required=True)
    contact_id = _text()
    contact_email = _email()
    contact_phone = _phone()
    value = StrictNumber()
    currency = fields.String(validate=validate.Regexp(r"^[A-Za-z]{3}$", error="Not a 3-letter currency code."))
    stage = _text()
    pipeline_id = _text()
    description = fields.String()
    expected_close_date = fields.String(validate=_iso_date)
    probability = StrictNumber(validate=validate.Range(min=0, max=100))
    source = _text()
    tags = fields.List(fields.String())
    owner_id = _text()
    company_id = _text()
    custom_fields = fields.Dict(keys=fields.String())
    products = fields.List(fields.Nested(ProductSchema))
    create_contact_if_missing = StrictBoolean()
    contact_first_name = _text()
    contact_last_name = _text()


class ContactPayloadSchema(Schema):
    """A contact: the body of one ``import-contacts-bulk`` entry."""

    first_name = fields.String()
    last_name = fields.String()
    email = _email()
    emails = fields.List(_email())
    phone = _phone()
    phones = fields.List(_phone())
    source = _text()
    tags = fields.List(fields.String())
    description = fields.String()
    company_id = _text()
    company_name = fields.String()
    assignee_id = _text()
    opt_in_status = StrictBoolean()
    custom_fields = fields.Dict(keys=fields.String())

    @validates_schema
    def _require_contact_field(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not _has_any(data, CONTACT_FIELDS):
            raise ValidationError(CONTACT_REQUIRED_MESSAGE)


class LeadPayloadSchema(ContactPayloadSchema):
    """The ``create-lead`` body: a contact plus an optional deal."""

    deal = fields.Nested(DealPayloadSchema)


class BulkDealSchema(DealPayloadSchema):
    """One ``create-deals-bulk`` entry, which must say whose deal it is."""

    @validates_schema
    def _require_contact_reference(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not _has_any(data, DEAL_CONTACT_FIELDS):
            raise ValidationError("at least one of contact_id, contact_email or contact_phone is required")


class BulkLeadsRequestSchema(Schema):
    """The ``create-leads-bulk`` body."""

    leads = fields.List(
        fields.Nested(LeadPayloadSchema), required=True, validate=validate.Length(min=1, max=MAX_BULK_LEADS)
    )
    skip_duplicates = StrictBoolean(load_default=False)


class BulkContactsRequestSchema(Schema):
    """The ``import-contacts-bulk`` body."""

    contacts = fields.List(
        fields.Nested(ContactPayloadSchema), required=True, validate=validate.Length(min=1, max=MAX_BULK_CONTACTS)
    )
    skip_duplicates = StrictBoolean(load_default=False)
    default_tags = fields.List(fields.String(), load_default=list)
    default_source = _text(load_default="api")


class BulkDealsRequestSchema(Schema):
    """The ``create-deals-bulk`` body."""

    deals = fields.List(
        fields.Nested(BulkDealSchema), required=True, validate=validate.Length(min=1, max=MAX_BULK_DEALS)
    )
    default_pipeline_id = _text(load_default=None, allow_none=True)
    default_stage = _text(load_default="new")
    default_currency = fields.String(
        load_default="USD", validate=validate.Regexp(r"^[A-Za-z]{3}$", error="Not a 3-letter currency code.")
    )
    skip_if_exists = StrictBoolean(load_default=False)
