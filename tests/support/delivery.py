"""Delivering in the test process: a burst worker and its dispatcher, as ``leadgate worker`` runs them."""

from __future__ import annotations

import time

from leadgate.queue import Dispatcher
from leadgate.runtime import Runtime
from workers.worker import LeadWorker

__all__ = ["dispatch_now", "drain"]


def drain(rt: Runtime, timeout: float = 15.0) -> None:
    """Delivers everything due, in this process, like a burst worker plus its dispatcher."""
    dispatcher = Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds)
    deadline = time.monotonic() + timeout
    while True:
        dispatcher.run_once()
        worker = LeadWorker([rt.queue], connection=rt.queue.connection)
        worker.work(burst=True, with_scheduler=False, logging_level="ERROR")
        pending = rt.store.due_count()
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} events still due after {timeout}s")
        time.sleep(0.02)


def dispatch_now(rt: Runtime) -> dict[str, int]:
    """Dispatches everything due, as a worker's dispatcher would; returns {event id: dispatch number}."""
    return dict(Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds).dispatch())
