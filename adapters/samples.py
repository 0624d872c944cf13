"""Sample requests for every source kind, for ``leadgate send-test``: what each platform would send.

For each source kind the sample looks like what the platform sends and is authenticated as the
platform would authenticate it, signed with the very code verification uses
(:mod:`adapters.signatures`, each preset's own scheme), so one test checks a setup end to end over
real HTTP: the URL, the secrets, the mapping and (once a worker delivers it) the destination.

- ``form``: an urlencoded post, as a browser sends it (``Accept: application/json``, so no redirect);
- ``json``: a preset's example as its sender posts it, or a document shaped from the source's own
  ``mapping``, ``items`` and ``event_id`` expressions (:mod:`adapters.sample_shapes`), with the
  ``token`` as a bearer header and the ``secret``'s body signature;
- ``google_ads``: a Google test lead (``is_test``) carrying the ``google_key``;
- ``typeform``: a ``form_response`` signed (base64) with the ``secret``;
- ``facebook``: the subscription handshake, then a notification signed (hex) with the ``app_secret``.
  It names no lead: a made-up ``leadgen_id`` would fail the worker's Graph fetch, and a lead to
  fetch can only come from Meta (its Lead Ads Testing Tool).

Every sample carries a fresh run id, so sending one twice is not deduplicated. Pure: builds bytes.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone
from typing import Any
from urllib.parse import urlencode

import jmespath

from adapters.presets import Preset
from adapters.sample_shapes import NoShape
from adapters.sample_shapes import merge
from adapters.sample_shapes import shaped
from adapters.signatures import signature_value
from adapters.webhook import TOKEN_QUERY
from adapters.webhook import effective_mapping
from adapters.webhook import preset_of
from leadgate.config import SourceConfig

__all__ = ["MARKER", "SAMPLES", "SampleRequest", "SendTestError", "build_samples"]

MARKER = "leadgate_send_test"
"""The field every sample carries with its run id: visible in the CRM's custom fields, unique per run."""
DESCRIPTION = "Test lead sent by leadgate send-test"

SAMPLE_VALUES: dict[str, Any] = {
    "first_name": "Jane",
    "last_name": "Roe",
    "full_name": "Jane Roe",
    "name": "Jane Roe",
    "email": "jane.roe@example.com",
    "emails": "jane.roe@example.com",
    "phone": "+14155552671",
    "phones": "+14155552671",
    "company_name": "Acme Inc",
    "description": DESCRIPTION,
    "tags": "send-test",
    "opt_in_status": True,
    "source": "send-test",
}
"""What the sample puts where a ``json`` mapping reads each lead field; ids (company, assignee) get none."""


class SendTestError(Exception):
    """The test could not be run: unknown source, no sample for the kind, or the gateway unreachable."""


@dataclass(frozen=True)
class SampleRequest:
    """One HTTP request of a test, ready to send."""

    method: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    expect_text: str | None = None
    """For a handshake: the exact body a correct answer has."""
    notes: tuple[str, ...] = ()


