"""The operator's operations against a real Redis: replay, resume a paused destination, purge."""

from __future__ import annotations

import time
from typing import Any

import pytest

from leadgate import defaults
from leadgate.intake import accept
from leadgate.model import InboundEvent
from leadgate.operations import ReplayResult
from leadgate.operations import replay_event
from leadgate.operations import resume_destination
from leadgate.runtime import Runtime
from tests.support.leads import accept_form
from tests.support.leads import claim_now
from tests.support.leads import dead_letter
from tests.support.leads import park
from tests.support.leads import pause

LEAD = {"name": "Ann Lee", "email": "ann@example.com", "org": "Acme"}
RETENTION_SECONDS = defaults.RETENTION_DAYS * 86400
NO_CONTACT = "no usable contact field: {'contact': 'at least one of first_name, last_name, email or phone is required'}"

CONFIG = """
destinations:
  main:
    base_url: {crm_url}
    api_key: {api_key}
  backup:
    base_url: {crm_url}
    api_key: {api_key}
sources:
  contact-us:
    kind: form
    destination: main
    honeypot: _gotcha
    field_map: {{org: company_name}}
  landing:
    kind: form
    destination: backup
  fb:
    kind: facebook
    destination: main
    app_secret: app-secret
    verify_token: verify-me
    access_token: page-token
"""
"""Two destinations, so a resume has one to leave alone and a replay can move a lead to the other."""

FIXED_CONFIG = CONFIG.replace("destination: main\n    honeypot", "destination: backup\n    honeypot").replace(
    "{{org: company_name}}", "{{org: custom_fields.org, who: first_name}}"
)
"""The operator's fix: contact-us now maps ``org`` elsewhere, reads ``who`` as the first name, and goes to backup."""


@pytest.fixture
def config(make_config):
    return make_config(CONFIG)


def members(rt: Runtime, key: str) -> list[str]:
    return [member.decode() for member in rt.redis.zrange(key, 0, -1)]


def deliver(rt: Runtime, event_id: str) -> None:
    """ConnectGain took it: recorded as a worker records a delivery."""
    dispatch, attempt = claim_now(rt, event_id)
    fields = {"status": "delivered", "contact_id": "c-1", "delivered_at": time.time(), "last_error": ""}
    assert rt.store.finish(event_id, dispatch, "delivered", {"n": attempt, "outcome": "delivered"}, fields)


def status_of(rt: Runtime, event_id: str) -> str:
    event = rt.store.get(event_id)
    assert event is not None
    return event.status


# -- replay --------------------------------------------------------------------------------------------


def test_replaying_an_unknown_event_changes_nothing(rt: Runtime) -> None:
    assert replay_event(rt, "ev_000000000000nothinghere") == ReplayResult(
        "ev_000000000000nothinghere", False, "no such event", "missing"
    )
    assert rt.redis.keys("*") == []


def test_a_dead_letter_is_queued_again_with_a_fresh_attempt_budget(rt: Runtime) -> None:
    event_id = accept_form(rt, LEAD).event_id
    dead_letter(rt, event_id, "ConnectGain answered 400")
    assert rt.store.get(event_id).attempts == 1
    rt.redis.delete(rt.store.wake_key)

    before = time.time()
    assert replay_event(rt, event_id) == ReplayResult(event_id, True, "queued", "queued")
    after = time.time()

    event = rt.store.get(event_id)
    assert (event.status, event.attempts, event.last_error, event.next_attempt_at) == ("queued", 0, "", 0.0)
    assert event.lead["email"] == "ann@example.com"
    assert members(rt, rt.store.dead_key) == []
    assert before <= rt.redis.zscore(rt.store.due_key, event_id) <= after
    assert members(rt, rt.store.backlog_key) == [event_id]
    assert members(rt, rt.store.ready_key("main")) == [event_id]
    assert rt.redis.lrange(rt.store.wake_key, 0, -1) == [b"1"]
    assert rt.redis.ttl(rt.store.key(event_id)) == -1
    assert [a["outcome"] for a in rt.store.attempts(event_id)] == ["dead"]  # the history stays
    now = time.time()
    assert dict(rt.store.dispatch_due(now, now + 60)) == {event_id: 2}  # a fresh dispatch, not the dead one's


