"""The run: one pass over one file, from the checks before the first row to the last chunk's outcome.

:func:`run_import` checks the source, destination and options, opens the journal and the
failed-rows report, streams records into chunks of at most the endpoint's limit, skips chunks the
journal has as done, and posts the others with retries on transient failures. Chunks are numbered
over valid rows in file order, so a re-run forms the same chunks. It must not build payloads
(:mod:`.payloads`), own a file format (:mod:`.journal`, :mod:`.failed_rows`) or render progress
(the listener does).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.base import Unprocessable
from adapters.normalize import UNNORMALISED_KEYS
from adapters.normalize import unnormalised
from leadgate.config import Config
from workers.connectgain import ConnectGainClient
from workers.connectgain import raise_for_response
from workers.errors import OperatorActionError
from workers.errors import PermanentError
from workers.errors import TransientError
from workers.importer.answers import error_text
from workers.importer.answers import results_of
from workers.importer.answers import tally
from workers.importer.exceptions import ImportRefused
from workers.importer.exceptions import ImportStopped
from workers.importer.failed_rows import FailedRows
from workers.importer.journal import ImportJournal
from workers.importer.journal import utc_now
from workers.importer.options import ENDPOINTS
from workers.importer.options import IMPORT_TIMEOUT_SECONDS
from workers.importer.options import MAX_RETRY_WAIT
from workers.importer.options import PROGRESS_EVERY
from workers.importer.options import ROW_STATUSES
from workers.importer.options import ImportOptions
from workers.importer.payloads import rejection_reason
from workers.importer.payloads import row_payload
from workers.importer.progress import ChunkOutcome
from workers.importer.progress import ImportListener
from workers.importer.progress import ImportPlan
from workers.importer.progress import ImportSummary
from workers.importer.records import CsvRecord
from workers.importer.records import read_records
from workers.importer.records import scan_file
from workers.retrying import call_with_retries


def _default_path(csv_path: Path, suffix: str) -> Path:
    stem = csv_path.name[: -len(".csv")] if csv_path.name.lower().endswith(".csv") else csv_path.name
    return csv_path.with_name(f"{stem}{suffix}")


class _Import:
    """One run over one file; :func:`run_import` is the entry point."""

    def __init__(
        self,
        config: Config,
        csv_path: Path,
        source_id: str,
        options: ImportOptions,
        listener: ImportListener,
        client: ConnectGainClient | None,
        sleep: Callable[[float], None],
    ):
        self.path = csv_path
        self.options = options
        self.listener = listener
        self.sleep = sleep
        self.notes: list[str] = []
        self.summary = ImportSummary(dry_run=options.dry_run)
        if options.kind not in ENDPOINTS:
            raise ImportRefused(f"--kind must be one of {', '.join(ENDPOINTS)}, not {options.kind!r}")
        self.kind = options.kind
        self.endpoint = ENDPOINTS[options.kind]
        source = config.sources.get(source_id)
        if source is None:
            raise ImportRefused(
                f"no source named {source_id!r}; sources: {', '.join(sorted(config.sources)) or 'none'}"
            )
        self.destination = config.destinations[source.destination]
        if not options.dry_run and not self.destination.configured:
            raise ImportRefused(
                f"destination {self.destination.name!r} has no api_key; set it, use --dry-run, or run "
                "`leadgate dev` in this directory to import into its sandbox CRM"
            )
        if options.default_source:
            source = dataclasses.replace(source, source=options.default_source)
        self.source = source
        self.chunk_size = self._chunk_size(options.chunk_size)
        self.extras = self._body_extras()
        self.client = client
        self.owns_client = client is None and not options.dry_run
        self.journal: ImportJournal | None = None
        self.failed: FailedRows | None = None
        self.numbered = 0

    def _chunk_size(self, requested: int | None) -> int:
        limit = self.endpoint.limit
        if requested is not None and requested < 1:
            raise ImportRefused("--chunk-size must be at least 1")
        if requested is not None and requested > limit:
            self.notes.append(f"chunk size {requested} capped at {limit}, the most {self.endpoint.path} accepts")
        return min(requested or limit, limit)

    def _body_extras(self) -> dict[str, Any]:
        """The bulk options sent with every chunk, checked against the endpoint's schema up front."""
        options, deal_defaults = self.options, dict(self.source.deal or {})
        if self.kind == "deals":
            extras: dict[str, Any] = {"skip_if_exists": options.skip_duplicates}
            for name in ("pipeline_id", "stage", "currency"):
                value = getattr(options, f"default_{name}") or deal_defaults.get(name)
                if value:
                    extras[f"default_{name}"] = value.upper() if name == "currency" else value
            sample = {"title": "sample", "contact_id": "sample"}
        else:
            extras = {"skip_duplicates": options.skip_duplicates}
            if self.kind == "contacts":
                extras["default_tags"] = list(options.default_tags)
                if options.default_source:
                    extras["default_source"] = options.default_source
            given = [f"--default-{n.replace('_', '-')}" for n in ("pipeline_id", "stage", "currency")]
            given = [flag for flag in given if getattr(options, flag[2:].replace("-", "_"))]
            if given:
                self.notes.append(f"{', '.join(given)}: for --kind deals only; ignored")
            if self.source.deal:
                self.notes.append(
                    f"source {self.source.id} has a deal: block, but {self.endpoint.path} creates no deals; "
                    "import deals with --kind deals"
                )
            sample = {"first_name": "sample"}
        problems = self.endpoint.schema().validate({self.endpoint.key: [sample], **extras})
        if problems:
            text = "; ".join(f"{name}: {' '.join(map(str, why))}" for name, why in problems.items())
            raise ImportRefused(f"bad bulk option: {text}")
        return extras

    # -- rows --

    def _reject(self, record: CsvRecord, error: str, stage: str) -> None:
        assert self.failed is not None
        self.failed.write(record, error)
        self.listener.row_rejected(record.line, error, stage)

    def _warn_if_weak(self, record: CsvRecord, payload: dict[str, Any]) -> None:
        """Counts and reports a row whose email or phone was given but could not be normalized."""
        lost = unnormalised(payload)
        if not lost:
            return
        self.summary.warned += 1
        warning = "; ".join(
            f"{name} could not be normalized (kept as custom_fields.{UNNORMALISED_KEYS[name]})" for name in lost
        )
        self.listener.row_warned(record.line, warning)

    # -- chunks --

    def _flush(self, chunk: list[tuple[CsvRecord, dict[str, Any]]]) -> None:
        if not chunk:
            return
        self.numbered += 1
        number, first, last = self.numbered, chunk[0][0].line, chunk[-1][0].line
        if self.options.dry_run:
            outcome = ChunkOutcome(number, first, last, len(chunk), dry_run=True)
        elif self.journal is not None and number in self.journal.done:
            outcome = self.journal.done[number]
            if (outcome.first_line, outcome.last_line, outcome.rows) != (first, last, len(chunk)):
                raise ImportRefused(
                    f"chunk {number} was lines {outcome.first_line}-{outcome.last_line} ({outcome.rows} rows) when "
                    f"{self.journal.path} was written and is lines {first}-{last} ({len(chunk)} rows) now: the "
                    "source's mapping changed which rows are valid. Resuming could skip or resend rows; to start "
                    "over, delete the state file or pass another --state.",
                    self.summary,
                )
        else:
            outcome = self._send(number, chunk)
        for record, _payload in chunk:
            if record.line in outcome.failures:
                self._reject(record, outcome.failures[record.line], "failed")
        self.summary.add(outcome)
        self.listener.chunk_done(outcome)
        self.listener.lines_read(last)
        chunk.clear()

    def _send(self, number: int, chunk: list[tuple[CsvRecord, dict[str, Any]]]) -> ChunkOutcome:
        assert self.journal is not None
        first, last = chunk[0][0].line, chunk[-1][0].line
        uncertain = number in self.journal.sending  # in flight when an earlier run died
        body = {**self.extras, self.endpoint.key: [payload for _record, payload in chunk]}
        self.journal.begin(number, first, last, len(chunk))
        outcome = ChunkOutcome(number, first, last, len(chunk))
        try:
            answer = self._post(number, first, last, body, uncertain)
        except PermanentError as err:
            outcome.failures = {record.line: err.message for record, _payload in chunk}
        else:
            tally(outcome, chunk, answer, self.kind)
        outcome.failed = len(outcome.failures)
        self.journal.finish(outcome)
        return outcome

    def _post(self, number: int, first: int, last: int, body: dict[str, Any], uncertain: bool) -> dict[str, Any]:
        """POSTs one chunk and returns the answer's JSON, retrying transient failures.

        A 2xx without ``results[]`` is transient too (as in coalesced delivery): nothing in it
        says which rows were recorded, so the chunk is sent again, safely (see ``uncertain``).
        """
        assert self.client is not None
        client = self.client
        tries = max(self.options.tries, 1)
        retried = uncertain

        def attempt_post(attempt: int) -> dict[str, Any]:
            if retried and self.kind == "deals":
                body["skip_if_exists"] = True  # deals are not merged like contacts: skip the ones that did arrive
            self.summary.requests += 1
            response = None
            try:
                response = client.post(self.destination, self.endpoint.path, body)
                raise_for_response(response)
                return results_of(response)
            except OperatorActionError as err:
                raise ImportStopped(
                    f"{err.message.split(';')[0]}: fix destinations.{self.destination.name}.api_key and run the "
                    "same command again; nothing of this chunk was imported",
                    self.summary,
                ) from None
            except PermanentError as err:
                err.message = error_text(response, err.message)
                if err.status_code in ROW_STATUSES:
                    raise
                raise ImportStopped(
                    f"{err.message} for {self.endpoint.path} at {self.destination.base_url}: check the destination "
                    "(base_url) and --chunk-size, then run the same command again",
                    self.summary,
                ) from None

        def wait(attempt: int, err: TransientError) -> float:
            backoff = self.options.backoff_seconds or (0.0,)
            seconds = err.retry_after if err.retry_after is not None else backoff[min(attempt, len(backoff)) - 1]
            return min(seconds, MAX_RETRY_WAIT)

        def note(attempt: int, seconds: float, err: TransientError) -> None:
            nonlocal retried
            self.listener.retrying(number, attempt, seconds, err.message)
            retried = True  # a chunk tried again may have partly arrived

        try:
            return call_with_retries(attempt_post, tries=tries, wait=wait, sleep=self.sleep, on_retry=note)
        except TransientError as err:
            raise ImportStopped(
                f"chunk {number} (lines {first}-{last}) not accepted after {tries} tries: {err.message}. "
                f"Progress is saved in {self.journal.path if self.journal else 'the state file'}: run the "
                "same command again to continue.",
                self.summary,
            ) from None

    # -- the whole file --

    def run(self) -> ImportSummary:
        digest, lines = scan_file(self.path)
        options = self.options
        failed_path = Path(options.failed_csv) if options.failed_csv else _default_path(self.path, ".failed.csv")
        state_path = None if options.dry_run or not options.state_path else Path(options.state_path)
        if not options.dry_run and state_path is None:
            state_path = _default_path(self.path, f".{self.source.id}.{self.kind}.import-state.jsonl")
        self.summary.failed_csv, self.summary.state_path = failed_path, state_path
        if state_path is not None:
            header = {
                "type": "import",
                "key": f"{digest}:{self.kind}:{self.source.id}",
                "file": str(self.path),
                "sha256": digest,
                "kind": self.kind,
                "source": self.source.id,
                "chunk_size": self.chunk_size,
                "started_at": utc_now(),
            }
            self.journal = ImportJournal.open(state_path, header)
            recorded = int(self.journal.header.get("chunk_size") or self.chunk_size)
            if recorded != self.chunk_size:
                self.notes.append(f"resuming with chunk size {recorded}, as recorded in {state_path}")
                self.chunk_size = recorded
        try:
            plan = ImportPlan(
                self.path,
                self.source.id,
                self.kind,
                self.endpoint,
                self.chunk_size,
                lines,
                options.dry_run,
                failed_path,
                state_path,
                len(self.journal.done) if self.journal else 0,
                self.notes,
            )
            if self.owns_client:
                self.client = ConnectGainClient(timeout=IMPORT_TIMEOUT_SECONDS)
            self._read(plan)
        finally:
            if self.journal is not None:
                self.journal.close()
            if self.owns_client and self.client is not None:
                self.client.close()
        return self.summary

    def _read(self, plan: ImportPlan) -> None:
        with self.path.open(encoding="utf-8-sig", newline="") as file:
            records = read_records(file)
            try:
                header = next(records, None)
            except csv.Error as err:
                raise ImportRefused(f"{self.path} is not readable as CSV: {err}") from None
            if header is None or header.error:
                raise ImportRefused(f"{self.path} has no header row" + (f" ({header.error})" if header else ""))
            if FailedRows.is_report(header.values):  # a failed-rows report imported again: undo its escaping
                records = map(FailedRows.restored, records)
                header = FailedRows.restored(header)
            names = [name.strip() for name in header.values]
            self.failed = FailedRows(plan.failed_csv, header.values)
            self.listener.started(plan)
            keep_report = True
            try:
                self._stream(records, names)
            except ImportRefused:
                keep_report = False  # the state does not fit: the last complete report stays as it was
                raise
            except csv.Error as err:
                raise ImportStopped(f"{self.path} stopped being readable as CSV: {err}", self.summary) from None
            finally:
                self.failed.close(keep=keep_report)
            self.listener.lines_read(plan.lines)

    def _stream(self, records: Iterator[CsvRecord], names: list[str]) -> None:
        """Validates row by row and sends each chunk as soon as it is full."""
        chunk: list[tuple[CsvRecord, dict[str, Any]]] = []
        for record in records:
            self.summary.total += 1
            try:
                payload = row_payload(record, names, self.kind, self.source, self.options.default_tags)
            except Unprocessable as err:
                self.summary.invalid += 1
                self._reject(record, rejection_reason(err), "invalid")
            else:
                chunk.append((record, payload))
                self._warn_if_weak(record, payload)
            if len(chunk) >= self.chunk_size:
                self._flush(chunk)
            elif self.summary.total % PROGRESS_EVERY == 0:
                self.listener.lines_read(record.line)
        self._flush(chunk)


def run_import(
    config: Config,
    csv_path: str | os.PathLike[str],
    source_id: str,
    options: ImportOptions | None = None,
    listener: ImportListener | None = None,
    client: ConnectGainClient | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ImportSummary:
    """Imports ``csv_path`` through ``source_id``'s mapping into its destination with the bulk endpoints.

    Args:
        options: kind, dry run, bulk options, output paths (defaults next to the CSV).
        listener: progress hooks; see :class:`ImportListener`.
        client: a ConnectGain client to use (one is made and closed otherwise).
        sleep: how to wait between tries (default ``time.sleep``; tests pass a recorder).

    Returns:
        The totals over the whole file, chunks done by earlier runs included.

    Raises:
        ImportRefused: before anything is sent (unknown source, unreadable file, bad option,
            a state file that does not fit the file).
        ImportStopped: ConnectGain kept failing or refused the key; progress is saved.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise ImportRefused(f"{path} is not a file")
    options, listener = options or ImportOptions(), listener or ImportListener()
    run = _Import(config, path, source_id, options, listener, client, sleep or time.sleep)
    return run.run()
