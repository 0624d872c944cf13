"""A fake Meta Graph API on 127.0.0.1 (real HTTP, stdlib ThreadingHTTPServer), and webhook helpers.

It serves what leadgate reads: ``GET /{version}/{leadgen_id}`` and ``GET /{version}/{form_id}/leads``
(``filtering`` on ``time_created``, ``limit``, ``after`` cursors and ``paging.next`` URLs that carry
the token, as Meta's do), and what its watchdog asks: ``GET /{version}/debug_token`` (validity,
``expires_at``, ``scopes``, ``profile_id``: set with :meth:`FakeGraphAPI.token_info`) and
``GET``/``POST /{version}/{page_id}/subscribed_apps`` (:meth:`FakeGraphAPI.unsubscribe` drops one).
Every request must carry a known ``access_token``; a token can be limited
to some pages, expired (190/463) and made valid again. Faults are queued with :meth:`fail_next`
(any HTTP status, Graph code/subcode, usage headers, a dropped connection, latency). Every request
is recorded in :attr:`requests`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

from tests.support.loopback import LoopbackServer
from tests.support.loopback import QuietHandler

__all__ = [
    "APP_ID",
    "APP_SECRET",
    "FORM_ID",
    "OTHER_PAGE_ID",
    "OTHER_PAGE_TOKEN",
    "PAGE_ID",
    "PAGE_TOKEN",
    "VERIFY_TOKEN",
    "FakeGraphAPI",
    "facebook_config",
    "facebook_env",
    "leadgen_change",
    "notification",
    "post_notification",
    "sign",
]

VERSION = "v21.0"
APP_ID = "424242"
FULL_SCOPES = ("pages_show_list", "leads_retrieval", "pages_manage_metadata", "pages_read_engagement", "ads_management")
APP_SECRET = "fb-app-secret"
VERIFY_TOKEN = "fb-verify-token"
PAGE_TOKEN = "page-token-main"
OTHER_PAGE_TOKEN = "page-token-other"
PAGE_ID = "1001"
OTHER_PAGE_ID = "2002"
FORM_ID = "9001"

FB_SOURCE = """  fb:
    kind: facebook
    app_secret: ${{FB_APP_SECRET}}
    verify_token: ${{FB_VERIFY_TOKEN}}
    access_token: ${{FB_PAGE_TOKEN}}
    page_tokens: {{"OTHER_PAGE_ID": "${{FB_OTHER_PAGE_TOKEN}}"}}
    graph_api_url: GRAPH_URL
    phone_region: US
    tags: [facebook]
    field_map: {{"what_is_your_budget?": custom_fields.budget}}
"""


def facebook_config(base_config: str, graph_url: str) -> str:
    """``base_config`` (a ``make_config`` template) plus the ``fb`` source pointed at ``graph_url``."""
    return base_config + FB_SOURCE.replace("GRAPH_URL", graph_url).replace("OTHER_PAGE_ID", OTHER_PAGE_ID)


def facebook_env(page_token: str = PAGE_TOKEN) -> dict[str, str]:
    """The environment ``facebook_config`` expands; ``page_token`` swaps the main page's token."""
    return {
        "FB_APP_SECRET": APP_SECRET,
        "FB_VERIFY_TOKEN": VERIFY_TOKEN,
        "FB_PAGE_TOKEN": page_token,
        "FB_OTHER_PAGE_TOKEN": OTHER_PAGE_TOKEN,
    }


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def leadgen_change(leadgen_id: Any, page_id: Any = PAGE_ID, form_id: Any = FORM_ID, **extra: Any) -> dict[str, Any]:
    value = {"leadgen_id": leadgen_id, "page_id": page_id, "form_id": form_id, "created_time": 1764324990, **extra}
    return {"field": "leadgen", "value": value}


def notification(*entries: Iterable[dict[str, Any]], page_id: Any = PAGE_ID) -> dict[str, Any]:
    """A Page webhook body: one ``entry`` per iterable of changes."""
    return {
        "object": "page",
        "entry": [{"id": page_id, "time": 1764325000, "changes": list(changes)} for changes in entries],
    }


