"""Real ``redis-server`` and ``redis-sentinel`` processes on 127.0.0.1 (Debian's), always torn down.

:class:`RedisServers` starts servers and Sentinels from config files in one directory, each in
its own process group (:class:`leadgate.sandbox.processes.Service`), on ports from
:func:`free_port`; :meth:`RedisServers.close` SIGKILLs every one of them, whatever the test did.
:class:`SentinelSet` is the usual shape: one master, its replicas, three Sentinels watching it;
:class:`ClusterSet` a Redis Cluster of masters (``redis-cli --cluster create``) sharing the slots.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from leadgate.sandbox.processes import Service
from leadgate.sandbox.processes import free_port
from leadgate.sandbox.processes import wait_until

__all__ = ["ClusterSet", "RedisProcess", "RedisServers", "SentinelSet", "missing_binaries"]

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_SENTINEL = "/usr/bin/redis-sentinel"
REDIS_CLI = "/usr/bin/redis-cli"
SERVICE = "mymaster"

SERVER_SETTINGS: Mapping[str, Any] = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": '""',
    "repl-diskless-sync": "yes",
    "repl-diskless-sync-delay": 0,  # a replica (re)joining syncs at once, not after Redis's default 5 s
    "maxmemory-policy": "noeviction",
}
"""What docs/operations.md asks of a production Redis, plus fast replica syncs."""


def missing_binaries() -> list[str]:
    """The Redis programs this machine lacks (``apt-get install redis-server redis-sentinel``)."""
    return [name for name in (REDIS_SERVER, REDIS_SENTINEL, REDIS_CLI) if shutil.which(name) is None]


@dataclass
class RedisProcess:
    """One redis-server or redis-sentinel: its port, its process, a plain client to it."""

    name: str
    port: int
    service: Service
    client: redis.Redis = field(init=False)

    def __post_init__(self) -> None:
        # No retries: a test asking a server that is down wants to know now.
        self.client = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False


class RedisServers:
    """The redis-server and redis-sentinel processes of one test (or module), in ``directory``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.processes: list[RedisProcess] = []

    def server(self, name: str, *, replica_of: RedisProcess | None = None, **settings: Any) -> RedisProcess:
        """A redis-server with :data:`SERVER_SETTINGS` (and ``settings``, dashes as underscores); waits for PING."""
        lines = {**SERVER_SETTINGS, **{key.replace("_", "-"): value for key, value in settings.items()}}
        if replica_of is not None:
            lines["replicaof"] = f"127.0.0.1 {replica_of.port}"
        return self._start(name, REDIS_SERVER, lines)

    def sentinel(self, name: str, master: RedisProcess, *, quorum: int = 2) -> RedisProcess:
        """A Sentinel watching ``master`` as :data:`SERVICE`, quick to notice a dead one; waits for PING."""
        lines = {
            f"sentinel monitor {SERVICE}": f"127.0.0.1 {master.port} {quorum}",
            f"sentinel down-after-milliseconds {SERVICE}": 2000,
            f"sentinel failover-timeout {SERVICE}": 10000,
            f"sentinel parallel-syncs {SERVICE}": 1,
        }
        return self._start(name, REDIS_SENTINEL, lines)

    def _start(self, name: str, program: str, settings: Mapping[str, Any]) -> RedisProcess:
        home = self.directory / name
        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        conf = home / "redis.conf"  # a Sentinel rewrites its file: it must be its own and writable
        text = {"bind": "127.0.0.1", "port": port, "dir": str(home), "daemonize": "no", "logfile": '""', **settings}
        conf.write_text("".join(f"{key} {value}\n" for key, value in text.items()))
        process = RedisProcess(name, port, Service(name, [program, str(conf)], {}, home / "log"))
        self.processes.append(process)
        wait_until(lambda: process.answers() or _exited(process), 10, f"{name} on port {port}")
        assert process.service.running, f"{name} exited:\n{process.service.tail()}"
        return process

    def logs(self, lines: int = 15) -> str:
        return "\n".join(f"--- {p.name} (port {p.port}) ---\n{p.service.tail(lines)}" for p in self.processes)

    def close(self) -> None:
        """SIGKILLs every process started here; never raises."""
        for process in self.processes:
            process.client.close()
            process.service.kill()

    def leftovers(self) -> list[str]:
        return [f"{p.name} (pid {p.service.pid})" for p in self.processes if p.service.group_alive()]


