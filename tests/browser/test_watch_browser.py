"""The watch and alerts pages in a real headless Chromium, on a desktop and a phone, with a week of traffic."""

from __future__ import annotations

import time

import httpx
import pytest

from leadgate.traffic import HOUR
from leadgate.traffic import Traffic
from leadgate.traffic import hour_of
from tests.support.admin import ADMIN_CONFIG
from tests.support.browser import DESKTOP
from tests.support.browser import PHONE
from tests.support.browser import log_in
from tests.support.catcher import Catcher
from tests.support.graph_api import OTHER_PAGE_ID
from tests.support.graph_api import PAGE_TOKEN
from tests.support.graph_api import facebook_config
from tests.support.graph_api import facebook_env
from workers.alerting import AlertLoop

SHOTS = "/tmp/shots"


@pytest.fixture
def catcher():
    with Catcher() as server:
        yield server


@pytest.fixture
def config(make_config, graph, catcher):
    alerts = f"""alerts:
  facebook_check_every: 1h
  channels:
    - kind: slack
      name: team-slack
      url: {catcher.url}/slack
  sources:
    contact-us:
      expect_every: 6h
      learn_silence: false
    landing:
      expect_every: 6h
      learn_silence: false
"""
    return make_config(facebook_config(ADMIN_CONFIG, graph.url) + alerts, **facebook_env())


def post(base_url: str, source: str, **fields: str) -> int:
    return httpx.post(f"{base_url}/hooks/{source}", data=fields, timeout=10).status_code


def a_week_of_traffic(base_url: str, rt, crm, deliver_all) -> None:
    """Leads posted hour by hour (counted into each past hour's bucket), a 10-hour silence, rejections, dead letters."""
    traffic = Traffic(rt.redis, rt.store.prefix)
    now = time.time()
    start = hour_of(now) - 100 * HOUR
    traffic.sample(rt.store.counters_key, start - HOUR)
    for back in range(100, -1, -1):
        hour = hour_of(now) - back * HOUR
        if 40 <= back < 50:
            traffic.sample(rt.store.counters_key, hour + 60)
            continue  # the silence
        for n in range((back * 7) % 4 + (2 if 8 <= (back % 24) <= 17 else 0)):
            assert post(base_url, "contact-us", name="Jo Doe", email=f"jo{back}-{n}@example.com") == 202
        if back % 9 == 0:
            assert post(base_url, "landing", name="Ann Lee", email=f"ann{back}@example.com") == 202
        if back in (30, 31):
            for n in range(3):
                assert post(base_url, "contact-us", message=f"no contact at all {back}-{n}") == 422
        traffic.sample(rt.store.counters_key, hour + 60)
    deliver_all(rt)
    crm.set_faults(status=400, count=2)
    post(base_url, "contact-us", name="Bad Lead", email="bad1@example.com")
    post(base_url, "contact-us", name="Bad Lead", email="bad2@example.com")
    deliver_all(rt)
    crm.clear_faults()
    traffic.sample(rt.store.counters_key, time.time())


def test_the_watch_page_shows_the_week_speed_and_watchdogs_on_desktop_and_phone(
    open_page, live_server, rt, crm, graph, catcher, deliver_all
):
    graph.token_info(PAGE_TOKEN, expires_at=int(time.time()) + 12 * 86400 + 600)
    graph.unsubscribe(OTHER_PAGE_ID)
    a_week_of_traffic(live_server, rt, crm, deliver_all)
    AlertLoop(rt).run_once()
    assert catcher.to("/slack"), "the alert loop sent nothing"

    page = open_page(DESKTOP)
    log_in(page, live_server, "/admin/watch")
    card = page.locator('section[data-source="contact-us"]')
    assert card.locator("svg.chart rect.accepted").count() > 50
    assert card.locator("svg.chart rect.rejected").count() == 2
    assert card.locator("svg.chart rect.dead").count() == 1
    assert card.locator("svg.chart rect.silence").count() >= 1
    assert "last lead" in card.locator('[data-watchdog="last-lead"]').inner_text()
    assert "p50" in card.locator('[data-watchdog="speed"]').inner_text()
    fb = page.locator('section[data-source="fb"]')
    states = fb.locator('[data-watchdog="facebook"]').all_inner_texts()
    assert any("expires in 12 days" in s and "subscribed to leadgen" in s for s in states), states
    assert any("NOT subscribed to leadgen" in s for s in states), states
    assert fb.locator('[data-condition="facebook_subscription"]').count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=f"{SHOTS}/watch-1280x800.png", full_page=True)

    page.goto(f"{live_server}/admin/alerts")
    rows = page.locator("table.sent tr[data-state]")
    assert rows.count() >= 2  # the dead letters, the dropped subscription
    assert "team-slack: ok" in page.locator("table.sent").inner_text()
    page.screenshot(path=f"{SHOTS}/alerts-1280x800.png", full_page=True)

    phone = open_page(PHONE)
    log_in(phone, live_server, "/admin/watch")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert phone.locator('section[data-source="contact-us"] svg.chart').bounding_box()["width"] <= PHONE["width"]
    phone.screenshot(path=f"{SHOTS}/watch-390x844.png", full_page=True)
    phone.goto(f"{live_server}/admin/alerts")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot(path=f"{SHOTS}/alerts-390x844.png", full_page=True)


def test_the_watch_pages_need_the_log_in(client):
    for path in ("/admin/watch", "/admin/alerts"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
