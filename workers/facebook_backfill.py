"""Reconciliation for Facebook Lead Ads: fetch what the webhooks missed, retry what waited for a token.

:func:`backfill_form` pages through a form's leads in the Graph API and queues every lead whose
``leadgen_id`` the source has not seen, through the same intake transaction as the webhook (so a
lead is stored, deduped and queued exactly like a webhook one). The Graph lead object is stored
with the event, so the worker maps it without fetching it a second time. A lead already seen, by
a webhook or an earlier backfill, is skipped without leaving a record: re-running is harmless.

:func:`retry_parked` re-queues the leads parked as ``needs_token`` once the token is fixed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timezone
from typing import Any

from adapters.base import InboundEvent
from adapters.facebook import GRAPH_ID
from adapters.facebook import token_for
from leadgate.config import SourceConfig
from leadgate.intake import accept
from leadgate.intake import platform_ids_seen
from leadgate.operations import ReplayResult
from leadgate.operations import replay_event
from leadgate.runtime import Runtime
from workers.errors import DeliveryError
from workers.errors import TransientError
from workers.facebook_graph import FormLeadsPager
from workers.facebook_graph import GraphClient
from workers.facebook_graph import graph_client
from workers.facebook_graph import graph_url
from workers.retrying import call_with_retries

__all__ = ["BackfillResult", "backfill_form", "retry_parked", "unix_day"]

log = logging.getLogger(__name__)

PAGE_LIMIT = 100
"""Leads per Graph page; Meta's usual maximum for the leads edge."""
PAGE_TRIES = 3
"""Tries per page on a transient Graph error before the backfill stops (it can simply be re-run)."""
MAX_PAGE_WAIT = 60.0
"""Longest wait between two tries of one page; a longer throttle ends the run instead."""


@dataclass
class BackfillResult:
    """What one backfill did: Graph pages read, leads listed, already seen, queued (or would queue)."""

    pages: int = 0
    listed: int = 0
    seen: int = 0
    queued: int = 0
    invalid: int = 0
    dry_run: bool = False
    error: str = ""


def unix_day(day: date | datetime) -> int:
    """Midnight UTC of ``day`` as unix seconds (a naive datetime is taken as UTC)."""
    if isinstance(day, datetime):
        day = day.date()
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def _created_unix(value: Any) -> Any:
    """Graph's ``2026-11-20T10:00:00+0000`` as unix seconds, the webhook's spelling of created_time."""
    if not isinstance(value, str):
        return value
    try:
        return int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp())
    except ValueError:
        return value


def _webhook_part(lead: dict[str, Any], form_id: str, page_id: str | None) -> dict[str, Any]:
    """What the webhook would have said about this lead, for the stored event and the custom fields."""
    webhook: dict[str, Any] = {"leadgen_id": str(lead["id"]), "form_id": str(lead.get("form_id") or form_id)}
    if page_id:
        webhook["page_id"] = page_id
    for name, key in (("ad_id", "ad_id"), ("adgroup_id", "adset_id")):
        if lead.get(key):
            webhook[name] = str(lead[key])
    if lead.get("created_time") is not None:
        webhook["created_time"] = _created_unix(lead["created_time"])
    return webhook


def _next_page(pager: FormLeadsPager, sleep: Callable[[float], None]) -> list[dict[str, Any]] | None:
    """The pager's next page, tried again after a transient Graph error (throttling, 5xx)."""

    def wait(attempt: int, err: TransientError) -> float | None:
        seconds = err.retry_after if err.retry_after is not None else float(2**attempt)
        return seconds if seconds <= MAX_PAGE_WAIT else None

    def note(attempt: int, seconds: float, err: TransientError) -> None:
        log.warning("backfill: %s; trying the page again in %.0fs", err.message, seconds)

    return call_with_retries(lambda attempt: pager.fetch(), tries=PAGE_TRIES, wait=wait, sleep=sleep, on_retry=note)


def backfill_form(
    rt: Runtime,
    source: SourceConfig,
    form_id: str,
    *,
    since: date | datetime,
    until: date | datetime | None = None,
    page_id: str | None = None,
    dry_run: bool = False,
    client: GraphClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BackfillResult:
    """Queues every lead of ``form_id`` created from ``since`` (through ``until``, inclusive) not yet seen.

    ``page_id`` picks the token from ``page_tokens`` (default: ``access_token``). A Graph error stops
    the run; the counts so far and the error are returned, and a re-run resumes harmlessly.
    """
    result = BackfillResult(dry_run=dry_run)
    if not GRAPH_ID.match(form_id):
        result.error = f"{form_id!r} is not a form id"
        return result
    client = client or graph_client(rt.config.delivery.timeout_seconds)
    # GREATER_THAN is strict: one second earlier keeps a lead created exactly at midnight.
    since_ts = unix_day(since) - 1
    until_ts = unix_day(until) + 86400 if until is not None else None
    pager = client.form_leads(
        graph_url(source), form_id, token_for(source, page_id), since=since_ts, until=until_ts, limit=PAGE_LIMIT
    )
    handled: set[str] = set()
    try:
        while (page := _next_page(pager, sleep)) is not None:
            result.pages += 1
            result.listed += len(page)
            leads = [lead for lead in page if GRAPH_ID.match(str(lead.get("id") or ""))]
            result.invalid += len(page) - len(leads)
            seen = platform_ids_seen(rt, source, [str(lead["id"]) for lead in leads]) | handled
            for lead in leads:
                leadgen_id = str(lead["id"])
                if leadgen_id in seen:
                    result.seen += 1
                    continue
                handled.add(leadgen_id)
                if dry_run:
                    result.queued += 1
                    continue
                raw = {"webhook": _webhook_part(lead, form_id, page_id), "lead": lead, "origin": "backfill"}
                event = InboundEvent(raw=raw, dedupe_keys=(leadgen_id,))
                accepted = accept(rt, source, event, request_meta={"backfill": {"form_id": form_id}})
                if accepted.duplicate:  # a webhook for it landed while we were paging
                    result.seen += 1
                else:
                    result.queued += 1
    except DeliveryError as err:
        result.error = err.message
    log.info(
        "backfill %s form %s: %d pages, %d listed, %d seen, %d queued%s",
        source.id,
        form_id,
        result.pages,
        result.listed,
        result.seen,
        result.queued,
        " (dry run)" if dry_run else "",
    )
    return result


def retry_parked(rt: Runtime, source_id: str | None = None) -> list[ReplayResult]:
    """Re-queues every parked ``facebook`` event (of ``source_id``), to be fetched with the current token."""
    results = []
    for event in rt.store.parked(source_id):
        source = rt.config.sources.get(event.source)
        if event.kind != "facebook" and (source is None or source.kind != "facebook"):
            continue
        results.append(replay_event(rt, event.id))
    return results
