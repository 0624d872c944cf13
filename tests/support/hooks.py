"""Posting to the gateway's hook URLs with Flask's test client."""

from __future__ import annotations

from typing import Any

__all__ = ["post_form"]


def post_form(client: Any, fields: dict[str, str], **kwargs: Any):
    return client.post("/hooks/contact-us", data=fields, **kwargs)
