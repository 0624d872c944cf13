"""Driving the ``leadgate`` command with click's runner, and the events the CLI tests act on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from click.testing import Result

from leadgate.cli import main
from leadgate.runtime import Runtime
from leadgate.sandbox import SandboxCRM
from tests.support.config import BASE_CONFIG

__all__ = ["ANSI", "CLI_CONFIG", "cli", "cli_json", "dead_letter", "post", "text"]

CLI_CONFIG = (
    BASE_CONFIG
    + """  careers:
    kind: form
    source: careers_page
"""
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def cli(config_file: Path, *args: str) -> Result:
    """Runs ``leadgate ARGS --config FILE``; output is stdout and stderr, colour codes stripped."""
    return CliRunner().invoke(main, [*args, "--config", str(config_file)])


def text(result: Result) -> str:
    return ANSI.sub("", result.output)


def cli_json(config_file: Path, *args: str) -> list[dict[str, Any]]:
    result = cli(config_file, *args, "--json")
    assert result.exit_code == 0, text(result)
    return json.loads(result.stdout)


def post(client: Any, email: str, source: str = "contact-us") -> str:
    response = client.post(f"/hooks/{source}", data={"name": "Jane Roe", "email": email})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["event_id"]


def dead_letter(client: Any, rt: Runtime, crm: SandboxCRM, deliver_all: Any, *emails: str) -> list[str]:
    """Posts one lead per e-mail while the CRM answers 400, so each is dead-lettered; then heals the CRM."""
    crm.set_faults(status=400)
    ids = [post(client, email) for email in emails]
    deliver_all(rt)
    crm.clear_faults()
    assert [rt.store.get(i).status for i in ids] == ["dead"] * len(ids)
    return ids
