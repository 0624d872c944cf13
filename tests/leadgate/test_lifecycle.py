"""The delivery state machine's Lua transitions against a real Redis: claims, leases, dispatch, outcomes, replays."""

from __future__ import annotations

import time

import pytest
import redis

from leadgate.events import STATUSES
from leadgate.events import EventStore
from leadgate.intake import accept
from leadgate.lifecycle import CLAIMABLE
from leadgate.lifecycle import OUTCOME_COUNTERS
from leadgate.lifecycle import hash_mapping
from leadgate.lifecycle import this_process
from leadgate.model import InboundEvent
from leadgate.payloads import encode_json
from leadgate.runtime import Runtime
from tests.support.events import PAYLOAD_RETENTION_SECONDS
from tests.support.events import RAW
from tests.support.events import RECEIVED_AT
from tests.support.events import RETENTION_SECONDS
from tests.support.events import eid
from tests.support.events import hash_of
from tests.support.events import make_store
from tests.support.events import members
from tests.support.events import now_between
from tests.support.events import payload_list
from tests.support.events import queue_event
from tests.support.events import ttl_is
from tests.support.events import write_event
from tests.support.events import write_legacy_event

ONE, TWO, THREE, FOUR, FIVE = (eid(n) for n in range(1, 6))
NOW = RECEIVED_AT + 10
LEASE = NOW + 100
GRACE = NOW + 60


@pytest.fixture
def store(redis_client: redis.Redis) -> EventStore:
    return make_store(redis_client)


def counters(client: redis.Redis) -> dict[str, str]:
    return hash_of(client, "lg:m:counters")


def dispatched(store: EventStore, event_id: str, now: float = NOW) -> int:
    """The dispatch number the dispatcher gives ``event_id`` (it must be due at ``now``)."""
    numbers = dict(store.dispatch_due(now, now + 60))
    assert event_id in numbers, f"{event_id} was not due at {now}"
    return numbers[event_id]


def delivering(store: EventStore, event_id: str, **fields: object) -> int:
    """A queued lead taken by its job, as a worker holds it mid-delivery; returns that job's dispatch number."""
    queue_event(store, event_id, **fields)
    dispatch = dispatched(store, event_id)
    assert store.claim(event_id, dispatch, NOW, LEASE) == 1
    return dispatch


def finish(store: EventStore, event_id: str, dispatch: int, outcome: str, **fields: object) -> bool:
    """One attempt's outcome, recorded at ``NOW + 2`` for destination ``main``, with the fields a worker sets."""
    return store.finish(
        event_id,
        dispatch,
        outcome,
        {"n": 1, "outcome": outcome},
        fields,
        next_at=float(fields.get("next_attempt_at") or 0.0),  # type: ignore[arg-type]
        now=NOW + 2,
        destination="main",
        received_at=RECEIVED_AT,
        source="contact-us",
    )


# -- hash_mapping and CLAIMABLE ------------------------------------------------------------------------------------


def test_hash_mapping_hands_the_mapping_to_hset_unchanged(redis_client: redis.Redis) -> None:
    fields = {"status": "queued", "attempts": "0"}
    assert hash_mapping(fields) is fields
    redis_client.hset("lg:t", mapping=hash_mapping(fields))
    assert hash_of(redis_client, "lg:t") == fields


def test_claimable_statuses_are_the_three_in_flight_ones() -> None:
    assert CLAIMABLE == frozenset({"queued", "delivering", "retrying"})


@pytest.mark.parametrize("status", [*STATUSES, "purged"])
def test_a_job_claims_only_an_event_in_a_claimable_status(
    store: EventStore, redis_client: redis.Redis, status: str
) -> None:
    queue_event(store, ONE)
    redis_client.hset(store.key(ONE), "status", status)
    before = hash_of(redis_client, store.key(ONE))
    result = store.claim(ONE, 0, NOW, LEASE)
    if status in CLAIMABLE:
        assert result == 1
        assert hash_of(redis_client, store.key(ONE))["status"] == "delivering"
    else:
        assert result == 0
        assert hash_of(redis_client, store.key(ONE)) == before
        assert members(redis_client, "lg:due") == {ONE: RECEIVED_AT}


