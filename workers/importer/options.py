"""What an import can be asked to do, and the fixed limits every run works within.

Holds :class:`ImportOptions` (the request from ``leadgate import``), the bulk endpoint of each
kind with its per-request limit, and the tries, waits and timeouts of a run, each documented once.
It must not read files, build payloads or talk to ConnectGain: it only describes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from leadgate.contract import MAX_BULK_CONTACTS
from leadgate.contract import MAX_BULK_DEALS
from leadgate.contract import MAX_BULK_LEADS
from leadgate.contract import BulkContactsRequestSchema
from leadgate.contract import BulkDealsRequestSchema
from leadgate.contract import BulkLeadsRequestSchema

IMPORT_TRIES = 4
"""Tries per chunk on a transient failure (5xx, 408, 429, timeout, refused connection) before the run stops."""
IMPORT_BACKOFF_SECONDS = (1.0, 4.0, 15.0)
"""Waits before try 2, 3, ... of one chunk: the operator is watching, so seconds, not the worker's hours."""
MAX_RETRY_WAIT = 60.0
"""A longer ``Retry-After`` is clamped: a stopped run can simply be re-run later."""
IMPORT_TIMEOUT_SECONDS = 60.0
"""Per request: a 500-contact import takes ConnectGain far longer than one lead."""
ROW_STATUSES = frozenset({400, 422})
"""A whole chunk answered with these is about its content: its rows fail (final) and the run goes on.
Any other 4xx (404, 405, 413, ...) is about the setup and stops the run with nothing recorded."""
PROGRESS_EVERY = 250
"""Rows between two progress reports while rows are only being read (dry runs, long bad stretches)."""


@dataclass(frozen=True)
class Endpoint:
    """One ConnectGain bulk endpoint: its path, the body key holding the items, its per-request limit."""

    path: str
    key: str
    limit: int
    schema: Any


ENDPOINTS: dict[str, Endpoint] = {
    "contacts": Endpoint("/import-contacts-bulk", "contacts", MAX_BULK_CONTACTS, BulkContactsRequestSchema),
    "leads": Endpoint("/create-leads-bulk", "leads", MAX_BULK_LEADS, BulkLeadsRequestSchema),
    "deals": Endpoint("/create-deals-bulk", "deals", MAX_BULK_DEALS, BulkDealsRequestSchema),
}


@dataclass(frozen=True)
class ImportOptions:
    """What ``leadgate import`` was asked to do; ``None`` defaults are left to ConnectGain."""

    kind: str = "contacts"
    dry_run: bool = False
    skip_duplicates: bool = False
    default_tags: tuple[str, ...] = ()
    default_source: str | None = None
    default_pipeline_id: str | None = None
    default_stage: str | None = None
    default_currency: str | None = None
    chunk_size: int | None = None
    failed_csv: str | os.PathLike[str] | None = None
    state_path: str | os.PathLike[str] | None = None
    tries: int = IMPORT_TRIES
    backoff_seconds: tuple[float, ...] = IMPORT_BACKOFF_SECONDS
