"""The Graph API client against the fake Graph API, and the facebook fetch inside real deliveries."""

from __future__ import annotations

import json

import httpx
import pytest

from adapters.base import InboundEvent
from leadgate.intake import accept
from tests.support.config import BASE_CONFIG
from tests.support.delivery import dispatch_now
from tests.support.graph_api import FORM_ID
from tests.support.graph_api import OTHER_PAGE_ID
from tests.support.graph_api import OTHER_PAGE_TOKEN
from tests.support.graph_api import PAGE_ID
from tests.support.graph_api import PAGE_TOKEN
from tests.support.graph_api import FakeGraphAPI
from tests.support.graph_api import facebook_config
from tests.support.graph_api import facebook_env
from workers.delivery import deliver
from workers.errors import OperatorActionError
from workers.errors import PermanentError
from workers.errors import TransientError
from workers.facebook_graph import LEAD_FIELDS
from workers.facebook_graph import GraphClient
from workers.facebook_graph import classify
from workers.facebook_graph import regain_access_seconds

ANSWERS = {"full_name": "Jane Roe", "email": "jane@example.com", "phone_number": "+14155552671"}


@pytest.fixture
def config(make_config, graph):
    return make_config(facebook_config(BASE_CONFIG, graph.url), **facebook_env())


@pytest.fixture
def client():
    http = GraphClient(timeout=2)
    yield http
    http.close()


def error_of(call) -> Exception:
    with pytest.raises((TransientError, PermanentError, OperatorActionError)) as caught:
        call()
    return caught.value


# one lead


def test_fetches_a_lead_with_the_mapped_fields(graph, client):
    lead = graph.add_lead(ANSWERS)
    assert client.lead(graph.url, lead["id"], PAGE_TOKEN) == lead
    [request] = graph.requests
    assert request["path"] == f"/v21.0/{lead['id']}"
    assert request["query"] == {"access_token": PAGE_TOKEN, "fields": LEAD_FIELDS}


@pytest.mark.parametrize(
    ("arrange", "code"),
    [
        (lambda g: g.expire_token(PAGE_TOKEN), "190/463"),
        (lambda g: g.expire_token(PAGE_TOKEN, subcode=460), "190/460"),
        (lambda g: g.expire_token(PAGE_TOKEN, subcode=None, code=102), "code 102"),
        (lambda g: g.fail_next(status=403, code=10, message="Permission denied"), "code 10"),
        (lambda g: g.fail_next(status=403, code=200, message="Requires leads_retrieval"), "code 200"),
        (lambda g: g.fail_next(status=403, code=299, message="Requires pages_manage_ads"), "code 299"),
        (lambda g: g.tokens.pop(PAGE_TOKEN), "code 190"),
    ],
)
def test_token_and_permission_errors_ask_for_an_operator(graph, client, arrange, code):
    lead = graph.add_lead(ANSWERS)
    arrange(graph)
    err = error_of(lambda: client.lead(graph.url, lead["id"], PAGE_TOKEN))
    assert isinstance(err, OperatorActionError) and err.park_as == "needs_token"
    assert code in err.message and "retry-parked" in err.message
    assert PAGE_TOKEN not in err.message + err.body


def test_wrong_page_token_is_100_33_and_parks(graph, client):
    lead = graph.add_lead(ANSWERS, page_id=OTHER_PAGE_ID)
    err = error_of(lambda: client.lead(graph.url, lead["id"], PAGE_TOKEN))
    assert isinstance(err, OperatorActionError) and "100/33" in err.message
    assert client.lead(graph.url, lead["id"], OTHER_PAGE_TOKEN)["id"] == lead["id"]


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "code": 1},
        {"status": 503, "code": 2},
        {"status": 400, "code": 4},
        {"status": 400, "code": 17},
        {"status": 400, "code": 32},
        {"status": 400, "code": 341},
        {"status": 400, "code": 613},
        {"status": 400, "code": 80001},
        {"status": 400, "code": 80005},
        {"status": 429},
        {"status": 502},
        {"status": 500, "code": 100, "subcode": 2},
        {"drop": True},
    ],
)
def test_outages_and_throttling_are_transient(graph, client, fault):
    lead = graph.add_lead(ANSWERS)
    graph.fail_next(**fault)
    err = error_of(lambda: client.lead(graph.url, lead["id"], PAGE_TOKEN))
    assert isinstance(err, TransientError), err
    assert PAGE_TOKEN not in err.message + err.body
    assert client.lead(graph.url, lead["id"], PAGE_TOKEN)["id"] == lead["id"]


def test_timeout_is_transient(graph):
    lead = graph.add_lead(ANSWERS)
    graph.fail_next(status=200, latency=0.5)
    quick = GraphClient(timeout=0.1)
    try:
        err = error_of(lambda: quick.lead(graph.url, lead["id"], PAGE_TOKEN))
    finally:
        quick.close()
    assert isinstance(err, TransientError) and "timed out" in err.message


