"""Health of the whole pipeline, shared by ``/readyz``, ``/metrics`` and ``leadgate health``.

Ready means: Redis answers and takes writes (a probe key is written, and under ``durability:
replicated`` reaches the replicas), the config loaded. Healthy (for ``leadgate health``) also
means deliveries are moving: some worker is registered, no event is overdue by
more than ``STALL_SECONDS`` (which only happens when no dispatcher runs), no destination
is paused and no lead is parked (both wait for an operator). Redis
settings that can lose acknowledged leads (no AOF, an evicting maxmemory policy)
are reported as warnings.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import redis
from rq import Worker

from leadgate import defaults
from leadgate.durability import NotReplicated
from leadgate.durability import run_durably

__all__ = ["Health", "check", "paused_destinations"]

STALL_SECONDS = 120
"""An event this much past its due time means nobody is dispatching deliveries."""

PIPELINE_NOTE = re.compile(r"^Command # \d+ \(.*?\) of pipeline caused error: ")
"""What redis-py puts before an error met in a pipeline: the probe's command, not the reason."""

PROBE_KEY = f"{defaults.KEY_PREFIX}probe"
PROBE_TTL_MS = 10_000
"""The write probe's key expires by itself: a probe costs one short-lived string."""


@dataclass
class Health:
    redis_ok: bool = False
    redis_error: str = ""
    redis_refusing: bool = False
    """Redis answers but refuses writes: read-only (a replica, a demoted master), full (OOM), too few replicas."""
    workers: int = 0
    overdue: int = 0
    queue_depth: int = 0
    dead_letters: int = 0
    parked: int = 0
    """Leads held for an operator (a refused API key, a CRM limit): they move only once someone acts."""
    paused: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.redis_ok

    @property
    def redis_state(self) -> str:
        """``ok``, or why leads cannot be stored now."""
        if self.redis_ok:
            return "ok"
        return f"{'refusing writes' if self.redis_refusing else 'unreachable'} ({self.redis_error})"

    @property
    def problems(self) -> list[str]:
        """Why deliveries are not moving, one sentence each (empty when healthy)."""
        if not self.redis_ok:
            return [f"redis {self.redis_state}"]
        found = []
        if self.workers == 0:
            found.append("no worker is running (start one: leadgate worker)")
        if self.overdue:
            found.append(f"{self.overdue} delivery(ies) overdue by more than {STALL_SECONDS} s: nobody is dispatching")
        for name, state in sorted(self.paused.items()):
            reason = state.get("reason") if isinstance(state, dict) else None
            found.append(
                f"destination {name} is paused ({reason or 'no reason recorded'}): fix it, then "
                f"leadgate destinations resume {name}"
            )
        if self.parked:
            found.append(f"{self.parked} lead(s) parked, waiting for an operator (leadgate dlq list, dlq replay --all)")
        return found

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.healthy,
            "redis": self.redis_state,
            "workers": self.workers,
            "queue_depth": self.queue_depth,
            "overdue": self.overdue,
            "dead_letters": self.dead_letters,
            "parked": self.parked,
            "paused_destinations": self.paused,
            "problems": self.problems,
            "warnings": self.warnings,
        }


def paused_destinations(rt: Any) -> dict[str, Any]:
    raw = rt.redis.hgetall(rt.store.paused_key)
    return {k.decode(): json.loads(v) for k, v in raw.items()}


def check(rt: Any, *, deep: bool = True) -> Health:
    """Reads the pipeline's state; ``deep`` adds the worker registry and Redis persistence settings."""
    health = Health()
    reached = False
    try:
        rt.redis.ping()
        reached = True
        probe_writes(rt)
        health.redis_ok = True
        health.paused = paused_destinations(rt)
        if not deep:
            return health
        now = time.time()
        health.queue_depth = int(rt.redis.zcard(rt.store.due_key))
        health.overdue = int(rt.redis.zcount(rt.store.due_key, "-inf", now - STALL_SECONDS))
        health.dead_letters = int(rt.redis.zcard(rt.store.dead_key))
        health.parked = int(rt.redis.zcard(rt.store.parked_key))
        health.workers = len(Worker.all(connection=rt.queue.connection))
        health.warnings = persistence_warnings(rt.redis)
    except redis.RedisError as err:
        health.redis_ok = False
        health.redis_refusing = reached
        health.redis_error = describe(err)
    return health


def probe_writes(rt: Any) -> None:
    """Raises what a lead's write would meet now: READONLY, OOM, NOREPLICAS, or too few replicas.

    A ping answers on a read-only or full Redis too, so readiness writes: one ``SET`` that
    expires by itself, followed by ``WAIT`` under ``durability: replicated`` as intake does.
    """
    run_durably(rt.redis, rt.config.durability, lambda pipe: pipe.set(PROBE_KEY, repr(time.time()), px=PROBE_TTL_MS))


def describe(err: redis.RedisError) -> str:
    """The error's type, and the server's reason for a refusal (``OOM ...``, ``NOREPLICAS ...``).

    A connection error's text is left out: it names Redis's address, and ``/readyz`` is public.
    """
    if isinstance(err, (redis.ResponseError, NotReplicated)):
        reason = PIPELINE_NOTE.sub("", str(err))
        return f"{type(err).__name__}: {reason[:200]}"
    return type(err).__name__


def persistence_warnings(client: redis.Redis) -> list[str]:
    """Redis settings under which an acknowledged lead can vanish."""
    warnings = []
    try:
        settings = client.config_get("appendonly") | client.config_get("maxmemory-policy")
    except redis.ResponseError:  # managed Redis services may forbid CONFIG
        return ["cannot read Redis settings (CONFIG GET refused): make sure appendonly=yes and noeviction"]
    if settings.get("appendonly") != "yes":
        warnings.append("Redis appendonly is off: a Redis restart can lose acknowledged leads (set appendonly yes)")
    if settings.get("maxmemory-policy") != "noeviction":
        warnings.append(
            f"Redis maxmemory-policy is {settings.get('maxmemory-policy')}: it may evict queued leads "
            "(set maxmemory-policy noeviction)"
        )
    return warnings
