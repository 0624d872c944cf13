"""Who may use the admin surface: a bearer token for the API, a login session for the dashboard.

The admin surface exists only when ``admin_token`` is configured. Without one every
``/admin`` URL answers 404, exactly like a URL that does not exist.

Wrong tokens are counted per client address (:func:`gateway.limits.client_ip`), dashboard
log-ins and API bearer tokens together, in the rate limiter's Redis storage: after
``defaults.ADMIN_TOKEN_FAILURES`` the address gets 429 with ``Retry-After`` and no token it
sends is compared, the right one included, until the oldest failure ages out. Right tokens
are not counted. Like every limiter here it lets requests through when Redis is unreachable.

A dashboard login is a record in Redis (:func:`session_key`) under a random id; the cookie
carries that id and nothing derived from the token. Logging out deletes the record, Redis
expires it after ``SESSION_LIFETIME`` whatever the cookie says, and it holds a fingerprint
of the token it was opened with, so rotating the token ends every session.

Flask signs the cookie with a ``SECRET_KEY`` derived from the admin token (HMAC-SHA256 with a
fixed label), so every gunicorn worker and every restart agree on it without another secret to
configure, and a token change also makes old cookies unreadable. The signature is the one thing
in a cookie that depends on the token; guessing the token offline from it is hopeless because
``admin_token`` must be at least ``defaults.ADMIN_TOKEN_MIN_LENGTH`` characters, and a stolen
cookie stops working at logout or expiry. Form posts carry a Flask-WTF CSRF token; the API
takes no cookies, so needs none.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import redis
from flask import Flask
from flask import Response
from flask import abort
from flask import current_app
from flask import request
from flask import session
from flask_wtf.csrf import generate_csrf  # type: ignore[import-untyped]  # Flask-WTF ships no types (whole module)
from flask_wtf.csrf import validate_csrf
from limits import parse
from wtforms.validators import ValidationError  # type: ignore[import-untyped]  # types-WTForms is not installed

from gateway.limits import client_ip
from gateway.limits import limiter
from gateway.responses import error_response
from leadgate import defaults
from leadgate.credentials import bearer_token
from leadgate.credentials import secrets_match

__all__ = [
    "API_PREFIX",
    "SESSION_LIFETIME",
    "Lockout",
    "admin_token",
    "check_csrf",
    "count_wrong_token",
    "init_app",
    "is_admin_path",
    "locked_out",
    "lockout",
    "log_in",
    "log_out",
    "logged_in",
    "require_admin_surface",
    "require_bearer",
    "session_key",
    "session_secret",
    "token_fingerprint",
]

log = logging.getLogger(__name__)

API_PREFIX = "/admin/api"
SESSION_KEY_LABEL = b"leadgate dashboard session key v1"
FINGERPRINT_LABEL = b"leadgate dashboard session record v1"
SESSION_LIFETIME = timedelta(hours=12)
"""A dashboard login lasts this long (its Redis record's TTL); the CSRF token lives as long as the session."""
WRONG_TOKENS = parse(defaults.ADMIN_TOKEN_FAILURES)
WRONG_TOKEN_SCOPE = (f"{defaults.KEY_PREFIX}rl", "admin-token")
"""The limiter identifiers every wrong-token count is kept under, before the client address."""


def admin_token() -> str | None:
    return current_app.extensions["leadgate"].config.admin_token or None


def _redis() -> redis.Redis:
    return current_app.extensions["leadgate"].redis


def _derive(token: str, label: bytes) -> str:
    return hmac.new(token.encode(), label, hashlib.sha256).hexdigest()


def session_secret(token: str) -> str:
    """Flask's ``SECRET_KEY``: stable for a given admin token, never the token itself."""
    return _derive(token, SESSION_KEY_LABEL)


def token_fingerprint(token: str) -> str:
    """What a session record holds of the token it was opened with (kept in Redis, never in the cookie)."""
    return _derive(token, FINGERPRINT_LABEL)


def session_key(session_id: str) -> str:
    """The Redis key of one dashboard session."""
    return f"{defaults.KEY_PREFIX}admin:session:{session_id}"


def is_admin_path(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


@dataclass(frozen=True)
class Lockout:
    """This client address sent too many wrong admin tokens: nothing it sends is compared for a while."""

    limit: str
    """The limit in words, e.g. ``5 per 1 minute``."""
    retry_after: int
    """Seconds until its oldest counted failure ages out."""

    @property
    def message(self) -> str:
        return f"too many wrong admin tokens from this address ({self.limit}); try again in {self.retry_after} s"


def lockout() -> Lockout | None:
    """The lockout of this request's client address, or None while it may still try a token."""
    address = (*WRONG_TOKEN_SCOPE, client_ip())
    try:
        if limiter.limiter.test(WRONG_TOKENS, *address):
            return None
        reset_at = limiter.limiter.get_window_stats(WRONG_TOKENS, *address).reset_time
    except redis.RedisError:
        log.warning("cannot read the admin token failure count (Redis unreachable); not limiting")
        return None
    return Lockout(str(WRONG_TOKENS), max(1, math.ceil(reset_at - time.time())))


def locked_out(locked: Lockout) -> Response:
    """The JSON 429 a locked-out address gets wherever it sends a bearer token (admin API, ``/metrics``)."""
    headers = {"Retry-After": str(locked.retry_after)}
    return error_response(429, "rate_limited", locked.message, {"limit": locked.limit}, headers=headers)


def count_wrong_token(where: str) -> None:
    """Counts a wrong token against this request's client address (best effort, like every limiter here)."""
    log.warning("wrong admin token (%s) from %s", where, client_ip())
    try:
        limiter.limiter.hit(WRONG_TOKENS, *WRONG_TOKEN_SCOPE, client_ip())
    except redis.RedisError:
        log.warning("cannot count a wrong admin token (Redis unreachable)")


def require_admin_surface() -> None:
    """404 for the whole admin surface when no admin token is configured (it is off).

    Registered on the app, not the blueprints, so it also runs for URLs that match no
    route (a wrong method would otherwise answer 405 and show the surface exists).
    """
    if is_admin_path(request.path) and not admin_token():
        abort(404)


def require_bearer() -> Response | None:
    """``Authorization: Bearer <admin_token>`` on every ``/admin/api/`` URL, compared in constant time.

    Also for URLs that match no route, so a locked-out address cannot keep guessing on one.
    """
    if not request.path.startswith(API_PREFIX + "/"):
        return None
    locked = lockout()
    if locked is not None:
        return locked_out(locked)
    given = bearer_token(request.headers.get("Authorization"))
    if secrets_match(given, admin_token()):
        return None
    if given:
        count_wrong_token("API bearer token")
    return error_response(
        401,
        "unauthorized",
        "send the admin token as 'Authorization: Bearer <admin_token>'",
        headers={"WWW-Authenticate": 'Bearer realm="leadgate admin"'},
    )


def logged_in() -> bool:
    """The cookie names a live session record opened with the current admin token."""
    token = admin_token()
    session_id = session.get("sid")
    if not token or not isinstance(session_id, str):
        return False
    return secrets_match(_redis().get(session_key(session_id)), token_fingerprint(token))


def _end_session() -> None:
    session_id = session.get("sid")
    if isinstance(session_id, str):
        _redis().delete(session_key(session_id))
    session.clear()


def log_in(given: str | None) -> bool:
    """Opens a fresh dashboard session (ending the browser's old one) when ``given`` is the admin token.

    A wrong token is counted against the client address; the caller checks :func:`lockout` first.
    """
    token = admin_token()
    given = (given or "").strip()
    if not secrets_match(given, token):
        if given:
            count_wrong_token("dashboard login")
        return False
    _end_session()
    session_id = secrets.token_urlsafe(32)
    _redis().set(session_key(session_id), token_fingerprint(token or ""), ex=SESSION_LIFETIME)
    session.permanent = True
    session["sid"] = session_id
    return True


def log_out() -> None:
    """Deletes the session's record, so the cookie opens nothing any more, and clears the cookie."""
    _end_session()


def check_csrf() -> str | None:
    """Checks the ``csrf_token`` field of a form post; returns why it failed, or None."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as err:
        return str(err.args[0]) if err.args else "The CSRF token is missing."
    return None


def init_app(app: Flask) -> None:
    """Session and CSRF settings; the session cookie only travels to ``/admin``."""
    config = app.extensions["leadgate"].config
    if config.admin_token:
        app.config["SECRET_KEY"] = session_secret(config.admin_token)
    app.config.update(
        SESSION_COOKIE_NAME="leadgate_admin",
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.before_request(require_admin_surface)
    app.before_request(require_bearer)
