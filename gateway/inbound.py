"""Turning a Flask request into the framework-free :class:`InboundRequest` adapters read.

Bounds what a request may cost before an adapter sees it (and so before any signature is
checked): the body is read to at most one byte past ``max_body_bytes`` whether its length is
declared or it streams in chunks, and refused when it is over, never cut short; a form body's
fields are counted before they are decoded (:mod:`adapters.bounds`).

Also decides what of a request is kept with the event: headers that carry secrets
(signatures, tokens, keys, cookies) are redacted before anything is stored.
"""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from adapters.base import InboundRequest
from adapters.base import PayloadTooLarge
from adapters.bounds import check_fields
from adapters.bounds import check_urlencoded
from adapters.bounds import too_many_fields
from leadgate.config import SourceConfig
from leadgate.redaction import REDACTED
from leadgate.redaction import redact_value

__all__ = ["FORM_TYPES", "inbound_request", "read_body", "request_meta"]

URLENCODED = "application/x-www-form-urlencoded"
FORM_TYPES = frozenset({URLENCODED, "multipart/form-data"})
KEPT_HEADERS = ("content-type", "content-length", "user-agent", "origin", "referer", "accept", "x-forwarded-for")


def called_url(request: Request, public_url: str = "") -> str:
    """The URL the sender called: behind a proxy, the configured ``public_url`` with this path and query."""
    if not public_url:
        return request.url
    query = request.query_string.decode("latin-1")
    return f"{public_url.rstrip('/')}{request.path}{'?' + query if query else ''}"


def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, or :class:`PayloadTooLarge` when it is longer than ``max_bytes``.

    werkzeug refuses a declared ``Content-Length`` over its limit unread, but stops a chunked body
    at the limit without a word: reading to one byte past ``max_bytes`` tells the two apart.
    """
    request.max_content_length = max_bytes + 1
    try:
        body: bytes | None = request.get_data(cache=True)
    except RequestEntityTooLarge:
        body = None
    if body is None or len(body) > max_bytes:
        raise PayloadTooLarge(
            f"the body is larger than {max_bytes} bytes (max_body_bytes)",
            errors={"limit": "max_body_bytes", "max": max_bytes},
        )
    return body


def read_form(request: Request, body: bytes, source: SourceConfig) -> tuple[tuple[str, str], ...]:
    """The decoded fields of a form body, within the source's limits.

    An urlencoded body is counted in its bytes first; a multipart one is stopped by werkzeug
    at ``max_fields`` parts (files included). A text part may be as large as the body: its
    length in characters is checked once decoded, against ``max_value_length``.
    """
    limits = source.limits
    if (request.mimetype or "").lower() == URLENCODED:
        check_urlencoded(body, limits)
    request.max_form_parts = limits.max_fields
    request.max_form_memory_size = source.max_body_bytes
    try:
        fields = tuple((name, value) for name, value in request.form.items(multi=True))
    except RequestEntityTooLarge:  # the body is within max_body_bytes, so it is the part count
        raise too_many_fields(limits) from None
    check_fields(fields, limits)
    return fields


def inbound_request(request: Request, source: SourceConfig, public_url: str = "") -> InboundRequest:
    """Reads the body and the form fields within the source's limits (:class:`PayloadTooLarge` or
    :class:`BadInput` beyond them)."""
    body = read_body(request, source.max_body_bytes)
    content_type = (request.mimetype or "").lower()
    form: tuple[tuple[str, str], ...] | None = None
    if content_type in FORM_TYPES:
        form = read_form(request, body, source)
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
