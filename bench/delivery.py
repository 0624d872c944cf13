"""Part (b): leads delivered per second by one ``leadgate worker`` process, single-call vs coalesced.

A backlog is queued first, through the gateway's own store transaction (:func:`leadgate.intake.accept`
on form posts parsed and normalized by the form adapter, exactly what a 202 leaves behind), then one
worker is started and the run waits until every lead is recorded delivered. Its rate is counted from
the first attempt's start to the last ``delivered_at``, so the process's start-up (imports, Redis
connection) is not part of it. The baseline is a plain sequential httpx loop posting the same
payloads to ``/create-lead``, with the same headers, over one keep-alive connection.

Each mode runs twice: with ``calls_in_flight: 1``, one call at a time like the loop (so the ratios
compare the cost of a call, not concurrency), then with the default calls in flight.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import urlencode

import httpx

from adapters import get_adapter
from adapters.base import InboundRequest
from bench.load import form_lead
from bench.stack import API_KEY
from bench.stack import FORM_SOURCE
from bench.stack import Bench
from gateway.inbound import request_meta
from leadgate import defaults
from leadgate import metrics
from leadgate.events import Event
from leadgate.intake import accept
from leadgate.runtime import Runtime
from leadgate.sandbox.processes import Processes
from leadgate.sandbox.processes import peak_rss_kib

__all__ = ["DeliveryResults", "DeliveryRun", "measure_delivery"]

CRM_LATENCY = 0.05


@dataclass
class DeliveryRun:
    mode: str
    leads: int
    seconds: float
    crm_requests: Counter[str] = field(default_factory=Counter)
    delivered_once: bool | None = None
    """Every lead reached the CRM exactly once (None: not checked)."""
    worker_rss_kib: int = 0

    @property
    def per_second(self) -> float:
        return self.leads / self.seconds if self.seconds else 0.0


@dataclass
class DeliveryResults:
    runs: dict[str, DeliveryRun] = field(default_factory=dict)


def queue_backlog(rt: Runtime, count: int, tag: str) -> list[str]:
    """``count`` form leads acknowledged as the gateway does it; returns their event ids, oldest first."""
    source = rt.config.sources[FORM_SOURCE]
    adapter = get_adapter(source.kind)
    assert adapter is not None
    ids = []
    for i in range(count):
        fields = form_lead(tag, i)
        inbound = InboundRequest(
            method="POST",
            content_type="application/x-www-form-urlencoded",
            body=urlencode(fields).encode(),
            headers={"content-type": "application/x-www-form-urlencoded", "user-agent": "leadgate-bench"},
            form=tuple(fields.items()),
            remote_addr="127.0.0.1",
        )
        (event,) = adapter.parse(inbound, source)
        lead = adapter.normalize(event.raw, source)
        accepted = accept(rt, source, event, lead=lead, request_meta=request_meta(inbound))
        ids.append(accepted.event_id)
    return ids


def plain_loop(bench: Bench, events: list[Event]) -> DeliveryRun:
    """POSTs each stored lead to /create-lead in turn: the floor a worker's overhead is measured against."""
    headers = {"X-API-Key": API_KEY, "User-Agent": "leadgate-bench"}
    with httpx.Client(timeout=httpx.Timeout(10.0), trust_env=False) as client:
        started = time.perf_counter()
        for event in events:
            response = client.post(
                f"{bench.crm_url}/create-lead", json=event.lead, headers={**headers, "Idempotency-Key": event.id}
            )
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return DeliveryRun("plain httpx loop", len(events), elapsed, Counter({"/create-lead": len(events)}))


def delivered_window(bench: Bench, rt: Runtime, ids: list[str]) -> float:
    """Seconds from the start of the first delivery attempt to the last lead recorded delivered."""
    events = rt.store.get_many(ids)
    firsts = [attempt["at"] for attempt in rt.store.first_attempts(ids).values()]
    return max(e.delivered_at for e in events) - min(firsts)


def run_worker(
    bench: Bench,
    procs: Processes,
    rt: Runtime,
    ids: list[str],
    batch_size: int,
    calls_in_flight: int,
    mode: str,
    timeout: float,
) -> DeliveryRun:
    """Starts one ``leadgate worker``, waits until ``ids`` are all delivered, stops it."""
    env = bench.leadgate_env(batch_size, calls_in_flight)
    worker = procs.start_worker(f"worker-batch{batch_size}-calls{calls_in_flight}", env)
    delivered_field = metrics.counter_field("delivered", "main")
    deadline = time.monotonic() + timeout
    try:
        while int(bench.redis.hget(rt.store.counters_key, delivered_field) or 0) < len(ids):
            if not worker.running:
                raise RuntimeError(f"leadgate worker exited with {worker.proc.returncode}\n{worker.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{mode}: not every lead was delivered within {timeout:.0f}s\n{worker.tail()}")
            time.sleep(0.05)
        rss = peak_rss_kib(worker.pid)
    finally:
        worker.stop()
    requests = Counter(r["path"] for r in bench.crm_get("requests"))
    by_email = Counter(d["email"] for d in bench.crm_get("deliveries"))
    once = len(by_email) == len(ids) and set(by_email.values()) == {1}
    seconds = delivered_window(bench, rt, ids)
    return DeliveryRun(mode, len(ids), seconds, requests, once, rss)


def queue_fresh(
    bench: Bench, batch_size: int, leads: int, label: str, log: Callable[[str], None]
) -> tuple[Runtime, list[str]]:
    """A fresh backlog of ``leads`` in an emptied Redis, for a worker with ``batch_size``."""
    bench.flush()
    rt = bench.runtime(batch_size)
    started = time.perf_counter()
    ids = queue_backlog(rt, leads, label)
    log(f"queued {leads} leads in {time.perf_counter() - started:.1f}s")
    return rt, ids


def measure_delivery(
    bench: Bench, procs: Processes, single_leads: int, bulk_leads: int, log: Callable[[str], None]
) -> DeliveryResults:
    results = DeliveryResults()
    # the plain loop sends the payloads of the first single-call backlog itself; that backlog is then
    # the worker's, one call at a time (calls_in_flight 1) as the loop does, then with the default
    rt, ids = queue_fresh(bench, 1, single_leads, "single", log)
    bench.crm_reset(CRM_LATENCY)
    results.runs["loop"] = plain_loop(bench, rt.store.get_many(ids))
    log(f"plain httpx loop: {results.runs['loop'].per_second:.1f} leads/s")
    kinds = (
        ("single", "single-call", 1, single_leads, single_leads * CRM_LATENCY * 4 + 60),
        ("coalesced", "coalesced", 100, bulk_leads, bulk_leads * CRM_LATENCY + 120),
    )
    for key, name, batch_size, leads, timeout in kinds:
        for calls in (1, defaults.CALLS_IN_FLIGHT):
            if not ids:
                rt, ids = queue_fresh(bench, batch_size, leads, key, log)
            bench.crm_reset(CRM_LATENCY)
            mode = f"{name} (batch_size {batch_size}), {calls} in flight"
            run_key = key if calls == 1 else f"{key}, {calls} in flight"
            results.runs[run_key] = run_worker(bench, procs, rt, ids, batch_size, calls, mode, timeout)
            log(f"{mode}: {results.runs[run_key].per_second:.1f} leads/s")
            ids = []
    bench.flush()
    bench.crm_reset(0)
    return results
