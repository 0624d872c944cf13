"""Redis Sentinel: gunicorn and ``leadgate worker`` on a ``redis+sentinel://`` URL, through a failover.

One master, one replica and three Sentinels on loopback (:class:`tests.support.redis_servers.SentinelSet`),
fenced as docs/operations.md says (``min-replicas-to-write 1``). The failover runs under load with
``durability: replicated``: the senders retry a 503 as webhook senders do, and afterwards every
lead answered 2xx is delivered exactly once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from gateway import create_app
from leadgate.runtime import Runtime
from tests.support.config import BASE_CONFIG
from tests.support.hooks import post_form
from tests.support.redis_servers import RedisServers
from tests.support.redis_servers import SentinelSet
from tests.support.senders import Senders
from tests.support.stack import Ledger
from tests.support.stack import Stack
from tests.support.stack import free_port
from tests.support.stack import wait_until

pytestmark = [pytest.mark.scale, pytest.mark.timeout(120)]

LIMITED = """\
  limited:
    kind: form
    rate_limit: 1000/minute
"""
"""A rate-limited source: its counters live in the Sentinel's master, through the runtime's pool."""

LEASE_SECONDS = 30
"""Longer than a failover (about 10 s here): a delivery whose record waits out the switch keeps its lead."""

LEADS = 200
SENDERS = 2
PACE_SECONDS = 0.05
"""Each sender posts a lead every 50 ms: 200 leads from 2 senders take about 5 s without a failover."""

RETRY_SECONDS = 0.25
GIVE_UP_SECONDS = 45


@pytest.fixture
def new_email() -> Callable[[str], str]:
    run = uuid.uuid4().hex[:6]
    counter = iter(range(1_000_000))
    return lambda tag: f"{tag}-{next(counter)}-{run}@example.com"


def test_the_gateway_the_worker_and_the_rate_limiter_use_the_sentinels_master(
    sentinels: SentinelSet, make_stack: Callable[..., Stack], new_email: Callable[[str], str]
) -> None:
    stack = make_stack(redis_url=sentinels.url, lease_seconds=LEASE_SECONDS, extra_sources=LIMITED)
    stack.start_gateway()
    stack.start_worker()
    ledger = Ledger(stack)
    for _ in range(20):
        email = new_email("sentinel")
        ledger.record(stack.post_lead(email), email)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    limited = stack.post("limited", b"name=Ada&email=ada@example.com", form)
    assert limited.status_code == 202, limited.text
    assert limited.headers["X-RateLimit-Limit"] == "1000", "the limiter could not reach the master"
    ledger.acknowledge("ada@example.com", event_id=limited.json()["event_id"])
    verdict = ledger.verdict(ledger.settle(30), "sentinel")
    ledger.check_metrics(verdict, "sentinel")
    assert verdict.delivered == 21
    master, [replica] = sentinels.master(), sentinels.replicas()
    wait_until(
        lambda: replica.client.exists(*(stack.store.key(i) for i in ledger.emails)) == 21, 5, "the replica's copy"
    )
    assert master.client.info("replication")["role"] == "master"


def test_a_failover_under_load_loses_no_acknowledged_lead_and_sends_none_twice(
    sentinels: SentinelSet, make_stack: Callable[..., Stack], new_email: Callable[[str], str]
) -> None:
    stack = make_stack(
        redis_url=sentinels.url,
        lease_seconds=LEASE_SECONDS,
        settings={"durability": "replicated", "min_replicas": 1, "replica_timeout_ms": 500},
    )
    stack.start_gateway()
    stack.start_worker()
    ledger = Ledger(stack)
    answers: Counter[int] = Counter()
    retried_duplicates = 0
    refused_at: list[float] = []
    lock = threading.Lock()

    def send(email: str) -> None:
        """A webhook sender: re-sends on a 503 (quicker than its Retry-After, to keep the test short)."""
        nonlocal retried_duplicates
        deadline = time.monotonic() + GIVE_UP_SECONDS
        retried = False
        while True:
            try:
                response = stack.post_lead(email)
                status = response.status_code
            except httpx.TransportError:
                status = 0
            with lock:
                answers[status] += 1
            if 200 <= status < 300:
                body = response.json()
                ledger.acknowledge(email, event_id=body["event_id"])
                if body["duplicate"]:
                    assert retried, f"{email}: a first post answered as a duplicate"
                    with lock:
                        retried_duplicates += 1
                return
            assert status == 503, f"{email}: {status} {response.text[:300]}"
            assert response.headers.get("Retry-After"), "a 503 without Retry-After"
            with lock:
                refused_at.append(time.monotonic())
            assert time.monotonic() < deadline, f"{email}: still refused after {GIVE_UP_SECONDS} s"
            retried = True
            time.sleep(RETRY_SECONDS)

    emails = [new_email("failover") for _ in range(LEADS)]
    senders = Senders(send, emails, SENDERS, PACE_SECONDS)
    started = time.monotonic()
    senders.start()
    time.sleep(1.5)
    old = sentinels.failover()
    switched = time.monotonic()
    senders.join(GIVE_UP_SECONDS + 15)
    load_seconds = time.monotonic() - started
    new = sentinels.wait_settled(timeout=30)
    assert new is not old, "the failover did not happen"
    events = ledger.settle(60)
    refused = answers[503]
    outage = (max(refused_at) - min(refused_at)) if refused_at else 0.0
    verdict = ledger.verdict(
        events,
        "sentinel-failover",
        f"posts={sum(answers.values())} answers={dict(sorted(answers.items()))} "
        f"retries_answered_duplicate={retried_duplicates} refusals_span={outage:.1f}s "
        f"load={load_seconds:.1f}s failover_at={switched - started:.1f}s master={old.name}->{new.name}",
    )
    assert verdict.acknowledged == LEADS and verdict.lost == 0 and verdict.crm_duplicates == 0
    assert refused > 0, "no post was refused: the failover happened outside the load"
    assert set(answers) <= {202, 503}, answers


def test_readyz_fails_while_the_master_refuses_writes(sentinels: SentinelSet, make_config, crm) -> None:
    app = create_app(runtime=Runtime.from_config(make_config(REDIS_URL=sentinels.url)))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    master = sentinels.master()
    master.client.config_set("min-replicas-to-write", 2)  # one replica: the master now refuses every write
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "refusing writes" in ready.get_json()["redis"] and "NOREPLICAS" in ready.get_json()["redis"]
        refused = post_form(client, {"name": "Ada", "email": "ada@example.com"})
        assert refused.status_code == 503 and refused.headers["Retry-After"]
    finally:
        master.client.config_set("min-replicas-to-write", 1)
    assert client.get("/readyz").status_code == 200

    # More replicas asked for than there are: stored on the master, but never acknowledged.
    wanting = make_config(BASE_CONFIG + "durability: replicated\nmin_replicas: 2\nreplica_timeout_ms: 100\n")
    client = create_app(runtime=Runtime.from_config(wanting, client=app.extensions["leadgate"].redis)).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "NotReplicated: 1 of 2 replicas" in ready.get_json()["redis"]
    refused = post_form(client, {"name": "Ada", "email": "ada@example.com"})
    assert refused.status_code == 503 and refused.headers["Retry-After"]


def test_readyz_fails_while_the_only_master_is_read_only(redis_servers: RedisServers, make_config, crm) -> None:
    solo = redis_servers.server("redis-solo")
    client = create_app(
        runtime=Runtime.from_config(make_config(REDIS_URL=f"redis://127.0.0.1:{solo.port}/0"))
    ).test_client()
    assert client.get("/readyz").status_code == 200
    solo.client.replicaof("127.0.0.1", free_port())  # a master nobody runs: read-only until told otherwise
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "refusing writes (ReadOnlyError" in ready.get_json()["redis"]
        refused = post_form(client, {"name": "Ada", "email": "ada@example.com"})
        assert refused.status_code == 503 and refused.headers["Retry-After"]
    finally:
        solo.client.replicaof("NO", "ONE")
    assert client.get("/readyz").status_code == 200
    assert post_form(client, {"name": "Ada", "email": "ada@example.com"}).status_code == 202
