"""Bulk CSV import against the sandbox ConnectGain on loopback: chunks, bad rows, failures, resuming."""

from __future__ import annotations

import csv
import io
import json
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import Unprocessable
from leadgate.config import Config
from leadgate.contract import BulkContactsRequestSchema
from leadgate.contract import BulkDealsRequestSchema
from leadgate.contract import BulkLeadsRequestSchema
from leadgate.sandbox import SandboxCRM
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG
from tests.support.config import parse_yaml
from workers.connectgain import ConnectGainClient
from workers.importer import ChunkOutcome
from workers.importer import ImportJournal
from workers.importer import ImportListener
from workers.importer import ImportOptions
from workers.importer import ImportPlan
from workers.importer import ImportRefused
from workers.importer import ImportStopped
from workers.importer import ImportSummary
from workers.importer import deal_payload
from workers.importer import read_records
from workers.importer import run_import

IMPORT_CONFIG = (
    BASE_CONFIG
    + """  csv-import:
    kind: form
    source: csv_import
    phone_region: US
    tags: [imported]
    field_map: {{Mobile: phone, Ref: custom_fields.ref}}
"""
)
CONTACTS = "/import-contacts-bulk"
LEADS = "/create-leads-bulk"
DEALS = "/create-deals-bulk"
FAST = {"backoff_seconds": (0.5, 1.0), "tries": 3}
"""Retry settings for tests; ``sleep`` is a recorder, so nothing actually waits."""


@pytest.fixture
def config(crm: SandboxCRM) -> Config:
    """No Redis: the import talks to ConnectGain only."""
    return parse_yaml(IMPORT_CONFIG.format(crm_url=crm.url, api_key=API_KEY), {})


class Recorder(ImportListener):
    """Keeps every event a run reports; ``on_chunk`` lets a test act between two chunks."""

    def __init__(self, on_chunk: Any = None):
        self.plan: ImportPlan | None = None
        self.rejected: list[tuple[int, str, str]] = []
        self.chunks: list[ChunkOutcome] = []
        self.retries: list[tuple[int, int, float]] = []
        self.on_chunk = on_chunk

    def started(self, plan: ImportPlan) -> None:
        self.plan = plan

    def row_rejected(self, line: int, reason: str, stage: str) -> None:
        self.rejected.append((line, stage, reason))

    def chunk_done(self, outcome: ChunkOutcome) -> None:
        self.chunks.append(outcome)
        if self.on_chunk:
            self.on_chunk(outcome)

    def retrying(self, chunk: int, attempt: int, wait: float, reason: str) -> None:
        self.retries.append((chunk, attempt, wait))


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def contacts_csv(path: Path, count: int) -> Path:
    return write_csv(
        path,
        ["First Name", "Last Name", "Email", "Company"],
        [[f"First{i}", f"Last{i}", f"user{i}@example.com", f"Company {i}"] for i in range(count)],
    )


def bodies(crm: SandboxCRM, path: str, status: int | None = 200) -> list[dict[str, Any]]:
    return [r["body"] for r in crm.requests if r["path"] == path and (status is None or r["status"] == status)]


