"""Bounded request cost: field floods, over-long names and values, deep JSON, chunked bodies past the limit.

Reproduces the audit's findings through the real HTTP layer (Flask's test client, and a loopback server
for chunked bodies, which the test client cannot send): a 100,000-field post was accepted and stored,
multipart part overflow was reported as an oversized body, a chunked body over ``max_body_bytes`` was
cut and accepted (a signed Typeform one answered 401), a large event cost megabytes in the admin API,
and NUL bytes reached ConnectGain.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest

from leadgate import defaults
from leadgate.history import find_events
from leadgate.runtime import Runtime
from tests.support.admin import AUTH
from tests.support.admin import TOKEN
from tests.support.config import DESTINATION_CONFIG
from tests.support.http import post_chunked

TYPEFORM_SECRET = "tf-limits-secret"
API_TOKEN = "json-limits-token"
SMALL = 4096
CONFIG = (
    f"admin_token: {TOKEN}\n"
    + DESTINATION_CONFIG
    + f"""sources:
  web:
    kind: form
    phone_region: US
  api:
    kind: json
    token: {API_TOKEN}
    mapping:
      email: email
  small:
    kind: form
    max_body_bytes: {SMALL}
  tf:
    kind: typeform
    secret: {TYPEFORM_SECRET}
    max_body_bytes: {SMALL}
  wide:
    kind: form
    max_fields: 200000
    max_value_length: 100000
"""
)
FLOOD = "email=flood%40example.com&" + "&".join(f"f{i}=v" for i in range(100_000))
"""The audit's 889 KB urlencoded post with 100,000 fields."""
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@pytest.fixture
def config(make_config):
    return make_config(CONFIG)


def stored(rt: Runtime) -> list[Any]:
    return find_events(rt.store, limit=50).events


def refusal(response: Any) -> tuple[int, str | None, int | None, str]:
    body = response.get_json()
    errors = body.get("errors") or {}
    return response.status_code, errors.get("limit"), errors.get("max"), body["message"]


def typeform_body(padding: int = 0) -> bytes:
    answer = {"type": "email", "email": "tess@example.com", "field": {"id": "Em3", "type": "email"}}
    response = {"form_id": "lT4Z3j", "token": "tok-limits", "answers": [answer], "hidden": {"pad": "x" * padding}}
    return json.dumps({"event_id": "01JLIMITS", "event_type": "form_response", "form_response": response}).encode()


def typeform_signature(body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).digest()).decode()


# -- field floods --------------------------------------------------------------------------------------------


def test_a_100000_field_post_is_refused_before_anything_is_stored(client, rt: Runtime):
    assert len(FLOOD) > 880_000
    response = client.post("/hooks/web", data=FLOOD, content_type="application/x-www-form-urlencoded")
    status, limit, maximum, message = refusal(response)
    assert (status, limit, maximum) == (413, "max_fields", defaults.MAX_FIELDS)
    assert "max_fields" in message and "1000" in message
    assert stored(rt) == []


def test_multipart_part_overflow_names_the_field_limit_not_the_body_size(client, rt: Runtime):
    fields = {f"f{i}": "v" for i in range(1500)}
    response = client.post("/hooks/web", data=fields, content_type="multipart/form-data")
    status, limit, maximum, message = refusal(response)
    assert (status, limit, maximum) == (413, "max_fields", defaults.MAX_FIELDS)
    assert "larger than" not in message
    assert stored(rt) == []


LONG_VALUE = "x" * (defaults.MAX_VALUE_LENGTH + 1)
LONG_NAME = "n" * (defaults.MAX_NAME_LENGTH + 1)


def nested(depth: int) -> Any:
    value: Any = {"email": "deep@example.com"}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


