"""Reconciliation: backfilling a form's leads and retrying parked ones, end to end through the CLI too."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from leadgate.cli import main
from leadgate.runtime import Runtime
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.config import load_config
from tests.support.delivery import dispatch_now
from tests.support.graph_api import FORM_ID
from tests.support.graph_api import OTHER_PAGE_ID
from tests.support.graph_api import PAGE_TOKEN
from tests.support.graph_api import FakeGraphAPI
from tests.support.graph_api import facebook_config
from tests.support.graph_api import facebook_env
from tests.support.graph_api import leadgen_change
from tests.support.graph_api import notification
from tests.support.graph_api import post_notification
from workers.facebook_backfill import backfill_form
from workers.facebook_backfill import retry_parked
from workers.facebook_backfill import unix_day

SINCE = date(2026, 11, 1)
T0 = unix_day(SINCE)


@pytest.fixture
def config(make_config, graph):
    return make_config(facebook_config(BASE_CONFIG, graph.url), **facebook_env())


@pytest.fixture
def config_file(tmp_path: Path, crm, redis_url: str, graph, monkeypatch) -> Path:
    """The file the CLI reads: the same sources, the test Redis; secrets come from the environment."""
    for name, value in facebook_env().items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "leadgate.yaml"
    text = facebook_config(BASE_CONFIG, graph.url).format(crm_url=crm.url, api_key=API_KEY)
    path.write_text(f"redis_url: {json.dumps(redis_url)}\n{text}", encoding="utf-8")
    return path


def cli(config_file: Path, *args: str):
    return CliRunner().invoke(main, [*args, "--config", str(config_file)])


def add_form(graph: FakeGraphAPI, count: int, start: int = T0 + 60) -> list[str]:
    """``count`` leads on the form, one a minute from ``start``; returns their ids, oldest first."""
    return [
        graph.add_lead({"full_name": f"Lead {i}", "email": f"lead{i}@example.com"}, created=start + 60 * i)["id"]
        for i in range(count)
    ]


def test_backfill_delivers_exactly_the_unseen_leads_and_a_second_run_nothing(
    rt, client, graph, crm, deliver_all, config_file
):
    ids = add_form(graph, 250)
    webhook_ids = ids[::7]  # 36 leads arrived by webhook before the backfill
    response = post_notification(client, notification([leadgen_change(i) for i in webhook_ids]))
    assert response.status_code == 200
    deliver_all(rt)
    assert len(crm.deliveries) == len(webhook_ids)

    result = cli(config_file, "facebook", "backfill", "--source", "fb", "--form", FORM_ID, "--since", "2026-11-01")
    assert result.exit_code == 0, result.output
    assert f"3 page(s), 250 lead(s) listed: {len(webhook_ids)} already seen, queued {250 - len(webhook_ids)}" in (
        result.output
    )
    deliver_all(rt)
    counts = crm.deliveries_by_email()
    assert len(crm.deliveries) == 250
    assert all(counts[f"lead{i}@example.com"] == 1 for i in range(250))
    # backfilled leads came with their Graph object: the worker fetched only the webhook ones
    assert len([r for r in graph.requests if not r["path"].endswith("/leads")]) == len(webhook_ids)
    assert len(graph.requests_to("/leads")) == 3

    again = backfill_form(rt, rt.config.sources["fb"], FORM_ID, since=SINCE)
    assert (again.pages, again.listed, again.seen, again.queued, again.error) == (3, 250, 250, 0, "")
    deliver_all(rt)
    assert len(crm.deliveries) == 250
    assert not [e for e in rt.store.recent(limit=1000) if e.status == "duplicate"]


def test_backfilled_events_carry_the_lead_and_map_like_webhook_ones(rt, graph, crm, deliver_all):
    lead = graph.add_lead(
        {"email": "jane@example.com", "what_is_your_budget?": "900"},
        created=T0 + 5,
        page_id=OTHER_PAGE_ID,
        form_id="9100",
    )
    graph.allow_token(PAGE_TOKEN, pages=None)
    result = backfill_form(rt, rt.config.sources["fb"], "9100", since=SINCE)
    assert (result.queued, result.seen) == (1, 0)
    [event] = rt.store.recent()
    assert event.status == "queued" and event.dedupe_keys == [lead["id"]]
    assert event.raw["lead"] == lead
    assert event.raw["webhook"] == {
        "leadgen_id": lead["id"],
        "form_id": "9100",
        "ad_id": "3001",
        "adgroup_id": "3002",
        "created_time": T0 + 5,
    }
    deliver_all(rt)
    [delivery] = crm.deliveries
    assert delivery["payload"]["custom_fields"]["budget"] == "900"


def test_page_option_uses_that_pages_token(rt, graph):
    graph.add_lead({"email": "a@example.com"}, page_id=OTHER_PAGE_ID, form_id="9200", created=T0 + 1)
    source = rt.config.sources["fb"]
    assert "100/33" in backfill_form(rt, source, "9200", since=SINCE).error
    result = backfill_form(rt, source, "9200", since=SINCE, page_id=OTHER_PAGE_ID)
    assert (result.queued, result.error) == (1, "")
    assert rt.store.recent()[0].raw["webhook"]["page_id"] == OTHER_PAGE_ID


def test_since_and_until_are_whole_utc_days(rt, graph):
    graph.add_lead({"email": "before@example.com"}, created=T0 - 1)
    graph.add_lead({"email": "midnight@example.com"}, created=T0)
    graph.add_lead({"email": "last-second@example.com"}, created=T0 + 86400 * 2 - 1)
    graph.add_lead({"email": "after@example.com"}, created=T0 + 86400 * 2)
    result = backfill_form(rt, rt.config.sources["fb"], FORM_ID, since=SINCE, until=date(2026, 11, 2), dry_run=True)
    assert (result.listed, result.queued) == (2, 2)
    filtering = json.loads(graph.requests_to("/leads")[0]["query"]["filtering"])
    assert filtering == [
        {"field": "time_created", "operator": "GREATER_THAN", "value": T0 - 1},
        {"field": "time_created", "operator": "LESS_THAN", "value": T0 + 86400 * 2},
    ]


def test_dry_run_queues_nothing(rt, graph, config_file):
    add_form(graph, 3)
    result = cli(
        config_file, "facebook", "backfill", "--source", "fb", "--form", FORM_ID, "--since", "2026-11-01", "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "would queue 3" in result.output
    assert rt.store.recent() == [] and rt.store.due_count() == 0


def test_a_lead_whose_event_expired_still_counts_as_seen(rt, graph):
    """Its id stays claimed for the 90-day dedupe window: a backfill must not deliver it a second time."""
    [lead_id] = add_form(graph, 1)
    rt.redis.set(rt.store.dedupe_key("fb", "id", lead_id), "ev_gone")
    result = backfill_form(rt, rt.config.sources["fb"], FORM_ID, since=SINCE)
    assert (result.seen, result.queued) == (1, 0)


def test_transient_page_errors_are_retried(rt, graph):
    add_form(graph, 150)
    graph.fail_next(count=2, path="/leads", status=400, code=4, message="Application request limit reached")
    waits: list[float] = []
    result = backfill_form(rt, rt.config.sources["fb"], FORM_ID, since=SINCE, sleep=waits.append)
    assert (result.pages, result.queued, result.error) == (2, 150, "")
    assert waits == [2.0, 4.0]


def test_graph_errors_stop_the_run_with_the_counts_so_far(rt, graph, config_file):
    add_form(graph, 150)
    # the first page comes through, then a throttle longer than a backfill waits for
    usage = json.dumps({"1001": [{"type": "lead_retrieval", "estimated_time_to_regain_access": 5}]})
    graph.fail_next(path="after=", status=400, code=80005, headers={"X-Business-Use-Case-Usage": usage})
    result = cli(config_file, "facebook", "backfill", "--source", "fb", "--form", FORM_ID, "--since", "2026-11-01")
    assert result.exit_code == 1
    assert "1 page(s), 100 lead(s) listed: 0 already seen, queued 100" in result.output
    assert "stopped early" in result.output and "code 80005" in result.output
    assert PAGE_TOKEN not in result.output


def test_expired_token_stops_the_backfill_with_a_clear_message(rt, graph, config_file):
    add_form(graph, 2)
    graph.expire_token(PAGE_TOKEN)
    result = cli(config_file, "facebook", "backfill", "--source", "fb", "--form", FORM_ID, "--since", "2026-11-01")
    assert result.exit_code == 1 and "190/463" in result.output
    assert rt.store.recent() == []


def test_backfill_refuses_a_source_that_is_not_facebook(config_file):
    result = cli(
        config_file, "facebook", "backfill", "--source", "contact-us", "--form", FORM_ID, "--since", "2026-11-01"
    )
    assert result.exit_code == 2 and "no facebook source" in result.output
    bad_date = cli(config_file, "facebook", "backfill", "--source", "fb", "--form", FORM_ID, "--since", "11/01/2026")
    assert bad_date.exit_code == 2


def test_retry_parked_fetches_again_with_the_fixed_token(
    rt, client, graph, crm, deliver_all, config_file, redis_client, monkeypatch
):
    ids = add_form(graph, 3)
    graph.expire_token(PAGE_TOKEN)
    assert post_notification(client, notification([leadgen_change(i) for i in ids])).status_code == 200
    deliver_all(rt)
    parked = rt.store.parked()
    assert len(parked) == 3 and {e.status for e in parked} == {"needs_token"}
    assert crm.deliveries == []

    # the operator pastes a new long-lived page token into the environment
    graph.allow_token("page-token-renewed")
    monkeypatch.setenv("FB_PAGE_TOKEN", "page-token-renewed")
    result = cli(config_file, "facebook", "retry-parked", "--source", "fb")
    assert result.exit_code == 0, result.output
    assert result.output.count("queued") == 3

    from leadgate import runtime as runtime_module

    renewed = Runtime.from_config(load_config(config_file), client=redis_client)
    runtime_module.install(renewed)
    deliver_all(renewed)
    assert sorted(crm.deliveries_by_email()) == ["lead0@example.com", "lead1@example.com", "lead2@example.com"]
    assert rt.store.parked() == [] and {e.status for e in rt.store.recent()} == {"delivered"}
    assert cli(config_file, "facebook", "retry-parked").output.strip() == "no parked facebook leads"


def test_retry_parked_leaves_other_kinds_alone(rt, graph):
    from adapters.base import InboundEvent
    from leadgate.intake import accept

    source = rt.config.sources["contact-us"]
    event_id = accept(rt, source, InboundEvent(raw={"fields": [["email", "a@example.com"]]})).event_id
    rt.store.finish(event_id, dispatch_now(rt)[event_id], "park", {"n": 1}, {"status": "paused"})
    assert retry_parked(rt) == []
    assert [e.id for e in rt.store.parked()] == [event_id]
