"""Named answers to lead fields: a form's fields, or the questions a webhook carries, read one way.

Whoever sent them, answers arrive as name/value entries (``adapters.form_fields``) read by a
builder's convention (``adapters.form_builders``). This module decides the lead field of each:
``field_map`` first, then sub-inputs, the alias table of common names, the type a generated name
announces, and last, for the email, phone and name no name gave, recognition by value. The rules
are documented in ``docs/sources/form.md``; the form kind and the json kind's presets share them.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from adapters.form_builders import DIALLING_WORDS
from adapters.form_builders import Convention
from adapters.form_builders import Reading
from adapters.form_fields import Entry
from adapters.normalize import canonical_key
from adapters.normalize import map_target
from adapters.normalize import normalize_email
from adapters.normalize import normalize_phone
from leadgate.config import SourceConfig

__all__ = ["ALIASES", "Placed", "lead_fields", "looks_like_person_name"]


def _aliases(table: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {canonical_key(name): target for target, names in table.items() for name in names}


ALIASES: dict[str, str] = _aliases(
    {
        "full_name": ("name", "full_name", "fullname", "contact_name"),
        "first_name": ("first_name", "fname", "firstname", "first", "given_name"),
        "last_name": ("last_name", "lname", "lastname", "surname", "last", "family_name"),
        "email": ("email", "e-mail", "email_address", "mail"),
        "phone": (
            "phone",
            "tel",
            "telephone",
            "mobile",
            "phone_number",
            "cell",
            "mobilephone",
            "mobile_phone",
            "cell_phone",
        ),
        "company_name": ("company", "company_name", "organization", "organisation", "business_name"),
        "description": ("message", "comments", "comment", "notes", "description", "enquiry", "inquiry"),
        "opt_in_status": ("consent", "opt_in", "optin", "marketing_consent", "gdpr"),
        "tags": ("tags",),
    }
)
"""Common form field names (in :func:`canonical_key` spelling) and the lead field each one means.

