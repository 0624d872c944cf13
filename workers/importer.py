"""Bulk CSV import: stream a CSV into ConnectGain's bulk endpoints, resumably.

A file is read once to hash it (and check it is UTF-8), then streamed row by row with
:mod:`csv`: rows are validated one at a time, valid ones are buffered into chunks of at most
the endpoint's limit (500 contacts, 100 leads, 100 deals) and each chunk is posted as one
request. Memory holds one chunk, never the file.

Rows become payloads the way the gateway builds them: contacts and leads through the form
adapter's ``normalize`` (a header row is mapped exactly like a form post, ``field_map``
included), deals through :func:`deal_payload`. A bad row is reported with its line number and
reason and never stops the run; ``results[]`` of each answer are mapped back to rows by index.
Every rejected row (invalid here, or failed at ConnectGain) goes to a failed-rows CSV that can be
fixed and imported again: its ``_line`` and ``_error`` columns start with ``_``, which the form
mapping ignores.

Resuming: a journal next to the CSV (:class:`ImportJournal`) records every chunk as sent and as
done, keyed by the file's SHA-256, the kind and the source. Chunks are numbered over valid rows
in file order, so a re-run forms the same chunks and skips the done ones. The one chunk in
flight when the process died is sent again (ConnectGain merges contacts on e-mail and phone;
deals are re-sent with ``skip_if_exists``).

No Redis and no queue: the import talks to ConnectGain directly and the caller renders progress.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone
from pathlib import Path
from typing import IO
from typing import Any

import httpx

from adapters import form
from adapters.base import Unprocessable
from adapters.normalize import DROP_TARGETS
from adapters.normalize import canonical_key
from adapters.normalize import map_target
from adapters.normalize import normalize_email
from adapters.normalize import normalize_phone
from adapters.normalize import render_template
from adapters.normalize import split_full_name
from adapters.schemas import MAX_BULK_CONTACTS
from adapters.schemas import MAX_BULK_DEALS
from adapters.schemas import MAX_BULK_LEADS
from adapters.schemas import BulkContactsRequestSchema
from adapters.schemas import BulkDealSchema
from adapters.schemas import BulkDealsRequestSchema
from adapters.schemas import BulkLeadsRequestSchema
from leadgate.config import Config
from leadgate.config import SourceConfig
from workers.connectgain import BODY_KEEP
from workers.connectgain import ConnectGainClient
from workers.connectgain import raise_for_response
from workers.errors import OperatorActionError
from workers.errors import PermanentError
from workers.errors import TransientError

__all__ = [
    "ENDPOINTS",
    "ChunkOutcome",
    "Endpoint",
    "ImportFailure",
    "ImportJournal",
    "ImportListener",
    "ImportOptions",
    "ImportPlan",
    "ImportRefused",
    "ImportStopped",
    "ImportSummary",
    "deal_payload",
    "read_records",
    "run_import",
]

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
        counts = {name: int(data.get(name) or 0) for name in names}
        rows = (int(data["number"]), int(data["first_line"]), int(data["last_line"]), int(data["rows"]))
        return cls(*rows, **counts, failures=failures, resumed=True)


@dataclass
class ImportSummary:
    """Totals over the whole file; ``sent_rows`` and ``requests`` count this run only."""

    total: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    invalid: int = 0
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


class ImportListener:
    """Hooks a caller overrides to show progress; every method is optional."""

    def started(self, plan: ImportPlan) -> None:
        """Called once, before the first row."""

    def lines_read(self, line: int) -> None:
        """The last physical line read so far."""

    def row_rejected(self, line: int, reason: str, stage: str) -> None:
        """A row that will not be in ConnectGain: ``stage`` is ``"invalid"`` or ``"failed"``."""

    def chunk_done(self, outcome: ChunkOutcome) -> None:
        """A chunk was sent (or found done in the journal, or counted in a dry run)."""

    def retrying(self, chunk: int, attempt: int, wait: float, reason: str) -> None:
        """A chunk failed transiently and is tried again after ``wait`` seconds."""


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


def _scan(path: Path) -> tuple[str, int]:
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


def _describe(err: Unprocessable) -> str:
    """``email: not a valid...; contact: at least one of ...`` from an adapter's per-field errors."""
    parts = []
    for name, problem in err.errors.items():
        if isinstance(problem, dict):
            problem = _describe(Unprocessable("", problem))
        elif isinstance(problem, list | tuple):
            problem = " ".join(str(item) for item in problem)
        parts.append(f"{name}: {problem}")
    return "; ".join(parts) or err.message


