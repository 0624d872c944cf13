"""The ``leadgate`` command: run the gateway and workers, inspect events, replay dead letters."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from datetime import timezone
from functools import wraps
from typing import Any

import click
import redis
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adapters import KINDS
from leadgate.config import Config
from leadgate.config import ConfigError
from leadgate.config import load_config
from leadgate.events import STATUSES
from leadgate.events import Event
from leadgate.logs import configure_logging
from leadgate.runtime import Runtime

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
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


@click.group()
@click.version_option(package_name="leadgate")
def main() -> None:
    """leadgate: webhook-to-lead gateway for the ConnectGain CRM."""
    configure_logging()


@main.command("check-config")
@with_config
def check_config(config: Config) -> None:
    """Validate the config file and print every source with its URL."""
    table = Table(title=f"leadgate config: {config.path}")
    for column in ("source", "kind", "URL", "destination", "ConnectGain source"):
        table.add_column(column, no_wrap=column == "URL", overflow="ignore" if column == "URL" else "fold")
    for source in config.sources.values():
        table.add_row(source.id, source.kind, config.source_url(source), source.destination, source.source)
    console.print(table)
    for dest in config.destinations.values():
        state = "api key set" if dest.configured else "[yellow]no api key[/] (leadgate dev uses the sandbox CRM)"
        console.print(f"destination [bold]{dest.name}[/]: {dest.base_url} ({state})")
    redis_where = config.redis_url and "REDIS_URL/redis_url" or f"embedded Redis in {config.data_dir}"
    policy = config.delivery
    console.print(f"redis: {redis_where}")
    console.print(
        f"delivery: {policy.max_attempts} attempts, backoff {list(policy.backoff_seconds)} s "
        f"(±{int(policy.jitter * 100)}% jitter), timeout {policy.timeout_seconds} s; "
        f"history kept {config.retention_days} days"
    )


@main.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--name", default=None, help="Worker name (default: host.pid).")
@with_config
def worker(config: Config, burst: bool, name: str | None) -> None:
    """Deliver queued leads to ConnectGain (the Procfile's worker process)."""
    from workers.worker import run_worker

    rt = runtime_for(config)
    console.print(f"leadgate worker: delivering for {len(config.sources)} sources", highlight=False)
    run_worker(rt, burst=burst, name=name)


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
    from leadgate.operations import replay_event

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


@main.group()
def destinations() -> None:
    """ConnectGain destinations: list them, resume a paused one."""


@destinations.command("list")
@with_config
def destinations_list(config: Config) -> None:
    """Every destination and whether its deliveries are paused."""
    from leadgate.health import paused_destinations

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
    from leadgate.operations import resume_destination

    if name not in config.destinations:
        fail(f"no destination named {name!r}")
    rt = runtime_for(config)
    count = resume_destination(rt, name)
    console.print(f"destination {name} resumed; {count} waiting lead(s) queued", highlight=False)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@with_config
def health(config: Config, as_json: bool) -> None:
    """Exit non-zero when Redis is unreachable or deliveries are not moving (no worker, overdue events)."""
    from leadgate.health import check

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


@main.group()
def facebook() -> None:
    """Facebook/Instagram Lead Ads: backfill missed leads, retry leads parked for a token."""


@facebook.command("backfill")
@click.option("--source", "source_id", required=True, help="A source of kind facebook.")
@click.option("--form", "form_id", required=True, help="The lead form id.")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC), YYYY-MM-DD.")
@click.option("--until", default=None, type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC), inclusive.")
@click.option("--page", "page_id", default=None, help="The form's page id, to use its page_tokens entry.")
@click.option("--dry-run", is_flag=True, help="Count what would be queued; queue nothing.")
@with_config
def facebook_backfill(
    config: Config, source_id: str, form_id: str, since: Any, until: Any, page_id: str | None, dry_run: bool
) -> None:
    """Queue every lead of a form the gateway has not seen (Meta keeps leads about 90 days)."""
    from workers.backfill import backfill_form

    source = config.sources.get(source_id)
    if source is None or source.kind != "facebook":
        fail(f"no facebook source named {source_id!r}")
    if (datetime.now(timezone.utc).date() - since.date()).days > 90:
        err_console.print("[yellow]note:[/] Meta keeps leads about 90 days; older ones can no longer be read")
    rt = runtime_for(config)
    result = backfill_form(rt, source, form_id, since=since, until=until, page_id=page_id, dry_run=dry_run)
    verb = "would queue" if dry_run else "queued"
    console.print(
        f"{result.pages} page(s), {result.listed} lead(s) listed: {result.seen} already seen, {verb} {result.queued}",
        highlight=False,
    )
    if result.error:
        fail(f"stopped early (re-running is safe): {result.error}", code=1)


