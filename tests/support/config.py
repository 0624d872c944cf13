"""Config parsing as the entry points do it: with the registry of source kinds passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping

from adapters import KINDS
from leadgate import config as core
from leadgate.config import Config

__all__ = ["API_KEY", "BASE_CONFIG", "DESTINATION_CONFIG", "load_config", "parse_yaml"]

API_KEY = "cg_test"

DESTINATION_CONFIG = """
destinations:
  main:
    base_url: {crm_url}
    api_key: {api_key}
delivery:
  max_attempts: 3
  backoff_seconds: [0.05, 0.1]
  timeout_seconds: 2
  jitter: 0
"""
"""The sandbox CRM as the one destination, with fast retries: a config's first half (``str.format`` fields)."""

BASE_CONFIG = (
    DESTINATION_CONFIG
    + """sources:
  contact-us:
    kind: form
    tags: [website]
    phone_region: US
    honeypot: _gotcha
    redirect: https://example.com/thanks
    allowed_origins: [https://example.com]
    field_map: {{org: company_name, budget: custom_fields.budget}}
"""
)


def parse_yaml(text: str, environ: Mapping[str, str] | None = None, path: str | None = None) -> Config:
    return core.parse_yaml(text, environ, path, kinds=KINDS)


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    return core.load_config(path, environ, kinds=KINDS)
