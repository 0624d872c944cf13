"""Per-IP rate limits for the sources that take posts from the open web (form, json).

flask-limiter with its counters in RQ's Redis (``queue_redis_url``, else the store's), so
every gunicorn worker (and every web host) shares them. A source without ``rate_limit`` is not limited. When
Redis is unreachable the limiter lets requests through (``swallow_errors``): the store
then answers 503 anyway, and a limiter must never be why a good lead was refused.
"""

from __future__ import annotations

from flask import Flask
from flask import current_app
from flask import request
from flask_limiter import Limiter

from gateway.proxies import TrustedProxies

__all__ = ["client_ip", "init_app", "limiter", "source_limit"]

UNLIMITED = "1000000/second"


def client_ip() -> str:
    return request.remote_addr or "unknown"


limiter = Limiter(
    key_func=client_ip,
    headers_enabled=True,
    swallow_errors=True,
    key_prefix="lg:rl",
    strategy="moving-window",
)


def _source():
    source_id = (request.view_args or {}).get("source_id", "")
    return current_app.extensions["leadgate"].config.sources.get(source_id)


def source_limit() -> str:
    source = _source()
    return (source and source.option("rate_limit")) or UNLIMITED


def source_key() -> str:
    source = _source()
    return f"{source.id if source else '-'}|{client_ip()}"


def unlimited() -> bool:
    source = _source()
    return request.method != "POST" or source is None or not source.option("rate_limit")


def init_app(app: Flask) -> None:
    """Stores counters in RQ's Redis (never a cluster); believes ``X-Forwarded-For`` only from ``trusted_proxies``."""
    rt = app.extensions["leadgate"]
    app.config["RATELIMIT_STORAGE_URI"] = "redis://"
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"connection_pool": rt.queue.connection.connection_pool}
    if rt.config.trusted_proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, rt.config.trusted_proxies)  # type: ignore[method-assign]
    limiter.init_app(app)