def read_failed(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def run(config: Config, path: Path, source: str = "csv-import", listener: Any = None, **options: Any) -> ImportSummary:
    sleeps: list[float] = options.pop("sleeps", [])
    return run_import(config, path, source, ImportOptions(**options), listener, sleep=sleeps.append)


# reading


def test_records_are_numbered_by_the_physical_line_they_start_on():
    text = 'name,notes\r\nAnn,"two\nlines"\n\nBob,x\n,,\n"Cy","a\n\nb"\nDee,y'
    records = list(read_records(io.StringIO(text, newline="")))
    assert [(r.line, r.values[0]) for r in records] == [(1, "name"), (2, "Ann"), (5, "Bob"), (7, "Cy"), (10, "Dee")]
    assert records[1].values[1] == "two\nlines"


# happy paths


def test_5000_contacts_go_out_as_10_requests_of_500(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 5000)

    started = time.perf_counter()
    summary = run(config, path, default_tags=("import-2026",), skip_duplicates=True)
    elapsed = time.perf_counter() - started

    sent = bodies(crm, CONTACTS)
    assert [len(body["contacts"]) for body in sent] == [500] * 10
    assert len(crm.requests) == 10
    for body in sent:
        assert BulkContactsRequestSchema().validate(body) == {}
        assert body["default_tags"] == ["import-2026"] and body["skip_duplicates"] is True
    assert sent[0]["contacts"][0] == {
        "first_name": "First0",
        "last_name": "Last0",
        "email": "user0@example.com",
        "company_name": "Company 0",
        "source": "csv_import",
        "tags": ["imported"],
    }
    deliveries = crm.deliveries_by_email()
    assert len(deliveries) == 5000 and set(deliveries.values()) == {1}
    assert (summary.total, summary.new, summary.updated, summary.failed, summary.invalid) == (5000, 5000, 0, 0, 0)
    assert (summary.requests, summary.chunks, summary.sent_rows) == (10, 10, 5000)
    assert read_failed(tmp_path / "contacts.failed.csv") == []
    assert summary.state_path == tmp_path / "contacts.csv-import.contacts.import-state.jsonl"
    assert elapsed < 30, f"5,000 contacts took {elapsed:.1f} s"


def test_250_leads_go_out_as_3_requests(config: Config, crm: SandboxCRM, tmp_path: Path):
    rows = [[f"Lead {i}", f"lead{i}@example.com", f"(415) 555-{i:04d}"] for i in range(250)]
    path = write_csv(tmp_path / "leads.csv", ["Name", "E-mail", "Mobile"], rows)

    summary = run(config, path, kind="leads", default_tags=("spring",), skip_duplicates=True)

    sent = bodies(crm, LEADS)
    assert [len(body["leads"]) for body in sent] == [100, 100, 50]
    assert all(BulkLeadsRequestSchema().validate(body) == {} for body in sent)
    assert all(body["skip_duplicates"] is True for body in sent)
    assert sent[0]["leads"][7] == {
        "first_name": "Lead",
        "last_name": "7",
        "email": "lead7@example.com",
        "phone": "+14155550007",
        "source": "csv_import",
        "tags": ["imported", "spring"],
    }
    assert (summary.total, summary.new, summary.requests) == (250, 250, 3)
    assert set(crm.deliveries_by_email().values()) == {1}


def test_deals_resolve_their_contacts_by_email_or_phone(config: Config, crm: SandboxCRM, tmp_path: Path):
    run(config, write_csv(tmp_path / "people.csv", ["name", "email"], [["Alice Existing", "alice@example.com"]]))
    header = ["title", "value", "currency", "stage", "contact_email", "contact_phone", "contact_first_name"]
    header += ["expected_close_date", "probability", "Budget Owner"]
    rows = [
        ["Renewal", "12,500", "eur", "proposal", "ALICE@example.com", "", "", "2026-03-31", "60", "CFO"],
        ["New deal", "900.50", "", "", "", "(415) 555-0199", "Bob", "", "", ""],
    ]
    path = write_csv(tmp_path / "deals.csv", header, rows)

    summary = run(config, path, kind="deals", default_pipeline_id="pipe-1", default_stage="new", default_currency="usd")

    (body,) = bodies(crm, DEALS)
    assert BulkDealsRequestSchema().validate(body) == {}
    assert (body["default_pipeline_id"], body["default_stage"], body["default_currency"]) == ("pipe-1", "new", "USD")
    assert body["skip_if_exists"] is False
    assert body["deals"][0] == {
        "title": "Renewal",
        "value": 12500,
        "currency": "EUR",
        "stage": "proposal",
        "contact_email": "alice@example.com",
        "expected_close_date": "2026-03-31",
        "probability": 60,
        "custom_fields": {"Budget Owner": "CFO"},
        "source": "csv_import",
        "tags": ["imported"],
        "create_contact_if_missing": True,
    }
    assert body["deals"][1]["contact_phone"] == "+14155550199" and body["deals"][1]["value"] == 900.5
    alice = next(c for c in crm.contacts if "alice@example.com" in c["emails"])
    bob = next(c for c in crm.contacts if c["phones"] == ["+14155550199"])
    assert [(d["title"], d["contact_id"]) for d in crm.deals] == [("Renewal", alice["id"]), ("New deal", bob["id"])]
    assert bob["first_name"] == "Bob" and crm.deals[1]["pipeline_id"] == "pipe-1"
    assert (summary.new, summary.contacts_created, summary.failed) == (2, 1, 0)


def test_150_deals_go_out_as_2_requests(config: Config, crm: SandboxCRM, tmp_path: Path):
    rows = [[f"Deal {i}", f"buyer{i}@example.com", str(i * 10)] for i in range(150)]
    path = write_csv(tmp_path / "deals.csv", ["Title", "Email", "Value"], rows)

    summary = run(config, path, kind="deals")

    assert [len(body["deals"]) for body in bodies(crm, DEALS)] == [100, 50]
    assert len(crm.deals) == 150 and (summary.new, summary.contacts_created) == (150, 150)


def test_deal_rows_map_aliases_field_map_and_custom_fields(config: Config):
    fields = [
        ["E-mail", " Ann@Example.COM "],
        ["Name", "Ann Lee"],
        ["Title", "Pilot"],
        ["Notes", "call back"],
        ["Ref", "r-1"],
        ["Region", "EMEA"],
        ["_line", "5"],
        ["Tags", "hot, q2"],
    ]
    deal = deal_payload(fields, config.sources["csv-import"], default_tags=("spring",))
    assert deal == {
        "title": "Pilot",
        "contact_email": "ann@example.com",
        "contact_first_name": "Ann",
        "contact_last_name": "Lee",
        "description": "call back",
        "custom_fields": {"ref": "r-1", "Region": "EMEA"},
        "source": "csv_import",
        "tags": ["imported", "hot", "q2", "spring"],
        "create_contact_if_missing": True,
    }


@pytest.mark.parametrize(
    ("text", "number"),
    [("12,500", 12500), ("1,234,567.8", 1234567.8), ("900.50", 900.5), ("-5", -5), ("1e3", 1000.0), (".5", 0.5)],
)
def test_deal_numbers_are_read_with_thousands_separators(config: Config, text: str, number: float):
    fields = [["title", "T"], ["contact_email", "a@example.com"], ["value", text]]
    assert deal_payload(fields, config.sources["csv-import"])["value"] == number


@pytest.mark.parametrize("text", ["1.234,56", "1,2", "$100", "12 500", "lots", "nan", "inf"])
def test_deal_numbers_that_could_be_misread_are_refused(config: Config, text: str):
    fields = [["title", "T"], ["contact_email", "a@example.com"], ["value", text]]
    with pytest.raises(Unprocessable) as refused:
        deal_payload(fields, config.sources["csv-import"])
    assert refused.value.errors == {"value": f"not a number: {text!r}"}


# bad rows


def test_bad_rows_are_reported_by_line_and_never_stop_the_run(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "first_name,email,notes\n"  # line 1
        "Ann,ann@example.com,ok\n"  # 2
        'Bob,bob@example.com,"spans\nthree\nlines"\n'  # 3-5
        ",not-an-email,\n"  # 6: nothing usable
        "Cy,cy@example.com,x,EXTRA\n"  # 7: one value too many
        "\n"  # 8: blank, skipped
        'Dee,dee@example.com,"quoted, with comma"\n',  # 9
        encoding="utf-8",
    )
    listener = Recorder()

    summary = run(config, path, listener=listener)

    assert [(line, stage) for line, stage, _ in listener.rejected] == [(6, "invalid"), (7, "invalid")]
    assert "email: not a valid email address: 'not-an-email'" in listener.rejected[0][2]
    assert "contact: at least one of first_name, last_name, email or phone is required" in listener.rejected[0][2]
    assert listener.rejected[1][2] == "4 values but the header has 3 columns"
    assert (summary.total, summary.invalid, summary.new) == (5, 2, 3)
    assert sorted(crm.deliveries_by_email()) == ["ann@example.com", "bob@example.com", "dee@example.com"]
    with (tmp_path / "mixed.failed.csv").open(encoding="utf-8", newline="") as file:
        failed = list(csv.reader(file))
    assert failed[0] == ["_line", "_error", "first_name", "email", "notes"]
    assert [row[0] for row in failed[1:]] == ["6", "7"]
    assert failed[2][2:] == ["Cy", "cy@example.com", "x", "EXTRA"]  # the extra value is kept, not lost


def test_deal_rows_are_validated_before_sending(config: Config, crm: SandboxCRM, tmp_path: Path):
    header = ["title", "contact_email", "value", "probability", "expected_close_date"]
    rows = [
        ["", "a@example.com", "", "", ""],
        ["No contact", "", "", "", ""],
        ["Bad value", "b@example.com", "lots", "", ""],
        ["Bad probability", "c@example.com", "", "150", ""],
        ["Bad date", "d@example.com", "", "", "31/03/2026"],
        ["Bad email", "not-an-email", "", "", ""],
        ["Good", "e@example.com", "1e3", "", ""],
    ]
    listener = Recorder()

    summary = run(config, write_csv(tmp_path / "deals.csv", header, rows), kind="deals", listener=listener)

    reasons = {line: reason for line, _stage, reason in listener.rejected}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert reasons[2] == "title: required"
    assert reasons[3] == "contact: one of contact_email, contact_phone (or contact_id) is required"
    assert reasons[4] == "value: not a number: 'lots'"
    assert reasons[5].startswith("probability:")
    assert reasons[6] == "expected_close_date: Not a valid ISO date (YYYY-MM-DD)."
    assert reasons[7].startswith("contact_email: not a valid email address")
    assert [d["title"] for d in crm.deals] == ["Good"] and crm.deals[0]["value"] == 1000.0
    assert (summary.invalid, summary.new) == (6, 1)


def test_dry_run_sends_nothing_and_writes_no_state(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 1200)
    with path.open("a", encoding="utf-8") as file:
        file.write(",,bad-email,\n")  # no name, and no usable e-mail
    listener = Recorder()

    summary = run(config, path, dry_run=True, listener=listener)

    assert crm.requests == []
    assert (summary.total, summary.invalid, summary.chunks, summary.requests) == (1201, 1, 3, 0)
    assert all(chunk.dry_run for chunk in listener.chunks)
    assert [row["_line"] for row in read_failed(tmp_path / "contacts.failed.csv")] == ["1202"]
    assert summary.state_path is None and not list(tmp_path.glob("*.jsonl"))


def test_a_failed_rows_csv_can_be_fixed_and_imported_again(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = write_csv(tmp_path / "people.csv", ["name", "email"], [["Ann", "ann@example.com"], ["", "bob@"]])
    run(config, path)
    failed = tmp_path / "people.failed.csv"
    failed.write_text(failed.read_text(encoding="utf-8").replace("bob@", "bob@example.com"), encoding="utf-8")

    summary = run(config, failed)

    assert summary.new == 1
    assert bodies(crm, CONTACTS)[-1]["contacts"] == [
        {"email": "bob@example.com", "source": "csv_import", "tags": ["imported"]}
    ]


# answers from ConnectGain


def test_per_item_failures_go_to_the_failed_csv_and_are_not_retried(config: Config, crm: SandboxCRM, tmp_path: Path):
    rows = [["Known", "", "known@example.com"], ["Ghost", "no-such-contact", ""], ["Also", "", "also@example.com"]]
    path = write_csv(tmp_path / "deals.csv", ["title", "contact_id", "contact_email"], rows)
    listener = Recorder()

    summary = run(config, path, kind="deals", listener=listener)

    assert listener.rejected == [(3, "failed", "ConnectGain: Contact not found")]
    assert (summary.new, summary.failed, summary.requests) == (2, 1, 1)
    assert read_failed(tmp_path / "deals.failed.csv") == [
        {"_line": "3", "_error": "ConnectGain: Contact not found", "title": "Ghost", "contact_id": "no-such-contact"}
        | {"contact_email": ""}
    ]
    again = run(config, path, kind="deals")  # the failure is final: nothing is resent, the report is the same
    assert (again.failed, again.requests, again.resumed_rows, len(crm.requests)) == (1, 0, 3, 1)
    assert [row["_line"] for row in read_failed(tmp_path / "deals.failed.csv")] == ["3"]


def test_results_are_mapped_back_by_index_not_by_position(config: Config, tmp_path: Path):
    def answer(request: httpx.Request) -> httpx.Response:
        results = [
            {"index": 2, "success": True, "contact_id": "c2", "is_new": True},
            {"index": 1, "success": False, "error": "Duplicate in batch"},
            {"index": 0, "success": True, "contact_id": "c0", "is_new": False},
        ]
        return httpx.Response(200, json={"success": True, "results": results})

    path = write_csv(tmp_path / "people.csv", ["email"], [["a@example.com"], ["b@example.com"], ["c@example.com"]])
    client = ConnectGainClient(transport=httpx.MockTransport(answer))
    listener = Recorder()

    summary = run_import(config, path, "csv-import", ImportOptions(), listener, client=client)

    assert listener.rejected == [(3, "failed", "ConnectGain: Duplicate in batch")]
    assert (summary.new, summary.updated, summary.failed) == (1, 1, 1)  # no summary in the answer: from results


def test_an_answer_without_results_is_retried_like_an_outage(config: Config, tmp_path: Path):
    answers = iter([httpx.Response(200, text="<html>maintenance</html>"), httpx.Response(200, json={"success": False})])

    def answer(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"success": True, "results": []}))

    client = ConnectGainClient(transport=httpx.MockTransport(answer))
    path = write_csv(tmp_path / "people.csv", ["email"], [["a@example.com"]])
    sleeps: list[float] = []

    summary = run_import(config, path, "csv-import", ImportOptions(**FAST), client=client, sleep=sleeps.append)

    assert sleeps == [0.5, 1.0] and summary.requests == 3
    assert summary.failed == 1  # the third answer has results, but none for the row
    assert read_failed(tmp_path / "people.failed.csv")[0]["_error"] == "ConnectGain returned no result for this row"


