"""Reading the event history for the admin API and the dashboard: search, counters, payload diffs.

Everything here only reads the event store; replays, edits and purges stay in
:mod:`leadgate.operations` and :class:`EventStore`. There is no search index: a query
walks the time index newest first and stops after ``SCAN_LIMIT`` events, handing back
a cursor to go on from, so one request stays cheap however long the history is. Totals
and page numbers (:func:`page_map`) come from the same walk, bounded the same way.

An event's *operator log* (replays and edits: who, when, which fields) is kept in its
summary hash as ``operator_log``, already masked, so it may outlive the payloads.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadgate.events import PARKED
from leadgate.events import Event
from leadgate.events import EventStore
from leadgate.payloads import decode_json
from leadgate.runtime import Runtime

__all__ = [
    "COUNTER_WINDOW_SECONDS",
    "OPERATOR_LOG_FIELD",
    "SCAN_LIMIT",
    "TILES",
    "CursorError",
    "EventPage",
    "PageMap",
    "contact_from_raw",
    "contact_of",
    "contacts_for",
    "decode_cursor",
    "encode_cursor",
    "find_events",
    "flatten",
    "matcher_for",
    "operator_log",
    "page_map",
    "payload_diff",
    "source_counters",
    "tile_of",
    "timeline",
]

SCAN_LIMIT = 5000
"""Most events one search request reads before it answers with what it found and a cursor."""

COUNTER_WINDOW_SECONDS = 86400
"""The per-source counters cover the last 24 hours."""

MIN_PHONE_DIGITS = 5
"""A query with at least this many digits and no letters is matched as a phone number."""


OPERATOR_LOG_FIELD = "operator_log"
"""The event hash field holding its operator log (a JSON list, values masked)."""

TILES: dict[str, tuple[str, ...]] = {
    "delivered": ("delivered",),
    "in_flight": ("queued", "delivering", "retrying"),
    "parked": tuple(sorted(PARKED)),
    "failed": ("dead", "rejected"),
    "skipped": ("spam", "duplicate", "ignored", "purged"),
}
"""How a source's tiles split what it received: every status in exactly one tile, so they add up."""

OTHER_TILE = "other"
"""Where a status no tile names would go (none today; it keeps the sum right if one is added)."""

CONTACT_KEYS = {
    "email": ("email", "e-mail", "mail"),
    "phone": ("phone", "tel", "mobile"),
    "name": ("full_name", "fullname", "name"),
}
"""Raw field names (their last path segment, lower-cased, contains one) read as a contact, for events with no lead."""

EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class CursorError(ValueError):
    """A ``cursor`` that this module did not hand out."""


@dataclass(frozen=True)
class EventPage:
    """One page of a history query; ``next_cursor`` is None when nothing older matches."""

    events: list[Event]
    next_cursor: str | None


