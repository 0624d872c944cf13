"""``/hooks/<id>`` for the json kind: Webflow- and Calendly-shaped bodies mapped only through config.

Everything runs against the real Redis and the sandbox ConnectGain on loopback.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
import redis

from leadgate import runtime as runtime_module
from leadgate.config import Config
from leadgate.operations import replay_event
from leadgate.runtime import Runtime
from tests.support.config import DESTINATION_CONFIG

WEBFLOW_TOKEN = "wf-tok-\u00e9"
SECRET = "whsec-json"
CALENDLY_TOKEN = "cal-tok"

CONFIG = (
    DESTINATION_CONFIG
    + """sources:
  webflow:
    kind: json
    token: ${{WEBFLOW_HOOK_TOKEN}}
    event_id: payload.id
    phone_region: US
    source: "webflow-{{custom_fields.form}}"
    tags: [webflow, "{{custom_fields.form}}", "{{custom_fields.utm_campaign}}"]
    deal: {{title: "{{company_name}} via {{custom_fields.form}}", value: 500, stage: new}}
    mapping:
      first_name: payload.data."First Name"
      last_name: 'payload.data."Last Name"'
      email: payload.data.email
      phone: payload.data."Phone Number"
      company_name: payload.data.Company
      description: payload.data.Message
      custom_fields.form: payload.name
      custom_fields.submitted_at: payload.submittedAt
  calendly:
    kind: json
    token: {calendly_token}
    items: "[@][?event=='invitee.created']"
    event_id: payload.uri
    unmapped: drop
    source: calendly
    tags: [calendly, "{{custom_fields.utm_source}}"]
    mapping:
      first_name: payload.first_name
      last_name: payload.last_name
      full_name: payload.name
      email: payload.email
      phone: payload.text_reminder_number
      company_name: "payload.questions_and_answers[?question=='Company'].answer | [0]"
      description: "payload.questions_and_answers[?question=='Anything we should know?'].answer | [0]"
      custom_fields.meeting: payload.scheduled_event.name
      custom_fields.start_time: payload.scheduled_event.start_time
      custom_fields.utm_source: payload.tracking.utm_source
      custom_fields.utm_campaign: payload.tracking.utm_campaign
      custom_fields.answers: payload.questions_and_answers
  batch:
    kind: json
    token: batch-token
    event_id: id
    mapping: {{email: contact.email, first_name: contact.first}}
  signed:
    kind: json
    secret: {secret}
    items: leads
    mapping: {{email: email}}
