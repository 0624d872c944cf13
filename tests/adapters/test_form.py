"""The ``form`` kind: Origin checks, body parsing, field guessing and the browser redirect."""

from __future__ import annotations

import json
from typing import Any

import pytest
from marshmallow import ValidationError

from adapters import form
from adapters.base import Accepted
from adapters.base import BadInput
from adapters.base import Forbidden
from adapters.base import InboundRequest
from adapters.base import PayloadTooLarge
from adapters.base import Reply
from adapters.base import Unprocessable
from adapters.base import UnsupportedMediaType
from leadgate.config import SourceConfig

URLENCODED = "application/x-www-form-urlencoded"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def make_source(field_map: dict[str, Any] | None = None, **options: Any) -> SourceConfig:
    return SourceConfig(
        id="contact-us",
        kind="form",
        destination="main",
        source="website_form",
        tags=("website",),
        phone_region="US",
        field_map=field_map or {},
        deal=None,
        options=form.Options().load(options),
    )


def form_post(*fields: tuple[str, str], content_type: str = URLENCODED, **headers: str) -> InboundRequest:
    return InboundRequest(method="POST", content_type=content_type, body=b"", headers=headers, form=tuple(fields))


def json_post(body: bytes | Any, **headers: str) -> InboundRequest:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return InboundRequest(method="POST", content_type="application/json; charset=utf-8", body=data, headers=headers)


def normalize(*fields: tuple[str, Any], source: SourceConfig | None = None) -> dict[str, Any]:
    raw = {"fields": [[name, value] for name, value in fields]}
    return form.normalize(raw, source or make_source())


def with_email(*fields: tuple[str, Any], source: SourceConfig | None = None) -> dict[str, Any]:
    return normalize(("email", "jane@example.com"), *fields, source=source)


# --- module shape and options --------------------------------------------------------------


def test_module_constants():
    assert (form.KIND, form.DEFAULT_SOURCE, form.NORMALIZE_ON_RECEIVE) == ("form", "website_form", True)


def test_options_defaults():
    assert form.Options().load({}) == {
        "honeypot": None,
        "redirect": None,
        "error_redirect": None,
        "allowed_origins": [],
        "rate_limit": None,
    }


@pytest.mark.parametrize(
    "options",
    [
        {"redirect": "ftp://example.com/thanks"},
        {"redirect": "thanks.html"},
        {"allowed_origins": ["example.com"]},
        {"allowed_origins": ["https://example.com/contact"]},
        {"allowed_origins": "https://example.com"},
        {"honeypot": ""},
        {"unknown": 1},
    ],
)
def test_options_rejects(options):
    with pytest.raises(ValidationError):
        form.Options().load(options)


def test_options_accepts_origins_with_ports_and_trailing_slash():
    loaded = form.Options().load({"allowed_origins": ["https://example.com/", "http://localhost:8080"]})
    assert loaded["allowed_origins"] == ["https://example.com/", "http://localhost:8080"]


# --- verify --------------------------------------------------------------------------------


ORIGINS = ["https://Example.com/", "http://localhost:8080"]


@pytest.mark.parametrize(
    "origin", ["https://example.com", "HTTPS://EXAMPLE.COM", "https://example.com:443", "http://localhost:8080/"]
)
def test_verify_allows_listed_origins(origin):
    form.verify(form_post(origin=origin), make_source(allowed_origins=ORIGINS))


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://example.com", "https://example.com:8443", "http://localhost", "null"]
)
def test_verify_rejects_other_origins(origin):
    with pytest.raises(Forbidden, match="origin") as caught:
        form.verify(form_post(origin=origin), make_source(allowed_origins=ORIGINS))
    assert caught.value.status == 403
    assert origin in caught.value.message


def test_verify_without_origin_header_passes():
    form.verify(form_post(), make_source(allowed_origins=ORIGINS))


def test_verify_without_allow_list_passes_any_origin():
    form.verify(form_post(origin="https://anywhere.example"), make_source())


# --- parse ---------------------------------------------------------------------------------


def test_parse_form_keeps_order_and_repeats():
    request = form_post(("email", "a@example.com"), ("interest", "x"), ("interest", "y"))
    [event] = form.parse(request, make_source())
    assert event.raw == {"fields": [["email", "a@example.com"], ["interest", "x"], ["interest", "y"]]}
    assert event.outcome == "queued"
    json.dumps(event.raw)