def test_unreachable_graph_is_transient_without_the_token(client):
    err = error_of(lambda: client.lead("http://127.0.0.1:1/v21.0", "1", PAGE_TOKEN))
    assert isinstance(err, TransientError) and "could not reach" in err.message
    assert PAGE_TOKEN not in err.message


def test_throttling_waits_as_long_as_meta_says(graph, client):
    usage = {PAGE_ID: [{"type": "lead_retrieval", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    graph.fail_next(status=400, code=80005, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    err = error_of(lambda: client.lead(graph.url, "1", PAGE_TOKEN))
    assert isinstance(err, TransientError) and err.retry_after == 420


def test_regain_access_reads_every_usage_header():
    assert regain_access_seconds({"x-app-usage": '{"call_count": 100, "estimated_time_to_regain_access": 2}'}) == 120
    assert regain_access_seconds({"x-business-use-case-usage": "not json", "retry-after": "30"}) == 30
    assert (
        regain_access_seconds({"x-business-use-case-usage": '{"1": [{"estimated_time_to_regain_access": 0}]}'}) is None
    )
    assert regain_access_seconds({"x-app-usage": '{"estimated_time_to_regain_access": 99999}'}) == 6 * 3600
    assert regain_access_seconds({}) is None


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 400, "code": 100, "message": "Tried accessing nonexisting field (bogus)"},
        {"status": 400, "code": 803, "message": "Some of the aliases you requested do not exist"},
        {"status": 400, "body": "<html>bad request</html>"},
        {"status": 404},
    ],
)
def test_other_graph_errors_are_permanent_with_the_body_kept(graph, client, fault):
    graph.fail_next(**fault)
    err = error_of(lambda: client.lead(graph.url, "1", PAGE_TOKEN))
    assert isinstance(err, PermanentError)
    assert err.body and (str(fault.get("code", "")) in err.body or "html" in err.body)


def test_deprecated_api_version_is_permanent(graph, client):
    graph.add_lead(ANSWERS, lead_id="42")
    err = error_of(lambda: client.lead(f"{graph.root}/v2.0", "42", PAGE_TOKEN))
    assert isinstance(err, PermanentError) and "2635" in err.message and "2635" in err.body


def test_success_without_json_is_transient():
    response = httpx.Response(200, text="<html>captive portal</html>")
    assert isinstance(error_of(lambda: classify(response)), TransientError)


# form leads


def test_form_leads_page_through_cursors_and_next_urls(graph, client):
    ids = [graph.add_lead({"email": f"l{i}@example.com"}, created=1_760_000_000 + i)["id"] for i in range(250)]
    pages = list(client.form_leads(graph.url, FORM_ID, PAGE_TOKEN, since=0, limit=100))
    assert [len(page) for page in pages] == [100, 100, 50]
    assert [lead["id"] for page in pages for lead in page] == list(reversed(ids))
    requests = graph.requests_to("/leads")
    assert len(requests) == 3
    assert all(r["query"]["access_token"] == PAGE_TOKEN and r["query"]["fields"] == LEAD_FIELDS for r in requests)
    assert json.loads(requests[0]["query"]["filtering"]) == [
        {"field": "time_created", "operator": "GREATER_THAN", "value": 0}
    ]
    assert "after" not in requests[0]["query"] and requests[1]["query"]["after"]


def test_form_leads_filter_on_time_created(graph, client):
    for i in range(10):
        graph.add_lead({"email": f"l{i}@example.com"}, created=1000 + i)
    pages = list(client.form_leads(graph.url, FORM_ID, PAGE_TOKEN, since=1002, until=1007))
    assert sorted(lead["created_time"] for page in pages for lead in page) == [
        "1970-01-01T00:16:43+0000",
        "1970-01-01T00:16:44+0000",
        "1970-01-01T00:16:45+0000",
        "1970-01-01T00:16:46+0000",
    ]
    assert list(client.form_leads(graph.url, FORM_ID, PAGE_TOKEN, since=5000)) == [[]]


def test_a_next_url_on_another_host_is_not_followed(graph, client):
    with FakeGraphAPI() as elsewhere:
        graph.next_base = elsewhere.url
        for i in range(5):
            graph.add_lead({"email": f"l{i}@example.com"}, created=1000 + i)
        pages = list(client.form_leads(graph.url, FORM_ID, PAGE_TOKEN, since=0, limit=2))
        assert [len(page) for page in pages] == [2, 2, 1]
        assert elsewhere.requests == []


def test_a_failed_page_can_be_fetched_again(graph, client):
    for i in range(5):
        graph.add_lead({"email": f"l{i}@example.com"}, created=1000 + i)
    pager = client.form_leads(graph.url, FORM_ID, PAGE_TOKEN, since=0, limit=2)
    assert len(pager.fetch()) == 2
    graph.fail_next(status=500, code=2)
    with pytest.raises(TransientError):
        pager.fetch()
    assert [len(pager.fetch()), len(pager.fetch()), pager.fetch()] == [2, 1, None]


# inside a delivery


def queue_leadgen(rt, leadgen_id: str, page_id: str = PAGE_ID) -> str:
    raw = {"webhook": {"leadgen_id": leadgen_id, "page_id": page_id, "form_id": FORM_ID}, "entry_time": 1}
    return accept(rt, rt.config.sources["fb"], InboundEvent(raw=raw, dedupe_keys=(leadgen_id,))).event_id


def test_delivery_fetches_maps_and_keeps_the_fetched_lead(rt, graph, crm, deliver_all):
    lead = graph.add_lead({**ANSWERS, "what_is_your_budget?": "5000"}, page_id=OTHER_PAGE_ID)
    event_id = queue_leadgen(rt, lead["id"], page_id=OTHER_PAGE_ID)
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "delivered" and event.attempts == 1
    assert event.raw["lead"] == lead
    [request] = graph.requests
    assert request["query"]["access_token"] == OTHER_PAGE_TOKEN
    [delivery] = crm.deliveries
    payload = delivery["payload"]
    assert (payload["first_name"], payload["email"], payload["phone"]) == ("Jane", "jane@example.com", "+14155552671")
    assert payload["custom_fields"]["budget"] == "5000" and payload["custom_fields"]["page_id"] == OTHER_PAGE_ID
    assert payload["tags"] == ["facebook"] and payload["source"] == "facebook_lead_ads"


def test_transient_graph_errors_are_retried_then_delivered(rt, graph, crm, deliver_all):
    lead = graph.add_lead(ANSWERS)
    graph.fail_next(count=2, status=400, code=17, message="User request limit reached")
    event_id = queue_leadgen(rt, lead["id"])
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "delivered" and event.attempts == 3
    assert [a["outcome"] for a in rt.store.attempts(event_id)] == ["retry", "retry", "delivered"]
    assert crm.deliveries_by_email()["jane@example.com"] == 1


def test_throttled_fetch_retries_when_meta_says(rt, graph):
    from workers.delivery import http_client

    usage = {PAGE_ID: [{"type": "lead_retrieval", "estimated_time_to_regain_access": 3}]}
    graph.fail_next(status=400, code=80005, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    event_id = queue_leadgen(rt, graph.add_lead(ANSWERS)["id"])
    assert deliver(rt, http_client(2), event_id, dispatch_now(rt)[event_id]) == "retry"
    event = rt.store.get(event_id)
    assert 170 <= event.next_attempt_at - event.updated_at <= 185


def test_expired_token_parks_without_burning_attempts(rt, graph, crm, deliver_all):
    lead = graph.add_lead(ANSWERS)
    graph.expire_token(PAGE_TOKEN)
    event_id = queue_leadgen(rt, lead["id"])
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "needs_token" and event.attempts == 1
    assert "190/463" in event.last_error
    assert [e.id for e in rt.store.parked()] == [event_id]
    assert rt.store.dead_letters() == [] and rt.store.due_count() == 0
    assert crm.deliveries == []
    assert PAGE_TOKEN not in json.dumps(rt.store.attempts(event_id))


def test_other_graph_errors_are_dead_lettered_with_the_graph_body(rt, graph, crm, deliver_all):
    lead = graph.add_lead(ANSWERS)
    graph.fail_next(status=400, code=2635, message="(#2635) You are calling a deprecated version of the Ads API.")
    event_id = queue_leadgen(rt, lead["id"])
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "dead" and event.attempts == 1
    assert "2635" in event.last_error
    [attempt] = rt.store.attempts(event_id)
    assert json.loads(attempt["response"])["error"]["code"] == 2635
    assert crm.deliveries == []


def test_a_fetched_lead_is_not_fetched_again_on_replay(rt, graph, crm, deliver_all):
    from leadgate.operations import replay_event

    event_id = queue_leadgen(rt, graph.add_lead(ANSWERS)["id"])
    deliver_all(rt)
    assert replay_event(rt, event_id, force=True).ok
    deliver_all(rt)
    assert len(graph.requests) == 1
    assert rt.store.get(event_id).status == "delivered"


def test_a_testing_tool_lead_of_dummy_answers_is_kept_as_ignored_not_dead(rt, graph, crm, deliver_all):
    dummies = {"EMAIL": "<test lead: dummy data for email>", "FULL_NAME": "<test lead: dummy data for full_name>"}
    event_id = queue_leadgen(rt, graph.add_lead(dummies)["id"])
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "ignored" and "dummy answers only" in event.last_error
    assert [a["outcome"] for a in rt.store.attempts(event_id)] == ["ignored"]
    assert rt.store.dead_letters() == [] and rt.store.parked() == [] and rt.store.due_count() == 0
    assert 0 < rt.redis.ttl(rt.store.key(event_id)) <= rt.store.retention_seconds
    assert crm.deliveries == []
    counters = rt.redis.hgetall("lg:m:counters")
    assert counters[b"ignored|fb"] == b"1"
