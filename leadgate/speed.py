"""Speed to lead: how long from a lead's creation to the CRM's 2xx, per source, with the parts apart.

``total`` runs from the platform's own creation time (Facebook ``created_time``, Typeform
``submitted_at``, Google's ``lead_submit_time``; a kind tells it with ``created_at(raw)``) or, for
forms, from receipt, to ConnectGain's 2xx; ``platform`` is creation to receipt (the platform's own
delay: Meta can take minutes to send a webhook), ``gateway`` is receipt to 2xx (leadgate's).
Each delivery adds to a histogram in Redis (``lg:m:speed``: what ``/metrics`` serves, read by
:mod:`leadgate.exposition`, shared by every process as the other counters are) and to the day's
sample list (``lg:watch:speed:<day>:<source>``, the last 2,000, kept 8 days) from which the
dashboard reads the day's p50 and p95.

Recording is best effort and after the delivery is recorded: a Redis error here is logged, never
raised into the delivery.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from datetime import timezone
from typing import Any

import redis

from leadgate.histograms import bucket_of

__all__ = [
    "PARTS",
    "SPEED_BUCKETS",
    "day_percentiles",
    "parse_platform_time",
    "record_speed",
    "record_speeds",
]

log = logging.getLogger(__name__)

SPEED_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)
"""Seconds: a healthy form lead is under a second, a Facebook lead a few seconds to minutes, an outage hours."""
PARTS = {
    "total": ("leadgate_speed_to_lead_seconds", "Seconds from the lead's creation (or receipt) to the CRM's 2xx"),
    "platform": ("leadgate_platform_delay_seconds", "Seconds from the platform's creation time to receipt"),
    "gateway": ("leadgate_gateway_delay_seconds", "Seconds from receipt to the CRM's 2xx"),
}
SAMPLES_KEPT = 2000
DAY = 86400
ISO_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
PLAUSIBLE_SINCE = 946684800.0
"""2000-01-01: a creation time before this (or a millisecond one read as seconds) is not believed."""


def parse_platform_time(value: Any) -> float | None:
    """A platform's creation time as unix seconds: an int/float (seconds or milliseconds) or ISO 8601 text
    (``2026-11-28T10:16:30+0000``, ``...Z``, ``2026-11-28 10:16:30.123-07:00``); None when it is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if value > 1e11 else float(value)
    else:
        text = ISO_OFFSET.sub(r"\1:\2", str(value).strip().replace("Z", "+00:00"))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        seconds = parsed.timestamp()
    return seconds if math.isfinite(seconds) and seconds > PLAUSIBLE_SINCE else None


def _bucket(seconds: float) -> str:
    return bucket_of(seconds, SPEED_BUCKETS)


def speed_key(prefix: str) -> str:
    return f"{prefix}m:speed"


def samples_key(prefix: str, source: str, day: int) -> str:
    return f"{prefix}watch:speed:{day}:{source}"


def _parts(rt: Any, event: Any, delivered_at: float) -> dict[str, float]:
    """Seconds of each part of one lead's trip: ``total``, ``gateway`` and, when the platform dates it, ``platform``."""
    received = float(event.received_at or 0) or delivered_at
    kind = rt.config.kinds.get(event.kind)
    reader = getattr(kind, "created_at", None)
    created = None
    if reader is not None and isinstance(event.raw, dict):
        try:
            created = reader(event.raw)
        except (TypeError, ValueError, AttributeError):
            created = None
    if created is not None and created > received:
        created = received  # clocks disagree by a little: the platform's delay is then 0, not negative
    parts = {"gateway": max(delivered_at - received, 0.0), "total": max(delivered_at - (created or received), 0.0)}
    if created is not None:
        parts["platform"] = received - created
    return parts


def record_speed(rt: Any, event: Any, delivered_at: float | None = None) -> None:
    """Adds one delivered lead to its source's histograms and the day's samples (best effort)."""
    record_speeds(rt, [event], delivered_at)


def record_speeds(rt: Any, events: Sequence[Any], delivered_at: float | None = None) -> None:
    """Adds delivered leads (a bulk call's, say) to the histograms and samples: one round trip for all of them."""
    if not events:
        return
    delivered_at = time.time() if delivered_at is None else delivered_at
    prefix = rt.store.prefix
    counts: Counter[str] = Counter()
    sums: dict[str, float] = {}
    samples: dict[str, list[str]] = {}
    for event in events:
        parts = _parts(rt, event, delivered_at)
        for part, seconds in parts.items():
            counts[f"{event.source}|{part}|{_bucket(seconds)}"] += 1
            field = f"{event.source}|{part}|sum"
            sums[field] = sums.get(field, 0.0) + seconds
        day = samples_key(prefix, event.source, int(delivered_at // DAY * DAY))
        samples.setdefault(day, []).append(json.dumps({part: round(seconds, 3) for part, seconds in parts.items()}))
    key = speed_key(prefix)
    try:
        with rt.redis.pipeline(transaction=False) as pipe:
            for field, count in counts.items():
                pipe.hincrby(key, field, count)
            for field, seconds in sums.items():
                pipe.hincrbyfloat(key, field, seconds)
            for day, values in samples.items():
                pipe.rpush(day, *values)
                pipe.ltrim(day, -SAMPLES_KEPT, -1)
                pipe.expire(day, 8 * DAY)
            pipe.execute()
    except redis.RedisError as err:
        log.warning("could not record the speed to lead of %d lead(s): %s", len(events), type(err).__name__)


def _quantile(ordered: list[float], q: float) -> float:
    index = min(int(math.ceil(q * len(ordered))) - 1, len(ordered) - 1)
    return ordered[max(index, 0)]


def day_percentiles(rt: Any, source: str, now: float | None = None) -> dict[str, tuple[float, float, int]]:
    """Part -> (p50, p95, how many leads) over today's (UTC) deliveries of ``source``."""
    now = time.time() if now is None else now
    items = rt.redis.lrange(samples_key(rt.store.prefix, source, int(now // DAY * DAY)), 0, -1)
    values: dict[str, list[float]] = {}
    for item in items:
        for part, seconds in json.loads(item).items():
            values.setdefault(part, []).append(float(seconds))
    out = {}
    for part, seen in values.items():
        ordered = sorted(seen)
        out[part] = (_quantile(ordered, 0.5), _quantile(ordered, 0.95), len(ordered))
    return out
