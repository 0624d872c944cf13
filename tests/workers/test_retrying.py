"""The in-process retry loop the backfill and the CSV import share."""

from __future__ import annotations

import pytest

from workers.errors import TransientError
from workers.retrying import call_with_retries


def flaky(failures: int, retry_after: float | None = None):
    calls: list[int] = []

    def action(attempt: int) -> str:
        calls.append(attempt)
        if len(calls) <= failures:
            raise TransientError("busy", retry_after=retry_after)
        return "done"

    return action, calls


def test_transient_failures_are_tried_again_after_the_wait_asked_for():
    action, calls = flaky(2, retry_after=7.0)
    slept: list[float] = []
    noted: list[tuple[int, float]] = []
    result = call_with_retries(
        action,
        tries=3,
        wait=lambda attempt, err: err.retry_after,
        sleep=slept.append,
        on_retry=lambda attempt, seconds, err: noted.append((attempt, seconds)),
    )
    assert result == "done" and calls == [1, 2, 3]
    assert slept == [7.0, 7.0] and noted == [(1, 7.0), (2, 7.0)]


def test_the_last_failure_is_raised_when_the_tries_run_out():
    action, calls = flaky(5)
    with pytest.raises(TransientError):
        call_with_retries(action, tries=3, wait=lambda attempt, err: 0.0, sleep=lambda s: None)
    assert calls == [1, 2, 3]


def test_a_wait_of_none_gives_up_at_once():
    action, calls = flaky(5)
    with pytest.raises(TransientError):
        call_with_retries(action, tries=5, wait=lambda attempt, err: None, sleep=lambda s: None)
    assert calls == [1]
