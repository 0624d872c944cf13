"""/hooks/<id> for a facebook source: handshake, signatures, batches, duplicates, parking and replay."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from leadgate.cli import main
from leadgate.redis_client import client_options
from leadgate.runtime import Runtime
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.config import load_config
from tests.support.graph_api import PAGE_TOKEN
from tests.support.graph_api import VERIFY_TOKEN
from tests.support.graph_api import facebook_config
from tests.support.graph_api import facebook_env
from tests.support.graph_api import leadgen_change
from tests.support.graph_api import notification
from tests.support.graph_api import post_notification
from tests.support.graph_api import sign

JANE = {"full_name": "Jane Roe", "email": "jane@example.com", "phone_number": "+14155552671", "job_title": "CTO"}
ZOE = {"first_name": "Zoë", "last_name": "Ünal", "email": "zoe@example.com", "what_is_your_budget?": "5000"}


@pytest.fixture
def config(make_config, graph):
    return make_config(facebook_config(BASE_CONFIG, graph.url), **facebook_env())


def stored(rt) -> list:
    return rt.store.recent(limit=1000)


# handshake


def test_handshake_answers_exactly_the_challenge(client, rt):
    response = client.get(
        "/hooks/fb",
        query_string={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response.get_data() == b"1158201444"
    assert response.mimetype == "text/plain"
    assert stored(rt) == []


def test_handshake_with_a_wrong_token_is_403(client):
    response = client.get(
        "/hooks/fb", query_string={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    )
    assert response.status_code == 403
    assert response.get_json()["ok"] is False


# signatures


def test_signed_webhook_with_two_leads_gives_two_connectgain_leads(client, rt, graph, crm, deliver_all):
    jane, zoe = graph.add_lead(JANE), graph.add_lead(ZOE, platform="ig")
    response = post_notification(client, notification([leadgen_change(jane["id"]), leadgen_change(zoe["id"])]))
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "events": 2, "duplicates": 0}
    assert graph.requests == [], "the Graph API is never called inside the request"
    assert {e.status for e in stored(rt)} == {"queued"}
    deliver_all(rt)
    payloads = {d["payload"]["email"]: d["payload"] for d in crm.deliveries}
    assert set(payloads) == {"jane@example.com", "zoe@example.com"}
    assert payloads["jane@example.com"]["first_name"] == "Jane"
    assert payloads["jane@example.com"]["phone"] == "+14155552671"
    assert payloads["jane@example.com"]["custom_fields"]["job_title"] == "CTO"
    assert payloads["zoe@example.com"]["last_name"] == "Ünal"
    assert payloads["zoe@example.com"]["custom_fields"]["budget"] == "5000"
    assert payloads["zoe@example.com"]["custom_fields"]["platform"] == "ig"
    assert payloads["zoe@example.com"]["custom_fields"]["leadgen_id"] == zoe["id"]


@pytest.mark.parametrize(
    "signature", ["", "sha256=deadbeef", sign(b"{}"), sign(b'{"entry": []}', "not-the-app-secret")], ids=str
)
def test_missing_or_bad_signature_is_401_and_stores_nothing(client, rt, graph, signature):
    body = json.dumps(notification([leadgen_change(graph.add_lead(JANE)["id"])])).encode()
    headers = {"X-Hub-Signature-256": signature} if signature else {}
    response = client.post("/hooks/fb", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert stored(rt) == [] and rt.store.due_count() == 0


def test_body_altered_after_signing_is_401(client, rt, graph):
    body = json.dumps(notification([leadgen_change("111")])).encode()
    response = post_notification(client, body.replace(b"111", b"112"), signature=sign(body))
    assert response.status_code == 401
    assert stored(rt) == []


def test_signature_over_raw_non_ascii_bytes(client, rt, graph, crm, deliver_all):
    lead = graph.add_lead(ZOE)
    raw = (
        '{"object":"page","entry":[{"id":"1001","time":1764325000,"page_name":"Caf\\u00e9 \\/ Zoë",'
        f'"changes":[{{"field":"leadgen","value":{{"leadgen_id":"{lead["id"]}","page_id":"1001"}}}}]}}]}}'
    ).encode()
    assert post_notification(client, raw).status_code == 200
    deliver_all(rt)
    assert crm.deliveries_by_email()["zoe@example.com"] == 1


# batches


def test_multi_entry_batch_with_numeric_and_string_ids(client, rt, graph, crm, deliver_all):
    ids = [graph.add_lead({"email": f"b{i}@example.com"})["id"] for i in range(5)]
    raw = json.dumps(
        notification(
            [leadgen_change(int(ids[0]), page_id=1001, form_id=9001), leadgen_change(ids[1])],
            [leadgen_change(ids[2]), {"field": "feed", "value": {"verb": "add"}}, leadgen_change(int(ids[3]))],
            [leadgen_change(ids[4])],
        )
    ).encode()
    assert b'"leadgen_id": 5' in raw  # really JSON numbers
    response = post_notification(client, raw)
    assert response.get_json()["events"] == 5
    assert sorted(e.dedupe_keys[0] for e in stored(rt)) == sorted(ids)
    deliver_all(rt)
    assert sorted(crm.deliveries_by_email()) == [f"b{i}@example.com" for i in range(5)]


def test_a_body_without_leadgen_changes_is_acknowledged(client, rt):
    response = post_notification(client, notification([{"field": "feed", "value": {}}]))
    assert response.status_code == 200 and response.get_json()["events"] == 0
    assert stored(rt) == []


def test_a_malformed_change_does_not_hold_back_the_batch(client, rt, graph, crm, deliver_all):
    lead = graph.add_lead(JANE)
    body = notification([{"field": "leadgen", "value": {"page_id": "1001"}}, leadgen_change(lead["id"])])
    assert post_notification(client, body).status_code == 200
    deliver_all(rt)
    assert sorted(e.status for e in stored(rt)) == ["delivered", "rejected"]
    assert len(crm.deliveries) == 1


def test_unparseable_signed_body_is_400(client, rt):
    assert post_notification(client, b"{not json").status_code == 400
    assert stored(rt) == []


def test_resent_leadgen_id_is_delivered_once(client, rt, graph, crm, deliver_all):
    lead = graph.add_lead(JANE)
    first = post_notification(client, notification([leadgen_change(lead["id"])]))
    deliver_all(rt)
    again = post_notification(client, notification([leadgen_change(int(lead["id"]))], page_id=1001))
    same_batch = post_notification(client, notification([leadgen_change(lead["id"])] * 2))
    assert first.get_json()["duplicates"] == 0
    assert again.get_json()["duplicates"] == 1 and same_batch.get_json()["duplicates"] == 2
    deliver_all(rt)
    assert crm.deliveries_by_email()["jane@example.com"] == 1
    assert len(graph.requests) == 1


def test_store_down_answers_503_so_meta_retries(config):
    from gateway import create_app

    dead = redis.Redis(host="127.0.0.1", port=1, **client_options())
    app = create_app(runtime=Runtime.from_config(config, client=dead))
    started = time.monotonic()
    response = post_notification(app.test_client(), notification([leadgen_change("123")]))
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert time.monotonic() - started < 2


# expired token: park, then replay after the fix


@pytest.fixture
def config_file(tmp_path: Path, crm, redis_url: str, graph, monkeypatch) -> Path:
    for name, value in facebook_env().items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "leadgate.yaml"
    text = facebook_config(BASE_CONFIG, graph.url).format(crm_url=crm.url, api_key=API_KEY)
    path.write_text(f"redis_url: {json.dumps(redis_url)}\n{text}", encoding="utf-8")
    return path


def test_expired_token_parks_leads_that_dlq_replay_delivers_after_the_fix(
    client, rt, graph, crm, deliver_all, config_file, redis_client, monkeypatch
):
    leads = [graph.add_lead(JANE), graph.add_lead(ZOE)]
    graph.expire_token(PAGE_TOKEN)
    assert post_notification(client, notification([leadgen_change(lead["id"]) for lead in leads])).status_code == 200
    deliver_all(rt)
    events = stored(rt)
    assert {e.status for e in events} == {"needs_token"} and {e.attempts for e in events} == {1}
    assert rt.store.dead_letters() == [] and crm.deliveries == []

    listing = CliRunner().invoke(main, ["events", "--json", "--config", str(config_file)])
    assert listing.exit_code == 0, listing.output
    assert {e["status"] for e in json.loads(listing.stdout)} == {"needs_token"}

    graph.allow_token("page-token-renewed")
    monkeypatch.setenv("FB_PAGE_TOKEN", "page-token-renewed")
    replay = CliRunner().invoke(main, ["dlq", "replay", "--all", "--config", str(config_file)])
    assert replay.exit_code == 0, replay.output
    assert replay.output.count("queued") == 2

    from leadgate import runtime as runtime_module

    renewed = Runtime.from_config(load_config(config_file), client=redis_client)
    runtime_module.install(renewed)
    deliver_all(renewed)
    assert crm.deliveries_by_email() == {"jane@example.com": 1, "zoe@example.com": 1}
    assert {e.status for e in stored(rt)} == {"delivered"} and rt.store.parked() == []
    tokens = [r["query"]["access_token"] for r in graph.requests]
    assert tokens == [PAGE_TOKEN, PAGE_TOKEN, "page-token-renewed", "page-token-renewed"]


def test_a_batch_of_a_thousand_changes_is_stored_in_one_request(client, rt):
    changes = [leadgen_change(str(7_000_000 + i)) for i in range(1000)]
    started = time.monotonic()
    response = post_notification(client, notification(changes[:600], changes[600:]))
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.get_json()["events"] == 1000
    assert rt.store.due_count() == 1000 and rt.store.due_count() == 1000
    assert elapsed < 15, f"{elapsed:.1f}s for 1,000 changes"
