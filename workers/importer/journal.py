"""The resume state file: which chunks of which file were sent, and what became of each row.

:class:`ImportJournal` owns the JSON-lines format, its locking and its fsyncs, and refuses a
journal written for other content. It must not decide what a chunk is or send anything: the
run numbers chunks and asks the journal only what is done and what was in flight.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime
from datetime import timezone
from pathlib import Path
from typing import IO
from typing import Any

from workers.importer.exceptions import ImportRefused
from workers.importer.progress import ChunkOutcome


class ImportJournal:
    """Resume state: an append-only JSON-lines file, fsynced after every line, locked while a run uses it.

    The first line names the import (file hash, kind, source, chunk size); then one ``sending``
    line before each request and one ``done`` line (counts and per-row failures) after it. Being
    append-only, a kill -9 can at worst leave a torn last line, which is ignored on load.
    """

    def __init__(self, path: Path, handle: IO[str], header: dict[str, Any], done: dict[int, ChunkOutcome]):
        self.path = path
        self.handle = handle
        self.header = header
        self.done = done
        self.sending: set[int] = set()

    @classmethod
    def open(cls, path: Path, header: dict[str, Any]) -> ImportJournal:
        """Opens (or starts) the journal for ``header["key"]``; refuses one written for other content."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ImportRefused(f"another import is using {path}; wait for it to finish") from None
        handle.seek(0)
        entries = []
        text = "\n"
        for text in handle:
            try:
                entries.append(json.loads(text))
            except ValueError:
                continue  # a line torn by a kill mid-write
        done = {e["number"]: ChunkOutcome.from_record(e) for e in entries if e.get("type") == "done"}
        first = entries[0] if entries and entries[0].get("type") == "import" else None
        if first is not None and first.get("key") != header["key"] and done:
            handle.close()
            raise ImportRefused(
                f"{path} records {len(done)} chunk(s) sent from {first.get('file')} when its content, kind or "
                "source differed; re-sending could deliver rows twice. To import corrections, fix the failed-rows "
                "CSV and import that file; to start over anyway, delete the state file or pass another --state."
            )
        if first is None or first.get("key") != header["key"]:  # new, or nothing of another import was sent
            handle.truncate(0)
            journal = cls(path, handle, header, {})
            journal._append(header)
            return journal
        if not text.endswith("\n"):
            handle.write("\n")  # end the torn line, so the next entry is a line of its own
        journal = cls(path, handle, first, done)
        journal.sending = {e["number"] for e in entries if e.get("type") == "sending"} - set(done)
        return journal

    def _append(self, entry: dict[str, Any]) -> None:
        self.handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def begin(self, number: int, first_line: int, last_line: int, rows: int) -> None:
        self._append(
            {"type": "sending", "number": number, "first_line": first_line, "last_line": last_line, "rows": rows}
        )
        self.sending.add(number)

    def finish(self, outcome: ChunkOutcome) -> None:
        self._append({"type": "done", "at": utc_now(), **outcome.record()})
        self.sending.discard(outcome.number)

    def close(self) -> None:
        self.handle.close()


def utc_now() -> str:
    """The journal's time stamps: UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
