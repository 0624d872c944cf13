"""Hypothesis strategies and the config for the property tests, shared by the adapter and the HTTP-layer ones.

`tests/adapters/test_properties.py` runs adapters on them directly; `tests/gateway/test_properties.py` posts the same
kinds of bodies through the HTTP layer. ``LEADGATE_HYPOTHESIS_EXAMPLES`` multiplies every ``max_examples``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from hypothesis import event as note
from hypothesis import strategies as st

from adapters import facebook
from adapters import get_adapter
from adapters.base import Accepted
from adapters.base import AdapterError
from adapters.base import InboundEvent
from adapters.base import InboundRequest
from adapters.base import Reply
from leadgate.config import Config
from leadgate.config import SourceConfig
from leadgate.contract import CONTACT_FIELDS
from leadgate.contract import LeadPayloadSchema
from tests.support.config import parse_yaml

EXAMPLES_FACTOR = max(1, int(os.environ.get("LEADGATE_HYPOTHESIS_EXAMPLES", "1") or 1))
"""Set ``LEADGATE_HYPOTHESIS_EXAMPLES=20`` to run twenty times the usual examples."""


def examples(count: int) -> int:
    return count * EXAMPLES_FACTOR


# --- the config: one source of every kind ------------------------------------------------------------

FB_APP_SECRET = "fb-app-secret-\u00e9"
FB_VERIFY_TOKEN = "fb-verify-token"
TF_SECRET = "tf-secret-\u00e9t\u00e9"
JSON_TOKEN = "json-token"
JSON_SECRET = "json-secret-\u00fc"
GOOGLE_KEY = "google-key"
REDIRECT = "https://example.com/thanks"
ALLOWED_ORIGIN = "https://example.com"

CONFIG = f"""
destinations:
  main:
    base_url: {{crm_url}}
    api_key: {{api_key}}
delivery:
  max_attempts: 3
  backoff_seconds: [0.05]
  timeout_seconds: 2
  jitter: 0
sources:
  web:
    kind: form
    honeypot: _gotcha
    redirect: {REDIRECT}
    allowed_origins: ["{ALLOWED_ORIGIN}", "http://localhost:8080"]
    phone_region: US
    source: "form-{{{{custom_fields.page}}}}"
    tags: [website, "{{{{custom_fields.utm_source}}}}"]
    field_map: {{{{org: company_name, budget: custom_fields.budget, ignore_me: null, Handy: phone}}}}
    deal: {{{{title: "{{{{company_name}}}} {{{{first_name}}}} inquiry", value: 250, stage: new}}}}
    max_body_bytes: 8192
  plain:
    kind: form
  batch:
    kind: json
    auth: none
    items: leads
    event_id: id
    phone_region: GB
    mapping:
      email: contact.email
      phone: contact.phone
      first_name: contact.first
      last_name: contact.last
      full_name: contact.name
      opt_in_status: consent
      tags: tags
      description: notes
      company_name: "company[0]"
      custom_fields.company_text: to_string(company)
      custom_fields.answers: answers
  signed:
    kind: json
    token: {JSON_TOKEN}
    secret: {JSON_SECRET}
    event_id: payload.id
    unmapped: drop
    field_map: {{{{utm_source: custom_fields.utm}}}}
    mapping:
      email: payload.email
      phone: payload.phone
      full_name: payload.name
      custom_fields.page: payload.page
  google:
    kind: google_ads
    google_key: {GOOGLE_KEY}
    phone_region: US
    tags: [google]
    field_map: {{{{"What is your budget?": custom_fields.budget}}}}
  tf:
    kind: typeform
    secret: {TF_SECRET}
    tags: [typeform]
    field_map: {{{{budget_ref: custom_fields.budget, "How did you hear about us?": source, reach_me: email}}}}
  fb:
    kind: facebook
    app_secret: {FB_APP_SECRET}
    verify_token: {FB_VERIFY_TOKEN}
    access_token: fb-page-token
    graph_api_url: http://127.0.0.1:9/v21.0
    phone_region: US
    field_map: {{{{"what_is_your_budget?": custom_fields.budget}}}}
