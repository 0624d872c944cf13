"""Recording what one delivery attempt came to: delivered, retried, parked or dead-lettered.

Shared by single-call delivery (:mod:`workers.delivery`) and bulk delivery
(:mod:`workers.batch`), so both write the same attempt records, counters and log
lines through :meth:`EventStore.finish`.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from collections.abc import Sequence
from functools import partial
from typing import Any

import redis

from leadgate import defaults
from leadgate.durability import run_durably
from leadgate.events import Event
from leadgate.runtime import Runtime
from leadgate.speed import record_speed
from workers.errors import DeliveryError
from workers.errors import NothingToDeliver
from workers.errors import OperatorActionError
from workers.errors import TransientError
from workers.retrying import call_with_retries

__all__ = [
    "Delivered",
    "log_attempt",
    "pause_destination",
    "record_delivered",
    "record_delivered_together",
    "record_failure",
    "retry_delay",
]

log = logging.getLogger("workers.delivery")


def retry_delay(policy: Any, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Seconds to wait before the next try: the server's Retry-After, else backoff with jitter."""
    if retry_after is not None:
        return max(retry_after, 0.0)
    base = policy.backoff(attempt)
    spread = policy.jitter
    return base * (rng or random).uniform(1 - spread, 1 + spread)


def record_delivered(
    rt: Runtime,
    event: Event,
    dispatch: int,
    attempt: dict[str, Any],
    started: float,
    contact_id: str,
    deal_id: str = "",
) -> str:
    """Records a lead ConnectGain accepted in a single call, with its contact id; see :func:`record_sent`."""
    attempt.update(outcome="delivered", duration_ms=_ms(started))
    record_sent(rt, event.id, partial(_record_durably, rt, event, dispatch, attempt, contact_id, deal_id))
    log_attempt(event, attempt)
    record_speed(rt, event)
    return "delivered"


Delivered = tuple[Event, int, dict[str, Any], str]
"""A lead of a bulk call ConnectGain accepted: the event, its dispatch number, its attempt record, its contact id."""


def record_delivered_together(rt: Runtime, delivered: Sequence[Delivered], started: float) -> None:
    """Records the leads one bulk call delivered in one round trip (a pipeline of their records).

    One ``EVALSHA`` round trip per lead was about a quarter of a worker's time draining a backlog
    (py-spy). A record Redis refused (full, or read-only in a failover) goes the way of a single
    call's (:func:`record_sent`): it and the other refused ones are held first, then retried. When
    the round trip itself fails, every lead takes that way (as a single call's record whose answer was
    lost, a record Redis did run before the connection broke then gets its attempt logged twice).
    """
    for _, _, attempt, _ in delivered:
        attempt.update(outcome="delivered", duration_ms=_ms(started))
    answers: list[Any]

    def queue_records(pipe: Any) -> None:
        for event, dispatch, attempt, contact_id in delivered:
            _finish_delivered(rt, event, dispatch, attempt, contact_id, pipe=pipe)

    try:
        answers = run_durably(rt.redis, rt.config.durability, queue_records, raise_on_error=False)
    except redis.RedisError as err:  # the round trip failed, or the replicas did not confirm the records
        answers = [err] * len(delivered)
    refused = [item for item, answer in zip(delivered, answers, strict=True) if isinstance(answer, Exception)]
    for index, (event, dispatch, attempt, contact_id) in enumerate(refused):
        later = [other.id for other, _, _, _ in refused[index + 1 :]]  # held too at this record's first refusal
        write = partial(_record_durably, rt, event, dispatch, attempt, contact_id)
        record_sent(rt, event.id, write, also_hold=later)
    for event, _, attempt, _ in delivered:
        log_attempt(event, attempt)


def _record_durably(
    rt: Runtime, event: Event, dispatch: int, attempt: dict[str, Any], contact_id: str, deal_id: str = ""
) -> None:
    """One delivered lead's record; under ``durability: replicated`` it counts once a replica has it.

    Without replication it is the script call alone: redis-py's cluster pipelines do not load a
    script a node lacks, and ``replicated`` is refused on a cluster anyway.
    """
    if not rt.config.durability.replicated:
        _finish_delivered(rt, event, dispatch, attempt, contact_id, deal_id)
        return
    run_durably(
        rt.redis, rt.config.durability, partial(_finish_delivered, rt, event, dispatch, attempt, contact_id, deal_id)
    )


def _finish_delivered(
    rt: Runtime,
    event: Event,
    dispatch: int,
    attempt: dict[str, Any],
    contact_id: str,
    deal_id: str = "",
    pipe: Any = None,
) -> bool:
    return rt.store.finish(
        event.id,
        dispatch,
        "delivered",
        attempt,
        {
            "status": "delivered",
            "contact_id": contact_id,
            "deal_id": deal_id,
            "delivered_at": time.time(),
            "last_status_code": attempt.get("status_code") or 0,
            "last_error": "",
            "next_attempt_at": "",
        },
        destination=event.destination,
        received_at=event.received_at,
        pipe=pipe,
    )


