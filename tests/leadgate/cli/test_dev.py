"""``leadgate dev`` from an empty directory, as the README's first command: URLs, login, redirect, CORS, import."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadgate.cli.sandbox_discovery import SANDBOX_URL_FILE
from leadgate.embedded_redis import EmbeddedRedis
from leadgate.sandbox.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CLEARED = ("LEADGATE_CONFIG", "LEADGATE_ADMIN_TOKEN", "CONNECTGAIN_API_KEY", "REDIS_URL", "LEADGATE_SANDBOX_URL")
"""Nothing of the test run's own set-up may help the dev server: it starts from nothing."""


class DevServer:
    """``leadgate dev`` running in ``cwd``; its output is collected as it comes."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.port, self.sandbox_port = free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in CLEARED} | {"PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "leadgate.cli",
                "dev",
                "--port",
                str(self.port),
                "--sandbox-port",
                str(self.sandbox_port),
            ],
            cwd=cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            assert self.process.poll() is None, f"leadgate dev exited:\n{self.output}"
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in:\n{self.output}")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "leadgate.cli", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(tmp_path)
    yield server
    server.stop()
    EmbeddedRedis(tmp_path / "var").stop()  # in case the test failed before dev could stop it


def test_leadgate_dev_alone_gives_login_redirect_cors_and_import(dev_server: DevServer, tmp_path: Path):
    base = f"http://127.0.0.1:{dev_server.port}"
    sandbox = f"http://127.0.0.1:{dev_server.sandbox_port}"
    token = dev_server.wait_for(r"admin token made up for this run: (\S+)").group(1)
    output = dev_server.wait_for(r"sandbox CRM: ").string
    assert f"hook contact-us (form): {base}/hooks/contact-us" in output
    assert f"dashboard: {base}/admin/" in output
    assert f"sandbox CRM: {sandbox}/" in output
    assert f"{sandbox}/_sandbox/faults" in output
    with httpx.Client(base_url=base, timeout=5) as http:
        deadline = time.monotonic() + 20
        while True:
            try:
                if http.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, dev_server.output
            time.sleep(0.1)

        # the dashboard takes the printed token (the login form, CSRF and all)
        login = http.get("/admin/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
        logged_in = http.post("/admin/login", data={"token": token, "csrf_token": csrf, "next": "/admin/"})
        assert logged_in.status_code == 303, logged_in.text[:300]
        assert http.get("/admin/").status_code == 200
        assert http.get("/admin/api/events", headers={"Authorization": f"Bearer {token}"}).status_code == 200

        # a browser post is sent on to the starter config's redirect, a refused one to error_redirect
        posted = http.post(
            "/hooks/contact-us",
            data={"name": "Jane Roe", "email": "jane@example.com"},
            headers={"Accept": "text/html"},
        )
        assert posted.status_code == 303
        assert posted.headers["Location"] == f"{base}/dev/thanks"
        assert http.get("/dev/thanks").status_code == 200
        assert "<form" in http.get("/dev/form").text
        refused = http.post(
            "/hooks/contact-us", data={"name": "Nobody"}, headers={"Accept": "text/html", "Origin": "https://evil.test"}
        )
        assert refused.status_code == 303
        assert refused.headers["Location"].startswith(f"{base}/dev/oops?error=")
        assert http.get(refused.headers["Location"]).status_code == 200

        # an AJAX post's preflight from the listed origin is allowed
        preflight = http.options(
            "/hooks/contact-us",
            headers={
                "Origin": base,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code in (200, 204), preflight.text
        assert preflight.headers["Access-Control-Allow-Origin"] == base

        # leadgate import from another terminal finds dev's sandbox: no variable to set
        csv = tmp_path / "contacts.csv"
        csv.write_text("email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n", encoding="utf-8")
        imported = dev_server.cli("import", str(csv), "--source", "contact-us")
        assert imported.returncode == 0, imported.stdout + imported.stderr
        assert "sandbox CRM of the running leadgate dev" in imported.stderr
        emails = {e for c in httpx.get(f"{sandbox}/_sandbox/contacts").json() for e in c["emails"]}
        assert {"ann@example.com", "bob@example.com"} <= emails

    assert (tmp_path / "var" / SANDBOX_URL_FILE).exists()
    assert dev_server.stop() == 0
    assert not (tmp_path / "var" / SANDBOX_URL_FILE).exists()
    assert not EmbeddedRedis(tmp_path / "var").ping()
