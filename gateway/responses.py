"""Error answers: every 4xx/5xx names the problem, in a JSON body for scripts, on a page for visitors.

A visitor's browser whose form post is refused gets :func:`refusal_page`, in the source's
``language``; everything else gets :func:`error_response`'s JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask import Response
from flask import jsonify
from flask import make_response
from flask import render_template
from werkzeug.exceptions import HTTPException

from leadgate.visitor_messages import refusal_text

__all__ = ["error_response", "init_app", "refusal_page"]


def error_response(
    status: int,
    error: str,
    message: str,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"ok": False, "error": error, "message": message}
    if errors:
        body["errors"] = dict(errors)
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def refusal_page(
    status: int,
    language: str,
    message: str,
    event_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The small page a visitor sees instead of JSON: what happened, in their language, and a way back."""
    text = refusal_text(language, status)
    page = render_template("hooks/refused.html", text=text, status=status, message=message, event_id=event_id)
    response = make_response(page, status)
    response.content_type = "text/html; charset=utf-8"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_error(err: HTTPException) -> Response:
    if err.response is not None:  # the raiser already built the JSON answer (e.g. the rate limiter's 429)
        return err.response  # type: ignore[return-value]
    name = (err.name or "error").lower().replace(" ", "_")
    response = error_response(err.code or 500, name, err.description or err.name)
    if err.code == 405 and hasattr(err, "valid_methods") and err.valid_methods:
        response.headers["Allow"] = ", ".join(err.valid_methods)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
