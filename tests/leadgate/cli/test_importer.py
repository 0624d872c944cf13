"""``leadgate import``, driven through click (and once as a real process killed with SIGKILL)."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from click.testing import Result
from rich.console import Console

from leadgate.cli.importer import run_import_command
from leadgate.sandbox import SandboxCRM
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.config import load_config
from workers.importer import ImportOptions

CLI_CONFIG = (
    BASE_CONFIG
    + """  csv-import:
    kind: form
    source: csv_import
    phone_region: US
"""
)
CONTACTS = "/import-contacts-bulk"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def config_file(tmp_path: Path, crm: SandboxCRM) -> Path:
    path = tmp_path / "leadgate.yaml"
    path.write_text(CLI_CONFIG.format(crm_url=crm.url, api_key=API_KEY), encoding="utf-8")
    return path


def contacts_csv(path: Path, count: int, bad_every: int = 0) -> Path:
    """``count`` rows; with ``bad_every``, every such row has no name and a broken e-mail."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["First Name", "Last Name", "Email"])
        for i in range(count):
            bad = bad_every and i % bad_every == bad_every - 1
            writer.writerow(["", "", f"broken{i}@"] if bad else [f"First{i}", f"Last{i}", f"user{i}@example.com"])
    return path


def cli(config_file: Path, *args: str) -> Result:
    from leadgate.cli import main

    return CliRunner().invoke(main, ["import", *args, "--config", str(config_file)])


def text(result: Result) -> str:
    return ANSI.sub("", result.output)


