"""The Redis URLs leadgate takes, and what a Sentinel URL names.

``redis://``, ``rediss://`` and ``unix://`` are redis-py's own forms. ``redis+sentinel://`` names
Sentinels rather than a server: ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]``
(port 26379 when left out; ``?sentinel_password=`` when the Sentinels themselves need one). The
password is the master's and its replicas'. Nothing here connects: this module only reads URLs,
so the config can reject a bad one with a sentence at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

__all__ = ["SENTINEL_SCHEME", "SentinelURL", "check_redis_url", "is_sentinel_url", "parse_sentinel_url"]

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)
SENTINEL_FORM = "redis+sentinel://[:password@]host:port[,host:port...]/service[/db]"


@dataclass(frozen=True)
class SentinelURL:
    """A ``redis+sentinel://`` URL taken apart: where the Sentinels are, and which master they watch."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)


def is_sentinel_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelURL:
    """Reads a ``redis+sentinel://`` URL; raises ValueError saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = tuple(_host_port(item) for item in hosts.split(","))
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
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=query["sentinel_password"][0] if "sentinel_password" in query else None,
    )


def _host_port(item: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [::1]:26379
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise ValueError(f"a Sentinel address needs a host: {SENTINEL_FORM}")
    if port and not port.isdigit():
        raise ValueError(f"the port of Sentinel {host} must be a number, not {port!r}")
    return host, int(port) if port else SENTINEL_PORT


def check_redis_url(url: str) -> None:
    """Raises ValueError when ``url`` is not a Redis URL leadgate can use."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        # the URL itself is not repeated: it may hold a password
        given = f"{scheme}://" if scheme else "no scheme"
        raise ValueError(f"must start with redis://, rediss://, unix:// or {SENTINEL_SCHEME}:// (this one: {given})")
    if scheme == SENTINEL_SCHEME:
        parse_sentinel_url(url)
