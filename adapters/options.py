"""Config options that several source kinds share, defined once."""

from __future__ import annotations

from typing import Any

from limits import parse
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

__all__ = ["TEST_LEAD_MODES", "TEST_LEAD_TAG", "rate_limit_field", "test_leads_field"]

TEST_LEAD_TAG = "test-lead"
"""The tag a platform's test lead carries into the CRM under ``test_leads: tag``."""
TEST_LEAD_MODES = ("tag", "drop", "deliver")
"""``tag`` (default): deliver, tagged ``test-lead``; ``drop``: keep as ignored history; ``deliver``: as a real lead."""


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


def test_leads_field() -> fields.String:
    """``test_leads: tag|drop|deliver``: what happens to a platform's test leads (Google, Meta)."""
    return fields.String(load_default="tag", validate=validate.OneOf(TEST_LEAD_MODES))
