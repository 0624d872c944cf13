"""The Redis client every process uses: settings that fail fast, and the embedded server as the fallback."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from leadgate.config import Config
from leadgate.embedded_redis import EmbeddedRedis

__all__ = ["client_options", "redis_for"]


def client_options(**overrides: object) -> dict[str, object]:
    """Settings that fail fast: a sender waiting on a dead Redis should get its 503 in well under a second."""
    options: dict[str, object] = {
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
    return redis.Redis.from_url(url, **client_options(**overrides))