@pytest.mark.parametrize("status", ["queue", "deliver", "ed", "ing", ""])
def test_a_status_is_matched_whole_not_as_part_of_the_list(
    store: EventStore, redis_client: redis.Redis, status: str
) -> None:
    """The script looks the status up in a comma-joined string: a fragment of it must not match."""
    queue_event(store, ONE)
    redis_client.hset(store.key(ONE), "status", status)
    assert store.claim(ONE, 0, NOW, LEASE) == 0


# -- claim ---------------------------------------------------------------------------------------------------------


def test_a_claim_takes_a_lease_and_counts_the_attempt(store: EventStore, redis_client: redis.Redis) -> None:
    queue_event(store, ONE, attempts=2, batchable=True)
    redis_client.zadd("lg:ready:other", {ONE: 1.0})
    before = hash_of(redis_client, store.key(ONE))
    assert store.claim(ONE, 0, NOW, LEASE) == 3
    assert hash_of(redis_client, store.key(ONE)) == {
        **before,
        "status": "delivering",
        "attempts": "3",
        "updated_at": repr(NOW),
        "lease_until": repr(LEASE),
        "held_by": this_process(),
    }
    assert members(redis_client, "lg:due") == {ONE: LEASE}  # a killed worker's lead is due when its lease ends
    assert members(redis_client, "lg:backlog") == {ONE: RECEIVED_AT}
    assert not redis_client.exists("lg:ready:main")  # no bulk call may take it too
    assert members(redis_client, "lg:ready:other") == {ONE: 1.0}
    event = store.get(ONE)
    assert event is not None and (event.updated_at, event.lease_until) == (NOW, LEASE)


def test_a_stale_job_claims_nothing(store: EventStore, redis_client: redis.Redis) -> None:
    queue_event(store, ONE, dispatch=4)
    before = hash_of(redis_client, store.key(ONE))
    assert store.claim(ONE, 3, NOW, LEASE) == -1
    assert store.claim(ONE, 5, NOW, LEASE) == -1
    assert hash_of(redis_client, store.key(ONE)) == before
    assert members(redis_client, "lg:due") == {ONE: RECEIVED_AT}
    assert store.claim(ONE, 4, NOW, LEASE) == 1


def test_claiming_an_expired_event_drops_it_from_the_due_set(store: EventStore, redis_client: redis.Redis) -> None:
    queue_event(store, ONE)
    redis_client.delete(store.key(ONE))
    assert store.claim(ONE, 0, NOW, LEASE) == 0
    assert not redis_client.exists("lg:due")
    assert not redis_client.exists(store.key(ONE))  # no ghost record is created


def test_a_claim_for_a_paused_destination_parks_the_event(store: EventStore, redis_client: redis.Redis) -> None:
    queue_event(store, ONE, attempts=1)
    queue_event(store, TWO, destination="eu")
    redis_client.hset(store.paused_key, "main", '{"reason": "401"}')
    assert store.claim(ONE, 0, NOW, LEASE) == -2
    stored = hash_of(redis_client, store.key(ONE))
    assert (stored["status"], stored["updated_at"], stored["attempts"]) == ("paused", repr(NOW), "1")
    assert stored.get("next_attempt_at", "") == "" and "lease_until" not in stored
    assert members(redis_client, "lg:due") == {TWO: RECEIVED_AT}
    assert members(redis_client, "lg:parked") == {ONE: NOW}
    assert members(redis_client, "lg:backlog") == {TWO: RECEIVED_AT}
    assert counters(redis_client) == {"parked|main": "1"}
    assert [e.id for e in store.parked()] == [ONE]
    assert store.claim(TWO, 0, NOW, LEASE) == 1  # another destination is not paused


def test_a_stale_job_is_stale_even_when_the_destination_is_paused(store: EventStore, redis_client: redis.Redis) -> None:
    queue_event(store, ONE, dispatch=2)
    redis_client.hset(store.paused_key, "main", "{}")
    assert store.claim(ONE, 1, NOW, LEASE) == -1
    assert hash_of(redis_client, store.key(ONE))["status"] == "queued"
    assert not redis_client.exists("lg:parked", "lg:m:counters")


