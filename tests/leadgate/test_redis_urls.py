"""``leadgate.redis_urls``: the ``redis+sentinel://`` and ``redis+cluster://`` forms taken apart, and the URLs
refused; ``leadgate.keys.prefix_for``: a cluster's store keys share a hash tag."""

from __future__ import annotations

import pytest
from redis.cluster import key_slot

from leadgate.events import EventStore
from leadgate.keys import prefix_for
from leadgate.redis_urls import ClusterURL
from leadgate.redis_urls import SentinelURL
from leadgate.redis_urls import check_redis_url
from leadgate.redis_urls import is_cluster_url
from leadgate.redis_urls import is_sentinel_url
from leadgate.redis_urls import parse_cluster_url
from leadgate.redis_urls import parse_sentinel_url


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database():
    assert parse_sentinel_url("redis+sentinel://h1:26380,h2,[::1]:26381/mymaster/3") == SentinelURL(
        sentinels=(("h1", 26380), ("h2", 26379), ("::1", 26381)), service="mymaster", db=3
    )
    assert parse_sentinel_url("redis+sentinel://h1/mymaster").db == 0


def test_the_passwords_come_from_the_url_and_stay_out_of_its_repr():
    address = parse_sentinel_url("redis+sentinel://:p%40ss@h1:26379/mymaster/0?sentinel_password=sp")
    assert (address.username, address.password, address.sentinel_password) == (None, "p@ss", "sp")
    assert parse_sentinel_url("redis+sentinel://lg:pw@h1/mymaster").username == "lg"
    assert "p@ss" not in repr(address) and "sp" not in repr(address).replace("sentinels", "")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+sentinel://h1:26379", "name the master's service"),
        ("redis+sentinel://h1:26379/a/b/c", "name the master's service"),
        ("redis+sentinel://:26379/mymaster", "needs a host"),
        ("redis+sentinel://h1/mymaster?db=2", "unknown URL parameter 'db'"),
        ("memcached://h1:11211", "must start with redis://"),
        ("h1:6379", "no scheme"),
        ("redis+cluster://n1:7000/1", "only database 0"),
        ("redis+cluster://n1?read_from_replicas=1", "takes no parameters"),
        ("redis+cluster://n1:70x0", "port of cluster node n1 must be a number"),
        ("redis+cluster://:pw@:7000", "a cluster node address needs a host"),
    ],
)
def test_a_bad_url_is_refused_with_a_reason(url, expected):
    with pytest.raises(ValueError, match=expected):
        check_redis_url(url)


@pytest.mark.parametrize("url", ["redis://h:6379/0", "rediss://:pw@h:6380/1", "unix:///tmp/r.sock?db=2"])
def test_redis_pys_own_forms_pass_through(url):
    check_redis_url(url)
    assert not is_sentinel_url(url)


def test_a_cluster_url_names_its_start_nodes_tls_and_login():
    assert parse_cluster_url("redis+cluster://n1:7000,n2,[::1]:7002") == ClusterURL(
        nodes=(("n1", 7000), ("n2", 6379), ("::1", 7002))
    )
    address = parse_cluster_url("rediss+cluster://lg:p%40ss@n1:7000/")
    assert (address.tls, address.username, address.password) == (True, "lg", "p@ss")
    assert "p@ss" not in repr(address)
    assert is_cluster_url("REDIS+CLUSTER://n1") and not is_cluster_url("redis://n1")


def test_on_a_cluster_every_store_key_hashes_to_one_slot(redis_client):
    store = EventStore(redis_client, prefix=prefix_for("redis+cluster://n1"))
    keys = [
        *store.keys_of("ev_0123"),
        store.index_key,
        store.source_index_key("contact-us"),
        store.due_key,
        store.dead_key,
        store.backlog_key,
        store.wake_key,
        store.ready_key("main"),
        store.paused_key,
        store.parked_key,
        store.dedupe_key("contact-us", "body", "ab12"),
        store.counters_key,
        store.latency_key,
    ]
    assert {key_slot(key.encode()) for key in keys} == {key_slot(b"lg")}
    assert prefix_for("redis://h/0") == "lg:" and prefix_for(None) == "lg:"  # a plain Redis keeps its key names
