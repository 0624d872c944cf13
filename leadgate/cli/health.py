"""``leadgate health``: exit non-zero when deliveries are not moving."""

from __future__ import annotations

import json
import sys

import click
from rich.markup import escape

from leadgate.cli.common import console
from leadgate.cli.common import err_console
from leadgate.cli.common import fail
from leadgate.cli.common import open_runtime
from leadgate.cli.common import with_config
from leadgate.conditions import health_problems
from leadgate.config import Config
from leadgate.health import check


@click.command()
@click.option("--json", "as_json", is_flag=True)
@with_config
def health(config: Config, as_json: bool) -> None:
    """Exit non-zero, saying why, when Redis is unreachable or leads are not moving.

    Not moving: no worker, overdue deliveries, a paused destination, parked leads.
    """
    try:
        rt = open_runtime(config)
    except RuntimeError as err:  # the embedded Redis could not start
        fail(f"cannot reach redis: {err}", code=1)
    state = check(rt)
    alerting = health_problems(rt) if state.redis_ok else []  # the alert conditions active now
    if as_json:
        click.echo(json.dumps({**state.as_dict(), "alerts": alerting}, indent=2))
    else:
        for key, value in state.as_dict().items():
            if key not in ("warnings", "problems"):
                console.print(f"{key}: {value}", highlight=False)
        for problem in state.problems:
            err_console.print(f"[bold red]unhealthy:[/] {escape(problem)}", highlight=False)
        for problem in alerting:
            err_console.print(f"[bold red]alert:[/] {escape(problem)}", highlight=False)
        for warning in state.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}")
    sys.exit(0 if state.healthy and not alerting else 1)