# -- dispatch_due --------------------------------------------------------------------------------------------------


def test_dispatch_gives_each_due_event_a_new_number_and_a_grace_deadline(
    store: EventStore, redis_client: redis.Redis
) -> None:
    queue_event(store, ONE)
    queue_event(store, TWO, dispatch=6)
    queue_event(store, THREE)
    redis_client.zadd("lg:due", {ONE: NOW - 1, TWO: NOW - 5, THREE: NOW + 5, FOUR: NOW - 3})  # FOUR: record expired
    assert store.dispatch_due(NOW, GRACE) == [(TWO, 7), (ONE, 1)]  # oldest due first
    assert members(redis_client, "lg:due") == {ONE: GRACE, TWO: GRACE, THREE: NOW + 5}
    assert [hash_of(redis_client, store.key(i))["dispatch"] for i in (ONE, TWO, THREE)] == ["1", "7", "0"]
    assert store.dispatch_due(NOW, GRACE) == []  # not again until its job had time to start
    assert store.dispatch_due(GRACE, GRACE + 60) == [(THREE, 1), (ONE, 2), (TWO, 8)]


def test_dispatch_takes_at_most_limit_events(store: EventStore, redis_client: redis.Redis) -> None:
    for n, event_id in enumerate((ONE, TWO, THREE)):
        queue_event(store, event_id, received_at=RECEIVED_AT + n)
    assert store.dispatch_due(NOW, GRACE, limit=2) == [(ONE, 1), (TWO, 1)]
    assert members(redis_client, "lg:due")[THREE] == RECEIVED_AT + 2


def test_dispatch_puts_batchable_leads_in_their_ready_set(store: EventStore, redis_client: redis.Redis) -> None:
    queue_event(store, ONE, batchable=True, destination="eu", received_at=RECEIVED_AT + 0.5)
    queue_event(store, TWO, batchable=False)
    redis_client.delete("lg:ready:eu")
    assert sorted(store.dispatch_due(NOW, GRACE)) == [(ONE, 1), (TWO, 1)]
    assert members(redis_client, "lg:ready:eu") == {ONE: RECEIVED_AT + 0.5}  # by receipt: oldest go first
    assert not redis_client.exists("lg:ready:main")


def test_an_expired_lease_makes_the_event_due_again_for_a_new_job(store: EventStore, redis_client: redis.Redis) -> None:
    """A killed worker: its lead is taken over once its lease runs out, and the old job can no longer act."""
    first = delivering(store, ONE)
    assert store.dispatch_due(LEASE - 1, LEASE + 59) == []
    assert store.dispatch_due(LEASE, LEASE + 60) == [(ONE, first + 1)]
    assert store.claim(ONE, first, LEASE, LEASE + 100) == -1
    assert not finish(store, ONE, first, "retry", status="retrying", next_attempt_at=LEASE + 500)
    assert store.claim(ONE, first + 1, LEASE, LEASE + 100) == 2
    assert members(redis_client, "lg:due") == {ONE: LEASE + 100}
    assert hash_of(redis_client, store.key(ONE))["status"] == "delivering"


# -- claim_ready ---------------------------------------------------------------------------------------------------


def test_claim_ready_takes_the_oldest_queued_leads_of_one_destination(
    store: EventStore, redis_client: redis.Redis
) -> None:
    for n, event_id in enumerate((THREE, ONE, TWO)):  # received in this order
        queue_event(store, event_id, batchable=True, received_at=RECEIVED_AT + n, dispatch=n + 1)
    queue_event(store, FOUR, batchable=True, destination="eu")
    assert store.claim_ready("main", 2, NOW, LEASE, GRACE) == [(THREE, 2, 1, 1), (ONE, 3, 1, 2)]
    for event_id in (THREE, ONE):
        stored = hash_of(redis_client, store.key(event_id))
        claim = (stored["status"], stored["updated_at"], stored["lease_until"], stored["held_by"])
        assert claim == ("delivering", repr(NOW), repr(LEASE), this_process())
    assert members(redis_client, "lg:due") == {THREE: LEASE, ONE: LEASE, TWO: RECEIVED_AT + 2, FOUR: RECEIVED_AT}
    assert members(redis_client, "lg:ready:main") == {TWO: RECEIVED_AT + 2}
    assert members(redis_client, "lg:ready:eu") == {FOUR: RECEIVED_AT}
    assert store.claim(THREE, 1, NOW, LEASE) == -1  # the job queued for it finds itself stale


