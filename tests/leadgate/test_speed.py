"""Speed to lead: creation (or receipt) to the CRM's 2xx per source, the platform's delay apart from leadgate's."""

from __future__ import annotations

import re
import time

import pytest

from leadgate.speed import day_percentiles
from leadgate.speed import parse_platform_time
from tests.support.config import BASE_CONFIG
from tests.support.graph_api import facebook_config
from tests.support.graph_api import facebook_env
from tests.support.graph_api import leadgen_change
from tests.support.graph_api import notification
from tests.support.graph_api import post_notification
from tests.support.hooks import post_form

ANSWERS = {"full_name": "Jane Roe", "email": "jane@example.com", "phone_number": "+14155552671"}


@pytest.fixture
def config(make_config, graph):
    return make_config("metrics_public: true\n" + facebook_config(BASE_CONFIG, graph.url), **facebook_env())


def metric(text: str, name: str, source: str) -> float:
    match = re.search(rf'^{name}{{source="{source}"}} (\S+)$', text, re.M)
    assert match, f"{name} for {source} missing"
    return float(match.group(1))


def test_a_form_lead_counts_from_receipt_and_has_no_platform_delay(client, rt, deliver_all):
    post_form(client, {"email": "fast@example.com"})
    deliver_all(rt)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "leadgate_speed_to_lead_seconds_count", "contact-us") == 1
    assert metric(text, "leadgate_gateway_delay_seconds_count", "contact-us") == 1
    assert metric(text, "leadgate_platform_delay_seconds_count", "contact-us") == 0
    assert metric(text, "leadgate_speed_to_lead_seconds_sum", "contact-us") < 5
    today = day_percentiles(rt, "contact-us")
    assert today["total"][2] == 1 and "platform" not in today


def test_every_lead_of_a_bulk_call_counts_once(client, rt, crm, deliver_all):
    """A bulk call's leads are added together, in one round trip, after the call is recorded."""
    for n in range(5):
        post_form(client, {"email": f"bulk{n}@example.com"})
    deliver_all(rt)
    assert any("bulk" in r["path"] for r in crm.requests), "no bulk call made"
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "leadgate_speed_to_lead_seconds_count", "contact-us") == 5
    assert metric(text, "leadgate_gateway_delay_seconds_count", "contact-us") == 5
    assert day_percentiles(rt, "contact-us")["total"][2] == 5


def test_a_facebook_lead_counts_from_metas_created_time(client, rt, graph, deliver_all):
    created = int(time.time()) - 120
    lead = graph.add_lead(ANSWERS, created=created)
    body = notification([leadgen_change(lead["id"], created_time=created)])
    assert post_notification(client, body).status_code == 200
    deliver_all(rt)
    text = client.get("/metrics").get_data(as_text=True)
    assert 119 <= metric(text, "leadgate_platform_delay_seconds_sum", "fb") < 130
    assert metric(text, "leadgate_gateway_delay_seconds_sum", "fb") < 10
    assert 119 <= metric(text, "leadgate_speed_to_lead_seconds_sum", "fb") < 140
    assert 'leadgate_platform_delay_seconds_bucket{le="300.0",source="fb"} 1.0' in text
    p50, p95, count = day_percentiles(rt, "fb")["platform"]
    assert count == 1 and 119 <= p50 == p95 < 130


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-28T10:16:30+0000", 1795860990.0),
        ("2026-11-28T10:16:30Z", 1795860990.0),
        ("2026-11-28 03:16:30.000-07:00", 1795860990.0),
        (1795860990, 1795860990.0),
        (1795860990000, 1795860990.0),
        ("not a time", None),
        (True, None),
        (12, None),
        (None, None),
    ],
)
def test_platform_times_parse_in_every_shape_the_platforms_send(value, expected):
    assert parse_platform_time(value) == expected
