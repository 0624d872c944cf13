"""The event store against a real Redis: field encoding, what ``write_new`` writes, reads, paging, retention."""

from __future__ import annotations

import json
import re
import time
from typing import cast

import pytest
import redis

from leadgate import lifecycle
from leadgate.events import CLAIMABLE
from leadgate.events import EXPIRING
from leadgate.events import FINAL
from leadgate.events import PARKED
from leadgate.events import STATUSES
from leadgate.events import Event
from leadgate.events import EventStore
from leadgate.events import encode_fields
from leadgate.events import encode_payloads
from leadgate.events import is_event_id
from leadgate.events import new_event_id
from leadgate.intake import accept
from leadgate.model import InboundEvent
from leadgate.payloads import decode_json
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

ONE, TWO, THREE = eid(1), eid(2), eid(3)


@pytest.fixture
def store(redis_client: redis.Redis) -> EventStore:
    return make_store(redis_client)


def keys(client: redis.Redis) -> set[str]:
    return {key.decode() for key in cast(list[bytes], client.keys("*"))}


def ids(pairs: list[tuple[float, Event]]) -> list[tuple[float, str]]:
    return [(score, event.id) for score, event in pairs]


# -- statuses ----------------------------------------------------------------------------------------------------


def test_status_groups_are_consistent_with_each_other() -> None:
    """A status both final and claimable (or parked and final) would be delivered twice or never."""
    assert FINAL | PARKED | CLAIMABLE == set(STATUSES)
    assert not FINAL & CLAIMABLE and not FINAL & PARKED and not PARKED & CLAIMABLE
    assert EXPIRING == FINAL - {"dead"}  # a dead letter waits for an operator
    assert CLAIMABLE is lifecycle.CLAIMABLE


# -- ids -----------------------------------------------------------------------------------------------------------


def test_event_ids_carry_their_millisecond_and_sort_by_time() -> None:
    first = new_event_id(1_700_000_000.001)
    assert re.fullmatch(r"ev_[0-9a-f]{24}", first) and is_event_id(first)
    assert int(first[3:15], 16) == 1_700_000_000_001
    assert first < new_event_id(1_700_000_000.002) < new_event_id(1_800_000_000.0)
    assert len({new_event_id(1_700_000_000.001) for _ in range(50)}) == 50  # same millisecond, still unique


@pytest.mark.parametrize(
    "text", ["", "ev_", "ev_x", "ev_" + "A" * 24, "ev_" + "0" * 23, "ev_" + "0" * 25, f"{ONE}:attempts", f" {ONE}"]
)
def test_anything_else_is_not_an_event_id_and_reads_as_no_event(
    store: EventStore, redis_client: redis.Redis, text: str
) -> None:
    """A key-shaped id (``<id>:attempts``) must not read another key of the event as if it were one."""
    write_event(store, ONE)
    redis_client.hset(store.key(text), "status", "queued")
    assert not is_event_id(text)
    assert store.get(text) is None


# -- encoding ------------------------------------------------------------------------------------------------------


def test_encode_fields_flattens_summary_fields_to_short_text() -> None:
    encoded = encode_fields(
        {
            "batchable": True,
            "other_flag": False,
            "attempts": 3,
            "received_at": 1_700_000_000.123456,
            "updated_at": 2.0,
            "next_attempt_at": None,
            "last_error": "",
            "contact_id": "c-1",
        }
    )
    assert encoded == {
        "batchable": "1",
        "other_flag": "0",
        "attempts": "3",
        "received_at": "1700000000.123456",  # repr: reads back as the same float
        "updated_at": "2.0",
        "next_attempt_at": "",
        "last_error": "",
        "contact_id": "c-1",
    }


@pytest.mark.parametrize("name", ["raw", "lead", "request", "dedupe_keys"])
def test_encode_fields_refuses_a_payload_field(name: str) -> None:
    """A payload in the summary hash would make Redis drop its compact encoding for every event."""
    with pytest.raises(ValueError, match=name):
        encode_fields({"status": "queued", name: None})


def test_the_store_encodes_with_encode_fields(store: EventStore) -> None:
    assert store.encode({"batchable": False, "attempts": 1}) == {"batchable": "0", "attempts": "1"}


