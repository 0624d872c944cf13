"""Rows to bulk items: contacts and leads through the form adapter, deals by column name.

A header row is mapped exactly like a form post (``field_map`` and the form aliases included),
so a CSV and a form of the same source yield the same contact. :func:`row_payload` raises
:class:`~adapters.base.Unprocessable` for a row ConnectGain would refuse, and
:func:`rejection_reason` turns that into the one-line reason shown and written to the
failed-rows CSV. Pure functions: this module must not read files, send anything or keep state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from adapters import answers
from adapters import form
from adapters.base import Unprocessable
from adapters.normalize import canonical_key
from adapters.normalize import map_target
from adapters.normalize import normalize_email
from adapters.normalize import normalize_phone
from adapters.normalize import render_template
from adapters.normalize import split_full_name
from leadgate.config import SourceConfig
from leadgate.contract import DROP_TARGETS
from leadgate.contract import BulkDealSchema
from workers.importer.records import CsvRecord

DEAL_FIELDS = frozenset(BulkDealSchema().fields) - {"custom_fields", "products", "create_contact_if_missing"}
"""Columns taken as deal fields when named exactly so (in any case, ``-``/space for ``_``)."""
DEAL_CONTACT_TARGETS = {
    "email": "contact_email",
    "phone": "contact_phone",
    "first_name": "contact_first_name",
    "last_name": "contact_last_name",
    "full_name": "full_name",
    "description": "description",
    "tags": "tags",
}
"""Lead fields a deal column may map to (by ``field_map`` or the form aliases) and what they mean for the deal."""
DEAL_NUMBERS = ("value", "probability")
_DEAL_SCHEMA = BulkDealSchema()
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?")
INTEGER = re.compile(r"[-+]?\d+")


def row_payload(
    record: CsvRecord, names: list[str], kind: str, source: SourceConfig, default_tags: Sequence[str]
) -> dict[str, Any]:
    """The bulk item for one record under the header ``names``, mapped by ``source``.

    Raises:
        Unprocessable: an unreadable record, more values than columns, or a row that is not a valid item.
    """
    if record.error:
        raise Unprocessable(record.error)
    if len(record.values) > len(names):
        raise Unprocessable(f"{len(record.values)} values but the header has {len(names)} columns")
    fields = [[name, value] for name, value in zip(names, record.values, strict=False)]
    if kind == "deals":
        return deal_payload(fields, source, default_tags)
    extra_tags = default_tags if kind == "leads" else ()
    return _lead_payload(fields, source, extra_tags)


def rejection_reason(err: Unprocessable) -> str:
    """``email: not a valid...; contact: at least one of ...`` from an adapter's per-field errors."""
    parts = []
    for name, problem in err.errors.items():
        if isinstance(problem, dict):
            problem = rejection_reason(Unprocessable("", problem))
        elif isinstance(problem, list | tuple):
            problem = " ".join(str(item) for item in problem)
        parts.append(f"{name}: {problem}")
    return "; ".join(parts) or err.message


def _number(text: str) -> int | float:
    """``"12,500.50"`` -> 12500.5, ``"60"`` -> 60.

    Commas are read only as thousands separators in their usual places, so a European
    ``"1.234,56"`` is refused rather than silently read as 1.23456.
    """
    if not NUMBER.fullmatch(text):
        raise ValueError(text)
    cleaned = text.replace(",", "")
    return int(cleaned) if INTEGER.fullmatch(cleaned) else float(cleaned)


def _deal_target(name: str, source: SourceConfig) -> str | None:
    key = canonical_key(name)
    if key in DEAL_FIELDS:
        return key
    found, target = map_target(name, source.field_map)
    if found and (target is None or target in DROP_TARGETS):
        return None  # field_map drops it
    target = target if found else answers.ALIASES.get(key)
    if target and target.startswith("custom_fields."):
        return target
    return DEAL_CONTACT_TARGETS.get(target or "", f"custom_fields.{name}")


def deal_payload(fields: Sequence[Sequence[str]], source: SourceConfig, default_tags: Sequence[str] = ()) -> dict:
    """One ``create-deals-bulk`` item from a row's ``[column, value]`` pairs.

    Deal columns by name (title, value, currency, stage, pipeline_id, expected_close_date,
    probability, description, ...) plus contact_email / contact_phone / contact_first_name /
    contact_last_name (``email``, ``phone``, ``name`` ... and ``field_map`` work too); the rest go
    to ``custom_fields``. The contact is created when missing.

    Raises:
        Unprocessable: naming each bad field (no title, no contact, a number that is not one, ...).
    """
    deal: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    errors: dict[str, str] = {}
    full_name = None
    for name, raw in fields:
        value = raw.strip()
        if not value or not name.strip() or name.startswith("_"):
            continue
        target = _deal_target(name, source)
        if target is None:
            continue
        if target.startswith("custom_fields."):
            custom.setdefault(target.removeprefix("custom_fields.").strip(), value)
        elif target == "full_name":
            full_name = full_name or value
        elif target in deal:
            continue  # a repeated column: the first non-empty value wins
        elif target == "tags":
            deal["tags"] = [tag.strip() for tag in value.split(",") if tag.strip()]
        elif target in DEAL_NUMBERS:
            try:
                deal[target] = _number(value)
            except ValueError:
                errors[target] = f"not a number: {value!r}"
        elif target == "contact_email":
            try:
                deal[target] = normalize_email(value)
            except ValueError as err:
                errors[target] = str(err)
        elif target == "contact_phone":
            try:
                deal[target] = normalize_phone(value, source.phone_region)
            except ValueError as err:
                errors[target] = str(err)
        else:
            deal[target] = value.upper() if target == "currency" else value
    first, last = split_full_name(full_name)
    if first and "contact_first_name" not in deal and "contact_last_name" not in deal:
        deal["contact_first_name"] = first
        if last:
            deal["contact_last_name"] = last
    if custom:
        deal["custom_fields"] = custom
    values = {**custom, **deal}
    if "source" not in deal and render_template(source.source, values):
        deal["source"] = render_template(source.source, values)
    tags = [render_template(tag, values) for tag in source.tags] + deal.get("tags", []) + list(default_tags)
    tags = list(dict.fromkeys(tag for tag in tags if tag))
    if tags:
        deal["tags"] = tags
    deal["create_contact_if_missing"] = True
    if "title" not in deal:
        errors.setdefault("title", "required")
    if not any(key in deal or key in errors for key in ("contact_id", "contact_email", "contact_phone")):
        errors["contact"] = "one of contact_email, contact_phone (or contact_id) is required"
    if not errors:
        for name, problems in _DEAL_SCHEMA.validate(deal).items():
            errors[name] = " ".join(problems) if isinstance(problems, list) else str(problems)
    if errors:
        raise Unprocessable("not a deal ConnectGain accepts", errors=errors)
    return deal


def _lead_payload(fields: list[list[str]], source: SourceConfig, extra_tags: Sequence[str]) -> dict:
    """A contact or lead from a row mapped exactly like a form post (``field_map``, aliases, cleaning)."""
    payload = form.normalize({"fields": fields}, source)
    payload.pop("deal", None)  # the bulk endpoints create no deals: --kind deals does
    if extra_tags:
        payload["tags"] = list(dict.fromkeys([*payload.get("tags", []), *extra_tags]))
    return payload
