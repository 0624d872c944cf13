"""The names of every Redis key the event store and its transitions touch, in one place.

All start with the store's ``prefix`` (``defaults.KEY_PREFIX``); docs/data-model.md lists what each holds.
On a Redis Cluster the prefix is a hash tag (``defaults.CLUSTER_KEY_PREFIX``, ``{lg}:``), so every key
here lives in one slot: intake, the lifecycle scripts and the replay transaction each touch an event's
keys together with the shared sets (due, backlog, ready, counters), and a script or transaction may
only touch keys of one slot. Leadgate's data then lives on one shard of the cluster (the sizing table
in docs/operations.md says how far that goes); the cluster still brings its failover and its managed
offerings that are cluster-only.
"""

from __future__ import annotations

from leadgate import defaults
from leadgate.redis_urls import is_cluster_url

__all__ = ["StoreKeys", "prefix_for"]


def prefix_for(redis_url: str | None) -> str:
    """The store's key prefix on the Redis ``redis_url`` names: a hash tag on a cluster."""
    return defaults.CLUSTER_KEY_PREFIX if redis_url and is_cluster_url(redis_url) else defaults.KEY_PREFIX


class StoreKeys:
    """Key names derived from ``prefix``: shared by :class:`~leadgate.events.EventStore` and its lifecycle mixin."""

    prefix: str

    def key(self, event_id: str) -> str:
        return f"{self.prefix}ev:{event_id}"

    def attempts_key(self, event_id: str) -> str:
        """The attempts list of an event stored before compaction (newer ones keep attempts in the payload list)."""
        return f"{self.prefix}ev:{event_id}:attempts"

    def payload_key(self, event_id: str) -> str:
        """A list: the event's payloads blob (raw, lead, request), then one item per delivery attempt.

        Kept ``payload_retention_days`` once the event is final; its summary hash stays ``retention_days``.
        """
        return f"{self.prefix}ev:{event_id}:payload"

    def keys_of(self, event_id: str) -> tuple[str, str, str]:
        """Every key one event may own: its summary hash, its (old) attempts list and its payload list."""
        return (self.key(event_id), self.attempts_key(event_id), self.payload_key(event_id))

    @property
    def index_key(self) -> str:
        return f"{self.prefix}events"

    def source_index_key(self, source_id: str) -> str:
        return f"{self.prefix}events:src:{source_id}"

    @property
    def due_key(self) -> str:
        return f"{self.prefix}due"

    @property
    def dead_key(self) -> str:
        return f"{self.prefix}dead"

    @property
    def backlog_key(self) -> str:
        """Undelivered, unparked events by time received: the oldest-queued-age gauge reads it."""
        return f"{self.prefix}backlog"

    @property
    def wake_key(self) -> str:
        """A one-token list dispatchers block on: new work is due now."""
        return f"{self.prefix}wake"

    def ready_key(self, destination: str) -> str:
        """Leads for ``destination`` whose delivery job is queued: what a bulk call may coalesce."""
        return f"{self.prefix}ready:{destination}"

    @property
    def paused_key(self) -> str:
        """Hash of paused destinations -> why; deliveries to them park instead of calling out."""
        return f"{self.prefix}paused"

    @property
    def parked_key(self) -> str:
        return f"{self.prefix}parked"

    def dedupe_key(self, source_id: str, kind: str, value: str) -> str:
        return f"{self.prefix}dd:{source_id}:{kind}:{value}"

    @property
    def counters_key(self) -> str:
        """Hash ``<counter>|<label>`` -> count: updated by the same scripts as the events they count."""
        return f"{self.prefix}m:counters"

    @property
    def latency_key(self) -> str:
        """Hash ``<destination>|<bucket>`` -> count, plus ``|sum`` and ``|count`` per destination."""
        return f"{self.prefix}m:latency"
