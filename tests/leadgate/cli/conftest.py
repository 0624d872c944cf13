"""The config file the CLI tests' commands read, shared with the app and runtime fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadgate.config import Config
from leadgate.sandbox import SandboxCRM
from tests.support.cli import CLI_CONFIG
from tests.support.config import API_KEY
from tests.support.config import load_config


@pytest.fixture
def config_file(tmp_path: Path, crm: SandboxCRM, redis_url: str) -> Path:
    """The file the CLI reads: the test config (two form sources) plus the test Redis."""
    path = tmp_path / "leadgate.yaml"
    text = f"redis_url: {json.dumps(redis_url)}\n" + CLI_CONFIG.format(crm_url=crm.url, api_key=API_KEY)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    """The app and ``rt`` fixtures use the very file the CLI reads."""
    return load_config(config_file, environ={})