HubSpot's contact properties (``firstname``, ``mobilephone``, ``company``) and Mailchimp's merge
tags (``FNAME``, ``LNAME``, ``EMAIL``, ``PHONE``) are among them; names are compared ignoring case,
``-``/``_``/spaces, camelCase and a leading ``your-`` (Contact Form 7's defaults).
"""
_COMPACT_ALIASES = {key.replace("_", ""): target for key, target in ALIASES.items()}

CUSTOM_KEYS = {"jobtitle": "job_title", "job_title": "job_title", "zipcode": "zip", "postcode": "zip"}
"""Names kept as custom fields under a clearer key (HubSpot's ``jobtitle`` -> ``job_title``)."""

SUB_TARGETS = {
    "first": "first_name",
    "last": "last_name",
    "middle": "custom_fields.middle_name",
    "prefix": "custom_fields.name_prefix",
    "suffix": "custom_fields.name_suffix",
    "primary": "email",
    "secondary": None,
    "addr1": "custom_fields.street_address",
    "address1": "custom_fields.street_address",
    "addr_line1": "custom_fields.street_address",
    "line1": "custom_fields.street_address",
    "street": "custom_fields.street_address",
    "addr2": "custom_fields.address_line_2",
    "address2": "custom_fields.address_line_2",
    "addr_line2": "custom_fields.address_line_2",
    "line2": "custom_fields.address_line_2",
    "city": "custom_fields.city",
    "state": "custom_fields.state",
    "province": "custom_fields.state",
    "region": "custom_fields.state",
    "zip": "custom_fields.zip",
    "postal": "custom_fields.zip",
    "postcode": "custom_fields.zip",
    "country": "custom_fields.country",
}
"""Sub-inputs of combined fields: name parts, an email and its confirmation (dropped), address parts."""

HINT_TARGETS = {
    "email": "email",
    "phone": "phone",
    "description": "description",
    "name": "full_name",
    "opt_in": "opt_in_status",
}
"""The lead field a generated name's type announces (CF7 ``email-460``, Wix ``long_answer_3524``)."""


ENCODED_URL = re.compile(r"^[a-z][a-z0-9+.-]*%3a%2f%2f", re.IGNORECASE)
PHONE_CHARACTERS = re.compile(r"^[+()\d\s./-]+$")
DIALLING_CODE = re.compile(r"^\+?\d{1,4}$")
NAME_WORD = re.compile(r"^[^\W\d_]+(?:['’.-][^\W\d_]*)*$")
NAME_PARTICLES = frozenset("van von de der den da di du del della le la bin al el ter ten".split())
COMPANY_WORDS = frozenset(
    "ltd llc inc gmbh corp co company limited group plc sa ag bv pty llp solutions services studio agency".split()
)


@dataclass
class Placed:
    """One entry and the lead field it goes to (None: not forwarded)."""

    entry: Entry
    reading: Reading
    target: str | None

    @property
    def custom(self) -> bool:
        return self.reading.role == "field" and bool(self.target) and str(self.target).startswith("custom_fields.")


def _alias(word: str) -> str | None:
    return ALIASES.get(word) or _COMPACT_ALIASES.get(word.replace("_", ""))


def _field_target(reading: Reading) -> str | None:
    """Where a visitor's field goes when ``field_map`` does not say: sub-input, name, then type."""
    if reading.sub:
        if reading.sub == "full" and _alias(reading.word) == "phone":
            return "phone"
        if reading.sub == "other":
            return f"custom_fields.{reading.key}_other"
        if reading.sub in SUB_TARGETS:
            return SUB_TARGETS[reading.sub]
        return f"custom_fields.{reading.key}.{reading.sub}"
    if reading.word in CUSTOM_KEYS:
        return f"custom_fields.{CUSTOM_KEYS[reading.word]}"
    target = _alias(reading.word) if reading.word else None
    if target is None and reading.hint in HINT_TARGETS:
        target = HINT_TARGETS[reading.hint]
    return target or f"custom_fields.{reading.key}"


def _place(entry: Entry, convention: Convention, survey: Mapping[str, str], source: SourceConfig) -> Placed:
    reading = convention.read(entry, survey)
    if entry.hint and reading.role == "field" and not reading.hint:
        reading = replace(reading, hint=entry.hint)  # a sender that says the answer's type (Tally, Typeform-like)
    if not reading.key.strip():  # a blank JSON key somewhere in the path: name the field by its whole path
        reading = replace(reading, key=entry.name.strip(". ") or "field")
    for name in dict.fromkeys((entry.name, reading.key)):
        found, target = map_target(name, source.field_map) if name else (False, None)
        if found:
            return Placed(entry, Reading("mapped", key=reading.key), target)
    if reading.role == "context":
        return Placed(entry, reading, f"custom_fields.{reading.key}")
    if reading.role != "field":
        return Placed(entry, reading, None)
    return Placed(entry, reading, _field_target(reading))


def _joined(placed: list[Placed]) -> list[Placed]:
    """A name or phone posted as an array of parts (Squarespace: ``[first, last]``, ``[+1, 415, 555, 0177]``)."""
    out: list[Placed] = []
    for item in placed:
        previous = out[-1] if out else None
        same = previous is not None and previous.entry.name == item.entry.name and previous.target == item.target
        if same and item.reading.hint in ("name", "phone") and isinstance(item.entry.value, str):
            glue = " " if item.reading.hint == "name" else ""
            value = f"{previous.entry.value}{glue}{item.entry.value}"  # type: ignore[union-attr]
            out[-1] = Placed(Entry(item.entry.name, item.entry.path, value), item.reading, item.target)
        else:
            out.append(item)
    return out


def looks_like_person_name(value: Any) -> bool:
    """Two to four capitalised words of letters (particles like ``van`` aside), and no company word."""
    if not isinstance(value, str) or len(value) > 60:
        return False
    words = value.split()
    if not 2 <= len(words) <= 4 or not all(NAME_WORD.match(word) for word in words):
        return False
    if any(word.lower().strip(".") in COMPANY_WORDS for word in words):
        return False
    return all(word[0].isupper() or word.lower() in NAME_PARTICLES for word in words) and words[0][0].isupper()


def _valid(clean: Any, value: Any) -> bool:
    try:
        clean(value)
    except ValueError:
        return False
    return True


def _recognise_by_value(placed: list[Placed], source: SourceConfig, known: frozenset[str]) -> list[Placed]:
    """Fills the email, phone and name that no field name gave, from values (docs/sources/form.md).

    - email: the first custom field whose value is a valid address;
    - phone: the first custom field with a generated name, or one whose name or type says phone or
      number, whose value is a valid number for the source's ``phone_region``;
    - name: the first generated-name text field, if its value looks like a person's name (kept in
      its custom field too, as a guess).
    """
    targets = {item.target for item in placed} | known
    extra: list[Placed] = []

    def claim(item: Placed, target: str) -> None:
        index = placed.index(item)
        placed[index] = Placed(item.entry, item.reading, target)

    if not targets & {"email", "emails"}:
        for item in placed:
            if item.custom and isinstance(item.entry.value, str) and "@" in item.entry.value:
                if _valid(normalize_email, item.entry.value):
                    claim(item, "email")
                    break
    if not targets & {"phone", "phones"}:
        for item in placed:
            reading, value = item.reading, item.entry.value
            phoneish = reading.opaque or reading.hint in ("phone", "number") or "phone" in reading.word
            if item.custom and phoneish and isinstance(value, str) and PHONE_CHARACTERS.match(value.strip()):
                digits = sum(ch.isdigit() for ch in value)
                if 7 <= digits <= 15 and _valid(lambda v: normalize_phone(v, source.phone_region), value):
                    claim(item, "phone")
                    break
    if not targets & {"full_name", "name", "first_name", "last_name"}:
        first = next((i for i in placed if i.custom and (i.reading.opaque or i.reading.hint == "text")), None)
        if first is not None and looks_like_person_name(first.entry.value):
            extra.append(Placed(first.entry, first.reading, "full_name"))
    return placed + extra


def _with_dialling_code(placed: list[Placed]) -> list[Placed]:
    """``dialling_code: +44`` beside ``phone: 7700 900123`` is one number: +44 7700 900123."""
    code = next(
        (
            p
            for p in placed
            if p.reading.role == "field"
            and p.reading.word in DIALLING_WORDS
            and p.target
            and DIALLING_CODE.match(str(p.entry.value).strip())
        ),
        None,
    )
    if code is None or not any(p.target == "phone" for p in placed):
        return placed
    prefix = "+" + str(code.entry.value).strip().lstrip("+")
    out = []
    for item in placed:
        value = item.entry.value
        if item is code:
            continue
        if item.target == "phone" and isinstance(value, str) and not value.strip().startswith(("+", "00")):
            item = Placed(Entry(item.entry.name, item.entry.path, f"{prefix} {value.strip()}"), item.reading, "phone")
        out.append(item)
    return out


def _value(item: Placed) -> Any:
    value = item.entry.value
    if item.reading.role == "context" and isinstance(value, str) and ENCODED_URL.match(value):
        return unquote(value)  # Gravity Forms' AJAX posts percent-encodes its page URL inside multipart
    return value


def lead_fields(
    entries: Iterable[Entry], convention: Convention, source: SourceConfig, known: frozenset[str] = frozenset()
) -> list[tuple[str | None, Any]]:
    """``(lead field, value)`` for every entry, in order; ``known`` are lead fields already filled elsewhere.

    A target of None means the entry is not forwarded (technical, a trap, dropped by ``field_map``).
    """
    entries = [entry for entry in entries if entry.name.strip()]
    survey = convention.survey(entries)
    placed = [_place(entry, convention, survey, source) for entry in entries]
    placed = _with_dialling_code(_recognise_by_value(_joined(placed), source, known))
    return [(item.target, _value(item)) for item in placed]
