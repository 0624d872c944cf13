"""How much Redis memory a delivered lead costs: typical form and Facebook leads, stored and delivered for real.

Shared by the benchmark (``bench/memory.py``) and the budget test (``tests/leadgate/test_event_encoding.py``).
Leads are acknowledged as the gateway does it (the source kind's ``parse`` and ``normalize``, the gateway's
request metadata, :func:`leadgate.intake.accept`), a Facebook lead gets the Graph lead its delivery job would
fetch, and a burst worker delivers them all to a ConnectGain (the sandbox CRM). :func:`measure` then sums
``MEMORY USAGE`` (exact: ``SAMPLES 0``) of every key an event keeps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from adapters.base import InboundRequest
from gateway.inbound import request_meta
from leadgate import runtime as runtime_module
from leadgate.intake import accept
from leadgate.queue import Dispatcher
from leadgate.runtime import Runtime
from workers.worker import LeadWorker

__all__ = [
    "FACEBOOK_SOURCE_YAML",
    "FORM_SOURCE_YAML",
    "Footprint",
    "acknowledge_facebook",
    "acknowledge_form",
    "deliver_everything",
    "measure",
]

FORM_SOURCE_YAML = """  {name}:
    kind: form
    tags: [website]
    phone_region: US
"""
FACEBOOK_SOURCE_YAML = """  {name}:
    kind: facebook
    app_secret: footprint-app-secret
    verify_token: footprint-verify-token
    access_token: footprint-page-token
    graph_api_url: http://127.0.0.1:9/v21.0
    phone_region: US
    tags: [facebook]
"""
"""Source blocks (``str.format`` with ``name``) for a config's ``sources:`` the helpers below post to."""

BROWSER_HEADERS = {
    "user-agent": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    ),
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "origin": "https://www.example.com",
    "referer": "https://www.example.com/contact?utm_source=newsletter&utm_campaign=spring",
    "x-forwarded-for": "203.0.113.24",
}
META_HEADERS = {"user-agent": "facebookexternalua", "accept": "*/*", "x-hub-signature-256": "sha256=" + "0" * 64}


def _form_fields(i: int) -> dict[str, str]:
    """A website contact form as people fill it in (the benchmark's form post)."""
    return {
        "name": f"Ada Lovelace{i}",
        "email": f"ada.{i}@example.com",
        "phone": f"(415) {200 + (i // 10000) % 700:03d}-{i % 10000:04d}",
        "company": f"Analytical Engines {i % 97}",
        "message": "Please call me back about pricing for 25 seats.",
        "utm_source": "newsletter",
        "utm_campaign": "spring",
    }


def _leadgen_ids(i: int) -> dict[str, str]:
    return {"leadgen_id": str(1285539862763401 + i), "page_id": "104518332271947", "form_id": "931027456218847"}


def _notification(i: int, now: int) -> dict[str, Any]:
    """Meta's Page ``leadgen`` notification naming one lead (ids as long as Meta's)."""
    value = {**_leadgen_ids(i), "adgroup_id": "120213486529870417", "ad_id": "120213486529900417"}
    return {
        "object": "page",
        "entry": [{"id": value["page_id"], "time": now, "changes": [{"field": "leadgen", "value": value}]}],
    }


def _graph_lead(i: int) -> dict[str, Any]:
    """The Graph lead a delivery job fetches for it (the shape of tests/corpus' standard Facebook sample)."""
    ids = _leadgen_ids(i)
    answers = {
        "full_name": f"Maya Thompson{i}",
        "email": f"maya.{i}@example.com",
        "phone_number": f"+1415555{i % 10000:04d}",
        "city": "Oakland",
        "what_type_of_project_are_you_planning?": "kitchen_remodel",
        "anything_else_we_should_know?": "1920s bungalow, we need the permits handled too.",
    }
    return {
        "created_time": "2026-01-06T13:00:09+0000",
        "id": ids["leadgen_id"],
        "ad_id": "120213486529900417",
        "ad_name": "Kitchen remodel - carousel",
        "adset_id": "120213486529870417",
        "adset_name": "Bay Area homeowners 35-65",
        "campaign_id": "120213486529810417",
        "campaign_name": "Q1 remodel leads",
        "form_id": ids["form_id"],
        "is_organic": False,
        "platform": "fb",
        "field_data": [{"name": name, "values": [value]} for name, value in answers.items()],
        "custom_disclaimer_responses": [
            {"checkbox_key": "optional_1", "is_checked": "1"},
            {"checkbox_key": "optional_2", "is_checked": ""},
        ],
    }


