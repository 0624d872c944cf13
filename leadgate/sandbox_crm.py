"""A sandbox ConnectGain CRM: a real loopback HTTP server that speaks the documented ConnectGain API.

It is the CRM ``leadgate dev`` delivers to when no API key is configured, and the fake the test
suite delivers to. Everything lives in memory behind one lock; tests inspect what arrived
(``contacts``, ``deliveries``, ``requests``) and inject faults (error statuses, ``Retry-After``,
latency, dropped connections, seeded error rates) from this process or over ``/_sandbox/*``.

It imitates the contract, not the product: no persistence, no pipelines, no idempotency of its
own (``Idempotency-Key`` is only recorded, so a gateway that sends a lead twice is caught).
Standard library only, and it binds loopback only because the control surface has no auth.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import random
import signal
import socket
import socketserver
import threading
import time
import uuid
from collections import Counter
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

__all__ = ["SandboxCRM", "main"]

BULK_LIMITS = {"/create-leads-bulk": ("leads", 100), "/import-contacts-bulk": ("contacts", 500)}
DEALS_BULK_LIMIT = 100
API_PATHS = frozenset({"/create-lead", "/create-deals-bulk", *BULK_LIMITS})
CONTACT_KEYS = ("first_name", "last_name", "email", "phone")
CONTACT_STRINGS = (*CONTACT_KEYS, "source", "description", "company_id", "company_name", "assignee_id")
CONTACT_LISTS = ("emails", "phones", "tags")
CONTACT_EXTRAS = ("description", "company_id", "company_name", "assignee_id", "opt_in_status")
DEAL_EXTRAS = ("description", "expected_close_date", "probability", "source", "tags", "owner_id", "company_id")
PUBLIC_CONTACT = ("id", "first_name", "last_name", "emails", "phones", "source", "tags", "created_at")
PUBLIC_DEAL = ("id", "title", "value", "currency", "stage")
OUTCOME_COUNTERS = {"created": "new_contacts", "merged": "updated_contacts", "skipped": "skipped_duplicates"}
REQUEST_LOG_LIMIT = 100_000
"""Only the latest requests are kept, so a long benchmark cannot exhaust memory; deliveries are never trimmed."""

Reply = tuple[int, Any, dict[str, str]]
_INVALID = object()


@dataclass
class _Faults:
    """The active fault set; ``count`` is decremented in place as requests consume it."""

    status: int | None = None
    retry_after: float | None = None
    count: int | None = None
    latency: float = 0.0
    drop: bool = False
    error_rate: float | None = None
    paths: list[str] | None = None
    after_commit: bool = False
    seed: int | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _error(message: str) -> dict[str, Any]:
    return {"success": False, "error": message}


def _unique(values: list[Any], fold: bool = False) -> list[str]:
    """Non-empty strings in first-seen order; ``fold`` compares case-insensitively, as e-mail matching does."""
    seen: set[str] = set()
    out = []
    for value in values:
        if isinstance(value, str) and value.strip():
            key = value.strip().lower() if fold else value.strip()
            if key not in seen:
                seen.add(key)
                out.append(value.strip())
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _contact_error(item: Any) -> str | None:
    """Why ``item`` is not an acceptable contact, or None; the checks the real CRM answers 400 for."""
    if not isinstance(item, dict):
        return "Each contact must be a JSON object"
    for key in CONTACT_STRINGS:
        if item.get(key) is not None and not isinstance(item[key], str):
            return f"{key} must be a string"
    for key in CONTACT_LISTS:
        value = item.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return f"{key} must be an array of strings"
    if item.get("custom_fields") is not None and not isinstance(item["custom_fields"], dict):
        return "custom_fields must be an object"
    if not any(isinstance(item.get(key), str) and item[key].strip() for key in CONTACT_KEYS):
        return "At least one of first_name, last_name, email, or phone is required"
    return None


def _deal_error(item: Any, needs_contact: bool) -> str | None:
    """Why ``item`` is not an acceptable deal, or None."""
    if not isinstance(item, dict):
        return "Each deal must be a JSON object"
    if not (isinstance(item.get("title"), str) and item["title"].strip()):
        return "title is required"
    if item.get("value") is not None and not _is_number(item["value"]):
        return "value must be a number"
    if needs_contact and not any(item.get(k) for k in ("contact_id", "contact_email", "contact_phone")):
        return "At least one of contact_id, contact_email, or contact_phone is required"
    return None


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else _INVALID
    except ValueError:
        return _INVALID


class SandboxCRM:
    """An in-memory ConnectGain imitation served over real HTTP on loopback."""

    def __init__(
        self,
        api_keys: tuple[str, ...] = ("cg_sandbox",),
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        seed: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.api_keys = frozenset(api_keys)
        self.host = host
        self.latency = latency
        self.seed = seed
        self.verbose = verbose
        self._port = port
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SandboxCRM:
        """Serve in a background thread; after ``stop()`` this rebinds the same port so clients can reconnect."""
        if self._server is None:
            server = _Server((self.host, self._port), self)
            self._port = server.server_address[1]
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sandbox-crm-{self._port}",
                daemon=True,
            )
            self._server = server
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and cut open keep-alive connections, so a stopped CRM really looks down."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The ``base_url`` to configure; known once the server has been started."""
        if not self._port:
            raise RuntimeError("SandboxCRM has no port yet: call start() first")
        return f"http://{self.host}:{self._port}"

    def __enter__(self) -> SandboxCRM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every contact, deal, request, delivery and fault, and reseed, as if freshly started."""
        with self._lock:
            self._contacts: dict[str, dict[str, Any]] = {}
            self._by_email: dict[str, str] = {}
            self._by_phone: dict[str, str] = {}
            self._deals: list[dict[str, Any]] = []
            self._deliveries: list[dict[str, Any]] = []
            self._requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
            self._faults: _Faults | None = None
            self._fault_rng = random.Random(self.seed)
            self._id_rng = random.Random(self.seed)

    @property
    def contacts(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._contacts.values()))

    @property
    def deals(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._deals)

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """One entry per lead, contact or deal item a create call accepted, merged and skipped ones included."""
        with self._lock:
            return copy.deepcopy(self._deliveries)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """API calls in arrival order (not ``/_sandbox/*``), shallow copies; ``status`` is None when dropped."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

    @property
    def in_flight(self) -> int:
        """API calls received and not yet answered (inside their latency, say): tests wait on it, not on a sleep."""
        with self._lock:
            return self._in_flight

    def deliveries_by_email(self) -> Counter[str]:
        """How often each (lower-cased) e-mail was delivered; phone-only deliveries are not counted."""
        with self._lock:
            return Counter(d["email"].lower() for d in self._deliveries if d["email"])

    # -- faults ----------------------------------------------------------------------------------

    def set_faults(
        self,
        status: int | None = None,
        retry_after: float | None = None,
        count: int | None = None,
        latency: float = 0.0,
        drop: bool = False,
        error_rate: float | None = None,
        paths: list[str] | None = None,
        after_commit: bool = False,
        seed: int | None = None,
    ) -> None:
        """Replace the fault set; ``count`` is how many requests get the error (or the latency, if that is all)."""
        if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code")
        if error_rate is not None and not (_is_number(error_rate) and 0 <= error_rate <= 1):
            raise ValueError("error_rate must be between 0 and 1")
        if count is not None and not (isinstance(count, int) and count >= 1):
            raise ValueError("count must be a positive integer or null")
        for name, value in (("latency", latency), ("retry_after", retry_after)):
            if value is not None and not (_is_number(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number")
        if paths is not None and not (isinstance(paths, list) and all(isinstance(p, str) for p in paths)):
            raise ValueError("paths must be an array of strings")
        if error_rate is not None and status is None and not drop:
            status = 500
        faults = _Faults(status, retry_after, count, latency, bool(drop), error_rate, paths, bool(after_commit), seed)
        with self._lock:
            self._faults = faults
            self._fault_rng = random.Random(self.seed if seed is None else seed)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = None

    @property
    def faults(self) -> dict[str, Any] | None:
        """The active fault set with its remaining ``count``, or None."""
        with self._lock:
            return asdict(self._faults) if self._faults else None

    def _take_fault(self, path: str) -> tuple[float, _Faults | None]:
        """Decide, before any processing, the extra latency and whether this request fails; caller holds the lock."""
        faults = self._faults
        if faults is None or (faults.paths is not None and path not in faults.paths):
            return 0.0, None
        erroring = faults.status is not None or faults.drop
        fires = erroring and (faults.error_rate is None or self._fault_rng.random() < faults.error_rate)
        if faults.count is not None and (fires or not erroring):
            faults.count -= 1
            if faults.count <= 0:
                self._faults = None
        return faults.latency, faults if fires else None

    # -- request handling ------------------------------------------------------------------------

    def _respond(self, method: str, target: str, headers: Any, raw: bytes) -> Reply | None:
        """The whole answer to one request, or None to drop the connection without one."""
        received_at = time.monotonic()
        split = urlsplit(target)
        path = split.path
        if path.startswith("/_sandbox/") or (path == "/" and method == "GET"):
            return self._control(method, path, parse_qs(split.query), raw)
        body = _parse_json(raw)
        with self._lock:
            extra_latency, fault = self._take_fault(path)
            self._in_flight += 1
        try:
            if self.latency + extra_latency > 0:
                time.sleep(self.latency + extra_latency)
            reply: Reply | None = None
            if fault is None or fault.after_commit:
                reply = self._api(method, path, headers, body)
            if fault is not None:
                reply = None if fault.drop else self._fault_reply(fault)
        finally:
            with self._lock:
                self._in_flight -= 1
        masked = {k.lower(): ("***" if k.lower() == "x-api-key" else v) for k, v in headers.items()}
        entry = {
            "path": path,
            "method": method,
            "status": reply[0] if reply else None,
            "headers": masked,
            "body": None if body is _INVALID else body,
            "received_at": received_at,
        }
        with self._lock:
            self._requests.append(entry)
        return reply

    @staticmethod
    def _fault_reply(fault: _Faults) -> Reply:
        status = fault.status or 500
        headers = {}
        if fault.retry_after is not None:
            seconds = fault.retry_after
            headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        return status, _error(f"Sandbox fault: {status} {phrase}"), headers

    def _api(self, method: str, path: str, headers: Any, body: Any) -> Reply:
        """The documented contract, checked in the order the real CRM does: path, method, key, body."""
        if path not in API_PATHS:
            return 404, _error(f"Not found: {path}"), {}
        if method != "POST":
            return 405, _error("Method not allowed. Use POST"), {"Allow": "POST"}
        if headers.get("X-API-Key") not in self.api_keys:
            return 401, _error("Invalid API key"), {}
        if body is _INVALID:
            return 400, _error("Invalid JSON body"), {}
        if not isinstance(body, dict):
            return 400, _error("Request body must be a JSON object"), {}
        if path == "/create-lead":
            return self._create_lead(body, headers.get("Idempotency-Key"))
        if path == "/create-deals-bulk":
            return self._create_deals(body)
        return self._import_contacts(path, body)

    def _create_lead(self, body: dict[str, Any], idempotency_key: str | None) -> Reply:
        error = _contact_error(body)
        deal_in = body.get("deal")
        if error is None and deal_in is not None:
            error = _deal_error(deal_in, needs_contact=False)
            error = f"deal.{error}" if error and isinstance(deal_in, dict) else error
        if error:
            return 400, _error(error), {}
        with self._lock:
            contact, outcome = self._upsert_contact(body)
            data: dict[str, Any] = {"contact": {k: copy.copy(contact.get(k)) for k in PUBLIC_CONTACT}}
            if deal_in is not None:
                deal = self._add_deal(deal_in, contact["id"], {"stage": "new", "currency": "USD"})
                data["deal"] = {k: deal[k] for k in PUBLIC_DEAL}
            data["is_new"] = outcome == "created"
            self._record_delivery("/create-lead", body, contact["id"], outcome, idempotency_key)
        return 201, {"success": True, "message": "Lead created successfully", "data": data}, {}

    def _import_contacts(self, path: str, body: dict[str, Any]) -> Reply:
        key, limit = BULK_LIMITS[path]
        items = body.get(key)
        if not isinstance(items, list) or not items:
            return 400, _error(f"{key} must be a non-empty array"), {}
        if len(items) > limit:
            return 400, _error(f"Maximum {limit} {key} per request, got {len(items)}: split into smaller requests"), {}
        default_tags = body.get("default_tags") or []
        if not (isinstance(default_tags, list) and all(isinstance(t, str) for t in default_tags)):
            return 400, _error("default_tags must be an array of strings"), {}
        default_source = body.get("default_source") or "api"
        summary = dict.fromkeys(("successful", "failed", *OUTCOME_COUNTERS.values()), 0)
        results = []
        with self._lock:
            for index, item in enumerate(items):
                error = _contact_error(item)
                if error:
                    summary["failed"] += 1
                    results.append({"index": index, "success": False, "error": error})
                    continue
                contact, outcome = self._upsert_contact(
                    item, default_source, default_tags, skip_duplicates=body.get("skip_duplicates") is True
                )
                self._record_delivery(path, item, contact["id"], outcome, None)
                summary["successful"] += 1
                summary[OUTCOME_COUNTERS[outcome]] += 1
                results.append(
                    {"index": index, "success": True, "contact_id": contact["id"], "is_new": outcome == "created"}
                )
        return 200, {"success": True, "summary": {"total": len(items), **summary}, "results": results}, {}

    def _create_deals(self, body: dict[str, Any]) -> Reply:
        items = body.get("deals")
        if not isinstance(items, list) or not items:
            return 400, _error("deals must be a non-empty array"), {}
        if len(items) > DEALS_BULK_LIMIT:
            return (
                400,
                _error(f"Maximum {DEALS_BULK_LIMIT} deals per request, got {len(items)}: split into smaller requests"),
                {},
            )
        defaults = {
            "pipeline_id": body.get("default_pipeline_id"),
            "stage": body.get("default_stage") or "new",
            "currency": body.get("default_currency") or "USD",
        }
        summary = dict.fromkeys(("successful", "failed", "new_deals", "skipped_existing", "new_contacts_created"), 0)
        results = []
        with self._lock:
            for index, item in enumerate(items):
                error = _deal_error(item, needs_contact=True)
                contact, is_new_contact = (None, False) if error else self._resolve_deal_contact(item)
                if contact is None:
                    summary["failed"] += 1
                    results.append({"index": index, "success": False, "error": error or "Contact not found"})
                    continue
                title = item["title"].strip().lower()
                existing = body.get("skip_if_exists") is True and next(
                    (d for d in self._deals if d["contact_id"] == contact["id"] and d["title"].lower() == title), None
                )
                deal = existing or self._add_deal(item, contact["id"], defaults)
                summary["successful"] += 1
                summary["skipped_existing" if existing else "new_deals"] += 1
                summary["new_contacts_created"] += is_new_contact
                self._record_delivery(
                    "/create-deals-bulk", item, contact["id"], "created" if not existing else "skipped", None
                )
                results.append(
                    {
                        "index": index,
                        "success": True,
                        "deal_id": deal["id"],
                        "contact_id": contact["id"],
                        "is_new_contact": is_new_contact,
                    }
                )
        return 200, {"success": True, "summary": {"total": len(items), **summary}, "results": results}, {}

    # -- store (callers hold the lock) ------------------------------------------------------------

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _find_contact(self, emails: list[str], phones: list[str]) -> dict[str, Any] | None:
        for email in emails:
            if email.lower() in self._by_email:
                return self._contacts[self._by_email[email.lower()]]
        for phone in phones:
            if phone in self._by_phone:
                return self._contacts[self._by_phone[phone]]
        return None

    def _upsert_contact(
        self,
        item: dict[str, Any],
        default_source: str = "api",
        default_tags: Sequence[str] = (),
        skip_duplicates: bool = False,
    ) -> tuple[dict[str, Any], str]:
        """Create the contact, or merge it into the one sharing an e-mail or phone (the real CRM's duplicate rule)."""
        emails = _unique([item.get("email"), *(item.get("emails") or [])], fold=True)
        phones = _unique([item.get("phone"), *(item.get("phones") or [])])
        tags = _unique([*(item.get("tags") or []), *default_tags])
        contact = self._find_contact(emails, phones)
        if contact is not None and skip_duplicates:
            return contact, "skipped"
        now = _now()
        if contact is None:
            outcome = "created"
            contact = {"id": self._new_id(), "first_name": item.get("first_name"), "last_name": item.get("last_name")}
            contact.update(emails=emails, phones=phones, source=item.get("source") or default_source, tags=tags)
            contact.update(created_at=now, custom_fields=dict(item.get("custom_fields") or {}))
            self._contacts[contact["id"]] = contact
        else:
            outcome = "merged"
            contact["emails"] = _unique(contact["emails"] + emails, fold=True)
            contact["phones"] = _unique(contact["phones"] + phones)
            contact["tags"] = _unique(contact["tags"] + tags)
            contact["custom_fields"].update(item.get("custom_fields") or {})
        for key in ("first_name", "last_name", *CONTACT_EXTRAS):
            if item.get(key) not in (None, ""):
                contact[key] = item[key]
        contact["updated_at"] = now
        for email in emails:
            self._by_email.setdefault(email.lower(), contact["id"])
        for phone in phones:
            self._by_phone.setdefault(phone, contact["id"])
        return contact, outcome

    def _resolve_deal_contact(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
        """The deal's contact by id, then e-mail, then phone; created only when ``create_contact_if_missing``."""
        contact = self._contacts.get(item.get("contact_id") or "")
        emails, phones = _unique([item.get("contact_email")], fold=True), _unique([item.get("contact_phone")])
        contact = contact or self._find_contact(emails, phones)
        if contact is not None or item.get("create_contact_if_missing") is not True or not (emails or phones):
            return contact, False
        seed = {"first_name": item.get("contact_first_name"), "last_name": item.get("contact_last_name")}
        seed.update(email=item.get("contact_email"), phone=item.get("contact_phone"), source=item.get("source"))
        return self._upsert_contact(seed)[0], True

    def _add_deal(self, item: dict[str, Any], contact_id: str, defaults: dict[str, Any]) -> dict[str, Any]:
        deal = {
            "id": self._new_id(),
            "title": item["title"],
            "value": item.get("value") or 0,
            "currency": item.get("currency") or defaults["currency"],
            "stage": item.get("stage") or defaults["stage"],
            "pipeline_id": item.get("pipeline_id") or defaults.get("pipeline_id"),
            "contact_id": contact_id,
            "created_at": _now(),
        }
        deal.update({k: item[k] for k in (*DEAL_EXTRAS, "custom_fields", "products") if k in item})
        self._deals.append(deal)
        return deal

    def _record_delivery(self, path: str, item: dict[str, Any], contact_id: str, outcome: str, key: str | None) -> None:
        email = item.get("email") or item.get("contact_email") or next(iter(item.get("emails") or []), None)
        phone = item.get("phone") or item.get("contact_phone") or next(iter(item.get("phones") or []), None)
        self._deliveries.append(
            {
                "path": path,
                "email": email,
                "phone": phone,
                "payload": item,
                "idempotency_key": key,
                "contact_id": contact_id,
                "outcome": outcome,
            }
        )

    # -- control surface -------------------------------------------------------------------------

    def _control(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> Reply:
        """``/_sandbox/*`` and the index page: no API key, no faults, not logged in ``requests``."""
        if path == "/":
            return 200, self._index_page().encode(), {"Content-Type": "text/html; charset=utf-8"}
        views = {"/_sandbox/contacts": "contacts", "/_sandbox/deals": "deals", "/_sandbox/deliveries": "deliveries"}
        if method == "GET" and path in views:
            return 200, getattr(self, views[path]), {}
        if method == "GET" and path == "/_sandbox/requests":
            limit = query.get("limit", ["0"])[-1]
            if not limit.isdigit():
                return 400, _error("limit must be a non-negative integer"), {}
            entries = self.requests
            return 200, entries[-int(limit) :] if int(limit) else entries, {}
        if path == "/_sandbox/faults" and method in ("GET", "POST", "DELETE"):
            if method == "POST":
                body = _parse_json(raw)
                if not isinstance(body, dict):
                    return 400, _error("Request body must be a JSON object"), {}
                try:
                    self.set_faults(**body)
                except (TypeError, ValueError) as exc:
                    return 400, _error(str(exc)), {}
            elif method == "DELETE":
                self.clear_faults()
            return 200, {"success": True, "faults": self.faults}, {}
        if method == "POST" and path == "/_sandbox/reset":
            self.reset()
            return 200, {"success": True}, {}
        if path in (*views, "/_sandbox/requests", "/_sandbox/reset"):
            return 405, _error("Method not allowed"), {}
        return 404, _error(f"Not found: {path}"), {}

    def _index_page(self) -> str:
        """A page a ``leadgate dev`` user can open to see that leads arrive."""
        with self._lock:
            latest = list(self._contacts.values())[-50:][::-1]
            total, deliveries = len(self._contacts), len(self._deliveries)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    " ".join(filter(None, (c["first_name"], c["last_name"]))),
                    ", ".join(c["emails"]),
                    ", ".join(c["phones"]),
                    c["source"],
                    ", ".join(c["tags"]),
                    c["created_at"],
                )
            )
            + "</tr>"
            for c in latest
        )
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>ConnectGain sandbox</title></head><body>"
            f"<h1>ConnectGain sandbox CRM</h1><p>{total} contacts, {deliveries} deliveries. Latest first:</p>"
            "<table border='1' cellpadding='4'><tr><th>Name</th><th>Emails</th><th>Phones</th><th>Source</th>"
            f"<th>Tags</th><th>Created</th></tr>{rows}</table></body></html>"
        )


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP glue: reads the body, asks the CRM for the reply, writes it (or drops the connection)."""

    protocol_version = "HTTP/1.1"
    server_version = "ConnectGainSandbox/1.0"
    disable_nagle_algorithm = True  # headers and body are two writes; Nagle would stall keep-alive clients
    server: _Server

    def _handle(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding") or not length.isdigit():
            self.close_connection = True
            self._send((411, _error("A valid Content-Length is required"), {}))
            return
        raw = self.rfile.read(int(length))
        reply = self.server.crm._respond(self.command, self.path, self.headers, raw)
        if reply is None:
            self.close_connection = True
            return
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def _send(self, reply: Reply) -> None:
        status, body, headers = reply
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.crm.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    """Tracks open connections so ``stop()`` can cut keep-alive clients off, not just stop accepting."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], crm: SandboxCRM) -> None:
        self.crm = crm
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall start() for seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            for sock in self.connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.crm.verbose:
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox in the foreground until SIGTERM or SIGINT; prints one line ending with its URL."""
    parser = argparse.ArgumentParser(prog="python -m leadgate.sandbox_crm", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8900, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted X-API-Key (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before every API answer")
    parser.add_argument("--seed", type=int, default=None, help="seed for ids and error_rate faults")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    keys = tuple(args.api_keys or ["cg_sandbox"])
    crm = SandboxCRM(keys, port=args.port, latency=args.latency, seed=args.seed, verbose=args.verbose)
    with crm:
        print(f"ConnectGain sandbox CRM listening on {crm.url}", flush=True)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
