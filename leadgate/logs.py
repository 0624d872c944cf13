"""Logging for web and worker processes: one JSON line per event, personal data masked.

``LOG_FORMAT=json`` (the default) writes one JSON object per line via
python-json-logger; ``LOG_FORMAT=text`` is for humans. Every record passes through
:class:`MaskingFilter` on its way out, so even an exception message that echoes a
lead (a CRM error body, say) shows ``j***@example.com`` and ``+1******7890``, and
extra fields named like secrets are dropped (the rules: :mod:`leadgate.redaction`).
httpx logs every request URL at INFO, and Graph API URLs carry access tokens in their
query string: those loggers are held at WARNING, as is the dev server's request log.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from leadgate.redaction import is_secret_name
from leadgate.redaction import mask_text
from leadgate.redaction import mask_value

__all__ = ["MaskingFilter", "configure_logging"]

QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "werkzeug")
STANDARD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class MaskingFilter(logging.Filter):
    """Masks emails and phones in the message and extra fields; drops secret-named extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = mask_text(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for name in [n for n in record.__dict__ if n not in STANDARD_FIELDS]:
            if is_secret_name(name):
                delattr(record, name)
            else:
                setattr(record, name, mask_value(getattr(record, name)))
        return True


def build_handler(fmt: str | None = None, stream: Any = None) -> logging.Handler:
    fmt = (fmt or os.environ.get("LOG_FORMAT") or "json").lower()
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                json_ensure_ascii=False,
            )
        )
    handler.addFilter(MaskingFilter())
    handler.set_name("leadgate")
    return handler


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Idempotent: installs leadgate's handler on the root logger once, sets the level from ``LOG_LEVEL``."""
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    if not any(h.get_name() == "leadgate" for h in root.handlers):
        root.addHandler(build_handler(fmt))
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