def encode_cursor(received_at: float, event_id: str) -> str:
    """An opaque cursor for "events older than this one" (exact even for equal timestamps)."""
    return base64.urlsafe_b64encode(f"{received_at!r}|{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Raises :class:`CursorError` for anything :func:`encode_cursor` did not produce."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score, event_id = text.split("|", 1)
        value = float(score)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorError("not a cursor this server handed out") from None
    if not event_id.startswith("ev_") or value != value:  # NaN never compares equal
        raise CursorError("not a cursor this server handed out")
    return value, event_id


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaves of a JSON tree as ``(path, value)``; form-style ``[[name, value], ...]`` lists become names."""
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for key, item in value.items():
            out.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        if value and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in value):
            return [leaf for name, item in value for leaf in flatten(item, f"{prefix}.{name}" if prefix else name)]
        return [leaf for index, item in enumerate(value) for leaf in flatten(item, f"{prefix}[{index}]")]
    return [(prefix, value)]


def _form_fields(raw: Any) -> Any:
    """The form kind stores ``{"fields": [[name, value], ...]}``: show those names without the wrapper."""
    if isinstance(raw, Mapping) and set(raw) == {"fields"} and isinstance(raw["fields"], list):
        return raw["fields"]
    return raw


def contact_of(lead: Any) -> dict[str, str | None]:
    """Who a normalized lead is, for lists: name, email and phone (None when unknown)."""
    lead = lead if isinstance(lead, Mapping) else {}
    name = " ".join(str(lead[k]) for k in ("first_name", "last_name") if lead.get(k)) or None
    return {"name": name, "email": lead.get("email") or None, "phone": lead.get("phone") or None}


def _leaf_name(path: str) -> str:
    return re.split(r"[.\[]", path)[-1].strip().lower() if path else ""


def contact_from_raw(raw: Any) -> dict[str, str | None]:
    """Who a raw event names, when it has no lead (spam, rejected, not yet normalized): a best guess.

    Fields are read by name (``email``, ``phone``, ``name`` ...); an address-shaped value anywhere
    counts as the email. Lists only: nothing is validated or sent.
    """
    found: dict[str, str | None] = {"name": None, "email": None, "phone": None}
    first_last: dict[str, str] = {}
    for path, value in flatten(_form_fields(raw)):
        if not isinstance(value, str) or not value.strip():
            continue
        name, text = _leaf_name(path), value.strip()
        if name in ("first_name", "firstname", "last_name", "lastname"):
            first_last.setdefault("first" if name.startswith("first") else "last", text)
            continue
        for role, keys in CONTACT_KEYS.items():
            if found[role] is None and any(key in name for key in keys):
                found[role] = text
                break
        else:
            if found["email"] is None and EMAIL_LIKE.fullmatch(text):
                found["email"] = text
    if found["name"] is None and first_last:
        found["name"] = " ".join(first_last[k] for k in ("first", "last") if k in first_last)
    return found


def contacts_for(store: EventStore, events: list[Event]) -> dict[str, dict[str, str | None]]:
    """Each event's contact for a list: its lead's, a duplicate's original's, else what its raw event names."""
    originals_wanted = {e.duplicate_of for e in events if e.duplicate_of and not e.lead}
    originals = {e.id: e for e in store.get_many(sorted(originals_wanted))} if originals_wanted else {}
    out: dict[str, dict[str, str | None]] = {}
    for event in events:
        contact = contact_of(event.lead)
        if not any(contact.values()) and event.duplicate_of in originals:
            original = originals[event.duplicate_of]
            contact = contact_of(original.lead) if original.lead else contact_from_raw(original.raw)
        if not any(contact.values()):
            contact = contact_from_raw(event.raw)
        out[event.id] = contact
    return out


def operator_log(event: Event) -> list[dict[str, Any]]:
    """The event's replays and edits, oldest first (masked when written)."""
    text = event.extra.get(OPERATOR_LOG_FIELD)
    if not text:
        return []
    try:
        entries = decode_json(text.encode())
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def timeline(attempts: list[dict[str, Any]], log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attempts numbered 1..n over the whole history, with the operator's replays and edits between them.

    Each entry has ``entry``: ``"attempt"`` (the stored attempt plus ``number``, its ``run`` and
    ``replay``: true for the first attempt after a replay) or ``"operator"`` (a log entry). A
    delivery attempt's own ``n`` restarts at 1 when an event is replayed (a fresh attempt budget),
    so a run also starts where ``n`` stops growing: events replayed before the log existed read right.
    """
    actions = sorted(log, key=lambda e: float(e.get("at") or 0))
    entries: list[dict[str, Any]] = []
    pending = 0
    previous_n = 0
    run = 0
    for number, attempt in enumerate(attempts, start=1):
        at = float(attempt.get("at") or 0)
        before = []
        while pending < len(actions) and float(actions[pending].get("at") or 0) <= at:
            before.append(actions[pending])
            pending += 1
        n = int(attempt.get("n") or 0)
        replay = any(a.get("action") in ("replay", "edit") for a in before) or (number > 1 and n <= previous_n)
        if replay or number == 1:
            run += 1
        entries.extend({"entry": "operator", **action} for action in before)
        entries.append({**attempt, "entry": "attempt", "number": number, "run": run, "replay": replay})
        previous_n = n
    entries.extend({"entry": "operator", **action} for action in actions[pending:])
    return entries


def tile_of(status: str) -> str:
    return next((tile for tile, statuses in TILES.items() if status in statuses), OTHER_TILE)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _search_texts(event: Event) -> Iterator[str]:
    """The lead's contact fields, then every scalar of the raw inbound event (rejected events have no lead)."""
    lead = event.lead if isinstance(event.lead, Mapping) else {}
    for name in ("email", "phone", "first_name", "last_name", "company_name"):
        if lead.get(name):
            yield str(lead[name])
    for name in ("emails", "phones"):
        yield from (str(v) for v in lead.get(name) or [])
    contact = contact_of(lead)
    if contact["name"]:
        yield contact["name"]
    for _, value in flatten(event.raw):
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            yield str(value)


def matcher_for(query: str) -> Callable[[Event], bool]:
    """A predicate for ``q``: digits compare as phone numbers, anything else as case-insensitive text."""
    needle = query.strip().lower()
    digits = _digits(needle)
    phone_like = len(digits) >= MIN_PHONE_DIGITS and not re.search(r"[a-z@]", needle)

    def matches(event: Event) -> bool:
        for text in _search_texts(event):
            if phone_like:
                if digits in _digits(text):
                    return True
            elif needle in text.lower():
                return True
        return False

    return matches


def find_events(
    store: EventStore,
    *,
    source: str | None = None,
    status: str | None = None,
    query: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    scan_limit: int = SCAN_LIMIT,
) -> EventPage:
    """Newest-first events matching the filters, ``limit`` at a time.

    Raises :class:`CursorError` for a bad ``cursor``. When ``scan_limit`` events were
    read without filling the page, the page is returned short with a cursor, so the
    caller can continue the search where it stopped.
    """
    after = decode_cursor(cursor) if cursor else None
    matches = matcher_for(query) if query and query.strip() else None
    found: list[Event] = []
    position: tuple[float, str] | None = None
    scanned = 0
    for received_at, event in store.iter_index(source, after=after):
        scanned += 1
        if (status is None or event.status == status) and (matches is None or matches(event)):
            if position is not None and len(found) == limit:
                return EventPage(found, encode_cursor(*position))  # one more match exists: offer the next page
            found.append(event)
            position = (received_at, event.id)
        if scanned >= scan_limit:
            # out of budget: resume after the last event read, matched or not
            return EventPage(found, encode_cursor(received_at, event.id))
    return EventPage(found, None)


def tiles_for(counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` by status summed into :data:`TILES` (plus ``other`` when a status fits none): they add up."""
    tiles = dict.fromkeys([*TILES, OTHER_TILE], 0)
    for status, count in counts.items():
        tiles[tile_of(status)] += count
    return tiles


@dataclass(frozen=True)
class PageMap:
    """Where each page of a history query starts, and how many events match.

    ``cursors[k]`` opens page ``k + 1`` (None: the first page). ``complete`` is False when the
    count stopped after ``scan_limit`` events: ``total`` is then a lower bound, and pages past the
    last counted one are reached with "older" from there.
    """

    total: int
    complete: bool
    cursors: list[str | None]

    def page_of(self, cursor: str | None) -> int | None:
        """The 1-based number of the page ``cursor`` opens, or None when it is not a page start."""
        try:
            return self.cursors.index(cursor) + 1
        except ValueError:
            return None


def page_map(
    store: EventStore,
    *,
    source: str | None = None,
    status: str | None = None,
    query: str | None = None,
    limit: int = 50,
    scan_limit: int = SCAN_LIMIT,
) -> PageMap:
    """Counts what :func:`find_events` would page through, noting each page's cursor on the way.

    A page's cursor is the position of the last match of the page before, exactly what
    :func:`find_events` hands out, so page *k* here and "older" *k - 1* times agree.
    """
    matches = matcher_for(query) if query and query.strip() else None
    cursors: list[str | None] = [None]
    total = 0
    scanned = 0
    last: tuple[float, str] = (0.0, "")
    for received_at, event in store.iter_index(source):
        scanned += 1
        if (status is None or event.status == status) and (matches is None or matches(event)):
            if total and total % limit == 0:
                cursors.append(encode_cursor(*last))
            total += 1
            last = (received_at, event.id)
        if scanned >= scan_limit:
            return PageMap(total, False, cursors)
    return PageMap(total, True, cursors)


def source_counters(rt: Runtime, now: float | None = None) -> list[dict[str, Any]]:
    """Per configured source: events of the last 24 h by status, plus its waiting dead letters and parked events."""
    since = (time.time() if now is None else now) - COUNTER_WINDOW_SECONDS
    dead: dict[str, int] = {}
    for event in rt.store.dead_letters():
        dead[event.source] = dead.get(event.source, 0) + 1
    parked: dict[str, int] = {}
    for event in rt.store.parked():
        parked[event.source] = parked.get(event.source, 0) + 1
    out = []
    for source in rt.config.sources.values():
        counts = rt.store.count_by_status(source.id, since)
        out.append(
            {
                "id": source.id,
                "kind": source.kind,
                "url": rt.config.source_url(source),
                "destination": source.destination,
                "window_seconds": COUNTER_WINDOW_SECONDS,
                "total": sum(counts.values()),
                "counts": counts,
                "tiles": tiles_for(counts),
                "dead_letters": dead.get(source.id, 0),
                "parked": parked.get(source.id, 0),
            }
        )
    return out


def _same_text(a: Any, b: Any) -> bool:
    return str(a).strip().casefold() == str(b).strip().casefold()


def _same_phone(a: Any, b: Any) -> bool:
    da, db = _digits(str(a)), _digits(str(b))
    return len(db) >= 7 and len(da) >= 7 and (da.endswith(db) or db.endswith(da))


def _derived(value: Any, inbound: Any) -> bool:
    text, source = str(value).strip().casefold(), str(inbound).strip().casefold()
    return len(text) >= 2 and text in source


def payload_diff(raw: Any, lead: Any) -> list[dict[str, Any]]:
    """What became of the inbound fields: one row per normalized field, then the inbound fields not forwarded.

    ``change`` is ``copied`` (same value), ``normalized`` (same up to case, spaces or
    phone formatting), ``derived`` (cut from a longer value, e.g. a first name out of a
    full name), ``added`` (from config: source, tags, deal) or ``dropped``.
    """
    inbound = [(path, value) for path, value in flatten(_form_fields(raw)) if value not in (None, "")]
    used: set[int] = set()
    rows: list[dict[str, Any]] = []
    for path, value in flatten(lead if lead is not None else {}):
        row = {"field": path, "value": value, "inbound_field": None, "inbound_value": None, "change": "added"}
        for change, same in (("copied", lambda a, b: a == b), ("normalized", _same_text), ("normalized", _same_phone)):
            index = next((i for i, (_, v) in enumerate(inbound) if same(value, v)), None)
            if index is not None:
                row.update(inbound_field=inbound[index][0], inbound_value=inbound[index][1], change=change)
                used.add(index)
                break
        else:
            index = next((i for i, (_, v) in enumerate(inbound) if _derived(value, v)), None)
            if index is not None:
                row.update(inbound_field=inbound[index][0], inbound_value=inbound[index][1], change="derived")
                used.add(index)
        rows.append(row)
    for index, (path, value) in enumerate(inbound):
        if index not in used:
            rows.append(
                {"field": None, "value": None, "inbound_field": path, "inbound_value": value, "change": "dropped"}
            )
    return rows
