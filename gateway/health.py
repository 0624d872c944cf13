"""``/healthz`` (the process answers), ``/readyz`` (it can store leads) and ``/metrics``."""

from __future__ import annotations

import redis
from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from gateway.responses import error_response
from leadgate import health
from leadgate import metrics
from leadgate.credentials import bearer_token
from leadgate.credentials import secrets_match

__all__ = ["bp"]

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz() -> Response:
    """503 only when leads cannot be stored; a paused destination is reported, not a reason to stop receiving."""
    rt = current_app.extensions["leadgate"]
    state = health.check(rt, deep=False)
    body = {
        "ok": state.ready,
        "redis": "ok" if state.redis_ok else f"unreachable ({state.redis_error})",
        "config": rt.config.path or "loaded",
        "sources": len(rt.config.sources),
        "paused_destinations": state.paused,
    }
    response = jsonify(body)
    response.status_code = 200 if state.ready else 503
    return response


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    rt = current_app.extensions["leadgate"]
    if not rt.config.metrics_public:
        if not secrets_match(bearer_token(request.headers.get("Authorization")), rt.config.admin_token):
            return error_response(401, "unauthorized", "metrics need the admin token (or metrics_public: true)")
    try:
        body = metrics.render(rt)
    except redis.RedisError as err:
        return error_response(503, "metrics_unavailable", f"cannot read metrics: {type(err).__name__}")
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
