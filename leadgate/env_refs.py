"""``${VAR}`` and ``${VAR:-default}`` in the config file: expanded from the environment, every scalar.

The references are swapped for plain words before the YAML is parsed (:func:`protect_env_refs`), so
they survive flow syntax (``{a: ${X}}``), and expanded after (:func:`expand_tree`), which also
collects the variables that expanded to nothing, so the config can name every one at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["expand_env", "expand_tree", "protect_env_refs"]

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
PLACEHOLDER = re.compile(r"__LGENV_([0-9a-f]+)_([0-9a-f]*)__")


def expand_env(text: str, environ: Mapping[str, str]) -> Any:
    """Expands ``${VAR}`` in one YAML scalar; a scalar that is only an unset ``${VAR}`` becomes None."""
    whole = PLACEHOLDER.fullmatch(text)
    if whole:
        value = _lookup(whole, environ)
        return value if value != "" else None
    return PLACEHOLDER.sub(lambda m: _lookup(m, environ) or "", text)


def _lookup(match: re.Match[str], environ: Mapping[str, str]) -> str:
    name = bytes.fromhex(match.group(1)).decode()
    default = bytes.fromhex(match.group(2)).decode()
    return environ.get(name) or default


def protect_env_refs(text: str) -> str:
    """Swaps ``${VAR}`` for a plain word so it survives YAML flow syntax (``{a: ${X}}``)."""

    def placeholder(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2) or ""
        return f"__LGENV_{name.encode().hex()}_{default.encode().hex()}__"

    return ENV_REF.sub(placeholder, text)


def _unset_names(text: str, environ: Mapping[str, str]) -> list[str]:
    """The ``${VAR}`` in one scalar that expand to nothing: not set (or empty) and without a default."""
    found = []
    for match in PLACEHOLDER.finditer(text):
        if not _lookup(match, environ):
            found.append(bytes.fromhex(match.group(1)).decode())
    return found


def expand_tree(
    node: Any, environ: Mapping[str, str], path: str = "", unset: dict[str, list[str]] | None = None
) -> Any:
    """Expands every scalar; ``unset`` collects, by dotted key path, the variables that expanded to nothing."""
    unset = {} if unset is None else unset
    if isinstance(node, dict):
        return {
            expand_tree(k, environ): expand_tree(v, environ, f"{path}.{k}" if path else str(k), unset)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [expand_tree(v, environ, f"{path}.{i}" if path else str(i), unset) for i, v in enumerate(node)]
    if isinstance(node, str):
        missing = _unset_names(node, environ)
        if missing and path:
            unset[path] = missing
        return expand_env(node, environ)
    return node
