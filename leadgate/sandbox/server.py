"""The sandbox CRM's server: ``SandboxCRM``, its lifecycle, inspection, control surface and CLI.

``SandboxCRM`` serves real HTTP on loopback in a background thread. For each API call it asks its
``FaultState`` (``faults``) whether to slow, fail or drop it, checks the documented HTTP contract
(path, method, ``X-API-Key``, JSON body) and hands the body to its ``CrmBook`` (``rules``). It also
serves the unauthenticated ``/_sandbox/*`` control API and an HTML index page, which is why it binds
loopback only, and ``main()`` is the ``python -m leadgate.sandbox`` command line.

One lock guards the book, the fault state, the request log and the in-flight count; the book and the
fault state never lock, this module does. The CRM's validation and record rules do not belong here.
Standard library only: it must import nothing from adapters/, gateway/ or workers/.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import signal
import socket
import socketserver
import threading
import time
from collections import Counter
from collections import deque
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from leadgate.sandbox.faults import FaultState
from leadgate.sandbox.faults import build_faults
from leadgate.sandbox.faults import fault_reply
from leadgate.sandbox.rules import API_PATHS
from leadgate.sandbox.rules import CrmBook
from leadgate.sandbox.rules import Reply
from leadgate.sandbox.rules import error_body

__all__ = ["SandboxCRM", "main"]

DESCRIPTION = "A sandbox ConnectGain CRM: a real loopback HTTP server that speaks the documented ConnectGain API."
"""The CLI's ``--help`` description."""
REQUEST_LOG_LIMIT = 100_000
"""Only the latest requests are kept, so a long benchmark cannot exhaust memory; deliveries are never trimmed."""

_INVALID = object()


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else _INVALID
    except ValueError:
        return _INVALID


