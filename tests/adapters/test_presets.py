"""The json kind's presets: each sender's signature scheme, computed here from its published formula,
and what a preset maps, filters and leaves out. The published samples themselves run end to end in
``tests/test_corpus.py``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from adapters import webhook as json_kind
from adapters.base import InboundRequest
from adapters.base import Unauthorized
from adapters.presets import PRESETS
from leadgate.config import ConfigError
from leadgate.config import SourceConfig
from tests.support.config import parse_yaml

SECRET = "whsec-test"
URL = "https://leads.example.com/hooks/hook?x=1"
BODY = json.dumps({"payload": {"data": {"Email": "Ann@Example.com", "Name": "Ann Lee"}, "id": "s1"}}).encode()


def source(extra: str) -> SourceConfig:
    text = "destinations:\n  main: {base_url: 'http://127.0.0.1:9'}\nsources:\n  hook:\n    kind: json\n" + extra
    return parse_yaml(text, {}).sources["hook"]


def request(headers: dict[str, str], body: bytes = BODY) -> InboundRequest:
    lowered = {k.lower(): v for k, v in headers.items()}
    return InboundRequest(method="POST", content_type="application/json", body=body, headers=lowered, url=URL)


def hex_hmac(message: bytes) -> str:
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


def b64_hmac(message: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def published_headers(preset: str, body: bytes, now: float) -> dict[str, str]:
    """Each sender's signature as its documentation defines it (tests/corpus/platforms/NOTES.md)."""
    if preset == "webflow":
        ts = str(int(now * 1000))
        return {"x-webflow-timestamp": ts, "x-webflow-signature": hex_hmac(ts.encode() + b":" + body)}
    if preset == "calendly":
        ts = str(int(now))
        return {"Calendly-Webhook-Signature": f"t={ts},v1={hex_hmac(ts.encode() + b'.' + body)}"}
    if preset == "tally":
        return {"Tally-Signature": b64_hmac(body)}
    if preset == "hubspot":
        ts = str(int(now * 1000))
        return {
            "X-HubSpot-Signature-v3": b64_hmac(b"POST" + URL.encode() + body + ts.encode()),
            "X-HubSpot-Request-Timestamp": ts,
        }
    raise AssertionError(preset)


SIGNED = ["webflow", "calendly", "tally", "hubspot"]


@pytest.mark.parametrize("name", SIGNED)
def test_the_published_signature_is_accepted(name):
    src = source(f"    preset: {name}\n    secret: {SECRET}\n")
    json_kind.verify(request(published_headers(name, BODY, time.time())), src)


@pytest.mark.parametrize("name", SIGNED)
def test_our_signing_matches_the_published_formula(name):
    now = time.time()
    ours = PRESETS[name].signature.sign(BODY, SECRET, now, "POST", URL)
    assert {k.lower(): v for k, v in ours.items()} == {
        k.lower(): v for k, v in published_headers(name, BODY, now).items()
    }


@pytest.mark.parametrize("name", SIGNED)
def test_a_changed_body_or_a_missing_signature_is_refused(name):
    src = source(f"    preset: {name}\n    secret: {SECRET}\n")
    headers = published_headers(name, BODY, time.time())
    with pytest.raises(Unauthorized, match="does not match"):
        json_kind.verify(request(headers, BODY.replace(b"Ann", b"Bob")), src)
    with pytest.raises(Unauthorized, match="missing"):
        json_kind.verify(request({}), src)


@pytest.mark.parametrize("name", ["webflow", "calendly", "hubspot"])
def test_an_old_timestamp_is_refused_as_a_replay(name):
    src = source(f"    preset: {name}\n    secret: {SECRET}\n")
    stale = published_headers(name, BODY, time.time() - 3600)
    with pytest.raises(Unauthorized, match="limit"):
        json_kind.verify(request(stale), src)
    lenient = source(f"    preset: {name}\n    secret: {SECRET}\n    signature_max_age: 7200\n")
    json_kind.verify(request(stale), lenient)


