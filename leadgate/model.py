"""What an inbound request becomes: the events carved out of it, the answer per event, or why it was refused.

Adapters build :class:`InboundEvent` objects; :mod:`leadgate.intake` stores them and hands back an
:class:`Accepted` for each. An adapter that refuses input raises one of the :class:`AdapterError`
classes, each mapped to one HTTP status; a replay meets the same errors when it normalizes again.
All of it lives in the core, so the intake and the operator's operations never need the adapters.

::

    AdapterError
     ├── BadInput               400  not what this kind accepts
     ├── Unauthorized           401  missing or wrong signature, key or token
     ├── Forbidden              403  an Origin or sender that may not post here
     ├── PayloadTooLarge        413  over a request limit (body size, field count, value length)
     ├── UnsupportedMediaType   415
     ├── Unprocessable          422  well-formed, but no deliverable lead (kept as rejected)
     └── NotALead                    by design nothing to deliver (a dummy-only test lead): ignored
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Accepted",
    "AdapterError",
    "BadInput",
    "Forbidden",
    "InboundEvent",
    "NotALead",
    "PayloadTooLarge",
    "Unauthorized",
    "Unprocessable",
    "UnsupportedMediaType",
    "content_digest",
]


@dataclass(frozen=True)
class InboundEvent:
    """One lead-to-be carved out of a request.

    ``raw`` is JSON-serialisable and is what gets stored and later re-normalized on
    replay. ``dedupe_keys`` are platform ids (leadgen_id, lead_id, event_id, ...)
    that must be delivered once however often the platform re-sends them.
    ``outcome`` is ``"queued"`` for a lead to deliver, ``"spam"`` (honeypot hit) or
    ``"ignored"`` (an event that is not a lead) for ones acknowledged and kept only
    as history.
    """

    raw: dict[str, Any]
    dedupe_keys: tuple[str, ...] = ()
    outcome: str = "queued"
    reason: str = ""


@dataclass(frozen=True)
class Accepted:
    """What the gateway did with one event, handed back to ``acknowledge``."""

    event_id: str
    status: str
    duplicate: bool = False


class AdapterError(Exception):
    """Base of the errors an adapter raises; each maps to one HTTP status."""

    status = 400

    def __init__(self, message: str, errors: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


class BadInput(AdapterError):
    """The body is not what this kind accepts (400)."""

    status = 400


class Unauthorized(AdapterError):
    """Missing or wrong signature, key or token (401); nothing is stored."""

    status = 401


class Forbidden(AdapterError):
    """Authenticated senders only, and this one is not allowed (403)."""

    status = 403


class PayloadTooLarge(AdapterError):
    """Over one of the source's request limits (413); ``errors`` names the limit and its value."""

    status = 413


class UnsupportedMediaType(AdapterError):
    """A content type this kind does not read (415)."""

    status = 415


class Unprocessable(AdapterError):
    """Well-formed, but no deliverable lead in it (422); ``errors`` names each field."""

    status = 422


class NotALead(AdapterError):
    """Normalized, the event turns out to carry nothing to deliver, by design (a platform's test lead
    with ``test_leads: drop``, or dummy answers only): kept as ``ignored`` history, never dead-lettered."""

    status = 200


def content_digest(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON (keys sorted, no spaces): equal content, equal digest."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
