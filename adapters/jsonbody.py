"""Reading a JSON request body, once, for every kind: what is refused and why.

A body is refused (400, never a 500 and never stored) when it is not UTF-8, not JSON,
uses NaN/Infinity or a number too large for a float (``1e999``: it would be stored as
``inf`` and could never be sent to ConnectGain), nests deeper than Python's parser
recurses, or carries a lone UTF-16 surrogate (``"\\ud800"``: valid JSON text, but not
a string Redis or ConnectGain can take). Then the source's request limits (values, key and
string lengths, depth: :mod:`adapters.bounds`) are checked on what was decoded: 413 or 400.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from adapters.base import BadInput
from adapters.bounds import check_json
from adapters.bounds import too_deep
from leadgate.config import RequestLimits

__all__ = ["load_json"]

SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def load_json(body: bytes, *, limits: RequestLimits, exact_numbers: bool = False) -> Any:
    """The decoded body within ``limits``; ``exact_numbers`` keeps non-integers as ``Decimal`` (ids never pass
    through a float)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadInput(f"the body is not valid UTF-8 (byte {err.start})") from None
    try:
        data = json.loads(
            text,
            parse_float=Decimal if exact_numbers else _finite_float,
            parse_constant=_refuse_constant,
        )
    except RecursionError:
        raise too_deep(limits) from None
    except ValueError as err:
        raise BadInput(f"the body is not valid JSON: {err}") from None
    if SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput("the JSON body contains an unpaired UTF-16 surrogate (\\ud800-\\udfff)") from None
    check_json(data, limits)
    return data
