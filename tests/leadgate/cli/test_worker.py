"""``leadgate worker``: the Procfile's worker process, run here with ``--burst``."""

from __future__ import annotations

from tests.support.cli import cli
from tests.support.cli import post
from tests.support.cli import text


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
