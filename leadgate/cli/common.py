"""What every ``leadgate`` command shares: the consoles, the config option, the runtime, how it fails."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from datetime import timezone
from functools import wraps
from typing import Any
from typing import NoReturn

import click
import redis
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adapters import KINDS
from leadgate.config import Config
from leadgate.config import ConfigError
from leadgate.config import load_config
from leadgate.events import Event
from leadgate.runtime import Runtime

__all__ = ["console", "err_console", "fail", "print_events", "runtime_for", "when", "with_config"]

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]leadgate:[/] {escape(message)}", highlight=False)
    sys.exit(code)


def with_config(func: Callable[..., Any]) -> Callable[..., Any]:
    """Loads the config (``--config`` or ``$LEADGATE_CONFIG``) and turns config errors into a clear exit."""

    @click.option("--config", "config_path", envvar="LEADGATE_CONFIG", default=None, help="Config file (leadgate.yaml)")
    @wraps(func)
    def wrapper(*args: Any, config_path: str | None, **kwargs: Any) -> Any:
        try:
            config = load_config(config_path, kinds=KINDS)
        except ConfigError as err:
            fail(f"config error:\n{err}")
        return func(config, *args, **kwargs)

    return wrapper


def runtime_for(config: Config) -> Runtime:
    try:
        rt = Runtime.from_config(config)
        rt.redis.ping()
    except (redis.RedisError, RuntimeError) as err:
        fail(f"cannot reach redis: {err}", code=3)
    return rt


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def print_events(events: list[Event], as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps([e.summary() for e in events], indent=2))
        return
    table = Table(title=title, show_lines=False)
    for column in ("event", "source", "status", "tries", "last error", "contact", "received (UTC)", "updated"):
        # ids and statuses are copied into other commands: never cut or wrap them
        wrap = column in ("last error", "contact")
        table.add_column(column, overflow="fold" if wrap else "ignore", no_wrap=not wrap)
    for e in events:
        table.add_row(
            e.id,
            e.source,
            e.status,
            str(e.attempts),
            (e.last_error or "")[:80],
            e.contact_id,
            when(e.received_at),
            when(e.updated_at),
        )
    console.print(table)
    if not events:
        console.print("(none)")
