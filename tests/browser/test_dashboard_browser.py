"""The dashboard in a real headless Chromium: log in, find and open an event, replay, layout on a phone."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.browser import DESKTOP
from tests.support.browser import PHONE
from tests.support.browser import log_in


def post_lead(base_url: str, source: str = "contact-us", **fields: str) -> str:
    """A lead through the real HTTP endpoint, as a sender would post it."""
    response = httpx.post(f"{base_url}/hooks/{source}", data=fields, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["event_id"]


def dead_letter(base_url, rt, crm, deliver_all, email, source="contact-us") -> str:
    crm.set_faults(status=400, count=1)
    event_id = post_lead(base_url, source, name=f"Dead {email.split('@')[0].title()}", email=email)
    deliver_all(rt)
    crm.clear_faults()
    assert rt.store.get(event_id).status == "dead"
    return event_id


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_wrong_token_stays_on_the_login_page(open_page, live_server):
    page = open_page()
    page.goto(f"{live_server}/admin/")
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("That is not the admin token.").wait_for()
    assert "/admin/login" in page.url


def test_log_in_find_a_delivered_event_and_open_it(open_page, live_server, rt, deliver_all):
    post_lead(live_server, name="Other Person", email="other@example.com")
    event_id = post_lead(live_server, name="Jane Roe", email="jane@example.com", phone="(415) 555-2671")
    deliver_all(rt)
    page = open_page()
    log_in(page, live_server, "/admin/events")
    assert page.locator("tr[data-event]").count() == 2
    page.get_by_label("Search").fill("jane@example.com")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*q=jane%40example\.com.*"))
    row = page.locator("tr[data-event]")
    assert row.count() == 1
    assert row.locator(".badge").inner_text() == "delivered"
    row.get_by_role("link", name="Jane Roe").click()
    page.wait_for_url(f"{live_server}/admin/events/{event_id}")
    attempts = page.locator("li.attempt")
    assert attempts.count() == 1
    # 201 from /create-lead, or 200 when the lead travelled in a create-leads-bulk call with others
    assert re.search(r"HTTP 20[01]", attempts.first.inner_text())
    assert "+14155552671" in page.locator("table.diff").inner_text()


def test_replay_a_dead_letter_from_its_page(open_page, live_server, rt, crm, deliver_all):
    event_id = dead_letter(live_server, rt, crm, deliver_all, "lazarus@example.com")
    page = open_page()
    log_in(page, live_server, "/admin/dead-letters")
    page.locator(f'tr[data-event="{event_id}"] .who a').click()
    page.wait_for_url(f"{live_server}/admin/events/{event_id}")
    assert page.locator("h1 .badge").inner_text() == "dead"
    assert "HTTP 400" in page.locator("li.attempt").first.inner_text()
    page.get_by_role("button", name="Replay").click()
    page.get_by_text("Replay queued").wait_for()
    assert page.locator("h1 .badge").inner_text() == "queued"
    deliver_all(rt)
    page.reload()
    page.locator("h1 .badge", has_text="delivered").wait_for()
    assert page.locator("li.attempt").count() == 2
    assert crm.deliveries_by_email()["lazarus@example.com"] == 1


def test_replay_all_from_the_dead_letter_page(open_page, live_server, rt, crm, deliver_all):
    emails = ["first@example.com", "second@example.com"]
    dead_letter(live_server, rt, crm, deliver_all, emails[0])
    dead_letter(live_server, rt, crm, deliver_all, emails[1], source="landing")
    page = open_page()
    log_in(page, live_server, "/admin/dead-letters")
    assert page.locator("tr[data-event]").count() == 2
    page.get_by_role("button", name="Replay all").click()  # confirm() is accepted by the fixture
    page.get_by_text("Queued 2 event(s) for delivery.").wait_for()
    deliver_all(rt)
    page.reload()
    page.get_by_text("Nothing waiting").wait_for()
    assert {email: crm.deliveries_by_email()[email] for email in emails} == {e: 1 for e in emails}


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_pages_fit_the_screen_and_are_screenshotted(
    name, viewport, open_page, live_server, rt, crm, deliver_all, shots_dir
):
    post_lead(live_server, name="Jane Roe", email="jane.roe@example.com", phone="(415) 555-2671", org="Acme Corp")
    post_lead(live_server, "landing", name="Lou Landing", email="lou@example.com", message="Call me after 5pm")
    deliver_all(rt)
    dead = dead_letter(live_server, rt, crm, deliver_all, "refused.lead.with.a.long.address@example-company.com")
    page = open_page(viewport)
    page.goto(f"{live_server}/admin/login")
    shots = {"login": shots_dir / f"{name}-login.png"}
    page.screenshot(path=str(shots["login"]), full_page=True)
    assert no_horizontal_scroll(page), f"{name} login: the page is wider than the screen"
    log_in(page, live_server)
    for label, path in [
        ("sources", "/admin/"),
        ("events", "/admin/events"),
        ("event", f"/admin/events/{dead}"),
        ("dead-letters", "/admin/dead-letters"),
    ]:
        page.goto(live_server + path)
        assert page.locator("main h1").is_visible()
        assert page.get_by_role("link", name="Dead letters", exact=True).is_visible(), (
            f"{name} {label}: navigation hidden"
        )
        shots[label] = shots_dir / f"{name}-{label}.png"
        page.screenshot(path=str(shots[label]), full_page=True)  # before the checks: a failure comes with its picture
        assert no_horizontal_scroll(page), f"{name} {label}: the page is wider than the screen"
    if name == "phone":
        page.goto(f"{live_server}/admin/events")
        first_row = page.locator("tr[data-event]").first.bounding_box()
        assert first_row and first_row["width"] <= viewport["width"], "rows must stack as cards on a phone"
        assert page.locator("table.events thead").is_hidden()
    assert all(path.stat().st_size > 5_000 for path in shots.values())
    print(f"screenshots: {sorted(str(p) for p in shots.values())}")
