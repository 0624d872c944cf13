"""Lead suppression by strangers: an unauthenticated ``json`` source must be chosen, and its ids cannot be claimed.

The audit posted ``{"id": "sub-1001", ...}`` to a ``json`` source with no token or secret; the real lead
with that id was then answered ``duplicate`` and never delivered. Such a source started without a
warning, ``check-config`` said nothing, and ``/metrics`` listed every source id to anyone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from leadgate.cli import main
from leadgate.config import ConfigError
from tests.support.config import API_KEY
from tests.support.config import DESTINATION_CONFIG
from tests.support.config import parse_yaml

OPEN_SOURCE = """sources:
  orders:
    kind: json
    auth: none
    event_id: id
    mapping: {{email: email, full_name: name}}
"""


@pytest.fixture
def config(make_config):
    return make_config(DESTINATION_CONFIG + OPEN_SOURCE)


def post(client, body):
    return client.post("/hooks/orders", data=json.dumps(body), content_type="application/json")


def test_a_strangers_post_with_a_real_leads_id_does_not_suppress_it(client, rt, crm, deliver_all):
    forged = post(client, {"id": "sub-1001", "email": "troll@example.com", "name": "Troll"})
    real = post(client, {"id": "sub-1001", "email": "jane@example.com", "name": "Jane Roe"})
    assert forged.status_code == real.status_code == 202
    assert real.get_json()["duplicate"] is False
    resent = post(client, {"name": "Jane Roe", "email": "jane@example.com", "id": "sub-1001"})
    assert resent.get_json()["duplicate"] is True  # the sender's own retry is still delivered once
    deliver_all(rt)
    assert sorted(d["payload"]["email"] for d in crm.deliveries) == ["jane@example.com", "troll@example.com"]


def config_text(crm_url: str = "http://127.0.0.1:9", open_source: str = OPEN_SOURCE) -> str:
    return (DESTINATION_CONFIG + open_source).format(crm_url=crm_url, api_key=API_KEY)


def test_an_unauthenticated_source_by_omission_refuses_to_start():
    with pytest.raises(ConfigError, match=r"sources\.orders\.auth: set a token .* or auth: none"):
        parse_yaml(config_text(open_source=OPEN_SOURCE.replace("    auth: none\n", "")), {})


def test_check_config_warns_about_an_open_source(tmp_path: Path, crm):
    path = tmp_path / "leadgate.yaml"
    path.write_text(config_text(crm.url))
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "warning: source orders: auth: none: anyone who learns the URL can post leads" in flat


def test_metrics_are_not_for_strangers_by_default(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert "orders" not in response.get_data(as_text=True)
