"""Fixtures for the leadgate package tests: a real sandbox CRM on loopback."""

import pytest

from leadgate.sandbox_crm import SandboxCRM


@pytest.fixture
def crm():
    """A started sandbox CRM that accepts the key ``cg_test``; stopped afterwards so no port or thread leaks."""
    with SandboxCRM(api_keys=("cg_test",)) as server:
        yield server