def test_encode_payloads_packs_exactly_the_four_payload_fields() -> None:
    blob = encode_payloads({"raw": {"fields": [["name", "Zoë"]]}, "lead": None, "status": "queued"})
    assert blob.startswith(b"\x001")
    assert decode_json(blob) == {
        "raw": {"fields": [["name", "Zoë"]]},
        "lead": None,
        "request": None,
        "dedupe_keys": None,
    }


def test_from_hash_decodes_summary_and_payload_blob() -> None:
    data = {
        b"source": b"contact-us",
        b"status": b"retrying",
        b"received_at": b"1700000000.5",
        b"next_attempt_at": b"1700000060.25",
        b"attempts": b"2",
        b"batchable": b"1",
        b"deal_id": b"d-9",
    }
    blob = encode_json({"raw": RAW, "lead": {"email": "x"}, "request": {"method": "POST"}, "dedupe_keys": ["lg-1"]})
    event = Event.from_hash(ONE, data, blob)
    assert event == Event(
        id=ONE,
        source="contact-us",
        status="retrying",
        received_at=1_700_000_000.5,
        updated_at=1_700_000_000.5,  # not stored while it equals received_at
        next_attempt_at=1_700_000_060.25,
        attempts=2,
        raw=RAW,
        lead={"email": "x"},
        request={"method": "POST"},
        dedupe_keys=["lg-1"],
        extra={"batchable": "1", "deal_id": "d-9"},
        has_payloads=True,
    )
    assert Event.from_hash(ONE, {k.decode(): v.decode() for k, v in data.items()}, blob) == event  # text keys too


def test_from_hash_fills_defaults_for_fields_not_stored() -> None:
    event = Event.from_hash(ONE, {b"status": b"delivered", b"received_at": b"10.0", b"updated_at": b"12.5"}, None)
    assert (event.delivered_at, event.updated_at) == (0.0, 12.5)  # delivered_at is stored, never derived
    assert (event.attempts, event.last_status_code, event.last_error, event.lease_until) == (0, 0, "", 0.0)
    assert (event.raw, event.lead, event.request, event.dedupe_keys) == (None, None, None, None)
    assert event.has_payloads is False  # only the summary is left
    queued = Event.from_hash(ONE, {b"status": b"queued", b"received_at": b"10.0", b"updated_at": b"12.5"})
    assert queued.delivered_at == 0.0


def test_from_hash_reads_payloads_kept_in_the_hash_before_compaction() -> None:
    legacy = Event.from_hash(ONE, {"status": "dead", "raw": '{"fields":[]}', "lead": "", "dedupe_keys": '["a"]'})
    assert (legacy.raw, legacy.lead, legacy.dedupe_keys) == ({"fields": []}, None, ["a"])
    assert legacy.has_payloads is True
    only_keys = Event.from_hash(ONE, {"status": "dead", "dedupe_keys": '["a"]'})
    assert only_keys.dedupe_keys == ["a"] and only_keys.has_payloads is False  # dedupe keys alone replay nothing


def test_a_stored_id_field_cannot_override_the_event_id() -> None:
    event = Event.from_hash(ONE, {"id": TWO, "status": "queued", "has_payloads": "0"}, encode_json({"raw": {}}))
    assert event.id == ONE and event.has_payloads is True
    assert event.extra == {"id": TWO, "has_payloads": "0"}


def test_summary_shows_no_payloads_and_unset_values_as_none() -> None:
    bare = Event(id=ONE, source="s", status="queued", received_at=5.0, updated_at=6.0, lead={"email": "x"})
    assert bare.summary() == {
        "id": ONE,
        "source": "s",
        "status": "queued",
        "attempts": 0,
        "last_error": "",
        "last_status_code": None,
        "contact_id": None,
        "received_at": 5.0,
        "updated_at": 6.0,
        "next_attempt_at": None,
        "delivered_at": None,
        "duplicate_of": None,
        "held_by": None,
        "lease_until": None,
    }
    full = Event(id=TWO, last_status_code=201, contact_id="c1", next_attempt_at=7.0, delivered_at=8.0, duplicate_of=ONE)
    summary = full.summary()
    assert (summary["last_status_code"], summary["contact_id"], summary["duplicate_of"]) == (201, "c1", ONE)
    assert (summary["next_attempt_at"], summary["delivered_at"]) == (7.0, 8.0)


