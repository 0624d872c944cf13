"""The one redaction rule: secret names and credential-shaped values, wherever they are written out."""

from __future__ import annotations

import pytest

from leadgate.redaction import REDACTED
from leadgate.redaction import is_secret_name
from leadgate.redaction import mask_value
from leadgate.redaction import redact_fields
from leadgate.redaction import redact_request
from leadgate.redaction import redact_value


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "X-Api-Key",
        "api_key",
        "apikey",
        "google_key",
        "Google_key",
        "x-hub-signature-256",
        "Typeform-Signature",
        "token",
        "client_secret",
        "password",
        "passwd",
        "Cookie",
        "session_id",
        "credential",
        "access_key",
    ],
)
def test_secret_names_are_recognised_in_any_spelling(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["email", "phone", "first_name", "monkey", "user-agent"])
def test_lead_data_names_are_not_secret(name):
    assert not is_secret_name(name)


def test_credential_shaped_values_are_redacted_whatever_the_name():
    assert redact_value("x-custom", "Bearer abc") == REDACTED
    assert redact_value("x-custom", "plain") == "plain"


def test_payloads_and_request_meta_are_redacted_at_any_depth():
    payload = {"email": "a@b.co", "nested": {"api_key": "k"}, "fields": [["token", "t"], ["name", "Ann"]]}
    assert redact_fields(payload) == {
        "email": "a@b.co",
        "nested": {"api_key": REDACTED},
        "fields": [["token", REDACTED], ["name", "Ann"]],
    }
    meta = {
        "method": "POST",
        "headers": {"x-hub-signature-256": "sha256=ab", "origin": "https://x"},
        "query": {"token": "t"},
    }
    assert redact_request(meta) == {
        "method": "POST",
        "headers": {"x-hub-signature-256": REDACTED, "origin": "https://x"},
        "query": {"token": [REDACTED]},
    }


def test_logged_values_mask_emails_and_phones_and_drop_secret_keys():
    assert mask_value({"to": "jane@example.com +14155552671", "secret": "s"}) == {"to": "j***@example.com +1******2671"}
