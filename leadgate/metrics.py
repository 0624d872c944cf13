"""Prometheus metrics kept in Redis, so every web and worker process reports the same numbers.

Why Redis counters rather than prometheus_client's multiprocess mode: web and worker
processes are scaled separately and may run on different hosts, while multiprocess
mode only adds up processes that share one directory on one host (and needs that
directory wiped on every deploy). Here each counter is incremented inside the same
Redis transaction or Lua script that changes the event it counts, so ``/metrics`` and
the event store cannot disagree, whichever process serves the scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from leadgate.histograms import bucket_of
from leadgate.histograms import cumulative_buckets
from leadgate.speed import histograms as speed_histograms

__all__ = [
    "DESTINATION_COUNTERS",
    "LATENCY_BUCKETS",
    "SOURCE_COUNTERS",
    "counter_field",
    "incr",
    "latency_bucket",
    "render",
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


class LeadgateCollector(Collector):
    """Reads the shared counters and the live gauges from Redis at scrape time."""

    def __init__(self, rt: Any):
        self.rt = rt

    def collect(self) -> Iterator[Any]:
        client = self.rt.redis
        store = self.rt.store
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(store.counters_key)
        pipe.hgetall(store.latency_key)
        pipe.zcard(store.due_key)
        pipe.zrange(store.backlog_key, 0, 0, withscores=True)
        pipe.zcard(store.dead_key)
        pipe.zcard(store.parked_key)
        pipe.hkeys(store.paused_key)
        counters, latency, due, oldest, dead, parked, paused = pipe.execute()
        rq_length = self.rt.queue.count  # RQ's own Redis: the store's may be a cluster
        values: dict[tuple[str, str], int] = {}
        for raw_field, raw_value in counters.items():
            name, _, label = raw_field.decode().partition("|")
            values[(name, label)] = int(raw_value)
        config = self.rt.config
        for name, help_text in SOURCE_COUNTERS.items():
            family = CounterMetricFamily(f"leadgate_{name}", help_text, labels=["source"])
            for source in sorted(set(config.sources) | {lab for (n, lab) in values if n == name}):
                family.add_metric([source], values.get((name, source), 0))
            yield family
        for name, help_text in DESTINATION_COUNTERS.items():
            family = CounterMetricFamily(f"leadgate_{name}", help_text, labels=["destination"])
            for dest in sorted(set(config.destinations) | {lab for (n, lab) in values if n == name}):
                family.add_metric([dest], values.get((name, dest), 0))
            yield family
        yield from self._latency(latency)
        yield from speed_histograms(self.rt)
        now = time.time()
        yield GaugeMetricFamily(
            "leadgate_queue_depth", "Leads acknowledged and not yet delivered, dead or parked", value=due
        )
        age = now - oldest[0][1] if oldest else 0.0
        yield GaugeMetricFamily("leadgate_oldest_queued_age_seconds", "Age of the oldest undelivered lead", value=age)
        yield GaugeMetricFamily("leadgate_dead_letters", "Leads in the dead-letter queue", value=dead)
        yield GaugeMetricFamily("leadgate_parked", "Leads waiting for an operator", value=parked)
        yield GaugeMetricFamily("leadgate_rq_queue_length", "Delivery jobs waiting in the RQ queue", value=rq_length)
        paused_family = GaugeMetricFamily(
            "leadgate_destination_paused", "1 when a destination is paused", labels=["destination"]
        )
        paused_names = {p.decode() for p in paused}
        for dest in sorted(config.destinations):
            paused_family.add_metric([dest], 1 if dest in paused_names else 0)
        yield paused_family

    def _latency(self, latency: dict[bytes, bytes]) -> Iterator[Any]:
        family = HistogramMetricFamily(
            "leadgate_delivery_latency_seconds", "Seconds from receipt to delivery", labels=["destination"]
        )
        per_dest: dict[str, dict[str, float]] = {}
        for raw_field, raw_value in latency.items():
            dest, _, part = raw_field.decode().rpartition("|")
            per_dest.setdefault(dest, {})[part] = float(raw_value)
        for dest in sorted(set(self.rt.config.destinations) | set(per_dest)):
            data = per_dest.get(dest, {})
            family.add_metric([dest], cumulative_buckets(data, LATENCY_BUCKETS), sum_value=data.get("sum", 0.0))
        yield family


def render(rt: Any) -> bytes:
    """The Prometheus text exposition of everything above."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LeadgateCollector(rt))
    return generate_latest(registry)
