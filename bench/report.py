"""The one table a run prints: absolute figures, then the ratios with their targets and PASS/FAIL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.table import Table

from bench.delivery import DeliveryResults
from bench.ingest import IngestResults
from bench.ingest import IngestRun
from bench.memory import BUDGET_BYTES
from bench.memory import MemoryResults
from bench.speed import SpeedResults

__all__ = ["Ratio", "build_table", "markdown", "ratios"]


@dataclass(frozen=True)
class Ratio:
    name: str
    value: float | None
    target: str
    passed: bool | None


def _latency(latency: float | None) -> str:
    return "n/a" if latency is None else f"{latency * 1000:.0f} ms"


RSS_TARGET_MIB = 52.0
"""Peak RSS of a gunicorn worker and of a queue worker before issue 16's changes: no higher than this."""


def ratios(
    ingest: IngestResults | None,
    delivery: DeliveryResults | None,
    handler_slots: int | None = None,
    speed: SpeedResults | None = None,
    rss: dict[str, int] | None = None,
) -> list[Ratio]:
    """The issues' ratios and targets; ``handler_slots`` (gunicorn workers x threads) adds the naive forwarder's
    ceiling."""
    found: list[Ratio] = []

    def add(name: str, num: float | None, den: float | None, target: str, ok: Callable[[float], bool] | None) -> None:
        value = num / den if num is not None and den else None
        found.append(Ratio(name, value, target, None if value is None or ok is None else bool(ok(value))))

    if ingest is not None:
        bare = ingest.find("bare Flask", "form", None)

        def rate(run: IngestRun | None) -> float | None:
            return run.result.ok_per_second if run else None

        def p99(run: IngestRun | None) -> float | None:
            return run.result.p99_ms if run else None

        for kind in ("form", "facebook"):
            add(
                f"{kind} ingestion / bare Flask (req/s, CRM 0 ms)",
                rate(ingest.find("leadgate gateway", kind, 0.0)),
                rate(bare),
                "info (HTTP overhead, not a floor)",
                None,
            )
        for kind in ("form", "facebook"):
            add(
                f"{kind} ingestion / durable minimum (req/s, CRM 0 ms)",
                rate(ingest.find("leadgate gateway", kind, 0.0)),
                rate(ingest.find("durable minimum", kind, None)),
                ">= 0.70",
                lambda v: v >= 0.7,
            )
        for kind in ("form", "facebook"):
            add(
                f"{kind} ack p99 at CRM 300 ms / at 0 ms",
                p99(ingest.find("leadgate gateway", kind, 0.3)),
                p99(ingest.find("leadgate gateway", kind, 0.0)),
                "~1 (<= 1.5)",
                lambda v: v <= 1.5,
            )
        add(
            "gateway form / naive forwarder (req/s, CRM 300 ms)",
            rate(ingest.find("leadgate gateway", "form", 0.3)),
            rate(ingest.find("naive forwarder", "form", 0.3)),
            ">= 20",
            lambda v: v >= 20,
        )
        if handler_slots:
            # the most any in-request forwarder can do: every gunicorn thread waiting 300 ms per lead
            add(
                f"gateway form / naive ceiling ({handler_slots} threads / 300 ms = {handler_slots / 0.3:.0f} req/s)",
                rate(ingest.find("leadgate gateway", "form", 0.3)),
                handler_slots / 0.3,
                ">= 20 (stricter)",
                lambda v: v >= 20,
            )
        for kind in ("form", "facebook"):
            gateway = ingest.find("leadgate gateway", kind, 0.0)
            add(
                f"CPU ms/req, {kind} ingestion / bare Flask",
                gateway.cpu_ms_per_request("web", "redis") if gateway and gateway.cpu else None,
                bare.cpu_ms_per_request("web", "redis") if bare and bare.cpu else None,
                "info",
                None,
            )
    if delivery is not None:
        runs = delivery.runs

        def per_second(key: str) -> float | None:
            return runs[key].per_second if key in runs else None

        add(
            "single-call worker / plain httpx loop (CRM 50 ms)",
            per_second("single"),
            per_second("loop"),
            ">= 0.90",
            lambda v: v >= 0.9,
        )
        add(
            "coalesced worker / single-call worker (CRM 50 ms)",
            per_second("coalesced"),
            per_second("single"),
            ">= 50",
            lambda v: v >= 50,
        )
    if speed is not None:
        for rate_, bound in ((50, 50.0), (500, 100.0)):
            run = speed.find(rate_, 0.0)
            add(
                f"speed to lead p99 at {rate_} leads/s, CRM 0 ms (ms)",
                run.p99_ms if run else None,
                1.0,
                f"<= {bound:.0f}",
                lambda v, b=bound: v <= b,
            )
        idle = speed.find(None, 0.0)
        add(
            "first lead after idle, CRM 0 ms (ms)",
            idle.max_ms if idle else None,
            1.0,
            "<= 50 (the p99 bound)",
            lambda v: v <= 50,
        )
        for rate_ in (50, 500):
            fast, slow = speed.find(rate_, 0.0), speed.find(rate_, 0.05)
            add(
                f"speed to lead p99 at {rate_} leads/s: CRM 50 ms minus CRM 0 ms (ms)",
                slow.p99_ms - fast.p99_ms if fast and slow else None,
                1.0,
                "<= 100 (the CRM's 50 ms on top, not multiplied)",
                lambda v: v <= 100,
            )
    for name, kib in (rss or {}).items():
        if "bare Flask" in name or "naive" in name or "durable" in name:
            continue
        add(f"peak RSS, {name} (MiB)", kib / 1024, 1.0, f"<= {RSS_TARGET_MIB:.0f}", lambda v: v <= RSS_TARGET_MIB)
    return found


