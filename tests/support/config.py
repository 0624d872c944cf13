"""Config parsing as the entry points do it: with the registry of source kinds passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping

from adapters import KINDS
from leadgate import config as core
from leadgate.config import Config

__all__ = ["load_config", "parse_yaml"]


def parse_yaml(text: str, environ: Mapping[str, str] | None = None, path: str | None = None) -> Config:
    return core.parse_yaml(text, environ, path, kinds=KINDS)


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    return core.load_config(path, environ, kinds=KINDS)