CASES = {
    "urlencoded value": ("web", "form", {"email": "a@example.com", "message": LONG_VALUE}, 413, "max_value_length"),
    "urlencoded name": ("web", "form", {"email": "a@example.com", LONG_NAME: "x"}, 400, "max_name_length"),
    "multipart value": ("web", "multipart", {"email": "a@example.com", "message": LONG_VALUE}, 413, "max_value_length"),
    "multipart name": ("web", "multipart", {"email": "a@example.com", LONG_NAME: "x"}, 400, "max_name_length"),
    "form JSON values": ("web", "json", {"email": "a@example.com", "x": list(range(1500))}, 413, "max_fields"),
    "form JSON depth": ("web", "json", nested(defaults.MAX_DEPTH + 1), 400, "max_depth"),
    "form JSON key": ("web", "json", {"email": "a@example.com", LONG_NAME: "x"}, 400, "max_name_length"),
    "json kind values": ("api", "json", [{"email": f"l{i}@example.com"} for i in range(1500)], 413, "max_fields"),
    "json kind value": ("api", "json", {"email": "a@example.com", "note": LONG_VALUE}, 413, "max_value_length"),
    "json kind depth": ("api", "json", nested(defaults.MAX_DEPTH + 1), 400, "max_depth"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_each_limit_is_refused_by_name(client, rt: Runtime, case: tuple[str, str, Any, int, str]):
    source, encoding, payload, expected_status, expected_limit = case
    if encoding == "json":
        response = client.post(f"/hooks/{source}", json=payload, headers={"Authorization": f"Bearer {API_TOKEN}"})
    elif encoding == "multipart":
        response = client.post(f"/hooks/{source}", data=payload, content_type="multipart/form-data")
    else:
        response = client.post(
            f"/hooks/{source}", data=urlencode(payload), content_type="application/x-www-form-urlencoded"
        )
    status, limit, maximum, message = refusal(response)
    assert (status, limit) == (expected_status, expected_limit), message
    assert maximum == getattr(defaults, expected_limit.upper()) and expected_limit in message
    assert stored(rt) == []


def test_a_post_within_every_limit_is_accepted(client, rt: Runtime):
    fields = {f"f{i}": "v" * 100 for i in range(defaults.MAX_FIELDS - 2)}
    fields.update(email="ok@example.com", message="m" * defaults.MAX_VALUE_LENGTH)
    response = client.post("/hooks/web", data=fields)
    assert response.status_code == 202, response.get_json()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    assert client.post("/hooks/api", json=nested(defaults.MAX_DEPTH), headers=headers).status_code == 202


def test_a_browser_posting_too_many_fields_sees_the_refusal_page(client, rt: Runtime):
    response = client.post(
        "/hooks/web",
        data="&".join(f"f{i}=v" for i in range(2000)),
        content_type="application/x-www-form-urlencoded",
        headers={"Accept": "text/html,application/xhtml+xml"},
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "more than we can accept" in page and "max_fields" in page


# -- chunked bodies -----------------------------------------------------------------------------------------


def test_a_chunked_body_over_max_body_bytes_is_refused_not_cut(live_server: str, rt: Runtime):
    body = ("email=chunk%40example.com&message=" + "x" * SMALL + "&last=field").encode()
    answer = post_chunked(live_server, "/hooks/small", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 413, answer.body
    assert answer.json()["errors"] == {"limit": "max_body_bytes", "max": SMALL}
    assert stored(rt) == []


def test_a_chunked_body_exactly_at_the_limit_arrives_whole(live_server: str, rt: Runtime):
    head = "email=chunk%40example.com&last=field&message="
    body = (head + "x" * (SMALL - len(head))).encode()
    assert len(body) == SMALL
    answer = post_chunked(live_server, "/hooks/small", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 202, answer.body
    (event,) = stored(rt)
    fields = dict(rt.store.get(event.id).raw["fields"])
    assert fields["last"] == "field" and len(fields["message"]) == SMALL - len(head)


def test_a_signed_chunked_typeform_body_over_the_limit_is_413_not_401(live_server: str, rt: Runtime):
    body = typeform_body(padding=SMALL)
    headers = {"Content-Type": "application/json", "Typeform-Signature": typeform_signature(body)}
    answer = post_chunked(live_server, "/hooks/tf", body, headers)
    assert answer.status == 413, answer.body
    assert answer.json()["errors"]["limit"] == "max_body_bytes"
    assert stored(rt) == []


def test_a_signed_chunked_typeform_body_within_the_limit_is_verified_whole(live_server: str, rt: Runtime):
    body = typeform_body(padding=100)
    headers = {"Content-Type": "application/json", "Typeform-Signature": typeform_signature(body)}
    answer = post_chunked(live_server, "/hooks/tf", body, headers, chunk_size=97)
    assert answer.status == 200, answer.body  # Typeform's acknowledgement
    assert len(stored(rt)) == 1


# -- large events in the admin surface ---------------------------------------------------------------------


def test_a_large_event_is_shown_cut_and_downloadable_in_full(client, rt: Runtime):
    """An event as large as the ones stored before the limits (here through a source that raised them)."""
    fields = [("email", "big@example.com"), ("message", "m" * 50_000)] + [(f"f{i}", "v") for i in range(20_000)]
    response = client.post("/hooks/wide", data=urlencode(fields), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202, response.get_json()
    event_id = response.get_json()["event_id"]

    detail = client.get(f"/admin/api/events/{event_id}", headers=AUTH)
    assert detail.status_code == 200
    assert len(detail.get_data()) < 100_000
    shown = detail.get_json()
    assert shown["truncated"] is True
    assert shown["raw"]["fields"][1][1].endswith("… [cut: 50000 characters in all]")
    assert len(shown["raw"]["fields"]) == defaults.DISPLAY_ITEMS + 1
    assert shown["raw"]["fields"][-1] == f"… [cut: {len(fields)} items in all]"
    assert all(len(json.dumps(row, ensure_ascii=False)) < 3 * defaults.DISPLAY_VALUE_CHARS for row in shown["diff"])

    raw = client.get(shown["raw_url"], headers=AUTH)
    assert raw.status_code == 200
    assert raw.headers["Content-Disposition"] == f'attachment; filename="{event_id}.raw.json"'
    assert [tuple(pair) for pair in raw.get_json()["fields"]] == fields


def test_a_small_event_is_not_marked_truncated(client, rt: Runtime):
    response = client.post("/hooks/web", data={"email": "small@example.com", "name": "Sam Small"})
    shown = client.get(f"/admin/api/events/{response.get_json()['event_id']}", headers=AUTH).get_json()
    assert shown["truncated"] is False
    assert shown["raw"] == {"fields": [["email", "small@example.com"], ["name", "Sam Small"]]}


def test_the_raw_download_needs_the_admin_token(client, rt: Runtime):
    response = client.post("/hooks/web", data={"email": "small@example.com"})
    assert client.get(f"/admin/api/events/{response.get_json()['event_id']}/raw").status_code == 401


# -- control characters -------------------------------------------------------------------------------------


def test_control_characters_never_reach_connectgain(client, rt: Runtime, crm, deliver_all):
    fields = {
        "name": "Jane\x00 Doe\x1b",
        "email": "jane.ctl@example.com\x00",
        "company": "Acme\tInc\x7f",
        "message": "line one\r\nline two\x07\x00\tend",
        "utm_source": "news\x00letter\x85",
    }
    response = client.post("/hooks/web", data=fields)
    assert response.status_code == 202, response.get_json()
    deliver_all(rt)
    (request,) = [r for r in crm.requests if r["method"] == "POST"]
    lead = request["body"]
    assert (lead["first_name"], lead["last_name"], lead["email"]) == ("Jane", "Doe", "jane.ctl@example.com")
    assert lead["company_name"] == "Acme Inc"
    assert lead["description"] == "line one\r\nline two\tend"
    assert lead["custom_fields"]["utm_source"] == "newsletter"
    assert not CONTROL.search(json.dumps(lead, ensure_ascii=False))