def _run_id() -> str:
    return f"send-test-{int(time.time())}-{secrets.token_hex(4)}"


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _form_samples(source: SourceConfig, run_id: str, url: str = "") -> list[SampleRequest]:
    fields = {
        "name": "Jane Roe",
        "email": "jane.roe@example.com",
        "phone": "+14155552671",
        "company": "Acme Inc",
        "message": DESCRIPTION,
        "utm_source": "leadgate",
        MARKER: run_id,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    return [SampleRequest("POST", urlencode(fields).encode(), headers)]


def _sample_value(target: str) -> Any:
    if target.startswith("custom_fields."):
        return f"sample {target[len('custom_fields.') :]}"
    return SAMPLE_VALUES.get(target)


def _json_lead(source: SourceConfig, run_id: str) -> tuple[dict[str, Any], list[str]]:
    """One lead document that the source's mapping reads sample values from, and notes on what it could not fill."""
    lead: dict[str, Any] = {}
    notes: list[str] = []
    mapping: Mapping[str, str] = effective_mapping(source)
    for target, expression in mapping.items():
        value = _sample_value(target)
        if value is None:
            notes.append(f"no sample value for {target} (an id of yours): left out")
            continue
        try:
            document_part = shaped(expression, value)
        except NoShape:
            notes.append(f"cannot build a sample for {target}: {expression!r} (send a real body to test it)")
            continue
        if isinstance(document_part, dict):
            lead = merge(lead, document_part)
    event_id = source.option("event_id")
    if event_id:
        try:
            document_part = shaped(event_id, run_id)
        except NoShape:
            notes.append(f"cannot build a sample for event_id {event_id!r}: the sample has no event id")
        else:
            lead = merge(lead, document_part) if isinstance(document_part, dict) else lead
    lead.setdefault(MARKER, run_id)
    unfilled = [
        target
        for target, expression in mapping.items()
        if _sample_value(target) is not None and jmespath.search(expression, lead) in (None, "", [], {})
    ]
    if unfilled:
        notes.append(f"the sample leaves {', '.join(unfilled)} empty")
    return lead, notes


def _preset_samples(source: SourceConfig, preset: Preset, run_id: str, url: str) -> list[SampleRequest]:
    """The preset's example lead, posted and signed the way its sender does."""
    assert preset.example is not None
    example = preset.example(run_id)
    if preset.body is not None:  # Jotform: multipart parts
        boundary = f"leadgate-{run_id}"
        parts = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in example.items()
        )
        body = f"{parts}--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"}
    else:
        body = _json_bytes(example)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
    query = {TOKEN_QUERY: source.option("token")} if source.option("token") else {}
    secret = source.option("secret")
    if secret and preset.signature is not None:
        headers.update(preset.signature.sign(body, secret, time.time(), "POST", url))
    return [SampleRequest("POST", body, headers, query=query, notes=(f"the {preset.name} preset's example lead",))]


def _json_samples(source: SourceConfig, run_id: str, url: str = "") -> list[SampleRequest]:
    preset = preset_of(source)
    if preset is not None and preset.example is not None:
        return _preset_samples(source, preset, run_id, url)
    lead, notes = _json_lead(source, run_id)
    document: Any = lead
    items = source.option("items")
    if items:
        try:
            document = shaped(items, [lead])
        except NoShape:
            raise SendTestError(
                f"cannot build a sample body for items {items!r}: post a real body with curl instead"
            ) from None
        found = jmespath.search(items, document)
        if not (isinstance(found, list) and len(found) == 1 and isinstance(found[0], dict)):
            raise SendTestError(f"cannot build a sample body that items {items!r} reads a lead from")
    body = _json_bytes(document)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if source.option("token"):
        headers["Authorization"] = f"Bearer {source.option('token')}"
    if source.option("secret"):
        headers["X-Signature-256"] = signature_value(body, source.option("secret"))
    return [SampleRequest("POST", body, headers, notes=tuple(notes))]


def _google_ads_samples(source: SourceConfig, run_id: str, url: str = "") -> list[SampleRequest]:
    document = {
        "lead_id": f"TeSter-{run_id}",
        "api_version": "1.0",
        "form_id": 40000000000,
        "campaign_id": 21000000000,
        "adgroup_id": 20000000000,
        "creative_id": 30000000000,
        "gcl_id": f"TeSter-gclid-{run_id}",
        "google_key": source.option("google_key") or "",
        "is_test": True,
        "lead_submit_time": _now_iso(),
        "user_column_data": [
            {"column_name": "Full Name", "string_value": "Jane Roe", "column_id": "FULL_NAME"},
            {"column_name": "User Email", "string_value": "jane.roe@example.com", "column_id": "EMAIL"},
            {"column_name": "User Phone", "string_value": "+14155552671", "column_id": "PHONE_NUMBER"},
            {"column_name": "City", "string_value": "San Francisco", "column_id": "CITY"},
        ],
    }
    notes = ["a Google test lead (is_test: true)"]
    if source.option("test_leads") == "drop":
        notes.append("test_leads: drop, so the gateway keeps this sample as history and delivers nothing")
    headers = {"Content-Type": "application/json", "User-Agent": "Google-Ads-Notifications (leadgate send-test)"}
    return [SampleRequest("POST", _json_bytes(document), headers, notes=tuple(notes))]


