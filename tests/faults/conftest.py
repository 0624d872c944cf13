"""Fixtures for the fault-injection suite: stacks of real processes that are always torn down.

Every scenario builds its own :class:`tests.support.stack.Stack` (Redis, the sandbox CRM,
gunicorn, ``leadgate worker`` processes) so counters, queues and the CRM start empty, and
checks what the senders were told with a :class:`tests.support.stack.Ledger`. Whatever the
outcome, every process a stack started is SIGKILLed at teardown and a survivor fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest


@pytest.fixture
def new_email() -> Callable[[str], str]:
    """A fresh lower-case e-mail per call (the CRM is searched by e-mail, and merges contacts on it)."""
    run = uuid.uuid4().hex[:6]
    counter = iter(range(1_000_000))

    def make(tag: str) -> str:
        return f"{tag}-{next(counter)}-{run}@example.com"

    return make
