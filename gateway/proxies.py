"""Which address a request came from: ``X-Forwarded-For`` believed only when a trusted proxy sent it.

werkzeug's ``ProxyFix`` trusts a hop count: whoever reaches gunicorn directly can then write any
``X-Forwarded-For`` and be any client (the per-IP rate limit and the stored address with it). Here
the header counts only when the connecting peer is in ``trusted_proxies``; it is then read from the
right, skipping the trusted proxies' own entries, and the first address that is not one of them is
the client. A request from anyone else keeps its real peer address, whatever it claims.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

from leadgate.config import IPNetwork

__all__ = ["PEER_KEY", "TrustedProxies", "client_address"]

PEER_KEY = "leadgate.peer_addr"
"""The WSGI environ key keeping the connecting peer's own address when a forwarded one replaced it."""


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: Any, networks: Sequence[IPNetwork]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(peer: str, forwarded_for: Iterable[str], networks: Sequence[IPNetwork]) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, then the nearest untrusted forwarded hop."""
    current = _address(peer)
    if not _trusted(current, networks):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage left of here was written by someone no proxy vouches for
        current = address
        if not _trusted(address, networks):
            break
    return str(current)


class TrustedProxies:
    """WSGI middleware setting ``REMOTE_ADDR`` to :func:`client_address`; the peer stays in ``PEER_KEY``."""

    def __init__(self, app: Any, networks: Sequence[IPNetwork]):
        self.app = app
        self.networks = tuple(networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded:
            environ[PEER_KEY] = peer
            environ["REMOTE_ADDR"] = client_address(peer, [forwarded], self.networks)
        return self.app(environ, start_response)
