"""``leadgate check-config``: the config as the gateway reads it."""

from __future__ import annotations

import os

import click
from rich.markup import escape
from rich.table import Table

from leadgate.cli.common import console
from leadgate.cli.common import with_config
from leadgate.config import Config
from leadgate.exposure import exposure_warnings
from leadgate.keys import prefix_for
from leadgate.redis_urls import is_cluster_url
from leadgate.redis_urls import is_sentinel_url
from leadgate.redis_urls import parse_cluster_url
from leadgate.redis_urls import parse_sentinel_url

GUNICORN_DEFAULT_HOST = "0.0.0.0"
"""What gunicorn.conf.py binds when ``$HOST`` is unset."""


def surface_lines(config: Config) -> list[str]:
    """Whether the admin surface (dashboard, API) and ``/metrics`` answer, at their full URLs with ``public_url``."""
    base = escape(config.public_url.rstrip("/"))
    admin_on = bool(config.admin_token)
    if admin_on:
        admin = f"admin: [green]on[/] (admin_token set): dashboard {base}/admin/, API {base}/admin/api/"
    else:
        admin = (
            "admin: [yellow]off[/] (no admin_token: /admin/ answers 404; set admin_token, e.g. ${LEADGATE_ADMIN_TOKEN})"
        )
    if config.metrics_public:
        metrics = f"metrics: [yellow]public[/] at {base}/metrics (metrics_public: true)"
    elif admin_on:
        metrics = f"metrics: at {base}/metrics with the admin token as bearer (metrics_public: false)"
    else:
        metrics = "metrics: [yellow]off[/] (/metrics needs the admin token, and none is set)"
    lines = [admin, metrics]
    if not base:
        lines.append("(relative URLs: set public_url to print full ones)")
    return lines


@click.command("check-config")
@with_config
def check_config(config: Config) -> None:
    """Validate the config file and print every source with its URL, and what admin and /metrics expose."""
    console.print(f"config file: {config.path}", soft_wrap=True, highlight=False)  # whole: a table title is cut
    table = Table(title="leadgate config")
    for column in ("source", "kind", "URL", "destination", "ConnectGain source"):
        table.add_column(column, no_wrap=column == "URL", overflow="ignore" if column == "URL" else "fold")
    for source in config.sources.values():
        table.add_row(source.id, source.kind, config.source_url(source), source.destination, source.source)
    console.print(table)
    for dest in config.destinations.values():
        state = "api key set" if dest.configured else "[yellow]no api key[/] (leadgate dev uses the sandbox CRM)"
        console.print(f"destination [bold]{dest.name}[/]: {dest.base_url} ({state})")
    redis_where = config.redis_url and "REDIS_URL/redis_url" or f"embedded Redis in {config.data_dir}"
    if config.redis_url and is_sentinel_url(config.redis_url):
        address = parse_sentinel_url(config.redis_url)
        redis_where += f" (the master of {address.service!r}, asked of {len(address.sentinels)} Sentinels)"
    if config.redis_url and is_cluster_url(config.redis_url):
        nodes = len(parse_cluster_url(config.redis_url).nodes)
        redis_where += (
            f" (a Redis Cluster, from {nodes} start node(s); store keys tagged {prefix_for(config.redis_url)})"
        )
    policy = config.delivery
    console.print(f"redis: {redis_where}")
    if config.queue_redis_url:
        console.print("RQ jobs and rate limits: QUEUE_REDIS_URL/queue_redis_url")
    durability = config.durability
    console.print(
        f"durability: {durability.mode}"
        + (
            f" (2xx once {durability.min_replicas} replica(s) have the lead, else 503 after "
            f"{durability.replica_timeout_ms} ms)"
            if durability.replicated
            else " (2xx once the master has the lead)"
        )
    )
    console.print(
        f"delivery: {policy.max_attempts} attempts, backoff {list(policy.backoff_seconds)} s "
        f"(±{int(policy.jitter * 100)}% jitter), timeout {policy.timeout_seconds} s; "
        f"history kept {config.retention_days} days (payloads {config.payload_retention_days})"
    )
    for line in surface_lines(config):
        console.print(line, highlight=False, soft_wrap=True)
    for warning in exposure_warnings(config, [os.environ.get("HOST", GUNICORN_DEFAULT_HOST)]):
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
