"""Building a JSON document that a JMESPath expression reads a given value from (for send-test samples).

``shaped("payload.data.email", "jane@example.com")`` is ``{"payload": {"data": {"email": ...}}}``:
the ``json`` kind's sample is the merge of such documents, one per ``mapping`` entry, so the
sample exercises the source's own expressions. Pure.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jmespath

__all__ = ["NoShape", "merge", "shaped"]


class NoShape(Exception):
    """The sample builder cannot make a document this expression reads a value from."""


def _shape(node: Mapping[str, Any], value: Any) -> Any:
    """A JSON document on which the expression ``node`` (a jmespath AST) selects ``value``.

    Covers the paths mappings are made of: fields, quoted names, indexes, projections, flatten,
    ``[?name == 'literal']`` filters, pipes, ``||``, ``[@]`` and pass-through functions. Anything else raises
    :class:`NoShape`, and the caller says which field the sample could not fill.
    """
    kind = node.get("type")
    children = [child for child in node.get("children", ()) if isinstance(child, Mapping)]
    if kind == "field":
        return {node["value"]: value}
    if kind in ("current", "identity"):
        return value
    if kind == "literal":
        return {}
    if kind == "subexpression":
        for child in reversed(children):
            value = _shape(child, value)
        return value
    if kind == "index_expression" and len(children) == 2 and children[1].get("type") == "index":
        index = int(children[1]["value"])
        items = [None] * index + [value] if index >= 0 else [value] + [None] * (-index - 1)
        return _shape(children[0], items)
    if kind == "flatten":
        return _shape(children[0], value if isinstance(value, list) else [value])
    if kind in ("projection", "filter_projection"):
        items = value if isinstance(value, list) else [value]
        elements = [_shape(children[1], item) for item in items]
        if kind == "filter_projection":
            elements = [_satisfying(children[2], element) for element in elements]
        return _shape(children[0], elements)
    if kind == "pipe":
        return _shape(children[0], _shape(children[1], value))
    if kind == "multi_select_list" and isinstance(value, list) and len(value) == len(children):
        # [@] (a one-lead batch made of the whole body), [a, b] (several fields side by side)
        shaped: Any = None
        for child, item in zip(children, value, strict=True):
            shaped = merge(shaped, _shape(child, item))
        return shaped
    if kind == "or_expression":
        return _shape(children[0], value)
    if kind == "function_expression" and node.get("value") in ("to_string", "not_null") and children:
        return _shape(children[0], value)
    raise NoShape(kind)


def _satisfying(condition: Mapping[str, Any], element: Any) -> Any:
    """``element`` with what a ``name == 'literal'`` filter needs to keep it."""
    children = [child for child in condition.get("children", ()) if isinstance(child, Mapping)]
    kinds = sorted(child.get("type", "") for child in children)
    if condition.get("type") != "comparator" or condition.get("value") != "eq" or kinds != ["field", "literal"]:
        raise NoShape("filter")
    if not isinstance(element, dict):
        raise NoShape("filter")
    name = next(child for child in children if child["type"] == "field")["value"]
    literal = next(child for child in children if child["type"] == "literal")["value"]
    return merge(element, {name: literal})


def merge(base: Any, extra: Any) -> Any:
    """Deep merge; where both sides hold a scalar the first one stays."""
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(base, list) and isinstance(extra, list):
        merged_list = list(base) + [None] * max(0, len(extra) - len(base))
        for index, value in enumerate(extra):
            merged_list[index] = value if merged_list[index] is None else merge(merged_list[index], value)
        return merged_list
    return extra if base is None else base


def shaped(expression: str, value: Any) -> Any:
    return _shape(jmespath.compile(expression).parsed, copy.deepcopy(value))
