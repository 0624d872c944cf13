"""``/openapi.json``: a valid OpenAPI 3 document that covers every route the app really has."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from gateway.openapi import OPERATIONS
from gateway.openapi import build_spec
from gateway.openapi import openapi_path
from tests.support.admin import ADMIN_CONFIG
from tests.support.admin import AUTH
from tests.support.admin import post_lead

AUTOMATIC = {"HEAD", "OPTIONS"}
"""Methods Flask adds to every rule by itself; OPTIONS is documented where a view answers it (hooks)."""


@pytest.fixture
def config(make_config):
    return make_config(ADMIN_CONFIG)


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_document_validates_as_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_route_of_the_app_is_in_the_document(app, spec):
    rules = list(app.url_map.iter_rules())
    assert len(rules) >= 15
    for rule in rules:
        path = openapi_path(rule)
        assert path in spec["paths"], f"{rule.rule} ({rule.endpoint}) is not documented"
        documented = {m.upper() for m in spec["paths"][path] if m != "parameters"}
        assert rule.methods - AUTOMATIC <= documented, rule.rule
        for name in rule.arguments:
            assert {"in": "path", "name": name, "required": True, "schema": {"type": "string"}} in spec["paths"][path][
                "parameters"
            ]
    assert "OPTIONS" in {m.upper() for m in spec["paths"]["/hooks/{source_id}"]}


def test_an_undocumented_route_is_left_out_and_so_caught(app):
    app.add_url_rule("/extra", "extra", lambda: "")
    assert "extra" not in OPERATIONS
    assert "/extra" not in build_spec(app)["paths"]


def test_hooks_document_the_gateways_real_answers(spec):
    hooks = spec["paths"]["/hooks/{source_id}"]
    assert set(hooks["post"]["responses"]) == {
        "202",
        "200",
        "303",
        "400",
        "401",
        "403",
        "404",
        "413",
        "415",
        "422",
        "503",
    }
    assert {"200", "404", "405"} <= set(hooks["get"]["responses"])
    assert {"204", "403", "404"} <= set(hooks["options"]["responses"])
    accepted = hooks["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    assert accepted == {"$ref": "#/components/schemas/HookAccepted"}
    assert "Retry-After" in hooks["post"]["responses"]["503"]["headers"]


def test_admin_operations_need_the_bearer_token_and_use_the_marshmallow_schemas(spec):
    assert spec["components"]["securitySchemes"]["adminToken"] == {"type": "http", "scheme": "bearer"}
    for path, item in spec["paths"].items():
        if path.startswith("/admin/api/"):
            for method, operation in item.items():
                if method != "parameters":
                    assert operation["security"] == [{"adminToken": []}], (path, method)
                    assert {"401", "404"} <= set(operation["responses"])
    schemas = spec["components"]["schemas"]
    assert {"Error", "EventSummary", "EventDetail", "Attempt", "Source", "ReplayResult", "LeadPayload"} <= set(schemas)
    detail = schemas["EventDetail"]["properties"]
    assert detail["delivery_attempts"]["items"] == {"$ref": "#/components/schemas/Attempt"}
    assert any(option.get("$ref") == "#/components/schemas/LeadPayload" for option in detail["lead"]["anyOf"])
    listing = spec["paths"]["/admin/api/events"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"source", "status", "q", "limit", "cursor"}


def test_real_admin_answers_have_exactly_the_documented_fields(client, spec):
    event_id = post_lead(client, name="Doc Umented", email="doc@example.com")
    schemas = spec["components"]["schemas"]
    detail = client.get(f"/admin/api/events/{event_id}", headers=AUTH).get_json()
    assert set(detail) == set(schemas["EventDetail"]["properties"])
    page = client.get("/admin/api/events", headers=AUTH).get_json()
    assert set(page) == set(schemas["EventPage"]["properties"])
    assert set(page["events"][0]) == set(schemas["EventSummary"]["properties"])
    source = client.get("/admin/api/sources", headers=AUTH).get_json()["sources"][0]
    assert set(source) == set(schemas["Source"]["properties"])
    error = client.get("/admin/api/events/ev_000000000000none", headers=AUTH).get_json()
    assert set(error) <= set(schemas["Error"]["properties"])


def test_document_is_public_and_built_once(client, monkeypatch):
    import gateway.openapi

    first = client.get("/openapi.json")  # no Authorization: the document shows routes, not data
    assert first.status_code == 200
    monkeypatch.setattr(gateway.openapi, "build_spec", lambda app: pytest.fail("built twice"))
    assert client.get("/openapi.json").get_json() == first.get_json()
