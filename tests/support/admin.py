"""The admin surface as tests reach it: a config with an admin token, and leads posted or dead-lettered through it."""

from __future__ import annotations

from typing import Any

from tests.support.config import BASE_CONFIG

__all__ = ["ADMIN_CONFIG", "AUTH", "TOKEN", "dead_letter", "post_lead"]

TOKEN = "adm-7f3c9a1e5b"
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
