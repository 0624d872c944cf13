"""Coalescing: when leads for one destination pile up, send them in one ``create-leads-bulk`` call.

The job that claims a batchable lead also takes up to ``batch_size - 1`` other queued
leads for the same destination in one atomic step (:meth:`EventStore.claim_ready`),
so no lead is ever in two calls at once. A lone lead is not held back: with nothing
else waiting (and ``batch_wait_ms`` at its default 0) the caller sends it alone.

Outcomes map back by ``results[].index``: each success is recorded with its contact
id; each per-item failure is retried at once on its own through ``/create-lead``
(whose status code says whether it is worth retrying); a failure of the whole request
retries every lead in it at the same moment, so they travel together again.
"""

from __future__ import annotations

import hashlib
import json
import time
import weakref
from typing import Any

import redis
from rq.job import Job

from leadgate import defaults
from leadgate.config import Destination
from leadgate.events import Event
from leadgate.queue import job_id
from leadgate.runtime import Runtime
from leadgate.speed import record_speeds
from workers.connectgain import ConnectGainClient
from workers.errors import DeliveryError
from workers.errors import OperatorActionError
from workers.errors import PermanentError
from workers.errors import TransientError
from workers.outcomes import Delivered
from workers.outcomes import record_delivered_together
from workers.outcomes import record_failure
from workers.outcomes import retry_delay

__all__ = ["deliver_batch"]

Member = tuple[Event, int, int]
"""An event in a batch, with its dispatch number and attempt number."""


def deliver_batch(
    rt: Runtime,
    client: ConnectGainClient,
    destination: Destination,
    leader: Event,
    dispatch: int,
    attempt_no: int,
    started: float,
) -> str | None:
    """Sends ``leader`` with the other queued leads for its destination; None when it is alone."""
    policy = rt.config.delivery
    claimed = _claim_others(rt, leader.destination, policy.batch_size - 1, policy.lease_seconds)
    if not claimed and policy.batch_wait_ms:
        time.sleep(policy.batch_wait_ms / 1000)
        claimed = _claim_others(rt, leader.destination, policy.batch_size - 1, policy.lease_seconds)
    if not claimed:
        return None
    _drop_superseded_jobs(rt, claimed)
    others = {e.id: e for e in rt.store.get_many(event_id for event_id, *_ in claimed)}
    members: list[Member] = [(leader, dispatch, attempt_no)]
    members += [(others[i], d, a) for i, d, a, _ in claimed if i in others]
    leads = [dict(event.lead) for event, _, _ in members]
    key = "bulk-" + hashlib.sha256(",".join(e.id for e, _, _ in members).encode()).hexdigest()[:32]
    try:
        status, results = client.create_leads_bulk(destination, leads, idempotency_key=key)
    except DeliveryError as err:
        _fail_all(rt, members, started, err)
        return _leader_outcome(rt, leader)
    delivered: list[Delivered] = []
    for index, (event, member_dispatch, member_attempt) in enumerate(members):
        attempt: dict[str, Any] = {"n": member_attempt, "at": started, "status_code": status, "batch": len(members)}
        item = results.get(index)
        if item is not None and _succeeded(item):
            attempt["response"] = _short(item)
            delivered.append((event, member_dispatch, attempt, str(item.get("contact_id") or "")))
            continue
        reason = str(item.get("error") or item.get("message") or "failed") if item else "missing from results[]"
        attempt["response"] = _short(item) if item else ""
        rt.store.update(event.id, batchable=False)  # its next try goes alone, to get its own status code
        failure = TransientError(f"bulk item {index} failed ({reason}); retrying it alone", status_code=status)
        record_failure(rt, event, member_dispatch, member_attempt, attempt, started, failure, next_at=time.time())
    record_delivered_together(rt, delivered, started)
    record_speeds(rt, [event for event, _, _, _ in delivered])  # one round trip for the call's speed-to-lead figures
    return _leader_outcome(rt, leader)


def _succeeded(item: dict[str, Any] | None) -> bool:
    return item is not None and item.get("success") is True


def _claim_others(rt: Runtime, destination: str, limit: int, lease_seconds: float) -> list[tuple[str, int, int, int]]:
    if limit < 1:
        return []
    now = time.time()
    return rt.store.claim_ready(destination, limit, now, now + lease_seconds, now + defaults.DISPATCH_GRACE_SECONDS)


def _drop_superseded_jobs(rt: Runtime, claimed: list[tuple[str, int, int, int]]) -> None:
    """Deletes the queued jobs of the leads just taken off the queue: they would only find themselves stale.

    A job still in the queue list goes with its ``rq:job`` hash (left alone, the hash stayed a day per
    lead); a job another worker already dequeued is not in the list and keeps its record (RQ needs it
    to finish; ``result_ttl=0`` deletes it then). Both in one script, so no worker dequeues in between.
    """
    ids = [job_id(event_id, old_dispatch) for event_id, _, _, old_dispatch in claimed]
    client = rt.queue.connection  # RQ's Redis
    script = _scripts.get(client)
    if script is None:
        script = _scripts[client] = client.register_script(_DROP_QUEUED_JOBS)
    script(keys=[rt.queue.key, *(Job.key_for(i) for i in ids)], args=ids)


# KEYS: the queue list, then each job's hash. ARGV: the job ids, in the same order.
_DROP_QUEUED_JOBS = """
for i, id in ipairs(ARGV) do
  if redis.call('LREM', KEYS[1], 1, id) > 0 then redis.call('DEL', KEYS[i + 1]) end
end
return 0
"""

_scripts: weakref.WeakKeyDictionary[redis.Redis, Any] = weakref.WeakKeyDictionary()


def _fail_all(rt: Runtime, members: list[Member], started: float, err: DeliveryError) -> None:
    """A failure of the whole request: every lead shares the outcome (and one retry time)."""
    if isinstance(err, PermanentError) and not isinstance(err, OperatorActionError):
        # a refused bulk request says nothing about any single lead: send each alone next
        for event, _, _ in members:
            rt.store.update(event.id, batchable=False)
        err = TransientError(f"{err.message}; retrying each lead alone", status_code=err.status_code, body=err.body)
        next_at: float | None = time.time()
    else:
        next_at = None
        if isinstance(err, TransientError):
            next_at = time.time() + retry_delay(rt.config.delivery, members[0][2], err.retry_after)
    for event, member_dispatch, member_attempt in members:
        attempt: dict[str, Any] = {"n": member_attempt, "at": started, "batch": len(members)}
        record_failure(rt, event, member_dispatch, member_attempt, attempt, started, err, next_at=next_at)


def _leader_outcome(rt: Runtime, leader: Event) -> str:
    event = rt.store.get(leader.id)
    return {"delivered": "delivered", "retrying": "retry", "dead": "dead"}.get(event.status if event else "", "retry")


def _short(item: Any) -> str:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False)[:500]
