"""Each source's traffic over time: leads per hour, the last accepted lead, its usual gap between leads.

The hourly counts come from the shared counters (``lg:m:counters``): the alert loop samples them,
and adds what grew since its last sample to the hash of the current hour (``lg:watch:hour:<start>``,
kept 8 days). That costs a few commands a minute whatever the traffic, where counting the event
index would read every event of the week; the price is that the counts start when the alert loop
first runs. The last accepted lead and the gaps between leads are read from the per-source event
index (newest first, a bounded number of events), because they must be exact from the first run.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis import Redis

from leadgate import defaults

__all__ = ["ACCEPTED_STATUSES", "HOUR", "HourCount", "Traffic", "hour_of", "learned_silence"]

HOUR = 3600
WEEK_HOURS = 7 * 24
SAMPLED = ("received", "accepted", "rejected")
"""The per-source counters the hourly buckets keep."""
ACCEPTED_STATUSES = frozenset({"queued", "delivering", "retrying", "delivered", "dead", "needs_token", "paused"})
"""An event in one of these was a lead stored for delivery: ``accepted`` (rejected, spam, duplicate and
ignored events were not)."""
INDEX_SCAN = 500
"""Most events of one source read to find its last accepted lead and its gaps."""


@dataclass(frozen=True)
class HourCount:
    """One source's counts in one clock hour (``start``, unix seconds)."""

    start: int
    accepted: int = 0
    rejected: int = 0
    dead: int = 0


