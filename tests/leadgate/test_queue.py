"""The delivery queue and its dispatcher against a real Redis: job shape, due times, batches, the thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from rq.job import Job

from leadgate import defaults
from leadgate.events import EventStore
from leadgate.intake import accept
from leadgate.model import InboundEvent
from leadgate.queue import DELIVER_JOB
from leadgate.queue import JOB_TTL_SECONDS
from leadgate.queue import Dispatcher
from leadgate.queue import delivery_queue
from leadgate.queue import enqueue_delivery
from leadgate.queue import job_id
from leadgate.runtime import Runtime
from tests.support.leads import accept_form
from tests.support.leads import claim_now
from tests.support.leads import unreachable_redis

GRACE = defaults.DISPATCH_GRACE_SECONDS


def dispatcher_for(rt: Runtime) -> Dispatcher:
    return Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds)


def queued_lead(rt: Runtime, n: int = 0) -> str:
    return accept_form(rt, {"email": f"lead{n}@example.com"}).event_id


def job_ids(rt: Runtime) -> list[str]:
    return sorted(rt.queue.job_ids)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Polls ``condition`` in short steps; fails the test when it never holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the dispatcher thread never got there"
        time.sleep(0.02)


def dispatcher_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "leadgate-dispatcher"]


def queue_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "leadgate.queue"]


# -- the queue and its jobs ----------------------------------------------------------------------------


def test_job_ids_are_unique_per_dispatch() -> None:
    assert job_id("ev_0123", 1) == "lg-ev_0123-1"
    assert job_id("ev_0123", 2) != job_id("ev_0123", 1)


def test_the_delivery_queue_is_leadgates_on_the_given_connection(redis_client) -> None:
    queue = delivery_queue(redis_client)
    assert queue.name == defaults.QUEUE_NAME == "leadgate"
    assert queue.connection is redis_client


def test_a_delivery_job_carries_only_the_event_id_and_dispatch_number(rt: Runtime) -> None:
    enqueue_delivery(rt.queue, "ev_0123", 3, timeout=30.7)
    assert rt.queue.job_ids == ["lg-ev_0123-3"]
    job = Job.fetch("lg-ev_0123-3", connection=rt.redis)
    assert (job.func_name, job.args, job.kwargs) == (DELIVER_JOB, ("ev_0123", 3), {})
    assert job.func_name == "workers.delivery.deliver_event"
    # the lease, plus the ten minutes a delivery may wait for Redis to record it, plus 5 s
    assert job.timeout == int(30.7 + defaults.RECORD_WINDOW_SECONDS) + 5 == 663
    assert (job.ttl, job.result_ttl, job.failure_ttl) == (JOB_TTL_SECONDS, 0, 7 * 86400) == (86400, 0, 604800)
    assert 0 < rt.redis.ttl(job.key) <= JOB_TTL_SECONDS  # a job nobody runs expires


def test_a_job_enqueued_in_a_pipeline_exists_only_once_it_runs(rt: Runtime) -> None:
    with rt.redis.pipeline() as pipe:
        enqueue_delivery(rt.queue, "ev_0123", 1, timeout=10, pipeline=pipe)
        assert rt.queue.count == 0
        pipe.execute()
    assert rt.queue.job_ids == ["lg-ev_0123-1"]


# -- dispatching ---------------------------------------------------------------------------------------


def test_a_new_lead_is_dispatched_once_with_its_deadline_pushed_past_the_grace(rt: Runtime) -> None:
    event_id = queued_lead(rt)
    dispatcher = dispatcher_for(rt)
    now = time.time()

    assert dispatcher.dispatch(now) == [(event_id, 1)]
    assert job_ids(rt) == [f"lg-{event_id}-1"]
    assert rt.store.get(event_id).dispatch == 1
    assert rt.redis.zscore(rt.store.due_key, event_id) == pytest.approx(now + GRACE)
    assert rt.store.get(event_id).status == "queued"  # the job's claim changes that, not the dispatcher
    assert dispatcher.dispatch(now + 1) == []  # within the grace, its job is still expected to run
    assert job_ids(rt) == [f"lg-{event_id}-1"]


def test_a_job_that_never_ran_is_replaced_by_a_new_one_after_the_grace(rt: Runtime) -> None:
    event_id = queued_lead(rt)
    dispatcher = dispatcher_for(rt)
    now = time.time()
    dispatcher.dispatch(now)
    assert dispatcher.dispatch(now + GRACE + 1) == [(event_id, 2)]
    assert job_ids(rt) == sorted([f"lg-{event_id}-1", f"lg-{event_id}-2"])
    assert rt.store.claim(event_id, 1, now + GRACE + 2, now + GRACE + 60) == -1  # the old job is stale


def test_a_retry_is_dispatched_when_its_time_comes_not_before(rt: Runtime) -> None:
    event_id = queued_lead(rt)
    dispatch, attempt = claim_now(rt, event_id)
    now = time.time()
    fields = {"status": "retrying", "next_attempt_at": now + 30}
    assert rt.store.finish(event_id, dispatch, "retry", {"n": attempt, "outcome": "retry"}, fields, next_at=now + 30)
    rt.queue.empty()
    dispatcher = dispatcher_for(rt)

    assert dispatcher.run_once(now + 29) == 0
    assert rt.queue.count == 0
    assert dispatcher.dispatch(now + 31) == [(event_id, 2)]
    assert job_ids(rt) == [f"lg-{event_id}-2"]


def test_one_call_dispatches_every_due_event_however_many_batches_that_takes(rt: Runtime) -> None:
    source = rt.config.sources["contact-us"]
    ids = [accept(rt, source, InboundEvent(raw={"n": n}), lead={"email": f"{n}@x.io"}).event_id for n in range(450)]
    dispatched = dispatcher_for(rt).dispatch(time.time())
    assert sorted(dispatched) == sorted((event_id, 1) for event_id in ids)
    assert rt.queue.count == 450


def test_a_due_entry_whose_event_is_gone_is_dropped_not_dispatched(rt: Runtime) -> None:
    kept = queued_lead(rt, 1)
    gone = queued_lead(rt, 2)
    rt.redis.delete(rt.store.key(gone))
    assert dispatcher_for(rt).dispatch(time.time()) == [(kept, 1)]
    assert [m.decode() for m in rt.redis.zrange(rt.store.due_key, 0, -1)] == [kept]
    assert job_ids(rt) == [f"lg-{kept}-1"]


def test_a_batchable_lead_joins_its_destinations_ready_set_on_dispatch(rt: Runtime) -> None:
    event_id = queued_lead(rt)
    rt.redis.delete(rt.store.ready_key("main"))  # as after a bulk call popped it, or an old dispatch
    dispatcher_for(rt).dispatch(time.time())
    assert [m.decode() for m in rt.redis.zrange(rt.store.ready_key("main"), 0, -1)] == [event_id]


def test_history_is_trimmed_on_the_first_dispatch_then_at_most_every_five_minutes(rt: Runtime) -> None:
    dispatcher = dispatcher_for(rt)
    now = time.time()
    too_old = now - rt.store.retention_seconds - 10

    def add_stale(name: str) -> None:
        rt.redis.zadd(rt.store.index_key, {name: too_old})
        rt.redis.zadd(rt.store.source_index_key("contact-us"), {name: too_old})

    def indexed() -> list[list[str]]:
        keys = (rt.store.index_key, rt.store.source_index_key("contact-us"))
        return [[m.decode() for m in rt.redis.zrange(key, 0, -1)] for key in keys]

    add_stale("ev_old1")
    recent = queued_lead(rt)
    dispatcher.run_once(now)
    assert indexed() == [[recent], [recent]]

    add_stale("ev_old2")
    dispatcher.run_once(now + 299)
    assert indexed() == [["ev_old2", recent], ["ev_old2", recent]]
    dispatcher.run_once(now + 301)
    assert indexed() == [[recent], [recent]]


# -- the background thread -----------------------------------------------------------------------------


def test_the_thread_turns_a_new_lead_into_a_job_and_takes_the_wake_token(rt: Runtime) -> None:
    dispatcher = dispatcher_for(rt)
    dispatcher.start(interval=0.05)
    try:
        event_id = queued_lead(rt)
        wait_for(lambda: rt.queue.count == 1)
        assert rt.queue.job_ids == [f"lg-{event_id}-1"]
        wait_for(lambda: rt.redis.llen(rt.store.wake_key) == 0)
    finally:
        dispatcher.stop()
    assert not dispatcher_threads()


def test_the_thread_keeps_going_while_redis_is_unreachable(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    client = unreachable_redis()
    dispatcher = Dispatcher(EventStore(client), delivery_queue(client), 30)
    caplog.set_level(logging.WARNING, logger="leadgate.queue")
    dispatcher.start(interval=0.02)
    try:
        wait_for(lambda: len(queue_records(caplog)) >= 2)  # it failed, waited, and tried again
    finally:
        dispatcher.stop()
        client.close()
    assert not dispatcher_threads()
    assert {r.getMessage() for r in queue_records(caplog)} == {"dispatcher cannot reach redis: ConnectionError"}


class FailingOnceStore(EventStore):
    """A store whose first dispatch hits a bug: the thread must outlive it."""

    failed = False

    def dispatch_due(self, now: float, grace_until: float, limit: int = 200) -> list[tuple[str, int]]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a bug in the dispatch step")
        return super().dispatch_due(now, grace_until, limit)


def test_the_thread_survives_a_bug_and_still_dispatches(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    event_id = queued_lead(rt)
    dispatcher = Dispatcher(FailingOnceStore(rt.redis), rt.queue, 30)
    caplog.set_level(logging.ERROR, logger="leadgate.queue")
    dispatcher.start(interval=0.02)
    try:
        wait_for(lambda: rt.queue.count == 1)
    finally:
        dispatcher.stop()
    assert rt.queue.job_ids == [f"lg-{event_id}-1"]
    assert not dispatcher_threads()
    [record] = queue_records(caplog)
    assert record.getMessage() == "dispatcher failed; retrying"
    # leadgate's JSON formatter (installed by an app built earlier) turns exc_info into a masked exc_text
    traceback = record.exc_text or (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
    assert "a bug in the dispatch step" in traceback
