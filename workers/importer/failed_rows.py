"""The failed-rows report: every rejected row with its line and reason, ready to fix and import again.

:class:`FailedRows` writes ``_line, _error, <the original columns>`` to a ``.partial`` file and
replaces the previous report only when the run ends with a report worth keeping. Columns
starting with ``_`` are ignored by the form mapping, so the report imports as it is. Every cell
goes through :func:`leadgate.spreadsheet.neutralise` (lead data can hold formulas); the importer
restores them when it reads such a report back. It must not decide which rows fail or why: it
only writes what it is given.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from leadgate.spreadsheet import neutralise
from leadgate.spreadsheet import restore
from workers.importer.records import CsvRecord


class FailedRows:
    """Writes rejected rows as ``_line, _error, <the original columns>``, ready to fix and import again."""

    MARKERS = ("_line", "_error")

    def __init__(self, path: Path, header: list[str]):
        self.path = path
        self.partial = path.with_name(f"{path.name}.partial")  # the last complete report stays until this one is
        self.keep = [i for i, name in enumerate(header) if name not in self.MARKERS]  # a failed CSV imported again
        self.width = len(header)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.partial.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow([neutralise(cell) for cell in (*self.MARKERS, *(header[i] for i in self.keep))])
        self.count = 0

    def write(self, record: CsvRecord, error: str) -> None:
        values = record.values
        kept = [values[i] if i < len(values) else "" for i in self.keep]
        # values beyond the header (the reason such a row is rejected) are kept at the end, not lost
        self.writer.writerow([str(record.line), *(neutralise(cell) for cell in (error, *kept, *values[self.width :]))])
        self.count += 1

    @classmethod
    def is_report(cls, header: list[str]) -> bool:
        """Whether a CSV with this header is a report leadgate wrote (its cells need :meth:`restored`)."""
        return tuple(name.strip() for name in header[: len(cls.MARKERS)]) == cls.MARKERS

    @staticmethod
    def restored(record: CsvRecord) -> CsvRecord:
        """A report's record with the values it had before :func:`neutralise`."""
        return CsvRecord(record.line, [restore(value) for value in record.values], record.error)

    def close(self, keep: bool = True) -> None:
        """Replaces the previous report with this one, or (``keep=False``) drops this one."""
        self.handle.close()
        if keep:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)
