"""``leadgate import``: the command, and what it shows (a progress bar on a terminal, bad rows, a summary).

The import itself is :func:`workers.importer.run_import`; this module only renders it and picks
the exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn
from rich.progress import Progress
from rich.progress import TaskID
from rich.progress import TaskProgressColumn
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn
from rich.table import Table

from leadgate.cli.common import console as stdout_console
from leadgate.cli.common import err_console as stderr_console
from leadgate.cli.common import with_config
from leadgate.config import Config
from workers.importer import ChunkOutcome
from workers.importer import ImportFailure
from workers.importer import ImportListener
from workers.importer import ImportOptions
from workers.importer import ImportPlan
from workers.importer import ImportRefused
from workers.importer import ImportSummary
from workers.importer import run_import

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_REJECTED_ROWS",
    "EXIT_STOPPED",
    "run_import_command",
    "summary_table",
]

EXIT_OK = 0
"""Every row is in ConnectGain (or, in a dry run, every row is valid)."""
EXIT_REJECTED_ROWS = 1
"""The run finished, but some rows were invalid or failed: see the failed-rows CSV."""
EXIT_REFUSED = 2
"""Nothing was sent: bad source, file, option or state file."""
EXIT_STOPPED = 3
"""ConnectGain stopped the run (outage, refused key); progress is saved, run the same command again."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: progress is saved, as after a stop."""

SHOWN_REJECTS = 20
"""Bad rows printed one per line; the rest are only counted (all of them are in the failed-rows CSV)."""


class ConsoleListener(ImportListener):
    """Prints bad rows (the first few), retries and, on a terminal, a progress bar; else one line per chunk."""

    def __init__(self, console: Console):
        self.console = console
        self.rejects = 0
        self.warnings = 0
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def started(self, plan: ImportPlan) -> None:
        for note in plan.notes:
            self.console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        verb = "checking (dry run)" if plan.dry_run else f"importing to {plan.endpoint.path}"
        resumed = f", resuming after {plan.chunks_done_before} chunk(s) sent earlier" if plan.chunks_done_before else ""
        self.console.print(
            f"{verb}: {plan.file.name} as {plan.kind} via source {plan.source_id}, "
            f"{plan.chunk_size} rows per request{resumed}",
            highlight=False,
        )
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.task = self.progress.add_task(plan.file.name, total=max(plan.lines, 1), detail="")
            self.progress.start()

    def _print(self, text: str) -> None:
        # one line per event, never wrapped, so a log of the run can be grepped by line number
        (self.progress.console if self.progress else self.console).print(text, highlight=False, soft_wrap=True)

    def lines_read(self, line: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=line)

    def row_rejected(self, line: int, reason: str, stage: str) -> None:
        self.rejects += 1
        if self.rejects <= SHOWN_REJECTS:
            self._print(f"[red]line {line}[/] {stage}: {escape(reason)}")
        elif self.rejects == SHOWN_REJECTS + 1:
            self._print("[red]...[/] more bad rows: every one is in the failed-rows CSV")

    def row_warned(self, line: int, warning: str) -> None:
        self.warnings += 1
        if self.warnings <= SHOWN_REJECTS:
            self._print(f"[yellow]line {line}[/] warning: {escape(warning)}")
        elif self.warnings == SHOWN_REJECTS + 1:
            self._print("[yellow]...[/] more rows with an email or phone that could not be normalized")

    def chunk_done(self, outcome: ChunkOutcome) -> None:
        what = f"{outcome.rows} rows, lines {outcome.first_line}-{outcome.last_line}"
        if outcome.dry_run:
            state = "valid, not sent (dry run)"
        elif outcome.resumed:
            state = "sent by an earlier run, skipped"
        else:
            state = f"{outcome.new} new, {outcome.updated} updated, {outcome.skipped} skipped, {outcome.failed} failed"
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, detail=f"chunk {outcome.number}")
        else:
            self._print(f"chunk {outcome.number} ({what}): {state}")

    def retrying(self, chunk: int, attempt: int, wait: float, reason: str) -> None:
        self._print(f"[yellow]chunk {chunk}[/]: {escape(reason)}; try {attempt + 1} in {wait:g} s")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def summary_table(summary: ImportSummary) -> Table:
    """total, new, updated, skipped, failed, invalid, warned in one row; a dry run: total, valid, invalid, warned.

    ``warned`` rows are in the import (or valid) but lost an email or phone that could not be normalized.
    """
    if summary.dry_run:
        table = Table(title="dry run: nothing sent")
        counts = {"total": summary.total, "valid": summary.total - summary.invalid, "invalid": summary.invalid}
    else:
        table = Table(title="import summary")
        columns = ("total", "new", "updated", "skipped", "failed", "invalid")
        counts = {column: getattr(summary, column) for column in columns}
    counts["warned"] = summary.warned
    for column in counts:
        table.add_column(column, justify="right")
    table.add_row(*(str(count) for count in counts.values()))
    return table