# -- rows to payloads ------------------------------------------------------------------------------

DEAL_FIELDS = frozenset(BulkDealSchema().fields) - {"custom_fields", "products", "create_contact_if_missing"}
"""Columns taken as deal fields when named exactly so (in any case, ``-``/space for ``_``)."""
DEAL_CONTACT_TARGETS = {
    "email": "contact_email",
    "phone": "contact_phone",
    "first_name": "contact_first_name",
    "last_name": "contact_last_name",
    "full_name": "full_name",
    "description": "description",
    "tags": "tags",
}
"""Lead fields a deal column may map to (by ``field_map`` or the form aliases) and what they mean for the deal."""
DEAL_NUMBERS = ("value", "probability")
_DEAL_SCHEMA = BulkDealSchema()
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?")
INTEGER = re.compile(r"[-+]?\d+")


def _number(text: str) -> int | float:
    """``"12,500.50"`` -> 12500.5, ``"60"`` -> 60.

    Commas are read only as thousands separators in their usual places, so a European
    ``"1.234,56"`` is refused rather than silently read as 1.23456.
    """
    if not NUMBER.fullmatch(text):
        raise ValueError(text)
    cleaned = text.replace(",", "")
    return int(cleaned) if INTEGER.fullmatch(cleaned) else float(cleaned)


def _deal_target(name: str, source: SourceConfig) -> str | None:
    key = canonical_key(name)
    if key in DEAL_FIELDS:
        return key
    found, target = map_target(name, source.field_map)
    if found and (target is None or target in DROP_TARGETS):
        return None  # field_map drops it
    target = target if found else form.ALIASES.get(key)
    if target and target.startswith("custom_fields."):
        return target
    return DEAL_CONTACT_TARGETS.get(target or "", f"custom_fields.{name}")


def deal_payload(fields: Sequence[Sequence[str]], source: SourceConfig, default_tags: Sequence[str] = ()) -> dict:
    """One ``create-deals-bulk`` item from a row's ``[column, value]`` pairs.

    Deal columns by name (title, value, currency, stage, pipeline_id, expected_close_date,
    probability, description, ...) plus contact_email / contact_phone / contact_first_name /
    contact_last_name (``email``, ``phone``, ``name`` ... and ``field_map`` work too); the rest go
    to ``custom_fields``. The contact is created when missing.

    Raises:
        Unprocessable: naming each bad field (no title, no contact, a number that is not one, ...).
    """
    deal: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    errors: dict[str, str] = {}
    full_name = None
    for name, raw in fields:
        value = raw.strip()
        if not value or not name.strip() or name.startswith("_"):
            continue
        target = _deal_target(name, source)
        if target is None:
            continue
        if target.startswith("custom_fields."):
            custom.setdefault(target.removeprefix("custom_fields.").strip(), value)
        elif target == "full_name":
            full_name = full_name or value
        elif target in deal:
            continue  # a repeated column: the first non-empty value wins
        elif target == "tags":
            deal["tags"] = [tag.strip() for tag in value.split(",") if tag.strip()]
        elif target in DEAL_NUMBERS:
            try:
                deal[target] = _number(value)
            except ValueError:
                errors[target] = f"not a number: {value!r}"
        elif target == "contact_email":
            try:
                deal[target] = normalize_email(value)
            except ValueError as err:
                errors[target] = str(err)
        elif target == "contact_phone":
            try:
                deal[target] = normalize_phone(value, source.phone_region)
            except ValueError as err:
                errors[target] = str(err)
        else:
            deal[target] = value.upper() if target == "currency" else value
    first, last = split_full_name(full_name)
    if first and "contact_first_name" not in deal and "contact_last_name" not in deal:
        deal["contact_first_name"] = first
        if last:
            deal["contact_last_name"] = last
    if custom:
        deal["custom_fields"] = custom
    values = {**custom, **deal}
    if "source" not in deal and render_template(source.source, values):
        deal["source"] = render_template(source.source, values)
    tags = [render_template(tag, values) for tag in source.tags] + deal.get("tags", []) + list(default_tags)
    tags = list(dict.fromkeys(tag for tag in tags if tag))
    if tags:
        deal["tags"] = tags
    deal["create_contact_if_missing"] = True
    if "title" not in deal:
        errors.setdefault("title", "required")
    if not any(key in deal or key in errors for key in ("contact_id", "contact_email", "contact_phone")):
        errors["contact"] = "one of contact_email, contact_phone (or contact_id) is required"
    if not errors:
        for name, problems in _DEAL_SCHEMA.validate(deal).items():
            errors[name] = " ".join(problems) if isinstance(problems, list) else str(problems)
    if errors:
        raise Unprocessable("not a deal ConnectGain accepts", errors=errors)
    return deal


