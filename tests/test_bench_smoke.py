"""The benchmark (bench/) still imports and its arithmetic holds; running it is ``python -m bench.run``, not a test."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from bench import run as bench_run
from bench.apps import bare_app
from bench.apps import durable_app
from bench.load import FACEBOOK_APP_SECRET
from bench.load import LoadResult
from bench.load import facebook_bodies
from bench.load import form_bodies
from bench.load import merge
from bench.report import ratios
from bench.speed import SpeedResults
from bench.speed import SpeedRun


def result(requests: int, histogram: tuple[tuple[int, int], ...]) -> LoadResult:
    return LoadResult("wrk", requests, 0, 1.0, 0.0, 0.0, 0.0, 0, histogram)


def test_merged_runs_take_percentiles_from_the_combined_histogram():
    merged = merge([result(90, ((1000, 90),)), result(10, ((50000, 10),))])
    assert merged.requests == 100 and merged.seconds == 2.0
    assert merged.p50_ms == 1.0
    assert merged.p99_ms == 50.0


def test_bodies_are_unique_and_facebook_ones_are_signed(tmp_path: Path):
    forms = form_bodies(tmp_path / "f.txt", 50)
    assert len(set(forms.path.read_text().splitlines())) == 50
    signed = facebook_bodies(tmp_path / "fb.txt", 3)
    for line in signed.path.read_text().splitlines():
        signature, body = line.split("\t")
        expected = hmac.new(FACEBOOK_APP_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        assert signature == f"sha256={expected}"
        assert json.loads(body)["entry"][0]["changes"][0]["field"] == "leadgen"


def test_bare_app_answers_200_and_nothing_is_compared_without_figures():
    assert bare_app().test_client().post("/hooks/x", data="a=1").status_code == 200
    assert ratios(None, None) == []
    assert bench_run.parse_args(["--quick"]).quick is True


def test_the_durable_minimum_stores_dedupes_and_refuses_a_post_without_contact(redis_url, redis_client, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    client = durable_app().test_client()
    first = client.post("/hooks/contact-us", data={"email": "Ada@Example.com", "name": "Ada"})
    assert first.status_code == 202 and first.json["duplicate"] is False
    assert redis_client.hget(f"min:ev:{first.json['event_id']}", "name") == b"Ada"
    assert client.post("/hooks/contact-us", data={"email": "ada@example.com"}).json["duplicate"] is True
    assert client.post("/hooks/contact-us", data={"name": "nobody"}).status_code == 422
    notification = {"entry": [{"changes": [{"value": {"leadgen_id": "77", "page_id": "1"}}]}]}
    assert client.post("/hooks/fb", json=notification).status_code == 202
    assert redis_client.zcard("min:due") == 3


def test_speed_to_lead_percentiles_and_targets():
    run = SpeedRun("50 leads/s, CRM 0 ms", 50, 0.0, [float(n) for n in range(1, 101)])
    assert (run.p50_ms, run.p99_ms, run.max_ms, run.leads) == (50.5, 100.0, 100.0, 100)
    slow = SpeedRun("50 leads/s, CRM 50 ms", 50, 0.05, [n + 60.0 for n in range(1, 101)])
    found = {r.name: r for r in ratios(None, None, speed=SpeedResults([run, slow]))}
    assert found["speed to lead p99 at 50 leads/s, CRM 0 ms (ms)"].passed is False  # 100 ms > 50
    assert found["speed to lead p99 at 50 leads/s: CRM 50 ms minus CRM 0 ms (ms)"].value == 60.0
    assert found["speed to lead p99 at 500 leads/s, CRM 0 ms (ms)"].value is None  # not measured: no verdict
