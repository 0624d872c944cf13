"""/metrics: Prometheus text from counters kept in Redis, consistent with the event store."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import create_app
from leadgate.runtime import Runtime
from tests.support.admin import AUTH
from tests.support.admin import TOKEN
from tests.support.config import BASE_CONFIG
from tests.support.hooks import post_form


@pytest.fixture
def config(make_config):
    """Public metrics, so the counters can be scraped as Prometheus would without a token."""
    return make_config("metrics_public: true\n" + BASE_CONFIG)


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def src(name):
    return (name, (("source", "contact-us"),))


def dest(name):
    return (name, (("destination", "main"),))


def test_counters_follow_every_outcome(client, rt, crm, deliver_all):
    assert post_form(client, {"email": "a@example.com"}).status_code == 202
    assert post_form(client, {"email": "a@example.com"}).get_json()["duplicate"] is True
    assert post_form(client, {"email": "b@example.com", "_gotcha": "x"}).status_code == 202
    assert post_form(client, {"email": "nope", "message": "hi"}).status_code == 422  # kept as rejected
    assert post_form(client, b"not=a&form", content_type="text/plain").status_code == 415
    assert post_form(client, {"email": "c@example.com"}, headers={"Origin": "https://evil.example"}).status_code == 403
    crm.set_faults(status=500, count=1)  # the first call (a bulk call with both queued leads) fails
    assert post_form(client, {"email": "d@example.com"}).status_code == 202
    before = scrape(client)
    assert before[("leadgate_queue_depth", ())] == 2
    assert before[("leadgate_oldest_queued_age_seconds", ())] >= 0
    deliver_all(rt)
    after = scrape(client)
    assert after[src("leadgate_received_total")] == 7
    assert after[src("leadgate_accepted_total")] == 2
    assert after[src("leadgate_duplicate_total")] == 1
    assert after[src("leadgate_spam_total")] == 1
    assert after[src("leadgate_rejected_total")] == 1
    assert after[src("leadgate_invalid_total")] == 1
    assert after[src("leadgate_unauthorized_total")] == 1
    assert after[dest("leadgate_delivered_total")] == 2
    assert after[dest("leadgate_retried_total")] == 2
    assert after[dest("leadgate_dead_lettered_total")] == 0
    assert after[("leadgate_delivery_latency_seconds_count", (("destination", "main"),))] == 2
    assert after[("leadgate_delivery_latency_seconds_bucket", (("destination", "main"), ("le", "+Inf")))] == 2
    assert after[("leadgate_queue_depth", ())] == 0
    assert after[("leadgate_oldest_queued_age_seconds", ())] == 0
    assert len(crm.deliveries) == 2


def test_dead_letters_and_gauge(client, rt, crm, deliver_all):
    crm.set_faults(status=400)
    post_form(client, {"email": "x@example.com"})
    deliver_all(rt)
    samples = scrape(client)
    assert samples[dest("leadgate_dead_lettered_total")] == 1
    assert samples[("leadgate_dead_letters", ())] == 1


def test_metrics_need_the_admin_token_unless_made_public(make_config, redis_client):
    """The default: source ids and counts are not for strangers."""
    text = f"admin_token: {TOKEN}\n" + BASE_CONFIG
    client = create_app(runtime=Runtime.from_config(make_config(text), client=redis_client)).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, headers=AUTH)[("leadgate_queue_depth", ())] == 0


def test_metrics_without_an_admin_token_are_off_unless_made_public(make_config, redis_client):
    client = create_app(runtime=Runtime.from_config(make_config(), client=redis_client)).test_client()
    assert client.get("/metrics").status_code == 401