def _lead_payload(fields: list[list[str]], source: SourceConfig, extra_tags: Sequence[str]) -> dict:
    """A contact or lead from a row mapped exactly like a form post (``field_map``, aliases, cleaning)."""
    payload = form.normalize({"fields": fields}, source)
    payload.pop("deal", None)  # the bulk endpoints create no deals: --kind deals does
    if extra_tags:
        payload["tags"] = list(dict.fromkeys([*payload.get("tags", []), *extra_tags]))
    return payload


# -- the journal -------------------------------------------------------------------------------------


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
        self._append({"type": "done", "at": _now(), **outcome.record()})
        self.sending.discard(outcome.number)

    def close(self) -> None:
        self.handle.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- the failed-rows CSV ---------------------------------------------------------------------------


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
        self.writer.writerow([*self.MARKERS, *(header[i] for i in self.keep)])
        self.count = 0

    def write(self, record: CsvRecord, error: str) -> None:
        values = record.values
        kept = [values[i] if i < len(values) else "" for i in self.keep]
        # values beyond the header (the reason such a row is rejected) are kept at the end, not lost
        self.writer.writerow([record.line, error, *kept, *values[self.width :]])
        self.count += 1

    def close(self, keep: bool = True) -> None:
        """Replaces the previous report with this one, or (``keep=False``) drops this one."""
        self.handle.close()
        if keep:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


# -- the run ---------------------------------------------------------------------------------------


def _default_path(csv_path: Path, suffix: str) -> Path:
    stem = csv_path.name[: -len(".csv")] if csv_path.name.lower().endswith(".csv") else csv_path.name
    return csv_path.with_name(f"{stem}{suffix}")


def _error_text(response: httpx.Response | None, fallback: str) -> str:
    """ConnectGain's own ``error`` sentence when the body has one."""
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f"{fallback}: {body['error']}"
    return fallback


