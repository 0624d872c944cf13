"""Loopback receivers for alerts: an HTTP catcher (Slack-compatible and signed webhooks) and an SMTP server.

Both are real servers on 127.0.0.1: :class:`Catcher` is a stdlib ThreadingHTTPServer that records
every POST and answers with the statuses queued by :meth:`Catcher.answer_next` (200 otherwise);
:class:`MailCatcher` is aiosmtpd's SMTP server keeping every message it accepts.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.loopback import LoopbackServer
from tests.support.loopback import QuietHandler

__all__ = ["Catcher", "MailCatcher", "Post", "wait_for"]

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 200
    """What the catcher answered."""

    def json(self) -> Any:
        return json.loads(self.body)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Polls ``predicate`` until it returns something truthy, or fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


class Catcher:
    """Records POSTs; a context manager. ``url`` is its root, any path is accepted."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(_Handler, self)

    def __enter__(self) -> Catcher:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def answer_next(self, *statuses: int) -> None:
        """The next posts get these statuses, in order (then 200 again)."""
        with self._lock:
            self.statuses.extend(statuses)

    def to(self, path: str) -> list[Post]:
        """The posts to ``path`` it accepted (2xx); :attr:`posts` has every one."""
        with self._lock:
            return [post for post in self.posts if post.path == path and post.status < 300]

    def take(self, post: Post) -> int:
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
            self.posts.append(replace(post, status=status))
            return status


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = self.server.owner.take(Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.answer(status, b"ok" if status < 400 else b"nope")


class _Keep:
    """aiosmtpd's handler: keeps each accepted message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's naming
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailCatcher:
    """A real SMTP server on loopback (aiosmtpd, no TLS offered); ``messages`` holds what it accepted."""

    def __init__(self) -> None:
        self.handler = _Keep()
        self.port = _free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        """Listens on :attr:`port` (again, after :meth:`stop`: a server that was down comes back)."""
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> MailCatcher:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[Message]:
        return list(self.handler.messages)
