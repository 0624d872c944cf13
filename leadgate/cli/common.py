"""What every ``leadgate`` command shares: the consoles, the config option, the runtime, how it fails."""

from __future__ import annotations

import os
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

from adapters import KINDS
from leadgate.cli.sandbox_discovery import running_sandbox_url
from leadgate.config import SANDBOX_URL_ENV
from leadgate.config import Config
from leadgate.config import ConfigError
from leadgate.config import load_config
from leadgate.embedded_redis import EmbeddedRedis
from leadgate.runtime import Runtime

__all__ = ["console", "err_console", "fail", "open_runtime", "runtime_for", "when", "with_config"]

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]leadgate:[/] {escape(message)}", highlight=False)
    sys.exit(code)


def with_config(func: Callable[..., Any]) -> Callable[..., Any]:
    """Loads the config (``--config`` or ``$LEADGATE_CONFIG``) and turns config errors into a clear exit.

    Destinations without an API key deliver to the sandbox CRM of a ``leadgate dev`` running
    on the same ``data_dir`` (:mod:`leadgate.cli.sandbox_discovery`), as dev's own worker does.
    """

    @click.option("--config", "config_path", envvar="LEADGATE_CONFIG", default=None, help="Config file (leadgate.yaml)")
    @wraps(func)
    def wrapper(*args: Any, config_path: str | None, **kwargs: Any) -> Any:
        try:
            config = load_config(config_path, kinds=KINDS)
            config = with_dev_sandbox(config, config_path)
        except ConfigError as err:
            fail(f"config error:\n{err}")
        return func(config, *args, **kwargs)

    return wrapper


def with_dev_sandbox(config: Config, config_path: str | None) -> Config:
    """The config with keyless destinations sent to a running ``leadgate dev``'s sandbox CRM, if one runs."""
    if all(d.configured for d in config.destinations.values()) or os.environ.get(SANDBOX_URL_ENV):
        return config
    url = running_sandbox_url(config.data_dir)
    if url is None:
        return config
    keyless = ", ".join(name for name, d in config.destinations.items() if not d.configured)
    err_console.print(
        f"[bold black on yellow] SANDBOX [/] destination {escape(keyless)} has no api_key: using the sandbox CRM "
        f"of the running leadgate dev at {url}",
        highlight=False,
        soft_wrap=True,
    )
    return load_config(config_path, {**os.environ, SANDBOX_URL_ENV: url}, kinds=KINDS)


def when(ts: float, utc: bool = True) -> str:
    """``2026-12-07 14:03:12`` in UTC, or in local time with ``utc=False``; empty for no time."""
    if not ts:
        return ""
    moment = datetime.fromtimestamp(ts, timezone.utc)
    return (moment if utc else moment.astimezone()).strftime("%Y-%m-%d %H:%M:%S")


def open_runtime(config: Config) -> Runtime:
    """The command's runtime; an embedded Redis it had to start is stopped again when the command ends.

    Nothing is pinged: :func:`runtime_for` fails on an unreachable Redis, ``leadgate health`` reports it.
    """
    embedded = EmbeddedRedis(config.data_dir) if not config.redis_url else None
    if embedded is not None:
        embedded.ensure_running()
    rt = Runtime.from_config(config)
    context = click.get_current_context(silent=True)
    if embedded is not None and embedded.started_here and context is not None:
        context.call_on_close(lambda: _release(rt, embedded))
    return rt


def _release(rt: Runtime, embedded: EmbeddedRedis) -> None:
    """Closes the command's connections, then stops the server it started if nobody else attached."""
    rt.redis.close()
    rt.queue.connection.close()
    embedded.stop_if_unused()


def runtime_for(config: Config) -> Runtime:
    try:
        rt = open_runtime(config)
        rt.redis.ping()
    except (redis.RedisError, RuntimeError) as err:
        fail(f"cannot reach redis: {err}", code=3)
    return rt