def test_parse_multipart_uses_decoded_fields():
    request = form_post(("name", "Jane"), content_type="multipart/form-data; boundary=xyz")
    assert form.parse(request, make_source())[0].raw == {"fields": [["name", "Jane"]]}


def test_parse_urlencoded_body_when_gateway_did_not_decode():
    request = InboundRequest(method="POST", content_type=URLENCODED, body=b"name=Jane+Roe&tag=a&tag=b&empty=")
    assert form.parse(request, make_source())[0].raw["fields"] == [
        ["name", "Jane Roe"],
        ["tag", "a"],
        ["tag", "b"],
        ["empty", ""],
    ]


def test_an_undecoded_urlencoded_body_is_held_to_the_source_limits():
    source = make_source()
    flood = InboundRequest(method="POST", content_type=URLENCODED, body=b"&".join([b"f=v"] * 1001))
    with pytest.raises(PayloadTooLarge) as caught:
        form.parse(flood, source)
    assert caught.value.errors == {"limit": "max_fields", "max": source.limits.max_fields}
    long_name = InboundRequest(method="POST", content_type=URLENCODED, body=b"n" * 201 + b"=v")
    with pytest.raises(BadInput):
        form.parse(long_name, source)


def test_a_json_post_is_held_to_the_source_limits():
    with pytest.raises(PayloadTooLarge):
        form.parse(json_post({"email": "a@example.com", "note": "x" * 20_001}), make_source())


def test_parse_json_object_is_stored_as_sent_and_read_at_any_depth():
    body = {"email": "a@example.com", "age": 41, "ok": True, "skip": None, "tags": ["a", "b"], "addr": {"city": "X"}}
    [event] = form.parse(json_post(body), make_source())
    assert event.raw == {"json": body}
    payload = form.normalize(event.raw, make_source())
    assert payload["email"] == "a@example.com"
    assert payload["custom_fields"] == {"age": 41, "ok": True, "city": "X"}
    assert {"a", "b"} <= set(payload["tags"])


def test_old_events_with_flattened_json_fields_still_normalize():
    raw = {"fields": [["email", "a@example.com"], ["addr.city", "X"]]}
    payload = form.normalize(raw, make_source())
    assert payload["email"] == "a@example.com" and payload["custom_fields"] == {"addr.city": "X"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"email": "a@example.com"}]', "not an array"),
        (b'"a@example.com"', "not a single value"),
        (b"42", "not a single value"),
        (b'{"email": ', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"n": NaN}', "not valid JSON"),
        (b'{"name": "\xff\xfe"}', "not valid UTF-8"),
    ],
)
def test_parse_bad_json(body, message):
    with pytest.raises(BadInput, match=message) as caught:
        form.parse(json_post(body), make_source())
    assert caught.value.status == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
def test_parse_unsupported_content_type(content_type):
    request = InboundRequest(method="POST", content_type=content_type, body=b"email=a@example.com")
    with pytest.raises(UnsupportedMediaType, match="application/json") as caught:
        form.parse(request, make_source())
    assert caught.value.status == 415
    assert URLENCODED in caught.value.message


def test_parse_honeypot_filled_is_spam():
    source = make_source(honeypot="website")
    [event] = form.parse(form_post(("email", "a@example.com"), ("website", "http://spam")), source)
    assert (event.outcome, event.reason) == ("spam", "honeypot")
    assert event.raw["fields"][1] == ["website", "http://spam"]


@pytest.mark.parametrize("fields", [(("website", ""),), (("website", "  "),), ()])
def test_parse_honeypot_empty_or_missing_is_not_spam(fields):
    [event] = form.parse(form_post(("email", "a@example.com"), *fields), make_source(honeypot="website"))
    assert event.outcome == "queued"


def test_parse_json_honeypot():
    [event] = form.parse(json_post({"email": "a@example.com", "hp": "x"}), make_source(honeypot="hp"))
    assert event.outcome == "spam"


# --- normalize -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["name", "full_name", "Full Name", "FULL-NAME"])
def test_full_name_aliases(name):
    payload = with_email((name, "Jane van der Berg"))
    assert (payload["first_name"], payload["last_name"]) == ("Jane", "van der Berg")


