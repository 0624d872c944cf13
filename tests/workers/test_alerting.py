"""Alerts end to end: real Slack-compatible and webhook catchers, a real SMTP server, the fake Graph API.

Each condition fires once on every channel, is not sent again while it lasts (deduplicated), and
sends one "resolved" message when it clears. The alert loop is driven one round at a time
(``AlertLoop.run_once``), as the worker's alert thread runs it every ``evaluate_every``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import threading
import time

import pytest
from click.testing import CliRunner

from gateway import create_app
from leadgate import runtime as runtime_module
from leadgate.alert_settings import Channel
from leadgate.alerts import AlertBook
from leadgate.cli import main
from leadgate.operations import resume_destination
from leadgate.runtime import Runtime
from tests.support.catcher import Catcher
from tests.support.catcher import MailCatcher
from tests.support.catcher import wait_for
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.delivery import dispatch_now
from tests.support.graph_api import PAGE_ID
from tests.support.graph_api import PAGE_TOKEN
from tests.support.graph_api import facebook_config
from tests.support.graph_api import facebook_env
from tests.support.graph_api import leadgen_change
from tests.support.graph_api import notification
from tests.support.graph_api import post_notification
from tests.support.hooks import post_form
from workers.alerting import AlertClient
from workers.alerting import AlertLoop
from workers.alerting import sample_notice
from workers.alerting import send_notice
from workers.alerting import sign_body
from workers.facebook_backfill import retry_parked
from workers.worker import LeadWorker
from workers.worker import run_worker

SECRET = "alert-signing-secret"

ALERTS = """alerts:
  repeat_after: 4h
  facebook_check_every: 0.01
  channels:
    - kind: slack
      name: slack
      url: {catcher}/slack
    - kind: webhook
      name: hook
      url: {catcher}/hook
      secret: ${{ALERT_SECRET}}
    - kind: email
      name: mail
      host: 127.0.0.1
      port: {smtp_port}
      from: leadgate@example.com
      to: [ops@example.com]