def test_transient_failures_are_retried_with_backoff(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 10)
    crm.set_faults(status=503, count=2, paths=[CONTACTS])
    sleeps: list[float] = []

    summary = run(config, path, sleeps=sleeps, **FAST)

    assert sleeps == [0.5, 1.0]
    assert [r["status"] for r in crm.requests] == [503, 503, 200]
    assert (summary.new, summary.requests) == (10, 3)


def test_retry_after_is_honoured(config: Config, crm: SandboxCRM, tmp_path: Path):
    crm.set_faults(status=429, retry_after=7, count=1, paths=[CONTACTS])
    sleeps: list[float] = []

    run(config, contacts_csv(tmp_path / "contacts.csv", 3), sleeps=sleeps, **FAST)

    assert sleeps == [7.0]


def test_a_crm_outage_stops_the_run_and_a_rerun_sends_nothing_twice(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 1000)

    def outage_after_chunk_3(outcome: ChunkOutcome) -> None:
        if outcome.number == 3:
            crm.set_faults(status=503, paths=[CONTACTS])

    with pytest.raises(ImportStopped) as stopped:
        run(config, path, listener=Recorder(outage_after_chunk_3), chunk_size=100, **FAST)
    assert "chunk 4 (lines 302-401) not accepted after 3 tries: ConnectGain answered 503" in stopped.value.message
    assert "run the same command again to continue" in stopped.value.message
    assert stopped.value.summary is not None and stopped.value.summary.sent_rows == 300
    assert [r["status"] for r in crm.requests] == [200] * 3 + [503] * 3

    crm.clear_faults()
    summary = run(config, path, chunk_size=100, **FAST)

    deliveries = crm.deliveries_by_email()
    assert len(deliveries) == 1000 and set(deliveries.values()) == {1}
    assert (summary.requests, summary.resumed_rows, summary.sent_rows, summary.new) == (7, 300, 700, 1000)
    assert [r["status"] for r in crm.requests].count(200) == 10


