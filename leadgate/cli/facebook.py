"""``leadgate facebook``: backfill missed Lead Ads leads, retry leads parked for a token, (re)subscribe a page."""

from __future__ import annotations

import sys
from datetime import datetime
from datetime import timezone
from typing import Any

import click

from leadgate.cli.app import FullHelpGroup
from leadgate.cli.common import console
from leadgate.cli.common import err_console
from leadgate.cli.common import fail
from leadgate.cli.common import runtime_for
from leadgate.cli.common import with_config
from leadgate.config import Config
from workers.errors import DeliveryError
from workers.facebook_backfill import backfill_form
from workers.facebook_backfill import retry_parked
from workers.facebook_graph import graph_client
from workers.facebook_graph import graph_url
from workers.watchdogs import page_tokens
from workers.watchdogs import without_advice


@click.group(cls=FullHelpGroup)
def facebook() -> None:
    """Facebook/Instagram Lead Ads: backfill missed leads, retry leads parked for a token, subscribe pages."""


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
    results = retry_parked(runtime_for(config), source_id)
    for result in results:
        outcome = "queued" if result.ok else f"not replayed: {result.message}"
        console.print(f"{result.event_id}: {outcome}", highlight=False)
    if not results:
        console.print("no parked facebook leads")
    if any(not result.ok for result in results):
        sys.exit(1)


@facebook.command("subscribe")
@click.argument("page_id")
@click.option(
    "--source", "source_id", default=None, help="The facebook source whose token to use (default: the only one)."
)
@with_config
def facebook_subscribe(config: Config, page_id: str, source_id: str | None) -> None:
    """(Re)subscribe the app to PAGE_ID's leadgen changes, with the page's token from the config."""
    sources = [s for s in config.sources.values() if s.kind == "facebook" and source_id in (None, s.id)]
    if len(sources) != 1:
        fail(f"no facebook source named {source_id!r}" if source_id else "name the facebook source with --source")
    source = sources[0]
    tokens = {page: token for _, page, token in page_tokens(source) if page}
    token = tokens.get(page_id) or str(source.option("access_token"))
    client = graph_client(config.delivery.timeout_seconds)
    try:
        client.subscribe(graph_url(source), page_id, token)
        apps = client.subscribed_apps(graph_url(source), page_id, token)
    except DeliveryError as err:
        fail(f"page {page_id}: {without_advice(err.message)}", code=1)
    fields = sorted({f for app in apps for f in app.get("subscribed_fields") or []})
    if "leadgen" not in fields:
        fail(f"page {page_id}: Graph accepted the subscription but leadgen is not among {fields}", code=1)
    console.print(f"page {page_id} subscribed to leadgen (fields: {', '.join(fields)})", highlight=False)