def _report(summary: ImportSummary, kind: str, console: Console) -> None:
    console.print(summary_table(summary))
    if summary.dry_run:
        console.print(f"would send {summary.chunks} request(s)", highlight=False)
    else:
        earlier = f"; {summary.resumed_rows} rows sent by an earlier run, not resent" if summary.resumed_rows else ""
        console.print(f"{summary.requests} request(s), {summary.sent_rows} rows sent{earlier}", highlight=False)
    if kind == "deals" and summary.contacts_created:
        console.print(f"{summary.contacts_created} contact(s) created for deals", highlight=False)
    rejected = summary.failed + summary.invalid
    if summary.failed_csv is not None:
        console.print(f"failed rows ({rejected}): {summary.failed_csv}", highlight=False, soft_wrap=True)
    if summary.state_path is not None:
        console.print(f"resume state: {summary.state_path}", highlight=False, soft_wrap=True)
    if summary.warned:
        console.print(
            f"[yellow]{summary.warned} row(s) warned:[/] an email or phone could not be normalized; the contact was "
            "imported without it (the value is kept as custom_fields.raw_email / raw_phone)",
            highlight=False,
        )
    if summary.total and summary.invalid == summary.total:
        console.print(
            "[yellow]no row was valid:[/] check the header names (email, phone, first_name, ...) "
            "or map them with the source's field_map"
        )


def run_import_command(
    config: Config, csv_path: str | Path, source_id: str, options: ImportOptions, console: Console, err_console: Console
) -> int:
    """Runs the import with progress output and returns the exit code."""
    listener = ConsoleListener(console)
    try:
        summary = run_import(config, csv_path, source_id, options, listener)
    except KeyboardInterrupt:
        listener.stop()
        err_console.print("[bold red]leadgate:[/] interrupted; progress is saved: run the same command to continue")
        return EXIT_INTERRUPTED
    except ImportFailure as err:
        listener.stop()
        if err.summary is not None and err.summary.total:
            _report(err.summary, options.kind, console)
        err_console.print(f"[bold red]leadgate:[/] {escape(err.message)}", highlight=False, soft_wrap=True)
        return EXIT_REFUSED if isinstance(err, ImportRefused) else EXIT_STOPPED
    listener.stop()
    _report(summary, options.kind, console)
    return EXIT_REJECTED_ROWS if summary.failed or summary.invalid else EXIT_OK


@click.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", "source_id", required=True, help="Source whose mapping and destination to use.")
@click.option("--kind", type=click.Choice(["contacts", "leads", "deals"]), default="contacts", show_default=True)
@click.option("--dry-run", is_flag=True, help="Validate and report only; send nothing.")
@click.option("--skip-duplicates", is_flag=True, help="Skip existing contacts, not merge (deals: skip_if_exists).")
@click.option("--default-tag", "default_tags", multiple=True, help="Tag for every row (repeatable).")
@click.option("--default-source", default=None, help="ConnectGain source for rows without one.")
@click.option("--default-pipeline-id", default=None, help="Deals: pipeline for rows without one.")
@click.option("--default-stage", default=None, help="Deals: stage for rows without one.")
@click.option("--default-currency", default=None, help="Deals: currency for rows without one.")
@click.option("--failed-csv", type=click.Path(dir_okay=False), help="Rejected rows [default: FILE.failed.csv].")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), help="Resume state file [next to FILE].")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, help="Rows per request (capped at the limit).")
@with_config
def import_csv(config: Config, csv_file: str, source_id: str, kind: str, default_tags: tuple[str, ...], **kw: Any):
    """Import a CSV of contacts, leads or deals with ConnectGain's bulk endpoints; re-run to resume."""
    options = ImportOptions(kind=kind, default_tags=default_tags, **kw)
    sys.exit(run_import_command(config, csv_file, source_id, options, stdout_console, stderr_console))
