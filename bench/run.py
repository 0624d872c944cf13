"""``python -m bench.run [--quick]``: the leadgate benchmark, one command, one table (see docs/benchmarks.md).

Starts everything it measures (an embedded Redis, the sandbox CRM, gunicorn with the production
``gunicorn.conf.py``, ``leadgate worker``) on 127.0.0.1, bounds every load in time and count, stops
every process it started, prints a table of absolute figures and ratios with their targets, and
exits 0 whatever the figures are: it reports, it does not test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.delivery import DeliveryResults
from bench.delivery import measure_delivery
from bench.ingest import IngestResults
from bench.ingest import IngestSettings
from bench.ingest import measure_ingestion
from bench.load import wrk_available
from bench.memory import MemoryResults
from bench.memory import measure_memory
from bench.report import build_table
from bench.report import markdown
from bench.report import ratios
from bench.report import rows
from bench.speed import SpeedResults
from bench.speed import SpeedSettings
from bench.speed import measure_speed
from bench.stack import API_KEY
from bench.stack import Bench
from bench.stack import base_env
from bench.stack import gunicorn_settings
from leadgate.sandbox.processes import Processes

__all__ = ["main"]

FULL = {"seconds": 20.0, "slices": 4, "warmup": 3.0, "single": 200, "bulk": 10_000, "memory": 2_000}
QUICK = {"seconds": 4.0, "slices": 2, "warmup": 1.0, "single": 60, "bulk": 2_000, "memory": 500}
SPEED = {
    "full": SpeedSettings(rates=((50, 8.0), (500, 4.0)), idle_seconds=60.0),
    "quick": SpeedSettings(rates=((50, 4.0), (500, 2.0)), idle_seconds=5.0),
}


def raw_results(
    title: str,
    ingest: IngestResults | None,
    delivery: DeliveryResults | None,
    rss: dict[str, int],
    handler_slots: int,
    memory: MemoryResults | None = None,
    speed: SpeedResults | None = None,
) -> dict[str, Any]:
    """The run's figures as plain JSON (latency histograms left out)."""
    return {
        "title": title,
        "ingest": [
            {
                "contender": run.contender,
                "source": run.source,
                "crm_latency": run.crm_latency,
                "accepted_per_second": run.result.ok_per_second,
                **{k: v for k, v in asdict(run.result).items() if k != "histogram"},
                "stored": run.stored,
                "cpu_seconds": run.cpu,
            }
            for run in (ingest.runs if ingest else [])
        ],
        "delivery": {
            key: {
                "mode": run.mode,
                "leads": run.leads,
                "seconds": run.seconds,
                "per_second": run.per_second,
                "crm_requests": dict(run.crm_requests),
                "delivered_once": run.delivered_once,
                "worker_rss_kib": run.worker_rss_kib,
            }
            for key, run in (delivery.runs.items() if delivery else [])
        },
        "rss_kib": rss,
        "memory_bytes_per_event": {
            run.kind: {"now": asdict(run.now), "before_format": run.before, "redis_version": run.redis_version}
            for run in (memory.runs if memory else [])
        },
        "speed_to_lead": [
            {
                "label": run.label,
                "rate": run.rate,
                "crm_latency": run.crm_latency,
                "leads": run.leads,
                "p50_ms": run.p50_ms,
                "p99_ms": run.p99_ms,
                "max_ms": run.max_ms,
                "cpu_seconds": run.cpu,
                "redis_commands_per_lead": run.commands_per_lead,
            }
            for run in (speed.runs if speed else [])
        ],
        "ratios": [asdict(r) for r in ratios(ingest, delivery, handler_slots, speed, rss)],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~1 minute run (shorter loads, smaller backlogs)")
    parser.add_argument(
        "--seconds", type=float, help="measured load per condition, in slices taken in turns (default 20, quick 4)"
    )
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (32)")
    parser.add_argument(
        "--parts", default="ingest,delivery,memory,speed", help="which parts to run: ingest,delivery,memory,speed"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, configs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = QUICK if args.quick else FULL
    console = Console()
    if not console.is_terminal:
        console = Console(width=180)  # the table is wide: piped output would be wrapped at 80 columns
    parts = {p.strip() for p in args.parts.split(",")}
    workdir = Path(tempfile.mkdtemp(prefix="lg-bench-", dir="/tmp"))
    env = base_env()
    workers, threads = gunicorn_settings(env)
    generator = "wrk -t1" if wrk_available() else "python asyncio client (wrk not found)"
    started = time.monotonic()

    def log(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}", highlight=False)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    procs = Processes(workdir, env)
    ingest: IngestResults | None = None
    delivery: DeliveryResults | None = None
    memory: MemoryResults | None = None
    speed: SpeedResults | None = None
    bench: Bench | None = None
    try:
        log(f"run directory {workdir}; {multiprocessing.cpu_count()} CPUs; load generator {generator}")
        redis_url = procs.start_redis()
        crm_url = procs.start_crm(API_KEY)
        bench = Bench(workdir, crm_url, redis_url, env)
        if "ingest" in parts:
            settings = IngestSettings(
                seconds=args.seconds or preset["seconds"],
                warmup=preset["warmup"],
                connections=args.connections,
                slices=int(preset["slices"]),
            )
            ingest = measure_ingestion(bench, procs, settings, log)
        if "delivery" in parts:
            delivery = measure_delivery(bench, procs, int(preset["single"]), int(preset["bulk"]), log)
        if "memory" in parts:
            memory = measure_memory(bench, int(preset["memory"]), log)
        if "speed" in parts:
            speed = measure_speed(bench, procs, SPEED["quick" if args.quick else "full"], log)
    except KeyboardInterrupt:
        console.print("[red]interrupted; stopping everything[/red]")
    finally:
        if bench is not None:
            bench.close()
        procs.close()
    rss: dict[str, int] = {}
    if ingest is not None:
        rss.update({f"gunicorn worker, {name}": kib for name, kib in ingest.web_rss_kib.items()})
    if delivery is not None:
        rss.update(
            {f"leadgate worker, {key}": run.worker_rss_kib for key, run in delivery.runs.items() if run.worker_rss_kib}
        )
    sections = rows(ingest, delivery, rss, workers * threads, memory, speed)
    seconds = args.seconds or preset["seconds"]
    title = (
        f"leadgate benchmark ({'quick' if args.quick else 'full'}): {multiprocessing.cpu_count()} CPUs, gunicorn "
        f"{workers} workers x {threads} threads (gthread), {args.connections} connections, "
        f"{seconds:.0f}s per condition, {generator}"
    )
    console.print(build_table(title, sections))
    console.print(f"[dim]total {time.monotonic() - started:.0f}s[/dim]")
    if args.markdown:
        args.markdown.write_text(f"{title}\n\n{markdown(sections)}")
    if args.json:
        raw = raw_results(title, ingest, delivery, rss, workers * threads, memory, speed)
        args.json.write_text(json.dumps(raw, indent=2))
    if args.keep:
        console.print(f"logs and configs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
