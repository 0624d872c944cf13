"""Cleaning rules shared by every source kind, and the payload ``finalize`` builds from them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from adapters.base import Unprocessable
from adapters.normalize import LeadDraft
from adapters.normalize import canonical_key
from adapters.normalize import finalize
from adapters.normalize import map_target
from adapters.normalize import normalize_email
from adapters.normalize import normalize_phone
from adapters.normalize import parse_bool
from adapters.normalize import plain_text
from adapters.normalize import render_template
from adapters.normalize import split_full_name
from leadgate.config import SourceConfig
from leadgate.contract import CONTACT_FIELDS
from leadgate.contract import LeadPayloadSchema
from leadgate.contract import is_valid_target

DEFAULT_TITLE = "{company_name} {first_name} {last_name} inquiry"


def make_source(**overrides: Any) -> SourceConfig:
    values: dict[str, Any] = {
        "id": "contact-us",
        "kind": "form",
        "destination": "main",
        "source": "website_form",
        "tags": ("website",),
        "phone_region": "US",
        "field_map": {},
        "deal": None,
        "options": {},
    }
    values.update(overrides)
    return SourceConfig(**values)


def lead(*pairs: tuple[str, Any], **overrides: Any) -> dict[str, Any]:
    draft = LeadDraft()
    for target, value in pairs:
        draft.assign(target, value)
    return finalize(draft, make_source(**overrides))


# --- small helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [("E-Mail", "e_mail"), (" First Name ", "first_name"), ("phone_number", "phone_number"), ("a - b", "a_b")],
)
def test_canonical_key(key, expected):
    assert canonical_key(key) == expected


def test_map_target_exact_key_wins_over_loose_match():
    field_map = {"e-mail": "custom_fields.loose", "E-Mail": "email"}
    assert map_target("E-Mail", field_map) == (True, "email")
    assert map_target("e_mail", field_map) == (True, "custom_fields.loose")


@pytest.mark.parametrize("key", ["Your Phone", "your-phone", "YOUR_PHONE", "your phone"])
def test_map_target_ignores_case_dashes_underscores_and_spaces(key):
    assert map_target(key, {"your_phone": "phone"}) == (True, "phone")


def test_map_target_reports_mapped_to_none_and_missing():
    assert map_target("secret", {"secret": None}) == (True, None)
    assert map_target("other", {"secret": None}) == (False, None)


@pytest.mark.parametrize(
    "target", [None, "", "-", "drop", "email", "emails", "name", "full_name", "tags", "custom_fields.x"]
)
def test_valid_targets(target):
    assert is_valid_target(target)


@pytest.mark.parametrize("target", ["e-mail", "Email", "custom_fields.", "custom_fields. ", "deal", "nope"])
def test_invalid_targets(target):
    assert not is_valid_target(target)
    with pytest.raises(ValueError, match="unknown lead field"):
        LeadDraft().assign(target, "x")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jane Roe", ("Jane", "Roe")),
        ("Jane van der Berg", ("Jane", "van der Berg")),
        ("Cher", ("Cher", None)),
        ("  Jane \t  Roe  ", ("Jane", "Roe")),
        ("   ", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_full_name(name, expected):
    assert split_full_name(name) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Jane.Roe@Example.COM ", "jane.roe@example.com"), ("JANE@EXAMPLE.ORG", "jane@example.org")],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["jane", "jane@", "jane@example", "jane@exa mple.com", "a@@example.com"])
def test_normalize_email_rejects(raw):
    with pytest.raises(ValueError, match="not a valid email address"):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "us", "+14155552671"),
        ("+1 212 736 5000", None, "+12127365000"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_normalize_phone(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [("(415) 555-2671", None), ("12345", "US"), ("+1 123 456 7890", None), ("call me", "US"), ("+999 1234", None)],
)
def test_normalize_phone_rejects(raw, region):
    with pytest.raises(ValueError, match="not a valid phone number"):
        normalize_phone(raw, region)


@pytest.mark.parametrize(
    "value", [True, 1, "1", "true", "YES", "y", "on", "checked", "Agree", "agreed", "accept", "accepted", "Opt-In"]
)
def test_parse_bool_true(value):
    assert parse_bool(value) is True


@pytest.mark.parametrize("value", [False, 0, "0", "false", "No", "n", "OFF", ""])
def test_parse_bool_false(value):
    assert parse_bool(value) is False


@pytest.mark.parametrize("value", [None, "maybe", 2, "I have read the terms", [], {}])
def test_parse_bool_unknown(value):
    assert parse_bool(value) is None


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{first_name}  {last_name} inquiry", "Jane inquiry"),
        ("{company_name} - {custom_fields.plan}", "- Pro"),
        ("{nope} {custom_fields.nope} {0} {}", ""),
        ("Plan {custom_fields.plan!r:>10}", "Plan Pro"),
        ("{first_name:%Y}", "Jane"),
        ("{first_name", "{first_name"),
        ("oops }", "oops }"),
        ("{{literal}} {first_name}", "{literal} Jane"),
        ("{tags}", "a, b"),
    ],
)
def test_render_template(template, expected):
    values = {"first_name": "Jane", "tags": ["a", "b"], "custom_fields": {"plan": "Pro"}}
    assert render_template(template, values) == expected


# --- LeadDraft + finalize ------------------------------------------------------------------


def test_minimal_lead_gets_source_and_tags():
    assert lead(("email", "jane@example.com")) == {
        "email": "jane@example.com",
        "source": "website_form",
        "tags": ["website"],
    }


def test_explicit_names_win_over_full_name_in_any_order():
    assert lead(("name", "Jane Roe"), ("first_name", "Janet"))["first_name"] == "Janet"
    payload = lead(("last_name", "Smith"), ("full_name", "Jane Roe"), ("first_name", "Janet"))
    assert (payload["first_name"], payload["last_name"]) == ("Janet", "Smith")
    payload = lead(("full_name", "Jane Roe"), ("last_name", "Smith"))
    assert (payload["first_name"], payload["last_name"]) == ("Jane", "Smith")


def test_full_name_only():
    payload = lead(("full_name", "  Jane   van der Berg "))
    assert (payload["first_name"], payload["last_name"]) == ("Jane", "van der Berg")
    assert "last_name" not in lead(("name", "Cher"))


def test_emails_deduplicated_against_primary_in_order():
    payload = lead(
        ("email", "Jane@Example.com"),
        ("emails", ["jane@example.com", "work@example.com"]),
        ("email", " WORK@example.com"),
        ("emails", "home@example.com"),
    )
    assert payload["email"] == "jane@example.com"
    assert payload["emails"] == ["work@example.com", "home@example.com"]


def test_invalid_email_skipped_for_primary_and_kept_raw():
    payload = lead(("email", "jane@"), ("email", "jane@example.com"), ("email", "x@y"))
    assert payload["email"] == "jane@example.com"
    assert "emails" not in payload
    assert payload["custom_fields"] == {"raw_email": ["jane@", "x@y"]}


def test_phones_e164_and_deduplicated():
    payload = lead(("phone", "(415) 555-2671"), ("phones", ["+14155552671", "212-736-5000"]))
    assert payload["phone"] == "+14155552671"
    assert payload["phones"] == ["+12127365000"]


def test_phone_without_region_needs_country_code():
    payload = lead(("email", "jane@example.com"), ("phone", "(415) 555-2671"), phone_region=None)
    assert "phone" not in payload
    assert payload["custom_fields"]["raw_phone"] == "(415) 555-2671"
    assert lead(("phone", "+1 415 555 2671"), phone_region=None)["phone"] == "+14155552671"


def test_invalid_phone_kept_as_raw_phone_when_email_exists():
    payload = lead(("email", "jane@example.com"), ("phone", "12345"))
    assert "phone" not in payload
    assert payload["custom_fields"] == {"raw_phone": "12345"}


def test_no_contact_field_is_unprocessable_naming_each_bad_field():
    with pytest.raises(Unprocessable) as caught:
        lead(("email", "not-an-email"), ("phone", "12345"), ("company_name", "Acme"))
    err = caught.value
    assert err.status == 422
    assert err.message == "no usable contact field"
    assert set(err.errors) == {"email", "phone", "contact"}
    assert err.errors["email"].startswith("not a valid email address: 'not-an-email'")
    assert err.errors["phone"].startswith("not a valid phone number: '12345'")
    assert "first_name, last_name, email or phone" in err.errors["contact"]


def test_empty_lead_is_unprocessable_with_contact_error_only():
    with pytest.raises(Unprocessable) as caught:
        lead(("first_name", "   "), ("email", ""), ("phone", None), ("custom_fields.x", "y"))
    assert set(caught.value.errors) == {"contact"}


@pytest.mark.parametrize("target", [None, "", "-", "drop"])
def test_drop_targets_discard_the_value(target):
    assert lead(("email", "jane@example.com"), (target, "Secret")) == lead(("email", "jane@example.com"))


def test_strings_are_stripped_and_company_fields_kept():
    payload = lead(
        ("first_name", "  Jane "),
        ("company_name", " Acme "),
        ("company_id", "c-1"),
        ("assignee_id", "u-9"),
        ("company_name", "Other"),
    )
    assert payload["first_name"] == "Jane"
    assert (payload["company_name"], payload["company_id"], payload["assignee_id"]) == ("Acme", "c-1", "u-9")


def test_descriptions_joined_with_blank_line():
    assert (
        lead(("first_name", "J"), ("description", "one"), ("description", " "), ("description", "two"))["description"]
        == "one\n\ntwo"
    )


def test_source_override():
    assert lead(("first_name", "J"), ("source", "landing_page"))["source"] == "landing_page"
    assert lead(("first_name", "J"), source="from_config")["source"] == "from_config"


def test_tags_deduplicated_case_insensitively_keeping_first_spelling():
    payload = lead(
        ("first_name", "J"), ("tags", "VIP, WEBSITE ,, Demo"), ("tags", ["demo", "vip", "New"]), tags=("website",)
    )
    assert payload["tags"] == ["website", "VIP", "Demo", "New"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["yes"], True),
        (["off"], False),
        (["no", "on"], True),
        (["on", "no"], True),
        (["", "  "], None),
        (["maybe"], None),
    ],
)
def test_opt_in(values, expected):
    payload = lead(("first_name", "J"), *[("opt_in_status", v) for v in values])
    assert payload.get("opt_in_status") is expected


def test_unreadable_opt_in_kept_raw():
    payload = lead(("first_name", "J"), ("opt_in_status", "I accept the terms"))
    assert payload["custom_fields"] == {"raw_opt_in_status": "I accept the terms"}


def test_custom_fields_repeat_into_lists_and_keep_scalars():
    payload = lead(
        ("first_name", "J"),
        ("custom_fields.interest", "a"),
        ("custom_fields.interest", "b"),
        ("custom_fields.interest", ["c"]),
        ("custom_fields.size", 12),
        ("custom_fields.flag", False),
        ("custom_fields.blank", "  "),
        ("custom_fields.plan", " pro "),
    )
    assert payload["custom_fields"] == {"interest": ["a", "b", "c"], "size": 12, "flag": False, "plan": "pro"}


def test_deal_with_template():
    deal = {"title": "{company_name} - {custom_fields.plan}", "value": 500.0, "currency": "eur", "stage": None}
    payload = lead(("first_name", "J"), ("company_name", "Acme"), ("custom_fields.plan", "Pro"), deal=deal)
    assert payload["deal"] == {"title": "Acme - Pro", "value": 500.0, "currency": "EUR"}


def test_deal_title_missing_placeholders_render_empty():
    deal = {"title": DEFAULT_TITLE, "value": 0.0, "currency": "USD", "stage": "new", "pipeline_id": "p-1"}
    payload = lead(("full_name", "Jane Roe"), deal=deal)
    assert payload["deal"] == {"title": "Jane Roe inquiry", "value": 0.0, "currency": "USD", "stage": "new",
                               "pipeline_id": "p-1"}  # fmt: skip


@pytest.mark.parametrize("title", [None, "{nope}", "", "  {nope}  {custom_fields.nope} ", "{unbalanced"])
def test_deal_title_falls_back_only_when_nothing_at_all_rendered(title):
    deal = {"title": title, "value": 0.0, "currency": "USD"}
    expected = "{unbalanced" if title == "{unbalanced" else "Lead from contact-us"
    assert lead(("email", "jane@example.com"), deal=deal)["deal"]["title"] == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("{company_name} demo call", "demo call"),
        ("Call with {first_name} {last_name} of {company_name}", "Call with of"),
        ("{first_name}   {company_name}   demo", "demo"),
        (DEFAULT_TITLE, "inquiry"),  # configured: the operator's words stay
    ],
)
def test_a_configured_deal_title_renders_missing_placeholders_empty_and_collapses_the_spaces(title, expected):
    deal = {"title": title, "value": 0.0, "currency": "USD"}
    assert lead(("email", "jane@example.com"), deal=deal)["deal"]["title"] == expected


def test_without_a_title_the_built_in_one_names_the_lead():
    deal = {"title": None, "value": 0.0, "currency": "USD"}
    payload = lead(("full_name", "Jane Roe"), ("company_name", "Acme"), deal=deal)
    assert payload["deal"]["title"] == "Acme Jane Roe inquiry"


def test_payload_passes_the_contract_schema():
    payload = lead(
        ("name", "Jane Roe"),
        ("email", "jane@example.com"),
        ("phone", "bad"),
        ("opt_in_status", "yes"),
        deal={"title": DEFAULT_TITLE, "value": 10.0, "currency": "USD"},
    )
    assert LeadPayloadSchema().validate(payload) == {}


TARGETS = st.sampled_from(
    [
        "first_name",
        "last_name",
        "full_name",
        "email",
        "emails",
        "phone",
        "phones",
        "company_name",
        "description",
        "tags",
        "opt_in_status",
        "source",
        "custom_fields.x",
        "drop",
    ]  # fmt: skip
)
VALUES = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[a-zA-Z.]{1,8}@[a-z]{1,8}\.(com|org)", fullmatch=True),
    st.from_regex(r"\+?[0-9 ()-]{3,16}", fullmatch=True),
    st.integers(),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=10), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(TARGETS, VALUES), max_size=8), region=st.sampled_from([None, "US", "GB"]))
def test_finalize_returns_a_valid_lead_or_unprocessable(pairs, region):
    draft = LeadDraft()
    for target, value in pairs:
        draft.assign(target, value)
    source = make_source(phone_region=region, deal={"title": DEFAULT_TITLE, "value": 0.0, "currency": "USD"})
    try:
        payload = finalize(draft, source)
    except Unprocessable as err:
        assert "contact" in err.errors
        return
    assert any(isinstance(payload.get(name), str) and payload[name].strip() for name in CONTACT_FIELDS)
    assert LeadPayloadSchema().validate(payload) == {}
    assert payload["deal"]["title"].strip()


# --- control characters ----------------------------------------------------------------------

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
LINE_BREAK = re.compile(r"[\t\n\r]")


@pytest.mark.parametrize(
    ("text", "multiline", "expected"),
    [
        ("Ja\x00ne", False, "Jane"),
        ("Acme\tInc", False, "Acme Inc"),
        ("one\r\ntwo", False, "one two"),
        ("one\r\ntwo\tthree", True, "one\r\ntwo\tthree"),
        ("bell\x07 esc\x1b del\x7f nel\x85", True, "bell esc del nel"),
        ("caf\u00e9 \u2603", False, "caf\u00e9 \u2603"),
    ],
)
def test_plain_text(text, multiline, expected):
    assert plain_text(text, multiline) == expected


def test_control_characters_are_stripped_from_every_lead_field():
    payload = lead(
        ("full_name", "Jane\x00 Doe"),
        ("email", "jane@example.com\x00"),
        ("company_name", "Acme\nInc\x1b"),
        ("description", "line one\r\nline\x00 two"),
        ("custom_fields.no\x00te", "a\x07b\nc"),
        ("custom_fields.answers", ["x\x00", {"k\x01": "v\x02"}]),
        ("tags", "hot\x00,new\tlead"),
    )
    assert (payload["first_name"], payload["last_name"], payload["email"]) == ("Jane", "Doe", "jane@example.com")
    assert payload["company_name"] == "Acme Inc"
    assert payload["description"] == "line one\r\nline two"
    assert payload["custom_fields"] == {"note": "ab\nc", "answers": ["x", {"k": "v"}]}
    assert payload["tags"] == ["website", "hot", "new lead"]


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(TARGETS, VALUES), max_size=8))
def test_no_control_character_reaches_the_payload(pairs):
    draft = LeadDraft()
    for target, value in pairs:
        draft.assign(target, value)
    try:
        payload = finalize(draft, make_source())
    except Unprocessable:
        return
    assert not CONTROL.search(json.dumps(payload, ensure_ascii=False))
    multiline = _strings(payload.get("custom_fields", {})) + [payload.get("description", "")]
    single = [s for s in _strings({k: v for k, v in payload.items() if k != "custom_fields"}) if s not in multiline]
    assert not any(LINE_BREAK.search(s) for s in single)
