"""The sandbox CRM's rules and records: what ConnectGain accepts, and the contacts, deals and deliveries it keeps.

``CrmBook`` answers the four documented create calls (``/create-lead``, ``/import-contacts-bulk``,
``/create-leads-bulk``, ``/create-deals-bulk``) once the request has passed the HTTP checks (path,
method, API key, JSON object body), applying the real CRM's validation and duplicate rules.

It is pure in-memory logic: no HTTP, no sockets, no threads and no lock of its own. It is not
thread-safe; the server holds its one lock around every call into a book and every read of one.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from datetime import timezone
from typing import Any

__all__ = [
    "API_PATHS",
    "BULK_LIMITS",
    "CrmBook",
    "Reply",
    "error_body",
    "is_number",
]

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

Reply = tuple[int, Any, dict[str, str]]
"""An answer as ``(status, JSON-able body or bytes, extra headers)``."""


def error_body(message: str) -> dict[str, Any]:
    """The body ConnectGain answers every error with."""
    return {"success": False, "error": message}


def is_number(value: Any) -> bool:
    """A JSON number: an int or float, but not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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
    if item.get("value") is not None and not is_number(item["value"]):
        return "value must be a number"
    if needs_contact and not any(item.get(k) for k in ("contact_id", "contact_email", "contact_phone")):
        return "At least one of contact_id, contact_email, or contact_phone is required"
    return None


class CrmBook:
    """The CRM's contacts, deals and deliveries, and the create calls that change them; callers hold the lock.

    ``deliveries`` has one entry per lead, contact or deal item a create call accepted, merged and skipped
    ones included. Ids come from a generator seeded with ``seed``, so a seeded sandbox repeats its ids.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.by_email: dict[str, str] = {}
        self.by_phone: dict[str, str] = {}
        self.deals: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self._id_rng = random.Random(seed)

    # -- the create calls ------------------------------------------------------------------------

    def create_lead(self, body: dict[str, Any], idempotency_key: str | None) -> Reply:
        """``POST /create-lead``: one contact, merged by e-mail or phone, and optionally one deal for it."""
        error = _contact_error(body)
        deal_in = body.get("deal")
        if error is None and deal_in is not None:
            error = _deal_error(deal_in, needs_contact=False)
            error = f"deal.{error}" if error and isinstance(deal_in, dict) else error
        if error:
            return 400, error_body(error), {}
        contact, outcome = self._upsert_contact(body)
        data: dict[str, Any] = {"contact": {k: copy.copy(contact.get(k)) for k in PUBLIC_CONTACT}}
        if deal_in is not None:
            deal = self._add_deal(deal_in, contact["id"], {"stage": "new", "currency": "USD"})
            data["deal"] = {k: deal[k] for k in PUBLIC_DEAL}
        data["is_new"] = outcome == "created"
        self._record_delivery("/create-lead", body, contact["id"], outcome, idempotency_key)
        return 201, {"success": True, "message": "Lead created successfully", "data": data}, {}

    def import_contacts(self, path: str, body: dict[str, Any]) -> Reply:
        """``POST /import-contacts-bulk`` and ``/create-leads-bulk`` (a key of ``BULK_LIMITS``): per-item results."""
        key, limit = BULK_LIMITS[path]
        items = body.get(key)
        if not isinstance(items, list) or not items:
            return 400, error_body(f"{key} must be a non-empty array"), {}
        if len(items) > limit:
            return (
                400,
                error_body(f"Maximum {limit} {key} per request, got {len(items)}: split into smaller requests"),
                {},
            )
        default_tags = body.get("default_tags") or []
        if not (isinstance(default_tags, list) and all(isinstance(t, str) for t in default_tags)):
            return 400, error_body("default_tags must be an array of strings"), {}
        default_source = body.get("default_source") or "api"
        summary = dict.fromkeys(("successful", "failed", *OUTCOME_COUNTERS.values()), 0)
        results = []
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

    def create_deals(self, body: dict[str, Any]) -> Reply:
        """``POST /create-deals-bulk``: each deal attached to an existing (or, if asked, a new) contact."""
        items = body.get("deals")
        if not isinstance(items, list) or not items:
            return 400, error_body("deals must be a non-empty array"), {}
        if len(items) > DEALS_BULK_LIMIT:
            return (
                400,
                error_body(
                    f"Maximum {DEALS_BULK_LIMIT} deals per request, got {len(items)}: split into smaller requests"
                ),
                {},
            )
        defaults = {
            "pipeline_id": body.get("default_pipeline_id"),
            "stage": body.get("default_stage") or "new",
            "currency": body.get("default_currency") or "USD",
        }
        summary = dict.fromkeys(("successful", "failed", "new_deals", "skipped_existing", "new_contacts_created"), 0)
        results = []
        for index, item in enumerate(items):
            error = _deal_error(item, needs_contact=True)
            contact, is_new_contact = (None, False) if error else self._resolve_deal_contact(item)
            if contact is None:
                summary["failed"] += 1
                results.append({"index": index, "success": False, "error": error or "Contact not found"})
                continue
            title = item["title"].strip().lower()
            existing = body.get("skip_if_exists") is True and next(
                (d for d in self.deals if d["contact_id"] == contact["id"] and d["title"].lower() == title), None
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

    # -- the store -------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _find_contact(self, emails: list[str], phones: list[str]) -> dict[str, Any] | None:
        for email in emails:
            if email.lower() in self.by_email:
                return self.contacts[self.by_email[email.lower()]]
        for phone in phones:
            if phone in self.by_phone:
                return self.contacts[self.by_phone[phone]]
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
            self.contacts[contact["id"]] = contact
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
            self.by_email.setdefault(email.lower(), contact["id"])
        for phone in phones:
            self.by_phone.setdefault(phone, contact["id"])
        return contact, outcome

    def _resolve_deal_contact(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
        """The deal's contact by id, then e-mail, then phone; created only when ``create_contact_if_missing``."""
        contact = self.contacts.get(item.get("contact_id") or "")
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
        self.deals.append(deal)
        return deal

    def _record_delivery(self, path: str, item: dict[str, Any], contact_id: str, outcome: str, key: str | None) -> None:
        email = item.get("email") or item.get("contact_email") or next(iter(item.get("emails") or []), None)
        phone = item.get("phone") or item.get("contact_phone") or next(iter(item.get("phones") or []), None)
        self.deliveries.append(
            {
                "path": path,
                "email": email,
                "phone": phone,
                "payload": item,
                "idempotency_key": key,
                "contact_id": contact_id,
                "outcome": outcome,
                "received_at": time.time(),  # the speed-to-lead benchmark's finish line
            }
        )