def test_claim_ready_drops_stale_entries_without_counting_them(store: EventStore, redis_client: redis.Redis) -> None:
    delivering(store, ONE, batchable=True, received_at=RECEIVED_AT)  # taken by its own job
    queue_event(store, TWO, batchable=True, received_at=RECEIVED_AT + 1)
    redis_client.delete(store.key(TWO))  # expired
    queue_event(store, THREE, batchable=True, received_at=RECEIVED_AT + 2, status="retrying")
    redis_client.zadd("lg:due", {THREE: GRACE + 1})  # waiting for its retry time
    queue_event(store, FOUR, batchable=True, received_at=RECEIVED_AT + 3, status="retrying", attempts=2)
    redis_client.zadd("lg:ready:main", {ONE: RECEIVED_AT, TWO: RECEIVED_AT + 1, THREE: RECEIVED_AT + 2})
    assert store.claim_ready("main", 1, NOW, LEASE, GRACE) == [(FOUR, 1, 3, 0)]
    assert not redis_client.exists("lg:ready:main")
    assert hash_of(redis_client, store.key(THREE))["status"] == "retrying"
    assert members(redis_client, "lg:due")[THREE] == GRACE + 1


def test_claim_ready_leaves_what_it_did_not_look_at_in_the_ready_set(
    store: EventStore, redis_client: redis.Redis
) -> None:
    """It pops in at most four rounds: whatever it has not popped must still be there for the next call."""
    for n in range(4):
        write_event(store, eid(10 + n), status="delivered", received_at=RECEIVED_AT + n)
    queue_event(store, FIVE, batchable=True, received_at=RECEIVED_AT + 9)
    redis_client.zadd("lg:ready:main", {eid(10 + n): RECEIVED_AT + n for n in range(4)})
    assert store.claim_ready("main", 1, NOW, LEASE, GRACE) == []
    assert members(redis_client, "lg:ready:main") == {FIVE: RECEIVED_AT + 9}
    assert store.claim_ready("main", 1, NOW, LEASE, GRACE) == [(FIVE, 1, 1, 0)]


# -- finish --------------------------------------------------------------------------------------------------------


def test_a_delivery_is_final_settled_expiring_and_counted(store: EventStore, redis_client: redis.Redis) -> None:
    dispatch = delivering(store, ONE, batchable=True, last_error="earlier failure")
    fields = {
        "status": "delivered",
        "contact_id": "c-1",
        "delivered_at": NOW + 2,
        "last_status_code": 201,
        "last_error": "",
        "next_attempt_at": "",
    }
    assert finish(store, ONE, dispatch, "delivered", **fields)
    assert hash_of(redis_client, store.key(ONE)) == {
        "source": "contact-us",
        "kind": "form",
        "destination": "main",
        "status": "delivered",
        "received_at": repr(RECEIVED_AT),
        "attempts": "1",
        "dispatch": str(dispatch),
        "updated_at": repr(NOW + 2),
        "delivered_at": repr(NOW + 2),
        "contact_id": "c-1",
        "last_status_code": "201",
    }
    assert payload_list(redis_client, store, ONE)[1:] == [{"n": 1, "outcome": "delivered"}]
    assert ttl_is(redis_client, store.key(ONE), RETENTION_SECONDS)
    assert ttl_is(redis_client, store.payload_key(ONE), PAYLOAD_RETENTION_SECONDS)
    assert not redis_client.exists("lg:due", "lg:backlog", "lg:dead", "lg:parked", store.attempts_key(ONE))
    assert counters(redis_client) == {"delivered|main": "1"}
    assert hash_of(redis_client, "lg:m:latency") == {"main|15.0": "1", "main|count": "1", "main|sum": "12"}
    event = store.get(ONE)
    assert event is not None and (event.delivered_at, event.contact_id, event.last_error) == (NOW + 2, "c-1", "")


