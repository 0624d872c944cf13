"""Who may use the admin surface: a bearer token for the API, a login session for the dashboard.

The admin surface exists only when ``admin_token`` is configured. Without one every
``/admin`` URL answers 404, exactly like a URL that does not exist.

The dashboard's session cookie is signed with a key derived from the admin token
(HMAC-SHA256 with a fixed label), so every gunicorn worker and every restart agree on
it without another secret to configure, and rotating the token logs every browser out.
Its form posts carry a Flask-WTF CSRF token; the API takes no cookies, so needs none.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

from flask import Flask
from flask import Response
from flask import abort
from flask import current_app
from flask import request
from flask import session
from flask_wtf.csrf import generate_csrf  # type: ignore[import-untyped]  # Flask-WTF ships no types (whole module)
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError  # type: ignore[import-untyped]  # types-WTForms is not installed

from gateway.responses import error_response
from leadgate.credentials import bearer_token
from leadgate.credentials import secrets_match

__all__ = [
    "SESSION_LIFETIME",
    "API_PREFIX",
    "admin_token",
    "check_csrf",
    "init_app",
    "is_admin_path",
    "logged_in",
    "log_in",
    "log_out",
    "require_admin_surface",
    "require_bearer",
    "session_secret",
]

log = logging.getLogger(__name__)

API_PREFIX = "/admin/api"
SESSION_KEY_LABEL = b"leadgate dashboard session key v1"
LOGIN_LABEL = b"leadgate dashboard login v1"
SESSION_LIFETIME = timedelta(hours=12)
"""A dashboard login lasts this long; the CSRF token lives as long as the session."""


def admin_token() -> str | None:
    return current_app.extensions["leadgate"].config.admin_token or None


def _derive(token: str, label: bytes) -> str:
    return hmac.new(token.encode(), label, hashlib.sha256).hexdigest()


def session_secret(token: str) -> str:
    """Flask's ``SECRET_KEY``: stable for a given admin token, never the token itself."""
    return _derive(token, SESSION_KEY_LABEL)


def is_admin_path(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


def require_admin_surface() -> None:
    """404 for the whole admin surface when no admin token is configured (it is off).

    Registered on the app, not the blueprints, so it also runs for URLs that match no
    route (a wrong method would otherwise answer 405 and show the surface exists).
    """
    if is_admin_path(request.path) and not admin_token():
        abort(404)


def require_bearer() -> Response | None:
    """``Authorization: Bearer <admin_token>`` on every ``/admin/api/`` URL, compared in constant time."""
    if not request.path.startswith(API_PREFIX + "/"):
        return None
    if secrets_match(bearer_token(request.headers.get("Authorization")), admin_token()):
        return None
    return error_response(
        401,
        "unauthorized",
        "send the admin token as 'Authorization: Bearer <admin_token>'",
        headers={"WWW-Authenticate": 'Bearer realm="leadgate admin"'},
    )


def logged_in() -> bool:
    token = admin_token()
    if not token:
        return False
    return secrets_match(session.get("admin"), _derive(token, LOGIN_LABEL))


def log_in(given: str | None) -> bool:
    """Starts a dashboard session when ``given`` is the admin token; a fresh session either way."""
    token = admin_token()
    if not secrets_match((given or "").strip(), token):
        log.warning("dashboard login refused from %s", request.remote_addr)
        return False
    session.clear()
    session.permanent = True
    session["admin"] = _derive(token or "", LOGIN_LABEL)
    return True


def log_out() -> None:
    session.clear()


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
