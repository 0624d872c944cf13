"""Reads a YAML document together with where each key sits in the file, refusing duplicate keys.

PyYAML keeps the last of two equal keys in a mapping without a word, so a source defined twice
is silently one source. This loader composes the node tree (whose nodes carry their file
marks), records the line of every mapping key under its dotted path (``sources.a.kind``, list
items by index: ``delivery.backoff_seconds.0``) and names every duplicate key with both lines.
It knows nothing of leadgate's keys: :mod:`leadgate.config` uses the lines to point at mistakes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import yaml

__all__ = ["YamlDocument", "load_yaml"]


@dataclass(frozen=True)
class YamlDocument:
    """The parsed data, the 1-based line of each key by dotted path, and the duplicate keys found."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    duplicates: list[tuple[str, int, int]] = field(default_factory=list)
    """``(path, first line, repeated line)`` for each key a mapping holds more than once."""

    def line_of(self, path: str) -> int | None:
        """The line of ``path``'s key, else of its nearest parent key in the file (None outside the file)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return None


def load_yaml(text: str) -> YamlDocument:
    """Parses one YAML document with :class:`yaml.SafeLoader`; raises :class:`yaml.YAMLError` if it is not YAML."""
    loader = yaml.SafeLoader(text)
    lines: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None)
        # walked before construction, which splices merged (``<<``) keys into the nodes
        for path, key_node, first_line in _walk(node, "", set()):
            if first_line is None:
                lines.setdefault(path, key_node.start_mark.line + 1)
            else:
                duplicates.append((path, first_line, key_node.start_mark.line + 1))
        return YamlDocument(loader.construct_document(node), lines, duplicates)
    finally:
        loader.dispose()


def _walk(node: yaml.Node, prefix: str, seen: set[int]) -> Iterator[tuple[str, yaml.Node, int | None]]:
    """Yields ``(path, key node, None)`` per key, or the first line instead of None for a repeated key."""
    if id(node) in seen:  # an alias met again: its keys were recorded where the anchor stands
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            if key_node.value in first_lines:
                yield path, key_node, first_lines[key_node.value]
            else:
                first_lines[key_node.value] = key_node.start_mark.line + 1
                yield path, key_node, None
            yield from _walk(value_node, path, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, f"{prefix}.{index}" if prefix else str(index), seen)
