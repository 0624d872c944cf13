"""Property tests for ``/hooks/<id>``: whatever arrives, the answer is a 2xx, the form's 303, a 4xx or a 503.

A request is any method, any source id (configured or not), any query, any headers (random Content-Type
with charset parameters, random and correctly computed signatures) and any body (binary, text, JSON from
recursive strategies, bodies shaped like each kind's leads, urlencoded pairs, multipart). After each one:

* the status is 2xx, 303 (only the ``web`` form's redirect), 4xx or 503, never another 5xx;
* every refusal, and every answer to a POST but the 303, is JSON;
* nothing is stored for a refusal, and every acknowledged event id is in the store;
* every stored event that will be delivered (queued ... delivered) carries a lead ConnectGain accepts,
  with a contact field, that encodes as strict JSON; a facebook one instead names a usable leadgen_id
  (its lead is fetched by the worker), and each of them is in the due set, so it cannot be lost;
* sending the same request again answers the same status and queues nothing more.

With Redis unreachable, a post that carries a lead gets 503 (or the 4xx its content deserves), never a 2xx.

Redis is flushed before each example (the ``rt`` fixture flushes per test only). The strategies and the
config (one source of every kind) come from ``tests/adapters/test_properties.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import quote
from urllib.parse import urlencode

import pytest
import redis
from hypothesis import HealthCheck
from hypothesis import currently_in_test_context
from hypothesis import event as hypothesis_event
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from adapters import facebook
from adapters.negotiation import prefers_html
from leadgate.config import Config
from leadgate.contract import LeadPayloadSchema
from leadgate.redis_client import client_options
from leadgate.runtime import Runtime
from tests.support.strategies import ALLOWED_ORIGIN
from tests.support.strategies import CONFIG
from tests.support.strategies import CONTENT_TYPES
from tests.support.strategies import FACEBOOK_LEAD_BODIES
from tests.support.strategies import FB_VERIFY_TOKEN
from tests.support.strategies import FORM_PAIRS
from tests.support.strategies import GOOGLE_KEY
from tests.support.strategies import HEADER_TEXT
from tests.support.strategies import JSON_TOKEN
from tests.support.strategies import JSON_VALUES
from tests.support.strategies import LEAD_BODIES
from tests.support.strategies import ODD_BODIES
from tests.support.strategies import REDIRECT
from tests.support.strategies import SIGNATURE_HEADERS
from tests.support.strategies import SIGNING_MODES
from tests.support.strategies import SOURCES
from tests.support.strategies import bodies_with_a_valid_email
from tests.support.strategies import examples
from tests.support.strategies import has_contact
from tests.support.strategies import json_bytes
from tests.support.strategies import mostly
from tests.support.strategies import signature_value

METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
"""HEAD has its own test at the end (answered like GET, nothing stored)."""
LIVE = frozenset({"queued", "delivering", "retrying", "delivered"})
"""Statuses of events that are, or will be, delivered to ConnectGain."""
KINDS = ("form", "json", "google_ads", "typeform", "facebook")
FIXTURES_PER_TEST = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
"""The client and the runtime are per test on purpose: each example flushes Redis itself."""


@pytest.fixture
def config(make_config) -> Config:
    return make_config(CONFIG)


# --- requests -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookRequest:
    """One request to ``/hooks/<source_id>``, replayable."""

    method: str
    source_id: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""

    @property
    def source(self) -> Any:
        return SOURCES.get(self.source_id)

    def send(self, client: Any) -> Any:
        path = "/hooks/" + quote(self.source_id, safe="")
        return client.open(path, method=self.method, data=self.body, headers=self.headers, query_string=self.query)


def multipart(pairs: list[tuple[str, str]], boundary: str, files: bool) -> bytes:
    """A multipart/form-data body; names are written as given, quotes and all, as a careless client would."""
    parts = []
    for index, (name, value) in enumerate(pairs):
        disposition = f'form-data; name="{name}"' + (f'; filename="f{index}.txt"' if files and index % 2 else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n")
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


@st.composite
def bodies_and_types(draw: st.DrawFn, kind: str) -> tuple[bytes, str | None]:
    """A body and the Content-Type sent with it: usually the one that fits, sometimes any other, or none."""
    family = draw(st.sampled_from(["shaped", "shaped", "json", "form", "multipart", "binary", "text", "odd", "big"]))
    if family == "shaped":
        body, fitting = json_bytes(draw(LEAD_BODIES[kind]), draw(st.booleans())), "application/json"
    elif family == "json":
        body, fitting = json_bytes(draw(JSON_VALUES), draw(st.booleans())), "application/json"
    elif family == "form":
        body, fitting = urlencode(draw(FORM_PAIRS)).encode(), "application/x-www-form-urlencoded"
    elif family == "multipart":
        boundary = draw(st.sampled_from(["leadgate-boundary", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "x"]))
        body = multipart(draw(FORM_PAIRS), boundary, draw(st.booleans()))
        cut = draw(st.sampled_from([None, None, None, -10, len(body) // 2]))
        body = body if cut is None else body[:cut]
        fitting = draw(
            st.sampled_from(
                [
                    f"multipart/form-data; boundary={boundary}",
                    "multipart/form-data",
                    'multipart/form-data; boundary="other"',
                ]
            )
        )
    elif family == "binary":
        body, fitting = draw(st.binary(max_size=256)), "application/octet-stream"
    elif family == "text":
        encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1"]))
        body = draw(st.text(max_size=64)).encode(encoding, errors="replace")
        fitting = f"text/plain; charset={encoding}"
    elif family == "big":
        body, fitting = (
            b'{"email": "jane@example.com", "message": "' + b"x" * draw(st.integers(8200, 20000)) + b'"}',
            "application/json",
        )
    else:
        body, fitting = draw(st.sampled_from(ODD_BODIES)), "application/json"
    content_type = draw(mostly(st.just(fitting), st.one_of(st.none(), CONTENT_TYPES)))
    return body, content_type


HEADER_NAMES = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=16
).filter(lambda name: name.lower() not in ("content-length", "transfer-encoding", "host", "content-type"))
QUERY_PAIRS = st.lists(
    st.tuples(
        st.sampled_from(["token", "hub.mode", "hub.verify_token", "hub.challenge"]) | st.text(max_size=8),
        st.sampled_from([JSON_TOKEN, FB_VERIFY_TOKEN, "subscribe", "1158201444", ""]) | st.text(max_size=12),
    ),
    max_size=4,
)
RAW_QUERIES = st.sampled_from(["", "%", "%ff%fe=%00", "token", "&&==&", "hub.mode=subscribe&hub.challenge"])


@st.composite
def hook_requests(draw: st.DrawFn, source_ids: st.SearchStrategy[str] | None = None) -> HookRequest:
    source_id = draw(source_ids or mostly(st.sampled_from(sorted(SOURCES)), st.text(max_size=12)))
    kind = SOURCES[source_id].kind if source_id in SOURCES else draw(st.sampled_from(KINDS))
    method = draw(mostly(st.just("POST"), st.sampled_from(METHODS)))
    body, content_type = draw(bodies_and_types(kind))
    headers: dict[str, str] = dict(draw(st.dictionaries(HEADER_NAMES, HEADER_TEXT, max_size=3)))
    if content_type is not None:
        headers["Content-Type"] = content_type
    for header in SIGNATURE_HEADERS:
        value = signature_value(header, body, draw(st.sampled_from(SIGNING_MODES)))
        if value is not None:
            headers[header] = value
    authorization = draw(
        st.sampled_from([f"Bearer {JSON_TOKEN}", f"Bearer {JSON_TOKEN}x", "Bearer", "Basic eDp5", None])
    )
    if authorization:
        headers["Authorization"] = authorization
    for name, values in (
        ("Origin", [ALLOWED_ORIGIN, ALLOWED_ORIGIN + "/", "HTTPS://EXAMPLE.COM:443", "https://evil.example", "null"]),
        ("Accept", ["text/html,application/xhtml+xml", "application/json", "*/*", "text/html;q=0", "text/html;q=x"]),
        ("Idempotency-Key", ["key-1", "key-2", ""]),
    ):
        value = draw(st.one_of(st.none(), st.sampled_from(values), HEADER_TEXT))
        if value is not None:
            headers[name] = value
    query = draw(st.one_of(QUERY_PAIRS.map(urlencode), RAW_QUERIES))
    return HookRequest(method=method, source_id=source_id, body=body, headers=headers, query=query)


@st.composite
def lead_posts(draw: st.DrawFn, source_id: str) -> HookRequest:
    """A POST a platform would really send: lead-shaped JSON, correctly signed, with the right key or token."""
    kind = SOURCES[source_id].kind
    value = draw(
        FACEBOOK_LEAD_BODIES if kind == "facebook" else mostly(bodies_with_a_valid_email(source_id), LEAD_BODIES[kind])
    )
    if kind == "google_ads" and isinstance(value, dict):
        value = {**value, "google_key": GOOGLE_KEY}
    body = json_bytes(value, draw(st.booleans()))
    headers = {header: signature_value(header, body, "correct") or "" for header in SIGNATURE_HEADERS}
    headers.update({"Content-Type": "application/json", "Authorization": f"Bearer {JSON_TOKEN}"})
    if draw(st.booleans()):
        headers["Accept"] = "text/html"
    return HookRequest(method="POST", source_id=source_id, body=body, headers=headers)


def note(label: str) -> None:
    """Counts ``label`` in ``--hypothesis-show-statistics``; a no-op in the plain tests."""
    if currently_in_test_context():
        hypothesis_event(label)


# --- what must hold after each request ----------------------------------------------------------------------------


def check_answer(request: HookRequest, response: Any) -> None:
    status = response.status_code
    note(f"{request.method} {request.source.kind if request.source else 'unknown source'}: {status}")
    assert status < 500 or status == 503, f"{status}: {response.get_data()[:300]!r}"
    assert status >= 200
    if 300 <= status < 400:
        assert status == 303 and request.method == "POST" and request.source_id == "web", status
        assert response.headers["Location"] == REDIRECT
        return
    if request.method == "HEAD":
        return
    if status >= 400 and browser_refusal(request):
        assert response.content_type.startswith("text/html"), response.content_type
        assert "Your form was not sent" in response.get_data(as_text=True)
        return
    if status >= 400 or request.method == "POST":
        assert response.is_json, f"{status} {response.content_type}: {response.get_data()[:200]!r}"
        body = response.get_json()
        assert isinstance(body, dict)
        if status >= 400:
            assert body["ok"] is False and isinstance(body["error"], str) and isinstance(body["message"], str)
    if status in (429, 503):
        assert response.headers.get("Retry-After")


def browser_refusal(request: HookRequest) -> bool:
    """A visitor's browser posting to a form source: refusals are pages, not JSON."""
    accept = next((value for name, value in request.headers.items() if name.lower() == "accept"), "")
    source = request.source
    return request.method == "POST" and source is not None and source.kind == "form" and prefers_html(accept)


