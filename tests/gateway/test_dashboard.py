"""The dashboard through Flask's test client: login, CSRF, pages, replay, replay all, purge."""

from __future__ import annotations

import re

import pytest

from gateway import create_app
from gateway.auth import session_secret
from leadgate.runtime import Runtime
from tests.support.admin import ADMIN_CONFIG
from tests.support.admin import TOKEN
from tests.support.admin import dead_letter
from tests.support.admin import post_lead

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


WEBFLOW_TOKEN = "wf-token-4242"
DASHBOARD_CONFIG = (
    ADMIN_CONFIG
    + f"""
  webflow:
    kind: json
    token: {WEBFLOW_TOKEN}
    event_id: payload.id
    phone_region: US
    mapping:
      first_name: payload.data."First Name"
      email: payload.data.email
      phone: payload.data."Phone Number"
      custom_fields.page: payload.pageUrl
"""
)


@pytest.fixture
def config(make_config):
    return make_config(DASHBOARD_CONFIG)


def csrf_from(client, path="/admin/login"):
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    match = CSRF_FIELD.search(response.get_data(as_text=True))
    assert match, "no CSRF field on the page"
    return match.group(1)


def log_in(client, token=TOKEN, next_path=None):
    data = {"token": token, "csrf_token": csrf_from(client)}
    if next_path:
        data["next"] = next_path
    return client.post("/admin/login", data=data)


@pytest.fixture
def admin(client):
    """A test client logged in to the dashboard."""
    assert log_in(client).status_code == 303
    return client


def post_form(client, path, data=None, page="/admin/"):
    return client.post(path, data={"csrf_token": csrf_from(client, page), **(data or {})})


def text(response):
    return response.get_data(as_text=True)


# -- login, logout, CSRF, off ----------------------------------------------------------------------


def test_pages_redirect_to_login_with_next(client):
    response = client.get("/admin/events?q=jane")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/events?q%3Djane"
    assert client.post("/admin/events/ev_1/replay").status_code == 302


