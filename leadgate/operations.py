"""What an operator does to events: replay, correct and replay, resume a paused destination.

A replay re-normalizes the stored raw event with the *current* config (so a fixed
``field_map`` or a new API key takes effect) and queues it with a fresh attempt budget. An
edit (:func:`edit_and_replay`) instead corrects the lead's fields by hand, for a lead no
config fix can save (a typo in an address); the raw event is kept as it came, and a later
plain replay re-normalizes it again (the edit is then not re-applied). Both are written to
the event's operator log (who, when, which fields; values masked), and edits are logged with
their values masked. The source's kind comes from the config's registry (``Config.kinds``),
so the core needs no adapter; the field corrections are the caller's :class:`LeadCorrector`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

from leadgate import defaults
from leadgate.config import SourceConfig
from leadgate.events import PARKED
from leadgate.events import Event
from leadgate.history import OPERATOR_LOG_FIELD
from leadgate.history import operator_log
from leadgate.intake import is_batchable
from leadgate.model import Unprocessable
from leadgate.redaction import mask_email
from leadgate.redaction import mask_phone
from leadgate.runtime import Runtime

__all__ = [
    "EDITABLE",
    "EDITABLE_FIELDS",
    "REPLAYABLE",
    "EditResult",
    "LeadCorrector",
    "ReplayResult",
    "edit_and_replay",
    "lead_to_edit",
    "mask_field",
    "replay_event",
    "requeue",
    "resume_destination",
]

log = logging.getLogger(__name__)

REPLAYABLE = frozenset({"dead", "rejected", "queued", "retrying", "delivering"})
"""Statuses a replay acts on without ``force``; parked statuses are added by the kinds that park."""

EDITABLE = frozenset({"dead", "rejected", *PARKED})
"""Statuses whose lead an operator may correct: it did not reach ConnectGain and nothing is on its way."""

EDITABLE_FIELDS = ("first_name", "last_name", "email", "phone", "company_name", "description")
"""The lead fields the edit form offers; an empty value removes the field."""


@dataclass(frozen=True)
class ReplayResult:
    event_id: str
    ok: bool
    message: str
    status: str


@dataclass(frozen=True)
class EditResult:
    """What :func:`edit_and_replay` did; ``errors`` names each field it could not take."""

    event_id: str
    ok: bool
    message: str
    status: str
    changed: tuple[str, ...] = ()
    errors: Mapping[str, str] = field(default_factory=dict)


class LeadCorrector(Protocol):
    """Builds the corrected ConnectGain payload: ``lead`` (None when none could be built) with ``changes``.

    Raises:
        Unprocessable: naming each field whose new value is not valid, or when no contact field is left.
    """

    def __call__(
        self, lead: Mapping[str, Any] | None, changes: Mapping[str, str], source: SourceConfig, raw: Any
    ) -> dict[str, Any]: ...


def mask_field(name: str, value: Any) -> Any:
    """A lead value as the operator log and the logs keep it: emails and phones masked, other text shortened."""
    if value is None or value == "":
        return None
    text = str(value)
    if name == "email":
        return mask_email(text)
    if name == "phone":
        masked = mask_phone(text)
        return masked if masked != text else f"{text[:2]}***"
    if name == "description":
        return f"[{len(text)} characters]"
    return f"{text[:1]}***"


def record(rt: Runtime, event_id: str, entry: Mapping[str, Any]) -> None:
    """Appends ``entry`` to the event's operator log (the newest ``OPERATOR_LOG_ENTRIES`` are kept)."""
    event = rt.store.get(event_id)
    entries = operator_log(event) if event else []
    entries = [*entries, dict(entry)][-defaults.OPERATOR_LOG_ENTRIES :]
    rt.store.update(event_id, **{OPERATOR_LOG_FIELD: json.dumps(entries, ensure_ascii=False)})


def requeue(rt: Runtime, event_id: str, fields: dict[str, Any]) -> None:
    """Queues an event again now (its delivery job is created by the dispatcher it wakes)."""
    rt.store.requeue(event_id, fields=fields)


def _is_parked(rt: Runtime, event_id: str) -> bool:
    return rt.store.redis.zscore(rt.store.parked_key, event_id) is not None


def _source_and_kind(rt: Runtime, event: Event) -> tuple[SourceConfig | None, Any]:
    """The event's source as configured now, and its kind (None for either when no longer configured)."""
    source = rt.config.sources.get(event.source)
    return source, rt.config.kinds.get(source.kind) if source else None


def _expired_message(rt: Runtime) -> str:
    days = rt.config.payload_retention_days
    return f"its payloads (the raw event a replay re-reads) expired: payload_retention_days is {days}"