@facebook.command("retry-parked")
@click.option("--source", "source_id", default=None, help="Only this source.")
@with_config
def facebook_retry_parked(config: Config, source_id: str | None) -> None:
    """Fetch the leads parked as needs_token again, with the token now in the config."""
    from workers.backfill import retry_parked

    results = retry_parked(runtime_for(config), source_id)
    for result in results:
        outcome = "queued" if result.ok else f"not replayed: {result.message}"
        console.print(f"{result.event_id}: {outcome}", highlight=False)
    if not results:
        console.print("no parked facebook leads")
    if any(not result.ok for result in results):
        sys.exit(1)


@main.command("send-test")
@click.argument("source_id")
@click.option("--url", default=None, help="Gateway base URL [default: public_url, else http://127.0.0.1:5000]")
@with_config
def send_test(config: Config, source_id: str, url: str | None) -> None:
    """Post a realistic sample lead to SOURCE_ID through the running gateway (signed when the kind signs)."""
    from leadgate.sendtest import SendTestError
    from leadgate.sendtest import send_test as post_samples

    try:
        report = post_samples(config, source_id, url)
    except SendTestError as err:
        fail(str(err), code=1)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)


@main.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", "source_id", required=True, help="Source whose mapping and destination to use.")
@click.option("--kind", type=click.Choice(["contacts", "leads", "deals"]), default="contacts", show_default=True)
@click.option("--dry-run", is_flag=True, help="Validate and report only; send nothing.")
@click.option("--skip-duplicates", is_flag=True, help="Skip existing contacts, not merge (deals: skip_if_exists).")
@click.option("--default-tag", "default_tags", multiple=True, help="Tag for every row (repeatable).")
@click.option("--default-source", default=None, help="ConnectGain source for rows without one.")
@click.option("--default-pipeline-id", default=None, help="Deals: pipeline for rows without one.")
@click.option("--default-stage", default=None, help="Deals: stage for rows without one.")
@click.option("--default-currency", default=None, help="Deals: currency for rows without one.")
@click.option("--failed-csv", type=click.Path(dir_okay=False), help="Rejected rows [default: FILE.failed.csv].")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), help="Resume state file [next to FILE].")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, help="Rows per request (capped at the limit).")
@with_config
def import_csv(config: Config, csv_file: str, source_id: str, kind: str, default_tags: tuple[str, ...], **kw: Any):
    """Import a CSV of contacts, leads or deals with ConnectGain's bulk endpoints; re-run to resume."""
    from leadgate.importer_cli import run_import_command
    from workers.importer import ImportOptions

    options = ImportOptions(kind=kind, default_tags=default_tags, **kw)
    sys.exit(run_import_command(config, csv_file, source_id, options, console, err_console))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, envvar="PORT")
@click.option("--sandbox-port", default=8900, show_default=True)
def dev(host: str, port: int, sandbox_port: int) -> None:
    """Run gateway + worker (+ embedded Redis and the sandbox CRM when needed) in one command."""
    from leadgate.devserver import run_dev

    run_dev(host=host, port=port, sandbox_port=sandbox_port)


if __name__ == "__main__":  # pragma: no cover
    main()
