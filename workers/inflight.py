"""Deliveries in flight: a worker process keeps up to ``delivery.calls_in_flight`` of them running at once.

With one call at a time, a lead that arrives while a bulk call is out waits for that call's answer and
then for its own: the CRM's latency counted twice. Here RQ's job hands the delivery to a free sender
thread and returns, so the next lead leaves at once in a call of its own; only when every sender is
busy does the job wait, and the leads arriving meanwhile travel together in the next bulk call.

Nothing about a delivery changes: each one claims its lead with a lease, exactly as a delivery in
another worker process would, so a process killed with calls out loses nothing (the leases run out
and other workers take the leads over). The threads are daemons: a cold shutdown is not held up, and
a warm one waits for the calls out (:meth:`CallSlots.wait_idle`) before the process exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

import redis

__all__ = ["CallSlots", "active", "install"]

log = logging.getLogger(__name__)

Task = Callable[..., Any]


class CallSlots:
    """``size`` sender threads; :meth:`submit` blocks while all of them are busy (:meth:`wait_free` first)."""

    def __init__(self, size: int, name: str = "leadgate-sender") -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._tasks: SimpleQueue[tuple[Task, tuple[Any, ...]] | None] = SimpleQueue()
        self._busy = 0
        self._changed = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{n}", daemon=True) for n in range(1, size + 1)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def busy(self) -> int:
        """Deliveries running now."""
        with self._changed:
            return self._busy

    def submit(self, task: Task, *args: Any) -> None:
        """Runs ``task(*args)`` in a free sender thread, after waiting for one if none is free."""
        with self._changed:
            self._changed.wait_for(self._a_sender_is_free)
            self._busy += 1
        self._tasks.put((task, args))

    def wait_free(self) -> None:
        """Waits until a sender is free.

        RQ's worker calls this before it takes its next job off the queue: a job held in the process
        while it waits for a sender would, if the process died then, leave its lead to the dispatch
        grace (a minute) instead of a lease. One thread submits, so the sender found free stays free.
        """
        with self._changed:
            self._changed.wait_for(self._a_sender_is_free)

    def wait_idle(self, timeout: float) -> bool:
        """Waits until no delivery is running (or ``timeout`` ran out); True when none is."""
        with self._changed:
            return self._changed.wait_for(lambda: self._busy == 0, timeout)

    def close(self) -> None:
        """Ends the threads once the deliveries already handed over are done; no further :meth:`submit`."""
        for _ in self._threads:
            self._tasks.put(None)

    def _a_sender_is_free(self) -> bool:
        return self._busy < self.size

    def _run(self) -> None:
        while (item := self._tasks.get()) is not None:
            task, args = item
            try:
                task(*args)
            except redis.RedisError as err:
                # the lead keeps its lease: when it runs out, a dispatcher sends the lead again
                log.warning("a delivery lost Redis (%s); its lead is retried when its lease ends", type(err).__name__)
            except Exception:  # a bug in one delivery must not take a sender away
                log.exception("a delivery failed outside its own error handling")
            finally:
                with self._changed:
                    self._busy -= 1
                    self._changed.notify_all()


_active: CallSlots | None = None
_lock = threading.Lock()


def install(slots: CallSlots | None) -> None:
    """Makes ``slots`` the senders this process's delivery jobs hand over to (None: jobs deliver themselves)."""
    global _active
    with _lock:
        _active = slots


def active() -> CallSlots | None:
    with _lock:
        return _active
