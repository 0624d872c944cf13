"""Schemathesis against ``/openapi.json``: whatever it sends, no 5xx and no status code the spec leaves out.

Every operation the spec documents (hooks, health, metrics, the admin API with its bearer token) is
called through the WSGI app with generated valid and invalid inputs; the answers must be documented
and must not be server errors. Bounded by ``FUZZ_EXAMPLES`` per operation
(``LEADGATE_FUZZ_EXAMPLES`` for a longer hunt).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from flask import Flask
from flask import abort
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.checks import status_code_conformance

from tests.support.admin import ADMIN_CONFIG
from tests.support.admin import AUTH

FUZZ_EXAMPLES = int(os.environ.get("LEADGATE_FUZZ_EXAMPLES", "15") or 15)


@pytest.fixture
def config(make_config):
    return make_config(ADMIN_CONFIG)


def fuzz(operation, mode: GenerationMode) -> str | None:
    """Runs one operation's generated cases (valid or invalid ones); the first failure as text, or None."""

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        case.call_and_validate(headers=AUTH, checks=[not_a_server_error, status_code_conformance])

    try:
        run()
    except Unsatisfiable:
        return None  # no parameter to make invalid (negative mode on GET /healthz): nothing to send
    except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - every failure is reported, per operation
        found = failure.exceptions if isinstance(failure, BaseExceptionGroup) else (failure,)
        problems = "; ".join(f"{type(problem).__name__}: {problem}" for problem in found)
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {problems}"
    return None


def test_no_input_gets_a_server_error_or_an_undocumented_status(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    failures = [failure for operation in operations for mode in modes if (failure := fuzz(operation, mode))]
    assert not failures, "\n\n".join(failures)


def test_the_fuzzer_reports_a_server_error_and_an_undocumented_status():
    """The harness itself: an operation answering 500, and one answering a status its spec omits, both fail."""
    app = Flask("fuzz-self-test")

    @app.get("/boom")
    def boom():
        abort(500)

    @app.get("/teapot")
    def teapot():
        return "", 418

    spec = {
        "openapi": "3.0.3",
        "info": {"title": "self-test", "version": "1"},
        "paths": {path: {"get": {"responses": {"200": {"description": "ok"}}}} for path in ("/boom", "/teapot")},
    }
    schema = schemathesis.openapi.from_dict(spec)
    schema.app = app
    operations = {result.ok().path: result.ok() for result in schema.get_all_operations()}
    assert "ServerError" in (fuzz(operations["/boom"], GenerationMode.POSITIVE) or "")
    assert "Received: 418" in (fuzz(operations["/teapot"], GenerationMode.POSITIVE) or "")
