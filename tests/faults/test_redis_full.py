"""Redis full (``maxmemory`` reached, ``noeviction``): new leads get 503, and a lead ConnectGain took goes out once.

The audit filled Redis under load: 23 of 277 leads were delivered twice. The CRM call succeeded, recording
its outcome hit ``OOM``, the lease ran out and the lead was sent again. Reproduced here step by step on
the test Redis: full between the CRM's answer and the record, for longer than the lease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from leadgate.runtime import Runtime
from leadgate.sandbox import SandboxCRM
from leadgate.sandbox.processes import wait_until
from tests.support.config import DESTINATION_CONFIG
from tests.support.delivery import dispatch_now
from tests.support.delivery import drain
from tests.support.stack import report
from workers.delivery import deliver
from workers.delivery import http_client

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

LEASE = 1.5
CONFIG = DESTINATION_CONFIG.replace("  timeout_seconds: 2\n", "  timeout_seconds: 1\n").replace(
    "  jitter: 0\n", f"  jitter: 0\n  lease_seconds: {LEASE}\n"
) + ("sources:\n  contact-us:\n    kind: form\n")


@pytest.fixture
def config(make_config):
    return make_config(CONFIG)


@pytest.fixture
def restore_maxmemory(redis_client: redis.Redis) -> Iterator[None]:
    """The tests make Redis full with ``maxmemory`` 1 byte (every write that could grow memory is refused)."""
    original = redis_client.config_get("maxmemory")["maxmemory"]
    yield
    redis_client.config_set("maxmemory", original)


def post(client, email: str):
    return client.post("/hooks/contact-us", data={"name": "Jo Ann", "email": email})


def test_a_lead_the_crm_took_while_redis_was_full_is_recorded_and_sent_once(
    client, rt: Runtime, crm: SandboxCRM, redis_client: redis.Redis, restore_maxmemory
):
    event_id = post(client, "jo@example.com").get_json()["event_id"]
    dispatch = dispatch_now(rt)[event_id]
    crm.set_faults(latency=0.4)
    outcome: dict[str, str] = {}
    worker = threading.Thread(target=lambda: outcome.update(result=deliver(rt, http_client(2), event_id, dispatch)))
    worker.start()
    wait_until(lambda: crm.in_flight == 1, timeout=10, what="the CRM call to start")
    original = redis_client.config_get("maxmemory")["maxmemory"]
    redis_client.config_set("maxmemory", 1)
    try:
        wait_until(lambda: len(crm.deliveries) == 1, timeout=10, what="ConnectGain to take the lead")
        refused = post(client, "new@example.com")
        assert refused.status_code == 503 and refused.headers.get("Retry-After")
        time.sleep(LEASE + 0.5)  # the lease has run out while the outcome could not be written
        assert dispatch_now(rt) == {}  # (refused too, while full)
    finally:
        redis_client.config_set("maxmemory", original)
    assert event_id not in dispatch_now(rt)  # writable again: the held lead is not sent a second time
    worker.join(timeout=20)
    assert outcome == {"result": "delivered"}
    drain(rt)
    event = rt.store.get(event_id)
    assert event.status == "delivered" and event.attempts == 1
    sends = [d for d in crm.deliveries if d["payload"]["email"] == "jo@example.com"]
    report(
        f"[redis full] CRM took the lead while Redis was full for {LEASE + 0.5:.1f}s: sends={len(sends)} "
        f"status={event.status} new lead during it=503"
    )
    assert len(sends) == 1


def test_new_leads_get_503_while_full_and_are_taken_again_after(
    client, rt: Runtime, redis_client: redis.Redis, restore_maxmemory
):
    original = redis_client.config_get("maxmemory")["maxmemory"]
    redis_client.config_set("maxmemory", 1)
    try:
        refused = post(client, "full@example.com")
    finally:
        redis_client.config_set("maxmemory", original)
    assert refused.status_code == 503, refused.get_data(as_text=True)
    assert refused.get_json()["ok"] is False and refused.headers["Retry-After"]
    assert list(rt.store.recent(limit=5)) == []  # nothing half-written
    assert post(client, "full@example.com").status_code == 202
