"""``leadgate health``: Redis, workers, overdue deliveries, and Redis settings that lose leads."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from leadgate.cli import main
from leadgate.health import PROBE_KEY
from leadgate.health import PROBE_TTL_MS
from leadgate.health import check
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.leads import accept_form
from tests.support.leads import park
from tests.support.leads import pause
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


@pytest.fixture
def running_worker(rt):
    worker = LeadWorker([rt.queue], connection=rt.redis)
    worker.register_birth()
    yield worker
    worker.register_death()


def health_cli(tmp_path, crm, redis_url, *args):
    return CliRunner().invoke(main, ["health", *args, "--config", config_file(tmp_path, crm, redis_url)])


def test_a_paused_destination_makes_it_unhealthy_and_says_why(tmp_path, rt, crm, redis_url, running_worker):
    assert health_cli(tmp_path, crm, redis_url).exit_code == 0
    pause(rt, "main", reason="ConnectGain refused the API key")
    result = health_cli(tmp_path, crm, redis_url)
    assert result.exit_code == 1
    assert "ok: False" in result.output
    assert "unhealthy: destination main is paused (ConnectGain refused the API key)" in result.output
    assert "leadgate destinations resume main" in result.output
    state = json.loads(health_cli(tmp_path, crm, redis_url, "--json").output)
    assert state["ok"] is False and list(state["paused_destinations"]) == ["main"]
    assert len(state["problems"]) == 1


def test_parked_leads_make_it_unhealthy_and_are_counted(tmp_path, rt, crm, redis_url, running_worker):
    event_id = accept_form(rt, {"email": "jane@example.com"}).event_id
    park(rt, event_id)
    result = health_cli(tmp_path, crm, redis_url)
    assert result.exit_code == 1
    assert "1 lead(s) parked, waiting for an operator" in result.output
    state = json.loads(health_cli(tmp_path, crm, redis_url, "--json").output)
    assert (state["ok"], state["parked"]) == (False, 1)


def test_without_a_worker_it_says_so(tmp_path, rt, crm, redis_url):
    result = health_cli(tmp_path, crm, redis_url)
    assert result.exit_code == 1
    assert "unhealthy: no worker is running" in result.output
