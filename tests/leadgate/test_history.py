"""Reading the history: cursors, search, filters, bounded scans, per-source counters and payload diffs."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from leadgate.events import Event
from leadgate.history import COUNTER_WINDOW_SECONDS
from leadgate.history import CursorError
from leadgate.history import EventPage
from leadgate.history import contact_of
from leadgate.history import decode_cursor
from leadgate.history import encode_cursor
from leadgate.history import find_events
from leadgate.history import flatten
from leadgate.history import matcher_for
from leadgate.history import payload_diff
from leadgate.history import source_counters
from leadgate.runtime import Runtime
from tests.support.config import BASE_CONFIG
from tests.support.leads import accept_form
from tests.support.leads import dead_letter
from tests.support.leads import park

TWO_SOURCES = BASE_CONFIG + "  landing:\n    kind: form\n    tags: [landing]\n"


@pytest.fixture
def config(make_config):
    return make_config(TWO_SOURCES)


def stored(rt: Runtime, source: str = "contact-us", at: float | None = None, **fields: str) -> str:
    """Stores a form post; ``at`` places it in the time index (the order history reads)."""
    event_id = accept_form(rt, fields or {"email": "someone@example.com"}, source).event_id
    if at is not None:
        rt.redis.zadd(rt.store.index_key, {event_id: at})
        rt.redis.zadd(rt.store.source_index_key(source), {event_id: at})
    return event_id


def ids(page: EventPage) -> list[str]:
    return [event.id for event in page.events]


def walk(rt: Runtime, **filters: Any) -> list[list[str]]:
    """Every page of a query, following its cursors to the end."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = find_events(rt.store, cursor=cursor, **filters)
        pages.append(ids(page))
        if page.next_cursor is None:
            return pages
        assert len(pages) < 50, "the cursors never end"
        cursor = page.next_cursor


# -- cursors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", [0.0, 1712345678.123456, 1712345678.1234567, 2.5e-7])
def test_a_cursor_gives_back_its_exact_position(score: float) -> None:
    cursor = encode_cursor(score, "ev_0190aa00bb11cc22dd33")
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor) == (score, "ev_0190aa00bb11cc22dd33")


def b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        "a",
        b64(b"1712345678.5"),  # no event id
        b64(b"1712345678.5|42"),  # not an event id
        b64(b"abc|ev_0190aa00bb11"),
        b64(b"nan|ev_0190aa00bb11"),
        b64(b"\xff\xfe|ev_0190aa00bb11"),
    ],
)
def test_anything_but_a_handed_out_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(CursorError, match="not a cursor this server handed out"):
        decode_cursor(cursor)


def test_a_cursor_error_is_a_value_error() -> None:
    """Callers that map ValueError to a 400 need no special case."""
    assert issubclass(CursorError, ValueError)


# -- flatten, contact, matching ------------------------------------------------------------------------


def test_flatten_names_each_leaf_by_its_path_and_form_pairs_by_their_names() -> None:
    value = {"a": {"b": 1, "c": [True, None]}, "fields": [["email", "x@y.io"], ["tags", ["p", "q"]]], "e": []}
    assert flatten(value) == [
        ("a.b", 1),
        ("a.c[0]", True),
        ("a.c[1]", None),
        ("fields.email", "x@y.io"),
        ("fields.tags[0]", "p"),
        ("fields.tags[1]", "q"),
    ]
    assert flatten([["name", "Ann"]]) == [("name", "Ann")]
    assert flatten("leaf") == [("", "leaf")]


@pytest.mark.parametrize(
    ("lead", "contact"),
    [
        (
            {"first_name": "Ann", "last_name": "Lee", "email": "a@x.io", "phone": "+1415"},
            ("Ann Lee", "a@x.io", "+1415"),
        ),
        ({"last_name": "Lee", "email": ""}, ("Lee", None, None)),
        (None, (None, None, None)),
        ("not a lead", (None, None, None)),
    ],
)
def test_contact_of_a_lead(lead: Any, contact: tuple[Any, ...]) -> None:
    assert contact_of(lead) == dict(zip(("name", "email", "phone"), contact, strict=True))


ANN = Event(
    id="ev_1",
    lead={
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "phone": "+14155550100",
        "company_name": "Acme Roofing",
        "emails": ["ann.work@example.org"],
        "phones": ["+16505550199"],
    },
    raw={"fields": [["note", "call after 5pm"], ["opt_in", True], ["count", 42]]},
)
REJECTED = Event(id="ev_2", status="rejected", lead=None, raw={"fields": [["who", "Zed Zulu"], ["ref", "A-17"]]})


