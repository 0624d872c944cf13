"""``leadgate worker``: an RQ worker that delivers leads, plus the dispatcher thread.

It is a ``SimpleWorker`` (jobs run in the worker process, no fork per job) so the
pooled ConnectGain connection and the dispatcher survive from one job to the next;
forking per job would cost a TCP+TLS handshake per lead.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from redis.client import PubSub
from redis.client import PubSubWorkerThread
from rq import SimpleWorker
from rq.exceptions import StopRequested

from leadgate import runtime as runtime_module
from leadgate.runtime import Runtime
from workers.queue import Dispatcher

__all__ = ["LeadWorker", "run_worker"]

log = logging.getLogger(__name__)


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_signalled = False
        """Set when SIGTERM/SIGINT asked this worker to stop, busy or idle."""
        self.listens_for_commands = True

    def work(self, burst: bool = False, *args: Any, **kwargs: Any) -> bool:  # type: ignore[override]
        self.listens_for_commands = not burst
        return super().work(burst, *args, **kwargs)

    def subscribe(self) -> None:
        """Listens for RQ's remote commands, polling every :data:`COMMAND_POLL_SECONDS`."""
        if not self.listens_for_commands:
            return
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL_SECONDS, daemon=True, exception_handler=_keep_listening
        )

    def handle_warm_shutdown_request(self) -> None:
        """RQ's hook for a first SIGTERM/SIGINT: remembered so the restart loop ends too.

        RQ keeps that fact in private attributes only (``_stop_requested`` while
        busy, ``_shutdown_requested_date``); this hook is called by its public
        ``request_stop`` in both cases.
        """
        self.stop_signalled = True
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
    safe in the due set and come back when their lease runs out.
    """
    runtime_module.install(rt)
    dispatcher = Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds)
    if not burst:
        dispatcher.start(dispatch_interval)
    try:
        while True:
            worker = LeadWorker([rt.queue], connection=rt.redis, name=name)
            try:
                if burst:
                    dispatcher.run_once()
                worked = bool(worker.work(burst=burst, with_scheduler=False, logging_level="WARNING"))
            except redis.RedisError as err:
                log.warning("worker loop lost Redis (%s)", type(err).__name__)
                worked = False
            if burst or worker.stop_signalled:
                return worked
            log.warning("worker loop ended unexpectedly; starting again in %.0f s", RESTART_DELAY_SECONDS)
            try:
                time.sleep(RESTART_DELAY_SECONDS)
            except StopRequested:  # SIGTERM while waiting: RQ's handler is still installed
                return worked
            if worker.stop_signalled:
                return worked
    finally:
        dispatcher.stop()
