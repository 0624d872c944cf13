"""Prometheus metrics kept in Redis, so every web and worker process reports the same numbers.

Why Redis counters rather than prometheus_client's multiprocess mode: web and worker
processes are scaled separately and may run on different hosts, while multiprocess
mode only adds up processes that share one directory on one host (and needs that
directory wiped on every deploy). Here each counter is incremented inside the same
Redis transaction or Lua script that changes the event it counts, so ``/metrics`` and
the event store cannot disagree, whichever process serves the scrape.

This module only counts (every process does); :mod:`leadgate.exposition` turns the counts into
``/metrics`` (only the gateway does), so a queue worker never loads prometheus_client.
"""

from __future__ import annotations

from typing import Any

from leadgate.histograms import bucket_of

__all__ = [
    "DESTINATION_COUNTERS",
    "LATENCY_BUCKETS",
    "SOURCE_COUNTERS",
    "counter_field",
    "incr",
    "latency_bucket",
]

SOURCE_COUNTERS = {
    "received": "Requests to a configured source's hook URL",
    "accepted": "Leads stored and queued for delivery",
    "duplicate": "Re-sent leads recognised as duplicates (not delivered again)",
    "rejected": "Acknowledged events with no usable lead (kept for replay)",
    "spam": "Honeypot hits (answered as success, never delivered)",
    "ignored": "Acknowledged events that are not leads (other event types, dropped test leads)",
    "unauthorized": "Requests refused for a missing or wrong signature, key, token or Origin",
    "invalid": "Requests refused as malformed or too large (nothing stored)",
    "rate_limited": "Requests refused by the per-IP rate limit",
}
DESTINATION_COUNTERS = {
    "delivered": "Leads recorded by ConnectGain",
    "retried": "Failed attempts that will be tried again",
    "dead_lettered": "Leads moved to the dead-letter queue",
    "parked": "Leads waiting for an operator (expired token, paused destination)",
}
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 14400.0, 86400.0)
"""Seconds from receipt to delivery: sub-second when healthy, hours after an outage."""


def counter_field(name: str, label: str) -> str:
    return f"{name}|{label}"


def incr(client: Any, key: str, name: str, label: str, amount: int = 1) -> None:
    """Adds to a counter in the hash ``key`` (the store's ``counters_key``) on a client or a pipeline
    (so it commits with the change it counts)."""
    client.hincrby(key, counter_field(name, label), amount)


def latency_bucket(seconds: float) -> str:
    return bucket_of(seconds, LATENCY_BUCKETS)
