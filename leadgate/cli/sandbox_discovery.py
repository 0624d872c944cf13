"""Where a running ``leadgate dev`` says its sandbox CRM is, so other commands deliver there too.

``leadgate dev`` points destinations without an API key at its sandbox through
``$LEADGATE_SANDBOX_URL``, which only its own children see. A command run from another
terminal (``leadgate import``, ``leadgate worker``) finds the same sandbox through the file
``sandbox.url`` in the config's ``data_dir``: dev writes it when the sandbox starts and removes
it when it stops. The file is believed only while a sandbox answers at that URL, so one left
by a killed dev server sends nothing anywhere. Standard library only, like the sandbox.

It lives with the commands that use it rather than in :mod:`leadgate.sandbox`, whose package
loads the CRM server: ``leadgate worker`` looks for a sandbox at start and should not carry the
server (``http.server``, ``argparse``, the CRM's rules) in its memory for the rest of its life.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["SANDBOX_URL_FILE", "forget_sandbox_url", "record_sandbox_url", "running_sandbox_url"]

SANDBOX_URL_FILE = "sandbox.url"
PROBE_TIMEOUT_SECONDS = 1.0
"""How long a command waits for the recorded sandbox to answer before it carries on without it."""


def _file(data_dir: str | Path) -> Path:
    return Path(data_dir) / SANDBOX_URL_FILE


def record_sandbox_url(data_dir: str | Path, url: str) -> Path:
    path = _file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url + "\n", encoding="utf-8")
    return path


def forget_sandbox_url(data_dir: str | Path, url: str) -> None:
    """Removes the record, unless another dev server has written its own since."""
    path = _file(data_dir)
    try:
        if path.read_text(encoding="utf-8").strip() == url:
            path.unlink()
    except FileNotFoundError:
        pass


def running_sandbox_url(data_dir: str | Path) -> str | None:
    """The recorded sandbox's URL while a sandbox CRM answers there, else None."""
    try:
        url = _file(data_dir).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    if not url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        return None  # the sandbox binds loopback only: anything else is not one
    try:
        with urllib.request.urlopen(f"{url}/_sandbox/faults", timeout=PROBE_TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return url if isinstance(answer, dict) and answer.get("success") is True else None
