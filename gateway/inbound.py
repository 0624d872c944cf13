"""Turning a Flask request into the framework-free :class:`InboundRequest` adapters read.

Also decides what of a request is kept with the event: headers that carry secrets
(signatures, tokens, keys, cookies) are redacted before anything is stored.
"""

from __future__ import annotations

from typing import Any

from flask import Request

from adapters.base import InboundRequest
from leadgate.redaction import REDACTED
from leadgate.redaction import redact_value

__all__ = ["FORM_TYPES", "inbound_request", "request_meta"]

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
KEPT_HEADERS = ("content-type", "content-length", "user-agent", "origin", "referer", "accept", "x-forwarded-for")


def called_url(request: Request, public_url: str = "") -> str:
    """The URL the sender called: behind a proxy, the configured ``public_url`` with this path and query."""
    if not public_url:
        return request.url
    query = request.query_string.decode("latin-1")
    return f"{public_url.rstrip('/')}{request.path}{'?' + query if query else ''}"


def inbound_request(request: Request, public_url: str = "") -> InboundRequest:
    """Reads the body (within the size limit already set on ``request``) and the form fields."""
    body = request.get_data(cache=True)
    content_type = (request.mimetype or "").lower()
    form: tuple[tuple[str, str], ...] | None = None
    if content_type in FORM_TYPES:
        form = tuple((name, value) for name, value in request.form.items(multi=True))
    return InboundRequest(
        method=request.method,
        content_type=content_type,
        body=body,
        headers={name.lower(): value for name, value in request.headers.items()},
        query={name: request.args.getlist(name) for name in request.args},
        form=form,
        remote_addr=request.remote_addr or "",
        url=called_url(request, public_url),
    )


def request_meta(inbound: InboundRequest) -> dict[str, Any]:
    """What is stored about the request besides the event itself: enough to debug, no secrets."""
    headers = {name: redact_value(name, value) for name, value in inbound.headers.items()}
    for name in list(headers):
        if name not in KEPT_HEADERS and headers[name] != REDACTED and not name.startswith("x-"):
            headers.pop(name)
    return {
        "method": inbound.method,
        "content_type": inbound.content_type,
        "remote_addr": inbound.remote_addr,
        "headers": headers,
        "query": {name: [redact_value(name, v) for v in values] for name, values in inbound.query.items()},
        "body_bytes": len(inbound.body),
    }
