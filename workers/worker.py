"""``leadgate worker``: an RQ worker that delivers leads, plus the dispatcher thread.

It is a ``SimpleWorker`` (jobs run in the worker process, no fork per job) so the
pooled ConnectGain connection and the dispatcher survive from one job to the next;
forking per job would cost a TCP+TLS handshake per lead.
"""

from __future__ import annotations

import logging

from rq import SimpleWorker

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


def run_worker(rt: Runtime, *, burst: bool = False, name: str | None = None, dispatch_interval: float = 1.0) -> bool:
    """Works the delivery queue until stopped (or, with ``burst``, until it is empty)."""
    runtime_module.install(rt)
    dispatcher = Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds)
    dispatcher.run_once()
    if not burst:
        dispatcher.start(dispatch_interval)
    worker = LeadWorker([rt.queue], connection=rt.redis, name=name)
    try:
        return bool(worker.work(burst=burst, with_scheduler=False, logging_level="WARNING"))
    finally:
        dispatcher.stop()
