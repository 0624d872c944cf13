"""A destination that refuses its API key (401) is paused instead of dead-lettering every lead."""

from __future__ import annotations

from click.testing import CliRunner

from leadgate.cli import main
from leadgate.operations import resume_destination
from tests.support.hooks import post_form


def test_401_pauses_the_destination_and_resume_delivers_everything_once(client, rt, crm, deliver_all):
    crm.set_faults(status=401)
    first = post_form(client, {"email": "one@example.com"}).get_json()["event_id"]
    deliver_all(rt)
    assert rt.store.get(first).status == "paused"
    assert rt.store.dead_letters() == []
    calls = len(crm.requests)
    assert calls == 1

    second = post_form(client, {"email": "two@example.com"}).get_json()["event_id"]
    deliver_all(rt)
    assert rt.store.get(second).status == "paused"
    assert len(crm.requests) == calls  # paused: no call was made for the second lead
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert "main" in ready.get_json()["paused_destinations"]

    crm.clear_faults()  # the operator fixed the key
    assert resume_destination(rt, "main") == 2
    deliver_all(rt)
    assert {rt.store.get(first).status, rt.store.get(second).status} == {"delivered"}
    assert crm.deliveries_by_email() == {"one@example.com": 1, "two@example.com": 1}
    assert client.get("/readyz").get_json()["paused_destinations"] == {}


def test_destinations_cli_lists_and_resumes(tmp_path, client, rt, crm, deliver_all, redis_url):
    from tests.support.config import API_KEY
    from tests.support.config import BASE_CONFIG

    path = tmp_path / "leadgate.yaml"
    path.write_text(f"redis_url: {redis_url}\n" + BASE_CONFIG.format(crm_url=crm.url, api_key=API_KEY))
    crm.set_faults(status=401)
    post_form(client, {"email": "three@example.com"})
    deliver_all(rt)
    runner = CliRunner()
    listed = runner.invoke(main, ["destinations", "list", "--config", str(path)])
    assert "PAUSED" in listed.output
    crm.clear_faults()
    resumed = runner.invoke(main, ["destinations", "resume", "main", "--config", str(path)])
    assert resumed.exit_code == 0, resumed.output
    assert "1 waiting lead" in resumed.output
    deliver_all(rt)
    assert crm.deliveries_by_email() == {"three@example.com": 1}
    assert runner.invoke(main, ["destinations", "resume", "nope", "--config", str(path)]).exit_code != 0
