"""Config options that several source kinds share, defined once."""

from __future__ import annotations

from typing import Any

from limits import parse
from marshmallow import ValidationError
from marshmallow import fields

__all__ = ["rate_limit_field"]


def _valid_rate_limit(value: str) -> None:
    try:
        parse(value)
    except ValueError:
        raise ValidationError('must look like "20/minute", "5/second" or "100 per hour"') from None


def rate_limit_field(**kwargs: Any) -> fields.String:
    """``rate_limit: "20/minute"``: requests per client IP for this source (form and json kinds).

    Not offered for platform kinds: Meta, Google and Typeform send bursts from a few
    addresses, and refusing them would only make them retry.
    """
    return fields.String(load_default=None, allow_none=True, validate=_valid_rate_limit, **kwargs)
