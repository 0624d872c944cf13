"""``leadgate events`` and ``leadgate dlq``, against the real Redis and the sandbox CRM."""

from __future__ import annotations

import pytest

from tests.support.cli import cli
from tests.support.cli import cli_json
from tests.support.cli import dead_letter
from tests.support.cli import post
from tests.support.cli import text


def test_events_json_lists_a_posted_event_and_its_delivery(client, rt, crm, config_file, deliver_all):
    event_id = post(client, "jane@example.com")
    [queued] = cli_json(config_file, "events")
    assert queued["id"] == event_id
    assert queued["source"] == "contact-us"
    assert queued["status"] == "queued"
    assert queued["attempts"] == 0
    assert queued["contact_id"] is None

    deliver_all(rt)
    [delivered] = cli_json(config_file, "events")
    assert delivered["id"] == event_id
    assert delivered["status"] == "delivered"
    assert delivered["attempts"] == 1
    assert delivered["contact_id"] == crm.contacts[0]["id"]
    assert delivered["delivered_at"] >= delivered["received_at"] > 0


def test_events_without_json_prints_a_table_or_one_line_when_empty(client, rt, config_file):
    empty = cli(config_file, "events")
    assert empty.exit_code == 0
    assert text(empty) == "no events yet\n"
    assert text(cli(config_file, "events", "--source", "careers")) == "no events match these filters\n"
    post(client, "jane@example.com")
    listed = cli(config_file, "events")
    assert listed.exit_code == 0
    assert "recent events" in text(listed)
    assert "no events" not in text(listed)


def test_events_filters_by_status_and_source(client, rt, crm, config_file, deliver_all):
    delivered = post(client, "ann@example.com")
    deliver_all(rt)
    crm.set_faults(status=400)
    dead = post(client, "bob@example.com", source="careers")
    deliver_all(rt)
    crm.clear_faults()
    queued = post(client, "cy@example.com", source="careers")

    def ids(*args: str) -> list[str]:
        return [e["id"] for e in cli_json(config_file, "events", *args)]

    assert ids() == [queued, dead, delivered]
    assert ids("--status", "delivered") == [delivered]
    assert ids("--status", "dead") == [dead]
    assert ids("--source", "careers") == [queued, dead]
    assert ids("--source", "contact-us") == [delivered]
    assert ids("--source", "careers", "--status", "queued") == [queued]
    assert ids("--source", "contact-us", "--status", "dead") == []
    assert ids("--limit", "1") == [queued]


def test_events_rejects_an_unknown_status(config_file):
    result = cli(config_file, "events", "--status", "lost")
    assert result.exit_code == 2
    assert "lost" in text(result)


# dlq


def test_rejected_lead_is_listed_then_replay_delivers_it_exactly_once(client, rt, crm, config_file, deliver_all):
    [event_id] = dead_letter(client, rt, crm, deliver_all, "jane@example.com")
    assert crm.deliveries == []

    [letter] = cli_json(config_file, "dlq", "list")
    assert letter["id"] == event_id
    assert letter["status"] == "dead"
    assert letter["last_status_code"] == 400
    assert "400" in letter["last_error"]

    result = cli(config_file, "dlq", "replay", event_id)
    assert result.exit_code == 0, text(result)
    assert f"{event_id}: queued" in text(result)
    assert cli_json(config_file, "dlq", "list") == []

    deliver_all(rt)
    assert crm.deliveries_by_email() == {"jane@example.com": 1}
    [event] = cli_json(config_file, "events")
    assert event["status"] == "delivered"

    again = cli(config_file, "dlq", "replay", event_id)
    assert again.exit_code == 1
    assert "not replayed" in text(again)
    deliver_all(rt)
    assert crm.deliveries_by_email() == {"jane@example.com": 1}


def test_dlq_list_filters_by_source_and_prints_a_table(client, rt, crm, config_file, deliver_all):
    dead_letter(client, rt, crm, deliver_all, "jane@example.com")
    assert cli_json(config_file, "dlq", "list", "--source", "careers") == []
    assert len(cli_json(config_file, "dlq", "list", "--source", "contact-us")) == 1
    table = cli(config_file, "dlq", "list")
    assert table.exit_code == 0
    assert "dead" in text(table)


def test_replay_of_an_unknown_event_exits_1(rt, config_file):
    result = cli(config_file, "dlq", "replay", "ev_000000000000nothinghere")
    assert result.exit_code == 1
    assert "no such event" in text(result)


def test_replay_all_delivers_every_dead_letter_once(client, rt, crm, config_file, deliver_all):
    ids = dead_letter(client, rt, crm, deliver_all, "ann@example.com", "bob@example.com")
    result = cli(config_file, "dlq", "replay", "--all")
    assert result.exit_code == 0, text(result)
    for event_id in ids:
        assert f"{event_id}: queued" in text(result)
    deliver_all(rt)
    assert crm.deliveries_by_email() == {"ann@example.com": 1, "bob@example.com": 1}
    assert cli_json(config_file, "dlq", "list") == []

    nothing = cli(config_file, "dlq", "replay", "--all")
    assert nothing.exit_code == 0
    assert "nothing to replay" in text(nothing)


def test_purge_one_then_all(client, rt, crm, config_file, deliver_all):
    first, *rest = dead_letter(client, rt, crm, deliver_all, "ann@example.com", "bob@example.com", "cy@example.com")

    one = cli(config_file, "dlq", "purge", first)
    assert one.exit_code == 0, text(one)
    assert "purged 1 dead letter(s)" in text(one)
    assert sorted(e["id"] for e in cli_json(config_file, "dlq", "list")) == sorted(rest)
    assert [e["id"] for e in cli_json(config_file, "events", "--status", "purged")] == [first]

    every = cli(config_file, "dlq", "purge", "--all", "--yes")
    assert every.exit_code == 0, text(every)
    assert "purged 2 dead letter(s)" in text(every)
    assert cli_json(config_file, "dlq", "list") == []

    assert cli(config_file, "dlq", "replay", "--all").exit_code == 0
    deliver_all(rt)
    assert crm.deliveries == []


def test_purge_of_an_unknown_event_exits_1(rt, config_file):
    result = cli(config_file, "dlq", "purge", "ev_000000000000nothinghere")
    assert result.exit_code == 1
    assert "purged 0" in text(result)


def test_purge_leaves_an_event_that_is_not_a_dead_letter_alone(client, rt, crm, config_file, deliver_all):
    event_id = post(client, "jane@example.com")
    result = cli(config_file, "dlq", "purge", event_id)
    assert result.exit_code == 1
    assert rt.store.get(event_id).status == "queued"
    deliver_all(rt)
    assert crm.deliveries_by_email() == {"jane@example.com": 1}


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["replay"], id="replay-neither"),
        pytest.param(["replay", "{id}", "--all"], id="replay-both"),
        pytest.param(["purge"], id="purge-neither"),
        pytest.param(["purge", "{id}", "--all"], id="purge-both"),
    ],
)
def test_dlq_usage_errors_change_nothing(client, rt, crm, config_file, deliver_all, args):
    [event_id] = dead_letter(client, rt, crm, deliver_all, "jane@example.com")
    result = cli(config_file, "dlq", *[a.format(id=event_id) for a in args])
    assert result.exit_code == 2
    assert "give one EVENT_ID or --all" in text(result)
    assert [e["id"] for e in cli_json(config_file, "dlq", "list")] == [event_id]
    assert rt.store.get(event_id).status == "dead"
