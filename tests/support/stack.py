"""Real leadgate processes for the end-to-end tests: gunicorn, ``leadgate worker``, Redis, the sandbox CRM.

Every subprocess runs in its own session (process group), so one ``killpg`` takes down a
gunicorn master together with its workers, and :meth:`Stack.close` kills whatever is still
alive even when the test failed halfway. Everything binds 127.0.0.1 only. Logs go to files
under the test's ``tmp_path``; :meth:`Stack.logs` returns their tails for assertion messages.

:class:`Ledger` books what the gateway answered and checks it against the event store, the
CRM and ``/metrics``: every acknowledged lead delivered once or dead-lettered, none lost.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import TypeVar
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Worker
from rq.registry import FailedJobRegistry

from leadgate.config import Config
from leadgate.embedded_redis import EmbeddedRedis
from leadgate.events import Event
from leadgate.events import EventStore
from leadgate.keys import prefix_for
from leadgate.queue import delivery_queue
from leadgate.redis_client import client_for_url
from leadgate.sandbox import SandboxCRM
from leadgate.sandbox.processes import Service
from leadgate.sandbox.processes import free_port
from leadgate.sandbox.processes import process_alive
from leadgate.sandbox.processes import wait_until
from tests.support.config import load_config

__all__ = [
    "Ledger",
    "Service",
    "Stack",
    "Verdict",
    "free_port",
    "in_parallel",
    "process_alive",
    "redis_dir",
    "stop_embedded_redis",
    "summary",
    "wait_until",
    "with_db",
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API_KEY = "cg_e2e"
SOURCE_ID = "contact-us"
E2E_DB = 13
"""Database used on an external ``$REDIS_URL``, flushed before and after, so other suites' data is never touched."""

UNIX_SOCKET_MAX = 100
"""``sun_path`` holds 108 bytes on Linux; deep pytest temp dirs can exceed it."""

CONFIG_TEMPLATE = """\
metrics_public: true
{settings}destinations:
  main:
    base_url: {crm_url}
    api_key: {api_key}
delivery:
  max_attempts: {max_attempts}
  backoff_seconds: {backoff}
  timeout_seconds: {timeout}
  lease_seconds: {lease}
{delivery_extra}data_dir: {data_dir}
sources:
  {source_id}:
    kind: form
    tags: [website]
    phone_region: US
"""

"""Whether workers may send queued leads together in one bulk call (``delivery.batch_size: 1`` turns it off)."""

T = TypeVar("T")


def redis_dir(tmp_path: Path) -> Path:
    """``tmp_path/redis`` for an embedded Redis, or a short /tmp dir when its socket path would not fit."""
    path = tmp_path / "redis"
    if len(str(path / "redis.sock")) <= UNIX_SOCKET_MAX:
        return path
    return Path(tempfile.mkdtemp(prefix="lg-e2e-", dir="/tmp"))


