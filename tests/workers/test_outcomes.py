"""``workers.outcomes``: a delivery ConnectGain accepted is recorded once Redis takes it, never sent again meanwhile."""

from __future__ import annotations

import time

import redis

from leadgate.runtime import Runtime
from tests.support.leads import accept_form
from tests.support.leads import claim_now
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
