import base64
import hashlib
import hmac

import pytest

from adapters.base import Unauthorized
from adapters.signatures import require_hmac_sha256
from adapters.signatures import require_shared_secret
from leadgate.credentials import secrets_match

BODY = '{"name":"Zoë / 100%"}'.encode()


def sign(secret: str, body: bytes = BODY) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def test_hex_signature_accepts_exact_and_upper_case():
    good = "sha256=" + sign("s3").hex()
    require_hmac_sha256(BODY, "s3", good, header="X-Hub-Signature-256")
    require_hmac_sha256(BODY, "s3", good.upper(), header="X-Hub-Signature-256")


@pytest.mark.parametrize(
    "value",
    [None, "", "sha256=", "sha1=" + "0" * 40, "sha256=zz", "sha256=" + sign("other").hex(), sign("s3").hex()],
)
def test_hex_signature_rejects(value):
    with pytest.raises(Unauthorized):
        require_hmac_sha256(BODY, "s3", value, header="X-Hub-Signature-256")


def test_body_altered_after_signing_is_rejected():
    good = "sha256=" + sign("s3").hex()
    with pytest.raises(Unauthorized, match="does not match"):
        require_hmac_sha256(BODY + b" ", "s3", good, header="X-Hub-Signature-256")


def test_base64_signature():
    good = "sha256=" + base64.b64encode(sign("tf")).decode()
    require_hmac_sha256(BODY, "tf", good, header="Typeform-Signature", encoding="base64")
    with pytest.raises(Unauthorized):
        require_hmac_sha256(BODY, "tf", "sha256=" + sign("tf").hex(), header="Typeform-Signature", encoding="base64")


def test_no_secret_configured_rejects_everything():
    with pytest.raises(Unauthorized, match="no secret"):
        require_hmac_sha256(BODY, "", "sha256=" + sign("").hex(), header="X")


def test_shared_secret():
    assert secrets_match("k", "k")
    assert not secrets_match("k", "K")
    assert not secrets_match("", "")
    assert not secrets_match(None, "k")
    require_shared_secret("key", "key", "google_key")
    with pytest.raises(Unauthorized, match="google_key"):
        require_shared_secret("nope", "key", "google_key")