def acknowledge_form(rt: Runtime, source_id: str, i: int) -> str:
    """Stores the ``i``-th typical form post as the gateway does; returns its event id."""
    source = rt.config.sources[source_id]
    adapter = rt.config.kinds[source.kind]
    fields = _form_fields(i)
    body = urlencode(fields).encode()
    headers = {
        **BROWSER_HEADERS,
        "content-type": "application/x-www-form-urlencoded",
        "content-length": str(len(body)),
    }
    inbound = InboundRequest(
        method="POST",
        content_type="application/x-www-form-urlencoded",
        body=body,
        headers=headers,
        form=tuple(fields.items()),
        remote_addr="10.0.0.7",
    )
    (event,) = adapter.parse(inbound, source)
    lead = adapter.normalize(event.raw, source)
    return accept(rt, source, event, lead=lead, request_meta=request_meta(inbound)).event_id


def acknowledge_facebook(rt: Runtime, source_id: str, i: int) -> str:
    """Stores the ``i``-th typical Facebook notification, with the Graph lead its job would fetch."""
    source = rt.config.sources[source_id]
    adapter = rt.config.kinds[source.kind]
    body = json.dumps(_notification(i, int(time.time())), separators=(",", ":")).encode()
    headers = {**META_HEADERS, "content-type": "application/json", "content-length": str(len(body))}
    inbound = InboundRequest(
        method="POST", content_type="application/json", body=body, headers=headers, remote_addr="10.0.0.7"
    )
    (event,) = adapter.parse(inbound, source)
    event_id = accept(rt, source, event, request_meta=request_meta(inbound)).event_id
    # what workers.facebook_graph.fetch_leadgen writes back before the lead is mapped
    rt.store.update(event_id, raw={**event.raw, "lead": _graph_lead(i)})
    return event_id


def deliver_everything(rt: Runtime, timeout: float = 120.0) -> None:
    """Delivers every due event in this process: a dispatcher and a burst worker, as ``leadgate worker`` runs.

    The jobs run with ``rt``, installed as this process's runtime meanwhile (and uninstalled after).
    """
    runtime_module.install(rt)
    try:
        dispatcher = Dispatcher(rt.store, rt.queue, rt.config.delivery.lease_seconds)
        deadline = time.monotonic() + timeout
        while rt.store.due_count():
            dispatcher.run_once()
            LeadWorker([rt.queue], connection=rt.queue.connection).work(
                burst=True, with_scheduler=False, logging_level="ERROR"
            )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{rt.store.due_count()} events still due after {timeout:.0f}s")
    finally:
        runtime_module.install(None)


@dataclass(frozen=True)
class Footprint:
    """Bytes of Redis memory per event, by what holds them."""

    events: int
    record: float
    """The event's own keys: its hash, its attempts list, its payload key."""
    index: float
    """Its share of the ``lg:events`` and per-source index sorted sets."""
    dedupe: float
    """Its dedupe claims (``lg:dd:*``), which expire on their own clocks (90 days, 24 h, 10 min)."""
    jobs: float
    """RQ job hashes left behind (``rq:job:*``)."""

    @property
    def event(self) -> float:
        """What the issue's budget counts: the event's keys and its index entries."""
        return self.record + self.index


def memory_usage(rt: Runtime, key: str) -> int:
    return int(rt.redis.memory_usage(key, samples=0) or 0)


def _sum_usage(rt: Runtime, keys: list[str]) -> int:
    pipe = rt.redis.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(int(size or 0) for size in pipe.execute())


def _scan(rt: Runtime, pattern: str) -> list[str]:
    return [k.decode() if isinstance(k, bytes) else str(k) for k in rt.redis.scan_iter(match=pattern, count=1000)]


def measure(rt: Runtime, ids: list[str]) -> Footprint:
    """What ``ids`` (delivered events, the only ones in this Redis) cost, per event.

    The index sorted sets are shared, so their whole size is divided among the events they hold.
    """
    keys = [k for event_id in ids for k in rt.store.keys_of(event_id)]
    record = _sum_usage(rt, keys)
    indexes = [rt.store.index_key, *_scan(rt, f"{rt.store.prefix}events:src:*")]
    index = _sum_usage(rt, indexes)
    dedupe = _sum_usage(rt, _scan(rt, f"{rt.store.prefix}dd:*"))
    jobs = _sum_usage(rt, _scan(rt, "rq:job:*"))
    n = max(len(ids), 1)
    return Footprint(len(ids), record / n, index / n, dedupe / n, jobs / n)