class DyingClient(ConnectGainClient):
    """Dies like a kill -9 right after ConnectGain took chunk ``die_on``, before the run could record it."""

    def __init__(self, die_on: int):
        super().__init__()
        self.calls = 0
        self.die_on = die_on

    def post(self, *args: Any, **kwargs: Any) -> httpx.Response:
        response = super().post(*args, **kwargs)
        self.calls += 1
        if self.calls == self.die_on:
            raise KeyboardInterrupt
        return response


def test_a_deal_chunk_in_flight_when_the_process_died_is_resent_without_duplicates(
    config: Config, crm: SandboxCRM, tmp_path: Path
):
    rows = [[f"Deal {i}", f"buyer{i}@example.com"] for i in range(30)]
    path = write_csv(tmp_path / "deals.csv", ["title", "email"], rows)
    client = DyingClient(die_on=2)
    with pytest.raises(KeyboardInterrupt):
        run_import(config, path, "csv-import", ImportOptions(kind="deals", chunk_size=10), client=client)
    client.close()
    assert len(crm.deals) == 20  # chunk 2 arrived, but the run died before recording it

    summary = run(config, path, kind="deals", chunk_size=10)

    sent = bodies(crm, DEALS)
    assert [body["deals"][0]["title"] for body in sent] == ["Deal 0", "Deal 10", "Deal 10", "Deal 20"]
    assert [body["skip_if_exists"] for body in sent] == [False, False, True, False]
    assert sorted(Counter(d["title"] for d in crm.deals).values()) == [1] * 30
    assert (summary.resumed_rows, summary.sent_rows, summary.skipped, summary.new) == (10, 20, 10, 20)


