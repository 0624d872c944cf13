"""Calls in flight: a worker keeps up to ``delivery.calls_in_flight`` ConnectGain calls out at once.

The sender pool on its own (real threads), then real ``leadgate worker`` processes against the
sandbox CRM: the calls overlap up to the bound and never beyond it, a lead that arrives while every
sender is busy travels in the next bulk call, and a warm shutdown lets the calls out finish.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.support.stack import Stack
from tests.support.stack import wait_until
from workers.inflight import CallSlots

WAIT = 5.0
"""Upper bound for anything a test waits on in this file; the waits end as soon as their condition holds."""


def blocks_until(release: threading.Event, call: Callable[..., Any], *args: Any) -> None:
    """Asserts that ``call(*args)`` waits while both senders are busy, and returns once ``release`` frees them."""
    caller = threading.Thread(target=call, args=args)
    caller.start()
    caller.join(0.2)
    assert caller.is_alive(), f"{call.__name__} returned while every sender was busy"
    release.set()
    caller.join(WAIT)
    assert not caller.is_alive(), f"{call.__name__} still waits with the senders free"


@pytest.fixture
def slots():
    pool = CallSlots(2, name="test-sender")
    yield pool
    pool.close()


def test_no_more_than_size_tasks_run_at_once_and_submit_waits_for_a_free_sender(slots: CallSlots) -> None:
    release = threading.Event()
    running: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def task(n: int) -> None:
        with lock:
            running.append(n)
            peak[0] = max(peak[0], len(running))
        release.wait(WAIT)
        with lock:
            running.remove(n)

    slots.submit(task, 1)
    slots.submit(task, 2)
    wait_until(lambda: slots.busy == 2 and len(running) == 2, WAIT, "both senders busy", 0.005)
    blocks_until(release, slots.submit, task, 3)
    assert slots.wait_idle(WAIT)
    assert peak[0] == 2 and slots.busy == 0


def test_wait_free_returns_once_a_sender_is_free(slots: CallSlots) -> None:
    release = threading.Event()
    slots.submit(release.wait, WAIT)
    slots.wait_free()  # one of two busy: returns at once
    slots.submit(release.wait, WAIT)
    blocks_until(release, slots.wait_free)


def test_wait_idle_times_out_while_a_delivery_runs(slots: CallSlots) -> None:
    release = threading.Event()
    slots.submit(release.wait, WAIT)
    started = time.monotonic()
    assert slots.wait_idle(0.1) is False
    assert time.monotonic() - started >= 0.1
    release.set()
    assert slots.wait_idle(WAIT) is True


def test_a_failing_delivery_is_logged_and_its_sender_goes_on(slots: CallSlots, caplog) -> None:
    def lost_redis() -> None:
        raise redis.ConnectionError("gone")

    def bug() -> None:
        raise KeyError("bug")

    done = threading.Event()
    with caplog.at_level(logging.WARNING, logger="workers.inflight"):
        for task in (lost_redis, bug, lost_redis, bug):
            slots.submit(task)
        slots.submit(done.set)
        assert done.wait(WAIT), "a sender died with the delivery that failed"
        assert slots.wait_idle(WAIT)
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("a delivery lost Redis (ConnectionError); its lead is retried when its lease ends") == 2
    assert messages.count("a delivery failed outside its own error handling") == 2
    assert all(r.exc_info or r.exc_text for r in caplog.records if "outside" in r.getMessage()), "no traceback"


def test_a_pool_needs_a_sender() -> None:
    with pytest.raises(ValueError):
        CallSlots(0)


# -- a real worker process ------------------------------------------------------------------------------------------

CRM_LATENCY = 0.6
"""Long enough that every call is still out when the next lead arrives."""


@pytest.mark.parametrize("calls", [1, 3])
def test_a_worker_keeps_up_to_calls_in_flight_calls_out_and_the_next_leads_go_in_bulk(make_stack, calls) -> None:
    stack: Stack = make_stack(timeout_seconds=3, delivery={"calls_in_flight": calls})
    stack.start_gateway()
    stack.start_worker()
    stack.crm.set_faults(latency=CRM_LATENCY)
    first = [f"first-{n}-{calls}@example.com" for n in range(calls)]
    for n, email in enumerate(first, start=1):
        assert stack.post_lead(email).status_code == 202
        # each lead leaves alone, in its own call, while the calls before it are still out
        wait_until(lambda n=n: stack.crm.in_flight == n, WAIT, f"{n} calls inside the CRM\n{stack.logs()}", 0.005)
    later = [f"later-{n}-{calls}@example.com" for n in range(5)]
    for email in later:  # every sender is busy: these wait, then travel together
        assert stack.post_lead(email).status_code == 202
    wait_until(
        lambda: len(stack.crm.deliveries_by_email()) == calls + len(later),
        WAIT + 3 * CRM_LATENCY,
        f"every lead delivered\n{stack.logs()}",
        0.02,
    )
    assert stack.crm.peak_in_flight == calls
    by_email = stack.crm.deliveries_by_email()
    assert set(by_email.values()) == {1}
    paths = [r["path"] for r in stack.crm.requests]
    assert paths == ["/create-lead"] * calls + ["/create-leads-bulk"]
    bulk = stack.crm.requests[-1]["body"]["leads"]
    assert sorted(lead["email"] for lead in bulk) == sorted(later)
    wait_until(
        lambda: all(e.status == "delivered" and not e.held_by for _, e in stack.store.iter_index()),
        WAIT,
        "every event recorded delivered, no claim left",
        0.02,
    )


def test_a_warm_shutdown_lets_the_calls_out_finish_and_record(make_stack) -> None:
    stack: Stack = make_stack(timeout_seconds=3, delivery={"calls_in_flight": 3})
    stack.start_gateway()
    worker = stack.start_worker()
    stack.crm.set_faults(latency=2.5)  # well past the second the worker's other threads take to stop
    ids = []
    for n in range(3):
        response = stack.post_lead(f"shutdown-{n}@example.com")
        assert response.status_code == 202
        ids.append(response.json()["event_id"])
        wait_until(lambda n=n: stack.crm.in_flight == n + 1, WAIT, f"call {n + 1} out\n{stack.logs()}", 0.005)
    held = {e.held_by for e in stack.store.get_many(ids)}
    assert len(held) == 1 and held.pop().endswith(f":{worker.pid}")
    worker.signal(signal.SIGTERM)
    assert worker.wait(WAIT + 2.5) == 0, worker.tail()
    events = stack.store.get_many(ids)
    assert [e.status for e in events] == ["delivered"] * 3, "the worker exited before its calls out were recorded"
    assert [e.attempts for e in events] == [1, 1, 1]
    assert len(stack.crm.deliveries_by_email()) == 3
