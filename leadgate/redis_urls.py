"""The Redis URLs leadgate takes, and what a Sentinel or Cluster URL names.

``redis://``, ``rediss://`` and ``unix://`` are redis-py's own forms. ``redis+sentinel://`` names
Sentinels rather than a server: ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]``
(port 26379 when left out; ``?sentinel_password=`` when the Sentinels themselves need one). The
password is the master's and its replicas'. ``redis+cluster://`` (``rediss+cluster://`` with TLS)
names some nodes of a Redis Cluster, ``redis+cluster://[[user]:password@]host:port[,host:port...]``
(port 6379 when left out): the client learns the rest of the cluster from them. Nothing here
connects: this module only reads URLs, so the config can reject a bad one with a sentence at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

__all__ = [
    "CLUSTER_SCHEMES",
    "SENTINEL_SCHEME",
    "ClusterURL",
    "SentinelURL",
    "check_redis_url",
    "is_cluster_url",
    "is_sentinel_url",
    "parse_cluster_url",
    "parse_sentinel_url",
]

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
CLUSTER_PORT = 6379
SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME, *CLUSTER_SCHEMES)
SENTINEL_FORM = "redis+sentinel://[:password@]host:port[,host:port...]/service[/db]"
CLUSTER_FORM = "redis+cluster://[:password@]host:port[,host:port...]"


@dataclass(frozen=True)
class SentinelURL:
    """A ``redis+sentinel://`` URL taken apart: where the Sentinels are, and which master they watch."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ClusterURL:
    """A ``redis+cluster://`` URL taken apart: the nodes to start from, and how to log in to every node."""

    nodes: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def is_sentinel_url(url: str) -> bool:
    return _scheme(url) == SENTINEL_SCHEME


def is_cluster_url(url: str) -> bool:
    return _scheme(url) in CLUSTER_SCHEMES


def _credentials(netloc: str) -> tuple[str | None, str | None, str]:
    """(username, password, the hosts part) of a URL's ``netloc``."""
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    return unquote(username) or None, unquote(password) or None, hosts


def parse_cluster_url(url: str) -> ClusterURL:
    """Reads a ``redis+cluster://`` URL; raises ValueError saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in CLUSTER_SCHEMES:
        raise ValueError("not a redis+cluster:// URL")
    username, password, hosts = _credentials(parts.netloc)
    if parts.path.strip("/"):
        raise ValueError(f"a Redis Cluster has only database 0: nothing goes after the hosts ({CLUSTER_FORM})")
    if parts.query:
        raise ValueError(f"a redis+cluster:// URL takes no parameters ({CLUSTER_FORM})")
    nodes = tuple(_host_port(item, CLUSTER_PORT, "cluster node", CLUSTER_FORM) for item in hosts.split(","))
    return ClusterURL(nodes=nodes, tls=parts.scheme.lower() == "rediss+cluster", username=username, password=password)


def parse_sentinel_url(url: str) -> SentinelURL:
    """Reads a ``redis+sentinel://`` URL; raises ValueError saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    username, password, hosts = _credentials(parts.netloc)
    sentinels = tuple(_host_port(item, SENTINEL_PORT, "Sentinel", SENTINEL_FORM) for item in hosts.split(","))
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2:
        raise ValueError(f"name the master's service after the hosts: {SENTINEL_FORM}")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"the database after the service must be a number, not {path[1]!r}")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"sentinel_password"})
    if unknown:
        raise ValueError(f"unknown URL parameter {unknown[0]!r} (only sentinel_password)")
    return SentinelURL(
        sentinels=sentinels,
        service=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=username,
        password=password,
        sentinel_password=query["sentinel_password"][0] if "sentinel_password" in query else None,
    )


def _host_port(item: str, default_port: int, what: str, form: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [::1]:26379
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise ValueError(f"a {what} address needs a host: {form}")
    if port and not port.isdigit():
        raise ValueError(f"the port of {what} {host} must be a number, not {port!r}")
    return host, int(port) if port else default_port


def check_redis_url(url: str) -> None:
    """Raises ValueError when ``url`` is not a Redis URL leadgate can use."""
    scheme = _scheme(url)
    if scheme not in SCHEMES:
        # the URL itself is not repeated: it may hold a password
        given = f"{scheme}://" if scheme else "no scheme"
        schemes = "redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://"
        raise ValueError(f"must start with {schemes} (this one: {given})")
    if scheme == SENTINEL_SCHEME:
        parse_sentinel_url(url)
    if scheme in CLUSTER_SCHEMES:
        parse_cluster_url(url)
