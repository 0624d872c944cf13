"""The history as an operator reads it (issue 18): contacts for rows without a lead, attempts numbered across
replays, tiles that add up, and totals with page cursors that agree with "older"."""

from __future__ import annotations

from typing import Any

import pytest

from leadgate.events import STATUSES
from leadgate.history import TILES
from leadgate.history import contact_from_raw
from leadgate.history import find_events
from leadgate.history import page_map
from leadgate.history import tile_of
from leadgate.history import tiles_for
from leadgate.history import timeline
from leadgate.runtime import Runtime
from tests.support.config import BASE_CONFIG
from tests.support.leads import accept_form

TWO_SOURCES = BASE_CONFIG + "\n  landing:\n    kind: form\n"


@pytest.fixture
def config(make_config):
    return make_config(TWO_SOURCES)


@pytest.mark.parametrize(
    ("raw", "contact"),
    [
        ({"fields": [["email", "ann(at)example"], ["message", "hi"]]}, (None, "ann(at)example", None)),
        ({"fields": [["Your Name", "Ann Lee"], ["E-Mail", "ann@example.com"]]}, ("Ann Lee", "ann@example.com", None)),
        ({"json": {"first_name": "Ann", "last_name": "Lee", "mobile": "0151 234"}}, ("Ann Lee", None, "0151 234")),
        ({"payload": {"data": {"contact": "bob@example.com"}}}, (None, "bob@example.com", None)),
        ({"fields": [["message", "no contact at all"]]}, (None, None, None)),
        (None, (None, None, None)),
    ],
)
def test_contact_from_raw_reads_fields_by_name(raw: Any, contact: tuple[Any, ...]) -> None:
    assert contact_from_raw(raw) == dict(zip(("name", "email", "phone"), contact, strict=True))


def attempt(n: int, at: float, outcome: str = "retry") -> dict[str, Any]:
    return {"n": n, "at": at, "outcome": outcome}


def test_attempts_are_numbered_over_the_whole_history_with_replays_marked() -> None:
    attempts = [attempt(1, 10), attempt(2, 20, "dead"), attempt(1, 40, "dead"), attempt(1, 60, "delivered")]
    log = [{"action": "replay", "at": 30, "by": "dashboard"}, {"action": "edit", "at": 50, "by": "admin API"}]
    entries = timeline(attempts, log)
    assert [(e["entry"], e.get("number"), e.get("run"), e.get("replay")) for e in entries] == [
        ("attempt", 1, 1, False),
        ("attempt", 2, 1, False),
        ("operator", None, None, None),
        ("attempt", 3, 2, True),
        ("operator", None, None, None),
        ("attempt", 4, 3, True),
    ]
    assert [e["action"] for e in entries if e["entry"] == "operator"] == ["replay", "edit"]


def test_a_replay_without_a_log_entry_is_still_found_where_n_restarts() -> None:
    entries = timeline([attempt(1, 10, "dead"), attempt(1, 20, "delivered")], [])
    assert [(e["number"], e["run"], e["replay"]) for e in entries] == [(1, 1, False), (2, 2, True)]


def test_a_replay_not_yet_attempted_ends_the_timeline() -> None:
    entries = timeline([attempt(1, 10, "dead")], [{"action": "replay", "at": 20}])
    assert [e["entry"] for e in entries] == ["attempt", "operator"]


def test_every_status_is_in_exactly_one_tile_so_tiles_add_up() -> None:
    shown = [*STATUSES, "purged"]  # purged: a dropped dead letter, kept until it expires
    placed = [status for statuses in TILES.values() for status in statuses]
    assert sorted(placed) == sorted(shown)
    counts = {status: n + 1 for n, status in enumerate(shown)}
    assert sum(tiles_for({**counts, "brand_new_status": 3}).values()) == sum(counts.values()) + 3
    assert tile_of("brand_new_status") == "other"


def stored(rt: Runtime, n: int, source: str = "contact-us") -> str:
    return accept_form(rt, {"email": f"p{n}@example.com"}, source).event_id


@pytest.mark.parametrize(("count", "limit"), [(0, 3), (1, 3), (3, 3), (7, 3), (7, 1)])
def test_page_map_counts_and_its_cursors_are_the_ones_older_hands_out(rt: Runtime, count: int, limit: int) -> None:
    for n in range(count):
        stored(rt, n)
        stored(rt, 100 + n, "landing")
    pages = page_map(rt.store, source="contact-us", limit=limit)
    assert pages.total == count and pages.complete
    cursor = None
    walked = [None]
    while True:
        page = find_events(rt.store, source="contact-us", limit=limit, cursor=cursor)
        if page.next_cursor is None:
            break
        walked.append(page.next_cursor)
        cursor = page.next_cursor
    assert pages.cursors == walked
    assert pages.page_of(walked[-1]) == len(walked) and pages.page_of("elsewhere") is None


def test_page_map_filters_like_the_search_and_stops_at_its_bound(rt: Runtime) -> None:
    for n in range(6):
        stored(rt, n)
    assert page_map(rt.store, query="p3@example.com").total == 1
    assert page_map(rt.store, status="queued", limit=2).cursors[1:] != []
    bounded = page_map(rt.store, limit=2, scan_limit=4)
    assert (bounded.total, bounded.complete) == (4, False)
