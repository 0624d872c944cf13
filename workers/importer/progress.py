"""What a run reports to its caller: the plan before the first row, each chunk's outcome, the totals.

Holds :class:`ImportPlan`, :class:`ChunkOutcome` (with its journal record form),
:class:`ImportSummary` and the :class:`ImportListener` hooks that receive them. Plain data and
no-op hooks: it must not render anything (that is ``leadgate.cli.importer``), touch files or
talk to ConnectGain.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from workers.importer.options import Endpoint


@dataclass
class ImportPlan:
    """What a run is about to do, handed to the listener before the first row."""

    file: Path
    source_id: str
    kind: str
    endpoint: Endpoint
    chunk_size: int
    lines: int
    dry_run: bool
    failed_csv: Path
    state_path: Path | None
    chunks_done_before: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class ChunkOutcome:
    """One chunk: its rows (line range) and what ConnectGain did with them."""

    number: int
    first_line: int
    last_line: int
    rows: int
    new: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    contacts_created: int = 0
    failures: dict[int, str] = field(default_factory=dict)
    resumed: bool = False
    dry_run: bool = False

    def record(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["failures"] = {str(line): error for line, error in self.failures.items()}
        del data["resumed"], data["dry_run"]
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> ChunkOutcome:
        failures = {int(line): str(error) for line, error in (data.get("failures") or {}).items()}
        names = ("new", "updated", "skipped", "failed", "contacts_created")
        new, updated, skipped, failed, contacts_created = (int(data.get(name) or 0) for name in names)
        rows = (int(data["number"]), int(data["first_line"]), int(data["last_line"]), int(data["rows"]))
        return cls(
            *rows,
            new=new,
            updated=updated,
            skipped=skipped,
            failed=failed,
            contacts_created=contacts_created,
            failures=failures,
            resumed=True,
        )


@dataclass
class ImportSummary:
    """Totals over the whole file; ``sent_rows`` and ``requests`` count this run only."""

    total: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    invalid: int = 0
    warned: int = 0
    """Rows imported with an email or phone that could not be normalized (kept as custom_fields.raw_*)."""
    contacts_created: int = 0
    chunks: int = 0
    requests: int = 0
    sent_rows: int = 0
    resumed_rows: int = 0
    dry_run: bool = False
    failed_csv: Path | None = None
    state_path: Path | None = None

    def add(self, outcome: ChunkOutcome) -> None:
        self.chunks += 1
        for name in ("new", "updated", "skipped", "failed", "contacts_created"):
            setattr(self, name, getattr(self, name) + getattr(outcome, name))
        if outcome.resumed:
            self.resumed_rows += outcome.rows
        elif not outcome.dry_run:
            self.sent_rows += outcome.rows


class ImportListener:
    """Hooks a caller overrides to show progress; every method is optional."""

    def started(self, plan: ImportPlan) -> None:
        """Called once, before the first row."""

    def lines_read(self, line: int) -> None:
        """The last physical line read so far."""

    def row_rejected(self, line: int, reason: str, stage: str) -> None:
        """A row that will not be in ConnectGain: ``stage`` is ``"invalid"`` or ``"failed"``."""

    def row_warned(self, line: int, warning: str) -> None:
        """A valid row that lost a value on the way: an email or phone that could not be normalized."""

    def chunk_done(self, outcome: ChunkOutcome) -> None:
        """A chunk was sent (or found done in the journal, or counted in a dry run)."""

    def retrying(self, chunk: int, attempt: int, wait: float, reason: str) -> None:
        """A chunk failed transiently and is tried again after ``wait`` seconds."""
