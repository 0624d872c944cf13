"""HTTP behaviour of /hooks/<id> for the form kind, against a real Redis."""

from __future__ import annotations

import io
import json
import time

import pytest
import redis

from gateway import create_app
from leadgate import runtime as runtime_module
from leadgate.config import ConfigError
from leadgate.operations import replay_event
from leadgate.redis_client import client_options
from leadgate.runtime import Runtime
from tests.support.config import BASE_CONFIG
from tests.support.hooks import post_form

LEAD = {"name": "Jane Roe", "email": "Jane@Example.com", "phone": "(415) 555-2671", "org": "Acme"}


def test_urlencoded_post_is_stored_queued_and_delivered(client, rt, crm, deliver_all):
    response = post_form(client, LEAD)
    assert response.status_code == 202
    body = response.get_json()
    assert body["ok"] is True and body["duplicate"] is False
    event = rt.store.get(body["event_id"])
    assert event.status == "queued"
    assert event.lead["email"] == "jane@example.com"
    assert rt.redis.zscore(rt.store.due_key, body["event_id"]) is not None  # due now: a dispatcher takes it
    assert rt.redis.llen(rt.store.wake_key) == 1  # and one is woken
    deliver_all(rt)
    event = rt.store.get(body["event_id"])
    assert event.status == "delivered" and event.contact_id
    [delivery] = crm.deliveries
    assert delivery["payload"] == {
        "first_name": "Jane",
        "last_name": "Roe",
        "email": "jane@example.com",
        "phone": "+14155552671",
        "company_name": "Acme",
        "source": "website_form",
        "tags": ["website"],
    }
    assert delivery["idempotency_key"] == body["event_id"]


def test_multipart_post(client, rt):
    data = {**LEAD, "attachment": (io.BytesIO(b"%PDF"), "cv.pdf")}
    response = client.post("/hooks/contact-us", data=data, content_type="multipart/form-data")
    assert response.status_code == 202
    lead = rt.store.get(response.get_json()["event_id"]).lead
    assert lead["first_name"] == "Jane" and lead["company_name"] == "Acme"


def test_json_post(client, rt):
    response = client.post("/hooks/contact-us", json={"first_name": "Ann", "utm_source": "ads", "budget": 5000})
    assert response.status_code == 202
    lead = rt.store.get(response.get_json()["event_id"]).lead
    assert lead["first_name"] == "Ann"
    assert lead["custom_fields"] == {"utm_source": "ads", "budget": 5000} or lead["custom_fields"]["budget"] in (
        5000,
        "5000",
    )