EXTRA
"""


@pytest.fixture
def catcher():
    with Catcher() as server:
        yield server


@pytest.fixture
def mail():
    with MailCatcher() as server:
        yield server


@pytest.fixture
def alerting(make_config, redis_client, catcher, mail, graph):
    """A runtime whose config has every channel and a facebook source; ``extra`` adds to ``alerts:``."""

    def build(extra: str = "", facebook: bool = False) -> Runtime:
        base = facebook_config(BASE_CONFIG, graph.url) if facebook else BASE_CONFIG
        text = base + ALERTS.replace("{catcher}", catcher.url).replace("{smtp_port}", str(mail.port))
        text = text.replace("EXTRA", extra)
        config = make_config(text, ALERT_SECRET=SECRET, **facebook_env())
        runtime = Runtime.from_config(config, client=redis_client)
        runtime_module.install(runtime)  # what the delivery jobs run with
        return runtime

    yield build
    runtime_module.install(None)


def sent(catcher: Catcher, mail: MailCatcher) -> dict[str, list[str]]:
    """Channel -> the headline of each message it received, in order."""
    return {
        "slack": [p.json()["text"].splitlines()[0] for p in catcher.to("/slack")],
        "hook": [p.json()["text"].splitlines()[0] for p in catcher.to("/hook")],
        "mail": [" ".join(str(m["Subject"]).split()) for m in mail.messages],
    }


def assert_one_round(catcher: Catcher, mail: MailCatcher, rounds: int, word: str, fragment: str) -> None:
    """After ``rounds`` earlier messages, exactly one more on each channel, saying ``word`` about ``fragment``."""
    got = sent(catcher, mail)
    assert {channel: len(headlines) for channel, headlines in got.items()} == dict.fromkeys(got, rounds + 1), got
    for headlines in got.values():
        assert word in headlines[-1] and fragment in headlines[-1], got


def total(catcher: Catcher, mail: MailCatcher) -> int:
    return sum(len(headlines) for headlines in sent(catcher, mail).values())


def test_a_dead_letter_fires_once_is_deduplicated_and_resolves(alerting, client, crm, deliver_all, catcher, mail):
    rt = alerting()
    loop = AlertLoop(rt)
    crm.set_faults(status=400)
    event_id = post_form(client, {"email": "dead@example.com"}).get_json()["event_id"]
    deliver_all(rt)
    assert rt.store.get(event_id).status == "dead"

    loop.run_once()
    assert_one_round(catcher, mail, 0, "CRITICAL", "dead-lettered in the last 10 minutes on contact-us")
    slack_text = catcher.to("/slack")[0].json()["text"]
    assert "400" in slack_text and "leads affected: 1" in slack_text
    assert "leadgate dlq replay --all --source contact-us" in slack_text
    loop.run_once()
    loop.run_once()
    assert total(catcher, mail) == 3  # deduplicated: nothing new while it lasts

    assert rt.store.purge(event_id)
    loop.run_once()
    assert_one_round(catcher, mail, 1, "RESOLVED", "contact-us")
    loop.run_once()
    assert total(catcher, mail) == 6
    assert AlertBook(rt.redis, rt.store.prefix).states() == {}


def test_the_webhook_is_signed_over_its_raw_body(alerting, client, crm, deliver_all, catcher, mail):
    rt = alerting()
    crm.set_faults(status=400)
    post_form(client, {"email": "dead@example.com"})
    deliver_all(rt)
    AlertLoop(rt).run_once()
    [post] = catcher.to("/hook")
    expected = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-leadgate-signature"] == expected == sign_body(SECRET, post.body)
    assert abs(int(post.headers["x-leadgate-timestamp"]) - time.time()) < 60
    assert post.json()["sent_at"] == int(post.headers["x-leadgate-timestamp"])
    assert post.json()["affected"] == 1 and post.json()["kind"] == "dead_letters"


def test_a_401_pause_fires_once_and_resolves_on_resume(alerting, client, crm, deliver_all, catcher, mail):
    rt = alerting()
    loop = AlertLoop(rt)
    crm.set_faults(status=401)
    post_form(client, {"email": "paused@example.com"})
    deliver_all(rt)
    loop.run_once()
    assert_one_round(catcher, mail, 0, "CRITICAL", "deliveries to main are paused")
    assert "leadgate destinations resume main" in catcher.to("/slack")[0].json()["text"]
    loop.run_once()
    assert total(catcher, mail) == 3

    crm.clear_faults()
    assert resume_destination(rt, "main") == 1
    deliver_all(rt)
    loop.run_once()
    assert_one_round(catcher, mail, 1, "RESOLVED", "main")


def test_a_reminder_comes_after_repeat_after_and_not_before(alerting, client, crm, deliver_all, catcher, mail):
    rt = alerting()
    loop = AlertLoop(rt)
    crm.set_faults(status=401)
    post_form(client, {"email": "paused@example.com"})
    deliver_all(rt)
    now = time.time()
    loop.run_once(now)
    loop.run_once(now + 3 * 3600)
    assert total(catcher, mail) == 3
    loop.run_once(now + 4 * 3600 + 1)
    assert_one_round(catcher, mail, 1, "STILL", "paused")


def test_an_expired_facebook_token_fires_and_resolves(alerting, graph, catcher, mail):
    rt = alerting(facebook=True)
    loop = AlertLoop(rt)
    graph.expire_token(PAGE_TOKEN)
    loop.run_once()
    assert_one_round(catcher, mail, 0, "CRITICAL", "Facebook token of fb (access_token) is invalid")
    time.sleep(0.02)
    loop.run_once()
    assert total(catcher, mail) == 3

    graph.allow_token(PAGE_TOKEN)
    time.sleep(0.02)
    loop.run_once()
    assert_one_round(catcher, mail, 1, "RESOLVED", "fb (access_token)")
    assert graph.requests_to("/debug_token")


def test_a_token_about_to_expire_warns_ahead_and_resolves_when_replaced(alerting, graph, catcher, mail):
    rt = alerting(facebook=True)
    loop = AlertLoop(rt)
    graph.token_info(PAGE_TOKEN, expires_at=int(time.time()) + 3 * 86400 + 60)
    loop.run_once()
    assert_one_round(catcher, mail, 0, "WARNING", "expires in 3 days")
    time.sleep(0.02)
    loop.run_once()
    assert total(catcher, mail) == 3
    graph.token_info(PAGE_TOKEN, expires_at=0)  # a new long-lived page token
    time.sleep(0.02)
    loop.run_once()
    assert_one_round(catcher, mail, 1, "RESOLVED", "fb (access_token)")


def test_missing_scopes_fire(alerting, graph, catcher, mail):
    rt = alerting(facebook=True)
    graph.token_info(PAGE_TOKEN, scopes=["pages_show_list", "pages_manage_metadata"])
    AlertLoop(rt).run_once()
    assert_one_round(catcher, mail, 0, "CRITICAL", "lacks leads_retrieval")


def test_a_dropped_subscription_fires_and_leadgate_facebook_subscribe_resolves_it(
    alerting, graph, catcher, mail, tmp_path, redis_url, crm, monkeypatch
):
    rt = alerting(facebook=True)
    loop = AlertLoop(rt)
    graph.unsubscribe(PAGE_ID)
    loop.run_once()
    assert_one_round(catcher, mail, 0, "CRITICAL", f"page {PAGE_ID} of fb is not subscribed to leadgen")
    assert f"leadgate facebook subscribe {PAGE_ID} --source fb" in catcher.to("/slack")[0].json()["text"]

    path = tmp_path / "leadgate.yaml"
    path.write_text(
        f"redis_url: {redis_url}\n" + facebook_config(BASE_CONFIG, graph.url).format(crm_url=crm.url, api_key=API_KEY)
    )
    for name, value in facebook_env().items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["facebook", "subscribe", PAGE_ID, "--source", "fb", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "subscribed" in result.output
    assert graph.subscriptions[PAGE_ID]

    time.sleep(0.02)
    loop.run_once()
    assert_one_round(catcher, mail, 1, "RESOLVED", f"page {PAGE_ID} of fb")


def test_a_silent_source_fires_and_resolves_when_a_lead_comes(alerting, client, deliver_all, catcher, mail):
    rt = alerting("  sources:\n    contact-us:\n      expect_every: 1s\n")
    loop = AlertLoop(rt)
    loop.run_once()
    assert total(catcher, mail) == 0
    time.sleep(1.2)
    loop.run_once()
    assert_one_round(catcher, mail, 0, "WARNING", "no lead from contact-us for 1 second")
    loop.run_once()
    assert total(catcher, mail) == 3

    post_form(client, {"email": "back@example.com"})
    deliver_all(rt)
    loop.run_once()
    assert_one_round(catcher, mail, 1, "RESOLVED", "contact-us")


def test_a_failing_channel_is_retried_and_does_not_stop_the_others(alerting, client, crm, deliver_all, catcher, mail):
    rt = alerting()
    crm.set_faults(status=401)
    post_form(client, {"email": "paused@example.com"})
    deliver_all(rt)
    catcher.answer_next(503, 500)  # the first channel to post fails twice, then takes it
    waits: list[float] = []
    loop = AlertLoop(rt, sleep=waits.append)
    loop.run_once()
    assert waits == [1.0, 2.0]
    assert total(catcher, mail) == 3
    [entry] = AlertBook(rt.redis, rt.store.prefix).sent()
    assert entry["channels"] == {"slack": "ok", "hook": "ok", "mail": "ok"}


def test_a_channel_that_never_answers_is_tried_again_next_round(alerting, client, crm, deliver_all, catcher, mail):
    rt = alerting()
    crm.set_faults(status=401)
    post_form(client, {"email": "paused@example.com"})
    deliver_all(rt)
    mail.stop()  # every channel down: nothing was said, so the next round says it
    catcher.answer_next(*([500] * 8))
    loop = AlertLoop(rt, sleep=lambda _: None)
    loop.run_once()
    assert [p.path for p in catcher.posts] == ["/slack"] * 4 + ["/hook"] * 4
    mail.start()
    loop.run_once()
    assert_one_round(catcher, mail, 0, "CRITICAL", "paused")


def test_a_slow_alert_channel_never_delays_a_delivery(alerting, client, crm, deliver_all, catcher, mail):
    """The alert loop runs beside deliveries: a channel stuck for seconds holds up no lead."""
    rt = alerting()
    crm.set_faults(status=400, count=1)
    post_form(client, {"email": "dead@example.com"})
    deliver_all(rt)
    stuck = threading.Event()
    loop = AlertLoop(rt, sleep=lambda _: stuck.wait(5))
    catcher.answer_next(500)
    sender = threading.Thread(target=loop.run_once)
    sender.start()
    try:
        time.sleep(0.2)  # the loop is now waiting to retry the Slack post
        assert sender.is_alive()
        started = time.monotonic()
        event_id = post_form(client, {"email": "fine@example.com"}).get_json()["event_id"]
        deliver_all(rt)
        assert rt.store.get(event_id).status == "delivered"
        assert time.monotonic() - started < 2
    finally:
        stuck.set()
        sender.join(timeout=10)


def test_only_one_worker_evaluates_at_a_time(alerting, client, crm, deliver_all, catcher, mail):
    rt = alerting()
    crm.set_faults(status=401)
    post_form(client, {"email": "paused@example.com"})
    deliver_all(rt)
    first, second = AlertLoop(rt), AlertLoop(rt)
    assert first.run_once() and second.run_once() == []
    first.stop()  # releases its lease: the other takes over
    assert second.run_once() == []  # nothing new to say, but it evaluated (it holds the lease now)
    assert AlertBook(rt.redis, rt.store.prefix).take_lease(second.owner, 5)


def test_alerts_test_reaches_every_channel(alerting, catcher, mail, tmp_path, redis_url, crm, monkeypatch):
    path = tmp_path / "leadgate.yaml"
    text = BASE_CONFIG.format(crm_url=crm.url, api_key=API_KEY)
    text += ALERTS.replace("{catcher}", catcher.url).replace("{smtp_port}", str(mail.port)).replace("EXTRA", "")
    path.write_text(f"redis_url: {redis_url}\n" + text.replace("${{ALERT_SECRET}}", "${ALERT_SECRET}"))
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    result = CliRunner().invoke(main, ["alerts", "test", "--config", str(path)])
    assert result.exit_code == 0, result.output
    for name in ("slack", "hook", "mail"):
        assert f"{name}: ok" in result.output
    assert_one_round(catcher, mail, 0, "TEST", "test alert from leadgate")

    catcher.answer_next(404)
    failed = CliRunner().invoke(main, ["alerts", "test", "--config", str(path)])
    assert failed.exit_code == 1
    assert "slack: answered 404" in failed.output


@pytest.fixture
def restore_signal_handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_the_worker_sends_alerts_from_its_own_thread(
    alerting, client, crm, deliver_all, catcher, mail, restore_signal_handlers
):
    """``leadgate worker`` (run_worker) evaluates and sends by itself, within ``evaluate_every``."""
    rt = alerting("  evaluate_every: 0.2\n")
    crm.set_faults(status=401)
    post_form(client, {"email": "paused@example.com"})
    deliver_all(rt)

    def stop_once_alerted() -> None:
        try:
            wait_for(lambda: len(mail.messages) == 1 and catcher.to("/hook"), timeout=10)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_once_alerted, daemon=True).start()
    run_worker(rt, name="alerting-worker", dispatch_interval=0.2)
    assert_one_round(catcher, mail, 0, "CRITICAL", "deliveries to main are paused")


def test_leadgate_health_reports_every_active_condition(tmp_path, redis_url, crm, client, rt, deliver_all):
    path = tmp_path / "leadgate.yaml"
    path.write_text(f"redis_url: {redis_url}\n" + BASE_CONFIG.format(crm_url=crm.url, api_key=API_KEY))
    crm.set_faults(status=400, count=1)
    post_form(client, {"email": "dead@example.com"})
    deliver_all(rt)
    result = CliRunner().invoke(main, ["health", "--json", "--config", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    [alert] = report["alerts"]
    assert "dead-lettered" in alert and "leadgate dlq replay --all --source contact-us" in alert


def test_leads_parked_for_a_token_fire_and_resolve_once_retried(alerting, graph, deliver_all, catcher, mail):
    rt = alerting("  conditions:\n    facebook_token: false\n", facebook=True)
    app = create_app(runtime=rt)
    lead = graph.add_lead({"email": "fb@example.com", "full_name": "Fay Bee"})
    graph.expire_token(PAGE_TOKEN)
    assert post_notification(app.test_client(), notification([leadgen_change(lead["id"])])).status_code == 200
    deliver_all(rt)
    loop = AlertLoop(rt)
    loop.run_once()
    assert_one_round(catcher, mail, 0, "CRITICAL", "1 lead(s) on fb wait for a working access token")
    assert "leadgate facebook retry-parked --source fb" in catcher.to("/slack")[0].json()["text"]

    graph.allow_token(PAGE_TOKEN)
    assert all(result.ok for result in retry_parked(rt, "fb"))
    deliver_all(rt)
    loop.run_once()
    assert_one_round(catcher, mail, 1, "RESOLVED", "fb")


def test_a_backlog_fires_and_resolves_once_delivered(alerting, client, crm, deliver_all, catcher, mail):
    rt = alerting("  conditions:\n    backlog_older_than: 0.5\n")
    crm.set_faults(status=503, count=1)
    event_id = post_form(client, {"email": "late@example.com"}).get_json()["event_id"]
    dispatch_now(rt)
    LeadWorker([rt.queue], connection=rt.queue.connection).work(burst=True, with_scheduler=False)
    assert rt.store.get(event_id).status == "retrying"
    time.sleep(0.6)
    loop = AlertLoop(rt)
    loop.run_once()
    assert_one_round(catcher, mail, 0, "CRITICAL", "1 lead(s) undelivered for more than 0 seconds")
    deliver_all(rt)
    assert rt.store.get(event_id).status == "delivered"
    loop.run_once()
    assert_one_round(catcher, mail, 1, "RESOLVED", "undelivered")


def test_a_sharp_rise_of_rejections_fires_and_resolves_when_it_passes(alerting, client, catcher, mail):
    rt = alerting("  conditions:\n    rejection_minimum: 3\n")
    loop = AlertLoop(rt)
    now = time.time()
    loop.run_once(now)  # the first sample of the counters
    for n in range(3):
        assert post_form(client, {"message": f"no contact {n}"}).status_code == 422
    loop.run_once(now + 1)
    assert_one_round(catcher, mail, 0, "WARNING", "3 rejected post(s) on contact-us in the last two hours")
    loop.run_once(now + 3 * 3600)
    assert_one_round(catcher, mail, 1, "RESOLVED", "rejected")


def test_a_learned_silence_outlives_the_week_it_was_learned_from(alerting, client, deliver_all, catcher, mail):
    rt = alerting()
    for n in range(12):
        post_form(client, {"email": f"steady{n}@example.com"})
    deliver_all(rt)
    loop = AlertLoop(rt)
    now = time.time()
    loop.run_once(now)
    assert total(catcher, mail) == 0  # a lead came seconds ago
    loop.run_once(now + 2 * 3600)
    assert_one_round(catcher, mail, 0, "WARNING", "no lead from contact-us for 2 hours")
    loop.run_once(now + 8 * 86400)  # no lead left in the 7 days it learned from: still silent
    assert total(catcher, mail) == 3 + 3  # a reminder, not a "resolved"
    assert all("STILL" in headlines[-1] for headlines in sent(catcher, mail).values()), sent(catcher, mail)


def test_an_smtp_server_without_starttls_never_gets_the_password(mail):
    channel = Channel(
        kind="email",
        name="mail",
        host="127.0.0.1",
        port=mail.port,
        user="u",
        password="p",
        sender="a@example.com",
        recipients=("b@example.com",),
    )
    result = send_notice(channel, sample_notice(), AlertClient(timeout=2), sleep=lambda _: None)
    assert "does not offer STARTTLS" in result
    assert mail.messages == []


def test_subscribe_says_why_graph_refused(graph, tmp_path, redis_url, crm, monkeypatch):
    graph.token_info(PAGE_TOKEN, scopes=["leads_retrieval"])
    path = tmp_path / "leadgate.yaml"
    path.write_text(
        f"redis_url: {redis_url}\n" + facebook_config(BASE_CONFIG, graph.url).format(crm_url=crm.url, api_key=API_KEY)
    )
    for name, value in facebook_env().items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["facebook", "subscribe", PAGE_ID, "--config", str(path)])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "Requires pages_manage_metadata" in said and "retry-parked" not in said


def test_alerts_list_shows_what_is_active_and_what_was_sent(alerting, client, crm, deliver_all, tmp_path, redis_url):
    rt = alerting()
    crm.set_faults(status=401)
    post_form(client, {"email": "paused@example.com"})
    deliver_all(rt)
    AlertLoop(rt).run_once()
    path = tmp_path / "leadgate.yaml"
    path.write_text(f"redis_url: {redis_url}\n" + BASE_CONFIG.format(crm_url=crm.url, api_key=API_KEY))
    active = CliRunner().invoke(main, ["alerts", "list", "--config", str(path)])
    said = " ".join(active.output.split())
    assert active.exit_code == 0 and "deliveries to main are paused" in said
    assert "leadgate destinations resume main" in said
    logged = CliRunner().invoke(main, ["alerts", "list", "--sent", "--json", "--config", str(path)])
    [entry] = json.loads(logged.output)
    assert entry["state"] == "firing" and set(entry["channels"]) == {"slack", "hook", "mail"}
