"""The ``facebook`` adapter on its own: config, handshake, signature, batch parsing, lead mapping."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from adapters import facebook
from adapters import get_adapter
from adapters.base import Accepted
from adapters.base import BadInput
from adapters.base import InboundRequest
from adapters.base import NotALead
from adapters.base import Unauthorized
from adapters.base import Unprocessable
from leadgate.config import ConfigError
from leadgate.config import SourceConfig
from tests.support.config import parse_yaml
from tests.support.graph_api import APP_SECRET
from tests.support.graph_api import PAGE_ID
from tests.support.graph_api import VERIFY_TOKEN
from tests.support.graph_api import leadgen_change
from tests.support.graph_api import notification
from tests.support.graph_api import sign

CONFIG = """
destinations:
  main: {{base_url: "http://127.0.0.1:9"}}
sources:
  fb:
    kind: facebook
    app_secret: ${{FB_APP_SECRET}}
    verify_token: ${{FB_VERIFY_TOKEN}}
    access_token: ${{FB_PAGE_TOKEN}}
{extra}
"""
ENV = {"FB_APP_SECRET": APP_SECRET, "FB_VERIFY_TOKEN": VERIFY_TOKEN, "FB_PAGE_TOKEN": "tok-main"}


def make_source(extra: str = "") -> SourceConfig:
    return parse_yaml(CONFIG.format(extra=extra), ENV).sources["fb"]


@pytest.fixture
def source() -> SourceConfig:
    return make_source('    phone_region: US\n    field_map: {"what_is_your_budget?": custom_fields.budget}')


def post(body: bytes, signature: str | None = None, **headers: str) -> InboundRequest:
    all_headers = {"content-type": "application/json", **{k.lower(): v for k, v in headers.items()}}
    if signature is not None:
        all_headers["x-hub-signature-256"] = signature
    return InboundRequest(method="POST", content_type="application/json", body=body, headers=all_headers)


def get(**query: str) -> InboundRequest:
    return InboundRequest(method="GET", content_type="", body=b"", query={k: [v] for k, v in query.items()})


def body_of(data: Any) -> bytes:
    return json.dumps(data).encode()


# config


def test_registered_with_its_defaults(source):
    assert get_adapter("facebook") is facebook
    assert facebook.NORMALIZE_ON_RECEIVE is False
    assert source.source == "facebook_lead_ads"
    assert source.option("graph_api_url") == "https://graph.facebook.com/v21.0"
    assert source.option("page_tokens") == {}


@pytest.mark.parametrize("missing", ["FB_APP_SECRET", "FB_VERIFY_TOKEN", "FB_PAGE_TOKEN"])
def test_unset_secret_is_a_config_error_naming_the_key(missing):
    key = {"FB_APP_SECRET": "app_secret", "FB_VERIFY_TOKEN": "verify_token", "FB_PAGE_TOKEN": "access_token"}[missing]
    env = {name: value for name, value in ENV.items() if name != missing}
    with pytest.raises(ConfigError, match=rf"sources\.fb\.{key}"):
        parse_yaml(CONFIG.format(extra=""), env)


def test_page_tokens_accept_unquoted_numeric_page_ids():
    source = make_source("    page_tokens:\n      1234567890: other-token\n      '42': t42")
    assert source.option("page_tokens") == {"1234567890": "other-token", "42": "t42"}
    assert facebook.token_for(source, 1234567890) == "other-token"
    assert facebook.token_for(source, "42") == "t42"
    assert facebook.token_for(source, "777") == "tok-main"
    assert facebook.token_for(source, None) == "tok-main"


def test_bad_page_id_and_bad_graph_url_are_config_errors():
    with pytest.raises(ConfigError, match="page_tokens"):
        make_source("    page_tokens: {'not a page/../x': t}")
    with pytest.raises(ConfigError, match="graph_api_url"):
        make_source("    graph_api_url: ftp://graph.example")
    with pytest.raises(ConfigError, match="verify_tokn: Unknown field"):
        make_source("    verify_tokn: typo")


# handshake


def test_handshake_echoes_the_challenge_as_plain_text(source):
    reply = facebook.handshake(
        get(**{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}), source
    )
    assert (reply.status, reply.body, reply.content_type) == (200, "1158201444", "text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ],
)
def test_handshake_refuses_a_wrong_token_or_mode(source, query):
    reply = facebook.handshake(get(**query), source)
    assert reply.status == 403
    assert reply.body["ok"] is False


def test_handshake_without_challenge_is_400(source):
    reply = facebook.handshake(get(**{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}), source)
    assert reply.status == 400


# signature


def test_good_signature_passes_and_upper_case_hex_too(source):
    body = body_of(notification([leadgen_change("1")]))
    facebook.verify(post(body, sign(body)), source)
    facebook.verify(post(body, "sha256=" + sign(body)[7:].upper()), source)


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha256=00", "sha1=abcdef", sign(b"other body"), sign(b"{}", "another-secret")],
)
def test_missing_or_wrong_signature_is_unauthorized(source, signature):
    body = body_of(notification([leadgen_change("1")]))
    with pytest.raises(Unauthorized):
        facebook.verify(post(body, signature), source)


def test_body_altered_after_signing_is_unauthorized(source):
    body = body_of(notification([leadgen_change("1")]))
    signature = sign(body)
    with pytest.raises(Unauthorized):
        facebook.verify(post(body.replace(b'"1"', b'"2"'), signature), source)


def test_signature_is_over_the_raw_bytes_with_non_ascii_and_escapes(source):
    # Meta escapes "/" and non-ASCII; re-serialising the parsed JSON would change the bytes.
    raw = '{"object":"page","entry":[{"id":"1001","time":1,"note":"Zo\\u00eb \\/ Ünal %","changes":[]}]}'.encode()
    facebook.verify(post(raw, sign(raw)), source)
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    with pytest.raises(Unauthorized):
        facebook.verify(post(reserialised, sign(raw)), source)


# parsing


def test_every_leadgen_change_of_every_entry_is_one_event(source):
    data = notification(
        [leadgen_change("11", ad_id="501", adgroup_id="502"), leadgen_change("12")],
        [leadgen_change("13", page_id="2002"), {"field": "feed", "value": {"item": "post"}}],
    )
    events = facebook.parse(post(body_of(data)), source)
    assert [e.dedupe_keys for e in events] == [("11",), ("12",), ("13",)]
    assert all(e.outcome == "queued" for e in events)
    assert events[0].raw == {
        "webhook": {
            "leadgen_id": "11",
            "page_id": PAGE_ID,
            "form_id": "9001",
            "adgroup_id": "502",
            "ad_id": "501",
            "created_time": 1764324990,
        },
        "entry_time": 1764325000,
    }
    assert events[2].raw["webhook"]["page_id"] == "2002"


def test_ids_as_json_numbers_are_kept_exactly_as_strings(source):
    big = 2**63 + 12345  # beyond float precision
    raw = (
        '{"object":"page","entry":[{"id":1001,"time":1764325000,"changes":[{"field":"leadgen","value":'
        f'{{"leadgen_id":{big},"page_id":1001,"form_id":9001,"ad_id":1.2e16,"created_time":1764324990}}}}]}}]}}'
    ).encode()
    [event] = facebook.parse(post(raw), source)
    webhook = event.raw["webhook"]
    assert webhook["leadgen_id"] == str(big) and event.dedupe_keys == (str(big),)
    assert (webhook["page_id"], webhook["form_id"], webhook["ad_id"]) == ("1001", "9001", "12000000000000000")
    json.dumps(event.raw)  # storable


def test_page_id_falls_back_to_the_entry_id(source):
    data = notification([{"field": "leadgen", "value": {"leadgen_id": "77"}}], page_id=555)
    [event] = facebook.parse(post(body_of(data)), source)
    assert event.raw["webhook"] == {"leadgen_id": "77", "page_id": "555"}


def test_no_leadgen_change_means_no_event(source):
    data = notification([{"field": "feed", "value": {}}], [])
    assert facebook.parse(post(body_of(data)), source) == []
    assert facebook.parse(post(body_of({"object": "page", "entry": []})), source) == []


@pytest.mark.parametrize(
    "value", [{"page_id": "1"}, {"leadgen_id": ""}, {"leadgen_id": True}, {"leadgen_id": "1/../me"}, "str", None]
)
def test_malformed_leadgen_change_is_rejected_without_failing_the_batch(source, value):
    data = notification([{"field": "leadgen", "value": value}, leadgen_change("88")])
    bad, good = facebook.parse(post(body_of(data)), source)
    assert bad.outcome == "rejected" and "leadgen" in bad.reason and bad.dedupe_keys == ()
    assert good.outcome == "queued" and good.dedupe_keys == ("88",)


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"object": "page"}', b'{"entry": {}}', b'{"entry": [NaN]}', b"\xff\xfe"]
)
def test_body_that_is_not_a_notification_is_bad_input(source, body):
    with pytest.raises(BadInput):
        facebook.parse(post(body), source)


def test_a_thousand_changes_parse_quickly(source):
    changes = [leadgen_change(str(10_000 + i)) for i in range(1000)]
    body = body_of(notification(changes[:500], changes[500:]))
    started = time.perf_counter()
    events = facebook.parse(post(body), source)
    assert len(events) == 1000 and len({e.dedupe_keys for e in events}) == 1000
    assert time.perf_counter() - started < 0.5


def test_acknowledge_is_200_with_counts(source):
    accepted = [Accepted("ev_1", "queued"), Accepted("ev_0", "duplicate", duplicate=True)]
    reply = facebook.acknowledge(accepted, post(b"{}"), source)
    assert reply.status == 200
    assert reply.body == {"ok": True, "events": 2, "duplicates": 1}
    assert facebook.acknowledge([], post(b"{}"), source).status == 200


# mapping


def graph_lead(field_data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    lead = {
        "id": "123456789",
        "created_time": "2026-11-20T10:00:00+0000",
        "field_data": [{"name": k, "values": v if isinstance(v, list) else [v]} for k, v in field_data.items()],
        "ad_id": "3001",
        "ad_name": "Winter promo",
        "adset_id": "3002",
        "campaign_id": "3003",
        "campaign_name": "Q4 leads",
        "form_id": "9001",
        "is_organic": False,
        "platform": "ig",
    }
    lead.update(extra)
    return lead


def raw_with(lead: dict[str, Any] | None, **webhook: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"webhook": {"leadgen_id": "123456789", "page_id": PAGE_ID, "form_id": "9001", **webhook}}
    if lead is not None:
        raw["lead"] = lead
    return raw


def test_standard_fields_custom_questions_and_metadata(source):
    lead = graph_lead(
        {
            "full_name": "Zoë van der Berg",
            "email": "Zoe@Example.com",
            "phone_number": "(415) 555-2671",
            "company_name": "Acme",
            "job_title": "CTO",
            "city": "Springfield",
            "state": "IL",
            "zip_code": "62701",
            "country": "US",
            "street_address": "1 Main St",
            "date_of_birth": "1990-01-31",
            "gender": "female",
            "which_plan_are_you_interested_in?": "pro",
            "what_is_your_budget?": "5000",
            "which_features?": ["api", "sso"],
        }
    )
    payload = facebook.normalize(raw_with(lead), source)
    assert payload["first_name"] == "Zoë" and payload["last_name"] == "van der Berg"
    assert payload["email"] == "zoe@example.com"
    assert payload["phone"] == "+14155552671"
    assert payload["company_name"] == "Acme"
    assert payload["source"] == "facebook_lead_ads"
    assert payload["custom_fields"] == {
        "job_title": "CTO",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
        "country": "US",
        "street_address": "1 Main St",
        "date_of_birth": "1990-01-31",
        "gender": "female",
        "which_plan_are_you_interested_in?": "pro",
        "budget": "5000",
        "which_features?": ["api", "sso"],
        "leadgen_id": "123456789",
        "page_id": PAGE_ID,
        "form_id": "9001",
        "ad_id": "3001",
        "ad_name": "Winter promo",
        "adset_id": "3002",
        "campaign_id": "3003",
        "campaign_name": "Q4 leads",
        "created_time": "2026-11-20T10:00:00+0000",
        "is_organic": False,
        "platform": "ig",
    }
    assert "opt_in_status" not in payload


def test_explicit_first_and_last_name_beat_the_full_name(source):
    lead = graph_lead({"full_name": "Jane Q Roe", "last_name": "Doe", "first_name": "Janet", "email": "j@example.com"})
    payload = facebook.normalize(raw_with(lead), source)
    assert (payload["first_name"], payload["last_name"]) == ("Janet", "Doe")


@pytest.mark.parametrize("work_first", [True, False])
def test_work_email_and_phone_are_extras_after_the_personal_ones(source, work_first):
    answers = [("work_email", "jane@corp.example"), ("work_phone_number", "+14155550199")]
    personal = [("email", "jane@home.example"), ("phone_number", "+14155552671")]
    ordered = answers + personal if work_first else personal + answers
    payload = facebook.normalize(raw_with(graph_lead(dict(ordered))), source)
    assert payload["email"] == "jane@home.example" and payload["emails"] == ["jane@corp.example"]
    assert payload["phone"] == "+14155552671" and payload["phones"] == ["+14155550199"]


def test_work_email_and_phone_are_primary_when_personal_ones_are_missing(source):
    payload = facebook.normalize(
        raw_with(graph_lead({"work_email": "jane@corp.example", "work_phone_number": "415 555 0199"})), source
    )
    assert payload["email"] == "jane@corp.example" and "emails" not in payload
    assert payload["phone"] == "+14155550199"


def test_field_map_redirects_standard_and_custom_keys_and_metadata():
    source = make_source(
        "    field_map:\n"
        "      job_title: description\n"
        "      company_name: custom_fields.employer\n"
        "      Which-Plan: tags\n"
        "      gender: drop\n"
        "      campaign_name: tags\n"
        "      ad_name: drop\n"
        "      'secret_question?': null"
    )
    lead = graph_lead(
        {
            "email": "a@example.com",
            "job_title": "CTO",
            "company_name": "Acme",
            "which_plan": "pro",
            "gender": "x",
            "secret_question?": "42",
        }
    )
    payload = facebook.normalize(raw_with(lead), source)
    assert payload["description"] == "CTO"
    assert payload["tags"] == ["pro", "Q4 leads"]
    custom = payload["custom_fields"]
    assert custom["employer"] == "Acme"
    assert "company_name" not in payload
    for gone in ("gender", "ad_name", "campaign_name", "secret_question?", "which_plan", "job_title"):
        assert gone not in custom


@pytest.mark.parametrize(
    ("responses", "opt_in", "recorded"),
    [
        ([{"checkbox_key": "marketing_optin", "is_checked": "1"}], True, {"consent_marketing_optin": True}),
        ([{"checkbox_key": "marketing_optin", "is_checked": True}], True, {"consent_marketing_optin": True}),
        ([{"checkbox_key": "marketing_optin", "is_checked": "0"}], False, {"consent_marketing_optin": False}),
        ([{"checkbox_key": "marketing_optin", "is_checked": ""}], False, {"consent_marketing_optin": False}),
        (
            [{"checkbox_key": "terms", "is_checked": "0"}, {"checkbox_key": "news", "is_checked": "1"}],
            True,
            {"consent_terms": False, "consent_news": True},
        ),
        ([], None, {}),
    ],
)
def test_checked_disclaimers_set_opt_in(source, responses, opt_in, recorded):
    lead = graph_lead({"email": "a@example.com"}, custom_disclaimer_responses=responses)
    payload = facebook.normalize(raw_with(lead), source)
    assert payload.get("opt_in_status") == opt_in
    for key, value in recorded.items():
        assert payload["custom_fields"][key] == value


def test_a_mapped_disclaimer_does_not_count_as_marketing_consent():
    source = make_source("    field_map: {terms_accepted: custom_fields.terms}")
    responses = [{"checkbox_key": "terms_accepted", "is_checked": "1"}]
    payload = facebook.normalize(
        raw_with(graph_lead({"email": "a@example.com"}, custom_disclaimer_responses=responses)), source
    )
    assert "opt_in_status" not in payload
    assert payload["custom_fields"]["terms"] is True


def test_webhook_fills_what_the_lead_object_lacks(source):
    lead = {"id": "55", "field_data": [{"name": "email", "values": ["a@example.com"]}]}
    raw = raw_with(lead, leadgen_id="55", adgroup_id="600", ad_id="601")
    custom = facebook.normalize(raw, source)["custom_fields"]
    assert custom == {"leadgen_id": "55", "page_id": PAGE_ID, "form_id": "9001", "ad_id": "601", "adset_id": "600"}


def test_lead_not_fetched_is_unprocessable(source):
    with pytest.raises(Unprocessable, match="not been fetched"):
        facebook.normalize(raw_with(None), source)


def test_lead_without_contact_is_unprocessable_naming_bad_fields(source):
    lead = graph_lead({"email": "not-an-email", "phone_number": "12", "city": "Paris"})
    with pytest.raises(Unprocessable) as err:
        facebook.normalize(raw_with(lead), source)
    assert {"email", "phone", "contact"} <= set(err.value.errors)


def test_testing_tool_dummy_values_mark_the_lead_and_are_never_contact_data(source):
    lead = graph_lead(
        {
            "email": "test@fb.com",
            "full_name": "<test lead: dummy data for full_name>",
            "phone_number": "<test lead: dummy data for phone_number>",
        },
        is_organic=True,
    )
    payload = facebook.normalize(raw_with(lead), source)
    assert payload["email"] == "test@fb.com"
    assert "first_name" not in payload and "last_name" not in payload and "phone" not in payload
    assert payload["custom_fields"]["test_lead"] is True
    assert "raw_phone" not in payload["custom_fields"]
    assert payload["tags"] == ["test-lead"]
    assert "<test lead" not in json.dumps(payload)


def test_upper_case_field_names_are_the_standard_questions(source):
    lead = graph_lead(
        {"EMAIL": "Jane@Example.com", "FULL_NAME": "Jane van Dijk", "PHONE_NUMBER": "+14155550132", "CITY": "Austin"}
    )
    payload = facebook.normalize(raw_with(lead), source)
    assert (payload["email"], payload["phone"]) == ("jane@example.com", "+14155550132")
    assert (payload["first_name"], payload["last_name"]) == ("Jane", "van Dijk")
    assert payload["custom_fields"]["city"] == "Austin"


def test_a_test_lead_of_dummy_answers_only_is_not_a_lead():
    lead = graph_lead(
        {"EMAIL": "<test lead: dummy data for email>", "FULL_NAME": "<test lead: dummy data for full_name>"}
    )
    with pytest.raises(NotALead, match="dummy"):
        facebook.normalize(raw_with(lead), make_source())


@pytest.mark.parametrize(("mode", "tags"), [("tag", ["test-lead"]), ("deliver", None)])
def test_test_leads_follow_the_configured_mode(mode, tags):
    lead = graph_lead({"email": "jane@example.com", "full_name": "<test lead: dummy data for full_name>"})
    payload = facebook.normalize(raw_with(lead), make_source(f"    test_leads: {mode}"))
    assert payload.get("tags") == tags
    assert payload["custom_fields"]["test_lead"] is True


def test_test_leads_drop_keeps_a_test_lead_out_of_the_crm():
    lead = graph_lead({"email": "jane@example.com", "full_name": "<test lead: dummy data for full_name>"})
    with pytest.raises(NotALead, match="test_leads is drop"):
        facebook.normalize(raw_with(lead), make_source("    test_leads: drop"))
    real = facebook.normalize(raw_with(graph_lead({"email": "jane@example.com"})), make_source("    test_leads: drop"))
    assert real["email"] == "jane@example.com"


def test_odd_field_data_items_are_skipped(source):
    lead = graph_lead({"email": "a@example.com"})
    lead["field_data"] += [
        {"values": ["x"]},
        "junk",
        {"name": "empty_answer", "values": []},
        {"name": "single", "values": "v"},
    ]
    custom = facebook.normalize(raw_with(lead), source)["custom_fields"]
    assert custom["single"] == "v" and "empty_answer" not in custom
