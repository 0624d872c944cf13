"""``leadgate events`` and ``dlq`` as an operator reads them: 80 columns, search, follow, times, order."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from datetime import timezone

import pytest
from click.testing import CliRunner

from leadgate.cli import common
from leadgate.cli import main
from tests.support.cli import ANSI
from tests.support.cli import cli
from tests.support.cli import cli_json
from tests.support.cli import dead_letter
from tests.support.cli import post
from tests.support.cli import text


@pytest.fixture
def eighty_columns(monkeypatch):
    """The CLI's console as wide as a standard terminal."""
    monkeypatch.setattr(common.console, "width", 80)


@pytest.fixture
def india_time(monkeypatch):
    """The process's local time zone is IST (UTC+5:30, no daylight saving), restored after."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_events_at_80_columns_keep_every_column_readable(client, rt, crm, config_file, deliver_all, eighty_columns):
    [dead] = dead_letter(client, rt, crm, deliver_all, "jane@example.com")
    queued = post(client, "bob@example.com")
    output = text(cli(config_file, "events"))
    lines = output.splitlines()
    assert max(len(line) for line in lines) <= 80, output
    for expected in (dead, queued, "Jane Roe <jane@example.com>", "Jane Roe <bob@example.com>", "ConnectGain answe"):
        assert expected in output, output
    dead_row = next(i for i, line in enumerate(lines) if dead in line)
    assert "contact-us" in lines[dead_row] and "Jane Roe <jane@example.com>" in lines[dead_row]
    assert "dead" in lines[dead_row + 1] and "ConnectGain answered 400" in lines[dead_row + 1]
    assert f"  {rt.store.get(dead).attempts}  " in lines[dead_row]  # tries


def test_events_q_searches_like_the_admin_api(client, rt, config_file):
    ann = post(client, "ann@example.com")
    bob = post(client, "bob@example.com", source="careers")
    assert [e["id"] for e in cli_json(config_file, "events", "--q", "BOB@")] == [bob]
    assert [e["id"] for e in cli_json(config_file, "events", "--q", "example.com")] == [bob, ann]
    assert cli_json(config_file, "events", "--q", "nobody") == []
    [found] = cli_json(config_file, "events", "--q", "ann")
    assert found["contact"]["email"] == "ann@example.com"


def test_events_since_takes_a_duration_or_a_date_time(client, rt, config_file):
    event_id = post(client, "ann@example.com")
    assert [e["id"] for e in cli_json(config_file, "events", "--since", "10m")] == [event_id]
    later = datetime.fromtimestamp(time.time() + 3600).strftime("%Y-%m-%dT%H:%M")
    assert cli_json(config_file, "events", "--since", later) == []
    rt.redis.zadd(rt.store.index_key, {event_id: time.time() - 7200})  # as if received two hours ago
    rt.store.update(event_id, received_at=time.time() - 7200)
    assert cli_json(config_file, "events", "--since", "1h") == []
    assert [e["id"] for e in cli_json(config_file, "events", "--since", "3h")] == [event_id]
    bad = cli(config_file, "events", "--since", "yesterday")
    assert bad.exit_code == 2
    assert "neither a duration" in text(bad)


def test_times_are_local_by_default_and_utc_on_request(client, rt, config_file, india_time, eighty_columns):
    event_id = post(client, "ann@example.com")
    received = rt.store.get(event_id).received_at
    local = text(cli(config_file, "events"))
    utc = text(cli(config_file, "events", "--utc"))
    ist = datetime.fromtimestamp(received).strftime("%Y-%m-%d %H:%M:%S")
    in_utc = datetime.fromtimestamp(received, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    assert ist != in_utc
    assert "received (IST)" in local and ist in local and in_utc not in local
    assert "received (UTC)" in utc and in_utc in utc


def test_follow_prints_new_events_and_status_changes_once_each_then_stops(client, rt, config_file, deliver_all):
    first = post(client, "ann@example.com")
    results = []
    # generous margins: the follower polls every 0.1 s, and a busy machine may delay any step by a second
    args = ["events", "--follow", "--for", "5", "--interval", "0.1", "--json", "--config", str(config_file)]
    follower = threading.Thread(target=lambda: results.append(CliRunner().invoke(main, args)))
    started = time.monotonic()
    follower.start()
    time.sleep(1.2)
    second = post(client, "bob@example.com")
    time.sleep(1.2)
    deliver_all(rt)
    follower.join(timeout=20)
    assert 4.9 <= time.monotonic() - started < 20
    [result] = results
    assert result.exit_code == 0, result.output
    seen = [(e["id"], e["status"]) for e in map(json.loads, result.stdout.splitlines())]
    assert seen[:2] == [(first, "queued"), (second, "queued")]
    later = seen[2:]  # a slow delivery may also be seen in flight ("delivering"), each change once
    assert len(later) == len(set(later)) and {status for _, status in later} <= {"delivering", "delivered"}
    assert {(first, "delivered"), (second, "delivered")} <= set(later)


def test_follow_without_json_prints_one_line_per_change(client, rt, config_file):
    event_id = post(client, "ann@example.com")
    result = cli(config_file, "events", "--follow", "--for", "0.3", "--interval", "0.1")
    assert result.exit_code == 0
    [line] = ANSI.sub("", result.stdout).splitlines()
    assert event_id in line and "queued" in line and "Jane Roe <ann@example.com>" in line


def test_dead_letters_are_listed_newest_first_with_the_crms_answer(client, rt, crm, config_file, deliver_all):
    ids = dead_letter(client, rt, crm, deliver_all, "ann@example.com", "bob@example.com", "cy@example.com")
    letters = cli_json(config_file, "dlq", "list")
    assert [e["id"] for e in letters] == ids[::-1]
    assert [e["id"] for e in cli_json(config_file, "events", "--status", "dead")] == ids[::-1]
    attempts = rt.store.attempts(ids[0])
    assert letters[-1]["crm_status_code"] == 400
    assert letters[-1]["crm_response"] == attempts[-1]["response"]
    assert letters[-1]["crm_response"]  # the CRM's body, not only "ConnectGain answered 400"
    assert letters[-1]["contact"]["email"] == "ann@example.com"


def test_an_empty_dead_letter_list_is_one_line(rt, config_file):
    result = cli(config_file, "dlq", "list")
    assert result.exit_code == 0
    assert text(result) == "no dead letters: nothing waits for a replay\n"


def test_replay_force_sends_a_delivered_lead_again(client, rt, crm, config_file, deliver_all):
    event_id = post(client, "jane@example.com")
    deliver_all(rt)
    refused = cli(config_file, "dlq", "replay", event_id)
    assert refused.exit_code == 1
    assert "use --force to send it again" in text(refused)
    forced = cli(config_file, "dlq", "replay", event_id, "--force")
    assert forced.exit_code == 0, text(forced)
    assert f"{event_id}: queued" in text(forced)
    deliver_all(rt)
    assert crm.deliveries_by_email() == {"jane@example.com": 2}


def test_purge_all_asks_first_and_yes_skips_the_question(client, rt, crm, config_file, deliver_all):
    ids = dead_letter(client, rt, crm, deliver_all, "ann@example.com", "bob@example.com")
    runner = CliRunner()
    declined = runner.invoke(main, ["dlq", "purge", "--all", "--config", str(config_file)], input="n\n")
    assert declined.exit_code == 1
    assert "purge 2 dead letter(s) for good?" in declined.output
    assert [rt.store.get(i).status for i in ids] == ["dead", "dead"]
    unanswered = runner.invoke(main, ["dlq", "purge", "--all", "--config", str(config_file)])
    assert unanswered.exit_code == 1  # no terminal to answer: nothing is purged
    assert [rt.store.get(i).status for i in ids] == ["dead", "dead"]
    accepted = runner.invoke(main, ["dlq", "purge", "--all", "--config", str(config_file)], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "purged 2 dead letter(s)" in accepted.output

    more = dead_letter(client, rt, crm, deliver_all, "cy@example.com")
    quiet = cli(config_file, "dlq", "purge", "--all", "--yes")
    assert quiet.exit_code == 0
    assert "for good?" not in text(quiet)
    assert rt.store.get(more[0]).status == "purged"
