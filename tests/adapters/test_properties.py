"""Property tests for every source kind: whatever is posted, an adapter refuses it or builds a deliverable lead.

Refusing means raising an :class:`~adapters.base.AdapterError` (the gateway answers its 4xx); anything
else escaping ``verify``, ``parse`` or ``normalize`` would be a 500. Building means a payload that
validates against :class:`~leadgate.contract.LeadPayloadSchema`, names a contact, encodes as the strict
JSON the ConnectGain client sends, and comes out the same when the stored raw event is replayed.

The strategies and the config live in ``tests/support/strategies.py``, shared with
``tests/gateway/test_properties.py``, which posts the same kinds of bodies through the HTTP layer.
``LEADGATE_HYPOTHESIS_EXAMPLES`` multiplies every ``max_examples`` for a longer bug hunt.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from adapters import facebook
from adapters import get_adapter
from adapters.base import AdapterError
from adapters.base import InboundRequest
from adapters.base import Reply
from tests.support.strategies import CONTACT_TEXT
from tests.support.strategies import FACEBOOK_LEAD_BODIES
from tests.support.strategies import FB_VERIFY_TOKEN
from tests.support.strategies import FORM_PAIRS
from tests.support.strategies import GOOGLE_KEY
from tests.support.strategies import GRAPH_LEADS
from tests.support.strategies import JSON_SCALARS
from tests.support.strategies import JSON_TOKEN
from tests.support.strategies import KIND_SOURCES
from tests.support.strategies import LEAD_BODIES
from tests.support.strategies import SIGNATURE_HEADERS
from tests.support.strategies import SOURCE_IDS
from tests.support.strategies import SOURCES
from tests.support.strategies import VALID_EMAILS
from tests.support.strategies import as_list
from tests.support.strategies import bodies_with_a_valid_email
from tests.support.strategies import check_lead
from tests.support.strategies import check_normalized
from tests.support.strategies import examples
from tests.support.strategies import inbound_requests
from tests.support.strategies import json_bytes
from tests.support.strategies import run_adapter
from tests.support.strategies import signature_value
from tests.support.strategies import storable


@pytest.mark.parametrize("source_id", SOURCE_IDS)
@settings(max_examples=examples(150), deadline=None)
@given(data=st.data())
def test_any_request_is_refused_with_an_adapter_error_or_gives_deliverable_leads(source_id, data):
    source = SOURCES[source_id]
    run_adapter(source, data.draw(inbound_requests(source.kind), label="request"))


@pytest.mark.parametrize("source_id", SOURCE_IDS)
@settings(max_examples=examples(150), deadline=None)
@given(data=st.data())
def test_lead_shaped_bodies_normalize_to_deliverable_leads(source_id, data):
    """Correctly signed JSON shaped like the kind's leads: the path most bodies take in production."""
    source = SOURCES[source_id]
    value = data.draw(LEAD_BODIES[source.kind], label="body")
    if source.kind == "google_ads" and data.draw(st.booleans(), label="with key"):
        value = {**value, "google_key": GOOGLE_KEY} if isinstance(value, dict) else value
    body = json_bytes(value, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    headers = {header.lower(): signature_value(header, body, "correct") for header in SIGNATURE_HEADERS}
    headers["authorization"] = f"Bearer {JSON_TOKEN}"
    request = InboundRequest(method="POST", content_type="application/json", body=body, headers=headers)
    run_adapter(source, request)


@pytest.mark.parametrize("source_id", KIND_SOURCES["form"])
@settings(max_examples=examples(150), deadline=None)
@given(pairs=FORM_PAIRS, media_type=st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data"]))
def test_posted_form_fields_normalize_to_deliverable_leads(source_id, pairs, media_type):
    request = InboundRequest(method="POST", content_type=media_type, body=b"", form=tuple(pairs))
    run_adapter(SOURCES[source_id], request)


@settings(max_examples=examples(300), deadline=None)
@given(lead=GRAPH_LEADS, notification=FACEBOOK_LEAD_BODIES)
def test_fetched_facebook_leads_normalize_to_deliverable_leads_or_unprocessable(lead, notification):
    """The worker's half: whatever the Graph API returns for a stored notification."""
    source = SOURCES["fb"]
    body = json_bytes(notification)
    request = InboundRequest(method="POST", content_type="application/json", body=body)
    for event in facebook.parse(request, source):
        check_normalized(facebook, {**event.raw, "lead": lead}, source)


@settings(max_examples=examples(100), deadline=None)
@given(query=st.dictionaries(st.text(max_size=20), st.lists(st.text(max_size=20), max_size=2), max_size=4))
@example(query={"hub.mode": ["subscribe"], "hub.verify_token": [FB_VERIFY_TOKEN], "hub.challenge": ["1158201444"]})
@example(query={"hub.mode": ["subscribe"], "hub.verify_token": [FB_VERIFY_TOKEN], "hub.challenge": []})
def test_facebook_handshake_answers_every_query(query):
    answer = facebook.handshake(InboundRequest(method="GET", content_type="", body=b"", query=query), SOURCES["fb"])
    assert isinstance(answer, Reply) and answer.status in (200, 400, 403)


# --- a lead with a valid email is never refused ------------------------------------------------------------------


@pytest.mark.parametrize("source_id", [sid for sid in SOURCE_IDS if SOURCES[sid].kind != "facebook"])
@settings(max_examples=examples(100), deadline=None)
@given(data=st.data())
def test_a_lead_with_a_valid_email_is_never_refused_as_unprocessable(source_id, data):
    """Whatever else a lead carries, a valid email makes it deliverable: a 422 or ``rejected`` here loses a lead."""
    source = SOURCES[source_id]
    adapter = get_adapter(source.kind)
    body = json_bytes(data.draw(bodies_with_a_valid_email(source_id), label="body"))
    try:
        events = adapter.parse(InboundRequest(method="POST", content_type="application/json", body=body), source)
    except AdapterError as err:
        assert err.status == 400  # malformed elsewhere (a bad id, a non-object answer): refused as a whole, fine
        return
    for event in events:
        if event.outcome == "queued":
            check_lead(adapter.normalize(event.raw, source))


@settings(max_examples=examples(150), deadline=None)
@given(lead=GRAPH_LEADS, email=VALID_EMAILS)
def test_a_fetched_facebook_lead_with_a_valid_email_is_never_refused(lead, email):
    lead = {**lead, "field_data": [{"name": "email", "values": [email]}, *as_list(lead.get("field_data"))]}
    check_lead(facebook.normalize({"webhook": {"leadgen_id": "1"}, "lead": lead}, SOURCES["fb"]))


# --- inputs that once crashed an adapter (found by these properties, fixed in adapters/jsonbody.py and typeform) ---

ONE_SOURCE_PER_KIND = ("web", "batch", "google", "tf", "fb")


@pytest.mark.parametrize("source_id", ONE_SOURCE_PER_KIND)
@settings(max_examples=examples(30), deadline=None)
@given(depth=st.integers(1, 200), opener=st.sampled_from(["[", '{"a":']))
def test_nested_json_is_parsed_or_refused(source_id, depth, opener):
    """Nesting well within Python's recursion limit is parsed or refused like any body."""
    closer = "]" if opener == "[" else "}"
    body = (opener * depth + "1" + closer * depth).encode()
    run_adapter(SOURCES[source_id], InboundRequest(method="POST", content_type="application/json", body=body))


@pytest.mark.parametrize("source_id", ONE_SOURCE_PER_KIND)
@settings(max_examples=examples(10), deadline=None)
@given(depth=st.integers(1000, 100_000))
@example(depth=1000)
def test_json_nested_past_the_recursion_limit_is_refused_with_an_adapter_error(source_id, depth):
    body = b"[" * depth + b"]" * depth
    request = InboundRequest(method="POST", content_type="application/json", body=body)
    source = SOURCES[source_id]
    adapter = get_adapter(source.kind)
    if source.kind == "google_ads":
        with pytest.raises(AdapterError):
            adapter.verify(request, source)
    with pytest.raises(AdapterError):
        adapter.parse(request, source)


SURROGATE_TEXT = st.builds(
    lambda before, surrogate, after: before + surrogate + after,
    st.text(max_size=2),
    st.characters(categories=["Cs"]),
    st.text(max_size=2),
)
"""Strings holding a lone surrogate, which JSON can spell (``"\\ud800"``) but UTF-8 cannot encode."""
SURROGATE_BODIES = {
    "web": lambda text: {"email": "jane@example.com", "message": text},
    "batch": lambda text: {"leads": [{"contact": {"email": "jane@example.com"}, "note": text}]},
    "google": lambda text: {
        "google_key": GOOGLE_KEY,
        "user_column_data": [{"column_id": "EMAIL", "string_value": text}],
    },
    "tf": lambda text: {"event_type": text, "form_response": {}},
    "fb": lambda text: {"entry": [{"id": text, "changes": [{"field": "leadgen", "value": {"leadgen_id": "1"}}]}]},
}


@pytest.mark.parametrize("source_id", ONE_SOURCE_PER_KIND)
@settings(max_examples=examples(20), deadline=None)
@given(text=SURROGATE_TEXT)
@example(text="\ud800")
def test_lone_surrogates_are_refused_or_stored(source_id, text):
    source = SOURCES[source_id]
    body = json_bytes(SURROGATE_BODIES[source_id](text), ensure_ascii=True)
    request = InboundRequest(method="POST", content_type="application/json", body=body)
    try:
        events = get_adapter(source.kind).parse(request, source)
    except AdapterError:
        return
    for event in events:
        storable(event.raw)


OVERFLOW_BODIES = {
    "web": b'{"email": "jane@example.com", "budget": NUMBER}',
    "plain": b'{"email": "jane@example.com", "budget": {"min": NUMBER}}',
    "batch": b'{"leads": [{"contact": {"email": "jane@example.com"}, "budget": NUMBER}]}',
    "signed": b'{"payload": {"email": "jane@example.com", "page": NUMBER}}',
    "google": b'{"google_key": "google-key", "user_column_data": [{"column_id": "EMAIL", "string_value": '
    b'"jane@example.com"}, {"column_id": "BUDGET", "string_value": NUMBER}], "campaign_id": 1}',
    "tf": b'{"event_type": "form_response", "form_response": {"answers": [{"type": "email", "email": '
    b'"jane@example.com", "field": {"id": "Em3"}}], "calculated": {"score": NUMBER}}}',
}


@pytest.mark.parametrize(
    "source_id",
    list(OVERFLOW_BODIES),
)
@settings(max_examples=examples(20), deadline=None)
@given(
    number=st.sampled_from(["1e999", "-1e400", "1E+309", "123456789e999"])
    | st.integers(309, 5000).map(lambda e: f"9e{e}")
)
@example(number="1e999")
def test_numbers_too_large_for_a_float_never_reach_a_lead(source_id, number):
    source = SOURCES[source_id]
    adapter = get_adapter(source.kind)
    body = OVERFLOW_BODIES[source_id].replace(b"NUMBER", number.encode())
    request = InboundRequest(method="POST", content_type="application/json", body=body)
    try:
        events = adapter.parse(request, source)
    except AdapterError:
        return
    for event in events:
        try:
            lead = adapter.normalize(event.raw, source)
        except AdapterError:
            continue
        json.dumps(lead, allow_nan=False)


@settings(max_examples=examples(20), deadline=None)
@given(name=st.text(alphabet=" \t", max_size=3), value=CONTACT_TEXT)
@example(name="", value="x")
def test_a_typeform_hidden_field_with_a_blank_name_does_not_refuse_the_lead(name, value):
    raw = {
        "event_type": "form_response",
        "form_response": {
            "answers": [{"type": "email", "email": "jane@example.com", "field": {"id": "Em3", "type": "email"}}],
            "hidden": {name: value},
        },
    }
    check_lead(get_adapter("typeform").normalize(raw, SOURCES["tf"]))


@settings(max_examples=examples(20), deadline=None)
@given(
    field_type=st.lists(JSON_SCALARS, min_size=1, max_size=2)
    | st.dictionaries(st.text(max_size=4), JSON_SCALARS, min_size=1)
)
@example(field_type=[None])
def test_a_typeform_field_type_that_is_not_text_is_parsed_or_refused(field_type):
    answer = {"type": "text", "text": "Jane", "field": {"id": "Fn1", "type": field_type}}
    body = json_bytes({"event_type": "form_response", "form_response": {"answers": [answer]}})
    run_adapter(SOURCES["tf"], InboundRequest(method="POST", content_type="application/json", body=body))
