"""``/healthz`` (the process answers), ``/readyz`` (it can store leads) and ``/metrics``."""

from __future__ import annotations

import redis
from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from gateway import auth
from gateway.responses import error_response
from leadgate import exposition
from leadgate import health
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
        "redis": state.redis_state,
        "config": "loaded",  # never the file's path: /readyz is public (`leadgate check-config` shows it)
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
        locked = auth.lockout()  # the same count of wrong admin tokens as the admin API and the login
        if locked is not None:
            return error_response(
                429,
                "rate_limited",
                locked.message,
                {"limit": locked.limit},
                headers={"Retry-After": str(locked.retry_after)},
            )
        given = bearer_token(request.headers.get("Authorization"))
        if not secrets_match(given, rt.config.admin_token):
            if given:
                auth.count_wrong_token("metrics bearer token")
            return error_response(401, "unauthorized", "metrics need the admin token (or metrics_public: true)")
    try:
        body = exposition.render(rt)
    except redis.RedisError as err:
        return error_response(503, "metrics_unavailable", f"cannot read metrics: {type(err).__name__}")
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
