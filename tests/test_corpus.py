"""Published real-world posts, through the HTTP layer and a real (in-process, burst) worker to the CRM.

Each sample in ``tests/corpus/`` is a form builder's or platform's post transcribed from what its
maker publishes (field names, hidden inputs and order verbatim; personal values invented), with
its origin and the lead a person would expect from it. Every sample is posted to a source of its
kind configured with **no** ``field_map``, delivered to the sandbox CRM, and the lead the CRM got
is checked: email, E.164 phone, first and last name, every answer the visitor typed somewhere in
the lead, context under its key, and no technical field forwarded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.datastructures import MultiDict

from adapters.presets import PRESETS
from gateway import create_app
from leadgate import runtime as runtime_module
from leadgate.runtime import Runtime
from tests.support.config import DESTINATION_CONFIG
from tests.support.delivery import drain

CORPUS = Path(__file__).parent / "corpus"
FORM_SAMPLES = sorted((CORPUS / "forms").glob("*.json"))
PLATFORM_SAMPLES = sorted((CORPUS / "platforms").glob("*.json"))
SECRET = "corpus-signing-secret"
PAGE_TOKEN = "corpus-page-token"
HOOK_URL = "http://localhost/hooks/corpus"
"""What the Flask test client calls (and so what a URL-covering signature, HubSpot's, must cover)."""


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def texts(value: Any) -> list[str]:
    """Every scalar in a payload, as text."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    return [] if value is None else [str(value)]


def test_the_corpus_is_large_and_says_where_each_sample_came_from() -> None:
    samples = [load(path) for path in sorted(CORPUS.glob("*/*.json"))]
    assert len(samples) >= 30
    for sample in samples:
        assert sample["origin"]["sources"], sample["origin"]
        assert sample["origin"].get("note")


@pytest.fixture
def sample_app(make_config, redis_client):
    """A gateway with one source, ``corpus``, of the sample's kind and with no ``field_map``."""

    def build(source_yaml: str, phone_region: str | None):
        region = f"    phone_region: {phone_region}\n" if phone_region else ""
        config = make_config(DESTINATION_CONFIG + "sources:\n  corpus:\n" + source_yaml + region)
        runtime = Runtime.from_config(config, client=redis_client)
        runtime_module.install(runtime)  # what the worker's delivery job reads
        app = create_app(runtime=runtime)
        app.testing = True
        return app, runtime

    yield build
    runtime_module.install(None)


def post_sample(client: Any, request: dict[str, Any]) -> Any:
    content_type = request["content_type"]
    if content_type == "application/json":
        return client.post("/hooks/corpus", json=request["json"])
    pairs = [(str(name), str(value)) for name, value in request["fields"]]
    if content_type == "multipart/form-data":
        return client.post("/hooks/corpus", data=MultiDict(pairs), content_type="multipart/form-data")
    return client.post("/hooks/corpus", data=urlencode(pairs), content_type=content_type)


@pytest.mark.parametrize("path", FORM_SAMPLES, ids=[p.stem for p in FORM_SAMPLES])
def test_a_published_form_post_arrives_as_a_complete_lead(path: Path, sample_app, crm) -> None:
    sample = load(path)
    expect = sample["expect"]
    app, runtime = sample_app("    kind: form\n", sample.get("phone_region"))
    response = post_sample(app.test_client(), sample["request"])
    assert response.status_code == 202, response.get_data(as_text=True)
    event_id = response.get_json()["event_id"]
    if expect["honeypot"]:
        assert runtime.store.get(event_id).status == "spam"
        drain(runtime, timeout=5)
        assert crm.deliveries == []
        return
    drain(runtime, timeout=5)
    event = runtime.store.get(event_id)
    assert event.status == "delivered", (event.status, event.last_error)
    lead = check_delivered_lead(path, crm, expect)
    custom = lead.get("custom_fields", {})
    for key, value in expect.get("context", {}).items():
        assert custom.get(key) == value, f"context {key}: {custom.get(key)!r} != {value!r}"
    context_keys = set(expect.get("context", {}))
    forwarded = [name for name in expect["technical"] if name in custom and name not in context_keys]
    assert not forwarded, f"technical fields forwarded: {forwarded}\n{json.dumps(custom, indent=1)}"


def check_delivered_lead(path: Path, crm: Any, expect: dict[str, Any]) -> dict[str, Any]:
    """The one lead the CRM got has the expected contact fields and every answer somewhere."""
    [delivery] = crm.deliveries
    lead = delivery["payload"]
    got = {key: lead.get(key) for key in ("email", "phone", "first_name", "last_name")}
    wanted = {key: expect[key] for key in ("email", "phone", "first_name", "last_name")}
    assert got == wanted, f"{path.name}: {json.dumps(lead, indent=1, ensure_ascii=False)}"
    everything = texts(lead)
    missing = [answer for answer in expect["answers"] if not any(str(answer) in text for text in everything)]
    assert not missing, f"answers not in the lead: {missing}\n{json.dumps(lead, indent=1, ensure_ascii=False)}"
    return lead


def platform_source(sample: dict[str, Any], graph_url: str) -> str:
    kind = sample["kind"]
    if kind == "facebook":
        return (
            f"    kind: facebook\n    app_secret: {SECRET}\n    verify_token: corpus\n"
            f"    access_token: {PAGE_TOKEN}\n    graph_api_url: {graph_url}\n"
        )
    if kind == "google_ads":
        return f"    kind: google_ads\n    google_key: {sample['request']['json']['google_key']}\n"
    if kind == "typeform":
        return f"    kind: typeform\n    secret: {SECRET}\n"
    preset = PRESETS[sample["preset"]]
    auth = f"    secret: {SECRET}\n" if preset.signature else f"    token: {SECRET}\n"
    return f"    kind: json\n    preset: {preset.name}\n" + auth


def signed_post(client: Any, sample: dict[str, Any]) -> Any:
    """The sample posted as its sender does, signed with the sender's own scheme."""
    request, kind = sample["request"], sample["kind"]
    if request["content_type"] == "multipart/form-data":  # Jotform: parts, and the token in the URL
        pairs = MultiDict([(str(n), str(v)) for n, v in request["fields"]])
        return client.post(f"/hooks/corpus?token={SECRET}", data=pairs, content_type="multipart/form-data")
    body = json.dumps(request["json"], ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if kind == "facebook":
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    elif kind == "typeform":
        digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        headers["Typeform-Signature"] = f"sha256={digest}"
    elif kind == "json":
        signature = PRESETS[sample["preset"]].signature
        if signature is not None:
            headers.update(signature.sign(body, SECRET, time.time(), "POST", HOOK_URL))
    return client.post("/hooks/corpus", data=body, headers=headers)


@pytest.mark.parametrize("path", PLATFORM_SAMPLES, ids=[p.stem for p in PLATFORM_SAMPLES])
def test_a_published_platform_webhook_arrives_as_a_complete_lead(path: Path, sample_app, crm, graph) -> None:
    sample = load(path)
    expect = sample["expect"]
    app, runtime = sample_app(platform_source(sample, graph.url), sample.get("phone_region"))
    if sample["kind"] == "facebook":
        page_id = sample["request"]["json"]["entry"][0]["id"]
        graph.allow_token(PAGE_TOKEN, pages=None)
        graph.add_lead_object(sample["graph_lead"], page_id)
    response = signed_post(app.test_client(), sample)
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    drain(runtime, timeout=5)
    [event] = runtime.store.recent()
    assert event.status == "delivered", (event.status, event.last_error)
    lead = check_delivered_lead(path, crm, expect)
    if expect.get("test_lead"):
        assert "test-lead" in lead.get("tags", []), lead
    for dummy in expect.get("dummy_values", []):
        assert dummy not in json.dumps(lead, ensure_ascii=False), f"a dummy value was sent: {dummy}"
