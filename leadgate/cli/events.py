"""``leadgate events`` and ``leadgate dlq``: look at events, replay or purge dead letters."""

from __future__ import annotations

import sys

import click

from leadgate.cli.app import main
from leadgate.cli.common import console
from leadgate.cli.common import fail
from leadgate.cli.common import print_events
from leadgate.cli.common import runtime_for
from leadgate.cli.common import with_config
from leadgate.config import Config
from leadgate.events import STATUSES
from leadgate.operations import replay_event


@main.command()
@click.option("--source", default=None, help="Only this source.")
@click.option("--status", type=click.Choice(STATUSES + ("purged",)), default=None, help="Only this status.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_config
def events(config: Config, source: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List recent events with their status, attempts and last error."""
    rt = runtime_for(config)
    print_events(rt.store.recent(source=source, status=status, limit=limit), as_json, "recent events")


@main.group()
def dlq() -> None:
    """Dead letters: list, replay, purge."""


@dlq.command("list")
@click.option("--source", default=None)
@click.option("--json", "as_json", is_flag=True)
@with_config
def dlq_list(config: Config, source: str | None, as_json: bool) -> None:
    """List dead-lettered events with their reason."""
    rt = runtime_for(config)
    print_events(rt.store.dead_letters(source), as_json, "dead letters")


@dlq.command("replay")
@click.argument("event_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter (and parked event).")
@click.option("--source", default=None, help="With --all: only this source.")
@with_config
def dlq_replay(config: Config, event_id: str | None, replay_all: bool, source: str | None) -> None:
    """Re-normalize with the current config and deliver again."""
    if bool(event_id) == replay_all:
        fail("give one EVENT_ID or --all")
    rt = runtime_for(config)
    ids = [event_id] if event_id else [e.id for e in rt.store.dead_letters(source) + rt.store.parked(source)]
    failures = 0
    for one in ids:
        result = replay_event(rt, one)
        failures += not result.ok
        console.print(f"{one}: {'queued' if result.ok else 'not replayed: ' + result.message}", highlight=False)
    if not ids:
        console.print("nothing to replay")
    if failures:
        sys.exit(1)


@dlq.command("purge")
@click.argument("event_id", required=False)
@click.option("--all", "purge_all", is_flag=True)
@with_config
def dlq_purge(config: Config, event_id: str | None, purge_all: bool) -> None:
    """Drop dead letters for good."""
    if bool(event_id) == purge_all:
        fail("give one EVENT_ID or --all")
    rt = runtime_for(config)
    ids = [event_id] if event_id else [e.id for e in rt.store.dead_letters()]
    purged = sum(rt.store.purge(one) for one in ids if one)
    console.print(f"purged {purged} dead letter(s)")
    if event_id and not purged:
        sys.exit(1)
