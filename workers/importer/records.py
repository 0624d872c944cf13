"""Reading the CSV: the one pass that hashes and line-counts the file, and the record stream.

:func:`scan_file` reads the raw bytes once (SHA-256 for the journal key, physical line count
for progress, UTF-8 check); :func:`read_records` streams records numbered by the physical line
they start on. It must not interpret columns or build payloads (:mod:`.payloads` does), and
never holds more than one record of the file in memory.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from workers.importer.exceptions import ImportRefused


@dataclass(frozen=True)
class CsvRecord:
    """One CSV record: the physical line it starts on (header is line 1), its values, or why it is unreadable."""

    line: int
    values: list[str]
    error: str = ""


def read_records(file: IO[str]) -> Iterator[CsvRecord]:
    """Streams the records of an open CSV file (opened with ``newline=""``), header first.

    ``csv.reader`` rather than ``DictReader``: DictReader drops repeated column names and skips
    blank lines without saying so, and both are needed here (repeats are extra e-mails, as in a
    form post; blank lines move where the next record starts). A record spanning several lines
    (a quoted field with newlines) is numbered by its first line. Lines with only empty cells
    are skipped, as spreadsheets export trailing blank rows.
    """
    reader = csv.reader(file)
    previous = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            if reader.line_num == previous:  # the reader made no progress: stop rather than loop
                raise
            yield CsvRecord(previous + 1, [], f"not readable as CSV: {err}")
            previous = reader.line_num
            continue
        start, previous = previous + 1, reader.line_num
        if any(value.strip() for value in values):
            yield CsvRecord(start, values)


def scan_file(path: Path) -> tuple[str, int]:
    """SHA-256 and physical line count of the file, read in blocks; refuses a file that is not UTF-8."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    ended_with_newline = True
    with path.open("rb") as file:
        while block := file.read(1 << 18):
            digest.update(block)
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                line = lines + block[: err.start].count(b"\n") + 1
                raise ImportRefused(f"{path} is not UTF-8 (near line {line}); save it as CSV UTF-8 and retry") from None
            lines += block.count(b"\n")
            ended_with_newline = block.endswith(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportRefused(f"{path} is not UTF-8 (it ends inside a character)") from None
    return digest.hexdigest(), lines + (not ended_with_newline)
