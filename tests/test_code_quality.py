"""The static checks STYLE.md asks CI for, run as tests: ``ruff check .`` and ``mypy adapters``.

Both run from the repo root with the test run's own interpreter (``sys.executable -m ...``), so
they use the versions and config (``pyproject.toml``) the ``test`` extra installed, and each is
bounded by a timeout. A failure shows the tool's own report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOL_TIMEOUT_SECONDS = 120
"""Per tool: a cold mypy run on adapters/ takes a few seconds, ruff well under one."""


def _run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m <args>`` in the repo root; fails the test (not hangs) past the timeout."""
    command = [sys.executable, "-m", *args]
    try:
        return subprocess.run(
            command,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} did not finish within {TOOL_TIMEOUT_SECONDS}s")


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit code {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


def test_ruff_check_is_clean() -> None:
    result = _run_tool("ruff", "check", ".")
    assert result.returncode == 0, _report(result)


def test_mypy_adapters_is_clean() -> None:
    result = _run_tool("mypy", "adapters")
    assert result.returncode == 0, _report(result)
