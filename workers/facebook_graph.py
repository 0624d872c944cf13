"""The Graph API client: read one lead, page through a form's leads, classify every failure once.

Failures map onto :mod:`workers.errors` so the delivery job needs no Graph knowledge:

* network errors, 5xx, HTTP 429 and the temporary / throttling codes -> :class:`TransientError`
  (retried on the delivery schedule; ``estimated_time_to_regain_access`` becomes ``retry_after``);
* an expired, revoked or under-privileged token -> :class:`OperatorActionError` with
  ``park_as="needs_token"``: retrying cannot help until someone replaces the token, so the lead is
  parked instead of burning its attempts and landing in the dead-letter queue as if it were lost;
* anything else (a deprecated API version, a bad request) -> :class:`PermanentError`, the Graph
  error body kept for the operator.

Access tokens travel in the query string, as Meta documents. They never appear in a message, an
error body or a log line written here, and ``leadgate.logs`` keeps httpx's URL logging off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit

import httpx

from adapters.facebook import DEFAULT_GRAPH_API_URL
from adapters.facebook import token_for
from leadgate import defaults
from leadgate.config import SourceConfig
from leadgate.events import Event
from leadgate.runtime import Runtime
from workers.clients import HTTPClient
from workers.clients import pooled
from workers.connectgain import BODY_KEEP
from workers.connectgain import parse_retry_after
from workers.errors import OperatorActionError
from workers.errors import PermanentError
from workers.errors import TransientError

__all__ = [
    "LEAD_FIELDS",
    "NEEDS_TOKEN",
    "FormLeadsPager",
    "GraphClient",
    "classify",
    "fetch_leadgen",
    "graph_client",
    "regain_access_seconds",
]

LEAD_FIELDS = (
    "id,created_time,field_data,ad_id,ad_name,adset_id,campaign_id,campaign_name,"
    "form_id,is_organic,platform,custom_disclaimer_responses"
)
NEEDS_TOKEN = "needs_token"
"""The parked status of a lead that waits for a working access token."""

TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613, 80001, 80005})
"""Unknown/service errors (1, 2), throttling of app, user, page, leadgen (4, 17, 32, 613, 80001, 80005),
app limit (341) and temporary blocks (368): Meta's advice for each is "wait and retry"."""
TOKEN_CODES = frozenset({10, 102, 190})
"""Expired, revoked or invalid token (190 with any subcode, 102) and denied permission (10)."""
MISSING_OBJECT = (100, 33)
"""``Object ... does not exist, cannot be loaded due to missing permissions``: typically a user token
where a page token is needed, or a token of another page."""
USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")


