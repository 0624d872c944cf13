"""Request limits on decoded bodies: field counts, name and value lengths, JSON depth, each refusal naming its limit."""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.base import BadInput
from adapters.base import PayloadTooLarge
from adapters.bounds import check_fields
from adapters.bounds import check_json
from adapters.bounds import check_urlencoded
from adapters.jsonbody import load_json
from leadgate.config import RequestLimits

LIMITS = RequestLimits(max_fields=5, max_name_length=10, max_value_length=20, max_depth=3)


def refused(check: Any, *args: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises((PayloadTooLarge, BadInput)) as caught:
        check(*args)
    return caught.value.status, caught.value.errors


def test_urlencoded_fields_are_counted_in_the_bytes():
    check_urlencoded(b"a=1&b=2&c=3&d=4&e=5", LIMITS)
    assert refused(check_urlencoded, b"a=1&b=2&c=3&d=4&e=5&f=6", LIMITS) == (413, {"limit": "max_fields", "max": 5})


def test_decoded_fields_within_the_limits_pass():
    check_fields([("name", "x" * 20)] * 5, LIMITS)


@pytest.mark.parametrize(
    ("pairs", "status", "limit"),
    [
        ([("a", "1")] * 6, 413, "max_fields"),
        ([("a" * 11, "1")], 400, "max_name_length"),
        ([("note", "x" * 21)], 413, "max_value_length"),
    ],
)
def test_decoded_fields_over_a_limit_are_refused_by_name(pairs, status, limit):
    got_status, errors = refused(check_fields, pairs, LIMITS)
    assert (got_status, errors["limit"], errors["max"]) == (status, limit, getattr(LIMITS, limit))


def test_a_refused_name_is_quoted_shortened():
    _, errors = refused(check_fields, [("n" * 500, "v")], RequestLimits(max_name_length=100))
    assert errors["field"] == "n" * 40 + "…"


@pytest.mark.parametrize(
    "body",
    [
        {"a": 1, "b": [1, 2], "c": {"d": None}},
        [[], {}, "x" * 20, 1.5, True],
        {"a": {"b": {"c": 1}}},
        "just a string",
    ],
)
def test_json_within_the_limits_passes(body):
    check_json(body, LIMITS)


@pytest.mark.parametrize(
    ("body", "status", "limit"),
    [
        (list(range(6)), 413, "max_fields"),
        ({"a": [1, 2, 3], "b": {"c": 4, "d": 5, "e": 6}}, 413, "max_fields"),
        ([{}, [], {}, [], {}, []], 413, "max_fields"),
        ({"a": {"b": {"c": {"d": 1}}}}, 400, "max_depth"),
        ([[[[]]]], 400, "max_depth"),
        ({"k" * 11: 1}, 400, "max_name_length"),
        ({"a": ["x" * 21]}, 413, "max_value_length"),
    ],
)
def test_json_over_a_limit_is_refused_by_name(body, status, limit):
    got_status, errors = refused(check_json, body, LIMITS)
    assert (got_status, errors["limit"], errors["max"]) == (status, limit, getattr(LIMITS, limit))


def test_a_value_too_long_names_its_key():
    _, errors = refused(check_json, {"outer": {"note": "x" * 21}}, LIMITS)
    assert errors["field"] == "note"


def test_a_huge_array_is_refused_without_walking_it():
    body = list(range(1_000_000))
    started = time.perf_counter()
    assert refused(check_json, body, RequestLimits())[0] == 413
    assert time.perf_counter() - started < 0.05


def test_load_json_applies_the_limits():
    assert load_json(b'{"a": [1, 2]}', limits=LIMITS) == {"a": [1, 2]}
    with pytest.raises(PayloadTooLarge):
        load_json(b"[1, 2, 3, 4, 5, 6]", limits=LIMITS)


def test_json_deeper_than_the_parser_recurses_names_the_depth_limit():
    with pytest.raises(BadInput) as caught:
        load_json(b"[" * 100_000 + b"]" * 100_000, limits=RequestLimits())
    assert caught.value.errors == {"limit": "max_depth", "max": 32}
