"""Delivery to a real sandbox ConnectGain: retries, Retry-After, dead letters, leases, replay."""

from __future__ import annotations

import random
import time

import pytest

from adapters.base import InboundEvent
from leadgate.config import DeliveryPolicy
from leadgate.intake import accept
from leadgate.operations import replay_event
from tests.support.delivery import dispatch_now
from workers.delivery import deliver
from workers.outcomes import retry_delay

FIELDS = [["email", "lead@example.com"], ["first_name", "Lee"]]


def queue_lead(rt, fields=None, **kwargs):
    source = rt.config.sources["contact-us"]
    from adapters import form

    raw = {"fields": fields or FIELDS}
    event_id = accept(rt, source, InboundEvent(raw=raw), lead=form.normalize(raw, source), **kwargs).event_id
    assert dispatch_now(rt)[event_id] == 1  # the dispatcher gives it its first delivery job
    return event_id


def client_for(rt):
    from workers.delivery import http_client

    return http_client(rt.config.delivery.timeout_seconds)


def test_transient_5xx_is_retried_then_delivered(rt, crm, deliver_all):
    crm.set_faults(status=503, count=2)
    event_id = queue_lead(rt)
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "delivered"
    assert event.attempts == 3
    attempts = rt.store.attempts(event_id)
    assert [a["outcome"] for a in attempts] == ["retry", "retry", "delivered"]
    assert [a["status_code"] for a in attempts] == [503, 503, 201]
    assert crm.deliveries_by_email()["lead@example.com"] == 1


def test_429_honours_retry_after(rt, crm):
    crm.set_faults(status=429, retry_after=120, count=1)
    event_id = queue_lead(rt)
    before = time.time()
    assert deliver(rt, client_for(rt), event_id, 1) == "retry"
    event = rt.store.get(event_id)
    assert event.status == "retrying"
    assert 119 <= event.next_attempt_at - before <= 122
    assert rt.redis.zscore(rt.store.due_key, event_id) == pytest.approx(event.next_attempt_at)


def test_408_timeout_and_dropped_connection_are_transient(rt, crm, deliver_all):
    crm.set_faults(status=408, count=1)
    first = queue_lead(rt, [["email", "a@example.com"]])
    deliver_all(rt)
    assert rt.store.get(first).status == "delivered"

    crm.set_faults(drop=True, count=1)
    second = queue_lead(rt, [["email", "b@example.com"]])
    deliver_all(rt)
    assert rt.store.get(second).attempts == 2
    assert "could not reach" in rt.store.attempts(second)[0]["error"]

    crm.set_faults(latency=2.5, count=1)  # timeout_seconds is 2
    third = queue_lead(rt, [["email", "c@example.com"]])
    deliver_all(rt)
    assert rt.store.get(third).status == "delivered"
    assert "timed out" in rt.store.attempts(third)[0]["error"]


def test_other_4xx_is_dead_lettered_at_once_with_status_and_body(rt, crm, deliver_all):
    crm.set_faults(status=400, count=1)
    event_id = queue_lead(rt)
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "dead"
    assert event.attempts == 1
    assert event.last_status_code == 400
    [attempt] = rt.store.attempts(event_id)
    assert attempt["response"]
    assert [e.id for e in rt.store.dead_letters()] == [event_id]
    assert crm.deliveries == []


def test_connection_refused_until_max_attempts_then_dead(rt, crm, deliver_all):
    crm.stop()
    event_id = queue_lead(rt)
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "dead"
    assert event.attempts == rt.config.delivery.max_attempts
    assert event.last_error.startswith("gave up after 3 attempts")
    assert rt.store.due_count() == 0


def test_dead_letter_replay_delivers_once_after_the_cause_is_fixed(rt, crm, deliver_all):
    crm.set_faults(status=422, count=1)
    event_id = queue_lead(rt)
    deliver_all(rt)
    assert rt.store.get(event_id).status == "dead"
    result = replay_event(rt, event_id)
    assert result.ok
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "delivered"
    assert rt.store.dead_letters() == []
    assert crm.deliveries_by_email()["lead@example.com"] == 1
    assert [a["outcome"] for a in rt.store.attempts(event_id)] == ["dead", "delivered"]


