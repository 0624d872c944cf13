"""``leadgate health``: Redis, workers, overdue deliveries, and Redis settings that lose leads."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from leadgate.cli import main
from leadgate.health import PROBE_KEY
from leadgate.health import PROBE_TTL_MS
from leadgate.health import check
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from workers.worker import LeadWorker


def config_file(tmp_path, crm, redis_url):
    path = tmp_path / "leadgate.yaml"
    path.write_text(f"redis_url: {redis_url}\n" + BASE_CONFIG.format(crm_url=crm.url, api_key=API_KEY))
    return str(path)


def test_unhealthy_without_a_worker_and_healthy_with_one(tmp_path, rt, crm, redis_url):
    runner = CliRunner()
    result = runner.invoke(main, ["health", "--json", "--config", config_file(tmp_path, crm, redis_url)])
    assert result.exit_code == 1
    assert json.loads(result.output)["workers"] == 0
    worker = LeadWorker([rt.queue], connection=rt.redis)
    worker.register_birth()
    try:
        result = runner.invoke(main, ["health", "--json", "--config", config_file(tmp_path, crm, redis_url)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["warnings"] == []
    finally:
        worker.register_death()


def test_overdue_events_make_it_unhealthy(rt):
    worker = LeadWorker([rt.queue], connection=rt.redis)
    worker.register_birth()
    try:
        rt.redis.zadd(rt.store.due_key, {"ev_stuck": time.time() - 600})
        state = check(rt)
        assert state.overdue == 1 and not state.healthy
    finally:
        worker.register_death()


def test_warns_when_redis_can_lose_leads(rt):
    rt.redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        warnings = check(rt).warnings
        assert any("noeviction" in w for w in warnings)
    finally:
        rt.redis.config_set("maxmemory-policy", "noeviction")


def test_a_redis_that_refuses_writes_is_not_ready_and_says_why(rt):
    assert check(rt, deep=False).ready
    rt.redis.config_set("maxmemory", 1)  # full: under noeviction every write is refused with OOM
    try:
        for deep in (False, True):
            state = check(rt, deep=deep)
            assert not state.ready and not state.healthy
            assert state.redis_state == (
                "refusing writes (OutOfMemoryError: command not allowed when used memory > 'maxmemory'.)"
            )
            assert state.as_dict()["redis"] == state.redis_state
    finally:
        rt.redis.config_set("maxmemory", 0)
    assert check(rt, deep=False).ready
    assert 0 < rt.redis.pttl(PROBE_KEY) <= PROBE_TTL_MS


def test_unreachable_redis_exits_non_zero(tmp_path, crm):
    path = tmp_path / "leadgate.yaml"
    path.write_text("redis_url: redis://127.0.0.1:1/0\n" + BASE_CONFIG.format(crm_url=crm.url, api_key=API_KEY))
    result = CliRunner().invoke(main, ["health", "--json", "--config", str(path)])
    assert result.exit_code == 1
    assert "unreachable" in json.loads(result.output)["redis"]
