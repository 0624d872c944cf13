"""The admin surface: token guessing, token length, sessions, ids and ``next`` in URLs, /readyz.

The audit sent 60 wrong admin tokens in 0.3 s (all 401); ran with ``admin_token: short``; found the
session cookie holding ``HMAC-SHA256(token, constant)`` (offline guessing from a stolen cookie) and
still opening the dashboard after logout; got 500 for ``GET /admin/login?next=/admin/%0d%0aX`` while
logged in and 500 WRONGTYPE for an event id like ``ev_…:attempts``; and read the absolute config
path on the public ``/readyz``.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from gateway import create_app
from gateway.auth import SESSION_LIFETIME
from gateway.auth import session_key
from leadgate import defaults
from leadgate.cli.dev import with_admin_token
from leadgate.config import ConfigError
from leadgate.events import is_event_id
from leadgate.events import new_event_id
from leadgate.runtime import Runtime
from tests.support.admin import ADMIN_CONFIG
from tests.support.admin import AUTH
from tests.support.admin import TOKEN
from tests.support.admin import client_from
from tests.support.admin import csrf_from
from tests.support.admin import dead_letter
from tests.support.admin import log_in
from tests.support.admin import post_lead
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.config import parse_yaml

ATTACKER = "203.0.113.66"
OPERATOR = "198.51.100.7"
WRONG = {"Authorization": "Bearer " + "x" * 40}
OLD_COOKIE_VALUE_LABEL = b"leadgate dashboard login v1"
"""What the cookie used to carry: HMAC(token, this label)."""


@pytest.fixture
def config(make_config):
    return make_config(ADMIN_CONFIG)


def session_of(app, client) -> dict:
    """The dashboard cookie's contents, as the app reads it."""
    cookie = client.get_cookie("leadgate_admin", path="/admin")
    assert cookie is not None
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def signed_session(app, data: dict) -> str:
    """A cookie value ``app`` accepts as its own (what a holder of its SECRET_KEY could forge)."""
    return app.session_interface.get_signing_serializer(app).dumps(data)


# -- 1. token guessing is limited per address ------------------------------------------------------


