"""Reading what a website form posted: names with brackets, sub-inputs, generated ids, JSON inside fields.

A form post arrives as ``[name, value]`` pairs (urlencoded or multipart) or as a JSON object. Both
become a list of :class:`Entry`: the name as posted (what ``field_map`` and honeypots match) and its
*path*, the parts a name is built from: ``wpforms[fields][1][first]`` -> ``("wpforms", "fields", "1",
"first")``, ``checkbox-1[]`` -> ``("checkbox-1",)``, a JSON key ``payload.data.Email`` -> its keys.
Repeated names (checkboxes) stay repeated, in order.

Some builders post JSON *inside* a field (Ninja Forms' ``formData``, HubSpot's ``hs_context``,
Squarespace's ``form``): :func:`expand` reads those as more entries under the field's path, when a
convention names the field as such a container.

Pure: the module only reads the values it is handed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Entry", "entries_from_json", "entries_from_pairs", "expand", "split_brackets"]

BRACKETED = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])+)")
SEGMENT = re.compile(r"\[([^\[\]]*)\]")
CONTAINER_LIMIT = 65536
"""Characters of a JSON-in-a-field value that are read as entries; a longer one stays plain text."""
MAX_ENTRIES = 2000
"""Entries read from one post (the body size is bounded too); the rest are not read as lead data."""


@dataclass(frozen=True)
class Entry:
    """One posted value: ``name`` as sent (or the dotted JSON path) and the ``path`` it is built from."""

    name: str
    path: tuple[str, ...]
    value: Any
    hint: str = ""
    """The answer's type when the sender says it (``email``, ``phone``...), as generated names do."""


def split_brackets(name: str) -> tuple[str, ...]:
    """``"a[b][c]"`` -> ``("a", "b", "c")``; ``"x[]"`` -> ``("x",)``; a name without brackets is one part."""
    match = BRACKETED.fullmatch(name)
    if match is None:
        return (name,)
    return (match.group(1), *(part for part in SEGMENT.findall(match.group(2)) if part != ""))


def entries_from_pairs(pairs: Iterable[Any]) -> list[Entry]:
    """Entries of an urlencoded or multipart post (stored as ``[name, value]`` pairs)."""
    out: list[Entry] = []
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        name = str(pair[0])
        out.append(Entry(name, split_brackets(name), pair[1]))
        if len(out) >= MAX_ENTRIES:
            break
    return out


def _is_name_value(item: Any) -> bool:
    return isinstance(item, Mapping) and isinstance(item.get("name"), str) and "value" in item


def _walk(path: tuple[str, ...], value: Any) -> Iterator[Entry]:
    """Scalars under their path; a list repeats its path; ``[{"name", "value"}, ...]`` lists are pairs.

    The name/value list is how jQuery's ``serializeArray()`` and HubSpot's Forms API send fields.
    """
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk((*path, str(key)), item)
    elif isinstance(value, list):
        if value and all(_is_name_value(item) for item in value):
            # the list's own key is only a container: {"fields": [{"name": "email", ...}]} is "email"
            for item in value:
                yield from _walk((*path[:-1], item["name"]), item["value"])
        else:
            for item in value:
                yield from _walk(path, item)
    else:
        yield Entry(".".join(path), path, value)


def entries_from_json(body: Any) -> list[Entry]:
    """Entries of a JSON post: every scalar at any depth, named by its dotted path."""
    out: list[Entry] = []
    for entry in _walk((), body):
        out.append(entry)
        if len(out) >= MAX_ENTRIES:
            break
    return out


def _json_object(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > CONTAINER_LIMIT or value.lstrip()[:1] not in ("{", "["):
        return None
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict | list) else None


def expand(entries: list[Entry], containers: frozenset[str]) -> list[Entry]:
    """Reads JSON posted inside the fields named in ``containers`` as entries under their path.

    A container whose value is not a JSON object or array stays one plain entry.
    """
    if not containers:
        return entries
    out: list[Entry] = []
    for entry in entries:
        decoded = _json_object(entry.value) if entry.name in containers else None
        if decoded is None:
            out.append(entry)
            continue
        for inner in _walk(entry.path, decoded):
            out.append(Entry(f"{entry.name}.{'.'.join(inner.path[len(entry.path) :])}", inner.path, inner.value))
    return out[:MAX_ENTRIES]
