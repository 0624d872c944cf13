"""Part (e): speed to lead, from the sender's POST to the CRM's receipt of the lead, and what a lead costs.

The gateway (gunicorn, production config) and one ``leadgate worker`` run together against the sandbox
CRM, which stamps each delivery with the time it received it. Senders post unique form leads at a
steady rate (50 and 500 leads/s), each stamped with the time just before its POST; the speed to lead of
a lead is the CRM's stamp minus that one (one clock: everything runs on this machine). Then, after an
idle spell with nothing posted, single leads: the first lead after a pause meets cold connections and
a worker blocked in its longest wait. Each condition runs with the CRM answering at once and after
50 ms. Alongside, the CPU each process group used per lead (gunicorn, the worker, Redis) and the Redis
commands per lead, end to end (``INFO commandstats``, RQ's own bookkeeping included).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

import httpx
from rq import Worker

from bench.load import form_lead
from bench.stack import FORM_SOURCE
from bench.stack import Bench
from leadgate.sandbox.processes import CpuMeter
from leadgate.sandbox.processes import Processes
from leadgate.sandbox.processes import process_children
from leadgate.sandbox.processes import wait_until

__all__ = ["SpeedResults", "SpeedRun", "SpeedSettings", "measure_speed"]

SENDERS = 8
"""Sender threads, each with its own keep-alive connection (opened before the measured load: a sender
that posts 50 leads a second keeps its connections open): enough that a slow answer never holds back
the schedule at 500 leads/s, few enough not to compete for the cores with what they measure."""


@dataclass(frozen=True)
class SpeedSettings:
    rates: tuple[tuple[int, float], ...] = ((50, 8.0), (500, 4.0))
    """(leads per second, seconds) of each steady load."""
    latencies: tuple[float, ...] = (0.0, 0.05)
    idle_seconds: float = 60.0
    idle_leads: int = 1
    """Leads sent one at a time, each after ``idle_seconds`` of nothing (each its own row)."""


@dataclass
class SpeedRun:
    label: str
    rate: int | None
    """Leads per second; None for the leads sent after an idle spell."""
    crm_latency: float
    milliseconds: list[float]
    refused: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    redis_commands: int = 0
    stages: dict[str, list[float]] = field(default_factory=dict)
    """Milliseconds of each lead in each stage: ``ack`` (POST to stored), ``queued`` (stored to its delivery
    attempt's start), ``send`` (attempt start to the CRM's receipt)."""

    @property
    def leads(self) -> int:
        return len(self.milliseconds)

    def percentile(self, share: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.milliseconds if values is None else values)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.milliseconds) if self.milliseconds else 0.0

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99)

    @property
    def max_ms(self) -> float:
        return max(self.milliseconds, default=0.0)

    def cpu_ms_per_lead(self, *groups: str) -> float:
        return sum(self.cpu.get(g, 0.0) for g in groups) * 1000 / self.leads if self.leads else 0.0

    @property
    def commands_per_lead(self) -> float:
        return self.redis_commands / self.leads if self.leads else 0.0


@dataclass
class SpeedResults:
    runs: list[SpeedRun] = field(default_factory=list)

    def find(self, rate: int | None, latency: float) -> SpeedRun | None:
        return next((r for r in self.runs if r.rate == rate and r.crm_latency == latency), None)


class Senders:
    """Posts form leads to the gateway on a schedule, remembering when each POST left."""

    def __init__(self, url: str, tag: str):
        self.url = url
        self.tag = tag
        self.sent: dict[str, float] = {}
        self.event_ids: dict[str, str] = {}
        self.refused = 0
        self._lock = threading.Lock()
        self._next = 0
        self._local = threading.local()

    def post(self, i: int) -> None:
        lead = form_lead(self.tag, i)
        sent = time.time()
        response = self._client().post(self.url, data=lead)
        with self._lock:
            if response.status_code == 202:
                self.sent[lead["email"]] = sent
                self.event_ids[lead["email"]] = response.json()["event_id"]
            else:
                self.refused += 1

    def steady(self, rate: int, seconds: float) -> None:
        """``rate`` leads a second for ``seconds``, each at its scheduled time (or as soon as a sender is free)."""
        total = int(rate * seconds)
        start = time.monotonic() + 0.2

        def send() -> None:
            while True:
                with self._lock:
                    i = self._next
                    self._next += 1
                if i >= total:
                    return
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.post(i)

        self.warm(SENDERS)
        threads = [threading.Thread(target=send, daemon=True) for _ in range(SENDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 60)

    def warm(self, count: int) -> None:
        """Opens ``count`` connections (one per sender thread) with a GET each; not measured."""
        clients = [httpx.Client(timeout=15, trust_env=False) for _ in range(count)]
        for client in clients:
            client.get(self.url.rsplit("/hooks/", 1)[0] + "/readyz")
        self._warm = iter(clients)

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = next(getattr(self, "_warm", iter(())), None) or httpx.Client(
                timeout=15, trust_env=False
            )
        return client

    def one(self, i: int) -> None:
        self.post(i)


def command_count(bench: Bench) -> int:
    return sum(int(stats["calls"]) for stats in bench.redis.info("commandstats").values())


def measure_speed(bench: Bench, procs: Processes, settings: SpeedSettings, log: Callable[[str], None]) -> SpeedResults:
    results = SpeedResults()
    bench.flush()
    env = bench.leadgate_env(100)
    gateway, url = procs.start_gunicorn("speed-gateway", "gateway:create_app()", env)
    worker = procs.start_worker("speed-worker", env)
    wait_until(lambda: len(Worker.all(connection=bench.redis)) >= 1, 30, f"the worker\n{worker.tail()}", 0.1)
    hook = f"{url}/hooks/{FORM_SOURCE}"
    counter = iter(range(1_000_000))

    def stages(senders: Senders, stamps: dict[str, float]) -> dict[str, list[float]]:
        ids = {event_id: email for email, event_id in senders.event_ids.items()}
        events = {e.id: e for e in bench.runtime(100).store.get_many(ids)}
        firsts = bench.runtime(100).store.first_attempts(ids)
        split: dict[str, list[float]] = {"ack": [], "queued": [], "send": []}
        for event_id, email in ids.items():
            if event_id not in events or event_id not in firsts:
                continue
            received, started = events[event_id].received_at, firsts[event_id]["at"]
            split["ack"].append((received - senders.sent[email]) * 1000)
            split["queued"].append((started - received) * 1000)
            split["send"].append((stamps[email] - started) * 1000)
        return split

    def run(
        label: str, rate: int | None, latency: float, send: Callable[[Senders], None], idle: float = 0.0
    ) -> SpeedRun:
        bench.crm_reset(latency)
        senders = Senders(hook, f"speed{next(counter)}")
        time.sleep(idle)  # nothing posted meanwhile; not metered (per-lead CPU and commands count the lead only)
        groups = {"web": [gateway.pid, *process_children(gateway.pid)], "worker": [worker.pid]}
        if procs.redis_pid:
            groups["redis"] = [procs.redis_pid]
        meter = CpuMeter(groups)
        commands = command_count(bench)
        send(senders)

        def received() -> dict[str, float] | None:
            stamps = {d["email"]: d["received_at"] for d in bench.crm_get("deliveries") if d.get("email")}
            return stamps if set(senders.sent) <= set(stamps) else None

        stamps = wait_until(received, 60, f"{label}: every lead at the CRM\n{worker.tail()}", 0.05)
        cpu = meter.stop()
        used = command_count(bench) - commands - 1
        milliseconds = [(stamps[email] - sent) * 1000 for email, sent in senders.sent.items()]
        result = SpeedRun(label, rate, latency, milliseconds, senders.refused, cpu, used, stages(senders, stamps))
        log(
            f"speed to lead, {label}: p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms max {result.max_ms:.1f} ms "
            f"({result.leads} leads, {result.refused} refused); CPU/lead web {result.cpu_ms_per_lead('web'):.2f} ms "
            f"worker {result.cpu_ms_per_lead('worker'):.2f} ms redis {result.cpu_ms_per_lead('redis'):.2f} ms; "
            f"{result.commands_per_lead:.1f} Redis commands/lead; p99 by stage "
            + ", ".join(f"{name} {result.percentile(0.99, values):.1f} ms" for name, values in result.stages.items())
        )
        return result

    try:
        for latency in settings.latencies:
            crm = f"CRM {latency * 1000:.0f} ms"
            for rate, seconds in settings.rates:
                results.runs.append(
                    run(f"{rate} leads/s, {crm}", rate, latency, lambda s, r=rate, t=seconds: s.steady(r, t))
                )

            idle = f"after {settings.idle_seconds:.0f} s idle, {crm}"
            for _ in range(settings.idle_leads):
                results.runs.append(run(idle, None, latency, lambda s: s.one(0), idle=settings.idle_seconds))
    finally:
        worker.stop()
        gateway.stop()
        bench.crm_reset(0)
        bench.flush()
    return results