def _results(response: httpx.Response) -> dict[str, Any]:
    """The JSON of a 2xx bulk answer, which must hold a ``results`` list."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise TransientError(
            _error_text(response, f"ConnectGain answered {response.status_code} without results[]"),
            status_code=response.status_code,
            body=response.text[:BODY_KEEP],
        )
    return body


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
            raise ImportRefused(f"destination {self.destination.name!r} has no api_key; set it, or use --dry-run")
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
            extras = {"skip_if_exists": options.skip_duplicates}
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

    def _payload(self, record: CsvRecord, names: list[str]) -> dict[str, Any]:
        if record.error:
            raise Unprocessable(record.error)
        if len(record.values) > len(names):
            raise Unprocessable(f"{len(record.values)} values but the header has {len(names)} columns")
        fields = [[name, value] for name, value in zip(names, record.values, strict=False)]
        if self.kind == "deals":
            return deal_payload(fields, self.source, self.options.default_tags)
        extra_tags = self.options.default_tags if self.kind == "leads" else ()
        return _lead_payload(fields, self.source, extra_tags)

    def _reject(self, record: CsvRecord, error: str, stage: str) -> None:
        assert self.failed is not None
        self.failed.write(record, error)
        self.listener.row_rejected(record.line, error, stage)

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
            self._tally(outcome, chunk, answer)
        outcome.failed = len(outcome.failures)
        self.journal.finish(outcome)
        return outcome

    def _post(self, number: int, first: int, last: int, body: dict[str, Any], uncertain: bool) -> dict[str, Any]:
        """POSTs one chunk and returns the answer's JSON, retrying transient failures.

        A 2xx without ``results[]`` is transient too (as in coalesced delivery): nothing in it
        says which rows were recorded, so the chunk is sent again, safely (see ``uncertain``).
        """
        assert self.client is not None
        tries = max(self.options.tries, 1)
        for attempt in range(1, tries + 1):
            if uncertain and self.kind == "deals":
                body["skip_if_exists"] = True  # deals are not merged like contacts: skip the ones that did arrive
            self.summary.requests += 1
            response = None
            try:
                response = self.client.post(self.destination, self.endpoint.path, body)
                raise_for_response(response)
                return _results(response)
            except TransientError as err:
                if attempt == tries:
                    raise ImportStopped(
                        f"chunk {number} (lines {first}-{last}) not accepted after {tries} tries: {err.message}. "
                        f"Progress is saved in {self.journal.path if self.journal else 'the state file'}: run the "
                        "same command again to continue.",
                        self.summary,
                    ) from None
                backoff = self.options.backoff_seconds or (0.0,)
                wait = err.retry_after if err.retry_after is not None else backoff[min(attempt, len(backoff)) - 1]
                wait = min(wait, MAX_RETRY_WAIT)
                self.listener.retrying(number, attempt, wait, err.message)
                self.sleep(wait)
                uncertain = True
            except OperatorActionError as err:
                raise ImportStopped(
                    f"{err.message.split(';')[0]}: fix destinations.{self.destination.name}.api_key and run the "
                    "same command again; nothing of this chunk was imported",
                    self.summary,
                ) from None
            except PermanentError as err:
                err.message = _error_text(response, err.message)
                if err.status_code in ROW_STATUSES:
                    raise
                raise ImportStopped(
                    f"{err.message} for {self.endpoint.path} at {self.destination.base_url}: check the destination "
                    "(base_url) and --chunk-size, then run the same command again",
                    self.summary,
                ) from None
        raise AssertionError("unreachable")

    def _tally(self, outcome: ChunkOutcome, chunk: list[tuple[CsvRecord, dict[str, Any]]], body: dict) -> None:
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
                fresh += bool(result.get("is_new_contact" if self.kind == "deals" else "is_new"))
        succeeded = len(chunk) - len(outcome.failures)
        counts = body.get("summary") if isinstance(body.get("summary"), dict) else {}

        def count(name: str, fallback: int) -> int:
            value = counts.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else fallback

        if self.kind == "deals":
            outcome.skipped = count("skipped_existing", 0)
            outcome.new = count("new_deals", succeeded - outcome.skipped)
            outcome.contacts_created = count("new_contacts_created", fresh)
        else:
            outcome.new = count("new_contacts", fresh)
            outcome.skipped = count("skipped_duplicates", 0)
            outcome.updated = count("updated_contacts", succeeded - outcome.new - outcome.skipped)

    # -- the whole file --

    def run(self) -> ImportSummary:
        digest, lines = _scan(self.path)
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
                "started_at": _now(),
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
                chunk.append((record, self._payload(record, names)))
            except Unprocessable as err:
                self.summary.invalid += 1
                self._reject(record, _describe(err), "invalid")
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