"""
"""A ``make_config`` template (``{crm_url}``, ``{api_key}``); secrets are inlined so no environment is needed."""


def load_config(crm_url: str = "http://127.0.0.1:9", api_key: str = "cg_test") -> Config:
    return parse_yaml(CONFIG.format(crm_url=crm_url, api_key=api_key), {})


SOURCES: Mapping[str, SourceConfig] = load_config().sources
SOURCE_IDS = tuple(SOURCES)
KIND_SOURCES = {
    kind: [sid for sid, s in SOURCES.items() if s.kind == kind] for kind in {s.kind for s in SOURCES.values()}
}


# --- signing, the way each platform does ---------------------------------------------------------------


def hex_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def base64_signature(body: bytes, secret: str) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


SIGNATURE_HEADERS = ("X-Hub-Signature-256", "Typeform-Signature", "X-Signature-256")


def signature_value(header: str, body: bytes, mode: str) -> str | None:
    """The value of one signature header for ``body``: right, for another secret, mangled, or absent."""
    secret = {"X-Hub-Signature-256": FB_APP_SECRET, "Typeform-Signature": TF_SECRET}.get(header, JSON_SECRET)
    sign = base64_signature if header == "Typeform-Signature" else hex_signature
    if mode == "correct":
        return sign(body, secret)
    if mode == "upper":  # hex digests compare case-insensitively, base64 ones must not
        return sign(body, secret).upper()
    if mode == "other_secret":
        return sign(body, secret + "x")
    if mode == "other_body":
        return sign(body + b" ", secret)
    return None


SIGNING_MODES = ("correct", "correct", "correct", "upper", "other_secret", "other_body", "absent")


# --- values ------------------------------------------------------------------------------------------------


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], one_in: int = 4) -> st.SearchStrategy[Any]:
    """``odd`` about once in ``one_in`` draws, else ``usual``: deep enough to pass shape checks, odd enough to matter.

    (Not ``one_of``: it flattens nested branches, so the weights would follow how many each side has.)
    """
    # Hypothesis favours the bounds of an integer range, so the odd roll is one in the middle.
    return st.integers(0, one_in - 1).flatmap(lambda roll: odd if roll == 1 else usual)


def rarely(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """For list items: one odd item in ten keeps most lists well-formed."""
    return mostly(usual, odd, one_in=10)


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
"""Any JSON document Python's encoder writes: finite numbers, no lone surrogates, shallow."""

EMAILS = (
    "jane@example.com",
    "Jane.Roe+tag@Example.COM",
    " bob@example.org ",
    "zo\u00eb@b\u00fccher.de",
    "not-an-email",
    "a@b",
    "@example.com",
    "jane@@example.com",
    "x@localhost",
    "jane@example.com, bob@example.com",
    "a" * 70 + "@example.com",
)
PHONES = (
    "+14155552671",
    "(415) 555-2671",
    "415 555 2671 ext 9",
    "0044 20 7946 0958",
    "+442079460958",
    "020 7946 0958",
    "12",
    "+1",
    "+999999999999999999",
    "00",
    "phone",
    "\uff0b\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff12\uff16\uff17\uff11",
)
NAMES = (
    "Jane",
    "Roe",
    "Jane van der Berg",
    "Zo\u00eb \u00dcnal",
    "\u540d\u524d",
    " ",
    "",
    "{first_name}",
    "{custom_fields.page}",
    "{0}",
    "{",
    "}{",
    "%s",
    "\u200b",
)
CONTACT_TEXT = mostly(st.one_of(st.sampled_from(EMAILS + PHONES + NAMES), st.emails()), st.text(max_size=30))
"""Text a person types into a lead form, good and bad."""
CONTACT_VALUES = mostly(CONTACT_TEXT, JSON_VALUES)
"""What a JSON sender puts where a contact field should be: text, or any other JSON."""
GOOD_IDS = st.one_of(
    st.text(alphabet=string.digits, min_size=1, max_size=19),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=24),
)
IDS = mostly(
    GOOD_IDS,
    st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.booleans(),
        st.none(),
        JSON_VALUES,
    ),
)
"""Platform ids as platforms send them (decimal strings, int64 numbers) and as they should not."""

FORM_NAMES = mostly(
    st.sampled_from(
        (
            "email",
            "E-Mail",
            "Email Address",
            "phone",
            "Phone Number",
            "tel",
            "Handy",
            "name",
            "first_name",
            "fname",
            "last_name",
            "surname",
            "org",
            "company",
            "message",
            "consent",
            "gdpr",
            "tags",
            "budget",
            "ignore_me",
            "utm_source",
            "page",
            "submit",
            "g-recaptcha-response",
            "_gotcha",
            "_redirect",
            "",
            " ",
        )
    ),
    st.text(max_size=12),
)
"""Field names a form posts: the alias table's, the config's field_map keys, control fields, anything."""


