"""Part (a): acknowledged webhooks per second and acknowledgement latency, gateway vs bare Flask, the durable
minimum (:func:`bench.apps.durable_app`) and a naive forwarder.

All three run under ``gunicorn --config gunicorn.conf.py`` with the same environment (so the same
``WEB_CONCURRENCY`` and ``GUNICORN_THREADS``), started together and warmed up, then loaded one at a
time: every condition (app, kind of post, CRM latency) gets one slice of each round, so a shared
machine's background load falls on all of them alike, and the slices are merged (latency
histograms included). The gateway is measured with Redis (AOF, everysec) and nothing else: no
``leadgate worker`` runs during (a), since in production the worker is its own process type on its
own CPU (Procfile) and on this small machine it would only measure the two sharing cores. The
sandbox CRM runs all along at the stated latency; only the naive forwarder calls it in the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from bench.load import Bodies
from bench.load import LoadResult
from bench.load import facebook_bodies
from bench.load import form_bodies
from bench.load import merge
from bench.load import run_load
from bench.stack import API_KEY
from bench.stack import FACEBOOK_SOURCE
from bench.stack import FORM_SOURCE
from bench.stack import Bench
from leadgate.sandbox.processes import CpuMeter
from leadgate.sandbox.processes import Processes
from leadgate.sandbox.processes import Service
from leadgate.sandbox.processes import peak_rss_kib
from leadgate.sandbox.processes import process_children

__all__ = ["IngestRun", "IngestSettings", "measure_ingestion"]

KINDS = (("form", FORM_SOURCE), ("facebook", FACEBOOK_SOURCE))
"""The kinds of post the gateway and the durable minimum are loaded with, and the source each goes to."""

MAX_RATE = 12_000
"""Requests per second no contender reaches here: enough unique bodies are written for it."""


@dataclass(frozen=True)
class IngestSettings:
    seconds: float
    warmup: float
    connections: int
    latencies: tuple[float, ...] = (0.0, 0.3)
    slices: int = 2
    """Each condition's ``seconds`` are split in this many slices, taken in turns with the other conditions."""


@dataclass(frozen=True)
class Condition:
    """One thing measured in (a): an app, a kind of post, the CRM's latency (None: the app never calls it)."""

    contender: str
    kind: str
    source: str
    crm_latency: float | None

    @property
    def label(self) -> str:
        latency = "" if self.crm_latency is None else f" @{self.crm_latency * 1000:.0f} ms"
        return f"{self.contender}, {self.kind}{latency}"


@dataclass
class IngestRun:
    contender: str
    source: str
    crm_latency: float | None
    """None: the contender never calls the CRM."""
    result: LoadResult
    stored: int | None = None
    """Events the gateway stored during the run (it must be at least the acknowledged count)."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds during the measured load: ``web`` (gunicorn), ``redis``, ``crm``, ``others``; ``wall``, ``cores``."""

    def cpu_ms_per_request(self, *groups: str) -> float:
        done = self.result.requests
        return sum(self.cpu.get(g, 0.0) for g in groups) * 1000 / done if done else 0.0

    @property
    def others_share(self) -> float:
        """Share of the machine's CPU that processes outside this run used during the load."""
        capacity = self.cpu.get("wall", 0.0) * self.cpu.get("cores", 1.0)
        return self.cpu.get("others", 0.0) / capacity if capacity else 0.0


@dataclass
class IngestResults:
    runs: list[IngestRun] = field(default_factory=list)
    web_rss_kib: dict[str, int] = field(default_factory=dict)
    """Largest peak RSS among each contender's gunicorn workers."""

    def find(self, contender: str, source: str, latency: float | None) -> IngestRun | None:
        for run in self.runs:
            if (run.contender, run.source, run.crm_latency) == (contender, source, latency):
                return run
        return None


def describe(run: IngestRun) -> str:
    r = run.result
    return (
        f"{r.ok_per_second:,.0f}/s p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms, "
        f"CPU/req web {run.cpu_ms_per_request('web'):.2f} ms redis {run.cpu_ms_per_request('redis'):.2f} ms, "
        f"others {run.others_share:.0%}"
    )