def test_a_replay_normalizes_again_with_the_current_config(rt: Runtime, make_config) -> None:
    event_id = accept_form(rt, LEAD).event_id
    assert rt.store.get(event_id).lead["company_name"] == "Acme"
    dead_letter(rt, event_id)
    rt.config = make_config(FIXED_CONFIG)

    assert replay_event(rt, event_id).ok
    event = rt.store.get(event_id)
    assert event.lead["custom_fields"] == {"org": "Acme"}
    assert "company_name" not in event.lead
    assert event.destination == "backup"
    assert members(rt, rt.store.ready_key("backup")) == [event_id]
    assert members(rt, rt.store.ready_key("main")) == []


def test_a_rejected_event_is_queued_once_its_mapping_is_fixed(rt: Runtime, make_config) -> None:
    event_id = accept_form(rt, {"who": "Ann Lee"}).event_id
    assert status_of(rt, event_id) == "rejected"
    rt.config = make_config(FIXED_CONFIG)

    assert replay_event(rt, event_id) == ReplayResult(event_id, True, "queued", "queued")
    event = rt.store.get(event_id)
    assert (event.status, event.lead["first_name"], event.last_error) == ("queued", "Ann Lee", "")
    assert rt.store.due_count() == 1
    assert rt.redis.ttl(rt.store.key(event_id)) == -1  # lasting again, until delivered


def test_a_replay_that_still_finds_no_lead_leaves_the_event_rejected_with_the_reason(rt: Runtime) -> None:
    event_id = accept_form(rt, {"who": "Ann Lee"}).event_id
    assert replay_event(rt, event_id) == ReplayResult(event_id, False, NO_CONTACT, "rejected")
    event = rt.store.get(event_id)
    assert (event.status, event.last_error, event.lead) == ("rejected", f"replay: {NO_CONTACT}", None)
    assert rt.store.due_count() == 0


def test_a_delivered_event_is_sent_again_only_when_forced(rt: Runtime) -> None:
    event_id = accept_form(rt, LEAD).event_id
    deliver(rt, event_id)
    assert rt.redis.ttl(rt.store.key(event_id)) > 0

    refused = replay_event(rt, event_id)
    assert refused == ReplayResult(event_id, False, "event is delivered; use force to send it again", "delivered")
    assert (status_of(rt, event_id), rt.store.due_count()) == ("delivered", 0)

    assert replay_event(rt, event_id, force=True) == ReplayResult(event_id, True, "queued", "queued")
    assert status_of(rt, event_id) == "queued"
    assert rt.store.due_count() == 1
    assert [rt.redis.ttl(key) for key in (rt.store.key(event_id), rt.store.payload_key(event_id))] == [-1, -1]


def spam(rt: Runtime) -> str:
    return accept_form(rt, {**LEAD, "_gotcha": "x"}).event_id


def duplicate(rt: Runtime) -> str:
    original = accept_form(rt, LEAD).event_id
    accept_form(rt, LEAD)
    [copy] = [m for m in members(rt, rt.store.index_key) if m != original]
    return copy


def ignored(rt: Runtime) -> str:
    event = InboundEvent(raw={"lead_id": "g-1"}, outcome="ignored", reason="test lead")
    return accept(rt, rt.config.sources["contact-us"], event).event_id