# --- lead-shaped bodies, per kind -------------------------------------------------------------------------------


def shaped(
    required: Mapping[str, st.SearchStrategy[Any]] | None = None, **optional: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with every ``required`` key, any subset of the ``optional`` ones, and sometimes extra keys of any JSON."""
    known = st.fixed_dictionaries(dict(required or {}), optional=optional)
    extra = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2)
    return st.builds(lambda values, more: {**more, **values}, known, mostly(st.just({}), extra))


FORM_PAIRS = st.lists(st.tuples(FORM_NAMES, CONTACT_TEXT), max_size=8)
FORM_OBJECTS = st.dictionaries(FORM_NAMES, CONTACT_VALUES, max_size=8)

CONTACTS = mostly(
    shaped(
        {"email": CONTACT_VALUES}, phone=CONTACT_VALUES, first=CONTACT_VALUES, last=CONTACT_VALUES, name=CONTACT_VALUES
    ),
    JSON_VALUES,
)
JSON_LEADS = shaped(
    {
        "contact": CONTACTS,
        "payload": mostly(
            shaped({"email": CONTACT_VALUES}, id=IDS, phone=CONTACT_VALUES, name=CONTACT_VALUES, page=CONTACT_VALUES),
            JSON_VALUES,
        ),
    },
    id=IDS,
    consent=mostly(st.sampled_from([True, False, "yes", "no", "on", "", 1, 0, 2]), JSON_VALUES),
    tags=mostly(st.lists(st.text(max_size=10), max_size=3) | st.text(max_size=20), JSON_VALUES),
    notes=CONTACT_VALUES,
    company=JSON_VALUES,
    answers=JSON_VALUES,
    utm_source=CONTACT_VALUES,
)
"""One lead as the ``batch`` and ``signed`` json sources are mapped to read it."""
JSON_BODIES = mostly(
    shaped({"leads": mostly(st.lists(rarely(JSON_LEADS, JSON_VALUES), max_size=3), JSON_VALUES)}),
    st.lists(JSON_LEADS, max_size=3) | JSON_LEADS,
)
"""A ``leads`` array for the ``batch`` source, or the array or lead itself as ``signed`` reads it."""

GOOGLE_TEXT = rarely(st.one_of(CONTACT_TEXT, st.integers()), JSON_VALUES)
"""Google sends strings; numbers are tolerated; anything else is a malformed lead."""
GOOGLE_COLUMNS = shaped(
    {
        "column_id": mostly(
            st.sampled_from(
                ["FULL_NAME", "FIRST_NAME", "LAST_NAME", "EMAIL", "WORK_EMAIL", "PHONE_NUMBER", "WORK_PHONE"]
                + ["COMPANY_NAME", "CITY", "JOB_TITLE", "OVER_18_AGE", "question_1"]
            ),
            GOOGLE_TEXT,
        ),
        "string_value": GOOGLE_TEXT,
    },
    column_name=mostly(st.sampled_from(["Full Name", "User Email", "What is your budget?"]), GOOGLE_TEXT),
)
GOOGLE_BODIES = shaped(
    {
        "google_key": mostly(st.just(GOOGLE_KEY), JSON_VALUES),
        "user_column_data": mostly(st.lists(rarely(GOOGLE_COLUMNS, JSON_VALUES), max_size=5), JSON_VALUES),
    },
    Google_key=mostly(st.just(GOOGLE_KEY), JSON_VALUES),
    lead_id=IDS,
    api_version=IDS,
    form_id=IDS,
    campaign_id=IDS,
    adgroup_id=IDS,
    creative_id=IDS,
    asset_group_id=IDS,
    gcl_id=IDS,
    lead_submit_time=IDS,
    lead_stage=IDS,
    is_test=mostly(st.booleans(), JSON_VALUES),
)

TYPEFORM_TYPES = (
    "text",
    "email",
    "phone_number",
    "choice",
    "choices",
    "number",
    "boolean",
    "date",
    "url",
    "file_url",
    "payment",
)
TYPEFORM_TITLES = (
    "What's your first name?",
    "And your last name?",
    "Company name",
    "Name",
    "Your full name",
    "Name of your pet",
    "How did you hear about us?",
)
TYPEFORM_FIELD_TYPES = mostly(st.sampled_from(["short_text", "long_text", "email", "dropdown"]), JSON_SCALARS)
"""A field's ``type``: scalars here; lists and objects have their own test at the end."""
TYPEFORM_CHOICE = shaped(label=CONTACT_VALUES, other=CONTACT_VALUES)
TYPEFORM_CHOICES = shaped(labels=mostly(st.lists(CONTACT_VALUES, max_size=3), JSON_VALUES), other=CONTACT_VALUES)
TYPEFORM_PAYMENT = shaped(amount=JSON_VALUES, success=JSON_VALUES, last4=st.text(max_size=4))
TYPEFORM_VALUES = st.one_of(CONTACT_VALUES, TYPEFORM_CHOICE, TYPEFORM_CHOICES, TYPEFORM_PAYMENT)


def with_first(first: st.SearchStrategy[Any], items: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """Lists of ``items`` that usually start with ``first`` (a contact answer), so many leads get as far as delivery."""
    head = mostly(first.map(lambda item: [item]), st.just([]))
    return st.builds(lambda start, rest: [*start, *rest], head, st.lists(items, max_size=4))


@st.composite
def typeform_answers(draw: st.DrawFn) -> Any:
    answer_type = draw(rarely(st.sampled_from(("email", "phone_number", "text", "text", *TYPEFORM_TYPES)), JSON_VALUES))
    field = draw(
        rarely(
            shaped(
                {"id": mostly(st.sampled_from(["Fn1", "Em3", "Ph4"]), IDS)},
                ref=mostly(
                    st.sampled_from(["first_name", "budget_ref", "reach_me", "phone"]) | st.uuids().map(str), IDS
                ),
                type=TYPEFORM_FIELD_TYPES,
                title=mostly(st.sampled_from(TYPEFORM_TITLES), CONTACT_VALUES),
            ),
            JSON_VALUES,
        )
    )
    answer = {"type": answer_type, "field": field}
    if isinstance(answer_type, str):
        usual = {"choice": TYPEFORM_CHOICE, "choices": TYPEFORM_CHOICES, "payment": TYPEFORM_PAYMENT}
        answer[answer_type] = draw(rarely(usual.get(answer_type, CONTACT_VALUES), TYPEFORM_VALUES))
    return answer


TYPEFORM_CONTACT_ANSWERS = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("email"), "email": CONTACT_TEXT, "field": st.just({"id": "Em3", "type": "email"})}
    ),
    st.fixed_dictionaries(
        {"type": st.just("phone_number"), "phone_number": CONTACT_TEXT, "field": st.just({"id": "Ph4", "ref": "phone"})}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("text"),
            "text": CONTACT_TEXT,
            "field": st.just({"id": "Fn1", "ref": "first_name", "type": "short_text"}),
        }
    ),
)
TYPEFORM_DEFINED_FIELDS = shaped(
    id=mostly(st.sampled_from(["Fn1", "Em3", "Ph4"]), IDS),
    ref=IDS,
    title=mostly(st.sampled_from(TYPEFORM_TITLES), CONTACT_VALUES),
    type=TYPEFORM_FIELD_TYPES,
    properties=JSON_VALUES,
)
TYPEFORM_RESPONSES = shaped(
    {"answers": mostly(with_first(TYPEFORM_CONTACT_ANSWERS, rarely(typeform_answers(), JSON_VALUES)), JSON_VALUES)},
    form_id=IDS,
    token=IDS,
    landed_at=IDS,
    submitted_at=IDS,
    definition=mostly(shaped(fields=mostly(st.lists(TYPEFORM_DEFINED_FIELDS, max_size=3), JSON_VALUES)), JSON_VALUES),
    hidden=mostly(st.dictionaries(st.text(max_size=8), CONTACT_VALUES, max_size=3), JSON_VALUES),
    calculated=mostly(shaped(score=JSON_VALUES), JSON_VALUES),
    variables=mostly(
        st.lists(shaped(key=IDS, type=st.sampled_from(["number", "text"]), number=IDS, text=IDS), max_size=2),
        JSON_VALUES,
    ),
    ending=mostly(shaped(id=IDS, ref=IDS), JSON_VALUES),
)
TYPEFORM_BODIES = shaped(
    {
        "event_type": mostly(st.just("form_response"), st.one_of(st.just("form_response_partial"), IDS)),
        "form_response": mostly(TYPEFORM_RESPONSES, JSON_VALUES),
    },
    event_id=IDS,
)