@pytest.mark.parametrize(
    ("name", "target", "value", "expected"),
    [
        *[(n, "first_name", "Jane", "Jane") for n in ("first_name", "fname", "firstname", "first", "First-Name")],
        *[(n, "last_name", "Roe", "Roe") for n in ("last_name", "lname", "lastname", "surname", "last", "LAST NAME")],
        *[
            (n, "company_name", "Acme", "Acme")
            for n in ("company", "company_name", "organization", "organisation", "Company-Name")
        ],
        *[
            (n, "description", "Hi", "Hi")
            for n in ("message", "comments", "comment", "notes", "description", "MESSAGE")
        ],
        *[(n, "opt_in_status", "on", True) for n in ("consent", "opt_in", "optin", "marketing_consent", "gdpr")],
        ("Opt-In", "opt_in_status", "no", False),
        ("tags", "tags", "vip, demo", ["website", "vip", "demo"]),
    ],
)
def test_aliases(name, target, value, expected):
    assert with_email((name, value))[target] == expected


@pytest.mark.parametrize("name", ["email", "e-mail", "E_Mail", "email_address", "Email Address", "mail", "EMAIL"])
def test_email_aliases(name):
    assert normalize((name, " Jane@Example.com "))["email"] == "jane@example.com"


@pytest.mark.parametrize(
    "name", ["phone", "tel", "telephone", "mobile", "phone_number", "Phone Number", "phone-number", "cell", "TEL"]
)
def test_phone_aliases(name):
    assert normalize((name, "(415) 555-2671"))["phone"] == "+14155552671"


def test_control_fields_and_submit_and_captcha_are_not_forwarded():
    payload = with_email(
        ("_next", "https://example.com/thanks"),
        ("_subject", "New lead"),
        ("submit", "Send"),
        ("g-recaptcha-response", "token"),
        ("", "nameless"),
    )
    assert "custom_fields" not in payload


def test_honeypot_field_is_not_forwarded():
    assert "custom_fields" not in with_email(("website", "x"), source=make_source(honeypot="website"))


