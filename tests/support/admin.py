"""The admin surface as tests reach it: a config with an admin token, the dashboard's login form, test clients
from a given address, and leads posted or dead-lettered through it."""

from __future__ import annotations

import re
from typing import Any

from tests.support.config import BASE_CONFIG

__all__ = [
    "ADMIN_CONFIG",
    "AUTH",
    "CSRF_FIELD",
    "TOKEN",
    "client_from",
    "csrf_from",
    "dead_letter",
    "log_in",
    "post_lead",
]

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')

TOKEN = "adm-7f3c9a1e5b2d4c6e8a0f1b3d5c7e9a2b"
"""An admin token of the length start-up requires (``defaults.ADMIN_TOKEN_MIN_LENGTH``)."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN_CONFIG = (
    f"admin_token: {TOKEN}\n"
    + BASE_CONFIG
    + """
  landing:
    kind: form
    tags: [landing]
"""
)
"""The base config with admin on and a second form source, so lists and filters have two sources to tell apart."""


def post_lead(client: Any, source: str = "contact-us", **fields: str) -> str:
    """Posts a form lead through the Flask test client and returns its event id (a 202 is required)."""
    response = client.post(f"/hooks/{source}", data=fields)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["event_id"]


def dead_letter(
    client: Any, rt: Any, crm: Any, deliver_all: Any, email: str = "dead@example.com", source: str = "contact-us"
) -> str:
    """A lead ConnectGain refused with a 400: dead-lettered at once."""
    crm.set_faults(status=400, count=1)
    event_id = post_lead(client, source, name="Dee Dead", email=email)
    deliver_all(rt)
    crm.clear_faults()
    assert rt.store.get(event_id).status == "dead"
    return event_id


def csrf_from(client: Any, path: str = "/admin/login") -> str:
    """The CSRF token of a dashboard page's form (the page must answer 200)."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    match = CSRF_FIELD.search(response.get_data(as_text=True))
    assert match, "no CSRF field on the page"
    return match.group(1)


def log_in(client: Any, token: str = TOKEN, next_path: str | None = None) -> Any:
    """Posts the dashboard's login form (with its CSRF token) and returns the answer."""
    data = {"token": token, "csrf_token": csrf_from(client)}
    if next_path:
        data["next"] = next_path
    return client.post("/admin/login", data=data)


def client_from(app: Any, address: str) -> Any:
    """A Flask test client whose requests come from ``address`` (what ``client_ip()`` sees)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client
