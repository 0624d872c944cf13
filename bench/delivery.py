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


def queue_single(bench: Bench, leads: int, log: Callable[[str], None]) -> list[str]:
    """A fresh backlog of ``leads`` for the single-call runs (in an emptied Redis)."""
    bench.flush()
    started = time.perf_counter()
    ids = queue_backlog(bench.runtime(1), leads, "single")
    log(f"queued {leads} leads in {time.perf_counter() - started:.1f}s")
    return ids


def measure_delivery(
    bench: Bench, procs: Processes, single_leads: int, bulk_leads: int, log: Callable[[str], None]
) -> DeliveryResults:
    results = DeliveryResults()

    # single-call: the plain loop and the worker with batch_size 1 send the same payloads, one call at a
    # time (calls_in_flight 1) as the loop does; then with the default calls in flight
    ids = queue_single(bench, single_leads, log)
    single = bench.runtime(1)
    bench.crm_reset(CRM_LATENCY)
    results.runs["loop"] = plain_loop(bench, single.store.get_many(ids))
    log(f"plain httpx loop: {results.runs['loop'].per_second:.1f} leads/s")
    timeout = single_leads * CRM_LATENCY * 4 + 60
    for key, calls in (("single", 1), (f"single, {defaults.CALLS_IN_FLIGHT} in flight", defaults.CALLS_IN_FLIGHT)):
        if key != "single":
            ids = queue_single(bench, single_leads, log)
        bench.crm_reset(CRM_LATENCY)
        mode = f"single-call (batch_size 1), {calls} in flight"
        results.runs[key] = run_worker(bench, procs, single, ids, 1, calls, mode, timeout)
        log(f"{mode}: {results.runs[key].per_second:.1f} leads/s")

    # coalesced: batch_size 100, a bigger backlog of the same kind of leads, the same two ways
    timeout = bulk_leads * CRM_LATENCY + 120
    for key, calls in (
        ("coalesced", 1),
        (f"coalesced, {defaults.CALLS_IN_FLIGHT} in flight", defaults.CALLS_IN_FLIGHT),
    ):
        bench.flush()
        coalesced = bench.runtime(100)
        started = time.perf_counter()
        ids = queue_backlog(coalesced, bulk_leads, "bulk")
        log(f"queued {bulk_leads} leads in {time.perf_counter() - started:.1f}s")
        bench.crm_reset(CRM_LATENCY)
        mode = f"coalesced (batch_size 100), {calls} in flight"
        results.runs[key] = run_worker(bench, procs, coalesced, ids, 100, calls, mode, timeout)
        log(f"{mode}: {results.runs[key].per_second:.1f} leads/s")
    bench.flush()
    bench.crm_reset(0)
    return results
