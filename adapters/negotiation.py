"""What kind of answer the client wants: a browser navigating, or a script calling an API.

A browser that submits a ``<form>`` sends ``Accept: text/html,...``; ``fetch()`` and XHR send
``*/*`` or ask for JSON. The gateway answers the first with a redirect or a page, the second
with JSON. Pure: reads header values only.
"""

from __future__ import annotations

__all__ = ["prefers_html"]


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
