"""The benchmark (bench/) still imports and its arithmetic holds; running it is ``python -m bench.run``, not a test."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from bench import run as bench_run
from bench.apps import bare_app
from bench.load import FACEBOOK_APP_SECRET
from bench.load import LoadResult
from bench.load import facebook_bodies
from bench.load import form_bodies
from bench.load import merge
from bench.report import ratios


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
