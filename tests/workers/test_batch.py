"""Coalescing a backlog into create-leads-bulk calls, against the real sandbox ConnectGain."""

from __future__ import annotations

import time
from collections import Counter

from adapters import form
from adapters.base import InboundEvent
from leadgate.intake import accept
from tests.support.config import BASE_CONFIG


def queue_leads(rt, count, start=0, **extra_fields):
    source = rt.config.sources["contact-us"]
    ids = []
    for n in range(start, start + count):
        raw = {"fields": [["email", f"lead{n}@example.com"], ["first_name", f"Lead{n}"]]}
        lead = form.normalize(raw, source)
        lead.update(extra_fields)
        ids.append(accept(rt, source, InboundEvent(raw=raw), lead=lead).event_id)
    return ids


def calls(crm):
    return Counter(r["path"] for r in crm.requests)


def test_backlog_goes_out_in_bulk_calls_of_100(rt, crm, deliver_all):
    ids = queue_leads(rt, 250)
    deliver_all(rt)
    assert calls(crm) == {"/create-leads-bulk": 3}
    assert sorted(len(r["body"]["leads"]) for r in crm.requests) == [50, 100, 100]
    events = rt.store.get_many(ids)
    assert {e.status for e in events} == {"delivered"}
    assert all(e.contact_id for e in events)
    assert set(crm.deliveries_by_email().values()) == {1} and len(crm.deliveries_by_email()) == 250
    assert rt.store.due_count() == 0
    assert rt.store.attempts(ids[0])[0]["batch"] == 100


def test_a_lone_lead_goes_out_at_once_alone(rt, crm, deliver_all):
    queue_leads(rt, 1)
    deliver_all(rt)
    assert calls(crm) == {"/create-lead": 1}


def test_leads_with_a_deal_keep_using_create_lead(rt, crm, deliver_all):
    queue_leads(rt, 3, deal={"title": "Deal", "value": 1, "currency": "USD"})
    deliver_all(rt)
    assert calls(crm) == {"/create-lead": 3}
    assert len(crm.deals) == 3


def test_per_item_failure_is_retried_alone_and_the_others_are_delivered(rt, crm, deliver_all):
    good = queue_leads(rt, 4)
    bad = queue_leads(rt, 1, start=99)[0]
    rt.store.update(bad, lead={"source": "website_form", "tags": ["website"]})  # no contact field: the CRM refuses it
    deliver_all(rt)
    assert {e.status for e in rt.store.get_many(good)} == {"delivered"}
    event = rt.store.get(bad)
    assert event.status == "dead" and event.last_status_code == 400
    outcomes = [(a["outcome"], a.get("batch")) for a in rt.store.attempts(bad)]
    assert outcomes == [("retry", 5), ("dead", None)]
    assert calls(crm) == {"/create-leads-bulk": 1, "/create-lead": 1}


def test_whole_request_failure_retries_the_batch_together_and_delivers_each_once(rt, crm, deliver_all):
    ids = queue_leads(rt, 30)
    crm.set_faults(status=503, count=1)
    deliver_all(rt)
    events = rt.store.get_many(ids)
    assert {e.status for e in events} == {"delivered"} and {e.attempts for e in events} == {2}
    assert calls(crm) == {"/create-leads-bulk": 2}
    assert set(crm.deliveries_by_email().values()) == {1} and len(crm.deliveries_by_email()) == 30


def test_timeout_after_the_crm_saved_the_batch_is_retried_once_and_merged(rt, crm, deliver_all):
    ids = queue_leads(rt, 10)
    crm.set_faults(status=500, count=1, after_commit=True)
    deliver_all(rt)
    assert {e.status for e in rt.store.get_many(ids)} == {"delivered"}
    assert len(crm.contacts) == 10  # the CRM merged the second copy of each (same email)


def test_refused_bulk_request_sends_each_lead_alone(rt, crm, deliver_all):
    ids = queue_leads(rt, 3)
    crm.set_faults(status=400, count=1, paths=["/create-leads-bulk"])
    deliver_all(rt)
    assert {e.status for e in rt.store.get_many(ids)} == {"delivered"}
    assert calls(crm) == {"/create-leads-bulk": 1, "/create-lead": 3}


def test_revoked_key_pauses_every_lead_of_the_batch(rt, crm, deliver_all):
    ids = queue_leads(rt, 5)
    crm.set_faults(status=401)
    deliver_all(rt)
    assert {e.status for e in rt.store.get_many(ids)} == {"paused"}
    assert calls(crm) == {"/create-leads-bulk": 1}


def test_batch_size_1_turns_coalescing_off(make_config, redis_client, crm, deliver_all):
    from leadgate import runtime as runtime_module
    from leadgate.runtime import Runtime

    config = make_config(BASE_CONFIG.replace("  jitter: 0\n", "  jitter: 0\n  batch_size: 1\n"))
    rt = Runtime.from_config(config, client=redis_client)
    runtime_module.install(rt)
    try:
        queue_leads(rt, 5)
        deliver_all(rt)
    finally:
        runtime_module.install(None)
    assert calls(crm) == {"/create-lead": 5}


def test_ten_thousand_lead_backlog_drains_in_about_100_bulk_calls(rt, crm, deliver_all):
    """The issue's done-when: a 10,000-lead backlog, about 100 requests, every lead recorded once."""
    started = time.monotonic()
    ids = queue_leads(rt, 10_000)
    queued = time.monotonic()
    deliver_all(rt, timeout=240)
    drained = time.monotonic()
    requests = calls(crm)
    print(f"queued 10000 in {queued - started:.1f}s, drained in {drained - queued:.1f}s with {dict(requests)}")
    assert requests["/create-leads-bulk"] <= 105 and requests.get("/create-lead", 0) <= 5
    statuses = Counter(e.status for e in rt.store.get_many(ids))
    assert statuses == {"delivered": 10_000}
    by_email = crm.deliveries_by_email()
    assert len(by_email) == 10_000 and set(by_email.values()) == {1}


def test_bulk_delivered_leads_leave_no_rq_job_behind(rt, crm, deliver_all):
    queue_leads(rt, 150)
    deliver_all(rt)
    assert calls(crm) == {"/create-leads-bulk": 2}
    assert list(rt.redis.scan_iter(match="rq:job:*")) == []
