"""``leadgate send-test``: post a realistic sample lead for one source through a running gateway.

The samples themselves (what each platform sends, signed its way) are :mod:`adapters.samples`;
this module posts them over real HTTP and reports what the gateway answered.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click
import httpx

from adapters.samples import SampleRequest
from adapters.samples import SendTestError
from adapters.samples import build_samples
from leadgate.cli.common import fail
from leadgate.cli.common import with_config
from leadgate.config import Config
from leadgate.config import SourceConfig

__all__ = ["DEFAULT_URL", "Exchange", "SendTestError", "SendTestReport", "hook_url", "send_test"]

DEFAULT_URL = "http://127.0.0.1:5000"
TIMEOUT_SECONDS = 10.0


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
        items = data.get("events")
        items = items if isinstance(items, list) else [data]
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


@click.command("send-test")
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
