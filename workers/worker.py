"""``leadgate worker``: an RQ worker that delivers leads, plus the dispatcher thread.

It is a ``SimpleWorker`` (jobs run in the worker process, no fork per job) so the
pooled ConnectGain connection and the dispatcher survive from one job to the next;
forking per job would cost a TCP+TLS handshake per lead.
"""

from __future__ import annotations

import logging
import time

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested

from leadgate import runtime as runtime_module
from leadgate.runtime import Runtime
from workers.queue import Dispatcher

__all__ = ["LeadWorker", "run_worker"]

log = logging.getLogger(__name__)


class LeadWorker(SimpleWorker):
    """RQ's in-process worker, reconnecting to Redis within seconds after an outage.

    RQ backs off up to 60 s between reconnects; leads acknowledged while Redis was
    restarting should not wait a minute for an idle worker to notice it is back.
    """

    max_connection_wait_time = 5.0


def stop_requested(worker: LeadWorker) -> bool:
    """Whether SIGTERM/SIGINT asked this worker to stop (RQ records the time; an idle stop sets no flag)."""
    return bool(worker._stop_requested or getattr(worker, "_shutdown_requested_date", None))


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
            if burst or stop_requested(worker):
                return worked
            log.warning("worker loop ended unexpectedly; starting again in %.0f s", RESTART_DELAY_SECONDS)
            try:
                time.sleep(RESTART_DELAY_SECONDS)
            except StopRequested:  # SIGTERM while waiting: RQ's handler is still installed
                return worked
            if stop_requested(worker):
                return worked
    finally:
        dispatcher.stop()
