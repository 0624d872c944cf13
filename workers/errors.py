"""Which delivery failures are retried, which are final, and which wait for a person.

::

    DeliveryError
     ├── TransientError        retry on the backoff schedule: connection errors, timeouts,
     │                         408, 429 (honouring Retry-After), 5xx
     ├── PermanentError        dead-letter at once, keeping status code and body:
     │                         any other 4xx, a payload that cannot be built
     ├── OperatorActionError   park the event until an operator acts (a revoked key, an
     │                         expired token): retrying cannot help and dead-lettering
     │                         would hide that nothing is wrong with the lead itself
     └── NothingToDeliver      keep the event as ``ignored`` history: it holds no lead, by
                               design (a platform's test lead with dummy answers only)

The single place that maps an HTTP answer to one of these is
:func:`workers.connectgain.raise_for_response`.
"""

from __future__ import annotations

from leadgate.redaction import redact_text

__all__ = ["DeliveryError", "NothingToDeliver", "OperatorActionError", "PermanentError", "TransientError"]


class DeliveryError(Exception):
    """A delivery attempt that did not end in a recorded lead.

    The message and the peer's body are stored with the event and logged, and a peer may echo the
    request in them (Graph error messages quote URLs with ``access_token=``): both pass through
    :func:`~leadgate.redaction.redact_text` here, the one door every failure goes out by.
    """

    def __init__(self, message: str, *, status_code: int = 0, body: str = ""):
        message = redact_text(message)
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = redact_text(body)


class TransientError(DeliveryError):
    """Worth trying again later; ``retry_after`` (seconds) when the server said when."""

    def __init__(self, message: str, *, status_code: int = 0, body: str = "", retry_after: float | None = None):
        super().__init__(message, status_code=status_code, body=body)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Trying again will fail the same way; the lead goes to the dead-letter queue."""


class OperatorActionError(DeliveryError):
    """Nothing is wrong with the lead, but delivery needs a person (``park_as`` names the wait)."""

    def __init__(self, message: str, *, park_as: str, status_code: int = 0, body: str = ""):
        super().__init__(message, status_code=status_code, body=body)
        self.park_as = park_as


class NothingToDeliver(DeliveryError):
    """The fetched event is not a lead after all (``adapters.base.NotALead``): ignored, not failed."""