def test_a_delivery_is_recorded_even_from_a_stale_job(store: EventStore, redis_client: redis.Redis) -> None:
    """ConnectGain has the lead: undoing the record would send it again."""
    first = delivering(store, ONE)
    redis_client.zadd("lg:dead", {ONE: NOW})
    redis_client.hset(store.key(ONE), "dispatch", first + 3)
    assert finish(store, ONE, first, "delivered", status="delivered", contact_id="c-1")
    assert hash_of(redis_client, store.key(ONE))["status"] == "delivered"
    assert not redis_client.exists("lg:due", "lg:dead", "lg:backlog")


def test_a_retry_stays_due_at_its_next_attempt_and_in_the_backlog(store: EventStore, redis_client: redis.Redis) -> None:
    dispatch = delivering(store, ONE)
    fields = {"status": "retrying", "next_attempt_at": NOW + 30, "last_error": "503", "last_status_code": 503}
    assert finish(store, ONE, dispatch, "retry", **fields)
    stored = hash_of(redis_client, store.key(ONE))
    assert (stored["status"], stored["next_attempt_at"], stored["last_status_code"]) == (
        "retrying",
        repr(NOW + 30),
        "503",
    )
    assert stored["lease_until"] == repr(LEASE)  # still in flight: nothing is settled
    assert members(redis_client, "lg:due") == {ONE: NOW + 30}
    assert members(redis_client, "lg:backlog") == {ONE: RECEIVED_AT}
    assert redis_client.ttl(store.key(ONE)) == -1 and redis_client.ttl(store.payload_key(ONE)) == -1
    assert counters(redis_client) == {"retried|main": "1"}
    assert not redis_client.exists("lg:m:latency")


@pytest.mark.parametrize(
    ("outcome", "status", "waiting"), [("dead", "dead", "lg:dead"), ("park", "needs_token", "lg:parked")]
)
def test_dead_and_parked_events_wait_for_an_operator(
    store: EventStore, redis_client: redis.Redis, outcome: str, status: str, waiting: str
) -> None:
    dispatch = delivering(store, ONE)
    assert finish(store, ONE, dispatch, outcome, status=status, last_error="refused", next_attempt_at="")
    stored = hash_of(redis_client, store.key(ONE))
    assert (stored["status"], stored["last_error"]) == (status, "refused")
    assert members(redis_client, waiting) == {ONE: NOW + 2}
    assert not redis_client.exists("lg:due", "lg:backlog")
    assert redis_client.ttl(store.key(ONE)) == -1 and redis_client.ttl(store.payload_key(ONE)) == -1
    assert counters(redis_client) == {f"{OUTCOME_COUNTERS[outcome]}|main": "1"}
    assert payload_list(redis_client, store, ONE)[1:] == [{"n": 1, "outcome": outcome}]


def test_an_ignored_event_expires_and_counts_for_its_source(store: EventStore, redis_client: redis.Redis) -> None:
    dispatch = delivering(store, ONE)
    redis_client.zadd("lg:parked", {ONE: NOW})
    assert finish(store, ONE, dispatch, "ignore", status="ignored", last_status_code=None, next_attempt_at="")
    stored = hash_of(redis_client, store.key(ONE))
    assert stored["status"] == "ignored" and "lease_until" not in stored and "last_status_code" not in stored
    assert ttl_is(redis_client, store.key(ONE), RETENTION_SECONDS)
    assert ttl_is(redis_client, store.payload_key(ONE), PAYLOAD_RETENTION_SECONDS)
    assert not redis_client.exists("lg:due", "lg:backlog", "lg:dead", "lg:parked")
    assert counters(redis_client) == {"ignored|contact-us": "1"}  # nothing was sent: the source's counter


