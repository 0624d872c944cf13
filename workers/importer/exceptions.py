"""The errors that end an import, and the part of the work each one says was done.

::

    ImportFailure            an import ended early; .summary holds what was done until then
     +-- ImportRefused       refused up front: unknown source, unreadable file, bad option, unfitting state
     +-- ImportStopped       ConnectGain stopped the run (outage, refused key); a re-run continues

A bad row is not an error here: it is reported and the run goes on. This module must not
decide when to raise (the run and the journal do) or how to show the message (the CLI does).
"""

from __future__ import annotations

from workers.importer.progress import ImportSummary


class ImportFailure(Exception):
    """Base of the errors that end an import; ``summary`` holds what was done until then."""

    def __init__(self, message: str, summary: ImportSummary | None = None):
        super().__init__(message)
        self.message = message
        self.summary = summary


class ImportRefused(ImportFailure):
    """Nothing was sent: unknown source, unreadable file, bad option, state that does not fit the file."""


class ImportStopped(ImportFailure):
    """ConnectGain stopped the run (outage, refused key); progress is saved and a re-run continues."""
