"""HTTP behaviour of /hooks/<id> for the google_ads kind, against a real Redis and the sandbox CRM."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import redis

from leadgate.config import Config
from leadgate.redis_client import client_options
from leadgate.runtime import Runtime
from tests.support.config import DESTINATION_CONFIG

KEY = "gk-7c1f0e"

GOOGLE_CONFIG = (
    DESTINATION_CONFIG
    + """sources:
  google:
    kind: google_ads
    google_key: ${{GOOGLE_LEAD_KEY}}
    tags: [google]
    phone_region: US
    field_map: {{"What is your budget?": custom_fields.budget}}
  google-drop:
    kind: google_ads
    google_key: ${{GOOGLE_LEAD_KEY}}
    test_leads: drop
  google-deliver:
    kind: google_ads
    google_key: ${{GOOGLE_LEAD_KEY}}
    test_leads: deliver
"""
)

LEAD: dict[str, Any] = {
    "lead_id": "Cj0KCQjwit_8BRCoARIsAIx3Rj7g-lead-0001",
    "api_version": "1.0",
    "form_id": 40000000001,
    "campaign_id": 9007199254740993,
    "adgroup_id": 20000000002,
    "creative_id": 30000000003,
    "asset_group_id": 0,
    "gcl_id": "EAIaIQobChMI-gclid",
    "google_key": KEY,
    "is_test": False,
    "lead_stage": "new",
    "lead_submit_time": "2026-11-20T12:30:00Z",
    "user_column_data": [
        {"column_name": "Full Name", "string_value": "Jane Roe", "column_id": "FULL_NAME"},
        {"column_name": "User Email", "string_value": "Jane@Example.com", "column_id": "EMAIL"},
        {"column_name": "User Phone", "string_value": "(415) 555-2671", "column_id": "PHONE_NUMBER"},
        {"column_name": "Company Name", "string_value": "Acme", "column_id": "COMPANY_NAME"},
        {"column_name": "What is your budget?", "string_value": "5000-10000", "column_id": "1234567890"},
        {"column_name": "When should we call?", "string_value": "Mornings", "column_id": "1234567891"},
    ],
}

EXPECTED_PAYLOAD = {
    "first_name": "Jane",
    "last_name": "Roe",
    "email": "jane@example.com",
    "phone": "+14155552671",
    "company_name": "Acme",
    "source": "google_ads",
    "tags": ["google"],
    "custom_fields": {
        "budget": "5000-10000",
        "When should we call?": "Mornings",
        "lead_id": "Cj0KCQjwit_8BRCoARIsAIx3Rj7g-lead-0001",
        "form_id": "40000000001",
        "campaign_id": "9007199254740993",
        "adgroup_id": "20000000002",
        "creative_id": "30000000003",
        "gcl_id": "EAIaIQobChMI-gclid",
        "lead_submit_time": "2026-11-20T12:30:00Z",
        "lead_stage": "new",
        "api_version": "1.0",
    },
}


@pytest.fixture
def config(make_config) -> Config:
    """Overrides the suite's config so ``rt``, ``app`` and ``client`` serve the Google sources."""
    return make_config(GOOGLE_CONFIG, GOOGLE_LEAD_KEY=KEY)


def lead(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(LEAD)
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


def post(client: Any, body: Any, source: str = "google"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/hooks/{source}",
        data=data,
        content_type="application/json",
        headers={"User-Agent": "Google-Ads-Notifications"},
    )


def assert_nothing_stored(rt: Runtime) -> None:
    assert rt.store.recent() == []
    assert rt.store.due_count() == 0


def test_lead_with_name_email_phone_company_and_two_questions_arrives_mapped(client, rt, crm, deliver_all):
    response = post(client, LEAD)
    assert response.status_code == 200
    assert response.get_json() == {}
    [event] = rt.store.recent()
    assert event.status == "queued"
    assert rt.store.due_count() == 1
    deliver_all(rt)
    [delivery] = crm.deliveries
    assert delivery["payload"] == EXPECTED_PAYLOAD
    assert rt.store.get(event.id).status == "delivered"


def test_stored_event_keeps_ids_exact_and_never_the_key(client, rt):
    assert post(client, LEAD).status_code == 200
    [event] = rt.store.recent()
    assert event.raw["campaign_id"] == "9007199254740993"
    assert event.raw["form_id"] == "40000000001"
    assert event.dedupe_keys == [LEAD["lead_id"]]
    assert KEY not in json.dumps(event.raw)
    assert KEY not in json.dumps(event.request)


@pytest.mark.parametrize(
    "body",
    [lead(google_key="wrong-key"), lead(google_key=...), lead(google_key=""), lead(google_key=..., Google_key="no")],
    ids=["wrong", "missing", "empty", "capitalised-wrong"],
)
def test_wrong_or_missing_key_is_401_and_stores_nothing(client, rt, crm, deliver_all, body):
    response = post(client, body)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert "message" in response.get_json()
    assert_nothing_stored(rt)
    deliver_all(rt)
    assert crm.deliveries == []


def test_key_spelled_google_key_with_capital_g_is_accepted(client, rt, crm, deliver_all):
    response = post(client, lead(google_key=..., Google_key=KEY))
    assert response.status_code == 200 and response.get_json() == {}
    deliver_all(rt)
    assert crm.deliveries[0]["payload"]["email"] == "jane@example.com"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (json.dumps([LEAD]).encode(), 400),
        (json.dumps(lead(user_column_data={"column_id": "EMAIL"})).encode(), 400),
        (json.dumps(lead(user_column_data="jane@example.com")).encode(), 400),
        (json.dumps(lead(user_column_data=["jane@example.com"])).encode(), 400),
        (json.dumps(lead(campaign_id=1.5)).encode(), 400),
    ],
    ids=["invalid-json", "empty-list", "body-list", "columns-object", "columns-string", "column-not-object", "id"],
)
def test_malformed_bodies_are_4xx_json_and_store_nothing(client, rt, body, status):
    response = post(client, body)
    assert response.status_code == status
    payload = response.get_json()
    assert payload["ok"] is False and payload["message"]
    assert_nothing_stored(rt)


