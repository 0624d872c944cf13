"""The sandbox CRM over real HTTP: the ConnectGain contract it imitates, its faults and its control surface."""

import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from leadgate.sandbox import SandboxCRM

KEY = {"X-API-Key": "cg_test"}
PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def api(crm):
    """An httpx client on the sandbox with the right key; a short timeout keeps every test bounded."""
    with httpx.Client(base_url=crm.url, headers=KEY, timeout=5) as client:
        yield client


def lead(n, **extra):
    return {"first_name": f"Lead{n}", "email": f"lead{n}@example.com", **extra}


def test_create_lead_answers_the_documented_shape(crm, api):
    body = lead(1, phone="+1234567890", emails=["work@acme.test"], tags=["hot"], source="website_form")
    body["deal"] = {"title": "Acme - Enterprise", "value": 50000, "stage": "qualified"}
    response = api.post("/create-lead", json=body, headers={"Idempotency-Key": "evt-1"})

    assert response.status_code == 201
    payload = response.json()
    assert payload["success"] is True
    assert payload["message"] == "Lead created successfully"
    contact = payload["data"]["contact"]
    assert set(contact) == {"id", "first_name", "last_name", "emails", "phones", "source", "tags", "created_at"}
    assert contact["emails"] == ["lead1@example.com", "work@acme.test"]
    assert contact["phones"] == ["+1234567890"]
    assert contact["source"] == "website_form"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", contact["created_at"])
    assert payload["data"]["deal"] == {
        "id": payload["data"]["deal"]["id"],
        "title": "Acme - Enterprise",
        "value": 50000,
        "currency": "USD",
        "stage": "qualified",
    }
    assert payload["data"]["is_new"] is True
    assert [c["id"] for c in crm.contacts] == [contact["id"]]
    assert crm.deals[0]["contact_id"] == contact["id"]
    [delivery] = crm.deliveries
    assert delivery["path"] == "/create-lead"
    assert delivery["email"] == "lead1@example.com"
    assert delivery["idempotency_key"] == "evt-1"
    assert delivery["payload"]["deal"]["title"] == "Acme - Enterprise"


def test_create_lead_without_deal_omits_deal_and_defaults_source(api):
    payload = api.post("/create-lead", json={"phone": "+15550001"}).json()
    assert "deal" not in payload["data"]
    assert payload["data"]["contact"]["source"] == "api"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "cg_wrong"}], ids=["missing", "wrong"])
def test_bad_api_key_is_401_and_creates_nothing(crm, headers):
    with httpx.Client(base_url=crm.url, headers=headers, timeout=5) as client:
        response = client.post("/create-lead", json=lead(1))
    assert response.status_code == 401
    assert response.json() == {"success": False, "error": "Invalid API key"}
    assert crm.contacts == []
    assert crm.deliveries == []


def test_non_post_is_405_and_unknown_path_is_404(api):
    assert api.get("/create-lead").status_code == 405
    assert api.put("/create-leads-bulk", json={"leads": []}).status_code == 405
    assert api.post("/create-contact", json=lead(1)).status_code == 404


