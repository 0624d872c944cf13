"""Replays after retention: a platform id seen once stays a duplicate for its whole 90 days.

The audit re-posted old signed Typeform and Facebook bodies after their events had expired (30 days
after delivery) and they were delivered again: neither platform signs a timestamp, so the dedupe key
is the only guard. Expiry is reproduced by deleting the event's keys, exactly what Redis's TTL does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from leadgate import defaults
from leadgate.runtime import Runtime
from tests.support.config import DESTINATION_CONFIG

TYPEFORM_SECRET = "tf-replay-secret"
FB_APP_SECRET = "fb-replay-secret"
GOOGLE_KEY = "google-replay-key"
CONFIG = (
    DESTINATION_CONFIG
    + f"""sources:
  tf:
    kind: typeform
    secret: {TYPEFORM_SECRET}
  fb:
    kind: facebook
    app_secret: {FB_APP_SECRET}
    verify_token: verify-me
    access_token: page-token
  google:
    kind: google_ads
    google_key: {GOOGLE_KEY}
  web:
    kind: form
"""
)


def typeform_post(client: Any) -> Any:
    body = json.dumps(
        {
            "event_id": "01JEXAMPLEREPLAY0000000001",
            "event_type": "form_response",
            "form_response": {
                "form_id": "lT4Z3j",
                "token": "a3a12ec67a1365927098a606107fac15",
                "answers": [{"type": "email", "email": "zoe@example.com", "field": {"id": "Em3", "type": "email"}}],
            },
        }
    ).encode()
    digest = hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).digest()
    signature = "sha256=" + base64.b64encode(digest).decode()
    return client.post(
        "/hooks/tf", data=body, content_type="application/json", headers={"Typeform-Signature": signature}
    )


def facebook_post(client: Any) -> Any:
    change = {"field": "leadgen", "value": {"leadgen_id": "444444444444", "page_id": "1234567890", "form_id": "987"}}
    body = json.dumps({"object": "page", "entry": [{"id": "1234567890", "time": 1733000000, "changes": [change]}]})
    signature = "sha256=" + hmac.new(FB_APP_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature}
    return client.post("/hooks/fb", data=body, content_type="application/json", headers=headers)


def google_post(client: Any) -> Any:
    body = {
        "lead_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "google_key": GOOGLE_KEY,
        "user_column_data": [{"column_id": "EMAIL", "string_value": "ann@example.com"}],
    }
    return client.post("/hooks/google", json=body)


SENDERS = {"typeform": typeform_post, "facebook": facebook_post, "google_ads": google_post}


@pytest.fixture
def config(make_config):
    return make_config(CONFIG)


def expire(rt: Runtime, event_id: str) -> None:
    """What Redis does when the event's retention runs out: its hash and attempts go, the indexes are trimmed."""
    rt.redis.delete(rt.store.key(event_id), rt.store.attempts_key(event_id))
    rt.redis.zrem(rt.store.due_key, event_id)
    rt.redis.zrem(rt.store.backlog_key, event_id)


def stored(rt: Runtime) -> list[tuple[str, str]]:
    """(id, status) of every stored event, newest first (senders' replies differ: Google's and Meta's are empty)."""
    return [(event.id, event.status) for event in rt.store.recent(limit=10)]


@pytest.mark.parametrize("kind", sorted(SENDERS))
def test_a_platform_id_is_a_duplicate_after_its_event_expired(client, rt: Runtime, kind: str):
    send = SENDERS[kind]
    first = send(client)
    assert first.status_code in (200, 202), first.get_data(as_text=True)
    [(original, status)] = stored(rt)
    assert status == "queued"
    expire(rt, original)
    assert rt.store.get(original) is None

    again = send(client)
    assert again.status_code in (200, 202), again.get_data(as_text=True)
    assert rt.redis.zcard(rt.store.due_key) == 0  # nothing new is queued for delivery
    [(duplicate, status)] = stored(rt)
    assert status == "duplicate" and rt.store.get(duplicate).duplicate_of == original


def test_the_platform_id_claim_lasts_its_window_and_costs_one_small_key(client, rt: Runtime):
    typeform_post(client)
    [(original, _)] = stored(rt)
    keys = [key for key in rt.redis.scan_iter(match=f"{defaults.KEY_PREFIX}dd:tf:id:*")]
    assert len(keys) == 2  # the event_id and the response token
    for key in keys:
        assert rt.redis.get(key).decode() == original
        assert defaults.PLATFORM_DEDUPE_SECONDS - 60 < rt.redis.ttl(key) <= defaults.PLATFORM_DEDUPE_SECONDS
        assert rt.redis.memory_usage(key) < 200


def test_an_identical_form_body_may_be_sent_afresh_once_its_event_is_gone(client, rt: Runtime):
    """Short-lived body and Idempotency-Key claims still count only while their event exists (a purge frees them)."""
    fields = {"name": "Jo Ann", "email": "jo@example.com"}
    first = client.post("/hooks/web", data=fields)
    assert client.post("/hooks/web", data=fields).get_json()["status"] == "duplicate"
    expire(rt, first.get_json()["event_id"])
    assert client.post("/hooks/web", data=fields).get_json()["status"] == "queued"
