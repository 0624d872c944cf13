"""Turns the values an adapter found into one ConnectGain ``create-lead`` payload.

Every source kind feeds a :class:`LeadDraft` with ``assign(target, value)`` in the order the
platform sent the fields, then calls :func:`finalize`. Keeping the cleaning rules (emails, E.164
phones, names, tags, consent, deal titles) here means a fix applies to every kind at once and to
replays of stored events.

Pure functions only: no Redis, no network, no clock. A value that cannot be cleaned is kept in
``custom_fields`` rather than dropped, and a lead with no usable contact field is refused with
:class:`~adapters.base.Unprocessable` naming each bad field. No value reaches the payload with a
control character in it (NUL, escape, DEL, ...): multi-line text (``description``, custom fields)
keeps its tabs and line breaks, every other field has them as spaces.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError
from email_validator import validate_email

from adapters.base import Unprocessable
from leadgate import defaults
from leadgate.config import SourceConfig
from leadgate.contract import CONTACT_FIELDS
from leadgate.contract import CONTACT_REQUIRED_MESSAGE
from leadgate.contract import CUSTOM_PREFIX
from leadgate.contract import DROP_TARGETS
from leadgate.contract import LIST_TARGETS
from leadgate.contract import SINGLE_TARGETS
from leadgate.contract import LeadPayloadSchema
from leadgate.contract import is_valid_target

__all__ = [
    "LeadDraft",
    "canonical_key",
    "finalize",
    "map_target",
    "normalize_email",
    "normalize_phone",
    "parse_bool",
    "plain_text",
    "UNNORMALISED_KEYS",
    "check_required",
    "unnormalised",
    "render_template",
    "split_full_name",
]


TRUE_WORDS = frozenset({"1", "true", "yes", "y", "on", "checked", "agree", "agreed", "accept", "accepted", "opt-in"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "off", ""})

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters (C0, DEL, C1) other than tab, line feed and carriage return: never part of a lead."""
LINE_BREAKS = re.compile(r"[\t\n\r]+")
SEPARATORS = re.compile(r"[\s_-]+")
WHITESPACE = re.compile(r"\s+")
_LEAD_SCHEMA = LeadPayloadSchema()


def canonical_key(key: str) -> str:
    """``" E-Mail Address"`` -> ``"e_mail_address"``: the spelling alias tables are keyed by."""
    return SEPARATORS.sub("_", str(key).strip().lower())


def map_target(key: str, field_map: Mapping[str, str | None]) -> tuple[bool, str | None]:
    """Looks ``key`` up in a ``field_map``: exact spelling first, then ignoring case and ``-``/``_``/space."""
    if key in field_map:
        return True, field_map[key]
    wanted = canonical_key(key)
    for name, target in field_map.items():
        if canonical_key(name) == wanted:
            return True, target
    return False, None


def split_full_name(name: Any) -> tuple[str | None, str | None]:
    """``"Jane van der Berg"`` -> ``("Jane", "van der Berg")``; a single word is a first name."""
    words = str(name).split() if name is not None else []
    if not words:
        return None, None
    return words[0], " ".join(words[1:]) or None


def normalize_email(value: Any) -> str:
    """A syntactically valid address, trimmed and lower-cased, so duplicates compare equal.

    Raises:
        ValueError: with a sentence naming the value and what is wrong with it.
    """
    text = str(value).strip()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as err:
        raise ValueError(f"not a valid email address: {text!r}: {err}") from None
    return result.normalized.lower()


