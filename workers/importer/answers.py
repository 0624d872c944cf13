"""Reading ConnectGain's answers to a bulk request: the results a 2xx must carry, the error of a refusal.

:func:`tally` maps ``results[]`` back to the chunk's rows by index and takes the counts from
``summary``. It must not send, retry or decide whether a run goes on: the run does, from the
errors raised here and in :mod:`workers.connectgain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from workers.connectgain import BODY_KEEP
from workers.errors import TransientError
from workers.importer.progress import ChunkOutcome
from workers.importer.records import CsvRecord


def error_text(response: httpx.Response | None, fallback: str) -> str:
    """ConnectGain's own ``error`` sentence when the body has one."""
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f"{fallback}: {body['error']}"
    return fallback


def results_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON of a 2xx bulk answer, which must hold a ``results`` list."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise TransientError(
            error_text(response, f"ConnectGain answered {response.status_code} without results[]"),
            status_code=response.status_code,
            body=response.text[:BODY_KEEP],
        )
    return body


def tally(outcome: ChunkOutcome, chunk: Sequence[tuple[CsvRecord, dict[str, Any]]], body: dict, kind: str) -> None:
    """Maps ``results[]`` back to rows by index and takes the counts from ``summary``."""
    results = body["results"]
    by_index = {r["index"]: r for r in results if isinstance(r, dict) and isinstance(r.get("index"), int)}
    fresh = 0
    for index, (record, _payload) in enumerate(chunk):
        result = by_index.get(index)
        if result is None:
            outcome.failures[record.line] = "ConnectGain returned no result for this row"
        elif result.get("success") is not True:
            outcome.failures[record.line] = f"ConnectGain: {result.get('error') or 'refused'}"
        else:
            fresh += bool(result.get("is_new_contact" if kind == "deals" else "is_new"))
    succeeded = len(chunk) - len(outcome.failures)
    counts = body.get("summary")
    counts = counts if isinstance(counts, dict) else {}

    def count(name: str, fallback: int) -> int:
        value = counts.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else fallback

    if kind == "deals":
        outcome.skipped = count("skipped_existing", 0)
        outcome.new = count("new_deals", succeeded - outcome.skipped)
        outcome.contacts_created = count("new_contacts_created", fresh)
    else:
        outcome.new = count("new_contacts", fresh)
        outcome.skipped = count("skipped_duplicates", 0)
        outcome.updated = count("updated_contacts", succeeded - outcome.new - outcome.skipped)
