"""``leadgate worker``: an RQ worker that delivers leads, plus the dispatcher thread.

It is a ``SimpleWorker`` (jobs run in the worker process, no fork per job) so the
pooled ConnectGain connection and the dispatcher survive from one job to the next;
forking per job would cost a TCP+TLS handshake per lead.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import redis
from redis.client import PubSub
from redis.client import PubSubWorkerThread
from rq import SimpleWorker
from rq.exceptions import StopRequested

from leadgate import runtime as runtime_module
from leadgate.queue import Dispatcher
from leadgate.runtime import Runtime
from workers import inflight
from workers.alerting import AlertLoop
from workers.inflight import CallSlots

__all__ = ["LeadWorker", "run_worker"]

log = logging.getLogger(__name__)


HEARTBEAT_SECONDS = 5.0
"""Shortest gap between two of RQ's stand-alone worker heartbeats; RQ renews for minutes each time."""

COMMAND_POLL_SECONDS = 0.5
"""How long the command listener blocks between checks that it should stop.

RQ listens for its remote commands (``rq`` shutdown, kill-horse, stop-job) with a
60 s poll, and redis-py 8.2's ``PubSubWorkerThread.stop()`` joins the thread, so
every teardown waited up to a minute. A short poll costs no Redis commands (the
thread only waits on its socket) and bounds the teardown.
"""


class LeadWorker(SimpleWorker):
    """RQ's in-process worker with a teardown that takes under a second.

    Two departures from RQ's defaults, both through RQ's public hooks:

    - it reconnects to Redis within seconds after an outage (RQ backs off up to
      60 s; leads acknowledged while Redis restarted should not wait a minute);
    - it listens for RQ's remote commands with a short poll, and not at all in a
      burst (a burst ends by itself, and in-process burst workers are built and
      torn down once per drain).
    """

    max_connection_wait_time = 5.0

    def __init__(self, *args: Any, stop: threading.Event | None = None, **kwargs: Any) -> None:
        self.stop = stop if stop is not None else threading.Event()
        """Set when SIGTERM/SIGINT asked this worker to stop, busy or idle; shared by a restart loop's workers."""
        self.listens_for_commands = True
        self._last_beat = float("-inf")
        super().__init__(*args, **kwargs)

    @property
    def stop_signalled(self) -> bool:
        return self.stop.is_set()

    def work(self, burst: bool = False, *args: Any, **kwargs: Any) -> bool:
        self.listens_for_commands = not burst
        return super().work(burst, *args, **kwargs)

    def subscribe(self) -> None:
        """Listens for RQ's remote commands, polling every :data:`COMMAND_POLL_SECONDS`."""
        if not self.listens_for_commands:
            return
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # RQ's subscribe() does the same; its __init__ sets ``pubsub_thread = None`` unannotated, so mypy types it None.
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=COMMAND_POLL_SECONDS, daemon=True, exception_handler=_keep_listening
        )

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, at most once per :data:`HEARTBEAT_SECONDS` outside a transaction.

        RQ beats (an ``HSET`` and two ``EXPIRE``) before and after every job and on every pass of its
        dequeue loop: six to nine commands per lead at low rates, each renewing a time to live of
        minutes. A beat inside one of RQ's transactions (a job starting) is always sent.
        """
        beat = time.monotonic()
        if pipeline is None and beat - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = beat
        super().heartbeat(timeout, pipeline)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        """RQ's dequeue, once one of this process's senders is free to take the job (:mod:`workers.inflight`)."""
        senders = inflight.active()
        if senders is not None:
            senders.wait_free()
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def handle_warm_shutdown_request(self) -> None:
        """RQ's hook for a first SIGTERM/SIGINT: remembered so the restart loop ends too.

        RQ keeps that fact in private attributes only (``_stop_requested`` while
        busy, ``_shutdown_requested_date``); this hook is called by its public
        ``request_stop`` in both cases.
        """
        self.stop.set()
        super().handle_warm_shutdown_request()


def _keep_listening(error: BaseException, pubsub: PubSub, thread: PubSubWorkerThread) -> None:
    """Keeps the command listener alive while Redis is away (redis-py resubscribes on reconnect)."""
    if not isinstance(error, redis.ConnectionError):
        raise error
    log.debug("command listener lost Redis (%s); retrying", type(error).__name__)
    time.sleep(COMMAND_POLL_SECONDS)


RESTART_DELAY_SECONDS = 1.0
"""Pause before a worker whose loop ended on an error (Redis went away mid-job) starts again."""


def run_worker(rt: Runtime, *, burst: bool = False, name: str | None = None, dispatch_interval: float = 1.0) -> bool:
    """Works the delivery queue until stopped (or, with ``burst``, until it is empty).

    RQ's work loop ends on any unexpected error, and a Redis restart in the middle of
    a job is one: its bookkeeping after the job needs Redis too. Rather than exit and
    wait for a supervisor, the loop starts again here; the leads it was holding are
    safe in the due set and come back when their lease runs out. Building the next RQ
    worker needs Redis as well, so that step is retried too, and a loop that lost Redis
    first records its old worker's death: RQ refuses a second live worker of one name.
    """
    runtime_module.install(rt)
    policy = rt.config.delivery
    senders = CallSlots(policy.calls_in_flight) if policy.calls_in_flight > 1 else None
    inflight.install(senders)
    stop = threading.Event()
    _stop_on_sigterm_until_rq_listens(stop)
    dispatcher = Dispatcher(rt.store, rt.queue, policy.lease_seconds)
    alert_loop = AlertLoop(rt)  # its own thread: an alert send never holds up a delivery
    if not burst:
        dispatcher.start(dispatch_interval)
        alert_loop.start()
    worked = False
    unregistered: LeadWorker | None = None
    try:
        while not stop.is_set():
            try:
                if unregistered is not None:
                    unregistered.register_death()
                    unregistered = None
                worker = LeadWorker([rt.queue], connection=rt.queue.connection, name=name, stop=stop)
                if burst:
                    dispatcher.run_once()
                try:
                    worked = bool(worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")) or worked
                except redis.RedisError:
                    unregistered = worker
                    raise
                if burst:
                    return worked
            except redis.RedisError as err:
                log.warning("worker loop lost Redis (%s)", type(err).__name__)
            except StopRequested:  # SIGTERM between two RQ work loops: an earlier worker's handler raised it
                break
            if stop.is_set():
                break
            log.warning("worker loop ended unexpectedly; starting again in %.0f s", RESTART_DELAY_SECONDS)
            try:
                stop.wait(RESTART_DELAY_SECONDS)
            except StopRequested:
                break
        return worked
    finally:
        if senders is not None:
            _finish_calls_in_flight(senders, policy.lease_seconds)
        dispatcher.stop()
        alert_loop.stop()


def _finish_calls_in_flight(senders: CallSlots, lease_seconds: float) -> None:
    """A worker that stops (or a burst that ends) lets its calls out finish and record their outcome.

    Waiting longer than a lease serves nothing: by then other workers may take those leads over.
    """
    try:
        if not senders.wait_idle(lease_seconds):
            log.warning(
                "%d deliveries still out after %.0f s; their leases bring them back", senders.busy, lease_seconds
            )
    finally:
        senders.close()
        inflight.install(None)


def _stop_on_sigterm_until_rq_listens(stop: threading.Event) -> None:
    """SIGTERM/SIGINT before the first RQ worker starts (Redis down at start) stop the loop too.

    RQ installs its own handlers in ``work()``; until then these stand in for them.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def request_stop(signum: int, frame: object) -> None:
        stop.set()
        raise StopRequested()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