def test_browser_post_with_redirect_gets_303(client, rt):
    response = post_form(client, LEAD, headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 303
    assert response.headers["Location"] == "https://example.com/thanks"
    assert len(rt.store.recent()) == 1


def test_an_xhr_post_that_accepts_html_keeps_the_json_answer(client, rt):
    headers = {"Accept": "text/html,*/*", "X-Requested-With": "XMLHttpRequest"}
    response = post_form(client, LEAD, headers=headers)
    assert response.status_code == 202 and response.get_json()["ok"] is True


def test_no_contact_field_is_422_naming_fields_and_is_kept_as_rejected(client, rt):
    response = post_form(client, {"email": "not-an-email", "phone": "12", "message": "hi"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "unprocessable"
    assert {"email", "phone"} <= set(body["errors"])
    stored = rt.store.get(body["errors"]["event_id"])
    assert stored is not None and stored.status == "rejected"
    assert "no usable contact field" in stored.last_error
    assert ["message", "hi"] in stored.raw["fields"]
    assert rt.store.due_count() == 0


def test_a_refused_browser_post_sees_a_page_not_json(client, rt):
    response = post_form(client, {"message": "hi"}, headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 422
    assert response.content_type.startswith("text/html")
    page = response.get_data(as_text=True)
    assert "Your form was not sent" in page and "email address or phone number" in page
    event_id = rt.store.recent()[0].id
    assert event_id in page


def test_a_refused_browser_post_goes_to_error_redirect(client, rt, make_config):
    redirect = "    redirect: https://example.com/thanks\n"
    config = make_config(
        BASE_CONFIG.replace(redirect, redirect + "    error_redirect: https://example.com/oops?form=contact\n")
    )
    app = create_app(runtime=Runtime.from_config(config, client=rt.redis))
    response = post_form(app.test_client(), {"message": "hi"}, headers={"Accept": "text/html"})
    assert response.status_code == 303
    event_id = rt.store.recent()[0].id
    assert (
        response.headers["Location"] == f"https://example.com/oops?form=contact&error=unprocessable&event_id={event_id}"
    )


def test_a_refused_ajax_post_keeps_the_json_answer(client):
    response = post_form(client, {"message": "hi"}, headers={"Accept": "*/*"})
    assert response.status_code == 422 and response.get_json()["errors"]["event_id"].startswith("ev_")


def test_bad_json_is_400(client, rt):
    response = client.post("/hooks/contact-us", data=b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["ok"] is False
    assert rt.store.recent() == []


def test_unsupported_content_type_is_415(client):
    response = client.post("/hooks/contact-us", data=b"<xml/>", content_type="application/xml")
    assert response.status_code == 415
    assert "message" in response.get_json()


def test_body_over_limit_is_413(client, rt):
    response = client.post("/hooks/contact-us", data={"email": "a@b.co", "message": "x" * (1024 * 1024 + 10)})
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"
    assert rt.store.recent() == []


def test_unknown_source_is_404_json(client):
    response = client.post("/hooks/nope", data=LEAD)
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_source"


def test_wrong_method_is_405_json(client):
    for method in (client.put, client.get, client.delete):
        response = method("/hooks/contact-us")
        assert response.status_code == 405, method
        assert response.get_json()["ok"] is False


def test_unknown_path_is_404_json(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_other_origin_is_403_and_allowed_origin_gets_cors(client, rt):
    denied = post_form(client, LEAD, headers={"Origin": "https://evil.example"})
    assert denied.status_code == 403
    allowed = post_form(client, LEAD, headers={"Origin": "https://example.com"})
    assert allowed.status_code == 202
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://example.com"
    preflight = client.options("/hooks/contact-us", headers={"Origin": "https://example.com"})
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert client.options("/hooks/contact-us", headers={"Origin": "https://evil.example"}).status_code == 403


def test_honeypot_is_answered_as_success_but_not_delivered(client, rt, crm, deliver_all):
    response = post_form(client, {**LEAD, "_gotcha": "buy pills"})
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    event = rt.store.get(response.get_json()["event_id"])
    assert event.status == "spam"
    deliver_all(rt)
    assert crm.deliveries == []


def test_idempotency_key_delivers_once(client, rt, crm, deliver_all):
    first = post_form(client, LEAD, headers={"Idempotency-Key": "abc-1"})
    second = post_form(client, {**LEAD, "message": "changed"}, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == 202 and second.status_code == 202
    assert second.get_json()["duplicate"] is True
    assert second.get_json()["event_id"] == first.get_json()["event_id"]
    deliver_all(rt)
    assert len(crm.deliveries) == 1
    statuses = sorted(e.status for e in rt.store.recent())
    assert statuses == ["delivered", "duplicate"]


def test_identical_body_within_window_is_a_duplicate(client, rt, crm, deliver_all):
    first = post_form(client, LEAD)
    second = post_form(client, LEAD)
    third = post_form(client, {**LEAD, "message": "a different lead"})
    assert second.get_json()["duplicate"] is True
    assert third.get_json()["duplicate"] is False
    deliver_all(rt)
    assert len(crm.deliveries) == 2
    assert first.get_json()["event_id"] == second.get_json()["event_id"]


def test_redis_down_answers_503_and_acknowledges_nothing(config):
    from gateway import create_app

    dead = redis.Redis(host="127.0.0.1", port=1, **client_options())
    app = create_app(runtime=Runtime.from_config(config, client=dead))
    started = time.monotonic()
    response = app.test_client().post("/hooks/contact-us", data=LEAD)
    assert response.status_code == 503
    assert time.monotonic() - started < 2, "a dead store must be reported quickly"
    assert response.headers["Retry-After"]
    assert response.get_json()["error"] == "store_unavailable"
    assert app.test_client().get("/readyz").status_code == 503
    assert app.test_client().get("/healthz").status_code == 200


def test_redis_down_shows_a_visitors_browser_a_page_asking_to_send_again(config):
    from gateway import create_app

    dead = redis.Redis(host="127.0.0.1", port=1, **client_options())
    app = create_app(runtime=Runtime.from_config(config, client=dead))
    response = app.test_client().post("/hooks/contact-us", data=LEAD, headers={"Accept": "text/html"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.content_type.startswith("text/html")
    assert "Please go back and send it again in a minute" in response.get_data(as_text=True)
    scripted = app.test_client().post("/hooks/contact-us", data=LEAD, headers={"Accept": "application/json"})
    assert scripted.status_code == 503 and scripted.get_json()["error"] == "store_unavailable"


def test_no_sentinel_to_name_a_master_answers_503_and_readyz_fails(make_config):
    config = make_config(REDIS_URL="redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster/0")
    app = create_app(runtime=Runtime.from_config(config))
    started = time.monotonic()
    response = app.test_client().post("/hooks/contact-us", data=LEAD)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert time.monotonic() - started < 2, "no master must be reported quickly"
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["redis"] == "unreachable (MasterNotFoundError)"


def test_request_meta_is_stored_without_secrets(client, rt):
    response = post_form(client, LEAD, headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k", "User-Agent": "t"})
    event = rt.store.get(response.get_json()["event_id"])
    stored = json.dumps(event.request)
    assert "s3cret" not in stored and '"k"' not in stored
    assert event.request["headers"]["user-agent"] == "t"


def test_a_post_matching_no_convention_is_kept_and_delivered_by_a_replay_after_a_field_map_fix(
    client, rt, crm, make_config, redis_client, deliver_all
):
    fields = {"Kontakt": "anna (at) example.de", "Telefonnummer bitte": "030 1234567", "Nachricht": "Hallo"}
    response = post_form(client, fields, headers={"Accept": "application/json"})
    assert response.status_code == 422
    event_id = response.get_json()["errors"]["event_id"]
    assert rt.store.get(event_id).status == "rejected"
    fixed_text = BASE_CONFIG.replace(
        "    field_map: {{org: company_name, budget: custom_fields.budget}}\n",
        "    field_map: {{Telefonnummer bitte: phone, Nachricht: description}}\n",
    ).replace("    phone_region: US\n", "    phone_region: DE\n")
    fixed = Runtime.from_config(make_config(fixed_text), client=redis_client)
    runtime_module.install(fixed)
    try:
        assert replay_event(fixed, event_id).ok
        deliver_all(fixed)
    finally:
        runtime_module.install(rt)
    [delivery] = crm.deliveries
    assert delivery["payload"]["phone"] == "+49301234567" and delivery["payload"]["description"] == "Hallo"
    assert delivery["payload"]["custom_fields"]["Kontakt"] == "anna (at) example.de"


@pytest.mark.parametrize("origin", ["https://example.com", "https://example.com:443", "HTTPS://Example.com/"])
def test_an_allowed_origin_in_any_spelling_passes_and_gets_the_cors_header(client, origin):
    response = post_form(client, LEAD, headers={"Origin": origin, "Accept": "application/json"})
    assert response.status_code == 202
    assert response.headers["Access-Control-Allow-Origin"] == origin
    preflight = client.options("/hooks/contact-us", headers={"Origin": origin})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == origin


def test_another_origin_is_refused_and_gets_no_cors_header(client):
    response = post_form(client, LEAD, headers={"Origin": "https://example.com:8443", "Accept": "application/json"})
    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response.headers


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
"""What Chromium and Firefox send when a visitor submits a ``<form>``."""

LIMITED_FORM = BASE_CONFIG.replace(
    "    honeypot: _gotcha\n",
    "    honeypot: _gotcha\n    max_fields: 5\n    max_name_length: 20\n    max_body_bytes: 2000\n",
)

REFUSED_POSTS = {
    "no contact (422)": (422, "unprocessable", {"data": {"message": "hi"}}),
    "origin not allowed (403)": (403, "forbidden", {"data": LEAD, "headers": {"Origin": "https://evil.example"}}),
    "body too large (413)": (413, "payload_too_large", {"data": {"email": "a@b.co", "message": "x" * 3000}}),
    "too many fields (413)": (413, "payload_too_large", {"data": {f"f{n}": "v" for n in range(8)}}),
    "field name too long (400)": (400, "bad_request", {"data": {"n" * 40: "v", "email": "a@b.co"}}),
    "text/plain enctype (415)": (
        415,
        "unsupported_media_type",
        {"data": b"email=a@b.co", "content_type": "text/plain"},
    ),
}
"""Every way the form kind refuses what a browser can submit, with the error name the refusal carries."""


def browser_post(client, kwargs, extra_headers=None):
    headers = {**BROWSER, **kwargs.get("headers", {}), **(extra_headers or {})}
    return client.post("/hooks/contact-us", **{**kwargs, "headers": headers})


def app_for(text, redis_client):
    return create_app(runtime=Runtime.from_config(text, client=redis_client)).test_client()


@pytest.mark.parametrize("case", sorted(REFUSED_POSTS))
def test_every_refused_browser_post_is_a_page_in_english_by_default(case, make_config, redis_client):
    status, error, kwargs = REFUSED_POSTS[case]
    client = app_for(make_config(LIMITED_FORM), redis_client)
    response = browser_post(client, kwargs)
    assert response.status_code == status
    assert response.content_type == "text/html; charset=utf-8"
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page and '<h1 id="refusal-title">Your form was not sent</h1>' in page
    assert 'href="javascript:history.back()"' in page and "Back to the form" in page
    assert '"ok"' not in page


@pytest.mark.parametrize("case", sorted(REFUSED_POSTS))
def test_every_refused_browser_post_goes_to_error_redirect_when_set(case, make_config, redis_client):
    status, error, kwargs = REFUSED_POSTS[case]
    text = LIMITED_FORM.replace(
        "    redirect: https://example.com/thanks\n", "    error_redirect: https://example.com/oops\n"
    )
    response = browser_post(app_for(make_config(text), redis_client), kwargs)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"https://example.com/oops?error={error}"), location
    assert ("&event_id=ev_" in location) is (status == 422)


@pytest.mark.parametrize("case", sorted(REFUSED_POSTS))
def test_every_refusal_stays_json_for_scripts(case, make_config, redis_client):
    status, error, kwargs = REFUSED_POSTS[case]
    client = app_for(make_config(LIMITED_FORM), redis_client)
    for headers in ({"Accept": "application/json"}, {"Accept": "*/*"}, {"X-Requested-With": "XMLHttpRequest"}):
        response = browser_post(client, kwargs, {"Accept": "*/*", **headers})
        assert response.status_code == status, headers
        assert response.is_json and response.get_json()["error"] == error, headers


def test_an_xhr_that_also_accepts_html_keeps_the_json_answer(client):
    response = post_form(client, {"message": "hi"}, headers={**BROWSER, "X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 422 and response.get_json()["error"] == "unprocessable"


@pytest.mark.parametrize(
    ("language", "title", "explanation"),
    [
        ("de", "Ihr Formular wurde nicht gesendet", "keine E-Mail-Adresse und keine Telefonnummer"),
        ("fr", "Votre formulaire n&#39;a pas été envoyé", "ni adresse e-mail ni numéro de téléphone"),
    ],
)
def test_the_page_speaks_the_sources_language(language, title, explanation, make_config, redis_client):
    text = BASE_CONFIG.replace("    phone_region: US\n", f"    phone_region: US\n    language: {language}\n")
    client = app_for(make_config(text), redis_client)
    response = post_form(client, {"message": "hi"}, headers=BROWSER)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<html lang="{language}">' in page and title in page and explanation in page
    assert "Your form was not sent" not in page


def test_an_unknown_language_is_a_config_error(make_config):
    with pytest.raises(ConfigError, match=r"sources\.contact-us\.language: .*de, en, fr"):
        make_config(BASE_CONFIG.replace("    phone_region: US\n", "    phone_region: US\n    language: xx\n"))


def test_a_rate_limited_browser_post_is_a_page_with_retry_after(make_config, redis_client):
    text = BASE_CONFIG.replace("    honeypot: _gotcha\n", "    honeypot: _gotcha\n    rate_limit: 1/minute\n")
    client = app_for(make_config(text), redis_client)
    environ = {"REMOTE_ADDR": "203.0.113.50"}
    assert post_form(client, LEAD, environ_base=environ).status_code == 202
    response = post_form(client, LEAD, headers=BROWSER, environ_base=environ)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.content_type.startswith("text/html") and "Please wait a minute" in response.get_data(as_text=True)
    scripted = post_form(client, LEAD, headers={"Accept": "application/json"}, environ_base=environ)
    assert scripted.status_code == 429 and scripted.get_json()["error"] == "rate_limited"