@pytest.mark.parametrize("outcome", ["retry", "dead", "park", "ignore"])
def test_a_stale_job_only_logs_its_attempt(store: EventStore, redis_client: redis.Redis, outcome: str) -> None:
    first = delivering(store, ONE)
    second = dispatched(store, ONE, LEASE)
    before = hash_of(redis_client, store.key(ONE))
    due = members(redis_client, "lg:due")
    assert not finish(store, ONE, first, outcome, status="dead", last_error="late")
    assert hash_of(redis_client, store.key(ONE)) == before
    assert members(redis_client, "lg:due") == due == {ONE: LEASE + 60}
    assert not redis_client.exists("lg:m:counters", "lg:dead", "lg:parked")
    assert redis_client.ttl(store.key(ONE)) == -1
    assert payload_list(redis_client, store, ONE)[1:] == [{"n": 1, "outcome": outcome}]
    assert second == first + 1


@pytest.mark.parametrize("outcome", ["retry", "dead", "park", "ignore"])
def test_nothing_undoes_a_delivery(store: EventStore, redis_client: redis.Redis, outcome: str) -> None:
    dispatch = delivering(store, ONE)
    assert finish(store, ONE, dispatch, "delivered", status="delivered", contact_id="c-1")
    assert not finish(store, ONE, dispatch, outcome, status="dead", next_attempt_at=NOW + 30)
    assert hash_of(redis_client, store.key(ONE))["status"] == "delivered"
    assert not redis_client.exists("lg:due", "lg:dead", "lg:parked")
    assert counters(redis_client) == {"delivered|main": "1"}
    assert [a["outcome"] for a in store.attempts(ONE)] == ["delivered", outcome]


def test_an_unknown_outcome_is_refused_before_anything_is_written(store: EventStore, redis_client: redis.Redis) -> None:
    dispatch = delivering(store, ONE)
    before = hash_of(redis_client, store.key(ONE))
    with pytest.raises(KeyError):
        finish(store, ONE, dispatch, "deliverd", status="delivered")
    assert hash_of(redis_client, store.key(ONE)) == before
    assert store.attempts(ONE) == []


@pytest.mark.parametrize(("received_at", "bucket", "total"), [(None, "0.5", 0.0), (NOW - 90_000, "+Inf", 90_000.0)])
def test_the_latency_histogram_buckets_the_time_from_receipt(
    store: EventStore, redis_client: redis.Redis, received_at: float | None, bucket: str, total: float
) -> None:
    dispatch = delivering(store, ONE)
    assert store.finish(
        ONE,
        dispatch,
        "delivered",
        {"n": 1},
        {"status": "delivered"},
        now=NOW,
        destination="eu",
        received_at=received_at,
    )
    latency = hash_of(redis_client, "lg:m:latency")
    assert set(latency) == {f"eu|{bucket}", "eu|count", "eu|sum"}
    assert (latency[f"eu|{bucket}"], latency["eu|count"], float(latency["eu|sum"])) == ("1", "1", total)


