"""The HTTP clients a worker process keeps from one job to the next (ConnectGain, the Graph API).

One pooled client per kind of peer and process: keep-alive connections survive across jobs, so
a lead does not pay a TCP and TLS handshake. :func:`close_all` is for tests and shutdown, when
the peers' addresses change or the process ends.

Every client verifies TLS with one SSL context per process (:func:`verified_tls`): the one httpx
builds for ``verify=True`` (certifi's CA bundle, or ``$SSL_CERT_FILE`` / ``$SSL_CERT_DIR``), built
once. Each context holds its own parsed copy of the CA bundle, about 0.8 MiB, and a worker keeps
a client per peer (ConnectGain, the Graph API, alert webhooks).
"""

from __future__ import annotations

import ssl
import threading
from typing import Any
from typing import Protocol
from typing import TypeVar

import httpx

from leadgate import defaults

__all__ = ["HTTPClient", "USER_AGENT", "close_all", "pooled", "verified_tls"]

USER_AGENT = "leadgate/0.1"
MAX_CONNECTIONS = 20
"""Per peer and process: up to ``delivery.calls_in_flight`` (at most 16) deliveries, the rest for backfill's."""


_tls: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def verified_tls() -> ssl.SSLContext:
    """This process's SSL context for verified TLS, exactly what httpx builds for ``verify=True``, built once."""
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = httpx.create_ssl_context(verify=True, trust_env=True)
        return _tls


class HTTPClient:
    """What every peer's client shares: one keep-alive connection pool, one timeout, one User-Agent.

    ``transport`` is for tests that answer in-process (``httpx.MockTransport``) where no server can run.
    """

    def __init__(self, timeout: float = defaults.TIMEOUT_SECONDS, transport: httpx.BaseTransport | None = None):
        self.http = httpx.Client(
            verify=verified_tls(),
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self.http.close()


class Closeable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closeable)
C_co = TypeVar("C_co", bound=Closeable, covariant=True)


class ClientKind(Protocol[C_co]):
    """A client class as the pool builds it: by keyword ``timeout`` alone, the other options at their defaults."""

    def __call__(self, *, timeout: float) -> C_co: ...


_clients: dict[ClientKind[Any], Any] = {}
_lock = threading.Lock()


def pooled(kind: ClientKind[C], timeout: float) -> C:
    """This process's client of ``kind`` (built with ``timeout`` the first time)."""
    with _lock:
        client = _clients.get(kind)
        if client is None:
            client = _clients[kind] = kind(timeout=timeout)
        return client


def close_all() -> None:
    """Closes and forgets every pooled client; the next :func:`pooled` call builds a fresh one."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
