"""The dashboard through Flask's test client: login, CSRF, pages, replay, replay all, purge."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from gateway import create_app
from gateway.auth import session_secret
from leadgate import defaults
from leadgate.lifecycle import this_process
from leadgate.runtime import Runtime
from tests.support.admin import ADMIN_CONFIG
from tests.support.admin import AUTH as AUTH_HEADERS
from tests.support.admin import TOKEN
from tests.support.admin import dead_letter
from tests.support.admin import post_lead
from tests.support.delivery import dispatch_now
from tests.support.leads import park

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
    assert "<strong>1</strong> dead letter: leads ConnectGain refused" in page


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


def test_event_page_names_the_worker_delivering_it(admin, rt):
    """Which worker process holds a lead in delivery (host:pid), and when another may take it over."""
    event_id = post_lead(admin, name="Ada", email="ada@example.com")
    [(_, dispatch)] = dispatch_now(rt).items()
    now = time.time()
    assert rt.store.claim(event_id, dispatch, now, now + 60) == 1
    page = text(admin.get(f"/admin/events/{event_id}"))
    assert f"<dt>Being delivered by</dt><dd>worker {this_process()}, taken over after " in page
    api = admin.get(f"/admin/api/events/{event_id}", headers=AUTH_HEADERS).get_json()
    assert (api["held_by"], api["lease_until"]) == (this_process(), pytest.approx(now + 60))


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


# -- operator experience (issue 18): rows, replays, tiles, paging, CSV, edit and replay ------------


def rows(page_text):
    """``{event_id: row html}`` of an event list page."""
    return dict(re.findall(r'<tr data-event="(ev_[0-9a-f]+)">(.*?)</tr>', page_text, re.S))


def test_duplicate_spam_and_rejected_rows_name_their_lead(admin, rt):
    original = post_lead(admin, name="Dupe Original", email="dupe@example.com")
    duplicate = post_lead(admin, name="Dupe Original", email="dupe@example.com")
    assert duplicate == original  # the hook answers with the original's id ...
    [dup_event] = [e for e in rt.store.recent() if e.status == "duplicate"]  # ... and keeps a duplicate record
    spam = post_lead(admin, name="Spam Bot", email="bot@spam.example", _gotcha="buy")
    rejected = admin.post("/hooks/contact-us", data={"email": "rita(at)example", "message": "hi"})
    rejected_id = rejected.get_json()["errors"]["event_id"]
    shown = rows(text(admin.get("/admin/events")))
    assert "Dupe Original" in shown[dup_event.id] and "dupe@example.com" in shown[dup_event.id]
    assert "Spam Bot" in shown[spam] and "bot@spam.example" in shown[spam]
    assert "rita(at)example" in shown[rejected_id]
    assert not any(f">{event_id}</a>" in row for event_id, row in shown.items())  # never just the id


def test_attempts_are_numbered_across_replays_and_the_replay_is_marked(admin, rt, crm, deliver_all):
    event_id = dead_letter(admin, rt, crm, deliver_all, email="again@example.com")
    assert post_form(admin, f"/admin/events/{event_id}/replay", page=f"/admin/events/{event_id}").status_code == 303
    deliver_all(rt)
    assert rt.store.get(event_id).status == "delivered"
    page = text(admin.get(f"/admin/events/{event_id}"))
    assert re.findall(r'data-number="(\d+)"', page) == ["1", "2"]
    assert "<strong>#1</strong>" in page and "<strong>#2</strong>" in page
    second = page[page.index('data-number="2"') :]
    assert '<span class="badge replay">replay 1</span>' in second[: second.index("</li>")]
    operator_entry = page[page.index('data-action="replay"') :]
    assert "Replayed" in operator_entry and "by dashboard from 127.0.0.1" in operator_entry
    assert page.index('data-action="replay"') < page.index('data-number="2"')  # between the two runs
    detail = admin.get(f"/admin/api/events/{event_id}", headers=AUTH_HEADERS).get_json()
    assert [(a["number"], a["run"], a["replay"]) for a in detail["delivery_attempts"]] == [(1, 1, False), (2, 2, True)]
    assert [a["action"] for a in detail["operator_log"]] == ["replay"]


def tiles_of(page_text, source):
    card = page_text[page_text.index(f'data-source="{source}"') :]
    card = card[: card.index("</section>")]
    return {name: int(n) for name, n in re.findall(r'data-tile="(\w+)"[^>]*><dt>[^<]+</dt><dd>(\d+)</dd>', card)}


def test_source_tiles_add_up_and_parked_leads_are_called_parked(admin, rt, crm, deliver_all):
    post_lead(admin, name="Del Ivered", email="del@example.com")
    deliver_all(rt)
    dead_letter(admin, rt, crm, deliver_all, email="dead@example.com")
    post_lead(admin, name="Spam Bot", email="bot@example.com", _gotcha="x")
    post_lead(admin, name="Del Ivered", email="del@example.com")  # a duplicate
    admin.post("/hooks/contact-us", data={"message": "no contact"})  # rejected
    parked = post_lead(admin, name="Pat Parked", email="pat@example.com")
    park(rt, parked)
    post_lead(admin, name="Quinn Queued", email="quinn@example.com")  # still in flight
    page = text(admin.get("/admin/"))
    tiles = tiles_of(page, "contact-us")
    received = tiles.pop("received")
    assert received == 7 and sum(tiles.values()) == received
    assert tiles == {"delivered": 1, "in_flight": 1, "parked": 1, "failed": 2, "skipped": 2}
    assert "<strong>1</strong> dead letter:" in page
    assert "<strong>1</strong> lead parked waiting for a platform token" in page
    assert "2 events waiting in dead letters" not in page and "waiting in dead letters" not in page


def test_event_list_has_a_total_and_numbered_pages_that_agree_with_older(admin):
    ids = [post_lead(admin, name=f"Page {i}", email=f"page{i}@example.com") for i in range(7)]
    first = text(admin.get("/admin/events?limit=3"))
    assert "7 in all" in first and "Showing 1–3 of 7" in first
    links = dict(
        (int(n), url.replace("&amp;", "&"))
        for url, n in re.findall(r'<a href="([^"]+)" aria-label="Page (\d+)">', first)
    )
    assert sorted(links) == [2, 3] and '<span aria-current="page">1</span>' in first
    older = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    assert older == links[2]  # page 2 is exactly where "Older" goes
    second = text(admin.get(links[2]))
    assert list(rows(second)) == list(reversed(ids))[3:6]
    assert "Showing 4–6 of 7" in second and '<span aria-current="page">2</span>' in second
    assert 'rel="prev"' in second
    third = text(admin.get(links[3]))
    assert list(rows(third)) == [ids[0]] and 'rel="next"' not in third
    filtered = text(admin.get("/admin/events?q=page3"))
    assert "1 match" in filtered and list(rows(filtered)) == [ids[3]]


def test_csv_export_follows_the_filter_and_neutralises_formulas(admin, rt):
    post_lead(admin, name='=HYPERLINK("http://evil.example","x")', email="formula@example.com")
    post_lead(admin, name="Plain Person", email="plain@example.com", phone="+1 415 555 2671")
    post_lead(admin, "landing", name="Other Source", email="other@example.com")
    response = admin.get("/admin/events.csv?source=contact-us")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="leadgate-events-contact-us.csv"'
    assert response.headers["X-Leadgate-Export-Complete"] == "true"
    table = list(csv.reader(io.StringIO(text(response))))
    assert table[0][:7] == ["event_id", "received_at", "source", "status", "name", "email", "phone"]
    body = {row[5]: row for row in table[1:]}
    assert set(body) == {"formula@example.com", "plain@example.com"}
    assert body["formula@example.com"][4] == '\'=HYPERLINK("http://evil.example","x")'
    assert body["plain@example.com"][6] == "'+14155552671"  # a leading + is a formula to a spreadsheet
    assert body["plain@example.com"][1].endswith("+00:00")
    page = text(admin.get("/admin/events?source=contact-us"))
    assert 'href="/admin/events.csv?source=contact-us"' in page
    assert admin.get("/admin/events.csv?status=nonsense").status_code == 400


def test_csv_export_is_bounded(admin, monkeypatch):
    for i in range(3):
        post_lead(admin, name=f"Row {i}", email=f"row{i}@example.com")
    monkeypatch.setattr(defaults, "CSV_EXPORT_MAX_ROWS", 2)
    response = admin.get("/admin/events.csv")
    assert len(list(csv.reader(io.StringIO(text(response))))) == 3  # header + 2
    assert response.headers["X-Leadgate-Export-Complete"] == "false"


def rejected_post(client, **fields):
    response = client.post("/hooks/contact-us", data=fields)
    assert response.status_code == 422
    return response.get_json()["errors"]["event_id"]


def test_edit_and_replay_a_rejected_lead_keeps_the_raw_event_and_records_the_edit(admin, rt, crm, deliver_all, caplog):
    event_id = rejected_post(admin, email="rita(at)example.com", message="call me")
    raw_before = rt.store.get(event_id).raw
    assert 'href="/admin/events/%s/edit"' % event_id in text(admin.get(f"/admin/events/{event_id}"))
    form = text(admin.get(f"/admin/events/{event_id}/edit"))
    assert 'value="rita(at)example.com"' in form and 'name="first_name" value=""' in form
    caplog.set_level("INFO", logger="leadgate.operations")
    response = post_form(
        admin,
        f"/admin/events/{event_id}/edit",
        {"first_name": "Rita", "last_name": "Reject", "email": "Rita@Example.com", "phone": "", "company_name": ""},
        page=f"/admin/events/{event_id}/edit",
    )
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/events/{event_id}"
    event = rt.store.get(event_id)
    assert event.status == "queued" and event.raw == raw_before
    assert event.lead["email"] == "rita@example.com" and "message: call me" in event.lead["description"]
    deliver_all(rt)
    [delivery] = crm.deliveries
    assert delivery["payload"]["email"] == "rita@example.com" and delivery["payload"]["tags"] == ["website"]
    page = text(admin.get(f"/admin/events/{event_id}"))
    assert "Corrected first name, last name, email and queued the lead" in page
    edit_entry = page[page.index('data-action="edit"') :]
    assert "Edited and replayed" in edit_entry and "by dashboard from 127.0.0.1" in edit_entry
    assert "<code>email</code>" in edit_entry and "r***@example.com" in edit_entry
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'changes', '')}" for r in caplog.records)
    assert "lead edited" in logged and "r***@example.com" in logged and "rita@example.com" not in logged


def test_an_invalid_correction_shows_the_form_again_naming_the_field(admin, rt):
    event_id = rejected_post(admin, email="nope", message="hi")
    response = post_form(
        admin, f"/admin/events/{event_id}/edit", {"email": "still-not-an-email"}, page=f"/admin/events/{event_id}/edit"
    )
    assert response.status_code == 422
    page = text(response)
    assert 'aria-invalid="true"' in page and "not a valid email address" in page
    assert 'value="still-not-an-email"' in page
    assert rt.store.get(event_id).status == "rejected"


def test_a_delivered_lead_cannot_be_edited(admin, rt, deliver_all):
    event_id = post_lead(admin, name="Del Ivered", email="del@example.com")
    deliver_all(rt)
    assert "/edit" not in text(admin.get(f"/admin/events/{event_id}"))
    assert admin.get(f"/admin/events/{event_id}/edit").status_code == 409
    response = post_form(admin, f"/admin/events/{event_id}/edit", {"email": "x@example.com"})
    assert response.status_code == 409 and rt.store.get(event_id).status == "delivered"


def test_a_dead_letter_is_edited_from_the_dead_letters_page(admin, rt, crm, deliver_all):
    event_id = dead_letter(admin, rt, crm, deliver_all, email="typo@exmaple.com")
    assert f'href="/admin/events/{event_id}/edit"' in text(admin.get("/admin/dead-letters"))
    response = post_form(
        admin, f"/admin/events/{event_id}/edit", {"email": "typo@example.com"}, page=f"/admin/events/{event_id}/edit"
    )
    assert response.status_code == 303
    deliver_all(rt)
    assert crm.deliveries[-1]["payload"]["email"] == "typo@example.com"
    detail = admin.get(f"/admin/api/events/{event_id}", headers=AUTH_HEADERS).get_json()
    assert [(a["number"], a["replay"]) for a in detail["delivery_attempts"]] == [(1, False), (2, True)]
    [edit] = detail["operator_log"]
    assert edit["fields"] == ["email"] and edit["changes"] == [
        {"field": "email", "old": "t***@exmaple.com", "new": "t***@example.com"}
    ]
