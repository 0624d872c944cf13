"""``leadgate alerts``: send a test message to every channel, list the active conditions and what was sent."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click
from rich.markup import escape

from leadgate.alerts import AlertBook
from leadgate.alerts import format_utc
from leadgate.cli.app import FullHelpGroup
from leadgate.cli.common import console
from leadgate.cli.common import fail
from leadgate.cli.common import runtime_for
from leadgate.cli.common import with_config
from leadgate.conditions import evaluate
from leadgate.config import Config
from workers.alerting import sample_notice
from workers.alerting import send_everywhere


@click.group(cls=FullHelpGroup)
def alerts() -> None:
    """Alerts: test the channels, show what is wrong now and what was sent."""


@alerts.command("test")
@with_config
def alerts_test(config: Config) -> None:
    """Send a test message to every channel; exit 1 when any of them failed."""
    channels = config.alerts.channels
    if not channels:
        fail("no alert channels are configured (alerts.channels in the config)", code=1)
    results = send_everywhere(channels, sample_notice())
    for name, result in results.items():
        colour = "green" if result == "ok" else "red"
        console.print(f"[{colour}]{escape(name)}: {escape(result)}[/]", highlight=False)
    sys.exit(0 if all(result == "ok" for result in results.values()) else 1)


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--sent", "show_sent", is_flag=True, help="What was sent (newest first) instead of what is active.")
@with_config
def alerts_list(config: Config, as_json: bool, show_sent: bool) -> None:
    """Every condition active now (as the alert loop sees it), or the messages sent."""
    rt = runtime_for(config)
    if show_sent:
        entries = AlertBook(rt.redis, rt.store.prefix).sent()
        if as_json:
            click.echo(json.dumps(entries, indent=2))
            return
        for entry in entries:
            results = ", ".join(f"{k}: {v}" for k, v in entry.get("channels", {}).items()) or "no channel"
            console.print(
                f"{format_utc(entry['at'])}  {entry['state']:<9} {escape(entry['title'])}  ({escape(results)})"
            )
        return
    found = evaluate(rt)
    if as_json:
        click.echo(json.dumps([asdict(c) for c in found], indent=2))
        return
    for condition in found:
        console.print(f"[bold]{escape(condition.title)}[/]  since {format_utc(condition.since)}", highlight=False)
        console.print(f"  fix: {escape(condition.fix)}", highlight=False)
    if not found:
        console.print("no active condition")
