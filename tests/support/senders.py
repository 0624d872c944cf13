"""Webhook senders in threads, for the load tests: each posts its share of the leads at a steady pace.

What one post does (retrying a 503 as a platform would, booking the answer) is the test's own
``send``; :class:`Senders` runs it in ``count`` threads over interleaved shares of the e-mails, keeps
what went wrong in a sender for the test's thread to raise, and bounds the wait for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Senders"]


class Senders:
    """``count`` threads calling ``send(email)`` for every ``count``-th e-mail, ``pace`` seconds apart."""

    def __init__(self, send: Callable[[str], None], emails: list[str], count: int, pace: float) -> None:
        self.failures: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._run, args=(send, emails[n::count], pace), name=f"sender-{n}", daemon=True)
            for n in range(count)
        ]

    def _run(self, send: Callable[[str], None], emails: list[str], pace: float) -> None:
        try:
            for email in emails:
                send(email)
                time.sleep(pace)
        except BaseException as err:  # surfaced in the test's thread by check()
            self.failures.append(err)

    def start(self) -> Senders:
        for thread in self.threads:
            thread.start()
        return self

    def check(self) -> bool:
        """Raises what failed in a sender thread; True otherwise (for use inside a wait)."""
        if self.failures:
            raise self.failures[0]
        return True

    def join(self, timeout: float) -> None:
        """Waits for every sender (``timeout`` each), fails on one still running, then raises its failure."""
        for thread in self.threads:
            thread.join(timeout=timeout)
        assert not any(t.is_alive() for t in self.threads), "a sender hung"
        self.check()
