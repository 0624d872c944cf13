"""``workers.outcomes``: a delivery ConnectGain accepted is recorded once Redis takes it, never sent again meanwhile."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import redis

from leadgate import defaults
from leadgate.config import Durability
from leadgate.runtime import Runtime
from tests.support.leads import accept_form
from tests.support.leads import claim_now
from workers.errors import TransientError
from workers.outcomes import record_delivered
from workers.outcomes import record_delivered_together
from workers.outcomes import record_sent


def test_a_refused_record_holds_the_rest_of_its_bulk_call_too(rt: Runtime) -> None:
    """One bulk call, three leads accepted: while the first one's record waits, none of their leases may run out."""
    ids = [accept_form(rt, {"email": f"bulk{n}@example.com"}).event_id for n in range(3)]
    for event_id in ids:
        claim_now(rt, event_id)
    assert all(rt.redis.zscore(rt.store.due_key, event_id) for event_id in ids)  # their leases' deadlines
    refusals = iter([redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'")])
    slept: list[float] = []
    writes: list[int] = []

    def write() -> None:
        writes.append(1)
        error = next(refusals, None)
        if error is not None:
            raise error

    record_sent(rt, ids[0], write, sleep=slept.append, also_hold=ids[1:])
    assert [rt.redis.zscore(rt.store.due_key, event_id) for event_id in ids] == [None, None, None]
    assert len(writes) == 2 and slept == []  # refused, held, then taken at the first retry
    assert rt.store.dispatch_due(time.time() + 3600, time.time() + 3660) == []  # no lease left to run out


def test_a_record_redis_takes_at_once_holds_nothing(rt: Runtime) -> None:
    ids = [accept_form(rt, {"email": f"bulk{n}@example.com"}).event_id for n in range(2)]
    for event_id in ids:
        claim_now(rt, event_id)
    record_sent(rt, ids[0], lambda: None, also_hold=ids[1:])
    assert rt.redis.zscore(rt.store.due_key, ids[1]) is not None  # its own record will take it off


def test_a_bulk_calls_leads_are_recorded_together_and_a_full_redis_delays_their_records_never_loses_them(
    rt: Runtime,
) -> None:
    """The leads one bulk call delivered go to Redis in one pipeline; while Redis is full (``maxmemory``,
    ``noeviction``: every record refused) they are held, then each is recorded once, when it has room."""
    ids = [accept_form(rt, {"email": f"together{n}@example.com"}).event_id for n in range(3)]
    dispatches = [claim_now(rt, event_id)[0] for event_id in ids]
    delivered = [
        (rt.store.get(event_id), dispatch, {"n": 1, "at": time.time(), "status_code": 200}, f"c{n}")
        for n, (event_id, dispatch) in enumerate(zip(ids, dispatches, strict=True))
    ]
    policy, limit = rt.redis.config_get("maxmemory-policy")["maxmemory-policy"], rt.redis.config_get("maxmemory")
    rt.redis.config_set("maxmemory-policy", "noeviction")
    rt.redis.config_set("maxmemory", 1)  # every write refused
    held_while_full: list[tuple[bool, list[float | None]]] = []
    recorded = threading.Event()

    def free_memory() -> None:
        held_while_full.append((recorded.is_set(), [rt.redis.zscore(rt.store.due_key, e) for e in ids]))
        rt.redis.config_set("maxmemory", limit["maxmemory"])

    timer = threading.Timer(0.6, free_memory)
    timer.start()
    try:
        record_delivered_together(rt, delivered, time.time())  # type: ignore[arg-type]
        recorded.set()
    finally:
        timer.join()
        rt.redis.config_set("maxmemory", limit["maxmemory"])
        rt.redis.config_set("maxmemory-policy", policy)
    assert held_while_full == [(False, [None, None, None])]  # still waiting for room, and out of the due set
    for n, event_id in enumerate(ids):
        event = rt.store.get(event_id)
        assert (event.status, event.contact_id) == ("delivered", f"c{n}")
        assert [a["outcome"] for a in rt.store.attempts(event_id)] == ["delivered"]


def test_leads_recorded_together_each_get_their_own_record(rt: Runtime) -> None:
    ids = [accept_form(rt, {"email": f"pipe{n}@example.com"}).event_id for n in range(4)]
    delivered = [
        (rt.store.get(event_id), claim_now(rt, event_id)[0], {"n": 1, "at": time.time(), "status_code": 200}, f"k{n}")
        for n, event_id in enumerate(ids)
    ]
    record_delivered_together(rt, delivered, time.time())  # type: ignore[arg-type]
    assert [rt.store.get(event_id).contact_id for event_id in ids] == ["k0", "k1", "k2", "k3"]
    assert rt.store.dispatch_due(time.time() + 3600, time.time() + 3660) == []


def test_with_replicated_durability_a_record_counts_once_a_replica_has_it(rt: Runtime, monkeypatch) -> None:
    """A record the master took but no replica confirmed can vanish in a failover, and its lease would then
    send the lead again: under ``durability: replicated`` it is held and retried like a refused one."""
    replicated = dataclasses.replace(rt.config, durability=Durability("replicated", 1, 20))  # this Redis has none
    strict = Runtime.from_config(replicated, client=rt.redis)
    monkeypatch.setattr(defaults, "RECORD_TRIES", 2)
    monkeypatch.setattr(defaults, "RECORD_BACKOFF_SECONDS", (0.01, 0.01))
    ids = [accept_form(rt, {"email": f"wait{n}@example.com"}).event_id for n in range(3)]
    dispatches = [claim_now(rt, event_id)[0] for event_id in ids]
    attempt = {"n": 1, "at": time.time(), "status_code": 200}
    single = rt.store.get(ids[0])
    with pytest.raises(TransientError, match="0 of 1 replicas"):
        record_delivered(strict, single, dispatches[0], dict(attempt), time.time(), "c0")
    bulk = [(rt.store.get(i), d, dict(attempt), f"c{i}") for i, d in zip(ids[1:], dispatches[1:], strict=True)]
    with pytest.raises(TransientError, match="0 of 1 replicas"):
        record_delivered_together(strict, bulk, time.time())  # type: ignore[arg-type]
    assert [rt.redis.zscore(rt.store.due_key, event_id) for event_id in ids] == [None, None, None]  # held
    record_delivered_together(rt, bulk, time.time())  # type: ignore[arg-type]  # durability: master takes it at once