LEADGEN_VALUES = shaped(
    {"leadgen_id": IDS},
    page_id=IDS,
    form_id=IDS,
    adgroup_id=IDS,
    ad_id=IDS,
    created_time=IDS,
)
FACEBOOK_CHANGES = rarely(
    st.fixed_dictionaries({"field": st.just("leadgen"), "value": mostly(LEADGEN_VALUES, JSON_VALUES)}),
    st.one_of(shaped(field=IDS, value=JSON_VALUES), JSON_VALUES),
)
FACEBOOK_ENTRIES = mostly(
    shaped({"changes": mostly(st.lists(FACEBOOK_CHANGES, max_size=3), JSON_VALUES)}, id=IDS, time=IDS),
    JSON_VALUES,
)
FACEBOOK_BODIES = shaped(
    {"entry": mostly(st.lists(FACEBOOK_ENTRIES, max_size=3), JSON_VALUES)},
    object=mostly(st.just("page"), IDS),
)
FACEBOOK_LEAD_BODIES = st.builds(
    lambda first, entries: {"object": "page", "entry": [first, *entries]},
    st.fixed_dictionaries(
        {"id": IDS, "changes": st.lists(FACEBOOK_CHANGES, max_size=2).map(lambda c: [{"field": "leadgen"}, *c])}
    ),
    st.lists(FACEBOOK_ENTRIES, max_size=2),
)
"""Meta notifications with at least one ``leadgen`` change (which the gateway must store, even malformed)."""

