"""``/healthz`` (the process answers) and ``/readyz`` (it can store leads)."""

from __future__ import annotations

import redis
from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify

__all__ = ["bp"]

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz() -> Response:
    rt = current_app.extensions["leadgate"]
    try:
        rt.redis.ping()
    except redis.RedisError as err:
        response = jsonify({"ok": False, "redis": f"unreachable ({type(err).__name__})"})
        response.status_code = 503
        return response
    return jsonify({"ok": True, "redis": "ok", "sources": len(rt.config.sources)})
