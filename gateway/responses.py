"""JSON error answers: every 4xx/5xx the gateway sends names the problem in a JSON body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask import Response
from flask import jsonify
from werkzeug.exceptions import HTTPException

__all__ = ["error_response", "init_app"]


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
