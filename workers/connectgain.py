"""The ConnectGain API client: one pooled httpx client per process, errors classified once."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from leadgate import defaults
from leadgate.config import Destination
from workers.clients import HTTPClient
from workers.errors import OperatorActionError
from workers.errors import PermanentError
from workers.errors import TransientError

__all__ = ["ConnectGainClient", "CreatedLead", "parse_retry_after", "raise_for_response"]

BODY_KEEP = 2000
"""How much of an error response body is kept with the attempt (enough to read the reason)."""

RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class CreatedLead:
    contact_id: str
    deal_id: str
    is_new: bool | None
    status_code: int
    body: str


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), clamped to a sane range."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), float(defaults.RETRY_AFTER_CAP_SECONDS))


def raise_for_response(response: httpx.Response) -> None:
    """Raises the :mod:`workers.errors` class that fits a non-2xx ConnectGain answer."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = response.text[:BODY_KEEP]
    message = f"ConnectGain answered {status}"
    if status in RETRYABLE_STATUS or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise TransientError(message, status_code=status, body=body, retry_after=retry_after)
    if status == 401:
        # a revoked key fails every lead the same way: pause the destination, don't dead-letter them all
        raise OperatorActionError(
            f"{message}: API key refused; destination paused", park_as="paused", status_code=status, body=body
        )
    raise PermanentError(message, status_code=status, body=body)


class ConnectGainClient(HTTPClient):
    """Posts payloads to a destination with its API key over a keep-alive connection pool."""

    def post(
        self, destination: Destination, path: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """One POST; transport failures become :class:`TransientError`, answers are returned as they are."""
        if not destination.api_key:
            raise PermanentError(f"destination {destination.name!r} has no api_key configured")
        request_headers = {"X-API-Key": destination.api_key, **(headers or {})}
        try:
            return self.http.post(f"{destination.base_url}{path}", json=body, headers=request_headers)
        except httpx.TimeoutException as err:
            raise TransientError(f"timed out talking to ConnectGain ({type(err).__name__})") from err
        except httpx.TransportError as err:
            raise TransientError(f"could not reach ConnectGain ({type(err).__name__}: {err})") from err

    def create_lead(
        self, destination: Destination, payload: Mapping[str, Any], idempotency_key: str | None = None
    ) -> CreatedLead:
        """``POST /create-lead``; returns the contact id, raises a classified error otherwise."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self.post(destination, "/create-lead", payload, headers)
        raise_for_response(response)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("success") is False:
            raise PermanentError(
                "ConnectGain refused the lead", status_code=response.status_code, body=response.text[:BODY_KEEP]
            )
        data = body.get("data") if isinstance(body, dict) else None
        data = data if isinstance(data, dict) else {}
        contact = data.get("contact")
        contact = contact if isinstance(contact, dict) else {}
        deal = data.get("deal")
        deal = deal if isinstance(deal, dict) else {}
        return CreatedLead(
            contact_id=str(contact.get("id") or ""),
            deal_id=str(deal.get("id") or ""),
            is_new=data.get("is_new"),
            status_code=response.status_code,
            body=response.text[:BODY_KEEP],
        )

    def create_leads_bulk(
        self, destination: Destination, leads: Sequence[Mapping[str, Any]], idempotency_key: str | None = None
    ) -> tuple[int, dict[int, dict[str, Any]]]:
        """``POST /create-leads-bulk`` (at most 100); returns the status and ``results[]`` by ``index``.

        A 2xx whose body has no usable ``results`` list is treated as a transient
        failure of the whole request: nothing in it says which leads were recorded.
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self.post(
            destination, "/create-leads-bulk", {"leads": list(leads), "skip_duplicates": False}, headers
        )
        raise_for_response(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise TransientError(
                "ConnectGain answered a bulk call without results[]",
                status_code=response.status_code,
                body=response.text[:BODY_KEEP],
            )
        by_index = {
            item["index"]: item for item in results if isinstance(item, dict) and isinstance(item.get("index"), int)
        }
        return response.status_code, by_index
