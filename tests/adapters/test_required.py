"""Per-source ``required`` (all of them) and ``required_any`` (one of them): refused posts, clear 422s."""

from __future__ import annotations

import pytest

from leadgate.config import ConfigError
from tests.support.config import DESTINATION_CONFIG
from tests.support.config import parse_yaml

REQUIRED_CONFIG = (
    DESTINATION_CONFIG
    + """sources:
  signup:
    kind: form
    phone_region: US
    required: [email, phone]
  callback:
    kind: form
    phone_region: US
    required_any: [email, phone]
  quote:
    kind: form
    required: [custom_fields.budget]
    field_map: {{budget: custom_fields.budget}}
    error_redirect: https://example.com/oops
"""
)


@pytest.fixture
def config(make_config):
    return make_config(REQUIRED_CONFIG)


def test_a_post_missing_a_required_field_gets_a_422_naming_it(client, rt, crm):
    response = client.post("/hooks/signup", data={"name": "Jane Roe", "email": "jane@example.com"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "unprocessable"
    assert body["message"] == "required field(s) missing: phone"
    assert body["errors"]["phone"] == "required by this source"
    assert "email" not in body["errors"]
    assert rt.store.get(body["errors"]["event_id"]).status == "rejected"


def test_a_required_field_sent_but_invalid_says_why(client):
    response = client.post("/hooks/signup", data={"email": "not-an-email", "phone": "(415) 555-2671"})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) >= {"email"} and "phone" not in errors
    assert errors["email"] != "required by this source"  # the validation error, not a generic one


def test_every_listed_field_present_is_accepted(client):
    response = client.post("/hooks/signup", data={"email": "jane@example.com", "phone": "(415) 555-2671"})
    assert response.status_code == 202, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "status"),
    [({"email": "jane@example.com"}, 202), ({"phone": "(415) 555-2671"}, 202), ({"name": "Jane Roe"}, 422)],
    ids=["email", "phone", "neither"],
)
def test_required_any_takes_one_of_the_fields(client, fields, status):
    response = client.post("/hooks/callback", data=fields)
    assert response.status_code == status
    if status == 422:
        errors = response.get_json()["errors"]
        assert errors["email"] == errors["phone"] == "one of email, phone is required"


def test_a_required_custom_field(client):
    assert client.post("/hooks/quote", data={"email": "a@example.com", "budget": "5000"}).status_code == 202
    refused = client.post("/hooks/quote", data={"email": "a@example.com"})
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["custom_fields.budget"] == "required by this source"


def test_a_browser_refused_for_a_missing_field_gets_no_raw_json(client):
    refused = client.post("/hooks/quote", data={"email": "a@example.com"}, headers={"Accept": "text/html"})
    assert refused.status_code == 303
    assert refused.headers["Location"].startswith("https://example.com/oops?")


def test_required_names_only_lead_fields():
    with pytest.raises(ConfigError) as raised:
        parse_yaml(
            REQUIRED_CONFIG.format(crm_url="http://x.test", api_key="k").replace("[email, phone]", "[emial]"), {}
        )
    assert "sources.signup.required.0: 'emial' is not a lead field that can be required" in str(raised.value)
