"""Who is asking, and for what: a browser navigating or a script calling an API, and from which page.

A browser that submits a ``<form>`` sends ``Accept: text/html,...``; ``fetch()`` and XHR send
``*/*`` or ask for JSON. The gateway answers the first with a redirect or a page, the second
with JSON. ``Origin`` is compared in one normal form (scheme and host lower-cased, default
ports dropped), both for the form kind's allow-list and for the CORS headers. Pure: reads
header values only.

A script that says so with ``X-Requested-With`` (jQuery, most XHR wrappers) keeps the JSON
answer even when its ``Accept`` lists ``text/html``. ``fetch()`` posting JSON sends ``*/*`` and
so gets JSON already; a caller that explicitly asks for ``text/html`` gets what it asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["origin_allowed", "origin_key", "prefers_html", "wants_page"]

DEFAULT_PORTS = {"http": 80, "https": 443}


def _quality(accept: str, media_type: str, explicit_only: bool) -> float:
    """The q value ``accept`` gives ``media_type``, most specific range winning (RFC 9110)."""
    major = media_type.split("/", 1)[0]
    best: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        kind, *params = [part.strip() for part in item.split(";")]
        kind = kind.lower()
        specificity = {media_type: 2, f"{major}/*": 1, "*/*": 0}.get(kind)
        if specificity is None or (explicit_only and specificity < 2):
            continue
        q = 1.0
        for param in params:
            key, _, number = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(number)
                except ValueError:
                    q = 0.0
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def prefers_html(accept: str) -> bool:
    """True for a browser navigation; ``fetch()``'s ``*/*`` is not a preference for HTML."""
    html = _quality(accept, "text/html", explicit_only=True)
    return html > 0 and html >= _quality(accept, "application/json", explicit_only=False)


def wants_page(accept: str, requested_with: str = "") -> bool:
    """Whether a visitor's browser navigated here (answer with a page or redirect), not a script.

    A browser's own form submission never sends ``X-Requested-With``; XHR wrappers do.
    """
    return prefers_html(accept) and not requested_with.strip()


def origin_key(origin: str) -> str | None:
    """``"HTTPS://Example.com:443/"`` -> ``"https://example.com"``; None when it is not an origin."""
    try:
        parts = urlsplit(origin.strip().rstrip("/"))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def origin_allowed(origin: str, allowed: Iterable[str]) -> bool:
    """Whether the ``Origin`` header names one of ``allowed`` (each in any spelling :func:`origin_key` accepts)."""
    key = origin_key(origin) if origin else None
    return key is not None and key in {origin_key(entry) for entry in allowed}
