"""Acknowledging events against a real Redis: what one ``accept`` writes, the dedupe claims, and every outcome."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
import redis

from leadgate import defaults
from leadgate.intake import IDEMPOTENCY_KEY_SECONDS
from leadgate.intake import accept
from leadgate.intake import dedupe_claims
from leadgate.intake import is_batchable
from leadgate.model import Accepted
from leadgate.model import InboundEvent
from leadgate.model import content_digest
from leadgate.runtime import Runtime
from tests.support.config import BASE_CONFIG
from tests.support.leads import accept_form
from tests.support.leads import form_event
from tests.support.leads import unreachable_redis

LEAD = {"name": "Ann Lee", "email": "ann@example.com", "phone": "(415) 555-0100", "org": "Acme"}
TWO_SOURCES = BASE_CONFIG + "  landing:\n    kind: form\n"
RETENTION_SECONDS = defaults.RETENTION_DAYS * 86400


def counters(rt: Runtime) -> dict[str, int]:
    return {key.decode(): int(value) for key, value in rt.redis.hgetall("lg:m:counters").items()}


def claim_keys(rt: Runtime) -> dict[str, str]:
    """Every dedupe claim in Redis -> the event id it names."""
    return {key.decode(): rt.redis.get(key).decode() for key in rt.redis.scan_iter(match="lg:dd:*")}


def index_ids(rt: Runtime) -> list[str]:
    return [member.decode() for member in rt.redis.zrange(rt.store.index_key, 0, -1)]


def members(rt: Runtime, key: str) -> list[str]:
    return [member.decode() for member in rt.redis.zrange(key, 0, -1)]


def assert_ttl(rt: Runtime, key: str, expected: int) -> None:
    """A TTL set a moment ago: at most ``expected``, and no more than a few seconds off it."""
    ttl = rt.redis.ttl(key)
    assert expected - 5 <= ttl <= expected, (key, ttl, expected)


def the_duplicate_record(rt: Runtime, original: str) -> Any:
    [other] = [event_id for event_id in index_ids(rt) if event_id != original]
    return rt.store.get(other)


# -- a lead: everything written before the acknowledgement ------------------------------------------


def test_a_lead_is_stored_due_now_with_its_indexes_wake_token_and_counters(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    event = form_event(rt, LEAD)
    lead = rt.config.kinds["form"].normalize(event.raw, source)
    accepted = accept(rt, source, event, lead=lead, request_meta={"remote_addr": "10.0.0.7"})

    assert accepted == Accepted(event_id=accepted.event_id, status="queued", duplicate=False)
    event_id = accepted.event_id
    assert re.fullmatch(r"ev_[0-9a-f]{24}", event_id)
    stored = rt.store.get(event_id)
    assert stored is not None
    assert (stored.source, stored.kind, stored.destination, stored.status) == ("contact-us", "form", "main", "queued")
    assert (stored.attempts, stored.dispatch, stored.last_error, stored.duplicate_of) == (0, 0, "", "")
    assert stored.raw == event.raw == {"fields": [[name, value] for name, value in LEAD.items()]}
    assert stored.lead == lead and stored.lead["email"] == "ann@example.com"
    assert stored.request == {"remote_addr": "10.0.0.7"}
    assert stored.dedupe_keys == []
    assert stored.extra.get("batchable") == "1"
    assert stored.updated_at == stored.received_at > 0
    assert rt.redis.ttl(rt.store.key(event_id)) == -1  # an undelivered lead never expires

    received = rt.redis.zscore(rt.store.index_key, event_id)
    assert received == pytest.approx(stored.received_at, abs=0.001)  # the hash keeps milliseconds
    assert rt.redis.zscore(rt.store.source_index_key("contact-us"), event_id) == received
    assert rt.redis.zscore(rt.store.due_key, event_id) == received  # due at once
    assert rt.redis.zscore(rt.store.backlog_key, event_id) == received
    assert rt.redis.zscore(rt.store.ready_key("main"), event_id) == received
    assert rt.redis.lrange(rt.store.wake_key, 0, -1) == [b"1"]
    assert counters(rt) == {"received|contact-us": 1, "accepted|contact-us": 1}


def test_no_rq_job_is_written_at_intake(rt: Runtime) -> None:
    """The dispatcher turns due events into jobs; a request only writes the event."""
    accept_form(rt, LEAD)
    assert rt.queue.count == 0
    assert list(rt.redis.scan_iter(match="rq:*")) == []


def test_wake_tokens_coalesce_into_one(rt: Runtime) -> None:
    for n in range(3):
        accept_form(rt, {"email": f"lead{n}@example.com"})
    assert rt.redis.lrange(rt.store.wake_key, 0, -1) == [b"1"]
    assert rt.store.due_count() == 3


def test_a_lead_with_a_deal_is_queued_but_not_offered_to_a_bulk_call(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    lead = {"email": "deal@example.com", "deal": {"title": "Kitchen", "value": 500}}
    event_id = accept(rt, source, InboundEvent(raw={"fields": [["email", "deal@example.com"]]}), lead=lead).event_id
    assert rt.redis.zscore(rt.store.due_key, event_id) is not None
    assert rt.redis.zcard(rt.store.ready_key("main")) == 0
    assert rt.store.get(event_id).extra["batchable"] == "0"


@pytest.mark.parametrize(
    ("lead", "expected"),
    [
        (None, False),
        ({}, False),
        ({"email": "a@example.com"}, True),
        ({"email": "a@example.com", "deal": {"title": "t"}}, False),
    ],
)
def test_is_batchable_needs_a_lead_without_a_deal(lead: dict[str, Any] | None, expected: bool) -> None:
    assert is_batchable(lead) is expected


# -- dedupe claims -------------------------------------------------------------------------------------


def test_dedupe_claims_put_platform_ids_first_then_the_idempotency_key_then_the_body() -> None:
    event = InboundEvent(raw={"item": {"id": 7}}, dedupe_keys=("lead-7", "token-7"))
    assert dedupe_claims(event, "idem-1") == [
        ("id", "lead-7", defaults.PLATFORM_DEDUPE_SECONDS),
        ("id", "token-7", defaults.PLATFORM_DEDUPE_SECONDS),
        ("idem", hashlib.sha256(b"idem-1").hexdigest(), IDEMPOTENCY_KEY_SECONDS),
        ("body", content_digest({"item": {"id": 7}}), defaults.DEDUPE_WINDOW_SECONDS),
    ]


@pytest.mark.parametrize("idempotency_key", [None, ""])
def test_without_an_idempotency_key_only_the_body_is_claimed(idempotency_key: str | None) -> None:
    event = InboundEvent(raw={"fields": [["email", "a@example.com"]]})
    assert dedupe_claims(event, idempotency_key) == [
        ("body", content_digest(event.raw), defaults.DEDUPE_WINDOW_SECONDS)
    ]


def test_each_claim_names_the_event_for_its_own_window(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    event = InboundEvent(raw={"fields": [["email", "a@example.com"]]}, dedupe_keys=("lead-7",))
    event_id = accept(rt, source, event, lead={"email": "a@example.com"}, idempotency_key="idem-1").event_id

    platform = "lg:dd:contact-us:id:lead-7"
    idem = f"lg:dd:contact-us:idem:{hashlib.sha256(b'idem-1').hexdigest()}"
    body = f"lg:dd:contact-us:body:{content_digest(event.raw)}"
    assert claim_keys(rt) == {platform: event_id, idem: event_id, body: event_id}
    assert_ttl(rt, platform, 90 * 86400)
    assert_ttl(rt, idem, 86400)
    assert_ttl(rt, body, 600)
    assert rt.store.get(event_id).dedupe_keys == ["lead-7"]


# -- duplicates ----------------------------------------------------------------------------------------


def test_an_identical_body_is_answered_as_a_duplicate_of_the_original(rt: Runtime) -> None:
    first = accept_form(rt, LEAD, request_meta={"n": 1})
    second = accept_form(rt, LEAD, request_meta={"n": 2})

    assert second == Accepted(event_id=first.event_id, status="duplicate", duplicate=True)
    copy = the_duplicate_record(rt, first.event_id)
    assert copy.id != first.event_id
    assert (copy.status, copy.duplicate_of, copy.lead, copy.dispatch) == ("duplicate", first.event_id, None, 0)
    assert copy.raw == rt.store.get(first.event_id).raw
    assert copy.request == {"n": 2}
    assert_ttl(rt, rt.store.key(copy.id), RETENTION_SECONDS)  # history only, it expires
    # nothing is queued for it, and the claims still name the original
    assert members(rt, rt.store.due_key) == [first.event_id]
    assert members(rt, rt.store.backlog_key) == [first.event_id]
    assert members(rt, rt.store.ready_key("main")) == [first.event_id]
    assert set(claim_keys(rt).values()) == {first.event_id}
    assert rt.store.get(first.event_id).status == "queued"
    assert counters(rt) == {"received|contact-us": 2, "accepted|contact-us": 1, "duplicate|contact-us": 1}


def test_every_later_resend_points_at_the_original_not_at_a_duplicate(rt: Runtime) -> None:
    first = accept_form(rt, LEAD).event_id
    answers = [accept_form(rt, LEAD) for _ in range(2)]
    assert [a.event_id for a in answers] == [first, first]
    copies = [rt.store.get(event_id) for event_id in index_ids(rt) if event_id != first]
    assert sorted(c.duplicate_of for c in copies) == [first, first]
    assert rt.store.due_count() == 1


def test_a_platform_id_makes_a_different_body_a_duplicate(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    first = accept(rt, source, InboundEvent(raw={"v": 1}, dedupe_keys=("lead-9",)), lead={"email": "a@example.com"})
    again = accept(rt, source, InboundEvent(raw={"v": 2}, dedupe_keys=("lead-9",)), lead={"email": "b@example.com"})
    assert again == Accepted(event_id=first.event_id, status="duplicate", duplicate=True)
    assert rt.store.due_count() == 1


def test_a_second_platform_id_of_the_original_is_enough(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    first = accept(rt, source, InboundEvent(raw={"v": 1}, dedupe_keys=("event-1", "token-1")), lead={"email": "a@x.io"})
    again = accept(rt, source, InboundEvent(raw={"v": 2}, dedupe_keys=("event-2", "token-1")), lead={"email": "a@x.io"})
    assert again.duplicate and again.event_id == first.event_id
    assert "lg:dd:contact-us:id:event-2" not in claim_keys(rt)  # a duplicate claims nothing


def test_an_idempotency_key_makes_a_different_body_a_duplicate(rt: Runtime) -> None:
    first = accept_form(rt, {"email": "a@example.com"}, idempotency_key="order-1")
    again = accept_form(rt, {"email": "b@example.com"}, idempotency_key="order-1")
    other = accept_form(rt, {"email": "c@example.com"}, idempotency_key="order-2")
    assert again == Accepted(event_id=first.event_id, status="duplicate", duplicate=True)
    assert other.status == "queued" and other.event_id != first.event_id


def test_claims_belong_to_their_source(make_config, redis_client: redis.Redis) -> None:
    rt = Runtime.from_config(make_config(TWO_SOURCES), client=redis_client)
    here = accept_form(rt, LEAD, "contact-us")
    there = accept_form(rt, LEAD, "landing")
    assert (here.status, there.status) == ("queued", "queued")
    assert here.event_id != there.event_id
    digest = content_digest(form_event(rt, LEAD).raw)
    assert claim_keys(rt) == {
        f"lg:dd:contact-us:body:{digest}": here.event_id,
        f"lg:dd:landing:body:{digest}": there.event_id,
    }


def test_a_body_claim_counts_only_while_its_event_exists(rt: Runtime) -> None:
    first = accept_form(rt, LEAD).event_id
    rt.redis.delete(rt.store.key(first))  # the record expired; the 10-minute claim is still there
    again = accept_form(rt, LEAD)
    assert again.status == "queued" and again.event_id != first
    body = f"lg:dd:contact-us:body:{content_digest(form_event(rt, LEAD).raw)}"
    assert claim_keys(rt) == {body: again.event_id}  # taken over by the new event, with a fresh window
    assert_ttl(rt, body, 600)


def test_an_idempotency_claim_counts_only_while_its_event_exists(rt: Runtime) -> None:
    first = accept_form(rt, {"email": "a@example.com"}, idempotency_key="order-1").event_id
    rt.redis.delete(rt.store.key(first))
    again = accept_form(rt, {"email": "b@example.com"}, idempotency_key="order-1")
    assert again.status == "queued" and again.event_id != first


def test_claims_held_by_a_gone_event_and_by_a_live_one_make_a_duplicate_of_the_live_one(rt: Runtime) -> None:
    """The script learns of each claim's holder as it runs, and is asked again with that event declared."""
    gone = accept_form(rt, {"email": "a@example.com"}, idempotency_key="order-1").event_id
    live = accept_form(rt, {"email": "b@example.com"}, idempotency_key="order-2").event_id
    rt.redis.delete(rt.store.key(gone))
    again = accept_form(rt, {"email": "b@example.com"}, idempotency_key="order-1")  # order-1's, b's body
    assert again == Accepted(event_id=live, status="duplicate", duplicate=True)
    assert counters(rt)["duplicate|contact-us"] == 1