def hour_of(ts: float) -> int:
    return int(ts // HOUR * HOUR)


class Traffic:
    """Reads and keeps the hourly counts of every source; ``prefix`` is the event store's."""

    def __init__(self, client: Redis, prefix: str = defaults.KEY_PREFIX):
        self.redis: Any = client  # replies are bytes (decode_responses is off); redis-py types them bytes | str
        self.prefix = prefix

    def hour_key(self, start: int) -> str:
        return f"{self.prefix}watch:hour:{start}"

    @property
    def snapshot_key(self) -> str:
        return f"{self.prefix}watch:counters"

    @property
    def first_sample_key(self) -> str:
        """When the first sample was taken: the hourly counts before it are unknown, not zero."""
        return f"{self.prefix}watch:first"

    def first_sample(self) -> float | None:
        value = self.redis.get(self.first_sample_key)
        return float(value) if value is not None else None

    @property
    def watched_since_key(self) -> str:
        """Source -> its last accepted lead, or when the alert loop first watched it (a source with no lead yet)."""
        return f"{self.prefix}watch:since"

    def sample(self, counters_key: str, now: float) -> None:
        """Adds what each source's counters grew since the last sample to the current hour's bucket."""
        counters = self.redis.hgetall(counters_key)
        previous = self.redis.hgetall(self.snapshot_key)
        wanted = {f: v for f, v in counters.items() if f.decode().partition("|")[0] in SAMPLED}
        bucket = self.hour_key(hour_of(now))
        with self.redis.pipeline(transaction=True) as pipe:
            if previous:
                for name, value in wanted.items():
                    grew = int(value) - int(previous.get(name, 0))
                    if grew > 0:
                        pipe.hincrby(bucket, name.decode(), grew)
                pipe.expire(bucket, (WEEK_HOURS + 24) * HOUR)
            # "_at" marks that a sample was taken even before any counter exists: the next one counts from zero
            snapshot: dict[str, Any] = {k.decode(): int(v) for k, v in wanted.items()}
            pipe.hset(self.snapshot_key, mapping={**snapshot, "_at": repr(now)})
            pipe.set(self.first_sample_key, repr(now), nx=True)
            pipe.execute()

    def hours(
        self, source_ids: Iterable[str], now: float, dead_times: dict[str, list[float]], count: int = WEEK_HOURS
    ) -> dict[str, list[HourCount]]:
        """The last ``count`` clock hours of each source, oldest first; ``dead_times`` adds its dead letters."""
        starts = [hour_of(now) - HOUR * back for back in range(count - 1, -1, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for start in starts:
            pipe.hgetall(self.hour_key(start))
        buckets = [{k.decode(): int(v) for k, v in raw.items()} for raw in pipe.execute()]
        out: dict[str, list[HourCount]] = {}
        for source in source_ids:
            dead_by_hour: dict[int, int] = {}
            for ts in dead_times.get(source, []):
                dead_by_hour[hour_of(ts)] = dead_by_hour.get(hour_of(ts), 0) + 1
            out[source] = [
                HourCount(
                    start=start,
                    accepted=bucket.get(f"accepted|{source}", 0),
                    rejected=bucket.get(f"rejected|{source}", 0),
                    dead=dead_by_hour.get(start, 0),
                )
                for start, bucket in zip(starts, buckets, strict=True)
            ]
        return out

    def rejections(self, source_id: str, now: float) -> tuple[int, float]:
        """This source's rejections in the current and the previous clock hour, and the mean of two such
        hours over the 7 days before them."""
        starts = [hour_of(now) - HOUR * back for back in range(WEEK_HOURS)]
        pipe = self.redis.pipeline(transaction=False)
        for start in starts:
            pipe.hget(self.hour_key(start), f"rejected|{source_id}")
        counts = [int(v or 0) for v in pipe.execute()]
        recent = counts[0] + counts[1]
        before = counts[2:]
        return recent, 2 * sum(before) / len(before)

    def accepted_times(self, index_key: str, event_key: Any, since: float, limit: int = INDEX_SCAN) -> list[float]:
        """When this source's accepted leads came (newest first), from the last ``limit`` events since ``since``.

        ``index_key`` is the source's event index; ``event_key(id)`` names an event's summary hash.
        """
        entries = self.redis.zrevrangebyscore(index_key, "+inf", since, start=0, num=limit, withscores=True)
        if not entries:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for member, _ in entries:
            pipe.hget(event_key(member.decode()), "status")
        statuses = pipe.execute()
        return [
            float(score)
            for (_, score), status in zip(entries, statuses, strict=True)
            if status is not None and status.decode() in ACCEPTED_STATUSES
        ]

    @property
    def bounds_key(self) -> str:
        """Source -> its last learned silence bound: a source silent for 7 days has no gaps left to learn from."""
        return f"{self.prefix}watch:bounds"

    def remember_bound(self, source_id: str, bound: float | None) -> float | None:
        """Stores a learned bound, or (given None) returns the last one stored."""
        if bound is not None:
            self.redis.hset(self.bounds_key, source_id, repr(bound))
            return bound
        value = self.redis.hget(self.bounds_key, source_id)
        return float(value) if value is not None else None

    def last_lead(self, source_id: str, newest: float | None, now: float) -> float:
        """The source's last accepted lead: ``newest`` (from the index) is remembered; without one, the last
        remembered, else when the alert loop first looked at the source (set now on the first call)."""
        if newest is not None:
            self.redis.hset(self.watched_since_key, source_id, repr(newest))
            return newest
        self.redis.hsetnx(self.watched_since_key, source_id, repr(now))
        value = self.redis.hget(self.watched_since_key, source_id)
        return float(value) if value is not None else now


def learned_silence(times: list[float], factor: float, minimum: float) -> float | None:
    """``factor`` times the median gap between these lead times, at least ``minimum``; None with too few leads.

    A simple, explainable bound: a source with a lead every 20 minutes is silent after 80 minutes (the
    1-hour minimum aside), one with a lead a day after 4 days. Nights and weekends count as gaps too, so a
    source busy by day only learns a longer bound than its daytime gaps suggest; ``expect_every`` says it
    exactly.
    """
    if len(times) < defaults.SILENCE_LEARN_MIN_LEADS:
        return None
    ordered = sorted(times)
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False) if later > earlier]
    if not gaps:
        return None
    return max(factor * statistics.median(gaps), minimum)
