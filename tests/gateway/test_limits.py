"""Per-IP rate limits for form and json sources, counted in Redis across processes."""

from __future__ import annotations

import pytest

from leadgate.config import ConfigError
from tests.support.config import BASE_CONFIG

LIMITED = BASE_CONFIG.replace("    honeypot: _gotcha\n", "    honeypot: _gotcha\n    rate_limit: 3/minute\n")


@pytest.fixture
def config(make_config):
    return make_config(LIMITED)


def post_from(client, ip: str, n: int):
    return client.post("/hooks/contact-us", data={"email": f"lead{n}@example.com"}, environ_base={"REMOTE_ADDR": ip})


def test_flood_from_one_ip_gets_429_while_other_ips_pass(client, rt):
    answers = [post_from(client, "203.0.113.7", n).status_code for n in range(5)]
    assert answers == [202, 202, 202, 429, 429]
    refused = post_from(client, "203.0.113.7", 99)
    assert refused.get_json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert post_from(client, "198.51.100.1", 100).status_code == 202
    assert len(rt.store.recent()) == 4  # refused posts store nothing
    counters = {k.decode(): int(v) for k, v in rt.redis.hgetall("lg:m:counters").items()}
    assert counters["rate_limited|contact-us"] == 3


def test_limit_is_shared_through_redis_by_separate_apps(rt, client):
    from gateway import create_app

    other = create_app(runtime=rt).test_client()  # another gunicorn worker
    for n in range(3):
        assert post_from(client if n % 2 else other, "203.0.113.9", n).status_code == 202
    assert post_from(other, "203.0.113.9", 3).status_code == 429


def test_sources_without_a_limit_are_not_limited(make_config, redis_client):
    from gateway import create_app
    from leadgate.runtime import Runtime

    app = create_app(runtime=Runtime.from_config(make_config(), client=redis_client))
    client = app.test_client()
    assert {post_from(client, "203.0.113.8", n).status_code for n in range(12)} == {202}


def test_bad_rate_limit_is_a_config_error(make_config):
    with pytest.raises(ConfigError, match=r"sources\.contact-us\.rate_limit"):
        make_config(BASE_CONFIG.replace("    honeypot: _gotcha\n", "    honeypot: _gotcha\n    rate_limit: lots\n"))
