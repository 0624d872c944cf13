"""``python -m bench.phases``: where a gateway request's CPU goes, measured inside real gunicorn workers.

A profile for the ingestion path, taken the way production runs: the gateway under
``gunicorn --config gunicorn.conf.py`` with an app factory that wraps each step of
``gateway/hooks.py`` (store, normalize, request parsing, the limiter, the log line) with a
per-thread CPU clock (``time.thread_time``, so waiting on Redis costs nothing). Every worker
writes its totals to a file; the run prints microseconds of CPU per request for each step,
next to the whole process's CPU per request (gunicorn's own HTTP work included). Steps are
nested: ``view`` contains ``accept``, ``prepare`` and the others.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import gateway.hooks as hooks
from bench.load import facebook_bodies
from bench.load import form_bodies
from bench.load import run_load
from bench.stack import API_KEY
from bench.stack import FACEBOOK_SOURCE
from bench.stack import FORM_SOURCE
from bench.stack import Bench
from bench.stack import base_env
from gateway import create_app
from leadgate.sandbox.processes import Processes

__all__ = ["instrumented_app", "main"]

STEPS = ("accept", "prepare", "inbound_request", "request_meta", "default_reply", "with_cors")
"""Names in gateway.hooks that are wrapped, when they exist."""


def instrumented_app() -> Any:
    """The gateway app with its steps timed; used as ``gunicorn ... "bench.phases:instrumented_app()"``."""
    out = Path(os.environ["BENCH_PHASES_DIR"])
    totals: dict[str, float] = {}
    lock = threading.Lock()
    state = {"requests": 0, "started": 0.0}

    def add(name: str, seconds: float) -> None:
        with lock:
            totals[name] = totals.get(name, 0.0) + seconds

    def timed(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                add(name, time.thread_time() - started)

        step.__name__ = getattr(func, "__name__", name)
        return step

    for name in STEPS:
        if hasattr(hooks, name):
            setattr(hooks, name, timed(name, getattr(hooks, name)))
    app = create_app()
    app.view_functions["hooks.receive"] = timed("view", app.view_functions["hooks.receive"])

    def label(func: Any) -> str:
        inner = getattr(func, "func", None)  # functools.partial
        return str(getattr(func, "__qualname__", None) or getattr(inner, "__qualname__", repr(func)))

    for when, registry in (("before_request", app.before_request_funcs), ("after_request", app.after_request_funcs)):
        registry[None] = [timed(f"{when}: {label(f)}", f) for f in registry.get(None, [])]
    inner = app.wsgi_app

    def wsgi(environ: Any, start_response: Any) -> Any:
        if not state["started"]:
            state["started"] = time.process_time()
        started = time.thread_time()
        try:
            return inner(environ, start_response)
        finally:
            add("Flask app (the request's thread)", time.thread_time() - started)
            with lock:
                state["requests"] += 1
                done = state["requests"]
            if done % 500 == 0:
                report = {name: seconds / done for name, seconds in totals.items()}
                report["whole process (gunicorn included)"] = (time.process_time() - state["started"]) / done
                report["requests"] = done
                (out / f"{os.getpid()}.json").write_text(json.dumps(report))

    app.wsgi_app = wsgi  # type: ignore[method-assign]
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source", choices=("form", "facebook"), default="form")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="lg-phases-", dir="/tmp"))
    phases_dir = workdir / "phases"
    phases_dir.mkdir()
    env = base_env()
    procs = Processes(workdir, env)
    try:
        bench = Bench(workdir, procs.start_crm(API_KEY), procs.start_redis(), env)
        gateway_env = {**bench.leadgate_env(100), "BENCH_PHASES_DIR": str(phases_dir)}
        _, url = procs.start_gunicorn("gateway", "bench.phases:instrumented_app()", gateway_env)
        source = FORM_SOURCE if args.source == "form" else FACEBOOK_SOURCE
        make = form_bodies if args.source == "form" else facebook_bodies
        count = int(12_000 * (args.seconds + 1))
        result = run_load(f"{url}/hooks/{source}", make(workdir / "bodies.txt", count), args.seconds, args.connections)
        bench.close()
    finally:
        procs.close()
    reports = [json.loads(p.read_text()) for p in phases_dir.glob("*.json")]
    shutil.rmtree(workdir, ignore_errors=True)
    if not reports:
        print("no worker reported (fewer than 500 requests each?)")
        return 0
    names = sorted({k for r in reports for k in r if k != "requests"}, key=lambda k: -reports[0].get(k, 0.0))
    table = Table(
        title=f"CPU per {args.source} request by step, {sum(r['requests'] for r in reports):,} requests in "
        f"{len(reports)} gunicorn workers ({result.ok_per_second:,.0f} req/s under load)",
        title_justify="left",
    )
    table.add_column("step")
    table.add_column("µs CPU / request", justify="right")
    for name in names:
        weights = [(r.get(name, 0.0), r["requests"]) for r in reports]
        mean = sum(v * n for v, n in weights) / sum(n for _, n in weights)
        table.add_row(name, f"{mean * 1e6:,.0f}")
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