""".replace("{calendly_token}", CALENDLY_TOKEN).replace("{secret}", SECRET)
)

WEBFLOW = {
    "triggerType": "form_submission",
    "payload": {
        "name": "Contact Us",
        "siteId": "65427cf400e02b306eaa049c",
        "data": {
            "First Name": "Zaphod",
            "Last Name": "Beeblebrox",
            "email": "Zaphod@HeartOfGold.ai",
            "Phone Number": 14155552671,
            "Company": "Heart of Gold",
            "Message": "Need towels",
        },
        "schema": [
            {"fieldName": "First Name", "fieldType": "FormTextInput", "fieldElementId": "285042f7-d554-dc7f"},
            {"fieldName": "email", "fieldType": "FormTextInput", "fieldElementId": "285042f7-d554-dc80"},
        ],
        "submittedAt": "2026-11-20T12:35:16.117Z",
        "id": "6321ca84df3949bfc6752327",
        "formId": "65429eadebe8a9f3a30f62d0",
        "publishedPath": "/contact",
        "pageUrl": "https://heartofgold.example/contact",
    },
}

CALENDLY = {
    "created_at": "2026-11-20T17:51:19.000000Z",
    "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
    "event": "invitee.created",
    "payload": {
        "cancel_url": "https://calendly.com/cancellations/AAAAAAAAAAAAAAAA",
        "created_at": "2026-11-20T17:51:18.327602Z",
        "email": "Ford@Example.com",
        "event": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2",
        "first_name": "Ford",
        "last_name": "Prefect",
        "name": "Ford Prefect",
        "new_invitee": None,
        "old_invitee": None,
        "questions_and_answers": [
            {"answer": "Megadodo Publications", "position": 0, "question": "Company"},
            {"answer": "Bring a towel", "position": 1, "question": "Anything we should know?"},
        ],
        "reschedule_url": "https://calendly.com/reschedulings/AAAAAAAAAAAAAAAA",
        "rescheduled": False,
        "status": "active",
        "text_reminder_number": "+1 415-555-2671",
        "timezone": "America/New_York",
        "tracking": {
            "utm_campaign": "guide",
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_content": None,
            "utm_term": None,
            "salesforce_uuid": None,
        },
        "updated_at": "2026-11-20T17:51:18.341657Z",
        "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA",
        "scheduled_event": {
            "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2",
            "name": "15 Minute Meeting",
            "status": "active",
            "start_time": "2026-11-25T17:00:00.000000Z",
            "end_time": "2026-11-25T17:15:00.000000Z",
            "event_type": "https://api.calendly.com/event_types/GBGBDCAADAEDCRZ2",
            "location": {"type": "zoom", "join_url": "https://zoom.example/j/1"},
        },
    },
}


@pytest.fixture
def config(make_config) -> Config:
    return make_config(CONFIG, WEBFLOW_HOOK_TOKEN=WEBFLOW_TOKEN)


def post(client: Any, source: str, body: Any, headers: dict[str, str] | None = None, query: str = "") -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"/hooks/{source}{query}", data=data, content_type="application/json", headers=headers or {})


def bearer(token: str = WEBFLOW_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signature(data: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Signature-256": "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()}


def nothing_stored(rt: Runtime) -> bool:
    return rt.store.recent() == [] and rt.store.due_count() == 0


def test_webflow_form_submission_arrives_mapped(client, rt, crm, deliver_all):
    response = post(client, "webflow", WEBFLOW, bearer())
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "queued" and body["duplicate"] is False
    deliver_all(rt)
    [delivery] = crm.deliveries
    assert delivery["payload"] == {
        "first_name": "Zaphod",
        "last_name": "Beeblebrox",
        "email": "zaphod@heartofgold.ai",
        "phone": "+14155552671",
        "company_name": "Heart of Gold",
        "description": "Need towels",
        "source": "webflow-Contact Us",
        "tags": ["webflow", "Contact Us"],
        "custom_fields": {
            "form": "Contact Us",
            "submitted_at": "2026-11-20T12:35:16.117Z",
            # every value the mapping does not read, at any depth (a webflow preset leaves the schema out)
            "triggerType": "form_submission",
            "payload.siteId": "65427cf400e02b306eaa049c",
            "payload.schema.0.fieldName": "First Name",
            "payload.schema.0.fieldType": "FormTextInput",
            "payload.schema.0.fieldElementId": "285042f7-d554-dc7f",
            "payload.schema.1.fieldName": "email",
            "payload.schema.1.fieldType": "FormTextInput",
            "payload.schema.1.fieldElementId": "285042f7-d554-dc80",
            "payload.id": "6321ca84df3949bfc6752327",
            "payload.formId": "65429eadebe8a9f3a30f62d0",
            "payload.publishedPath": "/contact",
            "payload.pageUrl": "https://heartofgold.example/contact",
        },
        "deal": {"title": "Heart of Gold via Contact Us", "value": 500.0, "currency": "USD", "stage": "new"},
    }
    assert rt.store.get(body["event_id"]).status == "delivered"


def test_calendly_invitee_created_arrives_mapped(client, rt, crm, deliver_all):
    response = post(client, "calendly", CALENDLY, query=f"?token={CALENDLY_TOKEN}")
    assert response.status_code == 202, response.get_json()
    deliver_all(rt)
    [delivery] = crm.deliveries
    assert delivery["payload"] == {
        "first_name": "Ford",
        "last_name": "Prefect",
        "email": "ford@example.com",
        "phone": "+14155552671",
        "company_name": "Megadodo Publications",
        "description": "Bring a towel",
        "source": "calendly",
        "tags": ["calendly", "newsletter"],
        "custom_fields": {
            "meeting": "15 Minute Meeting",
            "start_time": "2026-11-25T17:00:00.000000Z",
            "utm_source": "newsletter",
            "utm_campaign": "guide",
            "answers": CALENDLY["payload"]["questions_and_answers"],
        },
    }


def test_calendly_cancellation_is_acknowledged_as_ignored_and_not_delivered(client, rt, crm, deliver_all):
    canceled = {**CALENDLY, "event": "invitee.canceled"}
    response = post(client, "calendly", canceled, query=f"?token={CALENDLY_TOKEN}")
    assert response.status_code == 202
    assert response.get_json()["status"] == "ignored"
    deliver_all(rt)
    assert crm.deliveries == []
    [event] = rt.store.recent()
    assert event.status == "ignored"


def test_resent_item_with_the_same_event_id_is_delivered_once(client, rt, crm, deliver_all):
    first = post(client, "webflow", WEBFLOW, bearer())
    resent = copy.deepcopy(WEBFLOW)
    resent["payload"]["submittedAt"] = "2026-11-20T12:40:00.000Z"  # a retry carries a new timestamp
    second = post(client, "webflow", resent, bearer())
    other = copy.deepcopy(WEBFLOW)
    other["payload"]["id"] = "another-submission"
    third = post(client, "webflow", other, bearer())
    assert second.get_json()["duplicate"] is True
    assert second.get_json()["event_id"] == first.get_json()["event_id"]
    assert third.get_json()["duplicate"] is False
    deliver_all(rt)
    assert len(crm.deliveries) == 2


def test_token_in_the_query_works_too_and_is_not_stored(client, rt):
    response = post(client, "webflow", WEBFLOW, query=f"?token={WEBFLOW_TOKEN}")
    assert response.status_code == 202
    event = rt.store.get(response.get_json()["event_id"])
    stored = json.dumps({"request": event.request, "raw": event.raw}, ensure_ascii=False)
    assert WEBFLOW_TOKEN not in stored
    assert event.raw == {"item": WEBFLOW}


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, ""),
        (bearer("wrong"), ""),
        ({}, "?token=wrong"),
        ({"Authorization": WEBFLOW_TOKEN}, ""),
        (bearer(CALENDLY_TOKEN), ""),
    ],
)
def test_missing_or_wrong_token_is_401_and_stores_nothing(client, rt, crm, deliver_all, headers, query):
    response = post(client, "webflow", WEBFLOW, headers, query)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert nothing_stored(rt)
    deliver_all(rt)
    assert crm.deliveries == []


def test_signed_body_is_accepted_and_each_item_delivered(client, rt, crm, deliver_all):
    data = json.dumps({"leads": [{"email": "a@example.com"}, {"email": "b@example.com"}]}).encode()
    response = post(client, "signed", data, signature(data))
    assert response.status_code == 202
    assert [item["status"] for item in response.get_json()["events"]] == ["queued", "queued"]
    deliver_all(rt)
    assert sorted(d["payload"]["email"] for d in crm.deliveries) == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize("kind", ["missing", "wrong secret", "other body", "not hex"])
def test_bad_or_missing_signature_is_401_and_stores_nothing(client, rt, kind):
    data = json.dumps({"leads": [{"email": "a@example.com"}]}).encode()
    headers = {
        "missing": {},
        "wrong secret": signature(data, "other"),
        "other body": signature(data + b" "),
        "not hex": {"X-Signature-256": "sha256=not-hex"},
    }[kind]
    response = post(client, "signed", data, headers)
    assert response.status_code == 401
    assert nothing_stored(rt)


def test_top_level_array_is_one_lead_each_and_resending_it_delivers_nothing_new(client, rt, crm, deliver_all):
    leads = [
        {"id": "L1", "contact": {"email": "one@example.com", "first": "One"}},
        {"id": "L2", "contact": {"email": "two@example.com", "first": "Two"}},
        {"id": "L3", "contact": {"email": "three@example.com"}, "utm_source": "ads"},
    ]
    first = post(client, "batch", leads, bearer("batch-token"))
    assert first.status_code == 202
    assert [e["duplicate"] for e in first.get_json()["events"]] == [False, False, False]
    again = post(client, "batch", [leads[0], {**leads[2], "retry": 1}], bearer("batch-token"))
    assert [e["duplicate"] for e in again.get_json()["events"]] == [True, True]
    deliver_all(rt)
    payloads = sorted((d["payload"] for d in crm.deliveries), key=lambda p: p["email"])
    assert [p["email"] for p in payloads] == ["one@example.com", "three@example.com", "two@example.com"]
    assert payloads[1]["custom_fields"] == {"id": "L3", "utm_source": "ads"}


def test_items_that_select_no_array_is_400_naming_the_expression(client, rt):
    data = json.dumps({"leads": {"email": "a@example.com"}}).encode()
    response = post(client, "signed", data, signature(data))
    assert response.status_code == 400
    assert "items 'leads'" in response.get_json()["message"]
    assert nothing_stored(rt)


@pytest.mark.parametrize("data", [b"{oops", b"email=a%40b.co", b'"text"'])
def test_a_body_that_is_no_json_lead_is_400(client, rt, data):
    response = post(client, "batch", data, bearer("batch-token"))
    assert response.status_code == 400
    assert response.get_json()["ok"] is False
    assert nothing_stored(rt)


def test_a_lead_the_mapping_cannot_read_is_kept_as_rejected_and_replays_after_the_fix(
    client, rt, crm, deliver_all, make_config, redis_client: redis.Redis
):
    response = post(client, "batch", {"id": "L9", "contact": {"mail": "nine@example.com"}}, bearer("batch-token"))
    assert response.status_code == 202
    assert response.get_json()["status"] == "rejected"
    event_id = response.get_json()["event_id"]
    deliver_all(rt)
    assert crm.deliveries == []
    assert "contact" in rt.store.get(event_id).last_error
    fixed_text = CONFIG.replace("{{email: contact.email, first_name", "{{email: 'contact.mail', first_name")
    assert fixed_text != CONFIG
    fixed = Runtime.from_config(make_config(fixed_text, WEBFLOW_HOOK_TOKEN=WEBFLOW_TOKEN), client=redis_client)
    runtime_module.install(fixed)
    try:
        result = replay_event(fixed, event_id)
        assert result.ok, result.message
        deliver_all(fixed)
    finally:
        runtime_module.install(rt)
    [delivery] = crm.deliveries
    assert delivery["payload"]["email"] == "nine@example.com"
