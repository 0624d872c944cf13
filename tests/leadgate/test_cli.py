"""The ``leadgate`` command, driven through click against the real Redis and the sandbox CRM."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from click.testing import Result

from leadgate.cli import main
from leadgate.config import Config
from leadgate.runtime import Runtime
from leadgate.sandbox import SandboxCRM
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.config import load_config

CLI_CONFIG = (
    BASE_CONFIG
    + """  careers:
    kind: form
    source: careers_page
"""
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def config_file(tmp_path: Path, crm: SandboxCRM, redis_url: str) -> Path:
    """The file the CLI reads: the test config (two form sources) plus the test Redis."""
    path = tmp_path / "leadgate.yaml"
    text = f"redis_url: {json.dumps(redis_url)}\n" + CLI_CONFIG.format(crm_url=crm.url, api_key=API_KEY)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    """The app and ``rt`` fixtures use the very file the CLI reads."""
    return load_config(config_file, environ={})


def cli(config_file: Path, *args: str) -> Result:
    """Runs ``leadgate ARGS --config FILE``; output is stdout and stderr, colour codes stripped."""
    return CliRunner().invoke(main, [*args, "--config", str(config_file)])


def text(result: Result) -> str:
    return ANSI.sub("", result.output)


def cli_json(config_file: Path, *args: str) -> list[dict[str, Any]]:
    result = cli(config_file, *args, "--json")
    assert result.exit_code == 0, text(result)
    return json.loads(result.stdout)


def post(client: Any, email: str, source: str = "contact-us") -> str:
    response = client.post(f"/hooks/{source}", data={"name": "Jane Roe", "email": email})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["event_id"]


def dead_letter(client: Any, rt: Runtime, crm: SandboxCRM, deliver_all: Any, *emails: str) -> list[str]:
    """Posts one lead per e-mail while the CRM answers 400, so each is dead-lettered; then heals the CRM."""
    crm.set_faults(status=400)
    ids = [post(client, email) for email in emails]
    deliver_all(rt)
    crm.clear_faults()
    assert [rt.store.get(i).status for i in ids] == ["dead"] * len(ids)
    return ids


# check-config


def test_check_config_prints_every_source_with_its_url(config_file):
    result = CliRunner().invoke(main, ["check-config"], env={"LEADGATE_CONFIG": str(config_file)})
    assert result.exit_code == 0, text(result)
    output = text(result)
    assert "/hooks/contact-us" in output
    assert "/hooks/careers" in output
    assert "careers_page" in output
    assert "website_form" in output
    assert str(config_file) in output
    assert "3 attempts" in output


def test_check_config_prints_the_whole_url_with_a_public_url(config_file):
    config_file.write_text("public_url: https://leads.example-company.com\n" + config_file.read_text())
    output = text(cli(config_file, "check-config"))
    assert "https://leads.example-company.com/hooks/contact-us" in output


def test_check_config_with_a_bad_config_exits_nonzero_naming_the_key(config_file):
    config_file.write_text(config_file.read_text().replace("max_attempts: 3", "max_attempts: 0"))
    result = cli(config_file, "check-config")
    assert result.exit_code == 2
    assert "delivery.max_attempts" in text(result)
    assert "/hooks/" not in text(result)


def test_missing_config_file_exits_nonzero_naming_the_path(tmp_path):
    missing = tmp_path / "absent.yaml"
    result = CliRunner().invoke(main, ["events"], env={"LEADGATE_CONFIG": str(missing)})
    assert result.exit_code == 2
    assert str(missing) in text(result)


def test_config_error_text_is_printed_verbatim(config_file):
    config_file.write_text(config_file.read_text().replace("tags: [website]", "tags: [website] [ads]"))
    result = cli(config_file, "check-config")
    assert result.exit_code == 2
    assert "[website] [ads]" in text(result)


def test_unreachable_redis_exits_3(config_file):
    lines = config_file.read_text().splitlines()
    config_file.write_text("\n".join(["redis_url: redis://127.0.0.1:1/0", *lines[1:]]) + "\n")
    result = cli(config_file, "events")
    assert result.exit_code == 3
    assert "cannot reach redis" in text(result)


# events


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


def test_events_without_json_prints_a_table(client, rt, config_file):
    empty = cli(config_file, "events")
    assert empty.exit_code == 0
    assert "(none)" in text(empty)
    post(client, "jane@example.com")
    listed = cli(config_file, "events")
    assert listed.exit_code == 0
    assert "recent events" in text(listed)
    assert "(none)" not in text(listed)


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

    every = cli(config_file, "dlq", "purge", "--all")
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


# worker


def test_worker_burst_delivers_a_queued_event(client, rt, crm, config_file):
    event_id = post(client, "jane@example.com")
    assert rt.store.due_count() == 1
    result = cli(config_file, "worker", "--burst")
    assert result.exit_code == 0, text(result)
    assert "delivering for 2 sources" in text(result)
    assert crm.deliveries_by_email() == {"jane@example.com": 1}
    event = rt.store.get(event_id)
    assert event.status == "delivered"
    assert event.contact_id == crm.contacts[0]["id"]
    assert rt.store.due_count() == 0
