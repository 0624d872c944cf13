"""The processes a benchmark run starts and always stops: Redis, the sandbox CRM, gunicorn, ``leadgate worker``.

Every child runs in its own session (process group), so one ``killpg`` takes a gunicorn master
down with its workers; :class:`Processes` kills whatever is left when the run ends, normally or
not. Everything binds 127.0.0.1 (Redis: a Unix socket). Logs go to files in the run's directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from leadgate.embedded_redis import EmbeddedRedis

__all__ = [
    "CpuMeter",
    "Processes",
    "Service",
    "cpu_seconds",
    "free_port",
    "peak_rss_kib",
    "process_children",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

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


def peak_rss_kib(pid: int) -> int:
    """``VmHWM`` (peak resident set size) of a live process, in KiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_children(pid: int) -> list[int]:
    """Direct children of ``pid`` (a gunicorn master's workers)."""
    found: list[int] = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(p) for p in path.read_text().split())
        except OSError:
            continue
    return found


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time spent on anything but idle and iowait, all CPUs together, since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS


class CpuMeter:
    """CPU used during a stretch of time: by given processes, and by the machine as a whole.

    ``others`` is the machine's busy time minus what this run's processes used (the benchmark
    process and its waited-for children such as wrk, plus the measured ``pids``): other people's
    work competing for the same cores, reported so a figure taken on a busy machine says so.
    """

    def __init__(self, pids: dict[str, list[int]]):
        self.pids = pids
        self._own = self._own_now()
        self._each = {name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()}
        self._busy = machine_busy_seconds()
        self._wall = time.monotonic()

    @staticmethod
    def _own_now() -> float:
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system

    def stop(self) -> dict[str, float]:
        """Seconds of CPU per named group, plus ``others``, ``wall`` and ``cores``."""
        used = {name: sum(cpu_seconds(p) for p in group) - self._each[name] for name, group in self.pids.items()}
        own = self._own_now() - self._own
        busy = machine_busy_seconds() - self._busy
        used["others"] = max(busy - own - sum(used.values()), 0.0)
        used["wall"] = time.monotonic() - self._wall
        used["cores"] = float(os.cpu_count() or 1)
        return used


class Service:
    """One child process in its own process group, logging to a file (gunicorn, a worker, the sandbox CRM)."""

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

    def group_size(self) -> int:
        """How many live processes this service's group holds (a gunicorn master and its workers)."""
        return sum(1 for pgid, state in process_groups() if pgid == self.proc.pid and state != "Z")

    def group_alive(self) -> bool:
        """Whether any live process of this service's group (e.g. a gunicorn worker) still exists.

        Zombies do not count: orphaned children of a killed gunicorn master wait for init to reap them.
        """
        return any(pgid == self.proc.pid and state != "Z" for pgid, state in process_groups())

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

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the group (a graceful stop), SIGKILL if it is still there after ``timeout``."""
        for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, signum)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        try:  # workers a killed master left behind
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if not self._log.closed:
            self._log.close()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Starts the run's processes in ``workdir`` and stops every one of them in :meth:`close`."""

    def __init__(self, workdir: Path, base_env: dict[str, str]):
        self.workdir = workdir
        self.base_env = base_env
        self.services: list[Service] = []
        self.redis_server: EmbeddedRedis | None = None
        self._redis_pid: int | None = None
        self.crm: Service | None = None

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Service:
        service = Service(name, argv, {**self.base_env, **(env or {})}, self.workdir / f"{name}.log")
        self.services.append(service)
        return service

    # Redis ---------------------------------------------------------------------------------------

    @property
    def redis_pid(self) -> int | None:
        return self._redis_pid

    def start_redis(self) -> str:
        """The embedded redis-server (AOF on, everysec, as in production) on a socket in the run's dir."""
        self.redis_server = EmbeddedRedis(self.workdir / "redis")
        url = self.redis_server.ensure_running()
        try:
            self._redis_pid = int(self.redis_server.pidfile.read_text().strip())
        except (OSError, ValueError):
            self._redis_pid = None
        return url

    def stop_redis(self) -> None:
        server, self.redis_server = self.redis_server, None
        if server is None:
            return
        client = redis.Redis(unix_socket_path=str(server.socket), socket_timeout=5, retry=Retry(NoBackoff(), 0))
        try:
            client.shutdown(nosave=True)
        except (redis.RedisError, OSError):
            pass
        finally:
            client.close()
        pid = self._redis_pid
        if pid is None:
            return
        deadline = time.monotonic() + 5
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if process_alive(pid) and b"redis-server" in _cmdline(pid):
            os.kill(pid, signal.SIGKILL)

    # the CRM, gunicorn, workers ------------------------------------------------------------------

    def start_crm(self, api_key: str) -> str:
        port = free_port()
        argv = [sys.executable, "-m", "leadgate.sandbox", "--port", str(port), "--api-key", api_key]
        crm = self.crm = self.spawn("crm", argv)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/_sandbox/faults", crm), 20, f"the sandbox CRM\n{crm.tail()}")
        return url

    def start_gunicorn(self, name: str, app: str, env: dict[str, str] | None = None) -> tuple[Service, str]:
        """``gunicorn --config gunicorn.conf.py APP`` (the Procfile's web line), waiting for /readyz."""
        port = free_port()
        argv = [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), app]
        service = self.spawn(name, argv, {"HOST": "127.0.0.1", "PORT": str(port), **(env or {})})
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/readyz", service), 30, f"{name} /readyz\n{service.tail()}", 0.1)
        return service, url

    def start_worker(self, name: str, env: dict[str, str]) -> Service:
        """``leadgate worker`` (the Procfile's worker line)."""
        return self.spawn(name, [str(BIN / "leadgate"), "worker"], env)

    def close(self) -> None:
        for service in reversed(self.services):
            service.stop(timeout=5)
        self.services.clear()
        self.stop_redis()


def _answers(url: str, service: Service) -> bool:
    if not service.running:
        raise RuntimeError(f"{service.name} exited with {service.proc.returncode}\n{service.tail()}")
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


def process_groups() -> list[tuple[int, str]]:
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


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