def test_wrong_bearer_tokens_get_429_after_five_and_then_even_the_right_one_waits(app):
    attacker = client_from(app, ATTACKER)
    statuses = [attacker.get("/admin/api/sources", headers=WRONG).status_code for _ in range(5)]
    assert statuses == [401] * 5
    refused = attacker.get("/admin/api/sources", headers=WRONG)
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["error"] == "rate_limited" and body["errors"]["limit"] == "5 per 1 minute"
    assert "5 per 1 minute" in body["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert attacker.get("/admin/api/sources", headers=AUTH).status_code == 429  # no token is compared now
    assert client_from(app, OPERATOR).get("/admin/api/sources", headers=AUTH).status_code == 200


def test_guessing_on_metrics_counts_against_the_same_limit(app):
    """/metrics takes the admin token too (unless metrics_public): no unlimited guessing there either."""
    attacker = client_from(app, ATTACKER)
    assert [attacker.get("/metrics", headers=WRONG).status_code for _ in range(5)] == [401] * 5
    assert attacker.get("/metrics", headers=AUTH).status_code == 429
    assert attacker.get("/admin/api/sources", headers=AUTH).status_code == 429  # one count per address
    assert client_from(app, OPERATOR).get("/metrics", headers=AUTH).status_code == 200


def test_guesses_on_urls_that_match_no_route_count_too(app):
    attacker = client_from(app, ATTACKER)
    assert {attacker.get(f"/admin/api/nothing-{n}", headers=WRONG).status_code for n in range(5)} == {401}
    assert attacker.delete("/admin/api/sources", headers=WRONG).status_code == 429


def test_right_tokens_and_requests_without_one_are_not_counted(app):
    operator = client_from(app, OPERATOR)
    for _ in range(20):
        assert operator.get("/admin/api/sources", headers=AUTH).status_code == 200
        assert operator.get("/admin/api/sources").status_code == 401
    assert [operator.get("/admin/api/sources", headers=WRONG).status_code for _ in range(5)] == [401] * 5
    assert operator.get("/admin/api/sources", headers=WRONG).status_code == 429


def test_dashboard_logins_share_the_count_and_answer_a_page(app):
    attacker = client_from(app, ATTACKER)
    for _ in range(3):
        assert attacker.get("/admin/api/sources", headers=WRONG).status_code == 401
    for _ in range(2):
        assert log_in(attacker, token="not-the-token").status_code == 401
    refused = log_in(attacker)  # the right token, but the address is locked out
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "Too many wrong tokens from this address (5 per 1 minute)" in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert attacker.get("/admin/").status_code == 302
    operator = client_from(app, OPERATOR)
    assert log_in(operator).status_code == 303
    assert operator.get("/admin/").status_code == 200


# -- 2. admin_token is long enough; leadgate dev makes one up --------------------------------------


def test_a_short_admin_token_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crm, redis_url):
    path = tmp_path / "leadgate.yaml"
    path.write_text("admin_token: short\n" + BASE_CONFIG.format(crm_url=crm.url, api_key=API_KEY))
    monkeypatch.setenv("LEADGATE_CONFIG", str(path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    with pytest.raises(ConfigError, match=rf"admin_token: must be at least {defaults.ADMIN_TOKEN_MIN_LENGTH} char"):
        create_app()


def test_an_admin_token_of_the_minimum_length_starts(make_config):
    token = "k" * defaults.ADMIN_TOKEN_MIN_LENGTH
    assert make_config(f"admin_token: {token}\n" + BASE_CONFIG).admin_token == token
    with pytest.raises(ConfigError, match="it has 31"):
        make_config(f"admin_token: {token[:-1]}\n" + BASE_CONFIG)


def test_leadgate_dev_makes_up_a_random_admin_token_when_none_is_set(make_config, redis_client):
    config, token = with_admin_token(make_config())
    assert token is not None and len(token) >= defaults.ADMIN_TOKEN_MIN_LENGTH
    assert config.admin_token == token and with_admin_token(make_config())[1] != token
    client = create_app(runtime=Runtime.from_config(config, client=redis_client)).test_client()
    assert client.get("/admin/api/sources", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    kept, none = with_admin_token(make_config(ADMIN_CONFIG))
    assert none is None and kept.admin_token == TOKEN


# -- 3. sessions: a random server-side id, revoked on logout, expiring, ended by a token change ----


def test_the_cookie_holds_a_random_session_id_and_nothing_derived_from_the_token(app, client, rt):
    assert log_in(client).status_code == 303
    data = session_of(app, client)
    old_value = hmac.new(TOKEN.encode(), OLD_COOKIE_VALUE_LABEL, hashlib.sha256).hexdigest()
    assert old_value not in data.values() and "admin" not in data
    session_id = data["sid"]
    assert len(session_id) >= 43 and TOKEN not in session_id
    ttl = rt.redis.ttl(session_key(session_id))
    assert SESSION_LIFETIME.total_seconds() - 5 < ttl <= SESSION_LIFETIME.total_seconds()
    other = app.test_client()
    assert log_in(other).status_code == 303
    assert session_of(app, other)["sid"] != session_id


def test_logging_out_revokes_the_session_so_a_copied_cookie_opens_nothing(app, client):
    assert log_in(client).status_code == 303
    stolen = client.get_cookie("leadgate_admin", path="/admin").value
    elsewhere = app.test_client()
    elsewhere.set_cookie("leadgate_admin", stolen, path="/admin")
    assert elsewhere.get("/admin/").status_code == 200
    response = client.post("/admin/logout", data={"csrf_token": csrf_from(client, "/admin/")})
    assert response.status_code == 303
    replayed = app.test_client()
    replayed.set_cookie("leadgate_admin", stolen, path="/admin")
    assert replayed.get("/admin/").status_code == 302
    assert elsewhere.get("/admin/").status_code == 302


def test_logging_out_ends_only_that_session(app, client):
    second = app.test_client()
    assert log_in(client).status_code == 303 and log_in(second).status_code == 303
    client.post("/admin/logout", data={"csrf_token": csrf_from(client, "/admin/")})
    assert second.get("/admin/").status_code == 200


def test_a_session_ends_when_its_record_expires(app, client, rt):
    assert log_in(client).status_code == 303
    rt.redis.delete(session_key(session_of(app, client)["sid"]))  # what Redis does after SESSION_LIFETIME
    assert client.get("/admin/").status_code == 302


def test_rotating_the_admin_token_ends_every_session(app, client, rt, make_config):
    assert log_in(client).status_code == 303
    session_id = session_of(app, client)["sid"]
    rotated_config = make_config(ADMIN_CONFIG.replace(TOKEN, "rotated-" + TOKEN))
    rotated = create_app(runtime=Runtime.from_config(rotated_config, client=rt.redis))
    browser = rotated.test_client()
    browser.set_cookie("leadgate_admin", client.get_cookie("leadgate_admin", path="/admin").value, path="/admin")
    assert browser.get("/admin/").status_code == 302
    # even a cookie the new key signs cannot reopen a session opened under the old token
    forged = signed_session(rotated, {"sid": session_id, "_permanent": True})
    browser.set_cookie("leadgate_admin", forged, path="/admin")
    assert browser.get("/admin/").status_code == 302


def test_a_cookie_with_a_made_up_session_id_opens_nothing(app):
    browser = app.test_client()
    browser.set_cookie("leadgate_admin", signed_session(app, {"sid": "made-up", "_permanent": True}), path="/admin")
    assert browser.get("/admin/").status_code == 302


# -- 4. ids in URLs are event ids, or 404 ----------------------------------------------------------


def test_event_ids_are_what_new_event_id_makes():
    assert is_event_id(new_event_id())
    for text in ("", "ev_", "ev_1", "ev_0193a1b2c3d4e5f6a7b8c9d0:attempts", "EV_0193A1B2C3D4E5F6A7B8C9D0", "x" * 27):
        assert not is_event_id(text), text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/api/events/{id}"),
        ("GET", "/admin/api/events/{id}/raw"),
        ("POST", "/admin/api/events/{id}/replay"),
        ("DELETE", "/admin/api/dead-letters/{id}"),
    ],
)
@pytest.mark.parametrize("suffix", [":payload", ":attempts", "x"])
def test_an_id_that_is_not_an_event_id_is_404_on_the_api(client, rt, crm, deliver_all, method, path, suffix):
    event_id = dead_letter(client, rt, crm, deliver_all)
    rt.redis.rpush(rt.store.attempts_key(event_id), "{}")  # the attempts list older events still have
    response = client.open(path.format(id=event_id + suffix), method=method, headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_event"
    assert rt.store.get(event_id).status == "dead"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/events/{id}"),
        ("GET", "/admin/events/{id}/raw"),
        ("POST", "/admin/events/{id}/replay"),
        ("POST", "/admin/dead-letters/{id}/purge"),
    ],
)
def test_an_id_that_is_not_an_event_id_is_a_404_page_on_the_dashboard(client, rt, crm, deliver_all, method, path):
    event_id = dead_letter(client, rt, crm, deliver_all)
    rt.redis.rpush(rt.store.attempts_key(event_id), "{}")
    assert log_in(client).status_code == 303
    data = {"csrf_token": csrf_from(client, "/admin/")} if method == "POST" else None
    response = client.open(path.format(id=event_id + ":attempts"), method=method, data=data)
    assert response.status_code == 404
    assert response.mimetype == "text/html" and "No such event" in response.get_data(as_text=True)
    assert rt.store.get(event_id).status == "dead"


