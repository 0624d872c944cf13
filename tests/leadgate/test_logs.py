"""Logs: one JSON line per request and per delivery attempt, no personal data or secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from leadgate.logs import build_handler
from leadgate.redaction import mask_email
from leadgate.redaction import mask_phone
from tests.support.config import API_KEY
from tests.support.hooks import post_form


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    handler = build_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_masks():
    assert mask_email("jane@example.com") == "j***@example.com"
    assert mask_email("write to Jane.Roe+x@mail.example.co.uk now") == "write to J***@mail.example.co.uk now"
    assert mask_phone("+11234567890") == "+1******7890"
    assert mask_phone("call +14155552671.") == "call +1******2671."
    assert mask_phone("took 1795910839.116 s, id 1234567890123") == "took 1795910839.116 s, id 1234567890123"


def test_request_and_delivery_lines_without_personal_data(client, rt, crm, deliver_all, log_lines):
    crm.set_faults(status=503, count=1)
    lead = {"name": "Jane Roe", "email": "jane.roe@example.com", "phone": "(415) 555-2671"}
    event_id = post_form(client, lead, headers={"Authorization": "Bearer hunter2"}).get_json()["event_id"]
    assert post_form(client, {"message": "no contact"}).status_code == 422
    deliver_all(rt)
    lines = log_lines()
    text = json.dumps(lines)
    for secret in ("jane.roe@example.com", "4155552671", "Jane Roe", API_KEY, "hunter2"):
        assert secret not in text
    requests = [line for line in lines if line.get("kind") == "request"]
    assert [(r["status"], r["source"]) for r in requests] == [(202, "contact-us"), (422, "contact-us")]
    assert requests[0]["event_ids"] == [event_id] and requests[0]["duration_ms"] >= 0
    attempts = [line for line in lines if line.get("kind") == "delivery"]
    assert [(a["event_id"], a["status"], a["status_code"]) for a in attempts] == [
        (event_id, "retry", 503),
        (event_id, "delivered", 201),
    ]
    assert all(set(line) >= {"ts", "level", "logger", "message"} for line in lines)


def test_personal_data_in_messages_and_extras_is_masked_and_secret_extras_dropped(log_lines):
    logger = logging.getLogger("leadgate.test")
    logger.error("CRM said: duplicate jane@example.com / +14155552671", extra={"api_key": "cg_live_x", "who": "a@b.co"})
    try:
        raise ValueError("bad phone +14155552671")
    except ValueError:
        logger.exception("failed")
    first, second = log_lines()
    assert first["message"] == "CRM said: duplicate j***@example.com / +1******2671"
    assert "api_key" not in first and first["who"] == "a***@b.co"
    assert "+14155552671" not in json.dumps(second) and "+1******2671" in second["exc_info"]


def test_text_format_for_humans():
    stream = io.StringIO()
    handler = build_handler("text", stream)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("bob@example.com",), None)
    handler.handle(record)
    assert stream.getvalue().rstrip().endswith("INFO x hello b***@example.com")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a developer's is."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "expected"), [(Terminal(), "text"), (io.StringIO(), "json")], ids=["tty", "pipe"])
def test_without_log_format_a_terminal_gets_text_and_anything_else_json(monkeypatch, stream, expected):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    handler = build_handler(stream=stream)
    record = logging.LogRecord(
        "gateway.hooks", logging.INFO, __file__, 1, "request from %s", ("jane@example.com",), None
    )
    record.status = 202
    record.event_id = "ev_1"
    handler.handle(record)
    line = stream.getvalue().strip()
    if expected == "json":
        assert json.loads(line)["status"] == 202
    else:
        assert line.endswith("INFO gateway.hooks request from j***@example.com status=202 event_id=ev_1")


def test_log_format_wins_over_the_terminal(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    stream = Terminal()
    build_handler(stream=stream).handle(logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None))
    assert json.loads(stream.getvalue())["message"] == "hello"