def refused_but_kept_ids(response: Any) -> set[str]:
    """A 422 for a form post names the ``rejected`` event it kept (JSON ``errors.event_id``, or in the page)."""
    if response.status_code != 422:
        return set()
    if not response.is_json:
        return set(re.findall(r"ev_[0-9A-Za-z]+", response.get_data(as_text=True)))
    body = response.get_json(silent=True) or {}
    kept = (body.get("errors") or {}).get("event_id")
    return {kept} if isinstance(kept, str) else set()


def acknowledged_ids(response: Any) -> set[str]:
    """The event ids a 2xx JSON answer names (the default answer's and Typeform's shapes)."""
    body = response.get_json(silent=True) if response.is_json else None
    if not isinstance(body, dict):
        return set()
    items = body.get("events") if isinstance(body.get("events"), list) else [body]
    return {item["event_id"] for item in items if isinstance(item, dict) and isinstance(item.get("event_id"), str)}


def check_store(rt: Runtime, request: HookRequest, response: Any) -> list[Any]:
    """Refusals store nothing; acknowledged ids exist; every live event can be delivered and is due."""
    events = rt.store.recent(limit=10_000)
    kept = refused_but_kept_ids(response)
    if kept:
        # the kept event, and for a re-send of the same post a "duplicate" record pointing at it
        assert kept <= {e.id for e in events if e.status == "rejected"}
        assert all(e.status == "rejected" or getattr(e, "duplicate_of", None) in kept for e in events), events
    elif response.status_code >= 400 or request.method != "POST":
        assert events == [], [(e.status, e.raw) for e in events]
    stored = {e.id for e in events}
    assert acknowledged_ids(response) <= stored
    for event in events:
        note(f"stored {event.kind} {event.status}")
        if event.status not in LIVE:
            continue
        assert rt.redis.zscore(rt.store.due_key, event.id) is not None, "a live event must be due, or it is lost"
        if event.kind == "facebook":
            # The lead is fetched from the Graph API by the worker: the event must say which one.
            assert event.lead is None
            assert facebook.GRAPH_ID.match(event.raw["webhook"]["leadgen_id"])
            continue
        lead = event.lead
        assert isinstance(lead, dict) and has_contact(lead), (
            f"{event.kind} {event.status} event without a contact: {lead!r}"
        )
        assert LeadPayloadSchema().validate(lead) == {}, lead
        json.dumps(lead, allow_nan=False)
    return events


