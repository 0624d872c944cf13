"""``leadgate health``: exit non-zero when deliveries are not moving."""

from __future__ import annotations

import json
import sys

import click
from rich.markup import escape

from leadgate.cli.app import main
from leadgate.cli.common import console
from leadgate.cli.common import err_console
from leadgate.cli.common import with_config
from leadgate.config import Config
from leadgate.health import check
from leadgate.runtime import Runtime


@main.command()
@click.option("--json", "as_json", is_flag=True)
@with_config
def health(config: Config, as_json: bool) -> None:
    """Exit non-zero when Redis is unreachable or deliveries are not moving (no worker, overdue events)."""
    rt = Runtime.from_config(config)
    state = check(rt)
    if as_json:
        click.echo(json.dumps(state.as_dict(), indent=2))
    else:
        for key, value in state.as_dict().items():
            if key != "warnings":
                console.print(f"{key}: {value}", highlight=False)
        for warning in state.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}")
    sys.exit(0 if state.healthy else 1)
