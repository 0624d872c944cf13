"""Request authentication shared by every kind: HMAC signatures and shared keys.

Always over the raw body bytes, before any parsing (re-serialised JSON breaks on
non-ASCII, ``/`` and ``%``), and always compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from adapters.base import Unauthorized
from leadgate.credentials import secrets_match

__all__ = ["hmac_sha256", "require_hmac_sha256", "require_shared_secret", "signature_value"]


def hmac_sha256(secret: str, message: bytes) -> bytes:
    """The raw HMAC-SHA256 of ``message`` keyed with ``secret``: what every HMAC-signing sender computes."""
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def signature_value(message: bytes, secret: str, *, encoding: str = "hex", prefix: str = "sha256=") -> str:
    """The header value a sender puts on ``message`` (``sha256=<hex>`` by default): the inverse of the check."""
    digest = hmac_sha256(secret, message)
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return f"{prefix}{text}"


def require_shared_secret(given: str | None, expected: str | None, what: str) -> None:
    """Raises :class:`Unauthorized` unless ``given`` equals the configured secret."""
    if not secrets_match(given, expected):
        raise Unauthorized(f"missing or wrong {what}")


def require_hmac_sha256(
    body: bytes,
    secret: str | None,
    header_value: str | None,
    *,
    header: str,
    encoding: str = "hex",
    prefix: str = "sha256=",
) -> None:
    """Checks ``header_value`` (``sha256=<hex|base64>``) against HMAC-SHA256 of the raw ``body``.

    Hex digests compare case-insensitively (Meta sends lower-case, some proxies upper);
    base64 digests compare exactly.
    """
    if not secret:
        raise Unauthorized(f"no secret configured to check {header}")
    if not header_value:
        raise Unauthorized(f"missing {header} header")
    value = header_value.strip()
    if prefix:
        if not value.lower().startswith(prefix.lower()):
            raise Unauthorized(f"{header} must start with {prefix!r}")
        value = value[len(prefix) :]
    digest = hmac_sha256(secret, body)
    if encoding == "hex":
        try:
            given = binascii.unhexlify(value.strip())
        except (binascii.Error, ValueError):
            raise Unauthorized(f"{header} is not a hex digest") from None
    elif encoding == "base64":
        try:
            given = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise Unauthorized(f"{header} is not a base64 digest") from None
    else:  # pragma: no cover - a programming error, not input
        raise ValueError(f"unknown digest encoding {encoding!r}")
    if not hmac.compare_digest(given, digest):
        raise Unauthorized(f"{header} does not match the body")
