"""What an acknowledgement waits for: the master's write, or (``durability: replicated``) its copies too.

Redis replicates asynchronously: a write the master has taken can still be lost when a replica
is promoted before it arrived. ``WAIT n timeout`` blocks until ``n`` replicas have acknowledged
every write made so far *on the same connection*, so the writes and the ``WAIT`` are sent in one
pipeline (one connection; not a ``MULTI``, inside which ``WAIT`` does not wait). Fewer replicas in
time raises :class:`NotReplicated`, a ``RedisError``: the gateway answers it 503 like any store
failure. The lead is on the master then, and a re-send is a duplicate of it (its platform id,
``Idempotency-Key`` or identical body), so nothing is delivered twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from redis.client import Pipeline

from leadgate.config import Durability

__all__ = ["NotReplicated", "run_durably"]


class NotReplicated(redis.RedisError):
    """The master took the writes, but fewer replicas than ``min_replicas`` acknowledged them in time."""

    def __init__(self, acknowledged: int, wanted: int, timeout_ms: int):
        self.acknowledged = acknowledged
        self.wanted = wanted
        super().__init__(f"{acknowledged} of {wanted} replicas acknowledged the write within {timeout_ms} ms")


def run_durably(
    client: redis.Redis, durability: Durability, queue: Callable[[Pipeline], object], raise_on_error: bool = True
) -> list[Any]:
    """Runs the commands ``queue`` adds to a pipeline; with ``replicated``, then waits for the replicas.

    Returns the commands' results (with ``raise_on_error=False``, a refused command's error in its
    place, as redis-py's pipelines do). Raises:
        NotReplicated: fewer than ``min_replicas`` replicas had them within ``replica_timeout_ms``.
        redis.RedisError: as the commands themselves (unless ``raise_on_error`` is False).
    """
    with client.pipeline(transaction=False) as pipe:
        queue(pipe)
        if not durability.replicated:
            return pipe.execute(raise_on_error=raise_on_error)
        pipe.wait(durability.min_replicas, durability.replica_timeout_ms)
        *results, acknowledged = pipe.execute(raise_on_error=raise_on_error)
    if isinstance(acknowledged, Exception):
        raise acknowledged
    if int(acknowledged) < durability.min_replicas:
        raise NotReplicated(int(acknowledged), durability.min_replicas, durability.replica_timeout_ms)
    return results
