"""What an inbound request becomes before it is stored: the events carved out of it, and the answer per event.

Adapters build :class:`InboundEvent` objects; :mod:`leadgate.intake` stores them and hands back an
:class:`Accepted` for each. Both live in the core so the intake never needs the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Accepted", "InboundEvent"]


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