def test_utm_and_unknown_fields_go_to_custom_fields_under_original_name():
    utm = [(n, f"v-{n}") for n in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")]
    payload = with_email(*utm, ("gclid", "G1"), ("fbclid", "F1"), ("Budget Range", "10k"), ("addr.city", "X"))
    assert payload["custom_fields"] == {
        **{n: f"v-{n}" for n, _ in utm},
        "gclid": "G1",
        "fbclid": "F1",
        "Budget Range": "10k",
        "addr.city": "X",
    }


def test_repeated_fields():
    payload = normalize(
        ("email", "jane@example.com"),
        ("email", "jane.work@example.com"),
        ("phone", "(415) 555-2671"),
        ("mobile", "212-736-5000"),
        ("interest", "a"),
        ("interest", "b"),
        ("message", "first"),
        ("comments", "second"),
    )
    assert payload["emails"] == ["jane.work@example.com"]
    assert payload["phones"] == ["+12127365000"]
    assert payload["custom_fields"] == {"interest": ["a", "b"]}
    assert payload["description"] == "first\n\nsecond"


def test_field_map_wins_over_aliases():
    field_map = {"Phone": "custom_fields.office_phone", "your-mail": "email", "message": None, "Plan": "tags"}
    payload = normalize(
        ("phone", "555"),
        ("YOUR_MAIL", "jane@example.com"),
        ("message", "dropped"),
        ("plan", "pro"),
        source=make_source(field_map),
    )
    assert payload == {
        "email": "jane@example.com",
        "source": "website_form",
        "tags": ["website", "pro"],
        "custom_fields": {"office_phone": "555"},
    }


def test_field_map_can_override_source():
    payload = with_email(("lead_source", "ppc"), source=make_source({"lead_source": "source"}))
    assert payload["source"] == "ppc"


def test_json_values_kept_as_scalars():
    [event] = form.parse(json_post({"email": "jane@example.com", "seats": 12, "consent": True}), make_source())
    payload = form.normalize(event.raw, make_source())
    assert payload["custom_fields"] == {"seats": 12}
    assert payload["opt_in_status"] is True


def test_invalid_phone_kept_raw_when_email_present():
    payload = with_email(("phone", "12345"))
    assert payload["custom_fields"] == {"raw_phone": "12345"}


def test_no_contact_field_is_unprocessable():
    with pytest.raises(Unprocessable) as caught:
        normalize(("email", "nope"), ("company", "Acme"), ("utm_source", "google"))
    assert set(caught.value.errors) == {"email", "contact"}


def test_stored_event_replays_with_current_field_map():
    posted = (("Work Mail", "jane@example.com"), ("Private Mail", "jane@home.example"), ("first", "Jane"))
    [event] = form.parse(form_post(*posted), make_source())
    before = form.normalize(event.raw, make_source())
    after = form.normalize(event.raw, make_source({"private mail": "email", "work mail": "custom_fields.work"}))
    # without a mapping, the first valid address is the email (recognised by value)
    assert before["email"] == "jane@example.com" and before["custom_fields"] == {"Private Mail": "jane@home.example"}
    assert after["email"] == "jane@home.example" and after["custom_fields"] == {"work": "jane@example.com"}


# --- acknowledge ---------------------------------------------------------------------------


ACCEPTED = [Accepted(event_id="e1", status="queued")]
REDIRECT = "https://example.com/thanks"


def test_acknowledge_redirects_browser_post():
    reply = form.acknowledge(ACCEPTED, form_post(accept=BROWSER_ACCEPT), make_source(redirect=REDIRECT))
    assert reply == Reply(303, "", content_type="text/html", headers={"Location": REDIRECT})


@pytest.mark.parametrize(
    "accept",
    ["", "*/*", "application/json", "application/json, text/html;q=0.5", "text/html;q=0", "text/*"],
)
def test_acknowledge_leaves_api_callers_to_the_default(accept):
    assert form.acknowledge(ACCEPTED, form_post(accept=accept), make_source(redirect=REDIRECT)) is None


def test_acknowledge_without_redirect_is_default():
    assert form.acknowledge(ACCEPTED, form_post(accept=BROWSER_ACCEPT), make_source()) is None


# --- recognition by value (no field name says email, phone or name) -------------------------------


def lead_of(*fields: tuple[str, str], **source: Any) -> dict[str, Any]:
    [event] = form.parse(form_post(*fields), make_source(**source))
    return form.normalize(event.raw, make_source(**source))


def test_a_valid_email_in_an_unnamed_field_becomes_the_email():
    lead = lead_of(("input_2", "Jane.Doe@Example.com"), ("input_3", "hello"))
    assert lead["email"] == "jane.doe@example.com"
    assert lead["custom_fields"] == {"input_3": "hello"}


def test_a_phone_is_recognised_by_value_only_where_the_name_allows_it():
    generated = lead_of(("email", "a@example.com"), ("input_4", "(415) 555-0132"))
    assert generated["phone"] == "+14155550132"
    named = lead_of(("email", "a@example.com"), ("order_number", "4155550132"), ("budget", "(415) 555-0132"))
    assert "phone" not in named  # neither name says phone, and neither is a generated id
    assert named["custom_fields"]["budget"] == "(415) 555-0132"


def test_short_numbers_are_never_phones():
    lead = lead_of(("email", "a@example.com"), ("number-647", "25"))
    assert "phone" not in lead and lead["custom_fields"]["number-647"] == "25"


def test_a_name_is_guessed_only_from_the_first_generated_text_field_and_kept_there_too():
    lead = lead_of(("text-948", "Marcus Webb"), ("email-460", "m@example.com"), ("text-271", "Jane Roe"))
    assert (lead["first_name"], lead["last_name"]) == ("Marcus", "Webb")
    assert lead["custom_fields"]["text-948"] == "Marcus Webb"


@pytest.mark.parametrize("value", ["Webb Freight Ltd", "marcus webb", "Call me 9am", "Marcus", "A B C D E"])
def test_values_that_do_not_look_like_a_persons_name_are_not_guessed(value):
    lead = lead_of(("text-948", value), ("email-460", "m@example.com"))
    assert "first_name" not in lead and lead["custom_fields"]["text-948"] == value


def test_field_map_wins_over_recognition_by_value():
    lead = lead_of(("input_2", "jane@example.com"), ("input_5", "boss@example.com"), field_map={"input_5": "email"})
    assert lead["email"] == "boss@example.com" and lead["custom_fields"] == {"input_2": "jane@example.com"}


def test_a_dialling_code_field_completes_the_phone():
    lead = lead_of(
        ("email", "a@example.com"), ("form_fields[dialling_code]", "+44"), ("form_fields[phone]", "7911 123457")
    )
    assert lead["phone"] == "+447911123457" and "dialling_code" not in lead.get("custom_fields", {})


def test_builder_bot_traps_are_honeypots():
    [event] = form.parse(form_post(("EMAIL", "a@example.com"), ("b_1a2b_3c4d", "http://spam")), make_source())
    assert (event.outcome, event.reason) == ("spam", "mailchimp bot trap")
    [event] = form.parse(form_post(("EMAIL", "a@example.com"), ("b_1a2b_3c4d", "")), make_source())
    assert event.outcome == "queued"