def _typeform_samples(source: SourceConfig, run_id: str, url: str = "") -> list[SampleRequest]:
    now = _now_iso()
    document = {
        "event_id": run_id,
        "event_type": "form_response",
        "form_response": {
            "form_id": "SendTst1",
            "token": run_id,
            "landed_at": now,
            "submitted_at": now,
            "hidden": {"utm_source": "leadgate", MARKER: run_id},
            "definition": {
                "id": "SendTst1",
                "title": "leadgate send-test",
                "fields": [
                    {"id": "f1", "ref": "first_name", "type": "short_text", "title": "What's your first name?"},
                    {"id": "f2", "ref": "last_name", "type": "short_text", "title": "And your last name?"},
                    {"id": "f3", "ref": "email", "type": "email", "title": "Your email"},
                    {"id": "f4", "ref": "phone", "type": "phone_number", "title": "Your phone"},
                    {
                        "id": "f5",
                        "ref": "plan",
                        "type": "multiple_choice",
                        "title": "Which plan?",
                        "choices": [{"id": "c1", "label": "Pro"}],
                    },
                ],
            },
            "answers": [
                {"type": "text", "text": "Jane", "field": {"id": "f1", "type": "short_text", "ref": "first_name"}},
                {"type": "text", "text": "Roe", "field": {"id": "f2", "type": "short_text", "ref": "last_name"}},
                {
                    "type": "email",
                    "email": "jane.roe@example.com",
                    "field": {"id": "f3", "type": "email", "ref": "email"},
                },
                {
                    "type": "phone_number",
                    "phone_number": "+14155552671",
                    "field": {"id": "f4", "type": "phone_number", "ref": "phone"},
                },
                {
                    "type": "choice",
                    "choice": {"label": "Pro"},
                    "field": {"id": "f5", "type": "multiple_choice", "ref": "plan"},
                },
            ],
        },
    }
    body = _json_bytes(document)
    headers = {"Content-Type": "application/json", "User-Agent": "Typeform Webhooks (leadgate send-test)"}
    secret = source.option("secret")
    if secret:
        headers["Typeform-Signature"] = signature_value(body, secret, encoding="base64")
    return [SampleRequest("POST", body, headers)]


def _facebook_samples(source: SourceConfig, run_id: str, url: str = "") -> list[SampleRequest]:
    challenge = str(secrets.randbelow(10**9) + 10**9)
    handshake = SampleRequest(
        "GET",
        query={
            "hub.mode": "subscribe",
            "hub.verify_token": source.option("verify_token") or "",
            "hub.challenge": challenge,
        },
        expect_text=challenge,
        notes=("Meta's subscription check: the answer must be the challenge, unchanged",),
    )
    pages = source.option("page_tokens") or {}
    page_id = next(iter(pages), "0")
    # An entry without leadgen changes: the signature and the parsing are checked, and no lead is
    # invented (a made-up leadgen_id would fail the Graph fetch and park as needs_token).
    document = {"object": "page", "entry": [{"id": str(page_id), "time": int(time.time()), "changes": []}]}
    body = _json_bytes(document)
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua (leadgate send-test)"}
    secret = source.option("app_secret")
    if secret:
        headers["X-Hub-Signature-256"] = signature_value(body, secret)
    notification = SampleRequest(
        "POST",
        body,
        headers,
        notes=(
            "a signed notification with no lead in it: it checks app_secret, not access_token",
            "for a lead end to end, create one with Meta's Lead Ads Testing Tool",
        ),
    )
    return [handshake, notification]


SAMPLES: dict[str, Callable[[SourceConfig, str, str], list[SampleRequest]]] = {
    "form": _form_samples,
    "json": _json_samples,
    "google_ads": _google_ads_samples,
    "typeform": _typeform_samples,
    "facebook": _facebook_samples,
}
"""The sample builder of each source kind."""


def build_samples(source: SourceConfig, run_id: str | None = None, url: str = "") -> list[SampleRequest]:
    """The request(s) that test ``source``, signed with its secrets (``url``: what a URL-covering signature covers).

    Raises:
        SendTestError: for a kind without a sample, or a ``json`` source whose ``items`` it cannot shape.
    """
    builder = SAMPLES.get(source.kind)
    if builder is None:
        raise SendTestError(f"no sample for kind {source.kind!r}; samples exist for {', '.join(sorted(SAMPLES))}")
    return builder(source, run_id or _run_id(), url)
