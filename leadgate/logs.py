"""Logging for web and worker processes: one JSON line per event, personal data masked.

``LOG_FORMAT=json`` (the default) writes one JSON object per line via
python-json-logger; ``LOG_FORMAT=text`` is for humans. Every record passes through
:class:`MaskingFilter` on its way out, so even an exception message that echoes a
lead (a CRM error body, say) shows ``j***@example.com`` and ``+1******7890``, and
extra fields named like secrets (token, key, signature, secret, password) are dropped.
httpx logs every request URL at INFO, and Graph API URLs carry access tokens in their
query string: those loggers are held at WARNING, as is the dev server's request log.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["MaskingFilter", "configure_logging", "mask_email", "mask_phone", "mask_text"]

QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "werkzeug")
EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
PHONE = re.compile(r"(?<![\w.])\+(\d)(\d{5,10})(\d{4})(?!\w|\.\d)")
SECRET_FIELD = re.compile(r"(token|secret|signature|password|api_key|apikey|authorization|cookie)", re.IGNORECASE)
STANDARD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def mask_email(value: str) -> str:
    """``jane@example.com`` -> ``j***@example.com``."""
    return EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def mask_phone(value: str) -> str:
    """``+11234567890`` -> ``+1******7890`` (E.164 numbers; country digit and last four kept)."""
    return PHONE.sub(lambda m: f"+{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}", value)


def mask_text(value: str) -> str:
    return mask_phone(mask_email(value))


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items() if not SECRET_FIELD.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [_mask_value(v) for v in value]
    return value


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
            if SECRET_FIELD.search(name):
                delattr(record, name)
            else:
                setattr(record, name, _mask_value(getattr(record, name)))
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
