"""The one small interface every source kind implements, and the errors adapters raise.

A source kind is a module in ``adapters/`` that defines:

``KIND``
    The ``kind:`` value in the config (``form``, ``facebook``, ...).
``DEFAULT_SOURCE``
    The ConnectGain ``source`` value used when the source config sets none.
``Options``
    A marshmallow ``Schema`` for the kind's own config keys (everything beyond the
    keys common to all sources). Unknown keys are rejected at config load.
``NORMALIZE_ON_RECEIVE``
    ``True`` when the request itself carries the lead (form, google_ads, ...): the
    gateway normalizes before answering so bad input gets a 4xx while the sender is
    still there. ``False`` when the lead must be fetched first (facebook): the worker
    normalizes.
``verify(request, source) -> None``
    Authenticates the raw request (signatures, shared keys, Origin). Runs before any
    parsing; raises :class:`Unauthorized` or :class:`Forbidden`.
``parse(request, source) -> list[InboundEvent]``
    Splits the request into events; raises :class:`BadInput` for malformed bodies.
``normalize(raw, source) -> dict``
    Pure: turns one stored ``InboundEvent.raw`` into a ConnectGain ``create-lead``
    payload using the *current* config (so replays pick up mapping fixes). Raises
    :class:`Unprocessable` when no usable contact field remains.

Optional:

``handshake(request, source) -> Reply``
    Answers ``GET /hooks/<id>`` (subscription challenges). Without it GET is 405.
``acknowledge(accepted, request, source) -> Reply | None``
    Shapes the 2xx answer when the platform expects a particular body.
``LIMITS = {"max_fields": ...}``
    Request limits of the kind's own, for platforms whose genuine payloads are bigger than a
    form's (batched notifications): a source's own setting still wins over them.
``ACCEPT_UNPROCESSABLE = True``
    For senders that must not see a 4xx (they disable the webhook, or never retry):
    a lead with no usable contact field is acknowledged and stored as ``rejected``
    with the reason, to be replayed once the mapping is fixed, instead of a 422.

Adapters never touch Redis or the network: that is what keeps them testable and
what makes "replay with the current mapping" possible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

from leadgate.model import Accepted
from leadgate.model import AdapterError
from leadgate.model import BadInput
from leadgate.model import Forbidden
from leadgate.model import InboundEvent
from leadgate.model import NotALead
from leadgate.model import PayloadTooLarge
from leadgate.model import Unauthorized
from leadgate.model import Unprocessable
from leadgate.model import UnsupportedMediaType

__all__ = [
    "Accepted",
    "AdapterError",
    "BadInput",
    "Forbidden",
    "InboundEvent",
    "InboundRequest",
    "NotALead",
    "PayloadTooLarge",
    "Reply",
    "SourceAdapter",
    "Unauthorized",
    "Unprocessable",
    "UnsupportedMediaType",
]


@dataclass(frozen=True)
class InboundRequest:
    """The HTTP request as the gateway received it, already size-checked.

    ``headers`` keys are lower-case. ``form`` holds the decoded fields of an
    urlencoded or multipart body (in order, repeats kept) and is ``None`` for other
    content types, so adapters need no web framework to be tested.
    """

    method: str
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, list[str]] = field(default_factory=dict)
    form: tuple[tuple[str, str], ...] | None = None
    remote_addr: str = ""
    url: str = ""
    """The URL the sender called (the public one when ``public_url`` is set): some signatures cover it."""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def query_value(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass(frozen=True)
class Reply:
    """An HTTP answer chosen by an adapter."""

    status: int
    body: str | bytes | dict[str, Any] | list[Any]
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


class SourceAdapter(Protocol):
    """The shape of an adapter module, for type checkers."""

    KIND: str
    DEFAULT_SOURCE: str
    NORMALIZE_ON_RECEIVE: bool
    Options: Any

    def verify(self, request: InboundRequest, source: Any) -> None: ...

    def parse(self, request: InboundRequest, source: Any) -> list[InboundEvent]: ...

    def normalize(self, raw: Mapping[str, Any], source: Any) -> dict[str, Any]: ...