def test_replay_refuses_delivered_events_unless_forced(rt, crm, deliver_all):
    event_id = queue_lead(rt)
    deliver_all(rt)
    assert not replay_event(rt, event_id).ok
    assert replay_event(rt, event_id, force=True).ok
    deliver_all(rt)
    assert crm.deliveries_by_email()["lead@example.com"] == 2


def test_stale_job_does_nothing(rt, crm):
    event_id = queue_lead(rt)
    # a second dispatch supersedes job 1 (e.g. the lease ran out and the event was re-dispatched)
    rt.redis.hincrby(rt.store.key(event_id), "dispatch", 1)
    assert deliver(rt, client_for(rt), event_id, 1) == "skipped"
    assert deliver(rt, client_for(rt), event_id, 2) == "delivered"
    assert deliver(rt, client_for(rt), event_id, 2) == "skipped"
    assert len(crm.deliveries) == 1


def test_expired_lease_is_dispatched_again(rt, crm):
    from leadgate.queue import Dispatcher

    event_id = queue_lead(rt)
    now = time.time()
    assert rt.store.claim(event_id, 1, now, now + 5) == 1  # a worker took it ... and died
    dispatcher = Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds)
    rt.queue.empty()
    assert dispatcher.run_once(now + 1) == 0
    assert dispatcher.run_once(now + 6) == 1
    [job] = rt.queue.get_jobs()
    assert job.args == (event_id, 2)
    assert deliver(rt, client_for(rt), event_id, 2) == "delivered"


def test_late_failure_of_a_superseded_job_cannot_undo_a_delivery(rt, crm):
    event_id = queue_lead(rt)
    now = time.time()
    rt.store.claim(event_id, 1, now, now + 5)
    rt.redis.hincrby(rt.store.key(event_id), "dispatch", 1)
    assert deliver(rt, client_for(rt), event_id, 2) == "delivered"
    recorded = rt.store.finish(event_id, 1, "retry", {"n": 1, "outcome": "retry"}, {"status": "retrying"}, time.time())
    assert recorded is False
    assert rt.store.get(event_id).status == "delivered"
    assert rt.store.due_count() == 0


def test_retry_delay_uses_schedule_with_jitter_and_repeats_last_value():
    policy = DeliveryPolicy(backoff_seconds=(30, 120), jitter=0.2)
    rng = random.Random(7)
    delays = [retry_delay(policy, n, None, rng) for n in (1, 2, 3, 4)]
    assert 24 <= delays[0] <= 36
    assert all(96 <= d <= 144 for d in delays[1:])
    assert len(set(delays)) == 4  # jitter spreads them
    assert retry_delay(policy, 1, 7.0) == 7.0


def test_event_without_destination_key_is_dead_with_reason(rt, make_config, deliver_all, crm):
    event_id = queue_lead(rt)
    rt.config = make_config().__class__(
        **{**rt.config.__dict__, "destinations": {"main": rt.config.destinations["main"].__class__("main", crm.url)}}
    )
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "dead"
    assert "no api_key" in event.last_error


def test_an_unexpected_error_leaves_a_replayable_dead_letter(rt, crm, deliver_all):
    event_id = queue_lead(rt)
    lead = rt.store.get(event_id).lead
    rt.store.update(event_id, lead={**lead, "custom_fields": {"budget": float("inf")}})  # cannot be sent as JSON
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "dead"
    assert event.last_error.startswith("internal error while delivering: ValueError")
    assert crm.deliveries == []
    assert replay_event(rt, event_id).ok  # replay re-normalizes the raw event: the cause is gone
    deliver_all(rt)
    assert rt.store.get(event_id).status == "delivered"
