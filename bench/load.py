"""Load generation: unique webhook bodies, and one bounded run of ``wrk`` (or a Python fallback) against a URL.

``wrk`` (Debian package ``wrk``) is the load generator: one thread in C costs a fraction of a core,
which matters on a small machine where the generator competes with the servers it measures. Each
run gets its own file of bodies, every body unique (a new e-mail, a new ``leadgen_id``), so the
gateway's dedupe never answers from memory; facebook bodies are signed in advance. Without ``wrk``
an asyncio client (raw HTTP/1.1 over keep-alive sockets) does the same, at a higher CPU cost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlencode
from urllib.parse import urlsplit

__all__ = ["FACEBOOK_APP_SECRET", "Bodies", "LoadResult", "facebook_bodies", "form_bodies", "merge", "run_load"]

LUA_SCRIPT = Path(__file__).with_name("hooks.lua")
FACEBOOK_APP_SECRET = "bench-app-secret"
FACEBOOK_PAGE_ID = "1001"
SIGNATURE_HEADER = "X-Hub-Signature-256"


@dataclass(frozen=True)
class Bodies:
    """A file of request bodies, one per line (``signature<TAB>body`` when signed)."""

    path: Path
    content_type: str
    count: int
    signature_header: str = SIGNATURE_HEADER


@dataclass(frozen=True)
class LoadResult:
    generator: str
    requests: int
    errors: int
    """Non-2xx answers, timeouts and socket errors."""
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    wrapped: int
    """How often the generator ran out of unique bodies and started over (0 = no body sent twice)."""
    histogram: tuple[tuple[int, int], ...] = field(default=(), repr=False)
    """Latency distribution, (microseconds, count) pairs: what :func:`merge` combines runs with."""

    @property
    def ok_per_second(self) -> float:
        return max(self.requests - self.errors, 0) / self.seconds if self.seconds else 0.0


def form_lead(tag: str, i: int) -> dict[str, str]:
    """A realistic website form post; the e-mail makes it unique."""
    return {
        "name": f"Ada Lovelace{i}",
        "email": f"ada.{tag}.{i}@example.com",
        "phone": f"(415) {200 + (i // 10000) % 700:03d}-{i % 10000:04d}",
        "company": f"Analytical Engines {i % 97}",
        "message": "Please call me back about pricing for 25 seats.",
        "utm_source": "newsletter",
        "utm_campaign": "spring",
    }


def _lines(path: Path, lines: Iterator[str]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for line in lines:
            out.write(line)
            out.write("\n")
            count += 1
    return count


def form_bodies(path: Path, count: int, tag: str | None = None) -> Bodies:
    """``count`` unique urlencoded form posts."""
    tag = tag or secrets.token_hex(4)
    written = _lines(path, (urlencode(form_lead(tag, i)) for i in range(count)))
    return Bodies(path, "application/x-www-form-urlencoded", written)


def facebook_notification(leadgen_id: str, now: int) -> bytes:
    """A Page ``leadgen`` webhook naming one lead, as Meta sends it (compact JSON)."""
    body = {
        "object": "page",
        "entry": [
            {
                "id": FACEBOOK_PAGE_ID,
                "time": now,
                "changes": [
                    {
                        "field": "leadgen",
                        "value": {
                            "leadgen_id": leadgen_id,
                            "page_id": FACEBOOK_PAGE_ID,
                            "form_id": "9001",
                            "adgroup_id": "6001",
                            "ad_id": "6002",
                            "created_time": now,
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def facebook_bodies(path: Path, count: int, secret: str = FACEBOOK_APP_SECRET) -> Bodies:
    """``count`` notifications with unique ``leadgen_id``s, each signed with ``secret``."""
    base = int(time.time() * 1000) * 1000 + secrets.randbelow(1000)
    now = int(time.time())

    def lines() -> Iterator[str]:
        key = secret.encode()
        for i in range(count):
            body = facebook_notification(str(base + i), now)
            yield "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest() + "\t" + body.decode()

    return Bodies(path, "application/json", _lines(path, lines()))


def percentile(histogram: tuple[tuple[int, int], ...], share: float) -> float:
    """The latency (ms) below which ``share`` of the samples fall."""
    total = sum(count for _, count in histogram)
    if not total:
        return 0.0
    rank = share * total
    seen = 0
    for value, count in sorted(histogram):
        seen += count
        if seen >= rank:
            return value / 1000
    return max(histogram)[0] / 1000


def merge(results: list[LoadResult]) -> LoadResult:
    """Several loads against the same thing as one: counts and times added, percentiles from the merged histogram."""
    if len(results) == 1:
        return results[0]
    counts: dict[int, int] = {}
    for result in results:
        for value, count in result.histogram:
            counts[value] = counts.get(value, 0) + count
    histogram = tuple(sorted(counts.items()))
    return LoadResult(
        generator=results[0].generator,
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        seconds=sum(r.seconds for r in results),
        p50_ms=percentile(histogram, 0.50),
        p99_ms=percentile(histogram, 0.99),
        max_ms=max(r.max_ms for r in results),
        wrapped=sum(r.wrapped for r in results),
        histogram=histogram,
    )


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(url: str, bodies: Bodies, seconds: float, connections: int, timeout: float = 10.0) -> LoadResult:
    """POSTs ``bodies`` to ``url`` from ``connections`` keep-alive connections for ``seconds``."""
    if wrk_available():
        return _run_wrk(url, bodies, seconds, connections, timeout)
    return asyncio.run(_run_python(url, bodies, seconds, connections, timeout))


def _run_wrk(url: str, bodies: Bodies, seconds: float, connections: int, timeout: float) -> LoadResult:
    threads = 1
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(int(round(seconds)), 1)}s",
        f"--timeout={int(timeout)}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(bodies.path),
        bodies.content_type,
        bodies.signature_header,
        str(threads),
    ]
    histogram_path = bodies.path.with_suffix(".histogram")
    env = {**os.environ, "BENCH_HISTOGRAM": str(histogram_path)}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout + 30, env=env)
    match = re.search(r"^BENCH_JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    data = json.loads(match.group(1))
    histogram: tuple[tuple[int, int], ...] = ()
    if histogram_path.exists():
        pairs = (line.split() for line in histogram_path.read_text().splitlines() if line.strip())
        histogram = tuple((int(value), int(count)) for value, count in pairs)
        histogram_path.unlink()
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return LoadResult(
        generator="wrk",
        requests=data["requests"],
        errors=errors,
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        wrapped=data["wrapped"],
        histogram=histogram,
    )


async def _run_python(url: str, bodies: Bodies, seconds: float, connections: int, timeout: float) -> LoadResult:
    """The fallback: ``connections`` asyncio tasks, each a keep-alive HTTP/1.1 connection posting in turn."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    requests: list[bytes] = []
    for line in bodies.path.read_text(encoding="utf-8").splitlines():
        signature, _, body = line.rpartition("\t")
        data = body.encode()
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {bodies.content_type}\r\n"
        if signature:
            head += f"{bodies.signature_header}: {signature}\r\n"
        requests.append(head.encode() + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    latencies: list[float] = []
    state = {"next": 0, "wrapped": 0, "errors": 0}
    deadline = time.perf_counter() + seconds

    def take() -> bytes:
        index = state["next"]
        if index >= len(requests):
            index = 0
            state["wrapped"] += 1
        state["next"] = index + 1
        return requests[index]

    async def connection() -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError:
                    state["errors"] += 1
                    await asyncio.sleep(0.01)
                    continue
            assert reader is not None
            started = time.perf_counter()
            try:
                writer.write(take())
                status_line = await asyncio.wait_for(reader.readline(), timeout)
                length, close = 0, False
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and "close" in value.lower():
                        close = True
                await reader.readexactly(length)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                state["errors"] += 1
                writer.close()
                writer = None
                continue
            latencies.append(time.perf_counter() - started)
            if not status_line.split(b" ")[1].startswith(b"2"):
                state["errors"] += 1
            if close:
                writer.close()
                writer = None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    counts: dict[int, int] = {}
    for seconds_taken in latencies:
        micros = int(seconds_taken * 1e6)
        counts[micros] = counts.get(micros, 0) + 1
    histogram = tuple(sorted(counts.items()))
    return LoadResult(
        generator="python",
        requests=len(latencies),
        errors=state["errors"],
        seconds=elapsed,
        p50_ms=percentile(histogram, 0.50),
        p99_ms=percentile(histogram, 0.99),
        max_ms=max(latencies) * 1000 if latencies else 0.0,
        wrapped=state["wrapped"],
        histogram=histogram,
    )
