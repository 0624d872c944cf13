"""Trying a call again after a transient failure, for the loops that wait in-process.

Deliveries never wait in-process (the due set schedules their next try); the Facebook backfill
and the CSV import do, because an operator is watching them run. Both go through
:func:`call_with_retries`, so both honour ``Retry-After`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from workers.errors import TransientError

__all__ = ["call_with_retries"]

T = TypeVar("T")


def call_with_retries(
    action: Callable[[int], T],
    *,
    tries: int,
    wait: Callable[[int, TransientError], float | None],
    sleep: Callable[[float], None],
    on_retry: Callable[[int, float, TransientError], None] | None = None,
) -> T:
    """``action(attempt)`` until it returns; after a :class:`TransientError` it waits and tries again.

    ``wait(attempt, error)`` says how long (the server's ``retry_after`` comes with the error),
    or None to give up at once. The last error is raised when the tries run out.
    """
    for attempt in range(1, max(tries, 1) + 1):
        try:
            return action(attempt)
        except TransientError as err:
            seconds = wait(attempt, err)
            if attempt >= tries or seconds is None:
                raise
            if on_retry is not None:
                on_retry(attempt, seconds, err)
            sleep(seconds)
    raise AssertionError("unreachable: the last try returns or raises")  # pragma: no cover