def test_wrong_types_from_an_unauthenticated_sender_are_401_not_400(client, rt):
    response = post(client, lead(google_key="wrong", user_column_data="not a list"))
    assert response.status_code == 401
    assert_nothing_stored(rt)


def test_resent_lead_is_delivered_once(client, rt, crm, deliver_all):
    first = post(client, LEAD)
    deliver_all(rt)
    # Google re-sends the same lead_id; even a body that differs (new gcl_id) is the same lead.
    second = post(client, lead(gcl_id="EAIaIQobChMI-other"))
    third = post(client, LEAD)
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert second.get_json() == {} and third.get_json() == {}
    deliver_all(rt)
    assert len(crm.deliveries) == 1
    assert sorted(e.status for e in rt.store.recent()) == ["delivered", "duplicate", "duplicate"]


def test_different_leads_are_each_delivered(client, rt, crm, deliver_all):
    post(client, LEAD)
    post(client, lead(lead_id="Cj0KCQjwit-lead-0002"))
    deliver_all(rt)
    assert len(crm.deliveries) == 2


def test_test_lead_is_delivered_tagged_by_default(client, rt, crm, deliver_all):
    response = post(client, lead(lead_id="TeSter-123-abc", is_test=True))
    assert response.status_code == 200 and response.get_json() == {}
    deliver_all(rt)
    [delivery] = crm.deliveries
    assert delivery["payload"]["tags"] == ["google", "test-lead"]
    assert delivery["payload"]["custom_fields"]["lead_id"] == "TeSter-123-abc"


def test_test_lead_is_acknowledged_but_not_delivered_when_dropped(client, rt, crm, deliver_all):
    response = post(client, lead(is_test=True), source="google-drop")
    assert response.status_code == 200 and response.get_json() == {}
    [event] = rt.store.recent()
    assert event.status == "ignored"
    assert event.last_error == "test lead"
    assert rt.store.due_count() == 0
    deliver_all(rt)
    assert crm.deliveries == []
    real = post(client, lead(lead_id="real-1"), source="google-drop")
    assert real.status_code == 200
    deliver_all(rt)
    assert len(crm.deliveries) == 1


def test_test_lead_is_delivered_as_real_when_configured(client, rt, crm, deliver_all):
    response = post(client, lead(is_test=True), source="google-deliver")
    assert response.status_code == 200
    deliver_all(rt)
    [delivery] = crm.deliveries
    assert "tags" not in delivery["payload"]  # the source has no tags and a delivered test lead gets none
    assert delivery["payload"]["source"] == "google_ads"


def test_lead_without_usable_contact_is_kept_as_rejected_and_answered_200(client, rt, crm, deliver_all):
    columns = [
        {"column_name": "User Email", "string_value": "not-an-email", "column_id": "EMAIL"},
        {"column_name": "What is your budget?", "string_value": "5000", "column_id": "1234567890"},
    ]
    response = post(client, lead(user_column_data=columns))
    assert response.status_code == 200 and response.get_json() == {}
    [event] = rt.store.recent()
    assert event.status == "rejected"
    assert "email" in event.last_error
    assert rt.store.due_count() == 0
    deliver_all(rt)
    assert crm.deliveries == []


def test_rejected_lead_is_delivered_by_a_replay_once_field_map_is_fixed(
    client, rt, crm, deliver_all, make_config, redis_client
):
    from leadgate.operations import replay_event

    columns = [{"column_name": "Where can we reach you?", "string_value": "jane@example.com", "column_id": "77"}]
    assert post(client, lead(user_column_data=columns)).status_code == 200
    [event] = rt.store.recent()
    assert event.status == "rejected"
    fixed = GOOGLE_CONFIG.replace(
        '{{"What is your budget?"', '{{"Where can we reach you?": email, "What is your budget?"'
    )
    assert fixed != GOOGLE_CONFIG
    fixed_rt = Runtime.from_config(make_config(fixed, GOOGLE_LEAD_KEY=KEY), client=redis_client)
    assert replay_event(fixed_rt, event.id).ok
    deliver_all(fixed_rt)
    [delivery] = crm.deliveries
    assert delivery["payload"]["email"] == "jane@example.com"


def test_minimal_lead_without_optional_fields(client, rt, crm, deliver_all):
    body = {
        "lead_id": "L-min",
        "google_key": KEY,
        "user_column_data": [{"string_value": "+14155552671", "column_id": "PHONE_NUMBER"}],
    }
    assert post(client, body).status_code == 200
    deliver_all(rt)
    assert crm.deliveries[0]["payload"] == {
        "phone": "+14155552671",
        "source": "google_ads",
        "tags": ["google"],
        "custom_fields": {"lead_id": "L-min"},
    }


def test_get_is_405(client):
    assert client.get("/hooks/google").status_code == 405


def test_store_unavailable_is_503_so_google_retries(config):
    from gateway import create_app

    dead = redis.Redis(host="127.0.0.1", port=1, **client_options())
    app = create_app(runtime=Runtime.from_config(config, client=dead))
    response = post(app.test_client(), LEAD)
    assert response.status_code == 503
    assert response.get_json()["error"] == "store_unavailable"