def test_summary_names_the_claim_holder_only_while_delivering() -> None:
    """A claim's holder and lease stay in the hash after a retry is scheduled: they mean nothing then."""
    claim = {"held_by": "web-1:4242", "lease_until": 99.0}
    delivering = Event(id=ONE, status="delivering", **claim).summary()
    assert {k: delivering[k] for k in claim} == claim
    retrying = Event(id=ONE, status="retrying", **claim).summary()
    assert {k: retrying[k] for k in claim} == {"held_by": None, "lease_until": None}


# -- write_new -----------------------------------------------------------------------------------------------------


def test_a_queued_lead_gets_its_summary_payloads_indexes_and_due_and_backlog_entries(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_event(store, ONE, due_at=RECEIVED_AT + 1, request={"method": "POST"}, dedupe_keys=["lg-1"])
    assert keys(redis_client) == {
        f"lg:ev:{ONE}",
        f"lg:ev:{ONE}:payload",
        "lg:events",
        "lg:events:src:contact-us",
        "lg:due",
        "lg:backlog",
    }
    assert hash_of(redis_client, f"lg:ev:{ONE}") == {  # no payloads, no empty fields, no updated_at yet
        "source": "contact-us",
        "kind": "form",
        "destination": "main",
        "status": "queued",
        "received_at": "1700000000.25",
        "attempts": "0",
        "dispatch": "0",
        "batchable": "0",
    }
    assert payload_list(redis_client, store, ONE) == [
        {"raw": RAW, "lead": {"email": "lead@example.com"}, "request": {"method": "POST"}, "dedupe_keys": ["lg-1"]}
    ]
    assert members(redis_client, "lg:events") == {ONE: RECEIVED_AT}
    assert members(redis_client, "lg:events:src:contact-us") == {ONE: RECEIVED_AT}
    assert members(redis_client, "lg:due") == {ONE: RECEIVED_AT + 1}
    assert members(redis_client, "lg:backlog") == {ONE: RECEIVED_AT}  # by receipt, not by due time
    assert redis_client.ttl(f"lg:ev:{ONE}") == -1 and redis_client.ttl(f"lg:ev:{ONE}:payload") == -1


def test_the_hash_and_the_index_agree_on_the_receipt_time(store: EventStore, redis_client: redis.Redis) -> None:
    """A cursor built from an event's ``received_at`` must name its exact place in the index."""
    write_event(store, ONE, received_at=1_700_000_000.123456, updated_at=1_700_000_000.9)
    assert members(redis_client, "lg:events") == {ONE: 1_700_000_000.123456}
    event = store.get(ONE)
    assert event is not None
    assert (event.received_at, event.updated_at) == (1_700_000_000.123456, 1_700_000_000.9)


def test_a_batchable_lead_joins_its_destinations_ready_set(store: EventStore, redis_client: redis.Redis) -> None:
    queue_event(store, ONE, destination="eu", batchable=True)
    assert members(redis_client, "lg:ready:eu") == {ONE: RECEIVED_AT}
    assert hash_of(redis_client, store.key(ONE))["batchable"] == "1"
    assert not redis_client.exists("lg:ready:main")


@pytest.mark.parametrize("status", sorted(EXPIRING))
def test_events_final_on_arrival_are_history_that_expires(
    store: EventStore, redis_client: redis.Redis, status: str
) -> None:
    """The payloads go first (payload_retention_days), the summary later (retention_days)."""
    write_event(store, ONE, status=status, batchable=True, lease_until=5.0, next_attempt_at=6.0, duplicate_of=TWO)
    assert keys(redis_client) == {f"lg:ev:{ONE}", f"lg:ev:{ONE}:payload", "lg:events", "lg:events:src:contact-us"}
    assert ttl_is(redis_client, store.key(ONE), RETENTION_SECONDS)
    assert ttl_is(redis_client, store.payload_key(ONE), PAYLOAD_RETENTION_SECONDS)
    stored = hash_of(redis_client, store.key(ONE))
    assert not {"batchable", "lease_until", "next_attempt_at"} & set(stored)  # meaningless once final
    assert (stored["status"], stored["duplicate_of"]) == (status, TWO)


def test_payloads_never_outlive_the_summary(redis_client: redis.Redis) -> None:
    store = make_store(redis_client, retention_days=1, payload_retention_days=7)
    write_event(store, ONE, status="spam")
    assert ttl_is(redis_client, store.payload_key(ONE), 86400)


def test_an_event_written_dead_is_a_dead_letter_that_does_not_expire(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_event(store, ONE, status="dead", received_at=42.5)
    assert members(redis_client, "lg:dead") == {ONE: 42.5}
    assert redis_client.ttl(store.key(ONE)) == -1 and redis_client.ttl(store.payload_key(ONE)) == -1
    assert not redis_client.exists("lg:due", "lg:backlog")
    assert [e.id for e in store.dead_letters()] == [ONE]


def test_write_new_only_queues_commands_on_the_callers_transaction(
    store: EventStore, redis_client: redis.Redis
) -> None:
    """Intake runs these writes inside its dedupe script: nothing may reach Redis on the side."""
    with redis_client.pipeline() as pipe:
        pipe.multi()
        store.write_new(pipe, ONE, {"source": "s", "status": "delivered", "received_at": 1.0}, due_at=None)
        assert keys(redis_client) == set()
        assert [args[0] for args, _ in pipe.command_stack] == ["HSET", "RPUSH", "ZADD", "ZADD", "EXPIRE", "EXPIRE"]
        pipe.execute()
    assert keys(redis_client) == {f"lg:ev:{ONE}", f"lg:ev:{ONE}:payload", "lg:events", "lg:events:src:s"}


def test_what_accept_stores_reads_back_as_an_event(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    raw = {"fields": [["email", "ann@example.com"]]}
    before = time.time()
    event_id = accept(rt, source, InboundEvent(raw=raw), lead={"email": "ann@example.com"}).event_id
    event = rt.store.get(event_id)
    assert event is not None and event.id == event_id and is_event_id(event_id)
    assert (event.source, event.kind, event.destination, event.status) == ("contact-us", "form", "main", "queued")
    assert event.raw == raw and event.lead == {"email": "ann@example.com"} and event.dedupe_keys == []
    assert event.request is None and event.attempts == 0 and event.dispatch == 0 and event.has_payloads
    assert now_between(before, event.received_at) and event.updated_at == event.received_at
    assert event.extra == {"batchable": "1"}
    assert rt.redis.zscore(rt.store.due_key, event_id) == pytest.approx(event.received_at, abs=0.001)
    assert rt.store.due_count() == 1


# -- update --------------------------------------------------------------------------------------------------------


def test_update_sets_and_removes_summary_fields_and_stamps_updated_at(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_event(store, ONE, status="delivered", last_error="old", contact_id="c1")
    untouched = hash_of(redis_client, store.key(ONE))
    blob = redis_client.lrange(store.payload_key(ONE), 0, -1)
    before = time.time()
    store.update(ONE, last_error=None, contact_id="", last_status_code=201, batchable=False, updated_at=1.0)
    after = hash_of(redis_client, store.key(ONE))
    assert "last_error" not in after and "contact_id" not in after  # '' and None remove a field
    assert (after["last_status_code"], after["batchable"]) == ("201", "0")
    assert now_between(before, float(after["updated_at"]))  # the store's clock, not the caller's
    changed = {"last_error", "contact_id", "last_status_code", "batchable", "updated_at"}
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in untouched.items() if k not in changed
    }
    assert redis_client.lrange(store.payload_key(ONE), 0, -1) == blob  # no payload field: the blob is not rewritten
    assert ttl_is(redis_client, store.key(ONE), RETENTION_SECONDS)  # an update keeps the record's expiry
    assert members(redis_client, "lg:events") == {ONE: RECEIVED_AT}


def test_update_merges_payload_fields_into_the_blob_and_keeps_the_attempts_after_it(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_event(store, ONE, request={"method": "POST"}, dedupe_keys=["k"])
    redis_client.rpush(store.payload_key(ONE), encode_json({"n": 1, "outcome": "retry"}))
    store.update(ONE, lead={"email": "new@example.com"}, batchable=True)
    assert payload_list(redis_client, store, ONE) == [
        {"raw": RAW, "lead": {"email": "new@example.com"}, "request": {"method": "POST"}, "dedupe_keys": ["k"]},
        {"n": 1, "outcome": "retry"},
    ]
    assert hash_of(redis_client, store.key(ONE))["batchable"] == "1"
    event = store.get(ONE)
    assert event is not None and event.lead == {"email": "new@example.com"} and event.raw == RAW


def test_updating_a_pre_compaction_event_moves_its_payloads_out_of_the_hash(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_legacy_event(redis_client, store, ONE, status="dead", dedupe_keys=["k"])
    store.update(ONE, lead={"email": "fixed@example.com"})
    stored = hash_of(redis_client, store.key(ONE))
    assert not {"raw", "lead", "request", "dedupe_keys"} & set(stored)
    assert stored["status"] == "dead"
    assert payload_list(redis_client, store, ONE) == [
        {"raw": RAW, "lead": {"email": "fixed@example.com"}, "request": None, "dedupe_keys": ["k"]}
    ]


def test_an_update_after_delivery_keeps_the_delivery_time(store: EventStore, redis_client: redis.Redis) -> None:
    """Reached by a forced replay of a delivered event whose re-normalization fails (operations.replay_event)."""
    queue_event(store, ONE)
    [(_, dispatch)] = store.dispatch_due(RECEIVED_AT + 1, RECEIVED_AT + 61)
    assert store.claim(ONE, dispatch, RECEIVED_AT + 1, RECEIVED_AT + 61) == 1
    fields = {"status": "delivered", "contact_id": "c1", "delivered_at": RECEIVED_AT + 2}
    assert store.finish(ONE, dispatch, "delivered", {"n": 1}, fields, now=RECEIVED_AT + 2)
    assert store.get(ONE).delivered_at == RECEIVED_AT + 2  # type: ignore[union-attr]
    store.update(ONE, last_error="replay: no contact field")
    assert store.get(ONE).delivered_at == RECEIVED_AT + 2  # type: ignore[union-attr]


# -- get, get_many, attempts ---------------------------------------------------------------------------------------


def test_get_answers_none_for_a_missing_event(store: EventStore) -> None:
    assert store.get(ONE) is None


def test_get_many_keeps_the_order_asked_and_skips_missing_events(store: EventStore) -> None:
    for event_id in (ONE, TWO, THREE):
        write_event(store, event_id)
    assert [e.id for e in store.get_many([THREE, eid(99), ONE, TWO])] == [THREE, ONE, TWO]
    assert all(e.raw == RAW and e.has_payloads for e in store.get_many([ONE, TWO]))
    assert store.get_many([]) == []


def test_attempts_read_the_old_list_then_the_payload_list_in_order(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_event(store, ONE)
    redis_client.rpush(store.payload_key(ONE), encode_json({"n": 2}), encode_json({"n": 3}))
    redis_client.rpush(store.attempts_key(ONE), json.dumps({"n": 1, "outcome": "retry"}))  # plain JSON, pre-compaction
    assert store.attempts(ONE) == [{"n": 1, "outcome": "retry"}, {"n": 2}, {"n": 3}]
    assert store.first_attempts([ONE]) == {ONE: {"n": 1, "outcome": "retry"}}
    redis_client.delete(store.attempts_key(ONE))
    assert store.first_attempts([ONE, TWO]) == {ONE: {"n": 2}}  # the blob is item 0, not an attempt
    write_event(store, TWO)
    assert store.attempts(TWO) == [] and store.first_attempts([TWO]) == {}


# -- iter_index and recent: newest first, ties, cursors ------------------------------------------------------------


@pytest.fixture
def tied(store: EventStore) -> list[tuple[float, str]]:
    """Seven events, three and two of them sharing a receipt time; returns the exact newest-first order."""
    for n, at in [(1, 10.0), (2, 20.0), (6, 20.0), (4, 20.0), (8, 30.5), (9, 30.5), (10, 40.0)]:
        write_event(store, eid(n), received_at=at, status="delivered")
    return [(at, eid(n)) for n, at in [(10, 40.0), (9, 30.5), (8, 30.5), (6, 20.0), (4, 20.0), (2, 20.0), (1, 10.0)]]


@pytest.mark.parametrize("batch", [1, 2, 3, 200])
def test_iter_index_yields_newest_first_and_ties_by_descending_id_whatever_the_batch(
    store: EventStore, tied: list[tuple[float, str]], batch: int
) -> None:
    """Small batches cut tie groups at every place; each event must still come exactly once."""
    assert ids(list(store.iter_index(batch=batch))) == tied


@pytest.mark.parametrize("batch", [1, 2, 200])
def test_a_cursor_at_any_position_resumes_just_past_it(
    store: EventStore, tied: list[tuple[float, str]], batch: int
) -> None:
    for position, after in enumerate(tied):
        assert ids(list(store.iter_index(after=after, batch=batch))) == tied[position + 1 :], after


def test_a_cursor_whose_event_is_gone_still_resumes_in_place(store: EventStore, tied: list[tuple[float, str]]) -> None:
    """An id between two tied ids, or a time between two events, that is not in the index at all."""
    assert ids(list(store.iter_index(after=(20.0, eid(5))))) == tied[4:]
    assert ids(list(store.iter_index(after=(25.0, eid(99))))) == tied[3:]
    assert ids(list(store.iter_index(after=(99.0, "")))) == tied
    assert list(store.iter_index(after=(5.0, eid(99)))) == []


def test_paging_with_cursors_reads_everything_once(store: EventStore, tied: list[tuple[float, str]]) -> None:
    seen: list[tuple[float, str]] = []
    after: tuple[float, str] | None = None
    while True:
        page = []
        for score, event in store.iter_index(after=after, batch=2):
            page.append((score, event.id))
            if len(page) == 3:
                break
        if not page:
            break
        seen += page
        after = page[-1]
    assert seen == tied


def test_iter_index_skips_expired_records_even_a_whole_batch_of_them(
    store: EventStore, redis_client: redis.Redis, tied: list[tuple[float, str]]
) -> None:
    """The cursor must move on from index entries, not from the events found, or it would stop or loop."""
    redis_client.delete(store.key(eid(10)), store.key(eid(9)), store.key(eid(8)), store.key(eid(4)))
    assert ids(list(store.iter_index(batch=2))) == [(20.0, eid(6)), (20.0, eid(2)), (10.0, eid(1))]
    assert ids(list(store.iter_index(batch=1, after=(20.0, eid(6))))) == [(20.0, eid(2)), (10.0, eid(1))]


def test_iter_index_by_source_reads_that_sources_index(store: EventStore, redis_client: redis.Redis) -> None:
    write_event(store, ONE, source="landing", received_at=1.0)
    write_event(store, TWO, source="contact-us", received_at=2.0)
    write_event(store, THREE, source="landing", received_at=3.0)
    assert members(redis_client, "lg:events:src:landing") == {ONE: 1.0, THREE: 3.0}
    assert ids(list(store.iter_index("landing"))) == [(3.0, THREE), (1.0, ONE)]
    assert ids(list(store.iter_index("landing", after=(3.0, THREE)))) == [(1.0, ONE)]
    assert list(store.iter_index("nobody")) == []
    redis_client.zadd(store.source_index_key("landing"), {TWO: 2.0})
    assert [e.id for _, e in store.iter_index("landing")] == [THREE, TWO, ONE]  # the index decides, not the record


def test_recent_filters_by_source_and_status_and_counts_only_matches(store: EventStore) -> None:
    for n, (source, status) in enumerate(
        [("landing", "dead"), ("contact-us", "dead"), ("landing", "queued"), ("landing", "dead"), ("landing", "dead")]
    ):
        write_event(store, eid(n), received_at=float(n), source=source, status=status)
    assert [e.id for e in store.recent()] == [eid(4), eid(3), eid(2), eid(1), eid(0)]
    assert [e.id for e in store.recent(limit=2)] == [eid(4), eid(3)]
    assert [e.id for e in store.recent(status="dead", limit=3)] == [eid(4), eid(3), eid(1)]
    assert [e.id for e in store.recent(source="landing", status="dead", limit=3)] == [eid(4), eid(3), eid(0)]
    assert [e.id for e in store.recent(source="landing", status="queued")] == [eid(2)]
    assert store.recent(status="spam") == []


def test_recent_with_a_limit_of_zero_returns_nothing(store: EventStore) -> None:
    """``leadgate events --limit 0`` passes the limit straight through."""
    write_event(store, ONE)
    assert store.recent(limit=0) == []


# -- dead letters, due count, counts by status ---------------------------------------------------------------------


def test_dead_letters_come_newest_first_and_filter_by_source(store: EventStore, redis_client: redis.Redis) -> None:
    write_event(store, THREE, status="dead", received_at=3.0)
    write_event(store, ONE, status="dead", received_at=1.0, source="landing")
    write_event(store, TWO, status="dead", received_at=2.0)
    assert [e.id for e in store.dead_letters()] == [THREE, TWO, ONE]
    assert [e.id for e in store.dead_letters("contact-us")] == [THREE, TWO]
    redis_client.delete(store.key(TWO))
    assert [e.id for e in store.dead_letters()] == [THREE, ONE]


def test_due_count_is_the_size_of_the_due_set(store: EventStore) -> None:
    assert store.due_count() == 0
    queue_event(store, ONE)
    queue_event(store, TWO)
    write_event(store, THREE, status="spam")
    assert store.due_count() == 2


def test_count_by_status_counts_live_records_received_since(store: EventStore, redis_client: redis.Redis) -> None:
    for n, status in enumerate(["delivered", "dead", "delivered", "queued", "delivered", "spam"]):
        write_event(store, eid(n), received_at=100.0 + n, status=status, source="landing" if n == 4 else "c")
    redis_client.delete(store.key(eid(5)))  # expired: its index entry stays, it is not counted
    assert store.count_by_status() == {"delivered": 3, "dead": 1, "queued": 1}
    assert store.count_by_status(since=102.0, chunk=2) == {"delivered": 2, "queued": 1}  # since is inclusive
    assert store.count_by_status("landing") == {"delivered": 1}
    assert store.count_by_status(since=200.0) == {}


# -- retention -----------------------------------------------------------------------------------------------------


def test_trim_history_drops_index_entries_past_retention_in_every_index(
    store: EventStore, redis_client: redis.Redis
) -> None:
    now = 10_000_000.0
    cutoff = now - RETENTION_SECONDS
    write_event(store, ONE, received_at=cutoff - 1, source="a", status="dead")
    write_event(store, TWO, received_at=cutoff, source="b", status="dead")
    write_event(store, THREE, received_at=cutoff + 0.5, source="a", status="dead")
    assert store.trim_history(now) == 4  # two events, each in the global index and its source's
    assert members(redis_client, "lg:events") == {THREE: cutoff + 0.5}
    assert members(redis_client, "lg:events:src:a") == {THREE: cutoff + 0.5}
    assert not redis_client.exists("lg:events:src:b")
    assert redis_client.exists(store.key(ONE), store.key(TWO)) == 2  # records are not deleted by it
    assert store.trim_history(now) == 0


def test_trim_history_uses_the_clock_by_default(store: EventStore, redis_client: redis.Redis) -> None:
    write_event(store, ONE, received_at=time.time() - RETENTION_SECONDS - 60)
    write_event(store, TWO, received_at=time.time() - RETENTION_SECONDS + 60)
    assert store.trim_history() == 2
    assert list(members(redis_client, "lg:events")) == [TWO]


def test_an_entry_whose_record_expired_early_is_skipped_until_it_ages_out(
    store: EventStore, redis_client: redis.Redis
) -> None:
    write_event(store, ONE, received_at=time.time() - 60)
    redis_client.delete(store.key(ONE))  # as if its TTL (set under an older, shorter retention) ran out
    assert store.trim_history() == 0 and ONE in members(redis_client, "lg:events")
    assert store.recent() == []
    assert store.trim_history(now=time.time() + store.retention_seconds) == 2  # the index and its source's