def test_a_platform_id_counts_for_its_whole_window_even_after_its_event_expired(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    first = accept(rt, source, InboundEvent(raw={"v": 1}, dedupe_keys=("lead-9",)), lead={"email": "a@x.io"})
    rt.redis.delete(rt.store.key(first.event_id))
    again = accept(rt, source, InboundEvent(raw={"v": 1}, dedupe_keys=("lead-9",)), lead={"email": "a@x.io"})
    assert again == Accepted(event_id=first.event_id, status="duplicate", duplicate=True)
    assert the_duplicate_record(rt, first.event_id).duplicate_of == first.event_id
    assert rt.store.due_count() == 1  # only the first's (now dangling) entry; nothing new is queued


# -- outcomes that are not leads -----------------------------------------------------------------------


def test_a_honeypot_hit_is_kept_as_expiring_spam_history_and_claims_nothing(rt: Runtime) -> None:
    fields = {**LEAD, "_gotcha": "http://spam.example"}
    accepted = accept_form(rt, fields)
    assert accepted == Accepted(event_id=accepted.event_id, status="spam", duplicate=False)
    stored = rt.store.get(accepted.event_id)
    assert (stored.status, stored.last_error, stored.lead) == ("spam", "honeypot", None)
    assert_ttl(rt, rt.store.key(accepted.event_id), RETENTION_SECONDS)
    assert rt.store.due_count() == 0 and rt.redis.zcard(rt.store.backlog_key) == 0
    assert rt.redis.llen(rt.store.wake_key) == 0
    assert claim_keys(rt) == {}
    assert members(rt, rt.store.index_key) == [accepted.event_id]
    # without a claim, the same spam again is spam again, not a duplicate
    assert accept_form(rt, fields).status == "spam"
    assert counters(rt) == {"received|contact-us": 2, "spam|contact-us": 2}


def test_an_ignored_event_keeps_its_platform_ids_but_claims_none(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    event = InboundEvent(raw={"lead_id": "g-1"}, dedupe_keys=("g-1",), outcome="ignored", reason="test lead")
    accepted = accept(rt, source, event)
    assert accepted == Accepted(event_id=accepted.event_id, status="ignored")
    stored = rt.store.get(accepted.event_id)
    assert (stored.status, stored.last_error, stored.dedupe_keys) == ("ignored", "test lead", ["g-1"])
    assert_ttl(rt, rt.store.key(accepted.event_id), RETENTION_SECONDS)
    assert claim_keys(rt) == {}
    assert rt.store.due_count() == 0
    # the real lead with that id, sent later, is not a duplicate of the test event
    assert accept(rt, source, InboundEvent(raw={"lead_id": "g-1"}, dedupe_keys=("g-1",))).status == "queued"
    assert counters(rt) == {"received|contact-us": 2, "ignored|contact-us": 1, "accepted|contact-us": 1}


def test_a_rejected_event_is_kept_for_a_replay_unqueued_and_claims_its_keys(rt: Runtime) -> None:
    fields = {"message": "call me maybe"}
    accepted = accept_form(rt, fields)
    assert accepted == Accepted(event_id=accepted.event_id, status="rejected")
    stored = rt.store.get(accepted.event_id)
    assert stored.status == "rejected" and stored.lead is None
    assert stored.last_error == (
        "no usable contact field: {'contact': 'at least one of first_name, last_name, email or phone is required'}"
    )
    assert_ttl(rt, rt.store.key(accepted.event_id), RETENTION_SECONDS)  # replayable while it lasts
    assert rt.store.due_count() == 0 and rt.redis.zcard(rt.store.backlog_key) == 0
    assert rt.redis.llen(rt.store.wake_key) == 0
    assert claim_keys(rt) == {f"lg:dd:contact-us:body:{content_digest(stored.raw)}": accepted.event_id}
    # a re-send does not become a second copy to replay
    assert accept_form(rt, fields) == Accepted(event_id=accepted.event_id, status="duplicate", duplicate=True)
    assert counters(rt) == {"received|contact-us": 2, "rejected|contact-us": 1, "duplicate|contact-us": 1}


def test_the_reason_given_wins_over_the_events_own(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    event = InboundEvent(raw={"v": 1}, outcome="ignored", reason="from the adapter")
    first = accept(rt, source, event, reason="from the gateway")
    second = accept(rt, source, InboundEvent(raw={"v": 2}, outcome="ignored", reason="from the adapter"))
    assert rt.store.get(first.event_id).last_error == "from the gateway"
    assert rt.store.get(second.event_id).last_error == "from the adapter"


@pytest.mark.parametrize("text", ["nul \x00 byte", "é, 漢字 and 😀", '"quotes", \\ and \n', "[1, 2]", "0.1"])
def test_any_text_reaches_the_event_hash_unchanged_through_the_scripts_json_writes(rt: Runtime, text: str) -> None:
    """The intake script gets its writes as one JSON array: text of any kind (a reason quoting a sender's
    value, a source name) comes out of Redis as it went in, and the payload blob's bytes are untouched."""
    source = rt.config.sources["contact-us"]
    event = InboundEvent(raw={"fields": [["message", text]]}, outcome="ignored")
    stored = rt.store.get(accept(rt, source, event, reason=text).event_id)
    assert stored.last_error == text
    assert stored.raw == {"fields": [["message", text]]}


# -- Redis unreachable ---------------------------------------------------------------------------------


def test_an_unreachable_store_raises_a_redis_error_so_the_gateway_answers_503(config, redis_client) -> None:
    client = unreachable_redis()
    rt = Runtime.from_config(config, client=client)
    with pytest.raises(redis.ConnectionError):
        accept_form(rt, LEAD)
    client.close()
    assert redis_client.keys("*") == []
