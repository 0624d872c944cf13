"""The ``google_ads`` kind: key checks, body parsing, exact ids and column mapping."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from marshmallow import ValidationError

from adapters import get_adapter
from adapters import google_ads
from adapters.base import Accepted
from adapters.base import BadInput
from adapters.base import InboundRequest
from adapters.base import Reply
from adapters.base import Unauthorized
from adapters.base import Unprocessable
from leadgate.config import SourceConfig

KEY = "s3cret-google-key"

STANDARD_COLUMNS = [
    {"column_name": "Full Name", "string_value": "Jane van der Berg", "column_id": "FULL_NAME"},
    {"column_name": "User Email", "string_value": "Jane@Example.com", "column_id": "EMAIL"},
    {"column_name": "User Phone", "string_value": "+1 415 555 2671", "column_id": "PHONE_NUMBER"},
    {"column_name": "Work Email", "string_value": "jane@acme.example", "column_id": "WORK_EMAIL"},
    {"column_name": "Work Phone", "string_value": "+14155550123", "column_id": "WORK_PHONE"},
    {"column_name": "Company Name", "string_value": "Acme", "column_id": "COMPANY_NAME"},
    {"column_name": "Job Title", "string_value": "CTO", "column_id": "JOB_TITLE"},
    {"column_name": "Street Address", "string_value": "1 Main St", "column_id": "STREET_ADDRESS"},
    {"column_name": "City", "string_value": "San Francisco", "column_id": "CITY"},
    {"column_name": "Region", "string_value": "CA", "column_id": "REGION"},
    {"column_name": "Country", "string_value": "US", "column_id": "COUNTRY"},
    {"column_name": "Postal Code", "string_value": "94105", "column_id": "POSTAL_CODE"},
]

LEAD: dict[str, Any] = {
    "lead_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-0123456789-AaBbCcDdEeFf",
    "api_version": "1.0",
    "form_id": 40000000000,
    "campaign_id": 21000000000,
    "adgroup_id": 20000000000,
    "creative_id": 30000000000,
    "asset_group_id": 0,
    "gcl_id": "EAIaIQobChMI-click",
    "google_key": KEY,
    "is_test": False,
    "lead_stage": "new",
    "lead_submit_time": "2026-11-20T12:30:00Z",
    "user_column_data": STANDARD_COLUMNS,
}

METADATA = {
    "lead_id": LEAD["lead_id"],
    "form_id": "40000000000",
    "campaign_id": "21000000000",
    "adgroup_id": "20000000000",
    "creative_id": "30000000000",
    "gcl_id": "EAIaIQobChMI-click",
    "lead_submit_time": "2026-11-20T12:30:00Z",
    "lead_stage": "new",
    "api_version": "1.0",
}


def make_source(field_map: dict[str, Any] | None = None, **options: Any) -> SourceConfig:
    return SourceConfig(
        id="google",
        kind="google_ads",
        destination="main",
        source="google_ads",
        tags=("ads",),
        phone_region="US",
        field_map=field_map or {},
        deal=None,
        options=google_ads.Options().load({"google_key": KEY, **options}),
    )


def post(body: bytes | Any) -> InboundRequest:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return InboundRequest(method="POST", content_type="application/json", body=data)


def lead(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(LEAD)
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


def parse_one(body: bytes | Any, source: SourceConfig | None = None):
    [event] = google_ads.parse(post(body), source or make_source())
    return event


def normalize(body: Any, source: SourceConfig | None = None) -> dict[str, Any]:
    source = source or make_source()
    return google_ads.normalize(parse_one(body, source).raw, source)


def columns(*pairs: tuple[str | None, str | None, Any]) -> list[dict[str, Any]]:
    out = []
    for column_id, name, value in pairs:
        column: dict[str, Any] = {"string_value": value}
        if column_id is not None:
            column["column_id"] = column_id
        if name is not None:
            column["column_name"] = name
        out.append(column)
    return out


# --- module shape and options --------------------------------------------------------------


def test_module_constants_and_registration():
    assert (google_ads.KIND, google_ads.DEFAULT_SOURCE, google_ads.NORMALIZE_ON_RECEIVE) == (
        "google_ads",
        "google_ads",
        True,
    )
    assert get_adapter("google_ads") is google_ads


def test_options_default_and_validation():
    assert google_ads.Options().load({"google_key": "k"}) == {"google_key": "k", "test_leads": "tag"}
    for bad in ({}, {"google_key": ""}, {"google_key": None}, {"google_key": "k", "test_leads": "keep"}):
        with pytest.raises(ValidationError):
            google_ads.Options().load(bad)


# --- verify ---------------------------------------------------------------------------------


def test_verify_accepts_the_configured_key_in_either_spelling():
    google_ads.verify(post(lead()), make_source())
    google_ads.verify(post(lead(google_key=..., Google_key=KEY)), make_source())


@pytest.mark.parametrize(
    "body",
    [
        lead(google_key="wrong"),
        lead(google_key=KEY.upper()),
        lead(google_key=KEY + "x"),
        lead(google_key=...),
        lead(google_key=""),
        lead(google_key=None),
        lead(google_key=12345),
        lead(google_key=..., Google_key="wrong"),
        lead(google_key=..., GOOGLE_KEY=KEY),
    ],
    ids=["wrong", "case", "longer", "missing", "empty", "null", "number", "capital-wrong", "other-spelling"],
)
def test_verify_refuses_a_wrong_or_missing_key(body):
    with pytest.raises(Unauthorized):
        google_ads.verify(post(body), make_source())


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"text"', b'{"google_key": NaN}'], ids=repr
)
def test_verify_refuses_a_body_that_is_not_a_json_object_with_400(body):
    with pytest.raises(BadInput) as err:
        google_ads.verify(post(body), make_source())
    assert err.value.status == 400


# --- parse ----------------------------------------------------------------------------------


def test_parse_stores_the_lead_without_its_key_and_dedupes_on_lead_id():
    event = parse_one(lead(google_key=..., Google_key=KEY, extra={"future": 1.5}))
    assert event.outcome == "queued"
    assert event.dedupe_keys == (LEAD["lead_id"],)
    assert "google_key" not in event.raw and "Google_key" not in event.raw
    assert KEY not in json.dumps(event.raw)
    assert event.raw["user_column_data"] == STANDARD_COLUMNS
    assert event.raw["extra"] == {"future": 1.5}
    assert {name: event.raw[name] for name in ("form_id", "campaign_id", "asset_group_id")} == {
        "form_id": "40000000000",
        "campaign_id": "21000000000",
        "asset_group_id": "0",
    }


def test_int64_ids_are_kept_exact_as_strings():
    body = (
        b'{"lead_id": 9223372036854775807, "form_id": 9223372036854775807, "campaign_id": 9007199254740993,'
        b' "adgroup_id": 12345678901234567, "creative_id": "98765432109876543", "asset_group_id": 9007199254740993.0,'
        b' "asset_id": 1.2345678901234567e18, "google_key": "s3cret-google-key",'
        b' "user_column_data": [{"column_id": "EMAIL", "string_value": "a@b.co"}]}'
    )
    raw = parse_one(body).raw
    assert raw["lead_id"] == "9223372036854775807"
    assert raw["form_id"] == "9223372036854775807"
    assert raw["campaign_id"] == "9007199254740993"  # float(...) would give ...992
    assert raw["adgroup_id"] == "12345678901234567"
    assert raw["creative_id"] == "98765432109876543"
    assert raw["asset_group_id"] == "9007199254740993"
    assert raw["asset_id"] == "1234567890123456700"
    assert json.loads(json.dumps(raw)) == raw
    lead_fields = google_ads.normalize(raw, make_source())["custom_fields"]
    assert lead_fields["campaign_id"] == "9007199254740993"
    assert lead_fields["form_id"] == "9223372036854775807"


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"campaign_id": 1.5}, "campaign_id"),
        ({"form_id": True}, "form_id"),
        ({"adgroup_id": {"id": 1}}, "adgroup_id"),
        ({"lead_id": ["x"]}, "lead_id"),
        ({"gcl_id": {"a": 1}}, "gcl_id"),
        ({"user_column_data": {"column_id": "EMAIL", "string_value": "a@b.co"}}, "user_column_data"),
        ({"user_column_data": "EMAIL=a@b.co"}, "user_column_data"),
        ({"user_column_data": ...}, "user_column_data"),
        ({"user_column_data": None}, "user_column_data"),
        ({"user_column_data": ["a@b.co"]}, "user_column_data[0]"),
        (
            {"user_column_data": [{"column_id": "EMAIL", "string_value": ["a@b.co"]}]},
            "user_column_data[0].string_value",
        ),
        ({"user_column_data": [{"column_id": 7, "string_value": "x"}, {"column_name": False}]}, "user_column_data[1]"),
    ],
)
def test_parse_refuses_wrong_types_naming_the_field(changes, where):
    with pytest.raises(BadInput) as err:
        parse_one(lead(**changes))
    assert err.value.status == 400
    assert where in err.value.message
    assert any(key.startswith(where) for key in err.value.errors)


def test_parse_refuses_a_body_that_is_a_list():
    with pytest.raises(BadInput, match="JSON object"):
        parse_one([lead()])


def test_numbers_in_text_fields_keep_their_exact_text():
    body = (
        b'{"lead_id": 123, "api_version": 1.0,'
        b' "user_column_data": [{"column_id": "PHONE_NUMBER", "string_value": 14155552671}]}'
    )
    event = parse_one(body)
    assert (event.raw["lead_id"], event.raw["api_version"]) == ("123", "1.0")
    assert event.dedupe_keys == ("123",)
    assert event.raw["user_column_data"][0]["string_value"] == "14155552671"


@pytest.mark.parametrize(
    ("mode", "outcome", "tags"),
    [("tag", "queued", ["ads", "test-lead"]), ("drop", "ignored", None), ("deliver", "queued", ["ads"])],
)
def test_test_leads_follow_the_configured_mode(mode, outcome, tags):
    source = make_source(test_leads=mode)
    event = parse_one(lead(is_test=True), source)
    assert event.outcome == outcome
    assert event.dedupe_keys == (LEAD["lead_id"],)
    if outcome == "ignored":
        assert event.reason == "test lead"
    else:
        assert google_ads.normalize(event.raw, source)["tags"] == tags


@pytest.mark.parametrize("mode", ["tag", "drop", "deliver"])
def test_real_leads_are_never_tagged_or_dropped(mode):
    source = make_source(test_leads=mode)
    for is_test in (False, ..., None):
        event = parse_one(lead(is_test=is_test), source)
        assert event.outcome == "queued"
        assert google_ads.normalize(event.raw, source)["tags"] == ["ads"]


def test_a_lead_without_lead_id_has_no_platform_dedupe_key():
    assert parse_one(lead(lead_id=...)).dedupe_keys == ()
    assert parse_one(lead(lead_id="  ")).dedupe_keys == ()


# --- normalize ------------------------------------------------------------------------------


def test_every_standard_column_is_mapped():
    assert normalize(lead()) == {
        "first_name": "Jane",
        "last_name": "van der Berg",
        "email": "jane@example.com",
        "emails": ["jane@acme.example"],
        "phone": "+14155552671",
        "phones": ["+14155550123"],
        "company_name": "Acme",
        "source": "google_ads",
        "tags": ["ads"],
        "custom_fields": {
            "job_title": "CTO",
            "street_address": "1 Main St",
            "city": "San Francisco",
            "region": "CA",
            "country": "US",
            "postal_code": "94105",
            **METADATA,
        },
    }


def test_work_email_and_phone_are_primary_without_personal_ones_whatever_the_order():
    body = lead(
        user_column_data=columns(
            ("WORK_PHONE", "Work Phone", "+14155550123"),
            ("WORK_EMAIL", "Work Email", "jane@acme.example"),
            ("FIRST_NAME", "First Name", "Jane"),
            ("LAST_NAME", "Last Name", "Roe"),
        )
    )
    result = normalize(body)
    assert (result["email"], result["phone"]) == ("jane@acme.example", "+14155550123")
    assert "emails" not in result and "phones" not in result
    assert (result["first_name"], result["last_name"]) == ("Jane", "Roe")

    personal_after_work = lead(
        user_column_data=columns(
            ("WORK_EMAIL", "Work Email", "jane@acme.example"),
            ("EMAIL", "User Email", "jane@example.com"),
            ("WORK_PHONE", "Work Phone", "+14155550123"),
            ("PHONE_NUMBER", "User Phone", "+14155552671"),
        )
    )
    result = normalize(personal_after_work)
    assert (result["email"], result["emails"]) == ("jane@example.com", ["jane@acme.example"])
    assert (result["phone"], result["phones"]) == ("+14155552671", ["+14155550123"])


def test_custom_questions_go_to_custom_fields_under_their_question_text():
    body = lead(
        user_column_data=columns(
            ("EMAIL", "User Email", "jane@example.com"),
            ("1234567890", "What is your budget?", "5000-10000"),
            ("QUESTION_2", "When can we call you?", "Mornings"),
            ("987", None, "no question text"),
            (None, None, "neither"),
            ("VEHICLE_MODEL", "Which model are you interested in?", "Roadster"),
            ("GOVERNMENT_ISSUED_ID_CPF_BR", "CPF", "123.456.789-09"),
        )
    )
    custom = normalize(body)["custom_fields"]
    assert custom["What is your budget?"] == "5000-10000"
    assert custom["When can we call you?"] == "Mornings"
    assert custom["987"] == "no question text"
    assert custom["column_5"] == "neither"
    assert custom["vehicle_model"] == "Roadster"
    assert custom["government_issued_id_cpf_br"] == "123.456.789-09"


def test_field_map_redirects_by_question_text_or_column_id():
    body = lead(
        user_column_data=columns(
            ("EMAIL", "User Email", "jane@example.com"),
            ("1234567890", "What is your budget?", "5000"),
            ("555", "Preferred contact time", "evening"),
            ("JOB_TITLE", "Job Title", "CTO"),
            ("COMPANY_NAME", "Company", "Acme"),
        )
    )
    source = make_source(
        {
            "What is your budget?": "custom_fields.budget",
            "555": "description",
            "job title": "-",
            "COMPANY_NAME": "custom_fields.employer",
            "gcl_id": "custom_fields.gclid",
            "lead_stage": None,
        }
    )
    result = normalize(body, source)
    custom = result["custom_fields"]
    assert custom["budget"] == "5000" and "What is your budget?" not in custom
    assert result["description"] == "evening"
    assert "job_title" not in custom
    assert "company_name" not in result and custom["employer"] == "Acme"
    assert custom["gclid"] == LEAD["gcl_id"] and "gcl_id" not in custom
    assert "lead_stage" not in custom


def test_missing_optional_fields_are_left_out():
    body = {
        "lead_id": "L-1",
        "google_key": KEY,
        "user_column_data": columns(("FULL_NAME", "Full Name", "Cher"), ("PHONE_NUMBER", None, "(415) 555-2671")),
    }
    assert normalize(body) == {
        "first_name": "Cher",
        "phone": "+14155552671",
        "source": "google_ads",
        "tags": ["ads"],
        "custom_fields": {"lead_id": "L-1"},
    }


def test_blank_answers_and_unset_asset_group_are_skipped():
    body = lead(
        user_column_data=columns(("EMAIL", "User Email", "jane@example.com"), ("CITY", "City", "  "), ("x", "Q", None))
    )
    custom = normalize(body)["custom_fields"]
    assert "city" not in custom and "Q" not in custom
    assert "asset_group_id" not in custom
    assert normalize(lead(asset_group_id=555))["custom_fields"]["asset_group_id"] == "555"


def test_invalid_email_is_kept_as_raw_when_another_contact_field_exists():
    body = lead(user_column_data=columns(("EMAIL", None, "not-an-email"), ("PHONE_NUMBER", None, "+14155552671")))
    result = normalize(body)
    assert result["phone"] == "+14155552671"
    assert result["custom_fields"]["raw_email"] == "not-an-email"


def test_no_usable_contact_field_is_unprocessable():
    body = lead(user_column_data=columns(("EMAIL", None, "nope"), ("1", "What is your budget?", "5000")))
    with pytest.raises(Unprocessable) as err:
        normalize(body)
    assert "email" in err.value.errors
    assert google_ads.ACCEPT_UNPROCESSABLE is True


def test_normalize_uses_the_current_mapping_on_the_stored_event():
    event = parse_one(lead(user_column_data=columns(("EMAIL", None, "a@b.co"), ("1", "Budget?", "5")))).raw
    stored = json.loads(json.dumps(event))
    assert google_ads.normalize(stored, make_source())["custom_fields"]["Budget?"] == "5"
    remapped = google_ads.normalize(stored, make_source({"Budget?": "custom_fields.budget"}))
    assert remapped["custom_fields"]["budget"] == "5"


# --- acknowledge ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["queued", "duplicate", "ignored", "rejected"])
def test_acknowledge_answers_200_with_an_empty_object(status):
    accepted = [Accepted(event_id="ev_1", status=status, duplicate=status == "duplicate")]
    assert google_ads.acknowledge(accepted, post(lead()), make_source()) == Reply(200, {})
