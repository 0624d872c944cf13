"""What is wrong with a config file, said all at once: each problem with its key, its line and a hint.

An operator fixing a file should need one run, not one per mistake. :mod:`leadgate.config`
collects every :class:`Problem` it meets (marshmallow's messages flattened to dotted key paths,
the checks of its own), then :func:`config_error` turns them into one :class:`ConfigError`:
each line names the key as the file spells it, the file line it sits on, the ``${VAR}`` a value
needed but the environment did not set, and the nearest known key for a misspelt one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from marshmallow import Schema
from marshmallow import fields

__all__ = ["ConfigError", "NULL_HINT", "Problem", "config_error", "did_you_mean", "flatten"]

NULL_HINT = "is empty (null in the file, or a ${VAR} that is not set in the environment)"
UNKNOWN_FIELD = "Unknown field."


class ConfigError(Exception):
    """The config file is missing, not YAML, or fails validation; ``problems`` holds each one."""

    def __init__(self, message: str, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True)
class Problem:
    """One mistake: the dotted key path (empty for the file as a whole), what is wrong, the file line."""

    path: str
    text: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path}: {self.text}{where}" if self.path else f"{self.text}{where}"


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` Did you mean `phone_region`?`` for the known key nearest a misspelt one, else nothing."""
    close = difflib.get_close_matches(key, sorted(set(known)), n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


@dataclass(frozen=True)
class _DictEntry:
    """Where marshmallow's ``Dict`` puts an entry's errors: ``{"key": [...], "value": {...}}``."""

    dict_field: fields.Dict


def _below(where: Any, key: Any) -> Any:
    """What validates the value under ``key`` of ``where``: a schema, a container field, or None."""
    if isinstance(where, Schema):
        return _unwrap(where.fields.get(str(key)))
    if isinstance(where, fields.Dict):
        return _DictEntry(where)
    if isinstance(where, _DictEntry) and key == "value":
        return _unwrap(where.dict_field.value_field)
    if isinstance(where, fields.List):
        return _unwrap(where.inner)
    return None


def _unwrap(found: Any) -> Any:
    if isinstance(found, fields.Nested):
        return found.schema
    return found if isinstance(found, (fields.Dict, fields.List)) else None


def flatten(messages: Any, prefix: str = "", schema: Any = None, also_known: Iterable[str] = ()) -> list[Problem]:
    """marshmallow's nested messages as problems keyed by the file's dotted paths.

    ``schema`` (what produced ``messages``) lets an unknown key be answered with the nearest
    known one; ``also_known`` adds keys checked elsewhere (a source's common keys beside its
    kind's options).
    """
    if isinstance(messages, dict):
        out: list[Problem] = []
        for key, value in messages.items():
            if key == "value" and prefix:  # marshmallow's Dict wraps value errors; the file has no such key
                name = prefix
            elif key == "key" and prefix:
                name = f"{prefix} (the name)"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            if value == [UNKNOWN_FIELD] and isinstance(schema, Schema):
                known = [*schema.fields, *also_known]
                out.append(Problem(name, f"Unknown field.{did_you_mean(str(key), known)}"))
                continue
            out.extend(flatten(value, name, _below(schema, key)))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        text = " ".join(NULL_HINT if m == "Field may not be null." else m for m in messages)
        return [Problem(prefix, text)]
    if isinstance(messages, list):
        return [line for m in messages for line in flatten(m, prefix, schema, also_known)]
    return [Problem(prefix, str(messages))]


def _related(problem_path: str, value_path: str) -> bool:
    return (
        problem_path == value_path
        or value_path.startswith(f"{problem_path}.")
        or problem_path.startswith(f"{value_path}.")
        or problem_path == f"{value_path} (the name)"
    )


def _with_unset_vars(problem: Problem, unset: Mapping[str, Iterable[str]]) -> Problem:
    names = sorted({name for path, found in unset.items() if _related(problem.path, path) for name in found})
    if not names:
        return problem
    listed = ", ".join(f"${{{name}}}" for name in names)
    verb = "is" if len(names) == 1 else "are"
    if problem.text == NULL_HINT:
        return replace(problem, text=f"is empty: {listed} {verb} not set in the environment")
    return replace(problem, text=f"{problem.text} ({listed} {verb} not set in the environment)")


def config_error(
    problems: Iterable[Problem],
    line_of: Any = None,
    unset: Mapping[str, Iterable[str]] | None = None,
) -> ConfigError:
    """One error holding every problem, each given its file line (``line_of(path)``) and unset variables.

    The problems are listed in file order, those the file cannot place (an environment
    variable, the file as a whole) last.
    """
    located = []
    for problem in problems:
        problem = _with_unset_vars(problem, unset or {})
        if problem.line is None and line_of is not None and problem.path:
            problem = replace(problem, line=line_of(problem.path.removesuffix(" (the name)")))
        located.append(problem)
    located.sort(key=lambda p: (p.line is None, p.line or 0))
    return ConfigError("\n".join(str(p) for p in located), located)