def summary_table(output: str) -> dict[str, int]:
    """The printed summary table as ``{column: number}``."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if re.search(r"total\W+(new|valid)\W", line))
    row = next(line for line in lines[header + 1 :] if re.search(r"\d", line))
    return dict(zip(re.findall(r"[a-z]+", lines[header]), map(int, re.findall(r"\d+", row)), strict=True))


def test_help_lists_the_options():
    from leadgate.cli import main

    result = CliRunner().invoke(main, ["import", "--help"])
    for option in ("--source", "--kind", "--dry-run", "--skip-duplicates", "--default-tag", "--default-source"):
        assert option in result.output
    for option in ("--default-pipeline-id", "--default-stage", "--default-currency", "--failed-csv", "--state"):
        assert option in result.output
    assert "--chunk-size" in result.output


def test_an_import_prints_chunks_and_the_summary_table(config_file: Path, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "people.csv", 1200)

    result = cli(config_file, str(path), "--source", "csv-import", "--default-tag", "spring")

    out = text(result)
    assert result.exit_code == 0, out
    assert "chunk 1 (500 rows, lines 2-501): 500 new, 0 updated, 0 skipped, 0 failed" in out
    assert "chunk 3 (200 rows, lines 1002-1201)" in out
    assert summary_table(out) == {
        "total": 1200,
        "new": 1200,
        "updated": 0,
        "skipped": 0,
        "failed": 0,
        "invalid": 0,
        "warned": 0,
    }
    assert "3 request(s), 1200 rows sent" in out
    assert f"failed rows (0): {tmp_path / 'people.failed.csv'}" in out.replace("\n", "")
    assert [len(r["body"]["contacts"]) for r in crm.requests] == [500, 500, 200]
    assert crm.requests[0]["body"]["default_tags"] == ["spring"]


def test_bad_rows_are_printed_by_line_and_exit_1(config_file: Path, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "people.csv", 30, bad_every=10)

    result = cli(config_file, str(path), "--source", "csv-import", "--kind", "leads")

    out = text(result)
    assert result.exit_code == 1, out
    assert [int(n) for n in re.findall(r"line (\d+) invalid: email: not a valid email address", out)] == [11, 21, 31]
    assert summary_table(out) == {
        "total": 30,
        "new": 27,
        "updated": 0,
        "skipped": 0,
        "failed": 0,
        "invalid": 3,
        "warned": 0,
    }
    assert len(crm.deliveries_by_email()) == 27


def test_rows_whose_email_or_phone_could_not_be_normalized_are_warned_about_and_counted(
    config_file: Path, crm: SandboxCRM, tmp_path: Path
):
    path = tmp_path / "weak.csv"
    path.write_text(
        "name,email,phone\nJane Roe,not-an-email,abc\n"
        "Bob Poe,bob@example.com,(415) 555-2671\nAl Xu,al@example.com,12\n",
        encoding="utf-8",
    )

    result = cli(config_file, str(path), "--source", "csv-import")

    out = text(result)
    assert result.exit_code == 0, out  # imported: a warning, not a failure
    assert (
        "line 2 warning: email could not be normalized (kept as custom_fields.raw_email); "
        "phone could not be normalized (kept as custom_fields.raw_phone)" in out
    )
    assert "line 4 warning: phone could not be normalized" in out and "line 3 warning" not in out
    assert summary_table(out) == {
        "total": 3,
        "new": 3,
        "updated": 0,
        "skipped": 0,
        "failed": 0,
        "invalid": 0,
        "warned": 2,
    }
    assert "2 row(s) warned" in out
    [jane] = [c for c in crm.requests[0]["body"]["contacts"] if c.get("first_name") == "Jane"]
    assert "email" not in jane and jane["custom_fields"]["raw_email"] == "not-an-email"

    dry = text(cli(config_file, str(path), "--source", "csv-import", "--dry-run", "--state", str(tmp_path / "s2")))
    assert summary_table(dry) == {"total": 3, "valid": 3, "invalid": 0, "warned": 2}


def test_a_dry_run_sends_nothing(config_file: Path, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "people.csv", 700, bad_every=100)

    result = cli(config_file, str(path), "--source", "csv-import", "--dry-run")

    out = text(result)
    assert result.exit_code == 1, out
    assert "dry run: nothing sent" in out and "would send 2 request(s)" in out
    assert summary_table(out) == {"total": 700, "valid": 693, "invalid": 7, "warned": 0}
    assert crm.requests == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--source", "nope"], 2, "no source named 'nope'"),
        (["--source", "csv-import", "--kind", "deals", "--default-currency", "EURO"], 2, "Not a 3-letter currency"),
        (["--source", "csv-import", "--kind", "parcels"], 2, "Invalid value for '--kind'"),
    ],
)
def test_refusals_exit_2_before_sending(
    config_file: Path, crm: SandboxCRM, tmp_path: Path, args: list[str], code: int, message: str
):
    result = cli(config_file, str(contacts_csv(tmp_path / "people.csv", 3)), *args)
    assert result.exit_code == code, text(result)
    assert message in text(result)
    assert crm.requests == []


def test_an_outage_exits_3_and_a_rerun_continues(config_file: Path, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "people.csv", 300)
    crm.set_faults(status=503, retry_after=0, paths=[CONTACTS])  # Retry-After: 0, so the tries do not wait

    stopped = cli(config_file, str(path), "--source", "csv-import", "--chunk-size", "100")

    assert stopped.exit_code == 3, text(stopped)
    assert "chunk 1 (lines 2-101) not accepted after 4 tries: ConnectGain answered 503" in text(stopped)
    assert "try 4 in 0 s" in text(stopped)
    crm.clear_faults()

    resumed = cli(config_file, str(path), "--source", "csv-import")  # the recorded chunk size (100) is kept

    assert resumed.exit_code == 0, text(resumed)
    assert "resuming with chunk size 100" in text(resumed)
    assert set(crm.deliveries_by_email().values()) == {1} and len(crm.deliveries_by_email()) == 300


def test_a_refused_key_exits_3(tmp_path: Path, crm: SandboxCRM):
    config_file = tmp_path / "leadgate.yaml"
    config_file.write_text(CLI_CONFIG.format(crm_url=crm.url, api_key="cg_wrong"), encoding="utf-8")

    result = cli(config_file, str(contacts_csv(tmp_path / "people.csv", 3)), "--source", "csv-import")

    assert result.exit_code == 3
    assert "API key refused: fix destinations.main.api_key" in text(result)


def test_ctrl_c_says_progress_is_saved(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("leadgate.cli.importer.run_import", interrupted)

    result = cli(config_file, str(contacts_csv(tmp_path / "people.csv", 3)), "--source", "csv-import")

    assert result.exit_code == 130
    assert "interrupted; progress is saved: run the same command to continue" in text(result)


def test_done_when_5000_rows_import_with_a_progress_bar_bad_rows_by_line_and_a_rerun_sends_nothing_twice(
    config_file: Path, crm: SandboxCRM, tmp_path: Path
):
    """Issue 8's "done when", on a terminal: the progress bar is what an operator sees."""
    path = contacts_csv(tmp_path / "contacts.csv", 5000, bad_every=1000)
    config = load_config(config_file, environ={})

    def terminal() -> tuple[Console, io.StringIO]:
        screen = io.StringIO()
        return Console(file=screen, force_terminal=True, width=120), screen

    console, screen = terminal()
    started = time.perf_counter()
    code = run_import_command(config, path, "csv-import", ImportOptions(), console, console)
    elapsed = time.perf_counter() - started

    out = ANSI.sub("", screen.getvalue())
    assert code == 1  # five bad rows
    assert "━" in out and "100%" in out  # rich's bar, drawn to the end
    assert [int(n) for n in re.findall(r"line (\d+) invalid", out)] == [1001, 2001, 3001, 4001, 5001]
    assert summary_table(out) == {
        "total": 5000,
        "new": 4995,
        "updated": 0,
        "skipped": 0,
        "failed": 0,
        "invalid": 5,
        "warned": 0,
    }
    assert len(crm.requests) == 10
    assert elapsed < 30

    console, screen = terminal()
    code = run_import_command(config, path, "csv-import", ImportOptions(), console, console)

    out = ANSI.sub("", screen.getvalue())
    assert code == 1
    assert "0 request(s), 0 rows sent; 4995 rows sent by an earlier run, not resent" in out
    assert len(crm.requests) == 10
    deliveries = crm.deliveries_by_email()
    assert len(deliveries) == 4995 and set(deliveries.values()) == {1}


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_process_killed_between_chunks_resumes_without_sending_anything_twice(
    config_file: Path, crm: SandboxCRM, tmp_path: Path
):
    """SIGKILL while the import waits to retry a chunk the CRM refused: nothing is in flight, nothing is lost."""
    path = contacts_csv(tmp_path / "contacts.csv", 5000)
    journal = tmp_path / "contacts.csv-import.contacts.import-state.jsonl"
    crm.latency = 0.2  # ten chunks take over two seconds: time to watch the journal
    log = (tmp_path / "import.log").open("wb")
    command = [sys.executable, "-m", "leadgate.cli", "import", str(path), "--source", "csv-import"]
    proc = subprocess.Popen(
        [*command, "--config", str(config_file)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )

    def wait_for(check, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"{what}: {(tmp_path / 'import.log').read_text(errors='replace')}")
            time.sleep(0.005)

    def done_chunks() -> int:
        return journal.read_text(encoding="utf-8").count('"type":"done"') if journal.exists() else 0

    try:
        wait_for(lambda: done_chunks() >= 3, "three chunks done")
        crm.set_faults(status=503, paths=[CONTACTS])  # the next chunk is refused; the import backs off for 1 s
        wait_for(lambda: any(r["status"] == 503 for r in crm.requests), "a refused chunk")
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
    sent_before = done_chunks()
    assert 3 <= sent_before < 10
    crm.clear_faults()
    crm.latency = 0.0

    result = cli(config_file, str(path), "--source", "csv-import")

    assert result.exit_code == 0, text(result)
    assert f"{sent_before * 500} rows sent by an earlier run, not resent" in text(result)
    deliveries = crm.deliveries_by_email()
    assert len(deliveries) == 5000 and set(deliveries.values()) == {1}
    assert [r["status"] for r in crm.requests].count(200) == 10
