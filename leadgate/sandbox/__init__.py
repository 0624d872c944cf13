"""A sandbox ConnectGain CRM: a real loopback HTTP server that speaks the documented ConnectGain API.

It is the CRM ``leadgate dev`` delivers to when no API key is configured, and the fake the test
suite delivers to. Everything lives in memory behind one lock; tests inspect what arrived
(``contacts``, ``deliveries``, ``requests``) and inject faults (error statuses, ``Retry-After``,
latency, dropped connections, seeded error rates) from this process or over ``/_sandbox/*``.

It imitates the contract, not the product: no persistence, no pipelines, no idempotency of its
own (``Idempotency-Key`` is only recorded, so a gateway that sends a lead twice is caught).
Standard library only, and it binds loopback only because the control surface has no auth.

``rules`` holds what the CRM accepts and stores, ``faults`` what can go wrong on purpose, and
``server`` the HTTP server, its control surface and the ``python -m leadgate.sandbox`` CLI.
"""

from leadgate.sandbox.server import SandboxCRM
from leadgate.sandbox.server import main

__all__ = ["SandboxCRM", "main"]
