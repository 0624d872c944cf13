"""The HTTP clients a worker process keeps from one job to the next (ConnectGain, the Graph API).

One pooled client per kind of peer and process: keep-alive connections survive across jobs, so
a lead does not pay a TCP and TLS handshake. :func:`close_all` is for tests and shutdown, when
the peers' addresses change or the process ends.
"""

from __future__ import annotations

import threading
from typing import Any
from typing import Protocol
from typing import TypeVar

__all__ = ["close_all", "pooled"]


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
