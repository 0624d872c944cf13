"""What one request may hold besides its size: how many fields, how long a name or a value, how deep.

The limits are the source's (:class:`~leadgate.config.RequestLimits`). Each check costs no more
than the limit it enforces: an urlencoded body's fields are counted in its bytes before any is
decoded, a multipart body is stopped by the form parser at ``max_fields`` parts (the gateway sets
that), and a JSON body's walk gives up at the first value over a limit. A refusal names the limit
and its value, so a sender (or the operator raising it) knows what to change:

* more fields than ``max_fields``, or a value longer than ``max_value_length``: :class:`PayloadTooLarge` (413);
* a name longer than ``max_name_length``, or JSON nested deeper than ``max_depth``: :class:`BadInput` (400).

Pure: the module only reads what it is handed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from adapters.base import AdapterError
from adapters.base import BadInput
from adapters.base import PayloadTooLarge
from leadgate.config import RequestLimits

__all__ = ["check_fields", "check_json", "check_urlencoded", "too_deep", "too_many_fields"]

SHOWN_NAME = 40
"""Characters of an offending field name quoted back in the message."""


def _limit(limits: RequestLimits, name: str) -> dict[str, Any]:
    return {"limit": name, "max": getattr(limits, name)}


def too_many_fields(limits: RequestLimits) -> AdapterError:
    return PayloadTooLarge(
        f"the body has more than {limits.max_fields} fields (max_fields)", errors=_limit(limits, "max_fields")
    )


def too_deep(limits: RequestLimits) -> AdapterError:
    return BadInput(
        f"the JSON body nests deeper than {limits.max_depth} levels (max_depth)", errors=_limit(limits, "max_depth")
    )


def _shown(name: str) -> str:
    return name if len(name) <= SHOWN_NAME else f"{name[:SHOWN_NAME]}…"


def _long_name(name: str, limits: RequestLimits) -> AdapterError:
    return BadInput(
        f"the field name {_shown(name)!r} is longer than {limits.max_name_length} characters (max_name_length)",
        errors={**_limit(limits, "max_name_length"), "field": _shown(name)},
    )


def _long_value(name: str, limits: RequestLimits) -> AdapterError:
    return PayloadTooLarge(
        f"the value of {_shown(name) or 'a field'!r} is longer than {limits.max_value_length} characters "
        "(max_value_length)",
        errors={**_limit(limits, "max_value_length"), "field": _shown(name)},
    )


def check_urlencoded(body: bytes, limits: RequestLimits) -> None:
    """Counts an urlencoded body's fields in its bytes, before any is decoded (``parse_qsl``'s own rule)."""
    if body.count(b"&") + 1 > limits.max_fields:
        raise too_many_fields(limits)


def check_fields(pairs: Iterable[tuple[str, str]], limits: RequestLimits) -> None:
    """Decoded form fields: how many, and how long each name and value is."""
    for count, (given_name, given_value) in enumerate(pairs, start=1):
        name, value = given_name or "", given_value or ""  # a part without a name (hypothesis found one)
        if count > limits.max_fields:
            raise too_many_fields(limits)
        if len(name) > limits.max_name_length:
            raise _long_name(name, limits)
        if len(value) > limits.max_value_length:
            raise _long_value(name, limits)


def check_json(data: Any, limits: RequestLimits) -> None:
    """A decoded JSON body: its values (scalars and empty objects or arrays), key and string lengths, depth.

    Every item waiting on the stack holds at least one value, so a container whose items would
    take the count over ``max_fields`` is refused before they are walked: the walk is bounded
    by the limits, not by the body.
    """
    count = 0
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        name, node, depth = stack.pop()
        if isinstance(node, dict | list) and depth >= limits.max_depth:
            raise too_deep(limits)
        if isinstance(node, dict | list) and node:
            if count + len(stack) + len(node) > limits.max_fields:
                raise too_many_fields(limits)
            if isinstance(node, dict):
                for key in node:
                    if len(key) > limits.max_name_length:
                        raise _long_name(key, limits)
                stack.extend((key, item, depth + 1) for key, item in node.items())
            else:
                stack.extend((name, item, depth + 1) for item in node)
            continue
        count += 1
        if count + len(stack) > limits.max_fields:
            raise too_many_fields(limits)
        if isinstance(node, str) and len(node) > limits.max_value_length:
            raise _long_value(name, limits)
