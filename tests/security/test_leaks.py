"""Leaks: what a peer echoes back is stored and logged through the same redaction as everything else.

The audit found a Graph error body stored and logged verbatim, so a token echoed in it was written
(Graph's own error messages quote request URLs, ``access_token=`` included).
"""

from __future__ import annotations

import json

import pytest

from adapters.base import InboundEvent
from leadgate.intake import accept
from leadgate.redaction import REDACTED
from leadgate.redaction import redact_text
from tests.support.config import BASE_CONFIG
from tests.support.graph_api import FORM_ID
from tests.support.graph_api import PAGE_ID
from tests.support.graph_api import PAGE_TOKEN
from tests.support.graph_api import facebook_config
from tests.support.graph_api import facebook_env

ANSWERS = {"full_name": "Jane Roe", "email": "jane@example.com"}


@pytest.fixture
def config(make_config, graph):
    return make_config(facebook_config(BASE_CONFIG, graph.url), **facebook_env())


def test_a_token_echoed_in_a_graph_error_is_neither_stored_nor_logged(rt, graph, crm, deliver_all, capfd):
    lead = graph.add_lead(ANSWERS)
    echoed = f"Unsupported get request: GET /v21.0/{lead['id']}?access_token={PAGE_TOKEN}&fields=id"
    graph.fail_next(status=400, code=100, message=echoed)
    raw = {"webhook": {"leadgen_id": lead["id"], "page_id": PAGE_ID, "form_id": FORM_ID}, "entry_time": 1}
    event_id = accept(rt, rt.config.sources["fb"], InboundEvent(raw=raw, dedupe_keys=(lead["id"],))).event_id
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "dead"
    stored = json.dumps([event.last_error, rt.store.attempts(event_id)])
    assert PAGE_TOKEN not in stored
    assert f"access_token={REDACTED}" in stored  # the rest of Meta's message stays, for the operator
    out, err = capfd.readouterr()
    assert PAGE_TOKEN not in out + err


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"error": {"message": "bad", "api_key": "cg_live_0123456789"}}', "cg_live_0123456789"),
        ("retry with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "eyJhbGciOiJIUzI1NiJ9.e30.x"),
        ("?client_secret=s3cr3t-value&x=1", "s3cr3t-value"),
        ("X-Hub-Signature-256: sha256=0123abcd", "0123abcd"),
    ],
)
def test_secrets_named_in_free_text_are_redacted(text: str, secret: str):
    assert secret not in redact_text(text)


def test_text_without_secrets_is_left_as_it_is():
    text = "ConnectGain answered 422: email is not valid (field: email, value: jo@)"
    assert redact_text(text) == text
