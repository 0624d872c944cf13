"""Every key a script touches is one it was given (the rule of Redis Cluster and Dragonfly), checked.

The unit tests' Redis client guards every script it registers (:mod:`tests.support.declared_keys`), so
all of tests/leadgate and tests/workers check the rule as they run the store's scripts; here the guard
itself is shown to catch an undeclared key, and one flow runs every script leadgate has.
"""

from __future__ import annotations

import time

import pytest
import redis

from leadgate import intake
from leadgate.runtime import Runtime
from tests.support.declared_keys import GUARD
from tests.support.declared_keys import DeclaredKeysRedis
from tests.support.leads import accept_form
from workers import batch


def test_the_guard_refuses_a_key_the_script_was_not_given(redis_client: redis.Redis) -> None:
    assert isinstance(redis_client, DeclaredKeysRedis)
    script = redis_client.register_script("redis.call('SET', KEYS[1], 1); return redis.call('GET', 'lg:elsewhere')")
    with pytest.raises(redis.ResponseError, match="undeclared key lg:elsewhere in GET"):
        script(keys=["lg:here"])
    assert redis_client.register_script("return redis.call('INCR', KEYS[1])")(keys=["lg:here"]) == 2


def test_every_script_of_the_store_and_the_workers_runs_under_the_guard(rt: Runtime) -> None:
    """Intake (new, duplicate of an existing and of a purged event), dispatch, claim, bulk claim and its
    job clean-up, finish (dead, delivered) and purge: each script at least once, on the guarded client."""
    assert isinstance(rt.redis, DeclaredKeysRedis)
    source = rt.config.sources["contact-us"]
    first = accept_form(rt, {"email": "ada@example.com"})
    again = accept_form(rt, {"email": "ada@example.com"})  # the body claim: its event's status is checked
    assert again.duplicate and again.event_id == first.event_id
    others = [accept_form(rt, {"email": f"lead{n}@example.com"}).event_id for n in range(3)]
    now = time.time()
    dispatched = dict(rt.store.dispatch_due(now, now + 5))
    assert set(dispatched) == {first.event_id, *others}
    assert rt.store.claim(first.event_id, dispatched[first.event_id], now, now + 30) == 1
    taken = rt.store.claim_ready(source.destination, 10, now, now + 30, now + 5)
    assert {event_id for event_id, *_ in taken} == set(others)
    batch._drop_superseded_jobs(rt, taken)
    attempt = {"n": 1, "at": now}
    assert rt.store.finish(first.event_id, dispatched[first.event_id], "dead", attempt, {"status": "dead"})
    for event_id, dispatch, _, _ in taken:
        assert rt.store.finish(event_id, dispatch, "delivered", attempt, {"status": "delivered"}, destination="main")
    assert rt.store.purge(first.event_id)
    fresh = accept_form(rt, {"email": "ada@example.com"})  # the claim's event was purged: sent afresh
    assert not fresh.duplicate
    store = rt.store
    registered = [store._claim, store._dispatch, store._finish, store._purge, store._claim_ready]
    registered += [intake._scripts[rt.redis], batch._scripts[rt.redis]]
    assert all(script.script.startswith(GUARD) for script in registered)