def measure_ingestion(
    bench: Bench, procs: Processes, settings: IngestSettings, log: Callable[[str], None]
) -> IngestResults:
    results = IngestResults()
    workdir = bench.workdir
    counter = iter(range(1_000_000))

    def bodies(kind: str, seconds: float) -> Bodies:
        count = int(MAX_RATE * (seconds + 1))
        path = workdir / f"bodies-{kind}-{next(counter)}.txt"
        return facebook_bodies(path, count) if kind == "facebook" else form_bodies(path, count)

    def load(url: str, kind: str, seconds: float) -> LoadResult:
        return run_load(url, bodies(kind, seconds), seconds, settings.connections)

    def measured(service: Service, url: str, kind: str, seconds: float) -> tuple[LoadResult, dict[str, float]]:
        """One measured load, with the CPU each process group used during it."""
        payload = bodies(kind, seconds)  # written before the meter starts
        groups = {"web": [service.pid, *process_children(service.pid)]}
        if procs.redis_pid:
            groups["redis"] = [procs.redis_pid]
        if procs.crm is not None:
            groups["crm"] = [procs.crm.pid]
        meter = CpuMeter(groups)
        result = run_load(url, payload, seconds, settings.connections)
        return result, meter.stop()

    def rss(service_pid: int) -> int:
        return max((peak_rss_kib(pid) for pid in process_children(service_pid)), default=0)

    naive_env = {**bench.env, "BENCH_CRM_URL": bench.crm_url, "BENCH_CRM_API_KEY": API_KEY}
    services = {
        "bare Flask": procs.start_gunicorn("bare-flask", "bench.apps:bare_app()", bench.env),
        "durable minimum": procs.start_gunicorn(
            "durable-minimum", "bench.apps:durable_app()", {**bench.env, "REDIS_URL": bench.redis_url}
        ),
        "naive forwarder": procs.start_gunicorn("naive-forwarder", "bench.apps:forwarder_app()", naive_env),
        "leadgate gateway": procs.start_gunicorn("gateway", "gateway:create_app()", bench.leadgate_env(100)),
    }
    conditions: list[Condition] = [Condition("bare Flask", "form", FORM_SOURCE, None)]
    conditions += [Condition("durable minimum", kind, source, None) for kind, source in KINDS]
    conditions += [Condition("naive forwarder", "form", FORM_SOURCE, latency) for latency in settings.latencies]
    for kind, source in KINDS:
        conditions += [Condition("leadgate gateway", kind, source, latency) for latency in settings.latencies]
    bench.crm_reset(0)
    for condition in {(c.contender, c.kind, c.source): c for c in conditions}.values():
        _, url = services[condition.contender]
        load(f"{url}/hooks/{condition.source}", condition.kind, settings.warmup)
    log(f"{len(services)} apps up and warmed; {len(conditions)} conditions in {settings.slices} rounds")

    # Every condition gets one slice per round, in the same order, so all of them (the
    # ratios' numerators and denominators alike) meet the same background load.
    slices: dict[Condition, list[tuple[LoadResult, dict[str, float], int | None]]] = {c: [] for c in conditions}
    for _ in range(settings.slices):
        for condition in conditions:
            service, url = services[condition.contender]
            bench.crm_reset(condition.crm_latency or 0.0)
            gateway = condition.contender == "leadgate gateway"
            if gateway or condition.contender == "durable minimum":
                bench.flush()
            result, cpu = measured(
                service, f"{url}/hooks/{condition.source}", condition.kind, settings.seconds / settings.slices
            )
            stored = int(bench.redis.zcard(f"lg:events:src:{condition.source}")) if gateway else None
            slices[condition].append((result, cpu, stored))
    for condition, parts in slices.items():
        cpu_total: dict[str, float] = {}
        for _, cpu, _ in parts:
            for name, value in cpu.items():
                cpu_total[name] = cpu_total.get(name, 0.0) + value
        cpu_total["cores"] = parts[0][1]["cores"]
        stored_total = (
            sum(s for _, _, s in parts if s is not None) if condition.contender == "leadgate gateway" else None
        )
        run = IngestRun(
            condition.contender,
            condition.kind,
            condition.crm_latency,
            merge([r for r, _, _ in parts]),
            stored_total,
            cpu_total,
        )
        results.runs.append(run)
        log(
            f"{condition.label}: {describe(run)}"
            + (f", {run.stored:,} events stored" if run.stored is not None else "")
        )
    for contender, (service, _) in services.items():
        results.web_rss_kib[contender] = rss(service.pid)
        service.stop()
    bench.flush()
    for path in Path(workdir).glob("bodies-*.txt"):
        path.unlink()
    return results