def record_sent(
    rt: Runtime,
    event_id: str,
    write: Callable[[], object],
    sleep: Callable[[float], None] = time.sleep,
    also_hold: Sequence[str] = (),
) -> None:
    """Runs ``write`` (the record of a lead ConnectGain has accepted) until Redis takes it.

    Letting it fail would let the lease run out and the lead go out a second time, which is what
    happened when Redis was full (``OOM``) or read-only during a failover. So the event is first
    taken out of the due set (:meth:`~leadgate.lifecycle.DeliveryLifecycle.hold`, which Redis
    allows even when full) and the write is retried with a doubling wait for about ten minutes
    (:data:`~leadgate.defaults.RECORD_TRIES`); this worker takes no other job meanwhile, and
    none could be recorded anyway. If Redis is still refusing then, the error is raised: the lead
    was delivered once, and the event stays ``delivering`` (``leadgate health`` shows it).

    ``also_hold`` are the other leads of the same bulk call, recorded after this one: they are held
    at the first refusal too, or their leases would run out while this record waits.
    (The delivery job's RQ time limit covers this whole wait: :data:`~leadgate.defaults.RECORD_WINDOW_SECONDS`.)
    """
    try:
        write()
        return
    except redis.RedisError as err:
        log.error("ConnectGain accepted %s but Redis refused to record it (%s): holding it", event_id, err)
    try:
        rt.store.hold(event_id, *also_hold)
    except redis.RedisError as err:
        log.error("could not hold %s either (%s): if its lease runs out first it may be sent again", event_id, err)

    def attempt_write(_: int) -> None:
        try:
            write()
        except redis.RedisError as err:
            raise TransientError(f"Redis refused to record the delivery of {event_id}: {err}") from err

    first, longest = defaults.RECORD_BACKOFF_SECONDS
    call_with_retries(
        attempt_write,
        tries=defaults.RECORD_TRIES,
        wait=lambda n, _: min(first * 2 ** (n - 1), longest),
        sleep=sleep,
    )
    log.info("recorded the delivery of %s after Redis took writes again", event_id)


def record_failure(
    rt: Runtime,
    event: Event,
    dispatch: int,
    attempt_no: int,
    attempt: dict[str, Any],
    started: float,
    err: DeliveryError,
    next_at: float | None = None,
) -> str:
    """Records a failed attempt: retry (at ``next_at`` or by the schedule), park, or dead-letter."""
    policy = rt.config.delivery
    attempt.update(status_code=err.status_code or None, error=err.message, duration_ms=_ms(started))
    if err.body:
        attempt["response"] = err.body
    fields: dict[str, Any] = {"last_error": err.message, "last_status_code": err.status_code}
    if isinstance(err, TransientError) and attempt_no < policy.max_attempts:
        if next_at is None:
            next_at = time.time() + retry_delay(policy, attempt_no, err.retry_after)
        attempt["outcome"] = "retry"
        fields.update(status="retrying", next_attempt_at=next_at)
        rt.store.finish(event.id, dispatch, "retry", attempt, fields, next_at=next_at, destination=event.destination)
        log_attempt(event, attempt, next_attempt_in=round(next_at - time.time(), 1))
        return "retry"
    if isinstance(err, NothingToDeliver):
        attempt["outcome"] = "ignored"
        fields.update(status="ignored", next_attempt_at="", last_status_code=None)
        rt.store.finish(
            event.id, dispatch, "ignore", attempt, fields, destination=event.destination, source=event.source
        )
        log_attempt(event, attempt)
        return "ignored"
    if isinstance(err, OperatorActionError):
        attempt["outcome"] = err.park_as
        fields.update(status=err.park_as, next_attempt_at="")
        if err.park_as == "paused":
            pause_destination(rt, event.destination, err.message)
        rt.store.finish(event.id, dispatch, "park", attempt, fields, destination=event.destination)
        log_attempt(event, attempt)
        return err.park_as
    if isinstance(err, TransientError):
        fields["last_error"] = f"gave up after {attempt_no} attempts: {err.message}"
    attempt["outcome"] = "dead"
    fields.update(status="dead", next_attempt_at="", dead_at=time.time())
    rt.store.finish(event.id, dispatch, "dead", attempt, fields, destination=event.destination)
    log_attempt(event, attempt, error=fields["last_error"])
    return "dead"


def log_attempt(event: Event, attempt: dict[str, Any], **extra: Any) -> None:
    """One line per delivery attempt: ids, outcome, status code, duration; never the lead itself."""
    outcome = attempt.get("outcome", "")
    level = logging.INFO if outcome == "delivered" else logging.ERROR if outcome == "dead" else logging.WARNING
    log.log(
        level,
        "delivery attempt",
        extra={
            "kind": "delivery",
            "event_id": event.id,
            "source": event.source,
            "destination": event.destination,
            "attempt": attempt.get("n"),
            "status": outcome,
            "status_code": attempt.get("status_code"),
            "duration_ms": attempt.get("duration_ms"),
            "error": extra.pop("error", attempt.get("error")),
            **extra,
        },
    )


def pause_destination(rt: Runtime, destination: str, reason: str) -> None:
    """Stops deliveries to a destination until ``leadgate destinations resume`` (e.g. its API key was revoked)."""
    rt.redis.hsetnx(rt.store.paused_key, destination, json.dumps({"reason": reason, "at": time.time()}))


def _ms(started: float) -> int:
    return int((time.time() - started) * 1000)
