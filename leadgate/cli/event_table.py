"""How the CLI shows events: a table that stays readable in 80 columns, JSON, and one line per change.

Each event takes two lines of the table, so nothing collapses on a narrow terminal: the id
(whole, it is copied into ``dlq replay``) over the time, the source over the status, the tries,
and who the lead is over the last error. Times are local unless ``--utc``; lists are newest first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leadgate.cli.common import when
from leadgate.events import Event

__all__ = ["STATUS_STYLES", "contact_text", "event_line", "event_table", "newest_first", "print_events"]

EVENT_ID_WIDTH = len("ev_") + 24
"""An event id's length (:data:`leadgate.events.EVENT_ID`)."""

STATUS_STYLES = {
    "delivered": "green",
    "queued": "cyan",
    "delivering": "cyan",
    "retrying": "yellow",
    "dead": "bold red",
    "rejected": "red",
    "paused": "bold yellow",
}
"""Colours of the statuses an operator acts on; the rest are plain."""


def zone_label(utc: bool) -> str:
    """What the time column holds: ``UTC`` or the local zone's name."""
    return "UTC" if utc else (datetime.now().astimezone().tzname() or "local")


def newest_first(events: Sequence[Event]) -> list[Event]:
    """The one order every list uses: newest received first (equal times: newest id first)."""
    return sorted(events, key=lambda e: (e.received_at, e.id), reverse=True)


def contact_text(contact: Mapping[str, str | None]) -> str:
    """``Jane Roe <jane@example.com>``, or whichever parts are known (phone when there is no email)."""
    name, email, phone = contact.get("name"), contact.get("email"), contact.get("phone")
    reach = email or phone
    if name and reach:
        return f"{name} <{reach}>"
    return name or reach or ""


def event_table(
    events: Sequence[Event], contacts: Mapping[str, Mapping[str, str | None]], title: str, utc: bool
) -> Table:
    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), title_justify="left", expand=True
    )
    # the id is copied into other commands: never cut; the other cells end in "…" rather than wrap
    table.add_column(f"event / received ({zone_label(utc)})", no_wrap=True, min_width=EVENT_ID_WIDTH)
    table.add_column("source/status", no_wrap=True, overflow="ellipsis", min_width=10, max_width=14)
    table.add_column("tries", justify="right", no_wrap=True, min_width=5)
    table.add_column("name / last error", no_wrap=True, overflow="ellipsis", min_width=12, ratio=1)
    # expand: the last column takes what is left of the terminal, the others keep their widths
    for e in events:
        table.add_row(
            Text(f"{e.id}\n{when(e.received_at, utc)}"),
            Text.assemble(f"{e.source}\n", (e.status, STATUS_STYLES.get(e.status, ""))),
            Text(str(e.attempts)),
            Text.assemble(contact_text(contacts.get(e.id, {})), "\n", (e.last_error or "", "dim")),
        )
    return table


def event_line(event: Event, contact: Mapping[str, str | None], utc: bool) -> Text:
    """One event on one line, for ``--follow``: time, id, source, status, tries, who, last error."""
    parts: list[Any] = [
        f"{when(event.updated_at or event.received_at, utc)}  {event.id}  {event.source}  ",
        (event.status, STATUS_STYLES.get(event.status, "")),
        f"  tries {event.attempts}",
    ]
    who = contact_text(contact)
    if who:
        parts.append(f"  {who}")
    if event.last_error:
        parts.append((f"  {event.last_error}", "dim"))
    return Text.assemble(*parts)


def print_events(
    console: Console,
    events: Sequence[Event],
    contacts: Mapping[str, Mapping[str, str | None]],
    *,
    as_json: bool,
    title: str,
    empty: str,
    utc: bool,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """The events as JSON (each summary with its ``contact`` and ``extra`` fields), or a table; ``empty``
    is the one line printed when there are none."""
    if as_json:
        rows = [{**e.summary(), "contact": dict(contacts.get(e.id, {})), **(extra or {}).get(e.id, {})} for e in events]
        click.echo(json.dumps(rows, indent=2))
        return
    if not events:
        console.print(empty, highlight=False)
        return
    console.print(event_table(events, contacts, title, utc))