def _exited(process: RedisProcess) -> bool:
    return not process.service.running


class SentinelSet:
    """One master, ``replicas`` replicas and three Sentinels, started in ``servers``; ready when it returns.

    ``settings`` go to every server (they keep them when their roles swap in a failover).
    """

    def __init__(self, servers: RedisServers, *, replicas: int = 1, **settings: Any):
        self.servers = servers
        self.nodes = [servers.server("redis-a", **settings)]
        self.nodes += [
            servers.server(f"redis-{chr(ord('b') + n)}", replica_of=self.nodes[0], **settings) for n in range(replicas)
        ]
        self.sentinels = [servers.sentinel(f"sentinel-{n + 1}", self.nodes[0]) for n in range(3)]
        self.wait_settled(timeout=20)

    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL leadgate is configured with."""
        return f"redis+sentinel://{','.join(f'127.0.0.1:{s.port}' for s in self.sentinels)}/{SERVICE}/0"

    def master(self) -> RedisProcess:
        """The node every Sentinel names as the master (fails when they disagree)."""
        named = {tuple(s.client.sentinel_get_master_addr_by_name(SERVICE)) for s in self.sentinels}
        assert len(named) == 1, f"the Sentinels disagree on the master: {named}"
        [(_, port)] = named
        return next(node for node in self.nodes if node.port == int(port))

    def replicas(self) -> list[RedisProcess]:
        master = self.master()
        return [node for node in self.nodes if node is not master]

    def settled(self) -> bool:
        """Every Sentinel names the same master, knows the other two and sees every replica in sync."""
        try:
            named = {tuple(s.client.sentinel_get_master_addr_by_name(SERVICE)) for s in self.sentinels}
            if len(named) != 1:
                return False
            [(_, port)] = named
            for sentinel in self.sentinels:
                if len(sentinel.client.sentinel_sentinels(SERVICE)) < len(self.sentinels) - 1:
                    return False
                known = sentinel.client.sentinel_slaves(SERVICE)
                good = [r for r in known if r["is_slave"] and not r["is_sdown"] and r["master-link-status"] == "ok"]
                if len(good) < len(self.nodes) - 1:
                    return False
            master = next(node for node in self.nodes if node.port == int(port))
            return master.client.info("replication")["connected_slaves"] == len(self.nodes) - 1
        except (redis.RedisError, StopIteration, KeyError):
            return False

    def wait_settled(self, timeout: float) -> RedisProcess:
        """Waits until :meth:`settled`; returns the master."""
        wait_until(self.settled, timeout, f"the Sentinel set to settle\n{self.servers.logs()}", 0.1)
        return self.master()

    def failover(self) -> RedisProcess:
        """``SENTINEL FAILOVER``: a replica becomes the master; returns the old master (it rejoins as a replica)."""
        old = self.master()
        self.sentinels[0].client.execute_command("SENTINEL", "FAILOVER", SERVICE)
        return old


class ClusterSet:
    """A Redis Cluster of ``masters`` masters on loopback, its 16384 slots spread over them; ready when it returns."""

    def __init__(self, servers: RedisServers, *, masters: int = 3, **settings: Any):
        self.servers = servers
        cluster = {"cluster_enabled": "yes", "cluster_config_file": "nodes.conf", "cluster_node_timeout": 2000}
        # the bus port is its own (not port + 10000: a free port from the ephemeral range may be too high for that)
        self.nodes = [
            servers.server(f"cluster-{n + 1}", **cluster, cluster_port=free_port(), **settings) for n in range(masters)
        ]
        created = subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes), "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert created.returncode == 0, f"redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}"
        wait_until(self.settled, 20, f"the cluster to settle\n{servers.logs()}", 0.1)

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL leadgate is configured with (every node: any one would do)."""
        return f"redis+cluster://{','.join(f'127.0.0.1:{n.port}' for n in self.nodes)}"

    def settled(self) -> bool:
        """Every node sees the cluster ``ok`` with all slots assigned."""
        try:
            infos = [node.client.cluster("info") for node in self.nodes]
        except redis.RedisError:
            return False
        return all(info["cluster_state"] == "ok" and int(info["cluster_slots_ok"]) == 16384 for info in infos)

    def keys_by_node(self) -> dict[str, list[str]]:
        """Every key in the cluster, by the node holding it."""
        return {node.name: sorted(k.decode() for k in node.client.scan_iter(count=1000)) for node in self.nodes}
