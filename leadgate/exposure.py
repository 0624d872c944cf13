"""What a config leaves open to strangers, said out loud: the warnings start-up and ``check-config`` print.

None of these stop the gateway (each can be what an operator wants), but each is a way for someone
who is not a sender to forge a client address, suppress or inject leads, or read what is configured.
A source kind adds its own through an optional ``warnings(source)`` function in its module.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from leadgate.config import Config

__all__ = ["bind_is_public", "exposure_warnings"]


def bind_is_public(host: str) -> bool:
    """Whether gunicorn listening on ``host`` can be reached from other machines (not loopback only)."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return False
    if host == "":
        return True  # gunicorn's ":8000" listens on every interface
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: it may resolve to anything


def exposure_warnings(config: Config, bind_hosts: Iterable[str] = ()) -> list[str]:
    """One sentence per exposure, naming the setting that causes it and what to do instead."""
    found: list[str] = []
    everyone = [str(net) for net in config.trusted_proxies if net.prefixlen == 0]
    if everyone:
        found.append(
            f"trusted_proxies includes {', '.join(everyone)}: any client can forge X-Forwarded-For (its rate limit "
            "and stored address); list only your proxies' addresses"
        )
    public = [host for host in bind_hosts if bind_is_public(host)]
    if config.trusted_proxies and public:
        proxies = ", ".join(str(net) for net in config.trusted_proxies)
        found.append(
            f"X-Forwarded-For is believed from {proxies} while listening on {', '.join(public)}: make sure only the "
            "proxy can reach this port (firewall), or bind HOST=127.0.0.1 behind a local proxy"
        )
    if config.metrics_public:
        found.append("metrics_public: true: /metrics shows every source id and its counts to anyone who asks")
    for source in config.sources.values():
        kind_warnings = getattr(config.kinds.get(source.kind), "warnings", None)
        if kind_warnings is not None:
            found.extend(f"source {source.id}: {text}" for text in kind_warnings(source))
    return found