def test_a_well_formed_id_of_no_event_is_still_a_plain_404(client):
    missing = new_event_id()
    response = client.get(f"/admin/api/events/{missing}", headers=AUTH)
    assert response.status_code == 404 and response.get_json()["error"] == "unknown_event"
    assert client.post(f"/admin/api/events/{missing}/replay", headers=AUTH).status_code == 404


# -- 5. next is a dashboard path or nothing --------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/admin/%0d%0aX",
        "/admin/%0aSet-Cookie:%20x=1",
        "/admin/%09x",
        "/admin/%5Cevil.example",
        "/admin//evil.example",
        "/admin/..%2Fhooks%2Fcontact-us",
        "/admin/%252e%252e/hooks",
        "/admin/%C3%A9",
        "https://evil.example/admin/",
    ],
)
def test_a_bad_next_falls_back_to_the_dashboard_instead_of_a_500(client, target: str):
    assert log_in(client).status_code == 303
    response = client.get(f"/admin/login?next={target}")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    client.post("/admin/logout", data={"csrf_token": csrf_from(client, "/admin/")})
    response = client.post(f"/admin/login?next={target}", data={"token": TOKEN, "csrf_token": csrf_from(client)})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"


def test_a_good_next_is_kept(client):
    assert log_in(client, next_path="/admin/events?q=jane&status=dead").headers["Location"] == (
        "/admin/events?q=jane&status=dead"
    )
    assert client.get("/admin/login?next=/admin/dead-letters").headers["Location"] == "/admin/dead-letters"


# -- 6. /readyz names no file ----------------------------------------------------------------------


def test_readyz_shows_no_config_path(crm, redis_url, redis_client):
    path = "/srv/leadgate-secret-place/leadgate.yaml"
    text = ADMIN_CONFIG.format(crm_url=crm.url, api_key=API_KEY)
    config = parse_yaml(text, {"REDIS_URL": redis_url}, path=path)
    assert config.path == path
    client = create_app(runtime=Runtime.from_config(config, client=redis_client)).test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["config"] == "loaded"
    assert "/srv" not in response.get_data(as_text=True) and "leadgate.yaml" not in response.get_data(as_text=True)


def test_the_event_list_still_opens_events(client, rt):
    """The id check lets every real id through: a posted lead opens on the API and the dashboard."""
    event_id = post_lead(client, name="Ida Id", email="ida@example.com")
    assert client.get(f"/admin/api/events/{event_id}", headers=AUTH).status_code == 200
    assert log_in(client).status_code == 303
    assert client.get(f"/admin/events/{event_id}").status_code == 200