def normalize_phone(value: Any, region: str | None) -> str:
    """The E.164 form of a phone number; ``region`` applies to numbers without a country code.

    Raises:
        ValueError: when the number cannot be parsed or is not a valid number.
    """
    text = str(value).strip()
    candidate = "+" + text[2:] if text.startswith("00") else text
    try:
        number = phonenumbers.parse(candidate, region.upper() if region else None)
    except phonenumbers.NumberParseException as err:
        hint = "" if region or candidate.startswith("+") else " (no country code and no phone_region set)"
        raise ValueError(f"not a valid phone number: {text!r}: {err}{hint}") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number: {text!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_bool(value: Any) -> bool | None:
    """Reads a checkbox or consent answer; None when the value says neither yes nor no."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def plain_text(text: str, multiline: bool = False) -> str:
    """``text`` without control characters; unless ``multiline``, tabs and line breaks become one space."""
    text = CONTROL.sub("", text)
    return text if multiline else LINE_BREAKS.sub(" ", text)


def _without_controls(value: Any, multiline: bool) -> Any:
    """Every string in ``value`` (a structured answer's keys and items too) as :func:`plain_text`."""
    if isinstance(value, str):
        return plain_text(value, multiline)
    if isinstance(value, list | tuple):
        return [_without_controls(item, multiline) for item in value]
    if isinstance(value, Mapping):
        return {plain_text(str(key)): _without_controls(item, multiline) for key, item in value.items()}
    return value


def _clean(value: Any, multiline: bool = False) -> Any:
    """Strips strings of spaces and control characters; None and blank strings become None ("no value")."""
    value = _without_controls(value, multiline)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _add_custom(custom: dict[str, Any], key: str, value: Any) -> None:
    """Sets ``custom[key]``; a key given again turns into a list of every value, in order."""
    if key not in custom:
        custom[key] = value
        return
    existing = custom[key]
    custom[key] = (existing if isinstance(existing, list) else [existing]) + (
        value if isinstance(value, list) else [value]
    )


class LeadDraft:
    """Collects candidate values for one lead, in the order the source sent them.

    Nothing is validated here: :func:`finalize` decides which candidate wins, so the order of
    ``assign`` calls never changes the outcome of rules like "explicit first/last name beats a
    split full name".
    """

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {name: [] for name in (*SINGLE_TARGETS, "full_name")}
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.descriptions: list[str] = []
        self.tags: list[str] = []
        self.opt_in: bool | None = None
        self.raw_opt_in: list[Any] = []
        self.custom_fields: dict[str, Any] = {}

    def assign(self, target: str | None, value: Any) -> None:
        """Records ``value`` for ``target``; a list value counts as each of its items.

        Raises:
            ValueError: for a target name :func:`is_valid_target` rejects.
        """
        if not is_valid_target(target):
            raise ValueError(f"unknown lead field {target!r}")
        if target is None or target in DROP_TARGETS:
            return
        if target.startswith(CUSTOM_PREFIX):
            self._assign_custom(plain_text(target[len(CUSTOM_PREFIX) :]).strip(), value)
            return
        if isinstance(value, list | tuple):
            for item in value:
                self.assign(target, item)
            return
        value = _clean(value, multiline=target == "description")
        if value is None:
            return
        if target == "opt_in_status":
            self._assign_opt_in(value)
            return
        text = _as_text(value).strip()
        if not text:
            return
        if target in LIST_TARGETS:
            getattr(self, LIST_TARGETS[target]).append(text)
        elif target == "tags":
            self.tags.extend(tag.strip() for tag in text.split(",") if tag.strip())
        elif target == "description":
            self.descriptions.append(text)
        else:
            self.values["full_name" if target == "name" else target].append(text)

    def _assign_opt_in(self, value: Any) -> None:
        parsed = parse_bool(value)
        if parsed is None:
            self.raw_opt_in.append(value)
        elif not self.opt_in:
            self.opt_in = parsed

    def _assign_custom(self, key: str, value: Any) -> None:
        if isinstance(value, list | tuple):
            items = [item for item in (_clean(v, multiline=True) for v in value) if item is not None]
            if items:
                _add_custom(self.custom_fields, key, items)
            return
        value = _clean(value, multiline=True)
        if value is not None:
            _add_custom(self.custom_fields, key, value)

    def first(self, name: str) -> str | None:
        candidates = self.values[name]
        return candidates[0] if candidates else None


def _render(template: str, values: Mapping[str, Any]) -> tuple[str, bool]:
    """Renders ``template``: a missing value is empty text, the spaces it leaves collapse to one and
    the ends are trimmed. The flag is False when it has placeholders and none produced text."""
    try:
        parts = list(string.Formatter().parse(template))
    except (ValueError, TypeError):
        return WHITESPACE.sub(" ", template).strip(), True
    out: list[str] = []
    placeholders = filled = 0
    for literal, name, spec, _conversion in parts:
        out.append(literal)
        if name is None:
            continue
        text = _placeholder_text(_lookup(name, values), spec or "")
        placeholders += 1
        filled += bool(text.strip())
        out.append(text)
    return WHITESPACE.sub(" ", "".join(out)).strip(), filled > 0 or placeholders == 0


def _lookup(name: str, values: Mapping[str, Any]) -> Any:
    if name.startswith(CUSTOM_PREFIX):
        custom = values.get("custom_fields")
        return custom.get(name[len(CUSTOM_PREFIX) :]) if isinstance(custom, Mapping) else None
    return values.get(name)


def _placeholder_text(value: Any, spec: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_as_text(item) for item in value)
    if spec:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            pass
    return _as_text(value)


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """Fills ``{field}`` / ``{custom_fields.x}`` placeholders; never raises on a bad template.

    ``"{company_name} demo call"`` without a company is ``"demo call"`` (docs/configuration.md, Templates).
    """
    return _render(template, values)[0]


def _normalized(candidates: list[str], clean: Any) -> tuple[list[str], list[str], list[str]]:
    """Splits candidates into (valid and deduplicated, raw invalid values, error messages)."""
    good: list[str] = []
    bad: list[str] = []
    errors: list[str] = []
    for raw in candidates:
        try:
            value = clean(raw)
        except ValueError as err:
            bad.append(raw)
            errors.append(str(err))
            continue
        if value not in good:
            good.append(value)
    return good, bad, errors


def _dedupe_tags(tags: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    return out


def _template_values(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What ``{field}`` placeholders in the source's ``tags``, ``source`` and deal title read."""
    custom = payload.get("custom_fields", {})
    # Bare "{utm_campaign}" works too, but a custom field never shadows a payload field.
    return {**custom, **payload, "custom_fields": custom}


def _source_name(source: SourceConfig, values: Mapping[str, Any]) -> str:
    """The configured ``source``, rendered; the kind's default when every placeholder came out empty."""
    return render_template(source.source, values) or source.default_source or source.kind


def _build_deal(deal: Mapping[str, Any], payload: Mapping[str, Any], source: SourceConfig) -> dict[str, Any]:
    values = _template_values(payload)
    configured = deal.get("title")
    if configured:
        # the operator's words stay even when every placeholder came out empty ("demo call")
        title = render_template(str(configured), values)
    else:
        # the built-in title with none of company and names known would be just "inquiry"
        title, meaningful = _render(defaults.DEAL_TITLE, values)
        title = title if meaningful else ""
    title = title or f"Lead from {source.id}"
    out: dict[str, Any] = {"title": title}
    for key in ("value", "currency", "stage", "pipeline_id"):
        if deal.get(key) is not None and deal.get(key) != "":
            out[key] = deal[key].upper() if key == "currency" else deal[key]
    return out


def _present(payload: Mapping[str, Any], name: str) -> bool:
    if name.startswith(CUSTOM_PREFIX):
        value = (payload.get("custom_fields") or {}).get(name[len(CUSTOM_PREFIX) :])
    else:
        value = payload.get(name)
    return value not in (None, "", [], {}) and bool(str(value).strip())


UNNORMALISED_KEYS = {"email": "raw_email", "phone": "raw_phone"}
"""Where :func:`finalize` keeps an email or phone it could not normalize: the custom field of that name."""


def unnormalised(payload: Mapping[str, Any]) -> list[str]:
    """The contact fields a lead was sent but kept only as text (``email``, ``phone``): a weak lead."""
    custom = payload.get("custom_fields") or {}
    return [name for name, key in UNNORMALISED_KEYS.items() if key in custom]


def check_required(payload: Mapping[str, Any], source: SourceConfig, invalid: Mapping[str, list[str]]) -> None:
    """Refuses a lead without the source's ``required`` fields (all of them) or ``required_any`` (one of them).

    A field sent but invalid counts as missing, and its error says why (``invalid`` by field).

    Raises:
        Unprocessable: ``errors`` names each missing field.
    """
    errors: dict[str, str] = {}
    for name in source.required:
        if not _present(payload, name):
            errors[name] = "; ".join(invalid.get(name) or []) or "required by this source"
    if source.required_any and not any(_present(payload, name) for name in source.required_any):
        listed = ", ".join(source.required_any)
        for name in source.required_any:
            errors.setdefault(name, "; ".join(invalid.get(name) or []) or f"one of {listed} is required")
    if errors:
        raise Unprocessable(f"required field(s) missing: {', '.join(errors)}", errors=errors)


def finalize(draft: LeadDraft, source: SourceConfig) -> dict[str, Any]:
    """Builds the ``create-lead`` payload for ``draft`` under ``source``'s current config.

    Raises:
        Unprocessable: when no first name, last name, email or phone survives cleaning, or a
            field the source requires is missing; ``errors`` names each field that was present
            but invalid, or missing.
    """
    emails, bad_emails, email_errors = _normalized(draft.emails, normalize_email)
    phones, bad_phones, phone_errors = _normalized(draft.phones, lambda v: normalize_phone(v, source.phone_region))
    split_first, split_last = split_full_name(draft.first("full_name"))
    payload: dict[str, Any] = {
        "first_name": draft.first("first_name") or split_first,
        "last_name": draft.first("last_name") or split_last,
        "email": emails[0] if emails else None,
        "emails": emails[1:],
        "phone": phones[0] if phones else None,
        "phones": phones[1:],
        "company_name": draft.first("company_name"),
        "company_id": draft.first("company_id"),
        "assignee_id": draft.first("assignee_id"),
        "description": "\n\n".join(draft.descriptions),
        "opt_in_status": draft.opt_in,
        "source": draft.first("source"),
    }
    if not any(payload[name] for name in CONTACT_FIELDS):
        errors: dict[str, str] = {}
        if email_errors:
            errors["email"] = "; ".join(email_errors)
        if phone_errors:
            errors["phone"] = "; ".join(phone_errors)
        errors["contact"] = CONTACT_REQUIRED_MESSAGE
        raise Unprocessable("no usable contact field", errors=errors)
    custom = dict(draft.custom_fields)
    kept_raw = {
        UNNORMALISED_KEYS["email"]: bad_emails,
        UNNORMALISED_KEYS["phone"]: bad_phones,
        "raw_opt_in_status": draft.raw_opt_in,
    }
    for key, bad in kept_raw.items():
        if bad:
            _add_custom(custom, key, bad[0] if len(bad) == 1 else list(bad))
    payload["custom_fields"] = custom
    # opt_in_status False is a known answer and is sent; only absent values are left out.
    payload = {key: value for key, value in payload.items() if value is not None and value not in ("", [], {})}
    check_required(payload, source, {"email": email_errors, "phone": phone_errors})
    # The config's source and tags are templates over the lead; values the sender typed never are.
    values = _template_values(payload)
    payload.setdefault("source", _source_name(source, values))
    tags = _dedupe_tags([*(render_template(tag, values) for tag in source.tags), *draft.tags])
    if tags:
        payload["tags"] = tags
    if source.deal:
        payload["deal"] = _build_deal(source.deal, payload, source)
    problems = _LEAD_SCHEMA.validate(payload)
    if problems:
        raise AssertionError(f"finalize built a payload ConnectGain would refuse: {problems}")
    return payload
