"""Fixtures for the scale suite: real redis-server and redis-sentinel processes, always torn down.

The module's Sentinel set (one master, one replica, three Sentinels) is shared by its tests, which
leave it settled; every process is SIGKILLed at the end and a survivor fails the run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_servers import RedisServers
from tests.support.redis_servers import SentinelSet
from tests.support.redis_servers import missing_binaries

FENCING = {"min_replicas_to_write": 1, "min_replicas_max_lag": 10}
"""docs/operations.md's Sentinel settings: a master that lost its replicas (a demoted one) refuses writes."""


@pytest.fixture(scope="module")
def redis_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServers]:
    missing = missing_binaries()
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (apt-get install redis-server redis-sentinel)")
    servers = RedisServers(tmp_path_factory.mktemp("redis-servers"))
    try:
        yield servers
    finally:
        servers.close()
    assert not servers.leftovers(), f"Redis processes survived teardown: {servers.leftovers()}"


@pytest.fixture(scope="module")
def sentinels(redis_servers: RedisServers) -> SentinelSet:
    return SentinelSet(redis_servers, **FENCING)