class SandboxCRM:
    """An in-memory ConnectGain imitation served over real HTTP on loopback."""

    def __init__(
        self,
        api_keys: tuple[str, ...] = ("cg_sandbox",),
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        seed: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.api_keys = frozenset(api_keys)
        self.host = host
        self.latency = latency
        self.seed = seed
        self.verbose = verbose
        self._port = port
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self._peak_in_flight = 0
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SandboxCRM:
        """Serve in a background thread; after ``stop()`` this rebinds the same port so clients can reconnect."""
        if self._server is None:
            server = _Server((self.host, self._port), self)
            self._port = server.server_address[1]
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sandbox-crm-{self._port}",
                daemon=True,
            )
            self._server = server
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and cut open keep-alive connections, so a stopped CRM really looks down."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The ``base_url`` to configure; known once the server has been started."""
        if not self._port:
            raise RuntimeError("SandboxCRM has no port yet: call start() first")
        return f"http://{self.host}:{self._port}"

    def __enter__(self) -> SandboxCRM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every contact, deal, request, delivery and fault, and reseed, as if freshly started."""
        with self._lock:
            self._book = CrmBook(self.seed)
            self._requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
            self._faults = FaultState(self.seed)
            self._peak_in_flight = self._in_flight

    @property
    def contacts(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._book.contacts.values()))

    @property
    def deals(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._book.deals)

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """One entry per lead, contact or deal item a create call accepted, merged and skipped ones included."""
        with self._lock:
            return copy.deepcopy(self._book.deliveries)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """API calls in arrival order (not ``/_sandbox/*``), shallow copies; ``status`` is None when dropped."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

    @property
    def in_flight(self) -> int:
        """API calls received and not yet answered (inside their latency, say): tests wait on it, not on a sleep."""
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most API calls that were inside the CRM at once since it started (or was reset)."""
        with self._lock:
            return self._peak_in_flight

    def deliveries_by_email(self) -> Counter[str]:
        """How often each (lower-cased) e-mail was delivered; phone-only deliveries are not counted."""
        with self._lock:
            return Counter(d["email"].lower() for d in self._book.deliveries if d["email"])

    # -- faults ----------------------------------------------------------------------------------

    def set_faults(self, **options: Any) -> None:
        """Replace the fault set (:func:`build_faults`' arguments); ``count`` is how many requests get the error."""
        faults = build_faults(**options)
        with self._lock:
            self._faults.replace(faults, self.seed)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> dict[str, Any] | None:
        """The active fault set with its remaining ``count``, or None."""
        with self._lock:
            return asdict(self._faults.active) if self._faults.active else None

    # -- request handling ------------------------------------------------------------------------

    def _respond(self, method: str, target: str, headers: Any, raw: bytes) -> Reply | None:
        """The whole answer to one request, or None to drop the connection without one."""
        received_at = time.monotonic()
        split = urlsplit(target)
        path = split.path
        if path.startswith("/_sandbox/") or (path == "/" and method == "GET"):
            return self._control(method, path, parse_qs(split.query), raw)
        body = _parse_json(raw)
        with self._lock:
            extra_latency, fault = self._faults.take(path)
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            if self.latency + extra_latency > 0:
                time.sleep(self.latency + extra_latency)
            reply: Reply | None = None
            if fault is None or fault.after_commit:
                reply = self._api(method, path, headers, body)
            if fault is not None:
                reply = None if fault.drop else fault_reply(fault)
        finally:
            with self._lock:
                self._in_flight -= 1
        masked = {k.lower(): ("***" if k.lower() == "x-api-key" else v) for k, v in headers.items()}
        entry = {
            "path": path,
            "method": method,
            "status": reply[0] if reply else None,
            "headers": masked,
            "body": None if body is _INVALID else body,
            "received_at": received_at,
        }
        with self._lock:
            self._requests.append(entry)
        return reply

    def _api(self, method: str, path: str, headers: Any, body: Any) -> Reply:
        """The documented contract, checked in the order the real CRM does: path, method, key, body."""
        if path not in API_PATHS:
            return 404, error_body(f"Not found: {path}"), {}
        if method != "POST":
            return 405, error_body("Method not allowed. Use POST"), {"Allow": "POST"}
        if headers.get("X-API-Key") not in self.api_keys:
            return 401, error_body("Invalid API key"), {}
        if body is _INVALID:
            return 400, error_body("Invalid JSON body"), {}
        if not isinstance(body, dict):
            return 400, error_body("Request body must be a JSON object"), {}
        with self._lock:
            if path == "/create-lead":
                return self._book.create_lead(body, headers.get("Idempotency-Key"))
            if path == "/create-deals-bulk":
                return self._book.create_deals(body)
            return self._book.import_contacts(path, body)

    # -- control surface -------------------------------------------------------------------------

    def _control(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> Reply:
        """``/_sandbox/*`` and the index page: no API key, no faults, not logged in ``requests``."""
        if path == "/":
            return 200, self._index_page().encode(), {"Content-Type": "text/html; charset=utf-8"}
        views = {"/_sandbox/contacts": "contacts", "/_sandbox/deals": "deals", "/_sandbox/deliveries": "deliveries"}
        if method == "GET" and path in views:
            return 200, getattr(self, views[path]), {}
        if method == "GET" and path == "/_sandbox/requests":
            limit = query.get("limit", ["0"])[-1]
            if not limit.isdigit():
                return 400, error_body("limit must be a non-negative integer"), {}
            entries = self.requests
            return 200, entries[-int(limit) :] if int(limit) else entries, {}
        if path == "/_sandbox/faults" and method in ("GET", "POST", "DELETE"):
            if method == "POST":
                body = _parse_json(raw)
                if not isinstance(body, dict):
                    return 400, error_body("Request body must be a JSON object"), {}
                try:
                    self.set_faults(**body)
                except (TypeError, ValueError) as exc:
                    return 400, error_body(str(exc)), {}
            elif method == "DELETE":
                self.clear_faults()
            return 200, {"success": True, "faults": self.faults}, {}
        if method == "POST" and path == "/_sandbox/reset":
            self.reset()
            return 200, {"success": True}, {}
        if path in (*views, "/_sandbox/requests", "/_sandbox/reset"):
            return 405, error_body("Method not allowed"), {}
        return 404, error_body(f"Not found: {path}"), {}

    def _index_page(self) -> str:
        """A page a ``leadgate dev`` user can open to see that leads arrive."""
        with self._lock:
            latest = list(self._book.contacts.values())[-50:][::-1]
            total, deliveries = len(self._book.contacts), len(self._book.deliveries)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    " ".join(filter(None, (c["first_name"], c["last_name"]))),
                    ", ".join(c["emails"]),
                    ", ".join(c["phones"]),
                    c["source"],
                    ", ".join(c["tags"]),
                    c["created_at"],
                )
            )
            + "</tr>"
            for c in latest
        )
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>ConnectGain sandbox</title></head><body>"
            f"<h1>ConnectGain sandbox CRM</h1><p>{total} contacts, {deliveries} deliveries. Latest first:</p>"
            "<table border='1' cellpadding='4'><tr><th>Name</th><th>Emails</th><th>Phones</th><th>Source</th>"
            f"<th>Tags</th><th>Created</th></tr>{rows}</table></body></html>"
        )


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP glue: reads the body, asks the CRM for the reply, writes it (or drops the connection)."""

    protocol_version = "HTTP/1.1"
    server_version = "ConnectGainSandbox/1.0"
    disable_nagle_algorithm = True  # headers and body are two writes; Nagle would stall keep-alive clients
    server: _Server

    def _handle(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding") or not length.isdigit():
            self.close_connection = True
            self._send((411, error_body("A valid Content-Length is required"), {}))
            return
        raw = self.rfile.read(int(length))
        reply = self.server.crm._respond(self.command, self.path, self.headers, raw)
        if reply is None:
            self.close_connection = True
            return
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def _send(self, reply: Reply) -> None:
        status, body, headers = reply
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.crm.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    """Tracks open connections so ``stop()`` can cut keep-alive clients off, not just stop accepting."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], crm: SandboxCRM) -> None:
        self.crm = crm
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall start() for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port  # host is the str getsockname gives back

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            for sock in self.connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.crm.verbose:
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox in the foreground until SIGTERM or SIGINT; prints one line ending with its URL."""
    parser = argparse.ArgumentParser(prog="python -m leadgate.sandbox", description=DESCRIPTION)
    parser.add_argument("--port", type=int, default=8900, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted X-API-Key (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before every API answer")
    parser.add_argument("--seed", type=int, default=None, help="seed for ids and error_rate faults")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    keys = tuple(args.api_keys or ["cg_sandbox"])
    crm = SandboxCRM(keys, port=args.port, latency=args.latency, seed=args.seed, verbose=args.verbose)
    with crm:
        print(f"ConnectGain sandbox CRM listening on {crm.url}", flush=True)
        while not stopping.wait(0.5):
            pass
    return 0
