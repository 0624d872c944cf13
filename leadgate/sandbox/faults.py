"""The sandbox CRM's injected faults: validating a fault set, deciding per request whether it fires, and its reply.

A fault set makes API calls (optionally only on some ``paths``) slow (``latency``), fail with an HTTP
``status`` (with ``Retry-After``), or lose their connection (``drop``); always, for ``count`` requests,
or at a seeded ``error_rate``. ``after_commit`` applies the call first and fails only the answer.

It only decides: it does not sleep, serve, touch the CRM's records or lock. It is not thread-safe;
the server holds its one lock around every call into a ``FaultState``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from http import HTTPStatus

from leadgate.sandbox.rules import Reply
from leadgate.sandbox.rules import error_body
from leadgate.sandbox.rules import is_number

__all__ = ["FaultState", "Faults", "build_faults", "fault_reply"]


@dataclass
class Faults:
    """The active fault set; ``count`` is decremented in place as requests consume it."""

    status: int | None = None
    retry_after: float | None = None
    count: int | None = None
    latency: float = 0.0
    drop: bool = False
    error_rate: float | None = None
    paths: list[str] | None = None
    after_commit: bool = False
    seed: int | None = None


def build_faults(
    status: int | None = None,
    retry_after: float | None = None,
    count: int | None = None,
    latency: float = 0.0,
    drop: bool = False,
    error_rate: float | None = None,
    paths: list[str] | None = None,
    after_commit: bool = False,
    seed: int | None = None,
) -> Faults:
    """A checked fault set, or ValueError saying which argument is wrong (the control API answers it as a 400).

    An ``error_rate`` with neither a ``status`` nor ``drop`` means 500s.
    """
    if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
        raise ValueError("status must be an HTTP status code")
    if error_rate is not None and not (is_number(error_rate) and 0 <= error_rate <= 1):
        raise ValueError("error_rate must be between 0 and 1")
    if count is not None and not (isinstance(count, int) and count >= 1):
        raise ValueError("count must be a positive integer or null")
    for name, value in (("latency", latency), ("retry_after", retry_after)):
        if value is not None and not (is_number(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number")
    if paths is not None and not (isinstance(paths, list) and all(isinstance(p, str) for p in paths)):
        raise ValueError("paths must be an array of strings")
    if error_rate is not None and status is None and not drop:
        status = 500
    return Faults(status, retry_after, count, latency, bool(drop), error_rate, paths, bool(after_commit), seed)


def fault_reply(fault: Faults) -> Reply:
    """The error answer of a fault that fired (and is not a ``drop``)."""
    status = fault.status or 500
    headers = {}
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return status, error_body(f"Sandbox fault: {status} {phrase}"), headers


class FaultState:
    """The active fault set, or None, and the random generator its ``error_rate`` draws from; callers hold the lock."""

    def __init__(self, seed: int | None = None) -> None:
        self.active: Faults | None = None
        self._rng = random.Random(seed)

    def replace(self, faults: Faults, default_seed: int | None) -> None:
        """Make ``faults`` the active set and reseed, with its own ``seed`` or else ``default_seed``."""
        self.active = faults
        self._rng = random.Random(default_seed if faults.seed is None else faults.seed)

    def clear(self) -> None:
        """No active fault set; the generator is not reseeded."""
        self.active = None

    def take(self, path: str) -> tuple[float, Faults | None]:
        """Decide, before any processing, the extra latency and whether this request fails (the set that fired)."""
        faults = self.active
        if faults is None or (faults.paths is not None and path not in faults.paths):
            return 0.0, None
        erroring = faults.status is not None or faults.drop
        fires = erroring and (faults.error_rate is None or self._rng.random() < faults.error_rate)
        if faults.count is not None and (fires or not erroring):
            faults.count -= 1
            if faults.count <= 0:
                self.active = None
        return faults.latency, faults if fires else None
