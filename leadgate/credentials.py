"""Comparing credentials: tokens, keys and digests, always in constant time.

The admin token, source tokens, shared keys and signature digests all go through
:func:`secrets_match`, so no answer's timing says how much of a guess was right.
"""

from __future__ import annotations

import hmac

__all__ = ["bearer_token", "secrets_match"]


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else None."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def secrets_match(given: str | bytes | None, expected: str | bytes | None) -> bool:
    """Constant-time equality; a missing or empty value never matches."""
    if not given or not expected:
        return False
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)