def test_a_deal_chunk_retried_after_an_ambiguous_failure_is_not_duplicated(
    config: Config, crm: SandboxCRM, tmp_path: Path
):
    crm.set_faults(status=502, count=1, after_commit=True, paths=[DEALS])  # stored, then answered 502
    rows = [[f"Deal {i}", f"buyer{i}@example.com"] for i in range(5)]

    summary = run(config, write_csv(tmp_path / "deals.csv", ["title", "email"], rows), kind="deals", **FAST)

    assert [body["skip_if_exists"] for body in bodies(crm, DEALS, status=None)] == [False, True]
    assert len(crm.deals) == 5 and summary.skipped == 5


def test_a_refused_api_key_stops_at_once(config: Config, crm: SandboxCRM, tmp_path: Path):
    wrong = parse_yaml(IMPORT_CONFIG.format(crm_url=crm.url, api_key="cg_wrong"), {})
    path = contacts_csv(tmp_path / "contacts.csv", 20)

    with pytest.raises(ImportStopped) as stopped:
        run(wrong, path, **FAST)

    assert stopped.value.message.startswith("ConnectGain answered 401: API key refused")
    assert "fix destinations.main.api_key" in stopped.value.message
    assert len(crm.requests) == 1
    assert run(config, path).sent_rows == 20


