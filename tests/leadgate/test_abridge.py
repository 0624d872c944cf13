"""What the admin surface shows of large events: cut values and lists, each marked with its full size."""

from __future__ import annotations

from leadgate.abridge import MAX_NESTING
from leadgate.abridge import Abridged
from leadgate.abridge import abridge
from leadgate.abridge import first_items


def test_small_values_are_shown_as_they_are():
    shown = Abridged(max_chars=10, max_items=4)
    value = {"a": "short", "b": [1, 2, 3], "c": None, "d": 1.5}
    assert shown(value) == value
    assert shown.cut is False


def test_long_strings_lists_and_objects_are_cut_with_their_full_size():
    shown = Abridged(max_chars=5, max_items=3)
    value = {"text": "abcdefgh", "list": [1, 2, 3, 4], "object": {"w": 0, "x": 1, "y": 2, "z": 3}}
    assert shown(value) == {
        "text": "abcde… [cut: 8 characters in all]",
        "list": [1, 2, 3, "… [cut: 4 items in all]"],
        "object": {"w": 0, "x": 1, "y": 2, "…": "… [cut: 4 keys in all]"},
    }
    assert shown.cut is True


def test_form_pairs_keep_their_shape():
    fields = [["email", "a@example.com"], ["message", "x" * 50], ["f1", "v"], ["f2", "v"]]
    assert abridge({"fields": fields}, max_chars=10, max_items=3) == {
        "fields": [
            ["email", "a@example.… [cut: 13 characters in all]"],
            ["message", "xxxxxxxxxx… [cut: 50 characters in all]"],
            ["f1", "v"],
            "… [cut: 4 items in all]",
        ]
    }


def test_nesting_deeper_than_the_walk_goes_is_marked():
    value: object = "leaf"
    for _ in range(MAX_NESTING + 5):
        value = [value]
    shown = Abridged()
    out = shown(value)
    for _ in range(MAX_NESTING):
        out = out[0]
    assert out == f"… [cut: nested deeper than {MAX_NESTING} levels]"
    assert shown.cut is True


def test_first_items_keeps_values_whole_and_adds_no_marker():
    value = {"fields": [["a", "x" * 10_000], ["b", "1"], ["c", "2"]]}
    assert first_items(value, max_items=2) == {"fields": [["a", "x" * 10_000], ["b", "1"]]}
