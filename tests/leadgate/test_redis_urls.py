"""``leadgate.redis_urls``: the ``redis+sentinel://`` form taken apart, and the URLs refused."""

from __future__ import annotations

import pytest

from leadgate.redis_urls import SentinelURL
from leadgate.redis_urls import check_redis_url
from leadgate.redis_urls import is_sentinel_url
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
    ],
)
def test_a_bad_url_is_refused_with_a_reason(url, expected):
    with pytest.raises(ValueError, match=expected):
        check_redis_url(url)


@pytest.mark.parametrize("url", ["redis://h:6379/0", "rediss://:pw@h:6380/1", "unix:///tmp/r.sock?db=2"])
def test_redis_pys_own_forms_pass_through(url):
    check_redis_url(url)
    assert not is_sentinel_url(url)