def rows(
    ingest: IngestResults | None,
    delivery: DeliveryResults | None,
    rss: dict[str, int],
    handler_slots: int | None = None,
    memory: MemoryResults | None = None,
    speed: SpeedResults | None = None,
) -> list[list[list[str]]]:
    """Sections of rows, one cell per :data:`HEADERS` entry.

    ``CPU ms/req`` is the CPU the web processes and Redis used per answered request during the load
    (robust to other work on the machine); ``other load`` is the share of the machine's CPU that
    processes outside the run used meanwhile.
    """
    sections: list[list[list[str]]] = []
    if ingest is not None:
        section = []
        for run in ingest.runs:
            r = run.result
            label = f"(a) {run.contender}, {run.source} posts, CRM {_latency(run.crm_latency)}"
            notes = []
            if r.errors:
                notes.append(f"{r.errors:,} errors")
            if r.wrapped:
                notes.append("bodies reused")
            if run.stored is not None:
                notes.append(f"{run.stored:,} events stored")
            section.append(
                [
                    label,
                    f"{r.ok_per_second:,.0f} req/s",
                    f"{r.p50_ms:.1f}",
                    f"{r.p99_ms:.1f}",
                    f"{run.cpu_ms_per_request('web', 'redis'):.2f}" if run.cpu else "",
                    f"{run.others_share:.0%}" if run.cpu else "",
                    "",
                    "; ".join(notes),
                ]
            )
        sections.append(section)
    if delivery is not None:
        section = []
        for delivery_run in delivery.runs.values():
            calls = ", ".join(f"{n:,} x {path}" for path, n in sorted(delivery_run.crm_requests.items()))
            note = calls
            if delivery_run.delivered_once is not None:
                note += "; each lead once" if delivery_run.delivered_once else "; NOT each lead exactly once"
            label = f"(b) {delivery_run.mode}, {delivery_run.leads:,} leads, CRM 50 ms"
            section.append([label, f"{delivery_run.per_second:,.1f} leads/s", "", "", "", "", "", note])
        sections.append(section)
    if speed is not None and speed.runs:
        section = []
        for run in speed.runs:
            stages = ", ".join(f"{n} {run.percentile(0.99, v):.0f}" for n, v in run.stages.items() if v)
            note = (
                f"max {run.max_ms:.0f} ms; {run.leads:,} leads; p99 by stage (ms): {stages}; CPU ms/lead: gunicorn "
                f"{run.cpu_ms_per_lead('web'):.2f}, worker {run.cpu_ms_per_lead('worker'):.2f}, Redis "
                f"{run.cpu_ms_per_lead('redis'):.2f}; {run.commands_per_lead:.0f} Redis commands/lead"
            )
            rate = f"{run.rate} leads/s" if run.rate else "1 lead"
            section.append(
                [f"(e) speed to lead, {run.label}", rate, f"{run.p50_ms:.1f}", f"{run.p99_ms:.1f}", "", "", "", note]
            )
        sections.append(section)
    if rss:
        sections.append(
            [[f"(c) peak RSS, {name}", f"{kib / 1024:.1f} MiB", "", "", "", "", "", ""] for name, kib in rss.items()]
        )
    if memory is not None and memory.runs:
        section = []
        for mem in memory.runs:
            label = f"(d) Redis memory per delivered {mem.kind} event, {mem.events:,} events"
            now = mem.now
            note = (
                f"redis {mem.redis_version}; keys {now.record:,.0f} + index {now.index:,.0f} B; "
                f"dedupe claims {now.dedupe:,.0f} B; rq jobs left {now.jobs:,.0f} B"
            )
            section.append([label, f"{now.event:,.0f} B", "", "", "", "", "", note])
            section.append([f"(d) same, before-format baseline ({mem.kind})", f"{mem.before:,.0f} B"] + [""] * 6)
        sections.append(section)
        sections.append(
            [
                [f"{mem.kind} event bytes, now / before-format", f"{mem.now.event / mem.before:.2f}", "", "", "", ""]
                + [f"<= {BUDGET_BYTES} B", "PASS" if mem.now.event <= BUDGET_BYTES else "FAIL"]
                for mem in memory.runs
            ]
        )
    found = ratios(ingest, delivery, handler_slots, speed, rss)
    if found:
        sections.append(
            [
                [
                    ratio.name,
                    "n/a" if ratio.value is None else f"{ratio.value:.2f}",
                    "",
                    "",
                    "",
                    "",
                    ratio.target,
                    "" if ratio.passed is None else ("PASS" if ratio.passed else "FAIL"),
                ]
                for ratio in found
            ]
        )
    return sections


HEADERS = ["measurement", "rate", "p50 ms", "p99 ms", "CPU ms/req", "other load", "target", "result / notes"]
NUMERIC = frozenset({"rate", "p50 ms", "p99 ms", "CPU ms/req", "other load"})


def build_table(title: str, sections: list[list[list[str]]]) -> Table:
    table = Table(title=title, title_justify="left")
    for header in HEADERS:
        table.add_column(header, justify="right" if header in NUMERIC else "left")
    for section in sections:
        for row in section:
            style = {"PASS": "green", "FAIL": "bold red"}.get(row[-1])
            table.add_row(*row, style=style)
        table.add_section()
    return table


def markdown(sections: list[list[list[str]]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for section in sections:
        for row in section:
            lines.append("| " + " | ".join(cell or " " for cell in row) + " |")
    return "\n".join(lines) + "\n"
