"""The Facebook watchdog: asks the Graph API ahead of time whether each page token still works.

For every token of every ``facebook`` source (``access_token`` and each ``page_tokens`` entry) it
calls ``debug_token`` (validity, expiry, granted scopes, the page it belongs to), then
``GET /{page-id}/subscribed_apps`` (is the token's app still subscribed to ``leadgen``?), and
stores a :class:`~leadgate.page_health.PageHealth` for the alert conditions and the dashboard.
It runs in the alert loop (:mod:`workers.alerting`), never in a delivery or a request, and a
Graph outage only leaves the last result standing (``valid`` None), it raises nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace

from leadgate.config import SourceConfig
from leadgate.page_health import PageHealth
from leadgate.page_health import PageHealthStore
from leadgate.runtime import Runtime
from workers.errors import DeliveryError
from workers.errors import OperatorActionError
from workers.facebook_graph import GraphClient
from workers.facebook_graph import graph_client
from workers.facebook_graph import graph_url

__all__ = ["check_facebook_pages", "check_token", "keep_known", "page_tokens", "without_advice"]

log = logging.getLogger(__name__)


def page_tokens(source: SourceConfig) -> Iterator[tuple[str, str, str]]:
    """(label, page id or '', token) of each token a ``facebook`` source reads leads with."""
    yield "access_token", "", str(source.option("access_token"))
    for page_id, token in sorted((source.option("page_tokens") or {}).items()):
        yield f"page {page_id}", str(page_id), str(token)


def without_advice(message: str) -> str:
    """A Graph token error without the delivery's advice (``; fix the access token, then ...``)."""
    return message.split("; fix the access token")[0]


def _subscribed(apps: list[dict[str, object]], app_id: str) -> bool:
    """Whether the token's app (any app, when its id is unknown) gets the page's ``leadgen`` changes."""
    for app in apps:
        fields = app.get("subscribed_fields")
        if (not app_id or str(app.get("id")) == app_id) and isinstance(fields, list) and "leadgen" in fields:
            return True
    return False


def check_token(client: GraphClient, source: SourceConfig, label: str, page_id: str, token: str) -> PageHealth:
    """One token's health; failures are recorded in it, never raised."""
    base = graph_url(source)
    now = time.time()
    try:
        data = client.debug_token(base, token)
    except OperatorActionError as err:
        return PageHealth(source.id, label, now, page_id=page_id, valid=False, error=without_advice(err.message))
    except DeliveryError as err:
        return PageHealth(source.id, label, now, page_id=page_id, valid=None, error=err.message)
    valid = data.get("is_valid") is True
    error = data.get("error")
    reason = str(error.get("message", "")) if isinstance(error, dict) else ""
    page_id = page_id or str(data.get("profile_id") or "")
    health = PageHealth(
        source.id,
        label,
        now,
        page_id=page_id,
        valid=valid,
        error="" if valid else (reason or "debug_token says the token is not valid"),
        expires_at=float(data.get("expires_at") or 0),
        scopes=tuple(str(s) for s in data.get("scopes") or ()),
        app_id=str(data.get("app_id") or ""),
    )
    if not valid or not page_id:
        return health
    try:
        apps = client.subscribed_apps(base, page_id, token)
    except DeliveryError as err:
        return replace(health, subscription_error=err.message)
    return replace(health, subscribed=_subscribed(apps, health.app_id))


def keep_known(health: PageHealth, previous: PageHealth | None) -> PageHealth:
    """A check that could not conclude (Graph unreachable) keeps what the last one knew: an outage at Meta
    neither raises nor clears an alert."""
    if previous is None:
        return health
    if health.valid is None:
        log.warning("facebook check of %s (%s) failed: %s", health.source, health.label, health.error)
        return replace(previous, error=previous.error or "", subscription_error=health.error)
    if health.subscribed is None and health.subscription_error:
        return replace(health, subscribed=previous.subscribed)
    return health


def check_facebook_pages(rt: Runtime) -> list[PageHealth]:
    """Checks every token of every ``facebook`` source and stores the results."""
    store = PageHealthStore(rt.redis, rt.store.prefix)
    client = graph_client(rt.config.delivery.timeout_seconds)
    results = []
    for source in rt.config.sources.values():
        if source.kind != "facebook":
            continue
        for label, page_id, token in page_tokens(source):
            health = keep_known(check_token(client, source, label, page_id, token), store.get(source.id, label))
            store.save(health)
            results.append(health)
    return results
