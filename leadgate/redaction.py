"""What is never shown or stored as it came: secrets by name or by value, and personal data in logs.

One rule for every place that writes something out. Secret *names* (headers, query parameters,
payload fields, log fields: tokens, keys, signatures, passwords, cookies, credentials) have their
value replaced by :data:`REDACTED`; credential-shaped *values* (``Bearer ...``) too. Logs also mask
emails and phones (``j***@example.com``, ``+1******7890``), since a log line may echo a lead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "is_secret_name",
    "mask_email",
    "mask_phone",
    "mask_text",
    "mask_value",
    "redact_fields",
    "redact_request",
    "redact_text",
    "redact_value",
]

REDACTED = "[redacted]"
SECRET_NAME = re.compile(
    r"(auth|cookie|session|token|secret|signature|passw|credential|api[_-]?key|apikey|google_key|access[_-]?key)",
    re.IGNORECASE,
)
"""Names whose values are credentials, whatever carries them (header, query, payload field, log field)."""
SECRET_VALUE = re.compile(r"^\s*(bearer|basic|token)\s+\S", re.IGNORECASE)
"""Values that carry a credential whatever they are called."""
_NAMED = rf"[A-Za-z0-9_.-]*{SECRET_NAME.pattern}[A-Za-z0-9_.-]*"
SECRET_IN_TEXT = re.compile(
    rf"""(?P<name>["']?{_NAMED}["']?\s*[=:]\s*["']?(?:(?:bearer|basic)\s+)?)(?P<value>[^\s"'&,;}}]+)"""
    r"|(?P<scheme>\b(?:bearer|basic)\s+)(?P<credential>[A-Za-z0-9._~+/=-]{8,})",
    re.IGNORECASE,
)
"""A secret named inside free text (``access_token=EAAB...``, ``"api_key": "..."``, ``Bearer ...``), as an
answer's body or an error message may echo the request that carried it."""
EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
PHONE = re.compile(r"(?<![\w.])\+(\d)(\d{5,10})(\d{4})(?!\w|\.\d)")


def is_secret_name(name: Any) -> bool:
    return _is_secret_name(str(name))


@functools.lru_cache(maxsize=4096)
def _is_secret_name(name: str) -> bool:
    """Cached: the names asked about (log fields, headers, form fields) are few and asked about per request."""
    return SECRET_NAME.search(name) is not None


def redact_value(name: Any, value: Any) -> str:
    """``value`` as text, or :data:`REDACTED` when its name or its shape says it is a credential."""
    text = "" if value is None else str(value)
    return REDACTED if is_secret_name(name) or SECRET_VALUE.match(text) else text


def redact_text(text: str) -> str:
    """Free text (a peer's answer, an error message) with every secret it names replaced by :data:`REDACTED`."""

    def replace(match: re.Match[str]) -> str:
        if match.group("name") is not None:
            return match.group("name") + REDACTED
        return match.group("scheme") + REDACTED

    return SECRET_IN_TEXT.sub(replace, text)


def redact_fields(value: Any) -> Any:
    """A copy of a payload with secret-named fields (dict keys or form ``[name, value]`` pairs) redacted."""
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret_name(k) else redact_fields(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 2 and isinstance(value[0], str) and is_secret_name(value[0]):
            return [value[0], REDACTED]
        return [redact_fields(item) for item in value]
    return value


def redact_request(meta: Any) -> dict[str, Any] | None:
    """Stored request meta with secret-named or credential-shaped headers and query values redacted."""
    if not isinstance(meta, Mapping):
        return None
    headers = {str(n): redact_value(n, v) for n, v in (meta.get("headers") or {}).items()}
    query = {
        str(n): [redact_value(n, v) for v in (values if isinstance(values, list) else [values])]
        for n, values in (meta.get("query") or {}).items()
    }
    kept = {k: meta[k] for k in ("method", "content_type", "remote_addr", "body_bytes") if k in meta}
    return {**kept, "headers": headers, "query": query}


def mask_email(value: str) -> str:
    """``jane@example.com`` -> ``j***@example.com``."""
    if "@" not in value:  # the pattern needs one; most log text has none, and the test is far cheaper
        return value
    return EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def mask_phone(value: str) -> str:
    """``+11234567890`` -> ``+1******7890`` (E.164 numbers; country digit and last four kept)."""
    if "+" not in value:  # the pattern needs one
        return value
    return PHONE.sub(lambda m: f"+{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}", value)


def mask_text(value: str) -> str:
    return mask_phone(mask_email(value))


def mask_value(value: Any) -> Any:
    """Emails and phones masked at any depth; secret-named keys dropped."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items() if not is_secret_name(k)}
    if isinstance(value, (list, tuple)):
        return [mask_value(v) for v in value]
    return value