GRAPH_FIELD_NAMES = mostly(
    st.sampled_from(
        sorted(facebook.STANDARD_FIELDS) + ["work_email", "work_phone_number", "what_is_your_budget?", "job_title"]
    ),
    IDS,
)
GRAPH_ANSWERS = shaped(
    {"name": GRAPH_FIELD_NAMES, "values": mostly(st.lists(CONTACT_VALUES, min_size=1, max_size=2), CONTACT_VALUES)}
)
GRAPH_CONTACT_ANSWERS = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["email", "phone_number", "full_name", "work_email"]),
        "values": st.lists(CONTACT_TEXT, max_size=2),
    }
)
GRAPH_LEADS = shaped(
    {"field_data": mostly(with_first(GRAPH_CONTACT_ANSWERS, rarely(GRAPH_ANSWERS, JSON_VALUES)), JSON_VALUES)},
    id=IDS,
    created_time=IDS,
    ad_id=IDS,
    ad_name=CONTACT_VALUES,
    form_id=IDS,
    platform=mostly(st.sampled_from(["fb", "ig"]), JSON_VALUES),
    is_organic=JSON_VALUES,
    custom_disclaimer_responses=mostly(
        st.lists(shaped(checkbox_key=IDS, is_checked=mostly(st.sampled_from(["1", "0", ""]), JSON_VALUES))),
        JSON_VALUES,
    ),
)
"""Lead objects as the Graph API returns them (``raw["lead"]``), and ones it should not."""

LEAD_BODIES: dict[str, st.SearchStrategy[Any]] = {
    "form": FORM_OBJECTS,
    "json": JSON_BODIES,
    "google_ads": GOOGLE_BODIES,
    "typeform": TYPEFORM_BODIES,
    "facebook": FACEBOOK_BODIES,
}
"""JSON bodies shaped like each kind's leads, with any value where the platform puts one."""


def json_bytes(value: Any, ensure_ascii: bool = False) -> bytes:
    return json.dumps(value, ensure_ascii=ensure_ascii).encode()


ENCODED_JSON = st.builds(json_bytes, JSON_VALUES, st.booleans())

ODD_BODIES = (
    b"",
    b" ",
    b"null",
    b"[]",
    b"{}",
    b"[{}]",
    b'"lead"',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": -Infinity}',
    b"9" * 5000,
    b'{"email": "jane@example.com"',
    b'{"email": "jane@example.com"}\x00',
    b'{"email": "jane@example.com", "email": "bob@example.com"}',
    b"email=jane%40example.com&name=Jane",
    b"email=%ff%fe&name=%",
    b"--x\r\nContent-Disposition: form-data; name=email\r\n\r\njane@example.com\r\n--x--\r\n",
)
"""Bodies that are almost, barely or not at all what a parser expects."""


