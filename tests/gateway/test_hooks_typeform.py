"""``/hooks/<id>`` for the typeform kind: signatures, dedupe, rejected responses and their replay.

Everything runs against the real Redis and the sandbox ConnectGain on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from leadgate import runtime as runtime_module
from leadgate.cli import main
from leadgate.config import Config
from leadgate.operations import replay_event
from leadgate.redis_client import client_options
from leadgate.runtime import Runtime
from leadgate.sandbox import SandboxCRM
from tests.support.config import API_KEY
from tests.support.config import DESTINATION_CONFIG

SECRET = "whsec-typeform-\u00e9t\u00e9"
CONFIG = (
    DESTINATION_CONFIG
    + """sources:
  tf:
    kind: typeform
    secret: ${{TYPEFORM_SECRET}}
    tags: [typeform]
    field_map:
      budget_ref: custom_fields.budget
      "How did you hear about us?": source
"""
)
FIXED_MAPPING = "      reach_me: email\n"
"""The ``field_map`` entry that makes the contactless response below deliverable."""

FIELDS = [
    {"id": "Fn1", "ref": "first_name", "type": "short_text", "title": "What's your first name?"},
    {"id": "Ln2", "ref": "7c1e2a9b-3f4d-4e5a-8b6c-9d0e1f2a3b4c", "type": "short_text", "title": "And your last name?"},
    {"id": "Em3", "ref": "work_email", "type": "email", "title": "Work email"},
    {"id": "Ph4", "ref": "phone", "type": "phone_number", "title": "Best number to call?"},
    {"id": "Pl5", "ref": "plan", "type": "multiple_choice", "title": "Which plan?", "choices": [{"label": "Pro"}]},
    {
        "id": "Hh6",
        "ref": "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f",
        "type": "dropdown",
        "title": "How did you hear about us?",
    },
    {"id": "Bu7", "ref": "budget_ref", "type": "number", "title": "Budget?"},
    {"id": "Rm8", "ref": "reach_me", "type": "short_text", "title": "How should we reach you?"},
]


def answer(field_id: str, answer_type: str, value: Any) -> dict[str, Any]:
    field = next(f for f in FIELDS if f["id"] == field_id)
    return {"type": answer_type, answer_type: value, "field": {k: field[k] for k in ("id", "type", "ref")}}


LEAD_ANSWERS = [
    answer("Fn1", "text", "Zoë"),
    answer("Ln2", "text", "Ångström"),
    answer("Em3", "email", "Zoe@Example.com"),
    answer("Ph4", "phone_number", "+14155552671"),
    answer("Pl5", "choice", {"id": "c1", "label": "Pro", "ref": "pro"}),
    answer("Hh6", "choice", {"label": "Podcast"}),
    answer("Bu7", "number", 12000),
]
CONTACTLESS_ANSWERS = [answer("Pl5", "choice", {"label": "Pro"}), answer("Rm8", "text", "zoe@example.com")]


def webhook(
    answers: list[dict[str, Any]],
    *,
    event_id: str = "01JTF0001",
    token: str = "tok-1",
    event_type: str = "form_response",
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "form_response": {
            "form_id": "AbC123",
            "token": token,
            "landed_at": "2026-11-20T12:00:00Z",
            "submitted_at": "2026-11-20T12:03:00Z",
            "hidden": {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "fall-launch"},
            "calculated": {"score": 3},
            "definition": {"id": "AbC123", "title": "Contact us", "fields": FIELDS},
            "answers": answers,
        },
    }


def raw_body(body: dict[str, Any]) -> bytes:
    """UTF-8 as Typeform sends it: non-ASCII characters unescaped."""
    return json.dumps(body, ensure_ascii=False).encode()


def signature(data: bytes, secret: str = SECRET) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


def post(client: Any, body: dict[str, Any] | bytes, sig: str | None = "sign", source: str = "tf") -> Any:
    data = body if isinstance(body, bytes) else raw_body(body)
    headers = {} if sig is None else {"Typeform-Signature": signature(data) if sig == "sign" else sig}
    return client.post(f"/hooks/{source}", data=data, content_type="application/json", headers=headers)


@pytest.fixture
def config(make_config) -> Config:
    """The ``rt``, ``app`` and ``client`` fixtures run this typeform config."""
    return make_config(CONFIG, TYPEFORM_SECRET=SECRET)


@pytest.fixture
def fixed_rt(make_config, redis_client: redis.Redis, rt: Runtime) -> Iterator[Runtime]:
    """A second runtime on the same Redis whose config has the missing ``field_map`` entry."""
    fixed = Runtime.from_config(make_config(CONFIG + FIXED_MAPPING, TYPEFORM_SECRET=SECRET), client=redis_client)
    runtime_module.install(fixed)
    yield fixed
    runtime_module.install(rt)


def config_file(path: Path, crm: SandboxCRM, redis_url: str, text: str) -> Path:
    """A leadgate.yaml the CLI can read: the given config on the test Redis, secret inlined."""
    body = text.format(crm_url=crm.url, api_key=API_KEY).replace("${TYPEFORM_SECRET}", json.dumps(SECRET))
    path.write_text(f"redis_url: {json.dumps(redis_url)}\n{body}", encoding="utf-8")
    return path


def cli(path: Path, *args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--config", str(path)])
    assert result.exit_code == 0, result.output
    return result


# --- Done when: a signed response arrives mapped --------------------------------------------------


def test_signed_response_is_delivered_mapped(client, rt, crm, deliver_all):
    response = post(client, webhook(LEAD_ANSWERS))
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["status"] == "queued" and body["duplicate"] is False
    deliver_all(rt)
    assert rt.store.get(body["event_id"]).status == "delivered"
    [delivery] = crm.deliveries
    assert delivery["payload"] == {
        "first_name": "Zoë",
        "last_name": "Ångström",
        "email": "zoe@example.com",
        "phone": "+14155552671",
        "source": "Podcast",
        "tags": ["typeform"],
        "custom_fields": {
            "plan": "Pro",
            "budget": 12000,
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "fall-launch",
            "score": 3,
            "form_id": "AbC123",
            "token": "tok-1",
            "landed_at": "2026-11-20T12:00:00Z",
            "submitted_at": "2026-11-20T12:03:00Z",
        },
    }
    assert delivery["idempotency_key"] == body["event_id"]


def test_stored_request_keeps_no_signature(client, rt):
    response = post(client, webhook(LEAD_ANSWERS))
    event = rt.store.get(response.get_json()["event_id"])
    assert event.raw == webhook(LEAD_ANSWERS)
    assert event.request["headers"]["typeform-signature"] == "[redacted]"
    assert SECRET not in json.dumps(event.request)


# --- signatures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sig",
    [None, "", signature(b"{}"), signature(b"x", secret="other"), "sha256=" + "A" * 44, "sha256=zz", "hex=abc"],
)
def test_bad_or_missing_signature_is_401_and_stores_nothing(client, rt, crm, deliver_all, sig):
    response = post(client, webhook(LEAD_ANSWERS), sig=sig)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert rt.store.recent() == []
    assert rt.store.due_count() == 0
    deliver_all(rt)
    assert crm.deliveries == []


def test_signature_over_reencoded_json_is_refused(client, rt):
    data = raw_body(webhook(LEAD_ANSWERS))
    ascii_copy = json.dumps(json.loads(data)).encode()  # same JSON, \u00eb escapes: other bytes
    assert ascii_copy != data
    assert post(client, ascii_copy, sig=signature(data)).status_code == 401
    assert post(client, ascii_copy).status_code == 200
    assert len(rt.store.recent()) == 1


def test_signature_is_checked_before_parsing(client, rt):
    assert post(client, b"{not json", sig="sha256=AAAA").status_code == 401
    assert post(client, b"{not json").status_code == 400
    assert rt.store.recent() == []


# --- malformed but signed: 400, never 500 ----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b"{not json",
        b"\xff\xfe",
        b'{"event_type": "form_response", "form_response": {"answers": "Zo\xc3\xab"}}',
        b'{"event_type": "form_response", "form_response": {"answers": [{"type": "text", "text": "x"}]}}',
        b'{"event_type": "form_response", "form_response": {"definition": {"fields": 3}}}',
        b'{"event_type": "form_response", "form_response": {"hidden": "utm_source"}}',
        b'{"event_type": "form_response", "form_response": 1}',
        b'{"event_type": "form_response", "form_response": {"calculated": {"score": Infinity}}}',
        b'{"form_response": {}}',
    ],
)
def test_malformed_signed_body_is_400_and_stores_nothing(client, rt, data):
    response = post(client, data)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert rt.store.recent() == []


# --- other events ----------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["form_response_partial", "form_updated"])
def test_other_events_are_acknowledged_stored_ignored_and_never_delivered(client, rt, crm, deliver_all, event_type):
    response = post(client, webhook(LEAD_ANSWERS, event_type=event_type))
    assert response.status_code == 200
    assert response.get_json()["status"] == "ignored"
    [event] = rt.store.recent()
    assert event.status == "ignored" and event_type in event.last_error
    assert rt.store.due_count() == 0
    deliver_all(rt)
    assert crm.deliveries == []
    # a partial response does not claim the response's token: the finished one still gets through
    assert post(client, webhook(LEAD_ANSWERS, event_id="01JTF0002")).get_json()["status"] == "queued"


# --- duplicates -------------------------------------------------------------------------------------


def test_resent_event_and_same_token_are_delivered_once(client, rt, crm, deliver_all):
    first = post(client, webhook(LEAD_ANSWERS))
    again = post(client, webhook(LEAD_ANSWERS))
    resubmitted = post(client, webhook(LEAD_ANSWERS[:3], event_id="01JTF0099"))
    for response in (again, resubmitted):
        assert response.status_code == 200
        assert response.get_json()["duplicate"] is True
        assert response.get_json()["event_id"] == first.get_json()["event_id"]
    deliver_all(rt)
    assert len(crm.deliveries) == 1
    assert sorted(e.status for e in rt.store.recent()) == ["delivered", "duplicate", "duplicate"]
    other = post(client, webhook(LEAD_ANSWERS, event_id="01JTF0100", token="tok-2"))
    assert other.get_json()["duplicate"] is False


def test_redis_down_answers_503_not_500(config):
    from gateway import create_app

    dead = redis.Redis(host="127.0.0.1", port=1, **client_options())
    app = create_app(runtime=Runtime.from_config(config, client=dead))
    response = post(app.test_client(), webhook(LEAD_ANSWERS))
    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_unknown_source_is_the_only_404(client):
    assert post(client, webhook(LEAD_ANSWERS), source="tf-typo").status_code == 404


# --- Done when: contactless responses are rejected, visible and replayable ----------------------------


def test_contactless_response_is_acknowledged_as_rejected(client, rt, crm, deliver_all, tmp_path, redis_url):
    response = post(client, webhook(CONTACTLESS_ANSWERS))
    assert response.status_code == 200
    body = response.get_json()
    assert body == {"ok": True, "event_id": body["event_id"], "status": "rejected", "duplicate": False}
    [event] = rt.store.recent()
    assert event.id == body["event_id"] and event.status == "rejected"
    assert "no usable contact field" in event.last_error
    assert rt.store.due_count() == 0
    deliver_all(rt)
    assert crm.deliveries == []
    listed = json.loads(cli(config_file(tmp_path / "leadgate.yaml", crm, redis_url, CONFIG), "events", "--json").stdout)
    assert [(e["id"], e["status"]) for e in listed] == [(event.id, "rejected")]
    assert "no usable contact field" in listed[0]["last_error"]
    resent = post(client, webhook(CONTACTLESS_ANSWERS))
    assert resent.get_json()["duplicate"] is True and resent.get_json()["event_id"] == event.id


def test_rejected_response_replays_after_the_mapping_is_fixed(client, rt, crm, deliver_all, make_config, redis_client):
    event_id = post(client, webhook(CONTACTLESS_ANSWERS)).get_json()["event_id"]
    still_broken = replay_event(rt, event_id)
    assert not still_broken.ok and "no usable contact field" in still_broken.message
    assert rt.store.get(event_id).status == "rejected"
    fixed = Runtime.from_config(make_config(CONFIG + FIXED_MAPPING, TYPEFORM_SECRET=SECRET), client=redis_client)
    runtime_module.install(fixed)
    try:
        result = replay_event(fixed, event_id)
        assert result.ok, result.message
        deliver_all(fixed)
    finally:
        runtime_module.install(rt)
    assert fixed.store.get(event_id).status == "delivered"
    [delivery] = crm.deliveries
    assert delivery["payload"]["email"] == "zoe@example.com"
    assert delivery["payload"]["custom_fields"]["plan"] == "Pro"
    assert delivery["payload"]["custom_fields"]["utm_campaign"] == "fall-launch"


def test_rejected_response_replays_from_the_cli(client, rt, crm, deliver_all, fixed_rt, tmp_path, redis_url):
    event_id = post(client, webhook(CONTACTLESS_ANSWERS)).get_json()["event_id"]
    assert rt.store.get(event_id).status == "rejected"
    path = config_file(tmp_path / "leadgate.yaml", crm, redis_url, CONFIG + FIXED_MAPPING)
    assert f"{event_id}: queued" in cli(path, "dlq", "replay", event_id).output
    deliver_all(fixed_rt)
    assert fixed_rt.store.get(event_id).status == "delivered"
    assert [d["payload"]["email"] for d in crm.deliveries] == ["zoe@example.com"]
    listed = json.loads(cli(path, "events", "--json").stdout)
    assert [(e["id"], e["status"]) for e in listed] == [(event_id, "delivered")]