def test_login_with_the_token_then_logout(client):
    assert log_in(client, next_path="/admin/dead-letters").headers["Location"] == "/admin/dead-letters"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/login").headers["Location"] == "/admin/"
    response = post_form(client, "/admin/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert "Logged out." in text(client.get("/admin/login"))
    assert client.get("/admin/").status_code == 302


def test_wrong_token_is_refused(client):
    response = log_in(client, token="not-the-token")
    assert response.status_code == 401
    assert "That is not the admin token." in text(response)
    assert client.get("/admin/").status_code == 302


def test_login_never_redirects_off_the_dashboard(client):
    for target in ("https://evil.example/", "//evil.example/admin/", "/hooks/contact-us", "/admin/\\evil"):
        response = log_in(client, next_path=target)
        assert response.headers["Location"] == "/admin/", target
        post_form(client, "/admin/logout")


def test_form_posts_without_the_csrf_token_are_rejected(admin, rt, crm, deliver_all):
    event_id = dead_letter(admin, rt, crm, deliver_all)
    for path in (
        f"/admin/events/{event_id}/replay",
        "/admin/dead-letters/replay",
        f"/admin/dead-letters/{event_id}/purge",
    ):
        response = admin.post(path, data={})
        assert response.status_code == 400, path
        assert "CSRF" in text(response)
        response = admin.post(path, data={"csrf_token": "forged"})
        assert response.status_code == 400, path
    assert rt.store.get(event_id).status == "dead"
    assert admin.post("/admin/logout", data={}).status_code == 400
    assert admin.get("/admin/").status_code == 200


def test_login_itself_needs_the_csrf_token(client):
    assert client.post("/admin/login", data={"token": TOKEN}).status_code == 400
    assert client.get("/admin/").status_code == 302


def test_session_key_is_derived_from_the_token_and_shared_by_every_worker(config, rt, admin):
    other_worker = create_app(runtime=Runtime.from_config(config, client=rt.redis))
    assert other_worker.config["SECRET_KEY"] == admin.application.config["SECRET_KEY"] == session_secret(TOKEN)
    assert TOKEN not in other_worker.config["SECRET_KEY"]
    cookie = admin.get_cookie("leadgate_admin", path="/admin")
    assert cookie is not None and cookie.http_only
    second = other_worker.test_client()
    second.set_cookie("leadgate_admin", cookie.value, path="/admin")
    assert second.get("/admin/").status_code == 200
    assert session_secret("rotated-token") != session_secret(TOKEN)


def test_dashboard_answers_with_security_headers(admin):
    response = admin.get("/admin/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_dashboard_is_404_when_no_admin_token_is_configured(make_config, redis_client):
    client = create_app(runtime=Runtime.from_config(make_config(), client=redis_client)).test_client()
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/login").status_code == 404
    assert client.post("/admin/login", data={"token": ""}).status_code == 404


# -- pages -----------------------------------------------------------------------------------------


def test_overview_shows_per_source_counters(admin, rt, crm, deliver_all):
    post_lead(admin, name="Ann A", email="ann@example.com")
    deliver_all(rt)
    dead_letter(admin, rt, crm, deliver_all)
    page = text(admin.get("/admin/"))
    contact = page[page.index('data-source="contact-us"') :]
    contact = contact[: contact.index("</section>")]
    assert re.search(r"<dt>Received</dt><dd>2</dd>", contact)
    assert re.search(r"<dt>Delivered</dt><dd>1</dd>", contact)
    assert re.search(r"<dt>Failed</dt><dd>1</dd>", contact)
    assert "http://localhost/hooks/contact-us" in contact
    assert "<strong>1</strong> event waiting in dead letters" in page


def test_event_list_filters_searches_and_shows_badges(admin, rt, crm, deliver_all):
    post_lead(admin, name="Jane Roe", email="jane@example.com", phone="(415) 555-2671")
    post_lead(admin, "landing", name="Lou Landing", email="lou@example.com")
    deliver_all(rt)
    dead_letter(admin, rt, crm, deliver_all, email="dora@example.com")
    page = text(admin.get("/admin/events"))
    assert page.count("<tr data-event=") == 3
    assert '<span class="badge ok">delivered</span>' in page and '<span class="badge bad">dead</span>' in page
    assert "jane@example.com · +14155552671" in page
    searched = text(admin.get("/admin/events?q=415-555-2671"))
    assert searched.count("<tr data-event=") == 1 and "Jane Roe" in searched
    assert text(admin.get("/admin/events?source=landing")).count("<tr data-event=") == 1
    dead_only = text(admin.get("/admin/events?status=dead"))
    assert dead_only.count("<tr data-event=") == 1 and "dora@example.com" in dead_only
    assert "No events match these filters" in text(admin.get("/admin/events?q=nobody-at-all"))


def test_event_list_pages_with_older_link(admin):
    for i in range(3):
        post_lead(admin, name=f"Page {i}", email=f"page{i}@example.com")
    first = text(admin.get("/admin/events?limit=2"))
    assert first.count("<tr data-event=") == 2
    older = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = text(admin.get(older))
    assert second.count("<tr data-event=") == 1 and "Page 0" in second and 'rel="next"' not in second
    assert admin.get("/admin/events?cursor=garbage").status_code == 302


def test_a_large_event_page_is_cut_and_links_the_raw_download(admin, rt):
    """A value and a field list far over what a page shows: both cut and marked; the download has them whole."""
    fields = {"email": "big@example.com", "message": "m" * 15_000, "api_key": "key-555555"}
    fields.update({f"f{i}": "v" for i in range(900)})
    event_id = post_lead(admin, **fields)
    response = admin.get(f"/admin/events/{event_id}")
    page = text(response)
    assert len(response.get_data()) < 300_000
    assert "long values and lists are cut on this page" in page
    assert "… [cut: 15000 characters in all]" in page and "… [cut: 903 items in all]" in page
    link = f'href="/admin/events/{event_id}/raw"'
    assert link in page
    download = admin.get(f"/admin/events/{event_id}/raw")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f'attachment; filename="{event_id}.raw.json"'
    stored = dict(download.get_json()["fields"])
    assert len(stored) == len(fields) and stored["message"] == "m" * 15_000
    assert stored["api_key"] == "[redacted]"


def test_the_raw_download_needs_a_login(client, rt):
    event_id = post_lead(client, email="small@example.com")
    response = client.get(f"/admin/events/{event_id}/raw")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert log_in(client).status_code == 303
    page = text(client.get(f"/admin/events/{event_id}"))
    assert f'href="/admin/events/{event_id}/raw"' in page and "cut on this page" not in page


def test_event_page_shows_attempts_diff_and_no_secrets(admin, rt, crm, deliver_all):
    crm.set_faults(status=503, count=1)
    response = admin.post(
        "/hooks/contact-us?token=tok-987654",
        data={"name": "Tim Line", "email": "tim@example.com", "phone": "(415) 555-0101", "api_key": "key-987654"},
        headers={"X-Hub-Signature-256": "sha256=sig-987654"},
    )
    event_id = response.get_json()["event_id"]
    deliver_all(rt)
    page = text(admin.get(f"/admin/events/{event_id}"))
    assert page.count('<li class="attempt') == 2
    assert "HTTP 503" in page and "HTTP 201" in page
    assert '<tr class="change-normalized">' in page and '<tr class="change-added">' in page
    assert "tim@example.com" in page and "+14155550101" in page
    for secret in ("tok-987654", "key-987654", "sig-987654"):
        assert secret not in page
    assert "Send again" in page and "data-refresh" not in page


def test_unknown_event_page_is_404(admin):
    assert admin.get("/admin/events/ev_000000000000nothere").status_code == 404


# -- actions ---------------------------------------------------------------------------------------


def test_replay_button_delivers_a_dead_letter_once(admin, rt, crm, deliver_all):
    event_id = dead_letter(admin, rt, crm, deliver_all, email="again@example.com")
    page = f"/admin/events/{event_id}"
    assert ">Replay</button>" in text(admin.get(page))
    response = post_form(admin, f"{page}/replay", page=page)
    assert response.status_code == 303 and response.headers["Location"] == page
    assert "Replay queued" in text(admin.get(page))
    deliver_all(rt)
    assert rt.store.get(event_id).status == "delivered"
    assert crm.deliveries_by_email()["again@example.com"] == 1
    post_form(admin, f"{page}/replay", page=page)
    assert "Not replayed: event is delivered" in text(admin.get(page))


def test_replay_all_and_purge_from_the_dead_letter_page(admin, rt, crm, deliver_all):
    first = dead_letter(admin, rt, crm, deliver_all, email="one@example.com")
    second = dead_letter(admin, rt, crm, deliver_all, email="two@example.com", source="landing")
    page = text(admin.get("/admin/dead-letters"))
    assert page.count("<tr data-event=") == 2 and ">Replay all</button>" in page
    response = post_form(admin, "/admin/dead-letters/replay", {"source": "landing"}, page="/admin/dead-letters")
    assert response.status_code == 303
    assert "Queued 1 event(s) for delivery." in text(admin.get("/admin/dead-letters"))
    deliver_all(rt)
    assert rt.store.get(second).status == "delivered"
    post_form(admin, f"/admin/dead-letters/{first}/purge", page="/admin/dead-letters")
    assert rt.store.get(first).status == "purged"
    page = text(admin.get("/admin/dead-letters"))
    assert "Nothing waiting" in page
    assert crm.deliveries_by_email() == {"two@example.com": 1}


def test_a_json_source_lead_shows_its_attempts_and_nested_field_diff(admin, rt, deliver_all):
    body = {
        "triggerType": "form_submission",
        "payload": {
            "id": "wf-sub-1",
            "pageUrl": "https://example.com/contact",
            "data": {"First Name": "Wendy", "email": "Wendy@Example.com", "Phone Number": "415 555 0123"},
        },
    }
    response = admin.post("/hooks/webflow", json=body, headers={"Authorization": f"Bearer {WEBFLOW_TOKEN}"})
    assert response.status_code == 202, response.get_json()
    event_id = response.get_json()["event_id"]
    deliver_all(rt)
    assert text(admin.get("/admin/events?q=wendy@example.com")).count("<tr data-event=") == 1
    page = text(admin.get(f"/admin/events/{event_id}"))
    assert page.count('<li class="attempt') == 1 and "HTTP 201" in page
    assert "payload.data.email" in page and "+14155550123" in page
    assert WEBFLOW_TOKEN not in page


def test_paused_destination_is_shown_and_resumed_from_the_page(admin, rt, crm, deliver_all):
    crm.set_faults(status=401)
    admin.post("/hooks/contact-us", data={"email": "paused@example.com"})
    deliver_all(rt)
    home = text(admin.get("/admin/"))
    assert "Deliveries to <strong>main</strong> are paused" in home
    crm.clear_faults()
    resumed = post_form(admin, "/admin/destinations/main/resume")
    assert resumed.status_code == 303
    assert "are paused" not in text(admin.get("/admin/"))
    deliver_all(rt)
    assert crm.deliveries_by_email() == {"paused@example.com": 1}