def bodies(kind: str) -> st.SearchStrategy[bytes]:
    """Any bytes, with a bias to what ``kind`` reads: its lead-shaped JSON, other JSON, forms, odd bodies."""
    shaped = st.builds(json_bytes, LEAD_BODIES[kind], st.booleans())
    return st.one_of(
        shaped,
        ENCODED_JSON,
        st.sampled_from(ODD_BODIES),
        st.binary(max_size=64),
        st.text(max_size=64).map(str.encode),
        FORM_PAIRS.map(lambda pairs: urlencode(pairs).encode()),
    )


MEDIA_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    'application/json;charset="utf-16"',
    "application/ld+json",
    "application/vnd.api+json",
    "APPLICATION/JSON",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=ISO-8859-1",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "multipart/mixed; boundary=x",
    "text/plain",
    "text/html; charset=utf-8",
    "application/xml",
    "application/octet-stream",
    "application/json; charset",
    "*/*",
    ";",
    "",
)
CONTENT_TYPES = mostly(
    st.sampled_from(MEDIA_TYPES), st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
)
"""Content-Type values: right, with charset parameters, of other kinds, and garbage."""
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)
"""What a header value can carry over HTTP/1.1 (Latin-1, no control characters)."""


# --- the pure properties ---------------------------------------------------------------------------------------


def has_contact(lead: Mapping[str, Any]) -> bool:
    return any(isinstance(lead.get(name), str) and lead[name].strip() for name in CONTACT_FIELDS)


def check_lead(lead: Any) -> None:
    """A lead ConnectGain accepts, sent exactly as the ConnectGain client would send it."""
    assert isinstance(lead, dict)
    assert has_contact(lead), lead
    assert LeadPayloadSchema().validate(lead) == {}, lead
    # httpx encodes json= bodies with allow_nan=False and UTF-8: a lead that cannot be sent is a lost lead.
    json.dumps(lead, ensure_ascii=False, allow_nan=False).encode()


def storable(raw: Any) -> Any:
    """``raw`` as the event store writes it and a replay reads it back (UTF-8 JSON in a Redis hash)."""
    return json.loads(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())


def check_event(event: Any, kind: str) -> None:
    assert isinstance(event, InboundEvent)
    assert isinstance(event.raw, dict)
    assert event.outcome in ("queued", "spam", "ignored", "rejected"), event.outcome
    assert all(isinstance(key, str) and key for key in event.dedupe_keys), event.dedupe_keys
    storable(event.raw)
    if kind == "facebook" and event.outcome == "queued":
        assert facebook.GRAPH_ID.match(event.raw["webhook"]["leadgen_id"])


def check_normalized(adapter: Any, raw: Mapping[str, Any], source: SourceConfig) -> dict[str, Any] | None:
    """Normalizes ``raw`` as received and as replayed from the store: the same deliverable lead, or a 4xx."""
    try:
        lead = adapter.normalize(raw, source)
    except AdapterError as err:
        assert 400 <= err.status < 500
        note(f"normalize refused: {err.status}")
        lead = None
    else:
        note("normalize built a lead")
    if lead is not None:
        check_lead(lead)
    try:
        replayed = adapter.normalize(storable(raw), source)
    except AdapterError:
        replayed = None
    assert replayed == lead, "a replay of the stored event must build the lead the gateway built"
    return lead


