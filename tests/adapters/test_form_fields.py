"""Reading posted names: brackets, repeats, JSON bodies at any depth and JSON inside a field."""

from __future__ import annotations

import json

import pytest

from adapters.form_fields import MAX_ENTRIES
from adapters.form_fields import Entry
from adapters.form_fields import entries_from_json
from adapters.form_fields import entries_from_pairs
from adapters.form_fields import expand
from adapters.form_fields import split_brackets


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("email", ("email",)),
        ("form_fields[name]", ("form_fields", "name")),
        ("wpforms[fields][1][first]", ("wpforms", "fields", "1", "first")),
        ("checkbox-1[]", ("checkbox-1",)),
        ("wpforms[fields][5][]", ("wpforms", "fields", "5")),
        ("input_1.3", ("input_1.3",)),
        ("q3_name[first]", ("q3_name", "first")),
        ("odd]name[", ("odd]name[",)),
        ("[leading]", ("[leading]",)),
    ],
)
def test_brackets_are_parsed_into_a_path(name, path):
    assert split_brackets(name) == path


def test_pairs_keep_order_and_repeats():
    entries = entries_from_pairs([["c[]", "a"], ["c[]", "b"], ["x", "1"], "junk", ["only-one"]])
    assert [(e.name, e.path, e.value) for e in entries] == [
        ("c[]", ("c",), "a"),
        ("c[]", ("c",), "b"),
        ("x", ("x",), "1"),
    ]


def test_json_is_read_at_any_depth_and_name_value_lists_are_pairs():
    body = {
        "fields": [{"objectTypeId": "0-1", "name": "email", "value": "a@example.com"}],
        "context": {"pageUri": "https://example.com/p"},
        "tags": ["a", "b"],
        "skip": None,
    }
    entries = entries_from_json(body)
    assert [(e.name, e.value) for e in entries] == [
        ("email", "a@example.com"),
        ("context.pageUri", "https://example.com/p"),
        ("tags", "a"),
        ("tags", "b"),
    ]


def test_json_inside_a_named_container_is_read_as_entries():
    inner = json.dumps({"id": "1", "fields": {"2": {"value": "a@example.com", "id": 2}}})
    entries = expand(
        [Entry("formData", ("formData",), inner), Entry("action", ("action",), "x")], frozenset({"formData"})
    )
    assert [(e.name, e.path) for e in entries][:2] == [
        ("formData.id", ("formData", "id")),
        ("formData.fields.2.value", ("formData", "fields", "2", "value")),
    ]
    assert entries[-1].name == "action"


@pytest.mark.parametrize("value", ["plain text", "{not json", '"a string"', "x" * 70000])
def test_a_container_that_is_not_a_json_object_stays_plain(value):
    [entry] = expand([Entry("formData", ("formData",), value)], frozenset({"formData"}))
    assert entry.value == value


def test_entries_are_bounded():
    assert len(entries_from_pairs([["f", "v"]] * (MAX_ENTRIES + 50))) == MAX_ENTRIES
    assert len(entries_from_json({f"k{i}": i for i in range(MAX_ENTRIES + 50)})) == MAX_ENTRIES