def _find_regain(node: Any) -> list[float]:
    """Every ``estimated_time_to_regain_access`` value (minutes) in a usage header's JSON."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key == "estimated_time_to_regain_access" and isinstance(value, int | float):
                found.append(float(value))
            else:
                found.extend(_find_regain(value))
        return found
    if isinstance(node, list):
        return [minutes for item in node for minutes in _find_regain(item)]
    return []


def regain_access_seconds(headers: Mapping[str, str]) -> float | None:
    """When Meta says throttling ends, from its usage headers (minutes), else ``Retry-After``."""
    minutes: list[float] = []
    for name in USAGE_HEADERS:
        value = headers.get(name)
        if not value:
            continue
        try:
            minutes.extend(_find_regain(json.loads(value)))
        except ValueError:
            continue
    longest = max(minutes, default=0.0)
    if longest > 0:
        return min(longest * 60, float(defaults.RETRY_AFTER_CAP_SECONDS))
    return parse_retry_after(headers.get("retry-after"))


def _describe(error: Mapping[str, Any], status: int) -> str:
    code, subcode = error.get("code"), error.get("error_subcode")
    where = f"code {code}" + (f"/{subcode}" if subcode is not None else "")
    message = str(error.get("message") or "no message")[:300]
    trace = f" (fbtrace_id {error['fbtrace_id']})" if error.get("fbtrace_id") else ""
    return f"Graph API {status} {where}: {message}{trace}"


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def classify(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a successful answer; raises the :mod:`workers.errors` class of a failed one."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if 200 <= status < 300 and isinstance(body, dict) and not isinstance(error, dict):
        return body
    text = response.text[:BODY_KEEP]
    if not isinstance(error, dict):
        message = f"Graph API answered {status} without a Graph error"
        if status == 429 or status >= 500 or 200 <= status < 300:
            raise TransientError(
                message, status_code=status, body=text, retry_after=regain_access_seconds(response.headers)
            )
        raise PermanentError(message, status_code=status, body=text)
    code, subcode = _as_int(error.get("code")), _as_int(error.get("error_subcode"))
    message = _describe(error, status)
    if code in TOKEN_CODES or (code is not None and 200 <= code <= 299) or (code, subcode) == MISSING_OBJECT:
        raise OperatorActionError(
            f"{message}; fix the access token, then run leadgate facebook retry-parked",
            park_as=NEEDS_TOKEN,
            status_code=status,
            body=text,
        )
    if code in TRANSIENT_CODES or status == 429 or status >= 500 or error.get("is_transient") is True:
        raise TransientError(
            message, status_code=status, body=text, retry_after=regain_access_seconds(response.headers)
        )
    raise PermanentError(message, status_code=status, body=text)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class GraphClient(HTTPClient):
    """Reads the Graph API over a keep-alive connection pool; every answer goes through :func:`classify`."""

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One GET; transport failures are transient, answers are classified."""
        return self.call("GET", url, params)

    def call(self, method: str, url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One request; transport failures are transient, answers are classified."""
        try:
            response = self.http.request(method, url, params=dict(params) if params else None)
        except httpx.TimeoutException as err:
            raise TransientError(f"timed out talking to the Graph API ({type(err).__name__})") from None
        except httpx.TransportError as err:
            # str(err) may quote the request URL, and with it the token: only the type is kept.
            raise TransientError(f"could not reach the Graph API ({type(err).__name__})") from None
        return classify(response)

    def lead(self, base_url: str, leadgen_id: str, token: str) -> dict[str, Any]:
        """``GET /{leadgen_id}`` with the fields leadgate maps."""
        url = f"{base_url.rstrip('/')}/{quote(str(leadgen_id), safe='')}"
        return self.get(url, {"access_token": token, "fields": LEAD_FIELDS})

    def debug_token(self, base_url: str, token: str) -> dict[str, Any]:
        """``GET /debug_token`` of ``token``, inspected with itself: its ``data`` (validity, expiry, scopes, page).

        A token Graph refuses outright (190) raises :class:`OperatorActionError`, as everywhere else.
        """
        body = self.get(f"{base_url.rstrip('/')}/debug_token", {"input_token": token, "access_token": token})
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def subscribed_apps(self, base_url: str, page_id: str, token: str) -> list[dict[str, Any]]:
        """``GET /{page_id}/subscribed_apps``: the apps subscribed to the page, each with its ``subscribed_fields``."""
        url = f"{base_url.rstrip('/')}/{quote(str(page_id), safe='')}/subscribed_apps"
        data = self.get(url, {"access_token": token}).get("data")
        return [app for app in data if isinstance(app, dict)] if isinstance(data, list) else []

    def subscribe(self, base_url: str, page_id: str, token: str, fields: str = "leadgen") -> bool:
        """``POST /{page_id}/subscribed_apps?subscribed_fields=leadgen``: (re)subscribes the token's app."""
        url = f"{base_url.rstrip('/')}/{quote(str(page_id), safe='')}/subscribed_apps"
        return bool(self.call("POST", url, {"access_token": token, "subscribed_fields": fields}).get("success"))

    def form_leads(
        self,
        base_url: str,
        form_id: str,
        token: str,
        *,
        since: int,
        until: int | None = None,
        limit: int = 100,
    ) -> FormLeadsPager:
        """A pager over ``form_id``'s leads created after ``since`` (and before ``until``), unix seconds."""
        return FormLeadsPager(self, base_url, form_id, token, since=since, until=until, limit=limit)


class FormLeadsPager:
    """Walks ``GET /{form_id}/leads`` with cursor paging; a failed page can be fetched again.

    Follows ``paging.next``. A ``next`` pointing at another host is not followed (the token would go
    with it): the ``after`` cursor is used against the configured URL instead.
    """

    def __init__(
        self, client: GraphClient, base_url: str, form_id: str, token: str, *, since: int, until: int | None, limit: int
    ):
        filtering = [{"field": "time_created", "operator": "GREATER_THAN", "value": int(since)}]
        if until is not None:
            filtering.append({"field": "time_created", "operator": "LESS_THAN", "value": int(until)})
        self.client = client
        self.token = token
        self.first_url = f"{base_url.rstrip('/')}/{quote(str(form_id), safe='')}/leads"
        self.first_params: dict[str, Any] = {
            "access_token": token,
            "fields": LEAD_FIELDS,
            "limit": limit,
            "filtering": json.dumps(filtering),
        }
        self.url: str = self.first_url
        self.params: dict[str, Any] | None = dict(self.first_params)
        self.done = False
        self._visited: set[str] = set()

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        while (page := self.fetch()) is not None:
            yield page

    def fetch(self) -> list[dict[str, Any]] | None:
        """The next page of leads, or None after the last; the position only moves on success."""
        if self.done:
            return None
        body = self.client.get(self.url, self.params)
        data = body.get("data")
        page = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
        paging = body.get("paging")
        paging = paging if isinstance(paging, dict) else {}
        cursors = paging.get("cursors")
        cursors = cursors if isinstance(cursors, dict) else {}
        next_url, after = paging.get("next"), cursors.get("after")
        if not page or not next_url:
            self.done = True
        elif isinstance(next_url, str) and _origin(next_url) == _origin(self.first_url):
            self.done = next_url in self._visited
            self._visited.add(next_url)
            token_in_url = "access_token=" in (urlsplit(next_url).query or "")
            self.url, self.params = next_url, (None if token_in_url else {"access_token": self.token})
        elif after:
            self.url, self.params = self.first_url, {**self.first_params, "after": after}
        else:
            self.done = True
        return page


def graph_client(timeout: float) -> GraphClient:
    """The process-wide pooled Graph client (one per worker process, reused across jobs)."""
    return pooled(GraphClient, timeout)


def graph_url(source: SourceConfig) -> str:
    return str(source.option("graph_api_url") or DEFAULT_GRAPH_API_URL).rstrip("/")


def fetch_leadgen(rt: Runtime, event: Event, source: SourceConfig) -> dict[str, Any]:
    """The delivery job's fetcher for ``facebook`` events: the stored raw plus its Graph lead.

    A lead already fetched (an earlier attempt, or a backfill) is not fetched again. A fresh one is
    written back to the event before it is mapped, so a mapping fix replays without the Graph API.
    """
    raw = dict(event.raw or {})
    if isinstance(raw.get("lead"), dict):
        return raw
    webhook = raw.get("webhook")
    webhook = webhook if isinstance(webhook, dict) else {}
    leadgen_id = webhook.get("leadgen_id")
    if not leadgen_id:
        raise PermanentError("the stored event names no leadgen_id to fetch")
    token = token_for(source, webhook.get("page_id"))
    lead = graph_client(rt.config.delivery.timeout_seconds).lead(graph_url(source), str(leadgen_id), token)
    raw["lead"] = lead
    rt.store.update(event.id, raw=raw)
    return raw
