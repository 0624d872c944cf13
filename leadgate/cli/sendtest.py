"""``leadgate send-test``: post a realistic sample lead for one source through a running gateway.

For each source kind the sample looks like what the platform sends and is authenticated as the
platform would authenticate it, so one command checks a setup end to end over real HTTP: the URL,
the secrets, the mapping and (once a worker delivers it) the destination.

- ``form``: an urlencoded post, as a browser sends it (``Accept: application/json``, so no redirect);
- ``json``: a document shaped from the source's own ``mapping``, ``items`` and ``event_id``
  expressions, with the ``token`` as a bearer header and the ``secret``'s body signature;
- ``google_ads``: a Google test lead (``is_test``) carrying the ``google_key``;
- ``typeform``: a ``form_response`` signed (base64) with the ``secret``;
- ``facebook``: the subscription handshake, then a notification signed (hex) with the ``app_secret``.
  It names no lead: a made-up ``leadgen_id`` would fail the worker's Graph fetch, and a lead to
  fetch can only come from Meta (its Lead Ads Testing Tool).

Every sample carries a fresh run id, so running the command twice is not deduplicated. Only the
source's config is read: nothing here imports an adapter, so a kind can be tested while its module
is missing from this install.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import sys
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone
from typing import Any
from urllib.parse import urlencode

import click
import httpx
import jmespath

from adapters.presets import Preset
from adapters.webhook import TOKEN_QUERY
from adapters.webhook import effective_mapping
from adapters.webhook import preset_of
from leadgate.cli.app import main
from leadgate.cli.common import fail
from leadgate.cli.common import with_config
from leadgate.config import Config
from leadgate.config import SourceConfig

__all__ = [
    "DEFAULT_URL",
    "Exchange",
    "SampleRequest",
    "SendTestError",
    "SendTestReport",
    "build_samples",
    "hook_url",
    "send_test",
]

DEFAULT_URL = "http://127.0.0.1:5000"
TIMEOUT_SECONDS = 10.0
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


@dataclass(frozen=True)
class Exchange:
    """A sample request and the gateway's answer."""

    request: SampleRequest
    url: str
    status_code: int
    text: str

    @property
    def data(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def statuses(self) -> list[str]:
        """The event statuses the answer reports (``queued``, ``rejected``, ...)."""
        data = self.data
        if not isinstance(data, dict):
            return []
        items = data.get("events") if isinstance(data.get("events"), list) else [data]
        return [str(item["status"]) for item in items if isinstance(item, dict) and "status" in item]

    @property
    def problem(self) -> str | None:
        """Why this exchange failed the test, or None."""
        if not 200 <= self.status_code < 300:
            return f"the gateway answered {self.status_code}"
        if self.request.expect_text is not None and self.text.strip() != self.request.expect_text:
            return f"the gateway answered {self.text.strip()[:80]!r}, not the challenge {self.request.expect_text!r}"
        if "rejected" in self.statuses:
            return "stored as rejected: the sample has no usable contact field (check the mapping; leadgate events)"
        return None


@dataclass(frozen=True)
class SendTestReport:
    """Everything one ``send-test`` run sent and got back."""

    source: SourceConfig
    exchanges: tuple[Exchange, ...]

    @property
    def ok(self) -> bool:
        return all(exchange.problem is None for exchange in self.exchanges)

    def lines(self) -> list[str]:
        """A plain-text account of the run, for the terminal."""
        out: list[str] = []
        for exchange in self.exchanges:
            out.append(f"{exchange.request.method} {exchange.url} -> {exchange.status_code}")
            data = exchange.data
            out.append(json.dumps(data, indent=2, ensure_ascii=False) if data is not None else exchange.text)
            out.extend(f"note: {note}" for note in exchange.request.notes)
            if exchange.problem:
                out.append(f"FAILED: {exchange.problem}")
        if self.ok:
            out.append(f"ok: {self.source.id} accepted the sample")
        return out


def _run_id() -> str:
    return f"send-test-{int(time.time())}-{secrets.token_hex(4)}"


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _hmac_sha256(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


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


class _NoShape(Exception):
    """The sample builder cannot make a document this expression reads a value from."""


def _shape(node: Mapping[str, Any], value: Any) -> Any:
    """A JSON document on which the expression ``node`` (a jmespath AST) selects ``value``.

    Covers the paths mappings are made of: fields, quoted names, indexes, projections, flatten,
    ``[?name == 'literal']`` filters, pipes, ``||``, ``[@]`` and pass-through functions. Anything else raises
    :class:`_NoShape`, and the caller says which field the sample could not fill.
    """
    kind = node.get("type")
    children = [child for child in node.get("children", ()) if isinstance(child, Mapping)]
    if kind == "field":
        return {node["value"]: value}
    if kind in ("current", "identity"):
        return value
    if kind == "literal":
        return {}
    if kind == "subexpression":
        for child in reversed(children):
            value = _shape(child, value)
        return value
    if kind == "index_expression" and len(children) == 2 and children[1].get("type") == "index":
        index = int(children[1]["value"])
        items = [None] * index + [value] if index >= 0 else [value] + [None] * (-index - 1)
        return _shape(children[0], items)
    if kind == "flatten":
        return _shape(children[0], value if isinstance(value, list) else [value])
    if kind in ("projection", "filter_projection"):
        items = value if isinstance(value, list) else [value]
        elements = [_shape(children[1], item) for item in items]
        if kind == "filter_projection":
            elements = [_satisfying(children[2], element) for element in elements]
        return _shape(children[0], elements)
    if kind == "pipe":
        return _shape(children[0], _shape(children[1], value))
    if kind == "multi_select_list" and isinstance(value, list) and len(value) == len(children):
        # [@] (a one-lead batch made of the whole body), [a, b] (several fields side by side)
        shaped: Any = None
        for child, item in zip(children, value, strict=True):
            shaped = _merge(shaped, _shape(child, item))
        return shaped
    if kind == "or_expression":
        return _shape(children[0], value)
    if kind == "function_expression" and node.get("value") in ("to_string", "not_null") and children:
        return _shape(children[0], value)
    raise _NoShape(kind)


def _satisfying(condition: Mapping[str, Any], element: Any) -> Any:
    """``element`` with what a ``name == 'literal'`` filter needs to keep it."""
    children = [child for child in condition.get("children", ()) if isinstance(child, Mapping)]
    kinds = sorted(child.get("type") for child in children)
    if condition.get("type") != "comparator" or condition.get("value") != "eq" or kinds != ["field", "literal"]:
        raise _NoShape("filter")
    if not isinstance(element, dict):
        raise _NoShape("filter")
    name = next(child for child in children if child["type"] == "field")["value"]
    literal = next(child for child in children if child["type"] == "literal")["value"]
    return _merge(element, {name: literal})


def _merge(base: Any, extra: Any) -> Any:
    """Deep merge; where both sides hold a scalar the first one stays."""
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(base, list) and isinstance(extra, list):
        merged_list = list(base) + [None] * max(0, len(extra) - len(base))
        for index, value in enumerate(extra):
            merged_list[index] = value if merged_list[index] is None else _merge(merged_list[index], value)
        return merged_list
    return extra if base is None else base


def _sample_value(target: str) -> Any:
    if target.startswith("custom_fields."):
        return f"sample {target[len('custom_fields.') :]}"
    return SAMPLE_VALUES.get(target)


def _shaped(expression: str, value: Any) -> Any:
    return _shape(jmespath.compile(expression).parsed, copy.deepcopy(value))


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
            shaped = _shaped(expression, value)
        except _NoShape:
            notes.append(f"cannot build a sample for {target}: {expression!r} (send a real body to test it)")
            continue
        if isinstance(shaped, dict):
            lead = _merge(lead, shaped)
    event_id = source.option("event_id")
    if event_id:
        try:
            shaped = _shaped(event_id, run_id)
        except _NoShape:
            notes.append(f"cannot build a sample for event_id {event_id!r}: the sample has no event id")
        else:
            lead = _merge(lead, shaped) if isinstance(shaped, dict) else lead
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
            document = _shaped(items, [lead])
        except _NoShape:
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
        headers["X-Signature-256"] = "sha256=" + _hmac_sha256(source.option("secret"), body).hex()
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
        headers["Typeform-Signature"] = "sha256=" + base64.b64encode(_hmac_sha256(secret, body)).decode()
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
        headers["X-Hub-Signature-256"] = "sha256=" + _hmac_sha256(secret, body).hex()
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


def hook_url(config: Config, source: SourceConfig, url: str | None = None) -> str:
    """``{url}/hooks/<id>``: ``url``, else the config's ``public_url``, else the local dev gateway."""
    base = (url or config.public_url or DEFAULT_URL).rstrip("/")
    return base if base.endswith(source.path) else f"{base}{source.path}"


def send_test(
    config: Config,
    source_id: str,
    url: str | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> SendTestReport:
    """Posts the sample(s) for ``source_id`` to the running gateway and collects the answers.

    Raises:
        SendTestError: unknown source, no sample for its kind, or the gateway could not be reached.
    """
    source = config.sources.get(source_id)
    if source is None:
        known = ", ".join(sorted(config.sources)) or "none"
        raise SendTestError(f"no source named {source_id!r} in the config (configured: {known})")
    target = hook_url(config, source, url)
    samples = build_samples(source, url=config.source_url(source) if config.public_url and not url else target)
    exchanges: list[Exchange] = []
    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client:
        for sample in samples:
            try:
                response = client.request(
                    sample.method,
                    target,
                    content=sample.body or None,
                    headers=dict(sample.headers),
                    params=sample.query,
                )
            except httpx.HTTPError as err:
                raise SendTestError(
                    f"cannot reach the gateway at {target}: {err} (is it running? leadgate dev, or pass --url)"
                ) from None
            exchanges.append(Exchange(sample, target, response.status_code, response.text))
    return SendTestReport(source, tuple(exchanges))


@main.command("send-test")
@click.argument("source_id")
@click.option("--url", default=None, help="Gateway base URL [default: public_url, else http://127.0.0.1:5000]")
@with_config
def send_test_command(config: Config, source_id: str, url: str | None) -> None:
    """Post a realistic sample lead to SOURCE_ID through the running gateway (signed when the kind signs)."""
    try:
        report = send_test(config, source_id, url)
    except SendTestError as err:
        fail(str(err), code=1)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)