@pytest.mark.parametrize(("make", "status"), [(spam, "spam"), (duplicate, "duplicate"), (ignored, "ignored")])
def test_history_that_is_not_a_lead_is_replayed_only_when_forced(rt: Runtime, make: Any, status: str) -> None:
    event_id = make(rt)
    due_before = rt.store.due_count()
    assert replay_event(rt, event_id) == ReplayResult(
        event_id, False, f"event is {status}; use force to send it again", status
    )
    assert status_of(rt, event_id) == status
    assert rt.store.due_count() == due_before


def test_a_lead_stuck_in_delivery_is_replayed_and_its_old_job_goes_stale(rt: Runtime) -> None:
    event_id = accept_form(rt, LEAD).event_id
    dispatch, attempt = claim_now(rt, event_id)
    assert (dispatch, attempt, status_of(rt, event_id)) == (1, 1, "delivering")

    assert replay_event(rt, event_id).ok
    assert (status_of(rt, event_id), rt.store.get(event_id).attempts) == ("queued", 0)
    now = time.time()
    assert dict(rt.store.dispatch_due(now, now + 60)) == {event_id: 2}
    assert rt.store.claim(event_id, 1, now, now + 60) == -1  # the first job finds itself stale


def test_a_parked_event_is_replayable_though_its_status_is_not(rt: Runtime) -> None:
    event_id = accept_form(rt, LEAD).event_id
    park(rt, event_id)
    assert status_of(rt, event_id) == "needs_token"
    assert members(rt, rt.store.parked_key) == [event_id]

    assert replay_event(rt, event_id) == ReplayResult(event_id, True, "queued", "queued")
    assert members(rt, rt.store.parked_key) == []
    assert status_of(rt, event_id) == "queued"
    assert rt.store.due_count() == 1


def test_a_replay_needs_the_events_source_in_the_config(rt: Runtime, make_config) -> None:
    event_id = accept_form(rt, LEAD).event_id
    dead_letter(rt, event_id)
    rt.config = make_config(CONFIG.replace("  contact-us:", "  renamed:"))
    assert replay_event(rt, event_id) == ReplayResult(event_id, False, "source 'contact-us' is not configured", "dead")
    assert members(rt, rt.store.dead_key) == [event_id]


def test_a_replay_needs_the_stored_payloads(rt: Runtime) -> None:
    event_id = accept_form(rt, LEAD).event_id
    dead_letter(rt, event_id)
    rt.redis.delete(rt.store.payload_key(event_id))  # as when payload_retention_days ran out
    result = replay_event(rt, event_id)
    assert result == ReplayResult(
        event_id,
        False,
        "its payloads (the raw event a replay re-reads) expired: payload_retention_days is "
        f"{rt.config.payload_retention_days}",
        "dead",
    )
    assert members(rt, rt.store.dead_key) == [event_id]


def test_a_lead_fetched_by_the_worker_is_replayed_without_a_lead_to_fetch_it_again(rt: Runtime) -> None:
    """A facebook lead is normalized in the worker, after the Graph fetch: a replay must not keep an old one."""
    source = rt.config.sources["fb"]
    event = InboundEvent(raw={"webhook": {"leadgen_id": "444", "page_id": "1"}}, dedupe_keys=("444",))
    event_id = accept(rt, source, event).event_id
    rt.store.update(event_id, lead={"email": "stale@example.com"})
    dead_letter(rt, event_id)

    assert replay_event(rt, event_id).ok
    replayed = rt.store.get(event_id)
    assert (replayed.status, replayed.lead, replayed.raw) == ("queued", None, event.raw)
    assert replayed.extra.get("batchable", "0") == "0"
    assert members(rt, rt.store.ready_key("main")) == []


# -- resume --------------------------------------------------------------------------------------------


def paused_lead(rt: Runtime, source: str, email: str) -> str:
    """A lead whose job found its destination paused: parked as ``paused`` by the claim."""
    event_id = accept_form(rt, {"email": email}, source).event_id
    assert claim_now(rt, event_id)[1] == -2
    assert status_of(rt, event_id) == "paused"
    return event_id


