"""The RQ queue that runs delivery jobs, and the dispatcher that feeds it from ``lg:due``.

Requests never create RQ jobs: the gateway writes the event due *now* and pushes a
wake token; a dispatcher thread in every worker blocks on that token, turns due
events into jobs, and also wakes every second for retries and expired leases.

RQ executes; the event store decides. A job carries only ``(event_id, dispatch)``;
each dispatch gets a fresh job id, so a re-dispatched event never collides with an
old job (RQ runs a job re-enqueued under an existing id twice), and a stale job finds
its dispatch number outdated and does nothing. Retries and abandoned deliveries are
driven by the due set, not by RQ's ``Retry`` (no jitter) or its abandoned-job sweep
(ten minutes by default).
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from rq import Queue

from leadgate import defaults
from leadgate.events import EventStore

__all__ = ["Dispatcher", "delivery_queue", "enqueue_delivery", "job_id"]

log = logging.getLogger(__name__)

DELIVER_JOB = "workers.delivery.deliver_event"


JOB_TTL_SECONDS = 86400
"""A job record nobody runs within a day expires; the due set re-dispatches its event anyway."""


def delivery_queue(client: redis.Redis) -> Queue:
    return Queue(defaults.QUEUE_NAME, connection=client)


def job_id(event_id: str, dispatch: int) -> str:
    return f"lg-{event_id}-{dispatch}"


def enqueue_delivery(
    queue: Queue, event_id: str, dispatch: int, timeout: float, pipeline: redis.client.Pipeline | None = None
) -> None:
    """Puts one delivery job on the queue (inside ``pipeline``'s transaction when given)."""
    queue.enqueue_call(
        DELIVER_JOB,
        args=(event_id, dispatch),
        job_id=job_id(event_id, dispatch),
        # RQ's time limit must not cut a delivery short while it waits for Redis to record it (workers.outcomes)
        timeout=int(timeout + defaults.RECORD_WINDOW_SECONDS) + 5,
        ttl=JOB_TTL_SECONDS,
        result_ttl=0,
        failure_ttl=7 * 86400,
        pipeline=pipeline,
    )


class Dispatcher:
    """Moves events whose time has come from the due set onto the RQ queue.

    Runs in a background thread of every worker process; several dispatchers are
    safe together because the dispatch step is one Lua script.
    """

    def __init__(self, store: EventStore, queue: Queue, lease_seconds: float):
        self.store = store
        self.queue = queue
        self.lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_trim = 0.0

    def run_once(self, now: float | None = None) -> int:
        """Dispatches every due event; returns how many were dispatched."""
        return len(self.dispatch(now))

    def dispatch(self, now: float | None = None) -> list[tuple[str, int]]:
        """Turns every due event into a delivery job; returns each (event id, dispatch number)."""
        now = time.time() if now is None else now
        dispatched: list[tuple[str, int]] = []
        while True:
            batch = self.store.dispatch_due(now, now + defaults.DISPATCH_GRACE_SECONDS)
            if not batch:
                break
            with self.queue.connection.pipeline() as pipe:
                for event_id, dispatch in batch:
                    enqueue_delivery(self.queue, event_id, dispatch, self.lease_seconds, pipeline=pipe)
                pipe.execute()
            dispatched.extend(batch)
        if now - self._last_trim > 300:
            self._last_trim = now
            self.store.trim_history(now)
        return dispatched

    def start(self, interval: float = defaults.DISPATCH_INTERVAL_SECONDS) -> None:
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="leadgate-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self, interval: float) -> None:
        """Blocks on the wake list (new leads are dispatched within a millisecond), else runs every ``interval``."""
        while not self._stop.is_set():
            try:
                self.store.redis.blpop([self.store.wake_key], timeout=interval)
                count = self.run_once()
                if count:
                    log.debug("dispatched %d due events", count)
            except redis.RedisError as err:
                log.warning("dispatcher cannot reach redis: %s", type(err).__name__)
                self._stop.wait(interval)
            except Exception:  # a bug here must not stop the thread that keeps leads moving
                log.exception("dispatcher failed; retrying")
                self._stop.wait(interval)
