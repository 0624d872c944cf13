"""``leadgate send-test``: samples per kind, posted over real HTTP to the gateway served on loopback.

The gateway runs in a werkzeug server thread on 127.0.0.1 with the test runtime (real Redis, the
sandbox ConnectGain), and the command reads its own copy of the config from a file, as a user's
shell would. Kinds whose adapter module is not installed are skipped by name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from adapters import get_adapter
from adapters.samples import MARKER
from adapters.samples import build_samples
from leadgate.cli import main
from leadgate.cli.sendtest import SendTestError
from leadgate.cli.sendtest import hook_url
from leadgate.cli.sendtest import send_test
from leadgate.config import Config
from leadgate.sandbox import SandboxCRM
from tests.support.config import API_KEY
from tests.support.config import parse_yaml

pytestmark = pytest.mark.timeout(120)

HEAD = """
destinations:
  main:
    base_url: {crm_url}
    api_key: {api_key}
delivery:
  max_attempts: 2
  backoff_seconds: [0.05]
  timeout_seconds: 2
  jitter: 0
sources:
"""

SOURCES = {
    "form": """  contact-us:
    kind: form
    tags: [website]
    honeypot: _gotcha
    redirect: https://example.com/thanks
    allowed_origins: [https://example.com]
""",
    "json": """  webflow:
    kind: json
    token: wf-token
    secret: wf-secret
    event_id: payload.id
    tags: ["{{custom_fields.form}}"]
    mapping:
      first_name: payload.data."First Name"
      last_name: 'payload.data."Last Name"'
      email: payload.data.email
      phone: payload.data.Phone
      custom_fields.form: payload.name
  calendly:
    kind: json
    auth: none
    items: "[@][?event=='invitee.created']"
    event_id: payload.uri
    unmapped: drop
    mapping:
      full_name: payload.name
      email: payload.email
      company_name: "payload.questions_and_answers[?question=='Company'].answer | [0]"
      description: "join(', ', payload.questions_and_answers[].answer)"
      custom_fields.utm_source: payload.tracking.utm_source
  no-contact:
    kind: json
    auth: none
    mapping: {{custom_fields.note: note}}
  preset-webflow:
    kind: json
    preset: webflow
    secret: wf-app-secret
  preset-calendly:
    kind: json
    preset: calendly
    secret: cal-signing-key
  preset-tally:
    kind: json
    preset: tally
    secret: tally-secret
  preset-hubspot:
    kind: json
    preset: hubspot
    secret: hs-client-secret
  preset-jotform:
    kind: json
    preset: jotform
    token: jf-token
""",
    "google_ads": """  google:
    kind: google_ads
    google_key: g-key
""",
    "typeform": """  tf:
    kind: typeform
    secret: tf-secret
""",
    "facebook": """  fb:
    kind: facebook
    app_secret: fb-app-secret
    verify_token: fb-verify
    access_token: fb-access
    page_tokens: {{"123456789": fb-page-token}}
    graph_api_url: http://127.0.0.1:9/v21.0
""",
}


def config_text(**replace: str) -> str:
    """The config of every installed kind; ``replace`` swaps one value (``old=new``) in the text."""
    text = HEAD + "".join(block for kind, block in SOURCES.items() if get_adapter(kind) is not None)
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def needs(kind: str) -> None:
    if get_adapter(kind) is None:
        pytest.skip(f"the {kind} adapter module is not installed yet")


@pytest.fixture
def config(make_config) -> Config:
    return make_config(config_text())


def write_config(tmp_path: Path, crm: SandboxCRM, text: str, name: str = "leadgate.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.format(crm_url=crm.url, api_key=API_KEY), encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path, crm: SandboxCRM) -> Path:
    return write_config(tmp_path, crm, config_text())


def run(config_file: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["send-test", *args, "--config", str(config_file)], catch_exceptions=False)


def delivered(crm: SandboxCRM) -> list[dict[str, Any]]:
    return [d["payload"] for d in crm.deliveries]


def test_form_sample_is_posted_and_delivered(config_file, live_server, rt, crm, deliver_all):
    result = run(config_file, "contact-us", "--url", live_server)
    assert result.exit_code == 0, result.output
    assert f"POST {live_server}/hooks/contact-us -> 202" in result.output
    assert '"status": "queued"' in result.output
    deliver_all(rt)
    [lead] = delivered(crm)
    assert lead["first_name"] == "Jane" and lead["last_name"] == "Roe"
    assert lead["email"] == "jane.roe@example.com" and lead["phone"] == "+14155552671"
    assert lead["company_name"] == "Acme Inc"
    assert lead["tags"] == ["website"]
    assert lead["custom_fields"][MARKER].startswith("send-test-")


def test_running_it_twice_is_two_leads_not_a_duplicate(config_file, live_server, rt, crm, deliver_all):
    assert run(config_file, "contact-us", "--url", live_server).exit_code == 0
    assert run(config_file, "contact-us", "--url", live_server).exit_code == 0
    deliver_all(rt)
    assert len(crm.deliveries) == 2


def test_json_sample_follows_the_mapping_with_token_and_signature(config_file, live_server, rt, crm, deliver_all):
    result = run(config_file, "webflow", "--url", live_server)
    assert result.exit_code == 0, result.output
    deliver_all(rt)
    [lead] = delivered(crm)
    assert lead["first_name"] == "Jane" and lead["last_name"] == "Roe"
    assert lead["email"] == "jane.roe@example.com" and lead["phone"] == "+14155552671"
    assert lead["tags"] == ["sample form"]
    assert lead["custom_fields"]["form"] == "sample form"
    [event] = rt.store.recent()
    assert event.dedupe_keys == [lead["custom_fields"][MARKER]]


def test_json_sample_through_an_items_filter_and_unbuildable_expressions(
    config_file, live_server, rt, crm, deliver_all
):
    result = run(config_file, "calendly", "--url", live_server)
    assert result.exit_code == 0, result.output
    assert "note: cannot build a sample for description" in result.output
    deliver_all(rt)
    [lead] = delivered(crm)
    assert lead["first_name"] == "Jane" and lead["company_name"] == "Acme Inc"
    assert lead["custom_fields"] == {"utm_source": "sample utm_source"}


def test_a_sample_stored_as_rejected_fails_the_command(config_file, live_server, rt):
    result = run(config_file, "no-contact", "--url", live_server)
    assert result.exit_code == 1
    assert "-> 202" in result.output and "FAILED: stored as rejected" in result.output
    assert [e.status for e in rt.store.recent()] == ["rejected"]


def test_google_ads_sample_is_a_test_lead_with_the_key(config_file, live_server, rt, crm, deliver_all):
    needs("google_ads")
    result = run(config_file, "google", "--url", live_server)
    assert result.exit_code == 0, result.output
    assert "-> 200" in result.output
    deliver_all(rt)
    [lead] = delivered(crm)
    assert lead["email"] == "jane.roe@example.com" and lead["first_name"] == "Jane"
    assert "test-lead" in lead["tags"]


def test_typeform_sample_is_signed_and_mapped(config_file, live_server, rt, crm, deliver_all):
    needs("typeform")
    result = run(config_file, "tf", "--url", live_server)
    assert result.exit_code == 0, result.output
    deliver_all(rt)
    [lead] = delivered(crm)
    assert (lead["first_name"], lead["last_name"], lead["email"]) == ("Jane", "Roe", "jane.roe@example.com")
    assert lead["phone"] == "+14155552671"


def test_facebook_sample_checks_handshake_and_signature_without_inventing_a_lead(config_file, live_server, rt):
    needs("facebook")
    result = run(config_file, "fb", "--url", live_server)
    assert result.exit_code == 0, result.output
    assert f"GET {live_server}/hooks/fb -> 200" in result.output
    assert f"POST {live_server}/hooks/fb -> 200" in result.output
    assert "Lead Ads Testing Tool" in result.output
    assert "fb-verify" not in result.output and "fb-app-secret" not in result.output
    assert rt.store.recent() == []


@pytest.mark.parametrize(
    ("source_id", "kind", "old", "new"),
    [
        ("webflow", "json", "secret: wf-secret", "secret: stale"),
        ("webflow", "json", "token: wf-token", "token: stale"),
        ("tf", "typeform", "secret: tf-secret", "secret: stale"),
        ("google", "google_ads", "google_key: g-key", "google_key: stale"),
        ("fb", "facebook", "app_secret: fb-app-secret", "app_secret: stale"),
        ("fb", "facebook", "verify_token: fb-verify", "verify_token: stale"),
    ],
)
def test_secrets_that_differ_from_the_gateway_fail_the_command(
    tmp_path, crm, live_server, rt, source_id, kind, old, new
):
    needs(kind)
    stale = write_config(tmp_path, crm, config_text(**{old: new}), "stale.yaml")
    result = run(stale, source_id, "--url", live_server)
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output
    assert rt.store.recent() == []


def test_public_url_is_the_default_target(tmp_path, crm, live_server, rt):
    path = write_config(tmp_path, crm, f"public_url: {live_server}/\n" + config_text(), "public.yaml")
    result = run(path, "contact-us")
    assert result.exit_code == 0, result.output
    assert f"{live_server}/hooks/contact-us -> 202" in result.output


def test_unreachable_gateway_and_unknown_source_exit_non_zero(config_file, rt):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    result = run(config_file, "contact-us", "--url", f"http://127.0.0.1:{closed_port}")
    assert result.exit_code == 1
    assert "cannot reach the gateway" in result.output
    result = run(config_file, "nope", "--url", f"http://127.0.0.1:{closed_port}")
    assert result.exit_code == 1
    assert "no source named 'nope'" in result.output and "contact-us" in result.output


def test_non_2xx_fails_and_shows_the_answer(config_file):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"ok": False, "error": "store_unavailable"})

    config = parse_yaml(config_text().format(crm_url="http://127.0.0.1:9", api_key="k"), {})
    report = send_test(config, "contact-us", "http://gw.test", transport=httpx.MockTransport(handler))
    assert not report.ok
    assert "FAILED: the gateway answered 503" in report.lines()
    assert any("store_unavailable" in line for line in report.lines())


# --- the samples themselves ----------------------------------------------------------------------


def sources() -> Config:
    return parse_yaml(config_text().format(crm_url="http://127.0.0.1:9", api_key="k"), {})


def test_json_sample_is_signed_over_the_exact_bytes():
    [sample] = build_samples(sources().sources["webflow"], "RUN-1")
    digest = hmac.new(b"wf-secret", sample.body, hashlib.sha256).hexdigest()
    assert sample.headers["X-Signature-256"] == f"sha256={digest}"
    assert sample.headers["Authorization"] == "Bearer wf-token"
    assert json.loads(sample.body) == {
        "payload": {
            "data": {
                "First Name": "Jane",
                "Last Name": "Roe",
                "email": "jane.roe@example.com",
                "Phone": "+14155552671",
            },
            "name": "sample form",
            "id": "RUN-1",
        },
        MARKER: "RUN-1",
    }


def test_typeform_sample_is_signed_in_base64():
    needs("typeform")
    [sample] = build_samples(sources().sources["tf"], "RUN-2")
    digest = base64.b64encode(hmac.new(b"tf-secret", sample.body, hashlib.sha256).digest()).decode()
    assert sample.headers["Typeform-Signature"] == f"sha256={digest}"
    assert json.loads(sample.body)["event_id"] == "RUN-2"


def test_facebook_sample_is_signed_in_hex_for_a_configured_page():
    needs("facebook")
    handshake, notification = build_samples(sources().sources["fb"], "RUN-3")
    assert handshake.method == "GET" and handshake.query["hub.verify_token"] == "fb-verify"
    assert handshake.expect_text == handshake.query["hub.challenge"]
    digest = hmac.new(b"fb-app-secret", notification.body, hashlib.sha256).hexdigest()
    assert notification.headers["X-Hub-Signature-256"] == f"sha256={digest}"
    assert json.loads(notification.body)["entry"][0]["id"] == "123456789"


def test_an_items_expression_the_builder_cannot_shape_is_a_clear_error():
    text = HEAD + "  odd:\n    kind: json\n    auth: none\n    items: 'length(leads)'\n    mapping: {{email: email}}\n"
    source = parse_yaml(text.format(crm_url="http://127.0.0.1:9", api_key="k"), {}).sources["odd"]
    with pytest.raises(SendTestError, match="cannot build a sample body for items 'length\\(leads\\)'"):
        build_samples(source)


def test_hook_url_prefers_the_flag_then_public_url():
    config = sources()
    source = config.sources["contact-us"]
    assert hook_url(config, source) == "http://127.0.0.1:5000/hooks/contact-us"
    assert hook_url(config, source, "https://gw.example/") == "https://gw.example/hooks/contact-us"
    assert hook_url(config, source, "https://gw.example/hooks/contact-us") == "https://gw.example/hooks/contact-us"


@pytest.mark.parametrize("preset", ["webflow", "calendly", "tally", "hubspot", "jotform"])
def test_a_preset_source_gets_its_senders_example_signed_its_senders_way(
    preset, config_file, live_server, rt, crm, deliver_all
):
    result = run(config_file, f"preset-{preset}", "--url", live_server)
    assert result.exit_code == 0, result.output
    assert "-> 20" in result.output and "-> 401" not in result.output
    deliver_all(rt)
    [lead] = delivered(crm)
    assert lead["email"] == "jane.roe@example.com" and lead["source"] == preset
