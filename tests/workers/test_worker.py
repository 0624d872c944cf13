"""The delivery worker's lifecycle: teardown and SIGTERM within seconds, whatever redis-py and RQ do.

redis-py 8.2 made ``PubSubWorkerThread.stop()`` join its thread, and RQ's command listener
polls with a 60 s timeout, so every RQ worker teardown could wait a minute. These tests bound
each step in seconds and fail with a message naming the wait, rather than letting a dependency
bring the minute back unnoticed. Signals are sent to this (pytest's main) thread, where RQ
installs its handlers; every test restores the handlers it found.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator

import pytest

from tests.support.stack import wait_until
from workers.worker import LeadWorker
from workers.worker import run_worker

TEARDOWN_BOUND_SECONDS = 2.0
"""A teardown polls at most once more (COMMAND_POLL_SECONDS); two seconds leave room on a busy machine."""

SIGTERM_BOUND_SECONDS = 5.0
"""The issue's bound for ``leadgate worker`` to exit after SIGTERM when idle."""


@pytest.fixture
def restore_signal_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def timed_in_thread(action: Callable[[], object], bound: float, what: str) -> float:
    """Runs ``action`` in a thread; fails (instead of hanging) when it takes longer than ``bound``."""
    done = threading.Event()
    started = time.monotonic()

    def run() -> None:
        action()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    if not done.wait(bound + 10):
        pytest.fail(f"{what} still waiting after {bound + 10:.0f}s: a 60 s poll is back")
    took = time.monotonic() - started
    assert took < bound, f"{what} took {took:.2f}s (bound {bound:.0f}s)"
    return took


class SigtermOnceRQListens:
    """Sends SIGTERM to this process once RQ has installed its handler and the worker is idle.

    If the worker has not stopped ``grace`` seconds later, a second SIGTERM (RQ's cold
    shutdown, a SystemExit) makes the test fail rather than hang. Leaving the block stops
    the watchdog, so no signal outlives the test.
    """

    def __init__(self, grace: float = 15.0) -> None:
        self.grace = grace
        self.sent_at: float | None = None
        self._done = threading.Event()
        self._original = signal.getsignal(signal.SIGTERM)
        self._thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        if not wait_for(lambda: signal.getsignal(signal.SIGTERM) != self._original or self._done.is_set(), 10):
            return
        if self._done.is_set():
            return
        time.sleep(0.3)  # into the blocking dequeue: idle, not starting up
        self.sent_at = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        if not self._done.wait(self.grace):
            os.kill(os.getpid(), signal.SIGTERM)

    def seconds_since_sent(self) -> float:
        assert self.sent_at is not None, "RQ never installed its SIGTERM handler"
        return time.monotonic() - self.sent_at

    def __enter__(self) -> SigtermOnceRQListens:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join(timeout=self.grace + 11)


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_listening_worker_tears_down_within_seconds(rt) -> None:
    """Five rounds, because the 60 s wait was a race: it hit 5 of 9 runs of one module."""
    for round_number in range(5):
        worker = LeadWorker([rt.queue], connection=rt.redis, name=f"teardown-{round_number}")
        worker.subscribe()
        assert worker.pubsub_thread is not None and worker.pubsub_thread.is_alive()
        pubsub = worker.pubsub
        assert pubsub is not None
        wait_until(lambda: pubsub.subscribed, 5, "the command subscription")  # noqa: B023 (called at once)
        timed_in_thread(worker.unsubscribe, TEARDOWN_BOUND_SECONDS, f"unsubscribe (round {round_number + 1})")
        assert not worker.pubsub_thread.is_alive()


def test_teardown_is_bounded_when_the_listener_handles_the_unsubscribe_first(rt) -> None:
    """The interleaving that stalled for 60 s, made certain instead of left to the scheduler.

    RQ's ``unsubscribe()`` sends UNSUBSCRIBE, then calls ``stop()``. When the listener thread
    reads the reply first, it is no longer subscribed and waits for a new subscription for a
    whole poll before it sees the stop, while ``stop()`` joins it.
    """
    worker = LeadWorker([rt.queue], connection=rt.redis, name="teardown-race")
    worker.subscribe()
    pubsub, thread = worker.pubsub, worker.pubsub_thread
    assert pubsub is not None and thread is not None
    wait_until(lambda: pubsub.subscribed, 5, "the command subscription")
    pubsub.unsubscribe()
    wait_until(lambda: not pubsub.subscribed, 5, "the listener to handle the UNSUBSCRIBE reply")
    timed_in_thread(thread.stop, TEARDOWN_BOUND_SECONDS, "stopping the command listener")
    pubsub.close()


def test_a_burst_worker_neither_listens_nor_waits(rt, restore_signal_handlers) -> None:
    worker = LeadWorker([rt.queue], connection=rt.redis)
    started = time.monotonic()
    worker.work(burst=True, with_scheduler=False, logging_level="ERROR")  # RQ's signal handlers: main thread only
    took = time.monotonic() - started
    assert worker.pubsub_thread is None, "a burst worker subscribed to RQ's command channel"
    assert took < TEARDOWN_BOUND_SECONDS, f"an empty burst took {took:.2f}s"


def test_sigterm_stops_an_idle_worker_through_rqs_public_hook(rt, restore_signal_handlers) -> None:
    """Fails loudly if RQ stops calling ``handle_warm_shutdown_request`` from its SIGTERM handler."""
    worker = LeadWorker([rt.queue], connection=rt.redis, name="sigterm-idle")
    with SigtermOnceRQListens() as sigterm:
        try:
            worker.work(burst=False, with_scheduler=False, logging_level="ERROR")
        except SystemExit:
            pytest.fail("the worker ignored the first SIGTERM; the second (cold shutdown) stopped it")
        took = sigterm.seconds_since_sent()
    assert worker.stop_signalled, "RQ's request_stop no longer calls handle_warm_shutdown_request"
    assert worker.pubsub_thread is not None and not worker.pubsub_thread.is_alive()
    assert took < SIGTERM_BOUND_SECONDS, f"the worker took {took:.2f}s to stop after SIGTERM"


def test_run_worker_exits_within_five_seconds_of_sigterm(rt, restore_signal_handlers) -> None:
    """The whole ``leadgate worker`` loop: dispatcher thread, RQ worker, command listener, restart loop."""
    with SigtermOnceRQListens() as sigterm:
        try:
            run_worker(rt, name="sigterm-loop", dispatch_interval=0.2)
        except SystemExit:
            pytest.fail("run_worker ignored the first SIGTERM (the restart loop started RQ again)")
        took = sigterm.seconds_since_sent()
    assert took < SIGTERM_BOUND_SECONDS, f"run_worker took {took:.2f}s to stop after SIGTERM"