@st.composite
def inbound_requests(draw: st.DrawFn, kind: str) -> InboundRequest:
    """An InboundRequest as ``gateway.inbound`` builds one: any body, headers, query; form fields for form types."""
    body = draw(bodies(kind))
    content_type = draw(CONTENT_TYPES)
    headers = {
        name.lower(): value
        for name, value in draw(st.dictionaries(st.text(max_size=10), HEADER_TEXT, max_size=3)).items()
    }
    for header in SIGNATURE_HEADERS:
        value = signature_value(header, body, draw(st.sampled_from(SIGNING_MODES)))
        if value is not None:
            headers[header.lower()] = value
    token = draw(st.sampled_from([JSON_TOKEN, JSON_TOKEN + "x", ""]))
    if token:
        headers["authorization"] = draw(st.sampled_from(["Bearer ", "bearer  ", "Basic "])) + token
    headers["origin"] = draw(
        st.sampled_from([ALLOWED_ORIGIN, ALLOWED_ORIGIN + "/", "https://evil.example", "null", ""])
    )
    headers["accept"] = draw(st.sampled_from(["text/html", "application/json", "*/*", "text/html;q=0", ""]))
    media_type = content_type.split(";", 1)[0].strip().lower()
    form = (
        tuple(draw(FORM_PAIRS)) if media_type in ("application/x-www-form-urlencoded", "multipart/form-data") else None
    )
    query = draw(
        st.dictionaries(
            st.sampled_from(["token", "hub.mode", "hub.verify_token", "hub.challenge"]) | st.text(max_size=6),
            st.lists(
                st.sampled_from([JSON_TOKEN, FB_VERIFY_TOKEN, "subscribe", ""]) | st.text(max_size=8),
                min_size=1,
                max_size=2,
            ),
            max_size=3,
        )
    )
    return InboundRequest(
        method="POST",
        content_type=media_type,
        body=body,
        headers=headers,
        query=query,
        form=form,
        remote_addr="203.0.113.9",
    )


def run_adapter(source: SourceConfig, request: InboundRequest) -> list[InboundEvent]:
    """verify, parse and normalize as the gateway does, checking each step's contract; [] when refused."""
    adapter = get_adapter(source.kind)
    try:
        adapter.verify(request, source)
    except AdapterError as err:
        assert err.status in (400, 401, 403), err
    try:
        events = adapter.parse(request, source)
    except AdapterError as err:
        assert 400 <= err.status < 500
        note(f"parse refused: {err.status}")
        return []
    assert isinstance(events, list)
    note(f"parse gave {min(len(events), 2)}{'+' if len(events) > 1 else ''} events")
    for event in events:
        check_event(event, source.kind)
        if event.outcome == "queued" and adapter.NORMALIZE_ON_RECEIVE:
            check_normalized(adapter, event.raw, source)
    accepted = [Accepted(event_id=f"ev_{i}", status=e.outcome, duplicate=i % 2 == 1) for i, e in enumerate(events)]
    acknowledge = getattr(adapter, "acknowledge", None)
    if acknowledge is not None and accepted:
        answer = acknowledge(accepted, request, source)
        assert answer is None or (isinstance(answer, Reply) and 200 <= answer.status < 400)
    return events


VALID_EMAILS = st.sampled_from(["jane@example.com", "Jane.Roe+tag@Example.COM", " bob@example.org "])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def without_blank_hidden_names(body: Any) -> Any:
    """Drops Typeform hidden fields named "" or "  " (they have their own test below); everything else stays random."""
    response = as_dict(as_dict(body).get("form_response"))
    if isinstance(response.get("hidden"), dict):
        response["hidden"] = {name: value for name, value in response["hidden"].items() if name.strip()}
    return body


@st.composite
def bodies_with_a_valid_email(draw: st.DrawFn, source_id: str) -> Any:
    """A lead-shaped body of ``source_id``'s kind, anything in it, with a valid email where that kind reads one."""
    kind = SOURCES[source_id].kind
    email = draw(VALID_EMAILS)
    body = draw(LEAD_BODIES[kind])
    if kind == "form":
        return {**body, "email": email}
    if kind == "json":
        leads = [item for item in as_list(as_dict(body).get("leads")) if isinstance(item, dict)] or [{}]
        if source_id == "signed":
            return [{**lead, "payload": {**as_dict(lead.get("payload")), "email": email}} for lead in leads]
        return {"leads": [{**lead, "contact": {**as_dict(lead.get("contact")), "email": email}} for lead in leads]}
    if kind == "google_ads":
        columns = [{"column_id": "EMAIL", "string_value": email}, *as_list(body.get("user_column_data"))]
        return {**body, "google_key": GOOGLE_KEY, "user_column_data": columns}
    if kind == "typeform":
        response = as_dict(body.get("form_response"))
        # An id no definition shares: a definition titled like a field_map key would (rightly) redirect the answer.
        answer = {"type": "email", "email": email, "field": {"id": "the email field", "type": "email"}}
        body = {
            **body,
            "event_type": "form_response",
            "form_response": {**response, "answers": [answer, *as_list(response.get("answers"))]},
        }
        return without_blank_hidden_names(body)
    raise AssertionError(f"no email slot for {kind}")
