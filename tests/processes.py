"""Real leadgate processes for the end-to-end tests: gunicorn, ``leadgate worker``, Redis, the sandbox CRM.

Every subprocess runs in its own session (process group), so one ``killpg`` takes down a
gunicorn master together with its workers, and :meth:`Stack.close` kills whatever is still
alive even when the test failed halfway. Everything binds 127.0.0.1 only. Logs go to files
under the test's ``tmp_path``; :meth:`Stack.logs` returns their tails for assertion messages.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import TypeVar
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Worker

from leadgate.config import Config
from leadgate.config import load_config
from leadgate.connection import EmbeddedRedis
from leadgate.events import Event
from leadgate.events import EventStore
from leadgate.sandbox_crm import SandboxCRM
from workers.queue import delivery_queue

__all__ = [
    "Service",
    "Stack",
    "free_port",
    "process_alive",
    "redis_dir",
    "stop_embedded_redis",
    "summary",
    "wait_until",
    "with_db",
]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
API_KEY = "cg_e2e"
SOURCE_ID = "contact-us"
E2E_DB = 13
"""Database used on an external ``$REDIS_URL``, flushed before and after, so other suites' data is never touched."""

UNIX_SOCKET_MAX = 100
"""``sun_path`` holds 108 bytes on Linux; deep pytest temp dirs can exceed it."""

CONFIG_TEMPLATE = """\
destinations:
  main:
    base_url: {crm_url}
    api_key: {api_key}
delivery:
  max_attempts: {max_attempts}
  backoff_seconds: {backoff}
  timeout_seconds: {timeout}
  lease_seconds: {lease}
data_dir: {data_dir}
sources:
  {source_id}:
    kind: form
    tags: [website]
    phone_region: US
"""

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls ``check`` until it returns something truthy; raises AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


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


class Service:
    """One subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int, group: bool = False) -> None:
        """Sends ``signum`` to the process (``group``: to its whole process group)."""
        try:
            if group:
                os.killpg(self.proc.pid, signum)
            else:
                self.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int:
        """The exit code; raises ``subprocess.TimeoutExpired`` if it is still running after ``timeout``."""
        return self.proc.wait(timeout)

    def group_alive(self) -> bool:
        """Whether any live process of this service's group (e.g. a gunicorn worker) still exists.

        Zombies do not count: orphaned children of a killed gunicorn master wait for init to reap them.
        """
        return any(pgid == self.proc.pid and state != "Z" for pgid, state in _process_groups())

    def kill(self) -> None:
        """SIGKILLs the whole group and reaps the leader; safe to call twice."""
        if self.running or self.group_alive():
            self.signal(signal.SIGKILL, group=True)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            pass
        if not self._log.closed:
            self._log.close()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


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
    ):
        self.tmp_path = tmp_path
        self.services: list[Service] = []
        self.http = httpx.Client(timeout=httpx.Timeout(15.0), trust_env=False)
        self.redis_server: EmbeddedRedis | None = None
        self.client: redis.Redis | None = None
        self.crm = SandboxCRM(api_keys=(API_KEY,))
        try:
            self._set_up(timeout_seconds, backoff_seconds, max_attempts, lease_seconds)
        except BaseException:
            self.close()
            raise

    def _set_up(
        self, timeout_seconds: float, backoff_seconds: tuple[float, ...], max_attempts: int, lease_seconds: float
    ) -> None:
        self.crm.start()
        external = os.environ.get("REDIS_URL")
        if external:
            self.redis_url = with_db(external, E2E_DB)
        else:
            self.redis_server = EmbeddedRedis(redis_dir(self.tmp_path))
            self.redis_url = self.redis_server.ensure_running()
        self.client = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.client.flushdb()
        self.store = EventStore(self.client)
        self.queue = delivery_queue(self.client)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.config_path = self.tmp_path / "leadgate.yaml"
        self.config_path.write_text(
            CONFIG_TEMPLATE.format(
                crm_url=self.crm.url,
                api_key=API_KEY,
                max_attempts=max_attempts,
                backoff=list(backoff_seconds),
                timeout=timeout_seconds,
                lease=lease_seconds,
                data_dir=self.tmp_path / "var",
                source_id=SOURCE_ID,
            )
        )
        self.config: Config = load_config(self.config_path, environ={})
        self.env = {k: v for k, v in os.environ.items() if k not in ("LEADGATE_SANDBOX_URL", "LEADGATE_ADMIN_TOKEN")}
        self.env.update(
            PORT=str(self.port),
            HOST="127.0.0.1",
            WEB_CONCURRENCY="2",
            LEADGATE_CONFIG=str(self.config_path),
            REDIS_URL=self.redis_url,
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

    def start_worker(self, wait_registered: bool = True, timeout: float = 20) -> Service:
        """``leadgate worker`` (the Procfile's worker line); waits until it is registered with RQ."""
        before = {w.pid for w in self.rq_workers()}
        n = sum(s.name.startswith("worker") for s in self.services) + 1
        worker = self._spawn(f"worker{n}", [str(BIN / "leadgate"), "worker"])
        if wait_registered:

            def registered() -> bool:
                assert worker.running, f"leadgate worker exited with {worker.proc.returncode}\n{worker.tail()}"
                return any(w.pid == worker.pid for w in self.rq_workers() if w.pid not in before)

            wait_until(registered, timeout, f"leadgate worker to register\n{self.logs()}", 0.1)
        return worker

    def rq_workers(self) -> list[Worker]:
        return Worker.all(queue=self.queue)

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


def _process_groups() -> list[tuple[int, str]]:
    """(process group, state) of every process on the machine, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        found.append((int(fields[2]), fields[0]))
    return found


def process_alive(pid: int) -> bool:
    """Whether ``pid`` still runs; a zombie waiting for init to reap it (the daemon is not our child) is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _redis_pid(server: EmbeddedRedis) -> int | None:
    """The pid in the pidfile, only if that process is this server's redis-server (pids get reused)."""
    try:
        pid = int(server.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in cmdline and str(server.socket).encode() in cmdline else None


def summary(events: dict[str, Event]) -> dict[str, Any]:
    """Counts by status (for printing)."""
    counts: dict[str, Any] = {}
    for event in events.values():
        counts[event.status] = counts.get(event.status, 0) + 1
    return counts