@pytest.mark.parametrize(
    ("query", "event", "expected"),
    [
        ("ANN@Example.COM", ANN, True),  # text: case-insensitive
        ("ann@", ANN, True),  # an @ makes it text, digits or not
        ("ann lee", ANN, True),  # the full name
        ("acme", ANN, True),
        ("ann.work@", ANN, True),  # the other emails
        ("(650) 555-0199", ANN, True),  # the other phones
        ("415-555-0100", ANN, True),  # digits compare as a phone, formatting aside
        ("555 0100", ANN, True),
        ("555 0199 9", ANN, False),
        ("55 01", ANN, False),  # four digits: text, and "55 01" appears nowhere
        ("after 5pm", ANN, True),  # raw fields too
        ("42", ANN, True),  # raw numbers
        ("true", ANN, False),  # never a raw boolean
        ("bob", ANN, False),
        ("zulu", REJECTED, True),  # no lead: its raw fields
        ("a-17", REJECTED, True),
        ("ann", REJECTED, False),
    ],
)
def test_matcher_for_a_query(query: str, event: Event, expected: bool) -> None:
    assert matcher_for(query)(event) is expected


# -- finding events ------------------------------------------------------------------------------------


def test_events_come_newest_first_across_sources(rt: Runtime) -> None:
    now = time.time()
    first = stored(rt, at=now - 30, email="a@example.com")
    second = stored(rt, "landing", at=now - 20, email="b@example.com")
    third = stored(rt, at=now - 10, email="c@example.com")
    page = find_events(rt.store)
    assert (ids(page), page.next_cursor) == ([third, second, first], None)
    assert ids(find_events(rt.store, source="contact-us")) == [third, first]
    assert ids(find_events(rt.store, source="landing")) == [second]
    assert ids(find_events(rt.store, source="nowhere")) == []


def test_filters_by_status_and_query_combine(rt: Runtime) -> None:
    now = time.time()
    dead = stored(rt, at=now - 30, name="Ann Lee", email="ann@example.com")
    dead_letter(rt, dead)
    queued = stored(rt, at=now - 20, name="Ann Other", email="ann.other@example.com")
    rejected = stored(rt, at=now - 10, who="Ann Rejected")
    assert ids(find_events(rt.store, status="dead")) == [dead]
    assert ids(find_events(rt.store, status="rejected")) == [rejected]
    assert ids(find_events(rt.store, query="ann")) == [rejected, queued, dead]
    assert ids(find_events(rt.store, status="queued", query="ann")) == [queued]
    assert ids(find_events(rt.store, status="queued", query="lee")) == []
    assert ids(find_events(rt.store, query="   ")) == [rejected, queued, dead]  # blank: no filter


def test_pages_walk_every_event_once_and_end_without_an_empty_page(rt: Runtime) -> None:
    now = time.time()
    events = [stored(rt, at=now - 100 + n, email=f"e{n}@example.com") for n in range(5)]
    newest_first = events[::-1]
    assert walk(rt, limit=2) == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    assert walk(rt, limit=5) == [newest_first]
    rt.redis.zrem(rt.store.index_key, events[0])
    assert walk(rt, limit=2) == [newest_first[0:2], newest_first[2:4]]  # an exact fit has no third page


def test_a_search_pages_through_its_matches_only(rt: Runtime) -> None:
    now = time.time()
    events = [stored(rt, at=now - 100 + n, email=f"{'match' if n % 2 else 'other'}{n}@example.com") for n in range(7)]
    matches = [e for n, e in enumerate(events) if n % 2][::-1]
    assert walk(rt, query="match", limit=2) == [matches[0:2], matches[2:3]]


def test_cursors_are_exact_when_events_share_a_timestamp(rt: Runtime) -> None:
    at = time.time()
    before = stored(rt, at=at - 1, email="before@example.com")
    tied = [stored(rt, at=at, email=f"t{n}@example.com") for n in range(4)]
    after = stored(rt, at=at + 1, email="after@example.com")
    pages = walk(rt, limit=1)
    assert pages == [[after], *([e] for e in sorted(tied, reverse=True)), [before]]


def test_a_scan_stops_at_its_budget_and_its_cursor_goes_on_from_there(rt: Runtime) -> None:
    now = time.time()
    wanted = stored(rt, at=now - 100, email="needle@example.com")
    others = [stored(rt, at=now - 50 + n, email=f"hay{n}@example.com") for n in range(5)]
    newest_first = others[::-1]

    first = find_events(rt.store, query="needle", scan_limit=2)
    assert first.events == [] and decode_cursor(first.next_cursor or "")[1] == newest_first[1]
    second = find_events(rt.store, query="needle", scan_limit=2, cursor=first.next_cursor)
    assert second.events == [] and decode_cursor(second.next_cursor or "")[1] == newest_first[3]
    third = find_events(rt.store, query="needle", scan_limit=2, cursor=second.next_cursor)
    assert ids(third) == [wanted]
    assert find_events(rt.store, query="needle", cursor=third.next_cursor) == EventPage([], None)


def test_events_whose_record_expired_are_left_out(rt: Runtime) -> None:
    now = time.time()
    kept = stored(rt, at=now - 20, email="kept@example.com")
    gone = stored(rt, at=now - 10, email="gone@example.com")
    rt.redis.delete(rt.store.key(gone))
    assert walk(rt, limit=1) == [[kept]]


def test_a_bad_cursor_is_refused_before_anything_is_read(rt: Runtime) -> None:
    stored(rt)
    with pytest.raises(CursorError):
        find_events(rt.store, cursor="bogus")