def test_a_chunk_refused_with_400_fails_its_rows_and_the_run_goes_on(config: Config, crm: SandboxCRM, tmp_path: Path):
    crm.set_faults(status=400, count=1, paths=[CONTACTS])

    summary = run(config, contacts_csv(tmp_path / "contacts.csv", 15), chunk_size=10)

    assert (summary.failed, summary.new, summary.requests) == (10, 5, 2)
    failed = read_failed(tmp_path / "contacts.failed.csv")
    assert [row["_line"] for row in failed] == [str(line) for line in range(2, 12)]
    assert failed[0]["_error"] == "ConnectGain answered 400: Sandbox fault: 400 Bad Request"


def test_a_setup_error_stops_the_run_and_records_nothing(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 15)
    crm.set_faults(status=404, paths=[CONTACTS])  # e.g. a base_url missing its /functions/v1

    with pytest.raises(ImportStopped) as stopped:
        run(config, path, chunk_size=10)

    assert stopped.value.message.startswith("ConnectGain answered 404: Sandbox fault: 404 Not Found for /import-")
    assert "check the destination (base_url)" in stopped.value.message
    crm.clear_faults()
    summary = run(config, path, chunk_size=10)
    assert (summary.sent_rows, summary.failed) == (15, 0)  # the refused chunk was not recorded as done


