"""``leadgate destinations``: list ConnectGain destinations, resume a paused one."""

from __future__ import annotations

import click

from leadgate.cli.app import FullHelpGroup
from leadgate.cli.common import console
from leadgate.cli.common import fail
from leadgate.cli.common import runtime_for
from leadgate.cli.common import with_config
from leadgate.config import Config
from leadgate.health import paused_destinations
from leadgate.operations import resume_destination


@click.group(cls=FullHelpGroup)
def destinations() -> None:
    """ConnectGain destinations: list them, resume a paused one."""


@destinations.command("list")
@with_config
def destinations_list(config: Config) -> None:
    """Every destination and whether its deliveries are paused."""
    rt = runtime_for(config)
    paused = paused_destinations(rt)
    for name, dest in config.destinations.items():
        state = f"PAUSED ({paused[name]['reason']})" if name in paused else "active"
        console.print(f"{name}: {dest.base_url} {state}", highlight=False)


@destinations.command("resume")
@click.argument("name")
@with_config
def destinations_resume(config: Config, name: str) -> None:
    """Resume a destination paused by a refused API key (fix the key first) and send what waited."""
    if name not in config.destinations:
        fail(f"no destination named {name!r}")
    rt = runtime_for(config)
    count = resume_destination(rt, name)
    console.print(f"destination {name} resumed; {count} waiting lead(s) queued", highlight=False)
