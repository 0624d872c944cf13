"""Redis full (``maxmemory`` reached, ``noeviction``) under load: refused leads get 503, none goes out twice.

Issue 15: an audit filled Redis under load and found 23 of 277 leads delivered twice. The CRM had
taken them, recording the outcome hit ``OOM``, the delivery's lease ran out while Redis stayed full,
and the lead was sent again. ``tests/faults/test_redis_full.py`` reproduces that for one lead, step
by step; this is the audit's shape with real processes: a real redis-server (``noeviction``), gunicorn,
two ``leadgate worker`` processes and the sandbox CRM (slowed down, so the workers have bulk deliveries
in flight when the memory runs out), two senders posting distinct leads and re-sending a 503 as
webhook senders do.

Part-way through the load the headroom is cut to a couple of hundred KB and the leads themselves fill
it. Once they have (the first 503), and at a moment ConnectGain is answering a delivery, Redis is kept
full (its limit put below what it uses, so the bytes a worker frees by holding a lead cannot let a
write through) for longer than the delivery lease and than a delivery job's time limit, and a third
worker joins (a supervisor replacing one, an operator adding one): when memory is back it is free at
once, while the first two still wait to record what ConnectGain took. While full every new lead is
refused 503 with ``Retry-After`` and ``/readyz`` is 503; afterwards every lead answered 2xx is
delivered exactly once, and no answer was anything but 2xx or 503.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.redis_servers import RedisProcess
from tests.support.redis_servers import RedisServers
from tests.support.senders import Senders
from tests.support.stack import Ledger
from tests.support.stack import Stack
from tests.support.stack import report
from tests.support.stack import wait_until

pytestmark = [pytest.mark.scale, pytest.mark.timeout(120)]

MAXMEMORY = 64 * 1024 * 1024
"""What the server starts with (and gets back when the test frees memory): far more than the run needs."""

HEADROOM = 160 * 1024
"""Left free when the headroom is cut: about a hundred leads' worth, taken by the load in a second or two."""

HOVER = 16 * 1024
"""Room given at a time while waiting for a delivery to be in flight before Redis is kept full."""

KEPT_FULL_BELOW = 256 * 1024
"""From the first 503, the limit sits this far below the memory in use: Redis stays full whatever is freed."""

TIMEOUT_SECONDS = 2
LEASE_SECONDS = 3
"""Short, so being full outlasts it: a delivery whose outcome could not be recorded would be re-sent then."""

FULL_SECONDS = LEASE_SECONDS + 5 + 2
"""A full Redis stays full until someone acts, minutes in production; here longer than the lease and than the
time limit RQ puts on a delivery job (the lease + 5 s, ``leadgate.queue.enqueue_delivery``)."""
CRM_LATENCY = 0.4
"""Each ConnectGain call takes this long: when Redis fills up, the workers have deliveries in flight."""

LEADS = 300
SENDERS = 2
PACE_SECONDS = 0.02
BEFORE_FULL = 60
"""Leads acknowledged before the headroom is cut."""

RETRY_SECONDS = 0.25
GIVE_UP_SECONDS = 40
SETTLE_SECONDS = 25
"""Once Redis takes writes, a held delivery is recorded within seconds (its retries wait 5 s at most)."""

HELD = "but Redis refused to record it"
"""What a worker logs when ConnectGain took a lead and Redis would not record it (workers/outcomes.py)."""


@pytest.fixture
def new_email() -> Callable[[str], str]:
    run = uuid.uuid4().hex[:6]
    counter = iter(range(1_000_000))
    return lambda tag: f"{tag}-{next(counter)}-{run}@example.com"


def used_memory(server: RedisProcess) -> int:
    return int(server.client.info("memory")["used_memory"])