def live_count(events: list[Any]) -> int:
    return sum(1 for event in events if event.status in LIVE)


# --- the properties -----------------------------------------------------------------------------------------------


@settings(max_examples=examples(300), deadline=None, suppress_health_check=FIXTURES_PER_TEST)
@given(request=hook_requests(), resend=st.booleans())
@example(
    request=HookRequest(
        "POST",
        "web",
        b"email=jane%40example.com",
        {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
    ),
    resend=True,
)
@example(
    request=HookRequest("GET", "fb", query=f"hub.mode=subscribe&hub.verify_token={FB_VERIFY_TOKEN}&hub.challenge=42"),
    resend=False,
)
@example(request=HookRequest("OPTIONS", "web", headers={"Origin": ALLOWED_ORIGIN}), resend=False)
@example(request=HookRequest("PATCH", "nope", b"\xff"), resend=False)
def test_any_request_gets_a_2xx_303_4xx_or_503_and_stores_only_deliverable_leads(client, rt, request, resend):
    rt.redis.flushdb()
    response = request.send(client)
    check_answer(request, response)
    events = check_store(rt, request, response)
    if resend:
        again = request.send(client)
        check_answer(request, again)
        assert again.status_code == response.status_code
        assert live_count(check_store(rt, request, again)) == live_count(events), "a re-send queued a second delivery"


@pytest.mark.parametrize("source_id", sorted(SOURCES))
@settings(max_examples=examples(40), deadline=None, suppress_health_check=FIXTURES_PER_TEST)
@given(data=st.data())
def test_signed_lead_posts_are_acknowledged_or_refused_and_stored_deliverable(client, rt, source_id, data):
    """The requests platforms really send, where most leads get as far as the store."""
    rt.redis.flushdb()
    request = data.draw(lead_posts(source_id), label="request")
    response = request.send(client)
    check_answer(request, response)
    check_store(rt, request, response)


@pytest.fixture
def app_without_redis(config: Config):
    """The gateway over a Redis client pointed at a closed port."""
    from gateway import create_app

    dead = redis.Redis(host="127.0.0.1", port=1, **client_options())
    application = create_app(runtime=Runtime.from_config(config, client=dead))
    application.testing = True
    return application


@pytest.mark.parametrize("source_id", sorted(SOURCES))
@settings(max_examples=examples(8), deadline=None, suppress_health_check=FIXTURES_PER_TEST)
@given(data=st.data())
def test_with_redis_down_a_lead_post_gets_503_or_a_4xx_never_a_2xx(app_without_redis, source_id, data):
    """Or, for a visitor's browser, the form's error_redirect or a page: never a 2xx, never raw JSON to a browser."""
    request = data.draw(lead_posts(source_id), label="request")
    response = request.send(app_without_redis.test_client())
    note(f"{source_id}: {response.status_code}")
    assert response.status_code in (303, 503) or 400 <= response.status_code < 500, response.get_data()[:300]
    if response.status_code == 303:  # a visitor's browser on a form source with error_redirect
        assert "error=" in response.headers["Location"] and "event_id" not in response.headers["Location"]
        return
    if response.is_json:
        assert response.get_json()["ok"] is False
        if response.status_code == 503:
            assert response.get_json()["error"] == "store_unavailable"
    else:  # a visitor's browser gets a page, never raw JSON
        assert response.content_type.startswith("text/html") and b"<html" in response.get_data().lower()
    if response.status_code == 503:
        assert response.headers["Retry-After"]


# --- requests that once broke the gateway (found by these properties; each now a 4xx or a deliverable lead) ---


def signed(source_id: str, body: bytes, content_type: str = "application/json") -> HookRequest:
    headers = {header: signature_value(header, body, "correct") or "" for header in SIGNATURE_HEADERS}
    headers.update({"Content-Type": content_type, "Authorization": f"Bearer {JSON_TOKEN}"})
    return HookRequest(method="POST", source_id=source_id, body=body, headers=headers)


DEEP = b"[" * 1000 + b"]" * 1000
TF_EMAIL = b'{"type": "email", "email": "jane@example.com", "field": {"id": "Em3"}}'
KNOWN_BAD_REQUESTS = [
    *(
        pytest.param(signed(source_id, DEEP), id=f"deep-json-{source_id}")
        for source_id in ("web", "batch", "signed", "google", "tf", "fb")
    ),
    pytest.param(signed("web", b'{"email": "jane@example.com", "x": "\\ud800"}'), id="surrogate-web"),
    pytest.param(
        signed("batch", b'{"leads": [{"contact": {"email": "a@example.com"}, "x": "\\udfff"}]}'),
        id="surrogate-batch",
    ),
    pytest.param(signed("tf", b'{"event_type": "\\ud800"}'), id="surrogate-tf"),
    pytest.param(
        signed("google", b'{"google_key": "google-key", "user_column_data": [], "x": "\\ud800"}'),
        id="surrogate-google",
    ),
    pytest.param(
        signed(
            "fb", b'{"entry": [{"id": "\\ud800", "changes": [{"field": "leadgen", "value": {"leadgen_id": "1"}}]}]}'
        ),
        id="surrogate-fb",
    ),
    pytest.param(signed("web", b'{"email": "jane@example.com", "budget": 1e999}'), id="overflow-web"),
    pytest.param(
        signed("batch", b'{"leads": [{"contact": {"email": "a@example.com"}, "n": 1e999}]}'),
        id="overflow-batch",
    ),
    pytest.param(
        signed(
            "tf",
            b'{"event_type": "form_response", "form_response": {"answers": ['
            + TF_EMAIL
            + b'], "calculated": {"score": 1e999}}}',
        ),
        id="overflow-tf",
    ),
    pytest.param(
        signed(
            "tf",
            b'{"event_type": "form_response", "form_response": {"answers": [{"type": "text", "text": "Jane", '
            b'"field": {"id": "Fn1", "type": [null]}}]}}',
        ),
        id="typeform-field-type-list",
    ),
    # the same bodies where they are handled: kept as guards
    pytest.param(
        signed(
            "google",
            b'{"google_key": "google-key", "user_column_data": [{"column_id": "EMAIL", "string_value": '
            b'"a@example.com"}], "n": 1e999}',
        ),
        id="overflow-google",
    ),
    pytest.param(
        signed("web", b"email=jane%40example.com&x=%ED%A0%80", "application/x-www-form-urlencoded"),
        id="surrogate-bytes-urlencoded",
    ),
    pytest.param(signed("web", b'{"email": "jane@example.com", "x": "\xed\xa0\x80"}'), id="surrogate-bytes-json"),
]


@pytest.mark.parametrize("request_", KNOWN_BAD_REQUESTS)
def test_bodies_that_broke_the_gateway_get_a_4xx_or_are_stored_deliverable(client, rt, request_):
    response = request_.send(client)
    check_answer(request_, response)
    check_store(rt, request_, response)


@pytest.mark.parametrize("source_id", ["plain", "fb"])
def test_head_is_answered_like_get_and_stores_nothing(client, rt, source_id):
    head = client.open(
        f"/hooks/{source_id}",
        method="HEAD",
        data=b"email=jane%40example.com",
        content_type="application/x-www-form-urlencoded",
    )
    get = client.open(f"/hooks/{source_id}", method="GET")
    assert rt.store.recent() == []
    assert head.status_code == get.status_code
