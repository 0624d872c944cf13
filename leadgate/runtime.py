"""The per-process wiring: config, Redis clients, event store and delivery queue.

The event store uses ``redis_url``'s Redis (``redis``); RQ and the rate limiter use
``queue_redis_url``'s when one is set (``queue.connection``), the same client otherwise.

Web and worker processes each build one :class:`Runtime` at start. RQ job functions
reach it through :func:`current`, which loads the config from the environment the
first time; tests install their own with :func:`install`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from redis import Redis
from rq import Queue

from leadgate.config import Config
from leadgate.config import Kinds
from leadgate.config import load_config
from leadgate.events import EventStore
from leadgate.keys import prefix_for
from leadgate.queue import delivery_queue
from leadgate.redis_client import client_for_url
from leadgate.redis_client import redis_for

__all__ = ["Runtime", "current", "install"]


@dataclass
class Runtime:
    config: Config
    redis: Redis
    store: EventStore
    queue: Queue

    @classmethod
    def from_config(cls, config: Config, client: Redis | None = None) -> Runtime:
        client = client if client is not None else redis_for(config)
        queue_client = client_for_url(config.queue_redis_url) if config.queue_redis_url else client
        return cls(
            config=config,
            redis=client,
            store=EventStore(
                client, config.retention_days, config.payload_retention_days, prefix=prefix_for(config.redis_url)
            ),
            queue=delivery_queue(queue_client),
        )


_current: Runtime | None = None
_lock = threading.Lock()


def current(kinds: Kinds) -> Runtime:
    """This process's runtime, built from ``$LEADGATE_CONFIG`` with the source ``kinds`` on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = Runtime.from_config(load_config(kinds=kinds))
        return _current


def install(runtime: Runtime | None) -> None:
    """Replaces this process's runtime (tests, ``leadgate worker`` with an explicit config)."""
    global _current
    with _lock:
        _current = runtime