# the resume state


def test_a_finished_import_sends_nothing_when_run_again(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 120)
    first = run(config, path, chunk_size=50)

    again = run(config, path, chunk_size=50)

    assert len(crm.requests) == 3
    assert (again.requests, again.resumed_rows, again.new) == (0, 120, first.new)


def test_the_state_refuses_a_file_that_changed(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 30)
    run(config, path, chunk_size=10)
    with path.open("a", encoding="utf-8") as file:
        file.write("New,Row,new@example.com,X\n")

    with pytest.raises(ImportRefused) as refused:
        run(config, path, chunk_size=10)

    assert "fix the failed-rows CSV and import that file" in refused.value.message
    assert len(crm.requests) == 3


def test_the_state_refuses_a_mapping_that_changed_which_rows_are_valid(config: Config, crm: SandboxCRM, tmp_path: Path):
    rows = [["a@example.com", ""], ["", "+14155550100"], ["c@example.com", ""], ["d@example.com", ""]]
    path = write_csv(tmp_path / "people.csv", ["email", "Cell Number"], rows)
    run(config, path, chunk_size=2)  # line 3 has no contact field under this mapping
    remapped = IMPORT_CONFIG.replace("Mobile: phone", "Cell Number: phone")
    changed = parse_yaml(remapped.format(crm_url=crm.url, api_key=API_KEY), {})

    with pytest.raises(ImportRefused) as refused:
        run(changed, path, chunk_size=2)

    assert "chunk 1 was lines 2-4 (2 rows)" in refused.value.message
    assert "is lines 2-3 (2 rows) now" in refused.value.message
    assert [row["_line"] for row in read_failed(tmp_path / "people.failed.csv")] == ["3"]  # the last report stays
    assert not list(tmp_path.glob("*.partial"))


def test_the_chunk_size_recorded_in_the_state_wins(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 40)
    crm.set_faults(status=503, paths=[CONTACTS])
    with pytest.raises(ImportStopped):
        run(config, path, chunk_size=10, **{**FAST, "tries": 1})
    crm.clear_faults()
    listener = Recorder()

    run(config, path, chunk_size=25, listener=listener)

    assert listener.plan is not None and listener.plan.chunk_size == 10
    assert any("resuming with chunk size 10" in note for note in listener.plan.notes)
    assert [len(body["contacts"]) for body in bodies(crm, CONTACTS)] == [10] * 4


def test_the_journal_ignores_a_torn_last_line_and_is_locked(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = contacts_csv(tmp_path / "contacts.csv", 30)
    state = tmp_path / "contacts.csv-import.contacts.import-state.jsonl"

    def outage_after_chunk_1(outcome: ChunkOutcome) -> None:
        crm.set_faults(status=503, paths=[CONTACTS])

    with pytest.raises(ImportStopped):
        run(config, path, chunk_size=10, listener=Recorder(outage_after_chunk_1), tries=1)
    crm.clear_faults()
    with state.open("a", encoding="utf-8") as file:
        file.write('{"type":"done","numb')  # a kill -9 in the middle of a write

    assert run(config, path, chunk_size=10).requests == 2  # chunk 1 was done; 2 and 3 were not
    lines = state.read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if not line.endswith("}")] == ['{"type":"done","numb']
    assert all(json.loads(line) for line in lines if line.endswith("}"))
    assert run(config, path, chunk_size=10).requests == 0
    assert set(crm.deliveries_by_email().values()) == {1}

    header = json.loads(lines[0])
    holder = ImportJournal.open(state, header)
    try:
        with pytest.raises(ImportRefused, match="another import is using"):
            run(config, path, chunk_size=10)
    finally:
        holder.close()


# refusals


