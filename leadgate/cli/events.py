"""``leadgate events`` and ``leadgate dlq``: look at events (search, follow), replay or purge dead letters.

The search is the admin API's (:func:`leadgate.history.find_events`, its ``q``), so the CLI and
the dashboard find the same events; every list is newest first.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from datetime import timezone
from typing import Any

import click

from leadgate import defaults
from leadgate.cli.app import FullHelpGroup
from leadgate.cli.common import console
from leadgate.cli.common import fail
from leadgate.cli.common import runtime_for
from leadgate.cli.common import with_config
from leadgate.cli.event_table import event_line
from leadgate.cli.event_table import newest_first
from leadgate.cli.event_table import print_events
from leadgate.config import Config
from leadgate.events import STATUSES
from leadgate.events import Event
from leadgate.history import contacts_for
from leadgate.history import find_events
from leadgate.operations import replay_event
from leadgate.runtime import Runtime

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Since(click.ParamType):
    """``--since``: a duration back from now (``90s``, ``15m``, ``2h``, ``3d``, ``1w``) or a date/time."""

    name = "since"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        text = str(value)
        duration = DURATION.match(text)
        if duration:
            return time.time() - float(duration.group(1)) * UNIT_SECONDS[duration.group(2)]
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            self.fail(f"{text!r} is neither a duration (15m, 2h, 3d) nor a date/time (2026-12-07 or 2026-12-07T14:30)")
        if moment.tzinfo is None:
            utc = bool(ctx and ctx.params.get("utc"))
            moment = moment.replace(tzinfo=timezone.utc) if utc else moment.astimezone()
        return moment.timestamp()


def _search(
    rt: Runtime, source: str | None, status: str | None, q: str | None, limit: int, since: float
) -> list[Event]:
    page = find_events(rt.store, source=source, status=status, query=q, limit=limit)
    return [e for e in page.events if e.received_at >= since]  # newest first: the ones since are a prefix


def _follow(rt: Runtime, filters: dict[str, Any], utc: bool, as_json: bool, interval: float, seconds: float) -> None:
    """Prints each event of the newest ``FOLLOW_WINDOW`` that is new or changed status, until stopped.

    Polls every ``interval`` seconds; ``seconds`` (0: until Ctrl-C) bounds the whole run.
    """
    deadline = time.monotonic() + seconds if seconds else None
    shown: dict[str, tuple[str, float]] = {}
    while True:
        events = _search(rt, limit=defaults.FOLLOW_WINDOW, **filters)
        changed = [e for e in reversed(events) if shown.get(e.id) != (e.status, e.updated_at)]
        contacts = contacts_for(rt.store, changed)
        for event in changed:
            if as_json:
                click.echo(json_line(event, contacts[event.id]))
            else:
                console.print(event_line(event, contacts[event.id], utc), highlight=False, soft_wrap=True)
        shown = {e.id: (e.status, e.updated_at) for e in events}
        if deadline is not None and time.monotonic() >= deadline:
            return
        pause = interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))
        time.sleep(pause)


def json_line(event: Event, contact: Mapping[str, Any]) -> str:
    return json.dumps({**event.summary(), "contact": dict(contact)})


@click.command()
@click.option("--source", default=None, help="Only this source.")
@click.option("--status", type=click.Choice(STATUSES + ("purged",)), default=None, help="Only this status.")
@click.option("--q", "q", default=None, help="Search names, emails, phones and the posted fields (as the dashboard).")
@click.option(
    "--since", type=Since(), default=None, help="Only events received since: 15m, 2h, 3d or 2026-12-07T14:30."
)
@click.option("--limit", default=50, show_default=True, help="Most events listed.")
@click.option("--utc", is_flag=True, is_eager=True, help="Times in UTC instead of local time.")
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing events as they arrive or change status (Ctrl-C stops)."
)
@click.option(
    "--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.05), help="--follow: poll every N s."
)
@click.option("--for", "follow_seconds", default=0.0, type=click.FloatRange(min=0), help="--follow: stop after N s.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --follow: one object per line).")
@with_config
def events(
    config: Config,
    source: str | None,
    status: str | None,
    q: str | None,
    since: float | None,
    limit: int,
    utc: bool,
    follow: bool,
    interval: float,
    follow_seconds: float,
    as_json: bool,
) -> None:
    """List recent events, newest first: status, tries, who the lead is, last error."""
    rt = runtime_for(config)
    filters: dict[str, Any] = {"source": source, "status": status, "q": q, "since": since or 0.0}
    if follow:
        try:
            _follow(rt, filters, utc, as_json, interval, follow_seconds)
        except KeyboardInterrupt:
            pass
        return
    found = _search(rt, limit=limit, **filters)
    narrowed = any(filters.values())
    empty = "no events match these filters" if narrowed else "no events yet"
    print_events(
        console, found, contacts_for(rt.store, found), as_json=as_json, title="recent events", empty=empty, utc=utc
    )


@click.group(cls=FullHelpGroup)
def dlq() -> None:
    """Dead letters and parked leads: list, replay, purge."""


def _waiting(rt: Runtime, source: str | None) -> list[Event]:
    """Dead letters and parked leads (what ``dlq replay --all`` sends again), newest first."""
    return newest_first(rt.store.dead_letters(source) + rt.store.parked(source))


def _crm_answers(rt: Runtime, events: list[Event]) -> dict[str, dict[str, Any]]:
    """Each event's last attempt as the CRM answered it: ``crm_status_code`` and ``crm_response`` (its body)."""
    out = {}
    for event in events:
        attempts = rt.store.attempts(event.id)
        last = attempts[-1] if attempts else {}
        out[event.id] = {"crm_status_code": last.get("status_code"), "crm_response": last.get("response")}
    return out


