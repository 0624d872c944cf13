"""The ``typeform`` kind: signatures, event parsing and the answer-to-lead mapping."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from marshmallow import ValidationError

from adapters import get_adapter
from adapters import typeform
from adapters.base import Accepted
from adapters.base import BadInput
from adapters.base import InboundRequest
from adapters.base import Unauthorized
from adapters.base import Unprocessable
from leadgate.config import SourceConfig

SECRET = "tf-secret-123"


def make_source(field_map: dict[str, Any] | None = None, **overrides: Any) -> SourceConfig:
    settings: dict[str, Any] = {
        "id": "tf",
        "kind": "typeform",
        "destination": "main",
        "source": "typeform",
        "tags": ("typeform",),
        "phone_region": None,
        "field_map": field_map or {},
        "deal": None,
        "options": typeform.Options().load({"secret": SECRET}),
    }
    return SourceConfig(**{**settings, **overrides})


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def request(body: bytes | dict[str, Any], signature: str | None = "sign") -> InboundRequest:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {} if signature is None else {"typeform-signature": sign(data) if signature == "sign" else signature}
    return InboundRequest(method="POST", content_type="application/json", body=data, headers=headers)


def field(field_id: str, ref: str, field_type: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"id": field_id, "ref": ref, "type": field_type, "title": title, **extra}


def answer(definition: dict[str, Any], answer_type: str, value: Any) -> dict[str, Any]:
    own = {"id": definition["id"], "type": definition["type"], "ref": definition["ref"]}
    return {"type": answer_type, answer_type: value, "field": own}


FIRST = field("f01", "first_name", "short_text", "What's your first name?")
LAST = field("f02", "b7a5f2c0-1d3e-4f5a-8b9c-0d1e2f3a4b5c", "short_text", "And your last name, {{field:f01}}?")
EMAIL = field("f03", "work_email", "email", "Work email")
PHONE = field("f04", "phone", "phone_number", "Phone number")
COMPANY = field("f05", "d1c2b3a4-0000-4000-8000-000000000005", "short_text", "Company name")
PLAN = field("f06", "plan", "multiple_choice", "Which plan?", choices=[{"id": "c1", "label": "Pro"}])
TOPICS = field("f07", "topics", "multiple_choice", "Topics?", allow_multiple_selections=True)
BUDGET = field("f08", "budget_ref", "number", "Budget (USD)")
NEWSLETTER = field("f09", "newsletter", "yes_no", "Newsletter?")
START = field("f10", "start_date", "date", "When do you want to start?")
SITE = field("f11", "website", "website", "Your website")
DECK = field("f12", "deck", "file_upload", "Upload your deck")
RATING = field("f13", "rating", "rating", "How would you rate us?")
NPS = field("f14", "nps", "opinion_scale", "How likely are you to recommend us?")
PAY = field("f15", "deposit", "payment", "Deposit", properties={"currency": "eur"})
HEARD = field("f16", "c0ffee00-1111-4222-8333-444455556666", "dropdown", "How did you hear about us?")
MESSAGE = field("f17", "message", "long_text", "Anything else?")

ANSWERS = [
    answer(FIRST, "text", "Zoë"),
    answer(LAST, "text", "Ångström"),
    answer(EMAIL, "email", "Zoe@Example.com"),
    answer(PHONE, "phone_number", "+14155552671"),
    answer(COMPANY, "text", "Acme GmbH"),
    answer(PLAN, "choice", {"id": "c1", "label": "Pro", "ref": "plan-pro"}),
    answer(TOPICS, "choices", {"labels": ["Billing", "API"], "other": "Webhooks", "ids": ["t1", "t2"]}),
    answer(BUDGET, "number", 5000),
    answer(NEWSLETTER, "boolean", False),
    answer(START, "date", "2026-12-01"),
    answer(SITE, "url", "https://acme.example"),
    answer(DECK, "file_url", "https://api.typeform.com/responses/files/abc/deck.pdf"),
    answer(RATING, "number", 4),
    answer(NPS, "number", 9),
    answer(PAY, "payment", {"amount": "49.00", "last4": "4242", "name": "Zoe A", "success": True}),
    answer(HEARD, "choice", {"other": "A podcast"}),
    answer(MESSAGE, "text", "  Call me after 5pm.  "),
]


def event(
    answers: list[dict[str, Any]] | None = None,
    *,
    fields: list[dict[str, Any]] | None = None,
    event_id: str = "01JEVENT0001",
    token: str = "tok-0001",
    **response: Any,
) -> dict[str, Any]:
    """A complete ``form_response`` webhook body as Typeform sends it."""
    chosen = ANSWERS if answers is None else answers
    defined = fields if fields is not None else [a["field"]["id"] for a in chosen]
    by_id = {f["id"]: f for f in ALL_FIELDS}
    body = {
        "event_id": event_id,
        "event_type": "form_response",
        "form_response": {
            "form_id": "AbC123",
            "token": token,
            "landed_at": "2026-11-20T12:00:00Z",
            "submitted_at": "2026-11-20T12:03:00Z",
            "hidden": {"utm_source": "newsletter", "utm_campaign": "fall", "gclid": ""},
            "calculated": {"score": 7},
            "variables": [
                {"key": "score", "type": "number", "number": 7},
                {"key": "tier", "type": "text", "text": "A"},
            ],
            "definition": {
                "id": "AbC123",
                "title": "Contact us",
                "fields": [by_id[f] if isinstance(f, str) else f for f in defined],
            },
            "answers": chosen,
            "ending": {"id": "e1", "ref": "qualified"},
        },
    }
    body["form_response"].update(response)
    return copy.deepcopy(body)


ALL_FIELDS = [FIRST, LAST, EMAIL, PHONE, COMPANY, PLAN, TOPICS, BUDGET, NEWSLETTER, START, SITE]
ALL_FIELDS += [DECK, RATING, NPS, PAY, HEARD, MESSAGE]


def normalize(body: dict[str, Any], source: SourceConfig | None = None) -> dict[str, Any]:
    return typeform.normalize(body, source or make_source())


def only(*answers: dict[str, Any], **response: Any) -> dict[str, Any]:
    """A response holding just these answers, no hidden fields, score, variables or ending."""
    base = {"hidden": {}, "calculated": {}, "variables": [], "ending": None}
    return event(list(answers), **{**base, **response})


# --- module shape, options and signatures ---------------------------------------------------


def test_module_is_registered_with_its_constants():
    assert get_adapter("typeform") is typeform
    assert (typeform.KIND, typeform.DEFAULT_SOURCE) == ("typeform", "typeform")
    assert typeform.NORMALIZE_ON_RECEIVE is True and typeform.ACCEPT_UNPROCESSABLE is True


def test_options_require_a_secret_and_refuse_unknown_keys():
    assert typeform.Options().load({"secret": "s"}) == {"secret": "s"}
    for options in ({}, {"secret": ""}, {"secret": None}, {"secret": "s", "honeypot": "x"}):
        with pytest.raises(ValidationError):
            typeform.Options().load(options)


def test_good_signature_passes():
    typeform.verify(request(event()), make_source())


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "sha256=not base64!",
        sign(b"another body"),
        sign(b"x", secret="wrong"),
        "sha1=" + sign(b"x")[7:],
        "sha256=" + hmac.new(SECRET.encode(), b"{}", hashlib.sha256).hexdigest(),
    ],
)
def test_missing_or_wrong_signature_is_unauthorized(signature):
    body = json.dumps(event()).encode()
    req = request(body, signature=signature)
    with pytest.raises(Unauthorized):
        typeform.verify(req, make_source())


def test_hex_encoded_signature_of_the_right_body_is_refused():
    body = json.dumps(event()).encode()
    hex_digest = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(Unauthorized):
        typeform.verify(request(body, signature=hex_digest), make_source())


def test_signature_is_over_the_raw_unicode_bytes():
    raw = json.dumps(event(), ensure_ascii=False).encode()
    assert "Zoë".encode() in raw
    typeform.verify(request(raw), make_source())
    reserialized = json.dumps(json.loads(raw)).encode()  # \u00eb escapes: same JSON, other bytes
    with pytest.raises(Unauthorized):
        typeform.verify(request(reserialized, signature=sign(raw)), make_source())


# --- parse -----------------------------------------------------------------------------------


def test_form_response_is_one_queued_event_holding_the_body():
    body = event()
    [parsed] = typeform.parse(request(body), make_source())
    assert parsed.outcome == "queued"
    assert parsed.raw == body
    assert parsed.dedupe_keys == ("event:01JEVENT0001", "token:tok-0001")


def test_dedupe_keys_only_name_ids_present():
    body = event()
    del body["form_response"]["token"]
    [parsed] = typeform.parse(request(body), make_source())
    assert parsed.dedupe_keys == ("event:01JEVENT0001",)


@pytest.mark.parametrize("event_type", ["form_response_partial", "form_updated", "ping"])
def test_other_event_types_are_ignored_with_a_reason(event_type):
    body = {**event(), "event_type": event_type}
    [parsed] = typeform.parse(request(body), make_source())
    assert parsed.outcome == "ignored"
    assert event_type in parsed.reason
    assert parsed.raw == body


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[1, 2]",
        b'"form_response"',
        b"\xff\xfe{}",
        b'{"event_type": "form_response", "form_response": {"answers": [], "calculated": {"score": NaN}}}',
        b'{"event_id": "x", "form_response": {}}',
        b'{"event_id": "x", "event_type": 3}',
    ],
)
def test_malformed_bodies_are_bad_input(body):
    with pytest.raises(BadInput):
        typeform.parse(request(body), make_source())


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.update(form_response=None),
        lambda b: b.update(form_response=[]),
        lambda b: b["form_response"].update(answers={"f01": "Jane"}),
        lambda b: b["form_response"]["answers"].append("Jane"),
        lambda b: b["form_response"]["answers"].append({"type": "text", "text": "x"}),
        lambda b: b["form_response"]["answers"].append({"type": "text", "text": "x", "field": {"type": "short_text"}}),
        lambda b: b["form_response"]["answers"].append({"text": "x", "field": {"id": "f99"}}),
        lambda b: b["form_response"].update(definition=[]),
        lambda b: b["form_response"]["definition"].update(fields={"id": "f01"}),
        lambda b: b["form_response"]["definition"]["fields"].append("f01"),
        lambda b: b["form_response"].update(hidden=["utm_source"]),
        lambda b: b["form_response"].update(calculated=7),
        lambda b: b["form_response"].update(variables={"score": 7}),
    ],
)
def test_malformed_form_response_is_bad_input(change):
    body = event()
    change(body)
    with pytest.raises(BadInput) as err:
        typeform.parse(request(body), make_source())
    assert "form_response" in err.value.message


def test_response_without_answers_or_definition_parses():
    body = event()
    del body["form_response"]["answers"], body["form_response"]["definition"]
    [parsed] = typeform.parse(request(body), make_source())
    assert parsed.outcome == "queued"


# --- normalize -------------------------------------------------------------------------------


def test_every_answer_type_hidden_fields_and_metadata():
    assert normalize(event()) == {
        "first_name": "Zoë",
        "last_name": "Ångström",
        "email": "zoe@example.com",
        "phone": "+14155552671",
        "company_name": "Acme GmbH",
        "source": "typeform",
        "tags": ["typeform"],
        "custom_fields": {
            "plan": "Pro",
            "topics": ["Billing", "API", "Webhooks"],
            "budget_ref": 5000,
            "newsletter": False,
            "start_date": "2026-12-01",
            "website": "https://acme.example",
            "deck": "https://api.typeform.com/responses/files/abc/deck.pdf",
            "rating": 4,
            "nps": 9,
            "deposit": {"amount": "49.00", "currency": "EUR", "success": True},
            "How did you hear about us?": "A podcast",
            "message": "Call me after 5pm.",
            "utm_source": "newsletter",
            "utm_campaign": "fall",
            "score": 7,
            "variables.score": 7,
            "variables.tier": "A",
            "ending": "qualified",
            "form_id": "AbC123",
            "token": "tok-0001",
            "landed_at": "2026-11-20T12:00:00Z",
            "submitted_at": "2026-11-20T12:03:00Z",
        },
    }


def test_payment_never_carries_card_details_and_currency_is_optional():
    pay = field("f15", "deposit", "payment", "Deposit")
    paid = answer(pay, "payment", {"amount": "10", "last4": "4242", "name": "Card Holder"})
    lead = normalize(only(answer(EMAIL, "email", "a@b.co"), paid, fields=[EMAIL, pay]))
    assert lead["custom_fields"] == {
        "deposit": {"amount": "10"},
        "form_id": "AbC123",
        "token": "tok-0001",
        "landed_at": "2026-11-20T12:00:00Z",
        "submitted_at": "2026-11-20T12:03:00Z",
    }


def test_multi_email_form_keeps_extras_in_emails():
    second = field("f20", "billing_email", "email", "Billing email")
    third = field("f21", "cc", "email", "Anyone else?")
    body = only(
        answer(EMAIL, "email", "jane@example.com"),
        answer(second, "email", "Billing@Example.com"),
        answer(third, "email", "JANE@example.com"),
        fields=[EMAIL, second, third],
    )
    lead = normalize(body)
    assert lead["email"] == "jane@example.com"
    assert lead["emails"] == ["billing@example.com"]


def test_invalid_email_is_kept_raw_when_another_contact_exists():
    lead = normalize(only(answer(EMAIL, "email", "not-an-email"), answer(PHONE, "phone_number", "+14155552671")))
    assert lead["phone"] == "+14155552671"
    assert lead["custom_fields"]["raw_email"] == "not-an-email"


@pytest.mark.parametrize("key", ["budget_ref", "f08", "Budget (USD)", "budget (usd)"])
def test_field_map_by_ref_id_or_title(key):
    lead = normalize(event(), make_source({key: "custom_fields.budget"}))
    assert lead["custom_fields"]["budget"] == 5000
    assert "budget_ref" not in lead["custom_fields"]


def test_field_map_ref_beats_id_beats_title():
    source = make_source({"Budget (USD)": "description", "f08": "tags", "budget_ref": "custom_fields.money"})
    assert normalize(event(), source)["custom_fields"]["money"] == 5000
    source = make_source({"Budget (USD)": "description", "f08": "custom_fields.by_id"})
    assert normalize(event(), source)["custom_fields"]["by_id"] == 5000


def test_field_map_wins_over_automatic_rules():
    source = make_source({"work_email": "custom_fields.work_email", "first_name": "-", "Company name": None})
    lead = normalize(event(), source)
    assert "email" not in lead and lead["custom_fields"]["work_email"] == "Zoe@Example.com"
    assert "first_name" not in lead and "company_name" not in lead
    assert lead["last_name"] == "Ångström"


def test_field_map_source_and_tags_targets():
    source = make_source({"How did you hear about us?": "source", "topics": "tags"})
    lead = normalize(event(), source)
    assert lead["source"] == "A podcast"
    assert lead["tags"] == ["typeform", "Billing", "API", "Webhooks"]
    assert "How did you hear about us?" not in lead["custom_fields"]


def test_field_map_applies_to_hidden_fields():
    body = event()
    body["form_response"]["hidden"]["known_email"] = "pre@filled.example"
    lead = normalize(body, make_source({"known_email": "email", "utm_source": "source"}))
    assert lead["emails"] == ["pre@filled.example"] and lead["source"] == "newsletter"
    assert "utm_source" not in lead["custom_fields"]


def test_field_map_with_unknown_target_rejects_instead_of_crashing():
    with pytest.raises(Unprocessable) as err:
        normalize(event(), make_source({"plan": "plan_name"}))
    assert "field_map.plan" in err.value.errors


@pytest.mark.parametrize(
    ("title", "target"),
    [
        ("What's your first name?", "first_name"),
        ("First name", "first_name"),
        ("Hi {{hidden:x}}! What is your given name?", "first_name"),
        ("Last name", "last_name"),
        ("And your surname?", "last_name"),
        ("Family name", "last_name"),
        ("Name", "full_name"),
        ("What is your name?", "full_name"),
        ("Your full name, please", "full_name"),
        ("Company", "company_name"),
        ("Company name", "company_name"),
        ("What's your company's name?", "company_name"),
        ("What is the name of your organisation?", "company_name"),
        ("Which company do you work for?", "company_name"),
        ("Organization", "company_name"),
        ("Name of your pet", None),
        ("Company size", None),
        ("What does your company do?", None),
        ("Who referred you?", None),
        ("Your username", None),
    ],
)
def test_person_and_company_names_by_title(title, target):
    asked = field("f30", "3f0d1c2b-aaaa-4bbb-8ccc-ddddeeeeffff", "short_text", title)
    lead = normalize(only(answer(EMAIL, "email", "a@b.co"), answer(asked, "text", "Jane Roe"), fields=[EMAIL, asked]))
    expected = {
        "first_name": {"first_name": "Jane Roe"},
        "last_name": {"last_name": "Jane Roe"},
        "full_name": {"first_name": "Jane", "last_name": "Roe"},
        "company_name": {"company_name": "Jane Roe"},
        None: {},
    }[target]
    found = {key: lead[key] for key in ("first_name", "last_name", "company_name") if key in lead}
    assert found == expected
    assert (title in lead["custom_fields"]) is (target is None)


@pytest.mark.parametrize(
    ("ref", "target"),
    [("first_name", "first_name"), ("lastName", "last_name"), ("full-name", "first_name"), ("company", "company_name")],
)
def test_names_by_ref_when_the_title_says_nothing(ref, target):
    asked = field("f31", ref, "short_text", "Tell us about you")
    lead = normalize(only(answer(EMAIL, "email", "a@b.co"), answer(asked, "text", "Jane"), fields=[EMAIL, asked]))
    assert lead[target] == "Jane"


def test_names_only_from_text_fields():
    dropdown = field("f32", "name", "dropdown", "Name")
    lead = normalize(only(answer(EMAIL, "email", "a@b.co"), answer(dropdown, "text", "Jane"), fields=[EMAIL, dropdown]))
    assert "first_name" not in lead and lead["custom_fields"]["name"] == "Jane"


def test_explicit_first_and_last_name_beat_a_full_name_answer():
    full = field("f33", "full_name", "short_text", "Full name")
    body = only(
        answer(full, "text", "Janet Q Public"),
        answer(FIRST, "text", "Jane"),
        answer(LAST, "text", "Roe"),
        fields=[full, FIRST, LAST],
    )
    lead = normalize(body, make_source())
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Roe")


def test_custom_field_key_is_the_readable_ref_else_the_title_else_the_id():
    titled = field("f40", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "short_text", "Favourite colour")
    untitled = {"id": "f41", "type": "short_text"}
    body = only(
        answer(EMAIL, "email", "a@b.co"),
        answer(titled, "text", "blue"),
        {"type": "text", "text": "x", "field": {"id": "f41", "type": "short_text"}},
        answer(PLAN, "choice", {"label": "Pro"}),
        fields=[EMAIL, titled, untitled, PLAN],
    )
    custom = normalize(body)["custom_fields"]
    assert custom["Favourite colour"] == "blue" and custom["f41"] == "x" and custom["plan"] == "Pro"


def test_answers_find_their_definition_by_ref_when_ids_differ():
    own = {"type": "text", "text": "Jane", "field": {"id": "other-id", "type": "short_text", "ref": "contact_a"}}
    lead = normalize(only(own, fields=[field("f01", "contact_a", "short_text", "First name")]))
    assert lead["first_name"] == "Jane"


def test_blank_hidden_fields_and_unknown_answer_types_are_dropped():
    odd = field("f50", "voice", "multi_format", "Say hello")
    body = only(
        answer(EMAIL, "email", "a@b.co"),
        {"type": "multi_format", "field": {"id": "f50", "type": "multi_format", "ref": "voice"}},
        fields=[EMAIL, odd],
        hidden={"utm_source": "", "utm_medium": None, "gclid": "g-1"},
    )
    custom = normalize(body)["custom_fields"]
    assert "voice" not in custom and "utm_source" not in custom and "utm_medium" not in custom
    assert custom["gclid"] == "g-1"


def test_no_usable_contact_field_is_unprocessable():
    body = only(answer(PLAN, "choice", {"label": "Pro"}), answer(EMAIL, "email", "nope"))
    with pytest.raises(Unprocessable) as err:
        normalize(body)
    assert set(err.value.errors) == {"email", "contact"}


def test_normalize_uses_the_current_field_map():
    contactless = field("f60", "reach_me", "short_text", "How can we reach you?")
    body = only(
        answer(PLAN, "choice", {"label": "Pro"}),
        answer(contactless, "text", "jane@example.com"),
        fields=[PLAN, contactless],
    )
    with pytest.raises(Unprocessable):
        normalize(body)
    assert normalize(body, make_source({"reach_me": "email"}))["email"] == "jane@example.com"


def test_phone_region_applies_to_local_numbers():
    lead = normalize(only(answer(PHONE, "phone_number", "(415) 555-2671")), make_source(phone_region="US"))
    assert lead["phone"] == "+14155552671"


def test_deal_is_built_from_mapped_fields():
    source = make_source(deal={"title": "{company_name}: {custom_fields.plan}", "value": 0, "currency": "usd"})
    assert normalize(event(), source)["deal"] == {"title": "Acme GmbH: Pro", "value": 0, "currency": "USD"}


# --- acknowledge -----------------------------------------------------------------------------


def test_acknowledge_is_200_json_for_every_outcome():
    req = request(event())
    for status, duplicate in (("queued", False), ("rejected", False), ("ignored", False), ("duplicate", True)):
        reply = typeform.acknowledge([Accepted("ev1", status, duplicate)], req, make_source())
        assert reply.status == 200
        assert reply.body == {"ok": True, "event_id": "ev1", "status": status, "duplicate": duplicate}
    many = typeform.acknowledge([Accepted("a", "queued"), Accepted("b", "ignored")], req, make_source())
    assert many.status == 200 and [e["event_id"] for e in many.body["events"]] == ["a", "b"]


EMAIL_FIELD = field("fe", "email", "email", "Email")
EMAIL_ANSWER = answer(EMAIL_FIELD, "email", "jane@example.com")


@pytest.mark.parametrize("ref", ["01H531GWVKAT474T5MS32VKKS9", "3f2b7c1e-8d4a-4e6f-9b0c-5a1d7e3f4b2c"])
def test_answers_with_a_generated_ref_are_keyed_by_their_question_title(ref):
    plan = field("Xy12", ref, "short_text", "Which plan?")
    body = only(EMAIL_ANSWER, answer(plan, "text", "Pro"), fields=[EMAIL_FIELD, plan])
    custom = normalize(body)["custom_fields"]
    assert custom["Which plan?"] == "Pro" and ref not in custom


def test_every_variable_is_kept_whatever_its_type():
    variables = [
        {"key": "score", "type": "number", "number": 3},
        {"key": "segment", "type": "text", "text": "smb"},
        {"key": "odd", "type": "string", "value": "kept"},
    ]
    custom = normalize(only(EMAIL_ANSWER, variables=variables, fields=[EMAIL_FIELD]))["custom_fields"]
    assert (custom["variables.score"], custom["variables.segment"], custom["variables.odd"]) == (3, "smb", "kept")


def test_a_legal_answer_is_kept_but_is_not_marketing_consent():
    terms = field("Lg1", "terms", "legal", "Do you accept our terms?")
    payload = normalize(only(EMAIL_ANSWER, answer(terms, "boolean", True), fields=[EMAIL_FIELD, terms]))
    assert payload["custom_fields"]["terms"] is True and "opt_in_status" not in payload