def test_a_pre_compaction_event_keeps_logging_attempts_in_its_old_list(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_legacy_event(redis_client, store, ONE, status="retrying", dispatch=3, attempts=1)
    redis_client.rpush(store.attempts_key(ONE), '{"n":1,"outcome":"retry"}')
    assert store.claim(ONE, 3, NOW, LEASE) == 2
    assert finish(store, ONE, 3, "dead", status="dead")
    assert not redis_client.exists(store.payload_key(ONE))
    assert store.attempts(ONE) == [{"n": 1, "outcome": "retry"}, {"n": 1, "outcome": "dead"}]
    event = store.get(ONE)
    assert event is not None and event.raw == RAW and event.has_payloads


def test_a_pre_compaction_event_never_attempted_keeps_its_first_attempt(
    store: EventStore, redis_client: redis.Redis
) -> None:
    """Every lead queued (or parked by a paused destination) when the compaction is deployed takes this path."""
    write_legacy_event(redis_client, store, ONE, status="queued", dispatch=1)
    assert store.claim(ONE, 1, NOW, LEASE) == 1
    assert finish(store, ONE, 1, "retry", status="retrying", next_attempt_at=NOW + 30)
    assert store.attempts(ONE) == [{"n": 1, "outcome": "retry"}]


# -- hold ----------------------------------------------------------------------------------------------------------


def test_hold_takes_the_event_off_the_due_set_only(store: EventStore, redis_client: redis.Redis) -> None:
    """Its lease can no longer run out into a second send; the delivery is recorded later."""
    dispatch = delivering(store, ONE)
    before = hash_of(redis_client, store.key(ONE))
    store.hold(ONE)
    assert not redis_client.exists("lg:due")
    assert hash_of(redis_client, store.key(ONE)) == before
    assert members(redis_client, "lg:backlog") == {ONE: RECEIVED_AT}
    assert store.dispatch_due(LEASE + 1, LEASE + 61) == []
    assert finish(store, ONE, dispatch, "delivered", status="delivered")
    assert hash_of(redis_client, store.key(ONE))["status"] == "delivered"


# -- requeue and wake ----------------------------------------------------------------------------------------------


def test_requeue_puts_a_dead_letter_back_in_line_now(store: EventStore, redis_client: redis.Redis) -> None:
    dispatch = delivering(store, ONE)
    assert finish(store, ONE, dispatch, "dead", status="dead", last_error="400", next_attempt_at=NOW + 5)
    before = time.time()
    store.requeue(ONE, fields={"last_error": ""})
    stored = hash_of(redis_client, store.key(ONE))
    assert (stored["status"], stored["attempts"], stored["dispatch"]) == ("queued", "0", str(dispatch))
    assert "last_error" not in stored and "next_attempt_at" not in stored
    requeued_at = float(stored["updated_at"])
    assert now_between(before, requeued_at)
    assert members(redis_client, "lg:due") == {ONE: requeued_at}
    assert members(redis_client, "lg:backlog") == {ONE: RECEIVED_AT}
    assert not redis_client.exists("lg:dead")
    assert redis_client.lrange(store.wake_key, 0, -1) == [b"1"]
    assert [a["outcome"] for a in store.attempts(ONE)] == ["dead"]  # the history stays
    new = dispatched(store, ONE, requeued_at)
    assert new == dispatch + 1 and store.claim(ONE, dispatch, NOW, LEASE) == -1


def test_requeue_makes_an_expiring_event_lasting_again(store: EventStore, redis_client: redis.Redis) -> None:
    dispatch = delivering(store, ONE)
    assert finish(store, ONE, dispatch, "delivered", status="delivered")
    write_legacy_event(redis_client, store, TWO, status="rejected")
    redis_client.rpush(store.attempts_key(TWO), "{}")
    redis_client.expire(store.key(TWO), 60)
    redis_client.expire(store.attempts_key(TWO), 60)
    store.requeue(ONE)
    store.requeue(TWO)
    for key in (store.key(ONE), store.payload_key(ONE), store.key(TWO), store.attempts_key(TWO)):
        assert redis_client.ttl(key) == -1, key
    assert set(members(redis_client, "lg:due")) == {ONE, TWO}


def test_requeue_writes_new_payloads_and_joins_the_ready_set_when_batchable(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_event(store, ONE, status="rejected", lead=None, destination="old")
    write_event(store, TWO, status="dead")
    store.requeue(ONE, fields={"lead": {"email": "fixed@example.com"}, "batchable": True, "destination": "eu"})
    store.requeue(TWO, fields={"batchable": True})
    assert payload_list(redis_client, store, ONE)[0]["lead"] == {"email": "fixed@example.com"}
    stored = hash_of(redis_client, store.key(ONE))
    assert "lead" not in stored and (stored["destination"], stored["batchable"]) == ("eu", "1")
    assert members(redis_client, "lg:ready:eu") == {ONE: RECEIVED_AT}
    assert members(redis_client, "lg:ready:main") == {TWO: RECEIVED_AT}  # its stored destination
    assert not redis_client.exists("lg:ready:old")


def test_requeue_takes_a_parked_event_off_the_parked_set(store: EventStore, redis_client: redis.Redis) -> None:
    queue_event(store, ONE)
    redis_client.hset(store.paused_key, "main", "{}")
    assert store.claim(ONE, 0, NOW, LEASE) == -2
    redis_client.hdel(store.paused_key, "main")
    store.requeue(ONE)
    assert not redis_client.exists("lg:parked")
    assert hash_of(redis_client, store.key(ONE))["status"] == "queued"
    assert store.claim(ONE, dispatched(store, ONE, time.time()), NOW, LEASE) == 1


def test_wakes_coalesce_into_one_token(store: EventStore, redis_client: redis.Redis) -> None:
    """A dispatcher woken once dispatches everything due: more tokens would only wake it for nothing."""
    with redis_client.pipeline() as pipe:
        for _ in range(3):
            store.wake(pipe)
        assert not redis_client.exists(store.wake_key)  # queued on the caller's pipeline only
        pipe.execute()
    write_event(store, ONE, status="dead")
    write_event(store, TWO, status="dead")
    store.requeue(ONE)
    store.requeue(TWO)
    assert redis_client.lrange(store.wake_key, 0, -1) == [b"1"]


# -- purge ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("waiting", ["lg:dead", "lg:parked"])
def test_purge_drops_a_dead_letter_or_parked_event_for_good(
    store: EventStore, redis_client: redis.Redis, waiting: str
) -> None:
    queue_event(store, ONE)
    redis_client.zrem("lg:due", ONE)
    redis_client.zadd(waiting, {ONE: NOW})
    before = time.time()
    assert store.purge(ONE)
    stored = hash_of(redis_client, store.key(ONE))
    assert stored["status"] == "purged" and now_between(before, float(stored["updated_at"]))
    assert not redis_client.exists(waiting, "lg:backlog")
    assert ttl_is(redis_client, store.key(ONE), RETENTION_SECONDS)
    assert ttl_is(redis_client, store.payload_key(ONE), PAYLOAD_RETENTION_SECONDS)
    assert not store.purge(ONE)  # once


@pytest.mark.parametrize("status", ["queued", "delivered", "rejected"])
def test_purge_leaves_anything_else_alone(store: EventStore, redis_client: redis.Redis, status: str) -> None:
    write_event(store, ONE, status=status)
    before = hash_of(redis_client, store.key(ONE))
    assert not store.purge(ONE)
    assert not store.purge(TWO)
    assert hash_of(redis_client, store.key(ONE)) == before
    assert not redis_client.exists(store.key(TWO))


# -- the whole path ------------------------------------------------------------------------------------------------


def test_an_accepted_lead_goes_through_dispatch_claim_and_delivery(rt: Runtime) -> None:
    store = rt.store
    event_id = accept(rt, rt.config.sources["contact-us"], InboundEvent(raw=RAW), lead={"email": "a@b.co"}).event_id
    now = time.time()
    [(dispatched_id, dispatch)] = store.dispatch_due(now, now + 60)
    assert (dispatched_id, dispatch) == (event_id, 1)
    assert store.claim(event_id, dispatch, now, now + 100) == 1
    attempt = {"n": 1, "outcome": "delivered", "status_code": 201}
    fields = {"status": "delivered", "contact_id": "c-9", "delivered_at": now + 1, "last_status_code": 201}
    event = store.get(event_id)
    assert event is not None
    assert store.finish(
        event_id, dispatch, "delivered", attempt, fields, now=now + 1, destination="main", received_at=event.received_at
    )
    done = store.get(event_id)
    assert done is not None and (done.status, done.contact_id, done.attempts) == ("delivered", "c-9", 1)
    assert done.raw == RAW and done.lead == {"email": "a@b.co"} and done.delivered_at == now + 1
    assert store.attempts(event_id) == [attempt]
    assert store.due_count() == 0 and not rt.redis.exists(store.backlog_key, store.ready_key("main"))
    assert hash_of(rt.redis, "lg:m:counters") == {
        "received|contact-us": "1",
        "accepted|contact-us": "1",
        "delivered|main": "1",
    }
    assert encode_json(attempt) == rt.redis.lindex(store.payload_key(event_id), 1)