def replay_event(rt: Runtime, event_id: str, *, force: bool = False, by: str = "operator") -> ReplayResult:
    """Re-normalizes and re-queues one event; refuses delivered events unless ``force``.

    ``by`` says who asked (the dashboard, the admin API, the CLI), for the event's operator log.
    """
    event = rt.store.get(event_id)
    if event is None:
        return ReplayResult(event_id, False, "no such event", "missing")
    parked = _is_parked(rt, event_id)
    if event.status not in REPLAYABLE and not parked and not force:
        return ReplayResult(event_id, False, f"event is {event.status}; use force to send it again", event.status)
    if not event.has_payloads:
        return ReplayResult(event_id, False, _expired_message(rt), event.status)
    source, adapter = _source_and_kind(rt, event)
    if source is None or adapter is None:
        return ReplayResult(event_id, False, f"source {event.source!r} is not configured", event.status)
    lead = None
    if adapter.NORMALIZE_ON_RECEIVE:
        try:
            lead = adapter.normalize(event.raw, source)
        except Unprocessable as err:
            rt.store.update(event_id, last_error=f"replay: {err.message}: {err.errors}")
            return ReplayResult(event_id, False, f"{err.message}: {err.errors}", event.status)
    fields = {"lead": lead, "batchable": is_batchable(lead), "destination": source.destination, "last_error": ""}
    record(rt, event_id, {"action": "replay", "at": time.time(), "by": by, "from_status": event.status})
    requeue(rt, event_id, fields)
    return ReplayResult(event_id, True, "queued", "queued")


def lead_to_edit(rt: Runtime, event: Event) -> dict[str, Any] | None:
    """The lead an edit of ``event`` starts from (what its form shows); None when none can be built."""
    source = rt.config.sources.get(event.source)
    adapter = rt.config.kinds.get(source.kind) if source else None
    if source is None or adapter is None or not event.has_payloads:
        return None
    return _base_lead(event, source, adapter)


def _base_lead(event: Event, source: SourceConfig, adapter: Any) -> dict[str, Any] | None:
    """The lead an edit starts from: the raw event normalized with today's config, else the stored lead."""
    if adapter.NORMALIZE_ON_RECEIVE:
        try:
            return dict(adapter.normalize(event.raw, source))
        except Unprocessable:
            pass
    return dict(event.lead) if isinstance(event.lead, Mapping) else None


def edit_and_replay(
    rt: Runtime,
    event_id: str,
    changes: Mapping[str, str],
    *,
    by: str,
    correct: LeadCorrector,
) -> EditResult:
    """Corrects a rejected, dead or parked lead's fields and queues the corrected lead for delivery.

    ``changes`` maps :data:`EDITABLE_FIELDS` to their new text ('' removes one). The raw event
    is left as it came; the corrected lead replaces the stored one; the operator log records
    who changed which fields, old and new values masked.
    """
    event = rt.store.get(event_id)
    if event is None:
        return EditResult(event_id, False, "no such event", "missing")
    if event.status not in EDITABLE and not _is_parked(rt, event_id):
        message = f"event is {event.status}: only a rejected, dead or parked lead can be edited"
        return EditResult(event_id, False, message, event.status)
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        errors = {name: f"not an editable field (one of {', '.join(EDITABLE_FIELDS)})" for name in unknown}
        return EditResult(event_id, False, "unknown fields", event.status, errors=errors)
    if not event.has_payloads:
        return EditResult(event_id, False, _expired_message(rt), event.status)
    source, adapter = _source_and_kind(rt, event)
    if source is None or adapter is None:
        return EditResult(event_id, False, f"source {event.source!r} is not configured", event.status)
    base = _base_lead(event, source, adapter)
    try:
        lead = correct(base, changes, source, event.raw)
    except Unprocessable as err:
        errors = {name: str(text) for name, text in err.errors.items()}
        return EditResult(event_id, False, err.message, event.status, errors=errors)
    before = base or {}
    changed = tuple(name for name in EDITABLE_FIELDS if name in changes and before.get(name) != lead.get(name))
    if not changed and base is not None:
        return EditResult(event_id, False, "nothing changed: use replay to send it as it is", event.status)
    diff = [{"field": n, "old": mask_field(n, before.get(n)), "new": mask_field(n, lead.get(n))} for n in changed]
    record(
        rt,
        event_id,
        {
            "action": "edit",
            "at": time.time(),
            "by": by,
            "from_status": event.status,
            "fields": list(changed),
            "changes": diff,
        },
    )
    log.info("lead edited and queued", extra={"kind": "operator", "event_id": event_id, "by": by, "changes": diff})
    requeue(
        rt,
        event_id,
        {"lead": lead, "batchable": is_batchable(lead), "destination": source.destination, "last_error": ""},
    )
    return EditResult(event_id, True, "queued", "queued", changed=changed)


def resume_destination(rt: Runtime, destination: str, *, by: str = "operator") -> int:
    """Un-pauses a destination and queues every lead that waited for it; returns how many."""
    rt.redis.hdel(rt.store.paused_key, destination)
    waiting = [e for e in rt.store.parked() if e.status == "paused" and e.destination == destination]
    for event in waiting:
        record(rt, event.id, {"action": "resume", "at": time.time(), "by": by, "from_status": event.status})
        requeue(rt, event.id, {"last_error": ""})
    return len(waiting)
