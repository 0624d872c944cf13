"""Browser-test fixtures: the gateway on a real loopback HTTP server, driven by Debian's Chromium.

Playwright's own browser download is not possible here, so its Python package drives
``/usr/bin/chromium`` (``apt-get install chromium``; .ci/run installs it). Without that
binary every browser test is skipped with a message saying so; nothing else skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.admin import ADMIN_CONFIG
from tests.support.browser import DESKTOP

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_TIMEOUT_MS = 10_000
"""Longest any one browser step (a click, a navigation, a wait for text) may take."""
SHOTS_ENV = "LEADGATE_SCREENSHOTS"
"""A directory to keep the screenshots in (to look at them); without it they go to the test's tmp_path."""


@pytest.fixture
def config(make_config):
    return make_config(ADMIN_CONFIG)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (closed before other modules run)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium): browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser) -> Iterator[Any]:
    """``open_page(viewport)`` gives a fresh page (own cookies) that accepts confirm() dialogs."""
    contexts = []

    def new_page(viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    yield new_page
    for context in contexts:
        context.close()


@pytest.fixture
def shots_dir(tmp_path: Path) -> Path:
    """Where a test saves its screenshots: ``$LEADGATE_SCREENSHOTS`` when set, else its own tmp_path."""
    target = Path(os.environ.get(SHOTS_ENV) or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target
