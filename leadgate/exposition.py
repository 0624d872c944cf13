"""``/metrics``: the Prometheus text exposition of the counters, gauges and histograms kept in Redis.

Counting happens everywhere (:mod:`leadgate.metrics`, :mod:`leadgate.speed`); reading the counts
back and rendering them happens only in the process that serves the scrape, the gateway. That is
why this is the one core module that imports prometheus_client: a queue worker, which only counts,
never loads it (its memory: bench/, peak RSS).
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

from leadgate.histograms import cumulative_buckets
from leadgate.metrics import DESTINATION_COUNTERS
from leadgate.metrics import LATENCY_BUCKETS
from leadgate.metrics import SOURCE_COUNTERS
from leadgate.speed import PARTS
from leadgate.speed import SPEED_BUCKETS
from leadgate.speed import speed_key

__all__ = ["LeadgateCollector", "render", "speed_histograms"]


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


def speed_histograms(rt: Any) -> Iterator[HistogramMetricFamily]:
    """The three speed-to-lead histograms per source, read from ``lg:m:speed`` (:mod:`leadgate.speed`)."""
    raw = rt.redis.hgetall(speed_key(rt.store.prefix))
    data: dict[tuple[str, str], dict[str, float]] = {}
    for name, value in raw.items():
        source, part, bucket = name.decode().rsplit("|", 2)
        data.setdefault((part, source), {})[bucket] = float(value)
    for part, (metric, help_text) in PARTS.items():
        family = HistogramMetricFamily(metric, help_text, labels=["source"])
        for source in sorted(set(rt.config.sources) | {s for (p, s) in data if p == part}):
            counts = data.get((part, source), {})
            buckets = cumulative_buckets(counts, SPEED_BUCKETS)
            family.add_metric([source], buckets, sum_value=counts.get("sum", 0.0))
        yield family


def render(rt: Any) -> bytes:
    """The Prometheus text exposition of everything above."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LeadgateCollector(rt))
    return generate_latest(registry)
