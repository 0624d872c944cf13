"""Forged client addresses: ``X-Forwarded-For`` is believed only from ``trusted_proxies``.

The audit set ``LEADGATE_TRUSTED_PROXIES=1``, reached gunicorn directly with ``X-Forwarded-For:
203.0.113.N`` and got 8 × 202 through a ``5/minute`` source; the forged address was logged and stored.
"""

from __future__ import annotations

import ipaddress
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.proxies import client_address
from leadgate.config import ConfigError
from leadgate.exposure import exposure_warnings
from leadgate.runtime import Runtime
from tests.support.config import DESTINATION_CONFIG
from tests.support.config import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
PROXY = "10.0.0.2"
SOURCES = """sources:
  web:
    kind: form
    rate_limit: 5/minute
"""
CONFIG = "trusted_proxies: [10.0.0.0/8, '::1']\n" + DESTINATION_CONFIG + SOURCES
NETWORKS = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1"))


@pytest.fixture
def config(make_config):
    return make_config(CONFIG)


def post(client: Any, peer: str, forwarded: str | None, n: int) -> Any:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    data = {"name": "Jo Ann", "email": f"jo{n}@example.com"}
    return client.post("/hooks/web", data=data, headers=headers, environ_base={"REMOTE_ADDR": peer})


def stored_addresses(rt: Runtime) -> list[str]:
    return [event.request["remote_addr"] for event in rt.store.recent(limit=50) if event.request]


def test_a_client_reaching_the_gateway_directly_cannot_forge_its_address(client, rt: Runtime):
    statuses = [post(client, "198.51.100.9", f"203.0.113.{n}", n).status_code for n in range(8)]
    assert statuses == [202] * 5 + [429] * 3
    assert set(stored_addresses(rt)) == {"198.51.100.9"}


def test_clients_behind_a_trusted_proxy_are_told_apart(client, rt: Runtime):
    statuses = [post(client, PROXY, f"203.0.113.{n}", n).status_code for n in range(8)]
    assert statuses == [202] * 8
    assert sorted(stored_addresses(rt)) == sorted(f"203.0.113.{n}" for n in range(8))
    limited = [post(client, PROXY, "203.0.113.200", 100 + n).status_code for n in range(6)]
    assert limited == [202] * 5 + [429]  # one client behind the proxy still has its own limit


def test_an_address_the_client_prepends_is_ignored():
    """Proxies append; whatever stands left of the first untrusted hop was written by the client."""
    chain = ["1.2.3.4, 203.0.113.5, 10.0.0.3"]
    assert client_address(PROXY, chain, NETWORKS) == "203.0.113.5"
    assert client_address(PROXY, ["10.0.0.9, 10.0.0.3"], NETWORKS) == "10.0.0.9"
    assert client_address(PROXY, ["not-an-ip, 203.0.113.5"], NETWORKS) == "203.0.113.5"
    assert client_address(PROXY, ["203.0.113.5, garbage"], NETWORKS) == PROXY
    assert client_address("::1", ["[2001:db8::7]:4711"], NETWORKS) == "2001:db8::7"
    assert client_address("198.51.100.9", chain, NETWORKS) == "198.51.100.9"


def test_a_hop_count_is_refused_with_a_way_out():
    text = DESTINATION_CONFIG.format(crm_url="http://127.0.0.1:9", api_key="k") + SOURCES
    with pytest.raises(ConfigError, match="list the proxies' addresses"):
        parse_yaml(text, {"LEADGATE_TRUSTED_PROXIES": "1"})
    parsed = parse_yaml(text, {"LEADGATE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    assert [str(net) for net in parsed.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8"]
    with pytest.raises(ConfigError, match="not an address or network"):
        parse_yaml("trusted_proxies: [10.0.0.0/33]\n" + text)


def test_trusting_everyone_or_a_public_bind_is_warned_about():
    text = DESTINATION_CONFIG.format(crm_url="http://127.0.0.1:9", api_key="k") + SOURCES
    broad = parse_yaml("trusted_proxies: [0.0.0.0/0]\n" + text, {})
    assert any("any client can forge" in warning for warning in exposure_warnings(broad, ["127.0.0.1"]))
    narrow = parse_yaml("trusted_proxies: [10.0.0.1]\n" + text, {})
    assert exposure_warnings(narrow, ["127.0.0.1"]) == []
    [warning] = exposure_warnings(narrow, ["0.0.0.0"])
    assert "X-Forwarded-For is believed from 10.0.0.1/32 while listening on 0.0.0.0" in warning
    assert exposure_warnings(parse_yaml(text, {}), ["0.0.0.0"]) == []  # nothing trusted: nothing to forge


def test_gunicorn_says_it_once_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog):
    """gunicorn.conf.py's ``when_ready`` hook, as the master runs it, with gunicorn's default bind."""
    config = tmp_path / "leadgate.yaml"
    config.write_text(
        "trusted_proxies: [10.0.0.1]\n" + DESTINATION_CONFIG.format(crm_url="http://127.0.0.1:9", api_key="k") + SOURCES
    )
    monkeypatch.setenv("LEADGATE_CONFIG", str(config))
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    with caplog.at_level(logging.WARNING, logger="gunicorn.error"):
        hooks["when_ready"](SimpleNamespace(cfg=SimpleNamespace(bind=["0.0.0.0:8000", "unix:/tmp/lg.sock"])))
    [record] = caplog.records
    assert "listening on 0.0.0.0" in record.getMessage()
