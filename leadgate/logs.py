"""Logging for web and worker processes: one JSON line per event, personal data masked.

``LOG_FORMAT=json`` writes one JSON object per line via python-json-logger;
``LOG_FORMAT=text`` is for humans: the message, then its fields as ``key=value``. Unset, it
is text when the log stream is a terminal (``leadgate dev`` on a laptop) and JSON otherwise
(a process manager, a container, a pipe). Every record passes through
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

__all__ = ["MaskingFilter", "TextFormatter", "build_handler", "configure_logging", "default_format"]

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
        fields = record.__dict__
        for name in [n for n in fields if n not in STANDARD_FIELDS]:
            if is_secret_name(name):
                del fields[name]
            else:
                value = fields[name]
                if not isinstance(value, (int, float)):  # numbers carry no email or phone; the rest may
                    fields[name] = mask_value(value)
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...``: the JSON line's fields, for a person reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{name}={value}" for name, value in record.__dict__.items() if name not in STANDARD_FIELDS]
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the line
        return f"{head} {' '.join(fields)}{newline}{rest}"


def default_format(stream: Any) -> str:
    """``text`` on a terminal, ``json`` anywhere else."""
    isatty = getattr(stream, "isatty", None)
    try:
        return "text" if isatty is not None and isatty() else "json"
    except ValueError:  # a closed stream
        return "json"


def build_handler(fmt: str | None = None, stream: Any = None) -> logging.Handler:
    stream = stream or sys.stderr
    fmt = (fmt or os.environ.get("LOG_FORMAT") or default_format(stream)).lower()
    handler = logging.StreamHandler(stream)
    if fmt == "text":
        handler.setFormatter(TextFormatter())
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
    """Idempotent: installs leadgate's handler on the root logger once, sets the level from ``LOG_LEVEL``.

    No line shows the thread, so records do not collect it (the logging HOWTO's "Optimization"). The
    caller's file and line stay (pytest shows them), and the process id (gunicorn's own lines show it).
    """
    logging.logThreads = False
    logging.logMultiprocessing = False
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    if not any(h.get_name() == "leadgate" for h in root.handlers):
        root.addHandler(build_handler(fmt))
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