def test_resuming_a_destination_queues_only_the_leads_that_waited_for_it(rt: Runtime) -> None:
    pause(rt, "main")
    pause(rt, "backup")
    waiting = [paused_lead(rt, "contact-us", f"w{n}@example.com") for n in range(2)]
    elsewhere = paused_lead(rt, "landing", "other@example.com")
    rt.redis.hdel(rt.store.paused_key, "main")
    token = accept_form(rt, {"email": "token@example.com"}).event_id
    park(rt, token)
    pause(rt, "main")

    assert resume_destination(rt, "main") == 2
    assert [key.decode() for key in rt.redis.hkeys(rt.store.paused_key)] == ["backup"]
    assert [status_of(rt, event_id) for event_id in waiting] == ["queued", "queued"]
    assert sorted(members(rt, rt.store.due_key)) == sorted(waiting)
    assert sorted(members(rt, rt.store.parked_key)) == sorted([elsewhere, token])
    assert (status_of(rt, elsewhere), status_of(rt, token)) == ("paused", "needs_token")
    assert rt.redis.lrange(rt.store.wake_key, 0, -1) == [b"1"]


def test_resuming_with_nothing_waiting_still_lifts_the_pause(rt: Runtime) -> None:
    pause(rt, "main")
    assert resume_destination(rt, "main") == 0
    assert rt.redis.hlen(rt.store.paused_key) == 0
    event_id = accept_form(rt, LEAD).event_id
    assert claim_now(rt, event_id)[1] == 1  # claimed for delivery, not parked


# -- purge ---------------------------------------------------------------------------------------------


def test_purging_a_dead_letter_drops_it_and_keeps_a_summary_until_it_expires(rt: Runtime) -> None:
    event_id = accept_form(rt, LEAD).event_id
    dead_letter(rt, event_id)
    assert rt.store.purge(event_id) is True
    assert status_of(rt, event_id) == "purged"
    assert members(rt, rt.store.dead_key) == []
    assert members(rt, rt.store.backlog_key) == []
    assert rt.store.due_count() == 0
    ttl = rt.redis.ttl(rt.store.key(event_id))
    assert RETENTION_SECONDS - 5 <= ttl <= RETENTION_SECONDS
    assert rt.store.purge(event_id) is False  # once
    assert replay_event(rt, event_id) == ReplayResult(
        event_id, False, "event is purged; use force to send it again", "purged"
    )


def test_purging_a_parked_event_takes_it_off_the_operators_list(rt: Runtime) -> None:
    event_id = accept_form(rt, LEAD).event_id
    park(rt, event_id)
    assert rt.store.purge(event_id) is True
    assert members(rt, rt.store.parked_key) == []
    assert status_of(rt, event_id) == "purged"
    assert rt.store.parked() == []


def test_purge_leaves_anything_but_dead_letters_and_parked_events_alone(rt: Runtime) -> None:
    queued = accept_form(rt, {"email": "q@example.com"}).event_id
    delivered = accept_form(rt, {"email": "d@example.com"}).event_id
    deliver(rt, delivered)
    rejected = accept_form(rt, {"message": "hi"}).event_id
    assert [rt.store.purge(e) for e in (queued, delivered, rejected, "ev_000000000000nothinghere")] == [False] * 4
    assert [status_of(rt, e) for e in (queued, delivered, rejected)] == ["queued", "delivered", "rejected"]
    assert members(rt, rt.store.due_key) == [queued]
    assert rt.redis.exists(rt.store.key("ev_000000000000nothinghere")) == 0


def test_a_purged_dead_letter_can_be_sent_afresh(rt: Runtime) -> None:
    first = accept_form(rt, LEAD, idempotency_key="order-1").event_id
    dead_letter(rt, first)
    assert rt.store.purge(first)
    again = accept_form(rt, LEAD, idempotency_key="order-1")
    assert (again.status, again.duplicate) == ("queued", False)
