"""A stdlib HTTP server on 127.0.0.1 in a thread of the test process: what the fake peers are built on.

The fake Graph API and the alert catcher are each a :class:`LoopbackServer` around their own
request handler (a :class:`QuietHandler`); the handler reaches the object that owns the server
(its recorded requests, its planned answers) as ``self.server.owner``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["LoopbackServer", "QuietHandler"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type[BaseHTTPRequestHandler], owner: Any) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), handler)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no access log on stderr, and one call to answer."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def answer(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackServer:
    """Serves ``handler`` on a free port of 127.0.0.1 from :meth:`start` until :meth:`stop`."""

    def __init__(self, handler: type[QuietHandler], owner: Any) -> None:
        self.handler = handler
        self.owner = owner
        self._server: _Server | None = None

    def start(self) -> None:
        self._server = _Server(self.handler, self.owner)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