def with_db(url: str, db: int) -> str:
    """``url`` pointed at database ``db`` (path for redis://, ``?db=`` for unix://)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return f"unix://{parts.path}?{urlencode(query)}"  # urlunsplit would drop the empty host's "//"
    return urlunsplit(parts._replace(path=f"/{db}"))


class Stack:
    """Redis + sandbox CRM + gunicorn + workers, configured in ``tmp_path``; :meth:`close` cleans up."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        timeout_seconds: float = 1,
        backoff_seconds: tuple[float, ...] = (0.2, 0.5, 1),
        max_attempts: int = 30,
        lease_seconds: float = 4,
        extra_sources: str = "",
        web_concurrency: int = 2,
        delivery: Mapping[str, Any] | None = None,
        redis_url: str | None = None,
        queue_redis_url: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ):
        """Beyond the delivery policy: ``extra_sources`` (YAML entries indented two spaces, appended to
        ``sources:``), ``web_concurrency`` (gunicorn workers), ``delivery`` (more scalar ``delivery:`` keys),
        ``redis_url`` (a Redis of the test's own, e.g. ``redis+sentinel://``: used as it is, flushed before
        and after), ``queue_redis_url`` (RQ's own Redis, e.g. beside a ``redis+cluster://`` store: also
        flushed), ``settings`` (more scalar top-level keys, e.g. ``durability``)."""
        self.own_redis_url = redis_url
        self.queue_redis_url = queue_redis_url
        self.settings = dict(settings or {})
        self.tmp_path = tmp_path
        self.services: list[Service] = []
        self._revived: set[Service] = set()
        self.http = httpx.Client(timeout=httpx.Timeout(15.0), trust_env=False)
        self.redis_server: EmbeddedRedis | None = None
        self.client: redis.Redis | None = None
        self.queue_client: redis.Redis | None = None
        self.crm = SandboxCRM(api_keys=(API_KEY,))
        try:
            self._set_up(
                timeout_seconds, backoff_seconds, max_attempts, lease_seconds, extra_sources, web_concurrency, delivery
            )
        except BaseException:
            self.close()
            raise

    def _set_up(
        self,
        timeout_seconds: float,
        backoff_seconds: tuple[float, ...],
        max_attempts: int,
        lease_seconds: float,
        extra_sources: str,
        web_concurrency: int,
        delivery: Mapping[str, Any] | None,
    ) -> None:
        self.crm.start()
        external = os.environ.get("REDIS_URL")
        if self.own_redis_url:
            self.redis_url = self.own_redis_url
        elif external:
            self.redis_url = with_db(external, E2E_DB)
        else:
            self.redis_server = EmbeddedRedis(redis_dir(self.tmp_path))
            self.redis_url = self.redis_server.ensure_running()
        self.client = client_for_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.client.flushdb()
        self.store = EventStore(self.client, prefix=prefix_for(self.redis_url))
        if self.queue_redis_url:
            self.queue_client = client_for_url(self.queue_redis_url, socket_timeout=5, socket_connect_timeout=2)
            self.queue_client.flushdb()
        self.queue = delivery_queue(self.queue_client or self.client)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.config_path = self.tmp_path / "leadgate.yaml"
        self.config_path.write_text(
            CONFIG_TEMPLATE.format(
                settings="".join(f"{key}: {value}\n" for key, value in self.settings.items()),
                crm_url=self.crm.url,
                api_key=API_KEY,
                max_attempts=max_attempts,
                backoff=list(backoff_seconds),
                timeout=timeout_seconds,
                lease=lease_seconds,
                delivery_extra="".join(f"  {key}: {value}\n" for key, value in (delivery or {}).items()),
                data_dir=self.tmp_path / "var",
                source_id=SOURCE_ID,
            )
            + extra_sources
        )
        self.config: Config = load_config(self.config_path, environ={})
        self.env = {k: v for k, v in os.environ.items() if k not in ("LEADGATE_SANDBOX_URL", "LEADGATE_ADMIN_TOKEN")}
        self.env.update(
            PORT=str(self.port),
            HOST="127.0.0.1",
            WEB_CONCURRENCY=str(web_concurrency),
            LEADGATE_CONFIG=str(self.config_path),
            REDIS_URL=self.redis_url,
            **({"QUEUE_REDIS_URL": self.queue_redis_url} if self.queue_redis_url else {}),
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="warning",
        )

    # processes ---------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> Service:
        service = Service(name, argv, self.env, self.tmp_path / f"{name}.log")
        self.services.append(service)
        return service

    def start_gateway(self, ready_timeout: float = 20) -> Service:
        """The Procfile's web line, ``gunicorn --config gunicorn.conf.py "gateway:create_app()"``; waits for /readyz."""
        gunicorn = self._spawn(
            "gunicorn", [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), "gateway:create_app()"]
        )
        wait_until(lambda: self.ready(gunicorn) == 200, ready_timeout, f"gunicorn /readyz\n{self.logs()}", 0.1)
        return gunicorn

    def start_worker(self, wait_registered: bool = True, timeout: float = 20, rq_name: str | None = None) -> Service:
        """``leadgate worker`` (the Procfile's worker line, ``--name rq_name`` if given); waits until RQ has it."""
        before = {w.pid for w in self.rq_workers()}
        n = sum(s.name.startswith("worker") for s in self.services) + 1
        named = ["--name", rq_name] if rq_name else []
        worker = self._spawn(f"worker{n}", [str(BIN / "leadgate"), "worker", *named])
        if wait_registered:

            def registered() -> bool:
                assert worker.running, f"leadgate worker exited with {worker.proc.returncode}\n{worker.tail()}"
                return any(w.pid == worker.pid for w in self.rq_workers() if w.pid not in before)

            wait_until(registered, timeout, f"leadgate worker to register\n{self.logs()}", 0.1)
        return worker

    def rq_workers(self) -> list[Worker]:
        return Worker.all(queue=self.queue)

    def worker_services(self) -> list[Service]:
        """Every ``leadgate worker`` this stack started, dead or alive, oldest first."""
        return [s for s in self.services if s.name.startswith("worker")]

    def busy_workers(self) -> dict[Service, tuple[str, int]]:
        """Live worker processes inside a delivery right now -> one of their claims' (event id, dispatch).

        A worker has up to ``delivery.calls_in_flight`` deliveries out at once, each holding a claim that
        names its process (``held_by``, host:pid); a claim whose lease ran out is nobody's any more.
        """
        by_pid = {s.pid: s for s in self.worker_services() if s.running}
        # replies are bytes: the store's client does not decode them
        leased = [i.decode() for i in self.store.redis.zrangebyscore(self.store.due_key, time.time(), "+inf")]
        with self.store.redis.pipeline(transaction=False) as pipe:
            for event_id in leased:
                pipe.hmget(self.store.key(event_id), "status", "held_by", "dispatch")
            claims = pipe.execute()
        busy = {}
        for event_id, (status, held_by, dispatch) in zip(leased, claims, strict=True):
            if status != b"delivering" or not held_by:
                continue
            pid = int(held_by.decode().rpartition(":")[2])
            if pid in by_pid:
                busy[by_pid[pid]] = (event_id, int(dispatch))
        return busy

    def revive_workers(self) -> list[Service]:
        """What a process supervisor does: starts a new worker for every one that exited; returns the dead ones."""
        dead = [s for s in self.worker_services() if not s.running and s not in self._revived]
        for service in dead:
            self._revived.add(service)
            self.start_worker()
        return dead

    @contextmanager
    def supervised(self, interval: float = 0.5) -> Iterator[list[Service]]:
        """Revives exited workers from a background thread while the block runs; yields those that exited."""
        exited: list[Service] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(interval):
                try:
                    exited.extend(self.revive_workers())
                except Exception as err:  # surfaced in the test's thread below, not lost in this one
                    failures.append(err)
                    return

        thread = threading.Thread(target=watch, name="supervisor", daemon=True)
        thread.start()
        try:
            yield exited
        finally:
            stop.set()
            thread.join(timeout=30)
        if failures:
            raise failures[0]

    def ready(self, gateway: Service | None = None) -> int:
        """Status of GET /readyz, 0 while nothing answers."""
        if gateway is not None:
            assert gateway.running, f"gunicorn exited with {gateway.proc.returncode}\n{gateway.tail()}"
        try:
            return self.http.get(f"{self.base_url}/readyz", timeout=5).status_code
        except httpx.TransportError:
            return 0

    # leads and events --------------------------------------------------------------------------

    def post_lead(self, email: str, **fields: str) -> httpx.Response:
        """A browser-less form post; no phone unless given (ConnectGain merges contacts on phone too)."""
        data = {"name": "Ada Lovelace", "email": email, "message": "hi", **fields}
        return self.http.post(f"{self.base_url}/hooks/{SOURCE_ID}", data=data)

    def post(self, source_id: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POSTs raw ``body`` bytes to ``/hooks/<source_id>`` (signed senders sign exactly these bytes)."""
        return self.http.post(f"{self.base_url}/hooks/{source_id}", content=body, headers=dict(headers))

    def metrics(self) -> dict[str, float]:
        """GET /metrics parsed with prometheus_client: each sample name summed over its labels (buckets left out)."""
        response = self.http.get(f"{self.base_url}/metrics", headers={"Connection": "close"}, timeout=10)
        assert response.status_code == 200, response.text
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if "le" not in sample.labels:
                    values[sample.name] = values.get(sample.name, 0.0) + sample.value
        return values

    def events(self, ids: list[str]) -> dict[str, Event]:
        return {e.id: e for e in self.store.get_many(ids)}

    def statuses(self, ids: list[str]) -> dict[str, str]:
        found = self.events(ids)
        return {i: found[i].status if i in found else "missing" for i in ids}

    def cli(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """Runs ``leadgate ARGS`` with the stack's environment."""
        return subprocess.run(
            [str(BIN / "leadgate"), *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )

    def logs(self, lines: int = 25) -> str:
        return "\n".join(f"--- {s.name} (pid {s.pid}) ---\n{s.tail(lines)}" for s in self.services)

    # teardown ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Kills every process this stack started, stops Redis and the CRM, closes clients; never raises."""
        for service in self.services:
            service.kill()
        self.http.close()
        self.crm.stop()
        if self.client is not None:
            try:
                if self.redis_server is None:
                    self.client.flushdb()
            except redis.RedisError:
                pass
            self.client.close()
        if self.queue_client is not None:
            try:
                self.queue_client.flushdb()
            except redis.RedisError:
                pass
            self.queue_client.close()
        if self.redis_server is not None:
            stop_embedded_redis(self.redis_server)
            if not self.redis_server.data_dir.is_relative_to(self.tmp_path.resolve()):
                shutil.rmtree(self.redis_server.data_dir, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """Processes this stack started that are still alive (should be none after :meth:`close`)."""
        alive = [f"{s.name} (pgid {s.pid})" for s in self.services if s.running or s.group_alive()]
        if self.redis_server is not None and (pid := _redis_pid(self.redis_server)) and process_alive(pid):
            alive.append(f"redis-server (pid {pid})")
        return alive


def in_parallel(func: Callable[[Any], T], items: Iterable[Any], threads: int = 8) -> list[T]:
    """``func`` over ``items`` from a pool of threads, as concurrent senders would post; results in order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(func, items))


@dataclass(frozen=True)
class Verdict:
    """What became of the acknowledged leads, as :meth:`Ledger.verdict` found it."""

    acknowledged: int
    delivered: int
    dead_lettered: int
    lost: int
    crm_duplicates: int
    """create-lead deliveries beyond the first for an acknowledged lead's e-mail."""
    duplicate_answers: int
    refused: int

    def line(self) -> str:
        return (
            f"acknowledged={self.acknowledged} delivered={self.delivered} dead-lettered={self.dead_lettered} "
            f"lost={self.lost} duplicates_at_crm={self.crm_duplicates} duplicate_answers={self.duplicate_answers} "
            f"refused={self.refused}"
        )


class Ledger:
    """The gateway's answers, kept to be checked against the event store, the CRM and ``/metrics``.

    A lead is acknowledged when the gateway answered 2xx for a new event; it must end delivered
    exactly once or in the dead-letter queue with its reason. Kinds whose answer names no event
    (``google_ads`` answers ``{}``, ``facebook`` only counts) are acknowledged by source and matched
    to that source's stored events by :meth:`settle`: more new events than acknowledgements means
    a re-send was stored twice, fewer means a lead was lost. Refused posts (503 while Redis is
    down) are not acknowledged, not counted, and must never reach the CRM. E-mails identify leads
    at the CRM, so every lead a scenario sends has its own, in lower case.
    """

    def __init__(self, stack: Stack):
        self.stack = stack
        self.emails: dict[str, str] = {}
        """Event id -> e-mail of each acknowledged lead whose answer named its event."""
        self.unnamed: dict[str, list[str]] = {}
        """Source id -> e-mails acknowledged by an answer that names no event."""
        self.unmatched = 0
        self.duplicates = 0
        self.refused: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    # booking answers ---------------------------------------------------------------------------

    def record(self, response: httpx.Response, email: str) -> None:
        """Books one answer that names its event (``event_id`` and ``duplicate``: form, json, typeform)."""
        if not response.is_success:
            self.refuse(response, email)
            return
        body = response.json()
        if body.get("duplicate"):
            self.duplicate()
        else:
            self.acknowledge(email, event_id=body["event_id"])

    def acknowledge(self, email: str, *, event_id: str | None = None, source: str | None = None) -> None:
        """Books a new lead: by its event id, or (answers that name none) by its source."""
        with self._lock:
            if event_id is not None:
                assert event_id not in self.emails, f"two leads acknowledged as {event_id}"
                self.emails[event_id] = email
            else:
                assert source is not None, "an acknowledgement needs an event id or a source"
                self.unnamed.setdefault(source, []).append(email)

    def duplicate(self, count: int = 1) -> None:
        with self._lock:
            self.duplicates += count

    def refuse(self, response: httpx.Response, email: str) -> None:
        with self._lock:
            self.refused.append((response.status_code, email))

    @property
    def acknowledged(self) -> int:
        return len(self.emails) + sum(len(emails) for emails in self.unnamed.values())

    def acknowledged_emails(self) -> set[str]:
        return set(self.emails.values()) | {e for emails in self.unnamed.values() for e in emails}

    # checking ----------------------------------------------------------------------------------

    def _resolve(self) -> list[str]:
        """Every acknowledged event id, those of unnamed acknowledgements found in their source's index."""
        store = self.stack.store
        ids = list(self.emails)
        self.unmatched = 0
        for source, emails in self.unnamed.items():
            found = [e.id for _, e in store.iter_index(source) if e.status != "duplicate" and e.id not in self.emails]
            assert len(found) <= len(emails), (
                f"{source}: {len(found)} new events stored for {len(emails)} acknowledged leads "
                f"(a re-send was stored as a second lead)"
            )
            self.unmatched += len(emails) - len(found)
            ids.extend(found)
        return ids

    def settle(self, timeout: float) -> dict[str, Event]:
        """Waits until every acknowledged lead is delivered or dead and nothing is due; returns their events."""
        ids = self._resolve()
        store = self.stack.store

        def settled() -> dict[str, Event] | None:
            events = self.stack.events(ids)
            final = len(events) == len(ids) and all(e.status in ("delivered", "dead") for e in events.values())
            return events if final and store.due_count() == 0 else None

        try:
            return wait_until(settled, timeout, "every acknowledged lead to be delivered or dead-lettered", 0.2)
        except AssertionError as err:
            counts = summary(self.stack.events(ids))
            raise AssertionError(f"{err}: {counts}, {store.due_count()} due\n{self.stack.logs()}") from None

    def verdict(self, events: Mapping[str, Event], label: str, details: str = "", crm_duplicates: int = 0) -> Verdict:
        """Prints the counts, then asserts that none is lost and that the CRM got each lead once.

        ``crm_duplicates`` is how many extra create-lead calls are allowed: the at-least-once
        margin for leads whose delivery was cut off after ConnectGain had it (a worker
        SIGKILLed, Redis gone before the outcome was recorded).
        """
        store = self.stack.store
        crm = self.stack.crm.deliveries_by_email()
        expected = self.acknowledged_emails()
        delivered = [e for e in events.values() if e.status == "delivered"]
        dead = [e for e in events.values() if e.status == "dead"]
        result = Verdict(
            acknowledged=self.acknowledged,
            delivered=len(delivered),
            dead_lettered=len(dead),
            lost=self.acknowledged - len(delivered) - len(dead),
            crm_duplicates=sum(n - 1 for email, n in crm.items() if email in expected and n > 1),
            duplicate_answers=self.duplicates,
            refused=len(self.refused),
        )
        # Not asserted: a job RQ filed as failed is not a lost lead (the event store decides), but
        # CI logs should show when workers fail jobs.
        failed_jobs = FailedJobRegistry(queue=self.stack.queue).count
        report(f"[{label}] {result.line()} rq_failed_jobs={failed_jobs}{' ' + details if details else ''}")
        for event in dead:
            report(
                f"[{label}] dead letter {event.id} ({event.kind}): {event.last_status_code} {event.last_error[:300]}"
            )

        def email_of(event: Event) -> str:
            return str((event.lead or {}).get("email") or "").lower()

        in_dlq = {i.decode() for i in self.stack.client.zrange(store.dead_key, 0, -1)} if self.stack.client else set()
        assert result.lost == 0 and self.unmatched == 0, f"{result.lost} acknowledged leads lost: {summary(events)}"
        assert [e.id for e in dead if not e.last_error or e.id not in in_dlq] == [], "a dead letter without its reason"
        assert {email_of(e) for e in delivered} | {email_of(e) for e in dead} == expected
        assert [email_of(e) for e in delivered if crm[email_of(e)] == 0] == [], "recorded delivered, not in the CRM"
        assert [email_of(e) for e in dead if crm[email_of(e)] > 0] == [], "dead-lettered, yet in the CRM"
        assert sorted(set(crm) - expected) == [], "the CRM holds leads that were never acknowledged"
        assert result.crm_duplicates <= crm_duplicates, f"{result.crm_duplicates} duplicate deliveries at the CRM"
        assert store.due_count() == 0, "an event is still owed a delivery"
        return result

    def check_metrics(self, verdict: Verdict, label: str, scrapes: int = 4) -> dict[str, float]:
        """Scrapes ``/metrics`` ``scrapes`` times (new connections, any gunicorn worker) and checks it against the run.

        Refused posts are answered before anything is counted (Redis was down), so every
        request a source received is an acknowledged lead or a duplicate answer.
        """
        checked = {
            "leadgate_received_total": self.acknowledged + self.duplicates,
            "leadgate_accepted_total": self.acknowledged,
            "leadgate_duplicate_total": self.duplicates,
            "leadgate_delivered_total": verdict.delivered,
            "leadgate_delivery_latency_seconds_count": verdict.delivered,
            "leadgate_dead_lettered_total": verdict.dead_lettered,
            "leadgate_dead_letters": verdict.dead_lettered,
            "leadgate_queue_depth": 0,
        }
        seen = [{name: self.stack.metrics().get(name) for name in checked} for _ in range(scrapes)]
        gunicorn = next(s for s in self.stack.services if s.name == "gunicorn")
        web_workers = gunicorn.group_size() - 1
        shown = " ".join(f"{name.removeprefix('leadgate_')}={value:g}" for name, value in seen[0].items())
        report(f"[{label}] /metrics ({scrapes} scrapes, {web_workers} gunicorn workers): {shown}")
        assert all(values == seen[0] for values in seen), f"scrapes disagree: {seen}"
        assert seen[0] == checked, f"/metrics disagrees with the run: {seen[0]} != {checked}"
        return seen[0]


def stop_embedded_redis(server: EmbeddedRedis, timeout: float = 5.0) -> None:
    """Shuts the test's redis-server down fast, SIGKILLing it if it will not go; never raises.

    Not :meth:`EmbeddedRedis.stop`: its client retries the SHUTDOWN (redis-py's default
    retry policy) against a server that is gone, which costs about four seconds per stop.
    """
    pid = _redis_pid(server)
    client = redis.Redis(unix_socket_path=str(server.socket), socket_timeout=5, retry=Retry(NoBackoff(), 0))
    try:
        client.shutdown(nosave=True)
    except (redis.RedisError, OSError):
        pass  # the server drops the connection as it exits, or was not running
    finally:
        client.close()
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if process_alive(pid) and _redis_pid(server) == pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _redis_pid(server: EmbeddedRedis) -> int | None:
    """The pid in the pidfile, only if that process is this server's redis-server (pids get reused)."""
    try:
        pid = int(server.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in cmdline and str(server.socket).encode() in cmdline else None


REPORT: list[str] = []
"""Lines the end-to-end and fault tests want in CI's output even when they pass (see tests/conftest.py)."""

REPORT_FILE_ENV = "LEADGATE_TEST_REPORT"
"""A file every test process appends its report lines to: pytest-xdist's workers are other processes."""


def report(line: str) -> None:
    """Prints a result line now (visible with -s) and keeps it for the end-of-run summary."""
    line = line.strip()
    print(line)
    REPORT.append(line)
    path = os.environ.get(REPORT_FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as file:  # one short append per line: whole lines, any process
            file.write(line + "\n")


def summary(events: dict[str, Event]) -> dict[str, Any]:
    """Counts by status (for printing)."""
    counts: dict[str, Any] = {}
    for event in events.values():
        counts[event.status] = counts.get(event.status, 0) + 1
    return counts
