"""Prometheus histograms kept in Redis hashes: one field per bucket, counted as events happen.

A field counts what fell in its bucket only (cheap to increment in a script); Prometheus wants
cumulative ``le`` buckets, which :func:`cumulative_buckets` builds at scrape time. Used by the
delivery latency (``leadgate.metrics``) and speed to lead (``leadgate.speed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

__all__ = ["bucket_of", "cumulative_buckets"]


def bucket_of(seconds: float, bounds: Sequence[float]) -> str:
    """The field ``seconds`` is counted under: the smallest bound it fits, else ``+Inf``."""
    for bound in bounds:
        if seconds <= bound:
            return repr(bound)
    return "+Inf"


def cumulative_buckets(counts: Mapping[str, float], bounds: Sequence[float]) -> list[tuple[str, float]]:
    """``(le, count)`` pairs from per-bucket counts keyed as :func:`bucket_of` keys them."""
    running = 0.0
    buckets = []
    for bound in bounds:
        running += counts.get(repr(bound), 0.0)
        buckets.append((repr(bound), running))
    buckets.append(("+Inf", running + counts.get("+Inf", 0.0)))
    return buckets
