"""gunicorn settings for the gateway (12-factor: everything from the environment).

The request handlers only parse, verify and write to Redis, so a few sync workers
per core with threads cover the waits on Redis; nothing slow happens in a request.
"""

import logging
import multiprocessing
import os

from adapters import KINDS
from leadgate.config import ConfigError
from leadgate.config import load_config
from leadgate.exposure import exposure_warnings

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
preload_app = False


def _host(address: str) -> str | None:
    """The host part of a gunicorn bind address (None for a unix socket, which no other machine reaches)."""
    if address.startswith(("unix:", "fd://")):
        return None
    return address.rsplit(":", 1)[0] if ":" in address else address


def when_ready(server) -> None:
    """Says once, in the master, what the config leaves open (workers would say it once each)."""
    try:
        config = load_config(kinds=KINDS)
    except ConfigError:
        return  # each worker reports it and exits
    hosts = [host for host in map(_host, server.cfg.bind) if host is not None]
    log = logging.getLogger("gunicorn.error")
    for warning in exposure_warnings(config, hosts):
        log.warning("leadgate: %s", warning)