def post_notification(
    client: Any, data: dict[str, Any] | bytes, source_id: str = "fb", signature: str | None = None
) -> Any:
    """POSTs a webhook body to ``/hooks/<source_id>`` with the Flask test ``client``, signed like Meta does."""
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {"X-Hub-Signature-256": signature if signature is not None else sign(body)}
    return client.post(f"/hooks/{source_id}", data=body, content_type="application/json", headers=headers)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _cursor(lead_id: str) -> str:
    return base64.urlsafe_b64encode(lead_id.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


@dataclass
class Fault:
    """One injected failure, used by the next ``count`` requests whose path and query contain ``path``."""

    status: int = 500
    code: int | None = None
    subcode: int | None = None
    message: str = "An unexpected error has occurred. Please retry your request later."
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    drop: bool = False
    latency: float = 0.0
    path: str = ""
    count: int = 1


@dataclass
class TokenRule:
    valid: bool = True
    pages: frozenset[str] | None = None
    code: int = 190
    subcode: int | None = None
    message: str = ""
    expires_at: int = 0
    """What ``debug_token`` says: 0 is never (a long-lived page token)."""
    scopes: tuple[str, ...] = FULL_SCOPES


class FakeGraphAPI:
    """The fake; use as a context manager. ``url`` is the ``graph_api_url`` to configure."""

    def __init__(self, version: str = VERSION) -> None:
        self.version = version
        self.leads: dict[str, dict[str, Any]] = {}
        self.lead_pages: dict[str, str] = {}
        self.lead_times: dict[str, int] = {}
        self.forms: dict[str, list[str]] = {}
        self.form_pages: dict[str, str] = {}
        self.tokens: dict[str, TokenRule] = {
            PAGE_TOKEN: TokenRule(pages=frozenset({PAGE_ID})),
            OTHER_PAGE_TOKEN: TokenRule(pages=frozenset({OTHER_PAGE_ID})),
        }
        self.faults: list[Fault] = []
        self.subscriptions: dict[str, dict[str, list[str]]] = {
            PAGE_ID: {APP_ID: ["leadgen"]},
            OTHER_PAGE_ID: {APP_ID: ["leadgen"]},
        }
        """Page -> app id -> its subscribed fields (``subscribed_apps``)."""
        self.requests: list[dict[str, Any]] = []
        self.next_base: str | None = None
        """When set, ``paging.next`` URLs point there instead of at this server."""
        self._lock = threading.Lock()
        self._ids = 5_000_000_000_000_000
        self._server = LoopbackServer(_Handler, self)

    # lifecycle
    def start(self) -> FakeGraphAPI:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeGraphAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        return self._server.url

    @property
    def url(self) -> str:
        return f"{self.root}/{self.version}"

    # state
    def add_lead(
        self,
        field_data: dict[str, Any] | list[dict[str, Any]] | None = None,
        *,
        lead_id: str | None = None,
        form_id: str = FORM_ID,
        page_id: str = PAGE_ID,
        created: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Adds a lead (newest first in its form) and returns the full Graph object."""
        with self._lock:
            if lead_id is None:
                self._ids += 1
                lead_id = str(self._ids)
            created = int(time.time()) if created is None else created
            if isinstance(field_data, dict):
                field_data = [
                    {"name": name, "values": values if isinstance(values, list) else [values]}
                    for name, values in field_data.items()
                ]
            lead = {
                "id": lead_id,
                "created_time": iso(created),
                "field_data": field_data or [],
                "form_id": form_id,
                "is_organic": False,
                "platform": "fb",
                "ad_id": "3001",
                "ad_name": "Winter promo",
                "adset_id": "3002",
                "campaign_id": "3003",
                "campaign_name": "Q4 leads",
                "custom_disclaimer_responses": [],
                **extra,
            }
            self.leads[lead_id] = lead
            self.lead_pages[lead_id] = page_id
            self.lead_times[lead_id] = created
            self.forms.setdefault(form_id, []).insert(0, lead_id)
            self.form_pages[form_id] = page_id
            return dict(lead)

    def add_lead_object(self, lead: dict[str, Any], page_id: str) -> None:
        """Serves a lead object exactly as given (a published sample), for ``page_id``."""
        with self._lock:
            self.leads[str(lead["id"])] = dict(lead)
            self.lead_pages[str(lead["id"])] = page_id

    def allow_token(self, token: str, pages: Iterable[str] | None = (PAGE_ID,)) -> None:
        """Makes ``token`` valid (for ``pages``; None means every page)."""
        with self._lock:
            self.tokens[token] = TokenRule(pages=frozenset(pages) if pages is not None else None)

    def expire_token(self, token: str, subcode: int = 463, code: int = 190) -> None:
        """From now on ``token`` gets a Graph token error (default: 190/463, session expired)."""
        message = {463: "Error validating access token: Session has expired on Friday, 20-Nov-26."}.get(
            subcode, "Error validating access token."
        )
        with self._lock:
            self.tokens[token] = TokenRule(valid=False, code=code, subcode=subcode, message=message)

    def token_info(self, token: str, *, expires_at: int | None = None, scopes: Iterable[str] | None = None) -> None:
        """Sets what ``debug_token`` tells of ``token`` (a valid one): its expiry and its granted scopes."""
        with self._lock:
            rule = self.tokens[token]
            if expires_at is not None:
                rule.expires_at = expires_at
            if scopes is not None:
                rule.scopes = tuple(scopes)

    def unsubscribe(self, page_id: str = PAGE_ID) -> None:
        """The app stops getting ``page_id``'s ``leadgen`` changes (what a lapsed subscription looks like)."""
        with self._lock:
            self.subscriptions[page_id] = {}

    def fail_next(self, count: int = 1, **kwargs: Any) -> None:
        """Queues a :class:`Fault` for the next ``count`` matching requests."""
        with self._lock:
            self.faults.append(Fault(count=count, **kwargs))

    def requests_to(self, fragment: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if fragment in r["path"]]

    def lead_reads(self) -> list[dict[str, Any]]:
        """Reads of one lead (``GET /<version>/<leadgen id>``), not a worker's token and subscription checks."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r["method"] == "GET" and r["path"].count("/") == 2 and not r["path"].endswith("/debug_token")
            ]

    # serving
    def _take_fault(self, target: str) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.path in target:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def handle(self, method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append({"method": method, "path": parts.path, "query": query})
            fault = self._take_fault(target)
        if fault is not None:
            time.sleep(fault.latency)
            if fault.drop:
                return None
            if fault.body is not None or (fault.code is None and fault.status >= 400):
                raw = fault.body if fault.body is not None else "<html>upstream failure</html>"
                return _answer(fault.status, {}, {"Content-Type": "text/html", **fault.headers}, raw)
            if fault.code is not None:
                error = self._error_body(fault.code, fault.subcode, fault.message)
                return _answer(fault.status, error, fault.headers)
        segments = [s for s in parts.path.split("/") if s]
        if not segments or segments[0] != self.version:
            return _answer(400, self._error_body(2635, None, "You are calling a deprecated version of the Graph API."))
        token = query.get("access_token")
        if not token:
            return _answer(400, self._error_body(104, None, "An access token is required to request this resource."))
        rule = self.tokens.get(token)
        if rule is None:
            return _answer(400, self._error_body(190, None, "Invalid OAuth access token - Cannot parse access token"))
        if not rule.valid:
            return _answer(400, self._error_body(rule.code, rule.subcode, rule.message))
        with self._lock:
            if segments[1:] == ["debug_token"]:
                return self._debug_token(query, rule)
            if len(segments) == 3 and segments[2] == "subscribed_apps":
                return self._subscribed_apps(method, segments[1], query, rule)
            if method != "GET":
                return _answer(400, self._error_body(100, None, "Unsupported post request."))
            if len(segments) == 2:
                return self._lead(segments[1], query, rule)
            if len(segments) == 3 and segments[2] == "leads":
                return self._form_leads(segments[1], query, rule)
        return _answer(400, self._missing(parts.path))

    def _error_body(self, code: int | None, subcode: int | None, message: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCfake"}
        if subcode is not None:
            error["error_subcode"] = subcode
        return {"error": error}

    def _missing(self, object_id: str) -> dict[str, Any]:
        message = (
            f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation."
        )
        return self._error_body(100, 33, message)

    def _debug_token(self, query: dict[str, str], caller: TokenRule) -> tuple[int, dict[str, str], bytes]:
        rule = self.tokens.get(query.get("input_token", ""))
        if rule is None or not rule.valid:
            error = {"code": 190, "message": (rule.message if rule else "") or "Invalid OAuth access token."}
            return _answer(200, {"data": {"app_id": APP_ID, "is_valid": False, "error": error, "scopes": []}})
        data: dict[str, Any] = {
            "app_id": APP_ID,
            "type": "PAGE",
            "application": "leadgate test app",
            "expires_at": rule.expires_at,
            "is_valid": True,
            "issued_at": int(time.time()) - 86400,
            "scopes": list(rule.scopes),
            "user_id": "7700",
        }
        if rule.pages is not None and len(rule.pages) == 1:
            data["profile_id"] = next(iter(rule.pages))
        return _answer(200, {"data": data})

    def _subscribed_apps(
        self, method: str, page_id: str, query: dict[str, str], rule: TokenRule
    ) -> tuple[int, dict[str, str], bytes]:
        if rule.pages is not None and page_id not in rule.pages:
            return _answer(400, self._missing(page_id))
        apps = self.subscriptions.setdefault(page_id, {})
        if method == "POST":
            wanted = [f for f in query.get("subscribed_fields", "").split(",") if f]
            if not wanted:
                return _answer(400, self._error_body(100, None, "(#100) The parameter subscribed_fields is required"))
            if "pages_manage_metadata" not in rule.scopes:
                return _answer(403, self._error_body(200, None, "(#200) Requires pages_manage_metadata permission"))
            apps[APP_ID] = sorted(set(apps.get(APP_ID, [])) | set(wanted))
            return _answer(200, {"success": True})
        data = [{"id": app, "name": "leadgate test app", "subscribed_fields": f} for app, f in apps.items() if f]
        return _answer(200, {"data": data})

    def _render(self, lead_id: str, query: dict[str, str]) -> dict[str, Any]:
        wanted = {name.strip() for name in query.get("fields", "").split(",") if name.strip()} | {"id"}
        return {key: value for key, value in self.leads[lead_id].items() if key in wanted}

    def _lead(self, lead_id: str, query: dict[str, str], rule: TokenRule) -> tuple[int, dict[str, str], bytes]:
        if lead_id not in self.leads or (rule.pages is not None and self.lead_pages[lead_id] not in rule.pages):
            return _answer(400, self._missing(lead_id))
        return _answer(200, self._render(lead_id, query))

    def _form_leads(self, form_id: str, query: dict[str, str], rule: TokenRule) -> tuple[int, dict[str, str], bytes]:
        if form_id not in self.forms or (rule.pages is not None and self.form_pages[form_id] not in rule.pages):
            return _answer(400, self._missing(form_id))
        ids = list(self.forms[form_id])
        for condition in json.loads(query.get("filtering") or "[]"):
            if condition.get("field") != "time_created":
                return _answer(400, self._error_body(100, None, f"Invalid filtering field {condition.get('field')}"))
            value = int(condition["value"])
            if condition["operator"] == "GREATER_THAN":
                ids = [i for i in ids if self.lead_times[i] > value]
            elif condition["operator"] == "LESS_THAN":
                ids = [i for i in ids if self.lead_times[i] < value]
            else:
                return _answer(400, self._error_body(100, None, f"Invalid operator {condition['operator']}"))
        limit = min(int(query.get("limit") or 25), 500)
        start = 0
        if query.get("after"):
            after = _uncursor(query["after"])
            start = ids.index(after) + 1 if after in ids else len(ids)
        page = ids[start : start + limit]
        body: dict[str, Any] = {"data": [self._render(i, query) for i in page]}
        if page:
            body["paging"] = {"cursors": {"before": _cursor(page[0]), "after": _cursor(page[-1])}}
            if start + limit < len(ids):
                base = self.next_base or self.url
                next_query = {**query, "after": _cursor(page[-1])}
                body["paging"]["next"] = f"{base}/{form_id}/leads?{urlencode(next_query)}"
        return _answer(200, body)


def _answer(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None, raw: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    payload = raw.encode() if raw is not None else json.dumps(body).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, payload


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)  # Graph takes its parameters in the query string here
        self._handle()

    def _handle(self) -> None:
        answer = self.server.owner.handle(self.command, self.path)
        if answer is None:
            self.close_connection = True
            return
        status, headers, payload = answer
        self.answer(status, payload, headers)
