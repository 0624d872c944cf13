"""Large events shown in part: long values cut, long lists and objects shortened, each with a marker.

What the admin API and the dashboard show of an event's raw body, its lead and its diff must stay
small whatever was stored (an event stored before the request limits existed can hold 100,000
fields). A cut value ends with a marker that says how large it was; the raw event stays
downloadable in full. Pure: the module only reads the values it is handed.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import Any

from leadgate import defaults

__all__ = ["Abridged", "abridge", "first_items"]

MAX_NESTING = 64
"""Deeper than this the shown value stops with a marker (the walk must not exhaust Python's stack)."""
MORE_KEY = "…"
"""The key under which a shortened object says how many keys it has."""


class Abridged:
    """Abridges values one after another, remembering whether any was cut."""

    def __init__(self, max_chars: int = defaults.DISPLAY_VALUE_CHARS, max_items: int = defaults.DISPLAY_ITEMS):
        self.max_chars = max_chars
        self.max_items = max_items
        self.cut = False

    def __call__(self, value: Any) -> Any:
        return self._shown(value, 0)

    def _marker(self, text: str) -> str:
        self.cut = True
        return f"… [cut: {text}]"

    def _shown(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            if len(value) <= self.max_chars:
                return value
            return value[: self.max_chars] + self._marker(f"{len(value)} characters in all")
        if not isinstance(value, Mapping | list | tuple):
            return value
        if depth >= MAX_NESTING:
            return self._marker(f"nested deeper than {MAX_NESTING} levels")
        if isinstance(value, Mapping):
            shown = {str(k): self._shown(v, depth + 1) for k, v in islice(value.items(), self.max_items)}
            if len(value) > self.max_items:
                shown[MORE_KEY] = self._marker(f"{len(value)} keys in all")
            return shown
        items = [self._shown(item, depth + 1) for item in value[: self.max_items]]
        if len(value) > self.max_items:
            items.append(self._marker(f"{len(value)} items in all"))
        return items


def abridge(value: Any, max_chars: int = defaults.DISPLAY_VALUE_CHARS, max_items: int = defaults.DISPLAY_ITEMS) -> Any:
    """``value`` with strings cut at ``max_chars`` and lists and objects at ``max_items``, each cut marked."""
    return Abridged(max_chars, max_items)(value)


def first_items(value: Any, max_items: int = defaults.DISPLAY_ITEMS, depth: int = 0) -> Any:
    """``value`` with each list and object cut at ``max_items``, values whole and no marker: what a diff reads."""
    if depth >= MAX_NESTING:
        return None
    if isinstance(value, Mapping):
        return {k: first_items(v, max_items, depth + 1) for k, v in islice(value.items(), max_items)}
    if isinstance(value, list | tuple):
        return [first_items(item, max_items, depth + 1) for item in value[:max_items]]
    return value
