"""Logging set-up shared by the web and worker processes.

httpx logs every request URL at INFO, and Graph API URLs carry access tokens in
their query string: those loggers are held at WARNING so no token reaches a log.
"""

from __future__ import annotations

import logging
import os

__all__ = ["configure_logging"]

QUIET_LOGGERS = ("httpx", "httpcore", "urllib3")


def configure_logging(level: str | None = None) -> None:
    """Idempotent: sets the root level from ``LOG_LEVEL`` and silences URL-logging libraries."""
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    else:
        root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