@dlq.command("list")
@click.option("--source", default=None, help="Only this source.")
@click.option("--utc", is_flag=True, help="Times in UTC instead of local time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, with the CRM's status code and answer.")
@with_config
def dlq_list(config: Config, source: str | None, utc: bool, as_json: bool) -> None:
    """List dead letters and parked leads, newest first, with the reason."""
    rt = runtime_for(config)
    waiting = _waiting(rt, source)
    print_events(
        console,
        waiting,
        contacts_for(rt.store, waiting),
        as_json=as_json,
        title="dead letters and parked leads",
        empty=f"no dead letters{' for ' + source if source else ''}: nothing waits for a replay",
        utc=utc,
        extra=_crm_answers(rt, waiting) if as_json else None,
    )


@dlq.command("replay")
@click.argument("event_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter (and parked event).")
@click.option("--source", default=None, help="With --all: only this source.")
@click.option("--force", is_flag=True, help="Send it even when it was delivered already (a second lead in the CRM).")
@with_config
def dlq_replay(config: Config, event_id: str | None, replay_all: bool, source: str | None, force: bool) -> None:
    """Re-normalize with the current config and deliver again."""
    if bool(event_id) == replay_all:
        fail("give one EVENT_ID or --all")
    rt = runtime_for(config)
    ids = [event_id] if event_id else [e.id for e in _waiting(rt, source)]
    failures = 0
    for one in ids:
        result = replay_event(rt, one, force=force)
        failures += not result.ok
        message = result.message.replace("use force", "use --force")
        console.print(
            f"{one}: {'queued' if result.ok else 'not replayed: ' + message}", highlight=False, soft_wrap=True
        )
    if not ids:
        console.print("nothing to replay")
    if failures:
        sys.exit(1)


@dlq.command("purge")
@click.argument("event_id", required=False)
@click.option("--all", "purge_all", is_flag=True, help="Purge every dead letter (asks first).")
@click.option("--yes", "-y", is_flag=True, help="With --all: do not ask.")
@with_config
def dlq_purge(config: Config, event_id: str | None, purge_all: bool, yes: bool) -> None:
    """Drop dead letters for good."""
    if bool(event_id) == purge_all:
        fail("give one EVENT_ID or --all")
    rt = runtime_for(config)
    ids = [event_id] if event_id else [e.id for e in rt.store.dead_letters()]
    if purge_all and ids and not yes:
        click.confirm(f"purge {len(ids)} dead letter(s) for good? They cannot be replayed afterwards", abort=True)
    purged = sum(rt.store.purge(one) for one in ids if one)
    console.print(f"purged {purged} dead letter(s)")
    if event_id and not purged:
        sys.exit(1)