def test_hubspot_v2_and_v1_signatures_are_plain_sha256_hashes():
    src = source(f"    preset: hubspot\n    secret: {SECRET}\n")
    v2 = hashlib.sha256(SECRET.encode() + b"POST" + URL.encode() + BODY).hexdigest()
    json_kind.verify(request({"X-HubSpot-Signature": v2, "X-HubSpot-Signature-Version": "v2"}), src)
    v1 = hashlib.sha256(SECRET.encode() + BODY).hexdigest()
    json_kind.verify(request({"X-HubSpot-Signature": v1, "X-HubSpot-Signature-Version": "v1"}), src)
    with pytest.raises(Unauthorized):
        json_kind.verify(request({"X-HubSpot-Signature": v1, "X-HubSpot-Signature-Version": "v2"}), src)


def test_calendly_accepts_either_signature_during_a_key_rotation():
    src = source(f"    preset: calendly\n    secret: {SECRET}\n")
    ts = str(int(time.time()))
    good = hex_hmac(ts.encode() + b"." + BODY)
    json_kind.verify(request({"Calendly-Webhook-Signature": f"t={ts},v1={'0' * 64},v1={good}"}), src)


def config_error(extra: str) -> str:
    with pytest.raises(ConfigError) as err:
        source(extra)
    return str(err.value)


def test_config_errors_name_the_problem():
    assert "Must be one of" in config_error("    preset: typeform-ish\n")
    assert "or name a preset" in config_error("    token: t\n")
    assert "does not sign" in config_error(f"    preset: jotform\n    secret: {SECRET}\n")


def lead_of(src: SourceConfig, body: Any) -> dict[str, Any]:
    data = json.dumps(body).encode()
    [event] = json_kind.parse(InboundRequest(method="POST", content_type="application/json", body=data), src)
    return json_kind.normalize(event.raw, src)


def test_a_preset_reads_the_answers_like_a_form_and_the_users_mapping_wins():
    body = {
        "triggerType": "form_submission",
        "payload": {"name": "Contact", "data": {"E-mail": "a@b.co", "Budget": "5k"}},
    }
    lead = lead_of(source("    preset: webflow\n    auth: none\n"), body)
    assert lead["email"] == "a@b.co" and lead["custom_fields"]["Budget"] == "5k"
    assert lead["custom_fields"]["form_name"] == "Contact" and lead["source"] == "webflow"
    mapped = lead_of(
        source("    preset: webflow\n    auth: none\n    mapping: {custom_fields.form_name: \"'Landing page'\"}\n"),
        body,
    )
    assert mapped["custom_fields"]["form_name"] == "Landing page"


def test_calendly_reschedules_and_cancellations_are_not_new_leads():
    src = source("    preset: calendly\n    auth: none\n")
    invitee = {"email": "a@b.co", "name": "Ann Lee", "uri": "https://api.calendly.com/x/invitees/1"}
    for body in (
        {"event": "invitee.canceled", "payload": invitee},
        {"event": "invitee.created", "payload": {**invitee, "old_invitee": "https://api.calendly.com/x/invitees/0"}},
    ):
        data = json.dumps(body).encode()
        [event] = json_kind.parse(InboundRequest(method="POST", content_type="application/json", body=data), src)
        assert event.outcome == "ignored"


def test_tally_choices_are_texts_and_per_option_checkbox_copies_are_skipped():
    fields = [
        {"key": "q1", "label": "Email", "type": "INPUT_EMAIL", "value": "a@b.co"},
        {
            "key": "q2",
            "label": "Channels",
            "type": "CHECKBOXES",
            "value": ["o1"],
            "options": [{"id": "o1", "text": "Ads"}],
        },
        {"key": "q2_o1", "label": "Channels (Ads)", "type": "CHECKBOXES", "value": True},
    ]
    lead = lead_of(
        source("    preset: tally\n    auth: none\n"), {"eventType": "FORM_RESPONSE", "data": {"fields": fields}}
    )
    assert lead["custom_fields"] == {"Channels": ["Ads"]}
