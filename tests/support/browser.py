"""What browser tests share besides their fixtures: the viewports and logging in to the dashboard."""

from __future__ import annotations

from typing import Any

from tests.support.admin import TOKEN

__all__ = ["DESKTOP", "PHONE", "log_in"]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def log_in(page: Any, base_url: str, path: str = "/admin/") -> None:
    """Opens ``path``, is sent to the login page, logs in with the admin token and lands back on ``path``."""
    page.goto(base_url + path)
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + path)