def test_redis_full_under_load_refuses_with_503_and_delivers_every_acknowledged_lead_once(
    redis_servers: RedisServers, make_stack: Callable[..., Stack], new_email: Callable[[str], str]
) -> None:
    server = redis_servers.server("redis-full", maxmemory=MAXMEMORY)
    assert server.client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    stack = make_stack(
        redis_url=f"redis://127.0.0.1:{server.port}/0", timeout_seconds=TIMEOUT_SECONDS, lease_seconds=LEASE_SECONDS
    )
    stack.crm.latency = CRM_LATENCY
    stack.start_gateway()
    stack.start_worker()
    stack.start_worker()
    ledger = Ledger(stack)
    answers: Counter[int] = Counter()
    acked_at: list[float] = []
    refused_at: list[float] = []
    pinned: dict[str, float] = {}
    """``from``/``until``: when Redis was kept full; a post started inside that window must be refused."""
    answered_while_pinned: list[tuple[str, int]] = []
    lock = threading.Lock()

    def send(email: str) -> None:
        """A webhook sender: re-sends on a 503 (quicker than its Retry-After, to keep the test short)."""
        deadline = time.monotonic() + GIVE_UP_SECONDS
        retried = False
        while True:
            started = time.monotonic()
            try:
                response = stack.post_lead(email)
                status = response.status_code
            except httpx.TransportError as err:
                raise AssertionError(f"{email}: no answer ({type(err).__name__})") from err
            answered = time.monotonic()
            with lock:
                answers[status] += 1
                if "from" in pinned and started > pinned["from"] and answered < pinned.get("until", float("inf")):
                    answered_while_pinned.append((email, status))
            if 200 <= status < 300:
                body = response.json()
                ledger.acknowledge(email, event_id=body["event_id"])
                with lock:
                    acked_at.append(answered)
                if body["duplicate"]:  # the post answered 503 had been stored after all: not lost, not sent twice
                    assert retried, f"{email}: a first post answered as a duplicate"
                    ledger.duplicate()
                return
            assert status == 503, f"{email}: {status} {response.text[:300]}"
            assert response.headers.get("Retry-After"), f"{email}: a 503 without Retry-After"
            assert response.json()["error"] == "store_unavailable", response.text[:300]
            ledger.refuse(response, email)
            with lock:
                refused_at.append(answered)
            assert time.monotonic() < deadline, f"{email}: still refused after {GIVE_UP_SECONDS} s"
            retried = True
            time.sleep(RETRY_SECONDS)

    emails = [new_email("full") for _ in range(LEADS)]
    senders = Senders(send, emails, SENDERS, PACE_SECONDS)
    started = time.monotonic()
    senders.start()
    readyz: Counter[int] = Counter()
    try:
        wait_until(lambda: senders.check() and ledger.acknowledged >= BEFORE_FULL, 20, f"{BEFORE_FULL} leads", 0.05)
        before = used_memory(server)
        server.client.config_set("maxmemory", before + HEADROOM)
        cut = time.monotonic()
        wait_until(lambda: senders.check() and bool(refused_at), 20, "Redis to fill up under the load", 0.02)
        filled_at = refused_at[0]
        # Full under the load. It is kept full from a moment ConnectGain is answering a delivery (the audit's
        # race); until then it hovers at its limit, a few KB freed now and then as an expiry would.
        hover_until = time.monotonic() + 10
        while stack.crm.in_flight == 0:
            assert time.monotonic() < hover_until, f"no delivery started while Redis was at its limit\n{stack.logs()}"
            server.client.config_set("maxmemory", used_memory(server) + HOVER)
            time.sleep(0.02)
        full = used_memory(server)
        server.client.config_set("maxmemory", full - KEPT_FULL_BELOW)
        with lock:
            pinned["from"] = time.monotonic()
        in_flight = stack.crm.in_flight
        stack.start_worker(wait_registered=False)  # it cannot register while Redis is full
        while time.monotonic() - pinned["from"] < FULL_SECONDS:
            ready = stack.http.get(f"{stack.base_url}/readyz", timeout=5)
            readyz[ready.status_code] += 1
            assert ready.status_code != 200, "/readyz answered 200 while Redis was full"
            assert ready.status_code == 503 and "OutOfMemoryError" in ready.json()["redis"], ready.text[:300]
            time.sleep(0.5)
    finally:
        with lock:
            pinned.setdefault("from", time.monotonic())
            pinned["until"] = time.monotonic()
        server.client.config_set("maxmemory", MAXMEMORY)
    released = time.monotonic()
    senders.join(GIVE_UP_SECONDS + 15)
    load_seconds = time.monotonic() - started
    held = sum(s.log_path.read_text(errors="replace").count(HELD) for s in stack.worker_services())
    try:
        events = ledger.settle(SETTLE_SECONDS)
    except AssertionError:
        crm = stack.crm.deliveries_by_email()
        report(
            f"[maxmemory] NOT SETTLED: acknowledged={ledger.acknowledged} refused_503={answers[503]} "
            f"statuses={dict(Counter(stack.statuses(list(ledger.emails)).values()))} "
            f"duplicates_at_crm={sum(n - 1 for n in crm.values() if n > 1)} held_by_workers={held}"
        )
        raise
    acked_before = sum(t < filled_at for t in acked_at)
    acked_after = sum(t > released for t in acked_at)
    details: dict[str, Any] = {
        "refused_503": answers[503],
        "posts": sum(answers.values()),
        "answers": dict(sorted(answers.items())),
        "acknowledged_before_full": acked_before,
        "acknowledged_after": acked_after,
        "crm_calls_in_flight_when_kept_full": in_flight,
        "held_by_workers": held,
        "readyz_while_full": dict(readyz),
        "full_for": f"{released - filled_at:.1f}s",
        "filled_in": f"{filled_at - cut:.1f}s",
        "headroom_used": f"{(full - before) // 1024}KB",
        "load": f"{load_seconds:.1f}s",
    }
    verdict = ledger.verdict(events, "maxmemory", " ".join(f"{key}={value}" for key, value in details.items()))
    ledger.check_metrics(verdict, "maxmemory")
    assert set(answers) <= {202, 503}, f"answers other than 202 and 503: {answers}"
    assert answers[503] > 0, "no post was refused: Redis never filled up under the load"
    assert acked_before > 0 and acked_after > 0, f"load on one side of the full period only: {details}"
    assert held > 0, f"no delivery was in flight when Redis filled up (no worker logged {HELD!r}): {details}"
    assert readyz and set(readyz) == {503}, readyz
    assert answered_while_pinned and all(status == 503 for _, status in answered_while_pinned), answered_while_pinned
    assert verdict.acknowledged == LEADS, f"{LEADS - verdict.acknowledged} leads never acknowledged"
    assert verdict.delivered == verdict.acknowledged and verdict.lost == 0 and verdict.dead_lettered == 0
    assert verdict.crm_duplicates == 0
    crm = stack.crm.deliveries_by_email()
    assert sorted(email for email in emails if crm[email] != 1) == [], "a lead not delivered exactly once"