@pytest.mark.parametrize("content", [b"[1, 2]", b'"lead"', b"null", b"{not json", b""])
def test_body_that_is_not_a_json_object_is_400(crm, api, content):
    response = api.post("/create-lead", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert crm.contacts == []


def test_lead_without_any_contact_field_is_400(crm, api):
    response = api.post("/create-lead", json={"source": "form", "tags": ["x"], "emails": ["only@list.test"]})
    assert response.status_code == 400
    assert "At least one of first_name, last_name, email, or phone" in response.json()["error"]
    assert crm.deliveries == []


def test_deal_without_title_is_400(crm, api):
    response = api.post("/create-lead", json=lead(1, deal={"value": 5}))
    assert response.status_code == 400
    assert response.json()["error"] == "deal.title is required"
    assert crm.contacts == []


def test_leads_bulk_reports_per_item_failures_with_their_index(crm, api):
    leads = [lead(0), {"source": "nothing"}, lead(2), "not an object", lead(0, last_name="Again")]
    response = api.post("/create-leads-bulk", json={"leads": leads})

    assert response.status_code == 200
    payload = response.json()
    assert payload["summary"] == {
        "total": 5,
        "successful": 3,
        "failed": 2,
        "new_contacts": 2,
        "updated_contacts": 1,
        "skipped_duplicates": 0,
    }
    results = payload["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["success"] for r in results] == [True, False, True, False, True]
    assert "At least one of" in results[1]["error"]
    assert results[4] == {"index": 4, "success": True, "contact_id": results[0]["contact_id"], "is_new": False}
    assert len(crm.contacts) == 2
    assert crm.deliveries_by_email() == {"lead0@example.com": 2, "lead2@example.com": 1}


@pytest.mark.parametrize(
    ("path", "key", "limit"),
    [
        ("/create-leads-bulk", "leads", 100),
        ("/import-contacts-bulk", "contacts", 500),
        ("/create-deals-bulk", "deals", 100),
    ],
)
def test_bulk_over_its_limit_is_400_and_at_its_limit_is_accepted(crm, api, path, key, limit):
    def items(count):
        if key == "deals":
            return [
                {"title": f"D{i}", "contact_email": f"c{i}@x.test", "create_contact_if_missing": True}
                for i in range(count)
            ]
        return [lead(i) for i in range(count)]

    too_many = api.post(path, json={key: items(limit + 1)})
    assert too_many.status_code == 400
    assert f"Maximum {limit}" in too_many.json()["error"]
    assert crm.deliveries == []

    at_limit = api.post(path, json={key: items(limit)})
    assert at_limit.status_code == 200
    assert at_limit.json()["summary"]["successful"] == limit


def test_duplicate_email_merges_into_the_existing_contact(crm, api):
    first = api.post("/create-lead", json=lead(1, phone="+111", tags=["a"])).json()["data"]
    second = api.post("/create-lead", json={"email": "LEAD1@example.com", "phone": "+222", "tags": ["b", "a"]})

    assert second.status_code == 201
    data = second.json()["data"]
    assert data["is_new"] is False
    assert data["contact"]["id"] == first["contact"]["id"]
    assert data["contact"]["phones"] == ["+111", "+222"]
    assert data["contact"]["tags"] == ["a", "b"]
    assert data["contact"]["emails"] == ["lead1@example.com"]
    assert len(crm.contacts) == 1
    assert crm.deliveries_by_email()["lead1@example.com"] == 2


def test_duplicate_phone_merges_too(crm, api):
    api.post("/create-lead", json={"first_name": "P", "phone": "+15550001"})
    data = api.post("/create-lead", json={"email": "p@example.com", "phone": "+15550001"}).json()["data"]
    assert data["is_new"] is False
    assert data["contact"]["emails"] == ["p@example.com"]
    assert len(crm.contacts) == 1


def test_import_contacts_skip_duplicates_and_defaults(crm, api):
    api.post("/create-lead", json=lead(1, tags=["original"]))
    body = {
        "contacts": [lead(1, tags=["new"]), {"first_name": "Bob", "phone": "+1234567890"}],
        "skip_duplicates": True,
        "default_tags": ["import-feb"],
        "default_source": "api_bulk_import",
    }
    payload = api.post("/import-contacts-bulk", json=body).json()

    assert payload["summary"] == {
        "total": 2,
        "successful": 2,
        "failed": 0,
        "new_contacts": 1,
        "updated_contacts": 0,
        "skipped_duplicates": 1,
    }
    assert payload["results"][0]["is_new"] is False
    skipped, bob = crm.contacts
    assert skipped["tags"] == ["original"]
    assert bob["source"] == "api_bulk_import"
    assert bob["tags"] == ["import-feb"]


def test_create_deals_bulk_resolves_or_creates_contacts(crm, api):
    existing = api.post("/create-lead", json=lead(1, phone="+1555000111")).json()["data"]["contact"]["id"]
    deals = [
        {"title": "By email", "contact_email": "lead1@example.com", "value": 5000},
        {"title": "By id", "contact_id": existing, "stage": "proposal"},
        {"title": "New", "contact_phone": "+1999", "create_contact_if_missing": True, "contact_first_name": "Phone"},
        {"title": "Nobody", "contact_email": "ghost@example.com"},
        {"contact_email": "lead1@example.com"},
        {"title": "No contact reference"},
    ]
    body = {"deals": deals, "default_stage": "new-ish", "default_currency": "EUR", "default_pipeline_id": "pipe-1"}
    payload = api.post("/create-deals-bulk", json=body).json()

    assert payload["summary"] == {
        "total": 6,
        "successful": 3,
        "failed": 3,
        "new_deals": 3,
        "skipped_existing": 0,
        "new_contacts_created": 1,
    }
    ok, by_id, new, ghost, untitled, unreferenced = payload["results"]
    assert (ok["contact_id"], ok["is_new_contact"]) == (existing, False)
    assert by_id["contact_id"] == existing
    assert new["is_new_contact"] is True and new["contact_id"] != existing
    assert ghost == {"index": 3, "success": False, "error": "Contact not found"}
    assert untitled["error"] == "title is required"
    assert "contact_id, contact_email, or contact_phone" in unreferenced["error"]
    stored = {d["title"]: d for d in crm.deals}
    assert (stored["By email"]["stage"], stored["By email"]["currency"], stored["By email"]["pipeline_id"]) == (
        "new-ish",
        "EUR",
        "pipe-1",
    )
    assert stored["By id"]["stage"] == "proposal"
    assert [c["first_name"] for c in crm.contacts] == ["Lead1", "Phone"]


def test_create_deals_bulk_skip_if_exists(crm, api):
    deal = {"title": "Renewal", "contact_email": "r@example.com", "create_contact_if_missing": True}
    first = api.post("/create-deals-bulk", json={"deals": [deal]}).json()["results"][0]
    again = api.post("/create-deals-bulk", json={"deals": [deal], "skip_if_exists": True}).json()
    assert again["summary"]["skipped_existing"] == 1
    assert again["summary"]["new_deals"] == 0
    assert again["results"][0]["deal_id"] == first["deal_id"]
    assert len(crm.deals) == 1


def test_status_fault_applies_to_count_requests_and_creates_nothing(crm, api):
    crm.set_faults(status=503, count=2)
    statuses = [api.post("/create-lead", json=lead(1)).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert len(crm.deliveries) == 1
    assert crm.faults is None
    assert [r["status"] for r in crm.requests] == [503, 503, 201]


def test_fault_comes_before_auth(crm):
    crm.set_faults(status=502, count=1)
    with httpx.Client(base_url=crm.url, timeout=5) as client:
        assert client.post("/create-lead", json=lead(1)).status_code == 502
        assert client.post("/create-lead", json=lead(1)).status_code == 401


def test_429_carries_retry_after(crm, api):
    crm.set_faults(status=429, retry_after=7, count=1)
    response = api.post("/create-lead", json=lead(1))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["success"] is False
    assert "Retry-After" not in api.post("/create-lead", json=lead(1)).headers


def test_fault_limited_to_paths(crm, api):
    crm.set_faults(status=500, paths=["/create-leads-bulk"])
    assert api.post("/create-lead", json=lead(1)).status_code == 201
    assert api.post("/create-leads-bulk", json={"leads": [lead(2)]}).status_code == 500
    assert crm.deliveries_by_email() == {"lead1@example.com": 1}


def test_latency_fault_delays_the_answer(crm, api):
    api.post("/create-lead", json=lead(0))  # connect first so only the answer is timed
    crm.set_faults(latency=0.2)
    started = time.monotonic()
    assert api.post("/create-lead", json=lead(1)).status_code == 201
    assert time.monotonic() - started >= 0.2


def test_constructor_latency_delays_every_answer():
    with SandboxCRM(api_keys=("cg_test",), latency=0.15) as slow:
        with httpx.Client(base_url=slow.url, headers=KEY, timeout=5) as client:
            started = time.monotonic()
            assert client.post("/create-lead", json=lead(1)).status_code == 201
            assert time.monotonic() - started >= 0.15


def test_drop_closes_the_connection_without_an_answer(crm, api):
    crm.set_faults(drop=True, count=1)
    with pytest.raises(httpx.TransportError):
        api.post("/create-lead", json=lead(1))
    assert crm.contacts == []
    assert crm.requests[-1]["status"] is None
    assert api.post("/create-lead", json=lead(1)).status_code == 201


def test_error_rate_is_reproducible_with_a_seed(crm, api):
    def run(seed):
        crm.set_faults(error_rate=0.3, seed=seed)
        return [api.post("/create-lead", json=lead(n)).status_code for n in range(40)]

    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert set(first) == {201, 500}
    assert 4 <= first.count(500) <= 20
    assert other != first


def test_after_commit_saves_the_lead_then_fails(crm, api):
    crm.set_faults(status=500, count=1, after_commit=True)
    response = api.post("/create-lead", json=lead(1), headers={"Idempotency-Key": "k1"})
    assert response.status_code == 500
    assert [d["idempotency_key"] for d in crm.deliveries] == ["k1"]
    assert len(crm.contacts) == 1
    retry = api.post("/create-lead", json=lead(1), headers={"Idempotency-Key": "k1"})
    assert retry.json()["data"]["is_new"] is False


def test_set_faults_rejects_nonsense(crm):
    with pytest.raises(ValueError):
        crm.set_faults(error_rate=1.5)
    with pytest.raises(ValueError):
        crm.set_faults(status=42)
    with pytest.raises(ValueError):
        crm.set_faults(status=500, count=0)


def test_stop_then_start_serves_on_the_same_port(crm, api):
    assert api.post("/create-lead", json=lead(1)).status_code == 201  # leaves a pooled keep-alive connection
    url = crm.url
    crm.stop()
    with pytest.raises(httpx.TransportError):
        api.post("/create-lead", json=lead(2))
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{url}/create-lead", json=lead(2), headers=KEY, timeout=5)
    crm.start()
    assert crm.url == url
    assert api.post("/create-lead", json=lead(3)).status_code == 201
    assert crm.deliveries_by_email() == {"lead1@example.com": 1, "lead3@example.com": 1}


def test_control_surface_over_http(crm, api):
    control = httpx.Client(base_url=crm.url, timeout=5)  # no API key: the control surface needs none
    with control:
        assert control.post("/_sandbox/faults", json={"status": 503, "count": 1}).json()["faults"]["count"] == 1
        assert api.post("/create-lead", json=lead(1)).status_code == 503
        assert control.get("/_sandbox/faults").json()["faults"] is None
        control.post("/_sandbox/faults", json={"status": 500})
        assert control.delete("/_sandbox/faults").json()["faults"] is None
        api.post("/create-lead", json=lead(1))
        api.post("/create-lead", json=lead(2))

        contacts = control.get("/_sandbox/contacts").json()
        assert [c["emails"] for c in contacts] == [["lead1@example.com"], ["lead2@example.com"]]
        assert [d["email"] for d in control.get("/_sandbox/deliveries").json()] == [
            "lead1@example.com",
            "lead2@example.com",
        ]
        latest = control.get("/_sandbox/requests", params={"limit": 2}).json()
        assert [r["body"]["email"] for r in latest] == ["lead1@example.com", "lead2@example.com"]
        assert latest[0]["headers"]["x-api-key"] == "***"
        assert len(control.get("/_sandbox/requests").json()) == 3

        assert control.post("/_sandbox/reset").json() == {"success": True}
        assert control.get("/_sandbox/contacts").json() == []
        assert crm.requests == []


def test_control_surface_rejects_bad_input(crm):
    with httpx.Client(base_url=crm.url, timeout=5) as control:
        assert control.post("/_sandbox/faults", json={"status": 500, "bogus": 1}).status_code == 400
        assert control.post("/_sandbox/faults", json={"error_rate": 2}).status_code == 400
        assert control.post("/_sandbox/faults", json=[1]).status_code == 400
        assert control.get("/_sandbox/requests", params={"limit": "x"}).status_code == 400
        assert control.get("/_sandbox/reset").status_code == 405
        assert control.get("/_sandbox/nothing").status_code == 404
    assert crm.faults is None


def test_index_page_lists_latest_contacts_escaped(crm, api):
    api.post("/create-lead", json={"first_name": "<b>Eve</b>", "email": "eve@example.com"})
    with httpx.Client(base_url=crm.url, timeout=5) as browser:
        page = browser.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "eve@example.com" in page.text
    assert "&lt;b&gt;Eve&lt;/b&gt;" in page.text
    assert "<b>Eve</b>" not in page.text


def test_concurrent_deliveries_of_one_email_make_one_contact(crm):
    def send(worker):
        with httpx.Client(base_url=crm.url, headers=KEY, timeout=5) as client:
            for n in range(25):
                client.post("/create-lead", json={"email": "same@example.com", "tags": [f"w{worker}-{n}"]})

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert crm.deliveries_by_email() == {"same@example.com": 200}
    [contact] = crm.contacts
    assert len(contact["tags"]) == 200


@pytest.mark.timeout(30)
def test_module_entry_point_serves_until_terminated():
    command = [sys.executable, "-m", "leadgate.sandbox", "--port", "0", "--api-key", "cg_sub", "--seed", "1"]
    with subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=15)
            url = line.split()[-1]
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), line
            response = httpx.post(f"{url}/create-lead", json=lead(1), headers={"X-API-Key": "cg_sub"}, timeout=5)
            assert response.status_code == 201
        finally:
            proc.terminate()
            stdout, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0, stderr