def test_a_file_that_is_not_utf8_is_refused_with_its_line(config: Config, crm: SandboxCRM, tmp_path: Path):
    path = tmp_path / "excel.csv"
    path.write_bytes("name,email\nAnn,ann@example.com\nRen\xe9e,renee@example.com\n".encode("cp1252"))

    with pytest.raises(ImportRefused, match=r"is not UTF-8 \(near line 3\)"):
        run(config, path)

    assert crm.requests == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "deals", "default_currency": "EURO"}, "default_currency: Not a 3-letter currency code."),
        ({"kind": "parcels"}, "--kind must be one of contacts, leads, deals"),
        ({"source": "nope"}, "no source named 'nope'; sources: contact-us, csv-import"),
        ({"chunk_size": 0}, "--chunk-size must be at least 1"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(
    config: Config, crm: SandboxCRM, tmp_path: Path, options: dict[str, Any], message: str
):
    source = options.pop("source", "csv-import")
    with pytest.raises(ImportRefused) as refused:
        run(config, contacts_csv(tmp_path / "contacts.csv", 2), source=source, **options)
    assert message in refused.value.message
    assert crm.requests == []


def test_a_destination_without_api_key_can_only_dry_run(crm: SandboxCRM, tmp_path: Path):
    keyless = parse_yaml(IMPORT_CONFIG.format(crm_url=crm.url, api_key="null"), {})
    path = contacts_csv(tmp_path / "contacts.csv", 2)
    with pytest.raises(ImportRefused, match="destination 'main' has no api_key"):
        run(keyless, path)
    assert run(keyless, path, dry_run=True).total == 2


def test_deal_defaults_are_ignored_with_a_note_for_contacts(config: Config, crm: SandboxCRM, tmp_path: Path):
    listener = Recorder()
    run(config, contacts_csv(tmp_path / "c.csv", 2), default_stage="won", default_pipeline_id="p", listener=listener)
    assert listener.plan is not None
    assert listener.plan.notes == ["--default-pipeline-id, --default-stage: for --kind deals only; ignored"]
    assert "default_stage" not in bodies(crm, CONTACTS)[0]


def test_a_chunk_size_over_the_limit_is_capped(config: Config, crm: SandboxCRM, tmp_path: Path):
    listener = Recorder()
    run(config, contacts_csv(tmp_path / "leads.csv", 150), kind="leads", chunk_size=1000, listener=listener)
    assert listener.plan is not None and listener.plan.chunk_size == 100
    assert listener.plan.notes == ["chunk size 1000 capped at 100, the most /create-leads-bulk accepts"]
    assert [len(body["leads"]) for body in bodies(crm, LEADS)] == [100, 50]


# memory


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_memory_stays_flat_from_1000_to_10000_rows_of_dry_run(config: Config, tmp_path: Path):
    """Peak traced memory does not grow with the file: 10,000 rows peak as 1,000 do, near one chunk's worth.

    Ten times the rows with the same peak is what "flat" means; the file held as payloads would grow
    tenfold (about 0.4 MB for 10,000 rows). tracemalloc traces every allocation of the per-row
    validation, so the rows are kept to what shows it (50,000 took a minute on a busy machine).
    """
    run(config, contacts_csv(tmp_path / "warm.csv", 10), dry_run=True)  # import-time caches are not the import's
    peaks = {}
    for rows in (1_000, 10_000):
        path = tmp_path / f"rows-{rows}.csv"
        with path.open("w", encoding="utf-8", newline="") as file:
            file.write("first_name,last_name,email\n")
            file.writelines(f"First{i},Last{i},user{i}@example.com\n" for i in range(rows))
        tracemalloc.start()
        try:
            summary = run(config, path, dry_run=True)
            _current, peaks[rows] = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (summary.total, summary.chunks) == (rows, rows // 500)
    assert peaks[10_000] < peaks[1_000] + 200_000, f"peaks {peaks}"  # 20 bytes a row would show
    assert peaks[10_000] < 8_000_000, f"peak {peaks[10_000] / 1e6:.1f} MB"
