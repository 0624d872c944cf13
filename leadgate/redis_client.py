"""The Redis client every process uses: settings that fail fast, and the embedded server as the fallback.

Every client leadgate builds (gateway, workers, the rate limiter's pool, RQ, the CLI) comes from
here. A ``redis+sentinel://`` URL gives a client whose connections ask the Sentinels for the
current master whenever they connect, and drop a connection that finds its master demoted
(redis-py turns ``READONLY`` into a ``ConnectionError`` and reconnects): after a failover,
clients follow the new master by themselves. A ``redis+cluster://`` URL gives a
``RedisCluster``, which follows slot moves and failovers itself; it is typed as ``Redis`` here
because it offers the same commands leadgate uses (the event store keeps every key of a
transaction or script in one slot: ``leadgate/keys.py``).
"""

from __future__ import annotations

from typing import Any
from typing import cast

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from leadgate.config import Config
from leadgate.embedded_redis import EmbeddedRedis
from leadgate.redis_urls import is_cluster_url
from leadgate.redis_urls import is_sentinel_url
from leadgate.redis_urls import parse_cluster_url
from leadgate.redis_urls import parse_sentinel_url

__all__ = ["client_for_url", "client_options", "redis_for"]


def client_options(**overrides: object) -> dict[str, Any]:
    """Settings that fail fast: a sender waiting on a dead Redis should get its 503 in well under a second."""
    options: dict[str, Any] = {
        "socket_timeout": 5,
        "socket_connect_timeout": 1,
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
    }
    options.update(overrides)
    return options


def redis_for(config: Config, **overrides: object) -> redis.Redis:
    """A client for the configured Redis, starting the embedded one when none is configured."""
    url = config.redis_url or EmbeddedRedis(config.data_dir).ensure_running()
    return client_for_url(url, **overrides)


def client_for_url(url: str, **overrides: object) -> redis.Redis:
    """A client for a ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://`` or ``redis+cluster://`` URL."""
    options = client_options(**overrides)
    if is_cluster_url(url):
        return _cluster_client(url, options)
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, **options)
    address = parse_sentinel_url(url)
    # The Sentinels get the socket timeouts only: discovery already moves on to the next one that answers.
    sentinel_options = {key: value for key, value in options.items() if key.startswith("socket_")}
    if address.sentinel_password:
        sentinel_options["password"] = address.sentinel_password
    sentinel = Sentinel(list(address.sentinels), sentinel_kwargs=sentinel_options)
    return sentinel.master_for(
        address.service, db=address.db, username=address.username, password=address.password, **options
    )


def _cluster_client(url: str, options: dict[str, Any]) -> redis.Redis:
    address = parse_cluster_url(url)
    client = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
        username=address.username,
        password=address.password,
        ssl=address.tls,
        **options,
    )
    return cast(redis.Redis, client)