def test_the_cursor_of_a_page_is_the_position_of_its_last_event(rt: Runtime) -> None:
    at = 1712345678.125
    newer = stored(rt, at=at + 1, email="a@example.com")
    older = stored(rt, at=at, email="b@example.com")
    stored(rt, at=at - 1, email="c@example.com")
    page = find_events(rt.store, limit=2)
    assert ids(page) == [newer, older]
    assert page.next_cursor == encode_cursor(at, older)


# -- counters per source -------------------------------------------------------------------------------


def test_source_counters_count_the_last_day_by_status_and_what_waits_for_an_operator(rt: Runtime) -> None:
    stored(rt, email="q1@example.com")
    stored(rt, email="q2@example.com")
    dead_letter(rt, stored(rt, email="dead@example.com"))
    park(rt, stored(rt, email="parked@example.com"))
    stored(rt, email="spam@example.com", _gotcha="x")  # the honeypot
    stored(rt, "landing", email="l@example.com")
    stored(rt, "landing", who="nobody")  # rejected

    assert source_counters(rt) == [
        {
            "id": "contact-us",
            "kind": "form",
            "url": "/hooks/contact-us",
            "destination": "main",
            "window_seconds": COUNTER_WINDOW_SECONDS,
            "total": 5,
            "counts": {"queued": 2, "dead": 1, "needs_token": 1, "spam": 1},
            "tiles": {"delivered": 0, "in_flight": 2, "parked": 1, "failed": 1, "skipped": 1, "other": 0},
            "dead_letters": 1,
            "parked": 1,
        },
        {
            "id": "landing",
            "kind": "form",
            "url": "/hooks/landing",
            "destination": "main",
            "window_seconds": COUNTER_WINDOW_SECONDS,
            "total": 2,
            "counts": {"queued": 1, "rejected": 1},
            "tiles": {"delivered": 0, "in_flight": 1, "parked": 0, "failed": 1, "skipped": 0, "other": 0},
            "dead_letters": 0,
            "parked": 0,
        },
    ]


def test_source_counters_window_the_statuses_but_not_the_waiting_dead_letters(rt: Runtime) -> None:
    dead_letter(rt, stored(rt, email="dead@example.com"))
    later = time.time() + COUNTER_WINDOW_SECONDS + 60
    contact, landing = source_counters(rt, now=later)
    assert (contact["counts"], contact["total"], contact["dead_letters"]) == ({}, 0, 1)
    assert (landing["counts"], landing["total"]) == ({}, 0)


def test_source_counters_use_the_public_url(make_config, redis_client) -> None:
    rt = Runtime.from_config(make_config("public_url: https://leads.example.com/\n" + TWO_SOURCES), client=redis_client)
    assert [c["url"] for c in source_counters(rt)] == [
        "https://leads.example.com/hooks/contact-us",
        "https://leads.example.com/hooks/landing",
    ]


# -- payload diff --------------------------------------------------------------------------------------


def row(field: str | None, value: Any, inbound: str | None, inbound_value: Any, change: str) -> dict[str, Any]:
    return {"field": field, "value": value, "inbound_field": inbound, "inbound_value": inbound_value, "change": change}


def test_payload_diff_tells_copied_normalized_derived_added_and_dropped_fields() -> None:
    raw = {
        "fields": [
            ["name", "Ann Lee"],
            ["email", "ANN@Example.com "],
            ["phone", "(415) 555-0100"],
            ["org", "Acme"],
            ["message", ""],
            ["utm_source", "newsletter"],
        ]
    }
    lead = {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "phone": "+14155550100",
        "company_name": "Acme",
        "source": "website_form",
        "tags": ["website"],
    }

    def row(field: str | None, value: Any, inbound: str | None, inbound_value: Any, change: str) -> dict[str, Any]:
        return {
            "field": field,
            "value": value,
            "inbound_field": inbound,
            "inbound_value": inbound_value,
            "change": change,
        }

    assert payload_diff(raw, lead) == [
        row("first_name", "Ann", "name", "Ann Lee", "derived"),
        row("last_name", "Lee", "name", "Ann Lee", "derived"),
        row("email", "ann@example.com", "email", "ANN@Example.com ", "normalized"),
        row("phone", "+14155550100", "phone", "(415) 555-0100", "normalized"),
        row("company_name", "Acme", "org", "Acme", "copied"),
        row("source", "website_form", None, None, "added"),
        row("tags[0]", "website", None, None, "added"),
        row(None, None, "utm_source", "newsletter", "dropped"),  # the empty message is not listed
    ]


def test_payload_diff_of_an_event_without_a_lead_lists_every_inbound_field_as_dropped() -> None:
    raw = {"json": {"contact": {"who": "Zed"}, "n": 2}}
    assert payload_diff(raw, None) == [
        {
            "field": None,
            "value": None,
            "inbound_field": "json.contact.who",
            "inbound_value": "Zed",
            "change": "dropped",
        },
        {"field": None, "value": None, "inbound_field": "json.n", "inbound_value": 2, "change": "dropped"},
    ]
