"""An operator's corrections to a lead, made into a payload ConnectGain accepts.

The dashboard's and the admin API's "edit and replay" hand this to
:func:`leadgate.operations.edit_and_replay`. A corrected value is cleaned exactly as an inbound
one (emails lower-cased and validated, phones to E.164 with the source's ``phone_region``), and
a value that cannot be cleaned is refused by name rather than parked in ``custom_fields`` as an
inbound one would be: the operator is there to fix it. Pure: no Redis, no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import Unprocessable
from adapters.normalize import LeadDraft
from adapters.normalize import finalize
from adapters.normalize import normalize_email
from adapters.normalize import normalize_phone
from leadgate.config import SourceConfig
from leadgate.contract import CONTACT_REQUIRED_MESSAGE
from leadgate.history import flatten

__all__ = ["correct_lead"]

KEPT_FIELDS = ("first_name", "last_name", "company_name", "company_id", "assignee_id", "description", "source")
"""Single-valued lead fields carried over from the lead being corrected."""


def _checked(changes: Mapping[str, str], source: SourceConfig) -> dict[str, str]:
    """The changes trimmed, with email and phone validated; raises naming every bad one at once."""
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in changes.items():
        text = str(value).strip()
        if text and name == "email":
            try:
                text = normalize_email(text)
            except ValueError as err:
                errors[name] = str(err)
        elif text and name == "phone":
            try:
                text = normalize_phone(text, source.phone_region)
            except ValueError as err:
                errors[name] = str(err)
        cleaned[name] = text
    if errors:
        raise Unprocessable("some corrected fields are not valid", errors=errors)
    return cleaned


def _received_fields(raw: Any) -> str:
    """The raw event's fields as text, for a lead built from scratch (the original was unusable)."""
    fields = raw["fields"] if isinstance(raw, Mapping) and set(raw) == {"fields"} else raw  # a form post's pairs
    lines = [
        f"{path}: {value}" for path, value in flatten(fields) if isinstance(value, str | int | float) and value != ""
    ]
    return "\n".join(lines)


def correct_lead(
    lead: Mapping[str, Any] | None, changes: Mapping[str, str], source: SourceConfig, raw: Any
) -> dict[str, Any]:
    """``lead`` with ``changes`` applied ('' removes a field), finalized under ``source``'s config.

    With no ``lead`` to start from (a rejected event), the new lead holds the changes and, as its
    description unless one is given, the fields the raw event carried, so nothing sent is lost.

    Raises:
        Unprocessable: naming each invalid corrected field, or when no contact field is left.
    """
    cleaned = _checked(changes, source)
    base = dict(lead or {})
    if lead is None and "description" not in cleaned:
        base["description"] = _received_fields(raw)
    values = {**base, **cleaned}
    draft = LeadDraft()
    for name in KEPT_FIELDS:
        draft.assign(name, values.get(name))
    draft.assign("email", values.get("email"))
    draft.assign("emails", [] if "email" in cleaned and not cleaned["email"] else base.get("emails") or [])
    draft.assign("phone", values.get("phone"))
    draft.assign("phones", [] if "phone" in cleaned and not cleaned["phone"] else base.get("phones") or [])
    draft.assign("tags", base.get("tags") or [])  # the config's own tags are added again, once
    if base.get("opt_in_status") is not None:
        draft.assign("opt_in_status", base["opt_in_status"])
    for key, value in (base.get("custom_fields") or {}).items():
        draft.assign(f"custom_fields.{key}", value)
    try:
        return finalize(draft, source)
    except Unprocessable:
        raise Unprocessable("no contact field left", errors={"contact": CONTACT_REQUIRED_MESSAGE}) from None
