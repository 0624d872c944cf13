"""Workers SIGKILLed again and again in the middle of deliveries: every lead still arrives, none is lost."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter

import pytest

from leadgate import defaults
from leadgate.events import Event
from tests.support.stack import Ledger
from tests.support.stack import Service
from tests.support.stack import Stack
from tests.support.stack import in_parallel
from tests.support.stack import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(180)]

SEED = 7
LEADS = 200
CHUNK = 10
KILLS = 4
MAX_KILLS = 2 * KILLS
"""A kill can land just after a delivery ended; such kills do not count towards KILLS."""
CRM_LATENCY = 0.1
"""Every ConnectGain call takes this long, so a worker with a job is almost always inside the HTTP call."""
LEASE_SECONDS = 3


ONE_LEAD_PER_CALL = pytest.param(
    {"batch_size": 1},
    id="one-lead-per-call",
)


@pytest.mark.parametrize("delivery", [pytest.param({}, id="default-delivery"), ONE_LEAD_PER_CALL])
def test_workers_sigkilled_mid_delivery_lose_nothing(make_stack, new_email, delivery) -> None:
    stack: Stack = make_stack(timeout_seconds=1, lease_seconds=LEASE_SECONDS, delivery=delivery)
    stack.start_gateway()
    stack.start_worker()
    stack.start_worker()
    stack.crm.set_faults(latency=CRM_LATENCY)
    ledger = Ledger(stack)
    rng = random.Random(SEED)
    emails = [new_email("kill") for _ in range(LEADS)]

    poster_errors: list[BaseException] = []

    def post_steadily() -> None:
        """Leads keep arriving through the kills (~40/s, in chunks of concurrent posts)."""
        try:
            for start in range(0, LEADS, CHUNK):
                chunk = emails[start : start + CHUNK]
                for email, response in zip(chunk, in_parallel(stack.post_lead, chunk, threads=5), strict=True):
                    ledger.record(response, email)
                time.sleep(0.2)
        except Exception as err:  # raised in the test's thread below
            poster_errors.append(err)

    def claimed_by_job(event_id: str, dispatch: int) -> bool:
        """Whether job ``(event_id, dispatch)`` holds the event's claim.

        Another worker's bulk call, or a re-dispatch after the lease, claims it with a new dispatch number.
        """
        event = stack.store.get(event_id)
        return event is not None and event.status == "delivering" and event.dispatch == dispatch

    def delivering() -> tuple[Service, str, int] | None:
        for service, (event_id, dispatch) in stack.busy_workers().items():
            if claimed_by_job(event_id, dispatch):
                return service, event_id, dispatch
        return None

    def held_by(event: Event, worker: Service) -> bool:
        return event.status == "delivering" and event.held_by.rpartition(":")[2] == str(worker.pid)

    poster = threading.Thread(target=post_steadily, name="poster", daemon=True)
    started = time.monotonic()
    poster.start()
    kills = 0
    cut: list[str] = []  # leads whose delivery a kill interrupted
    in_flight: Counter[str] = Counter()  # leads the victim held at a kill, and at how many kills
    try:
        while len(cut) < KILLS and kills < MAX_KILLS:
            time.sleep(rng.uniform(0.4, 0.8))
            victim, event_id, dispatch = wait_until(delivering, 10, f"a worker delivering\n{stack.logs()}", 0.005)
            victim.signal(signal.SIGKILL, group=True)
            assert victim.wait(5) == -signal.SIGKILL
            kills += 1
            # Read after the kill: the victim's claims stay "delivering" until their lease runs out,
            # so its job still holding the claim means the kill landed inside that delivery, not after.
            in_flight.update(e.id for _, e in stack.store.iter_index() if held_by(e, victim))
            if claimed_by_job(event_id, dispatch):
                cut.append(event_id)
            stack.start_worker()  # its replacement, as a supervisor would start it
    finally:
        poster.join(timeout=60)
    kills_done = time.monotonic() - started
    if poster_errors:
        raise poster_errors[0]
    assert not poster.is_alive() and ledger.acknowledged == LEADS
    assert len(cut) == KILLS, f"only {len(cut)} of {kills} kills landed inside a delivery"

    # A killed worker's leads are taken over once their lease runs out (LEASE_SECONDS). A kill that
    # lands between RQ handing the worker its job and the claim, or inside the dispatcher between
    # marking events dispatched and enqueueing their jobs, leaves those leads waiting
    # DISPATCH_GRACE_SECONDS instead: slower, never lost. The timeout leaves room for that.
    events = ledger.settle(timeout=defaults.DISPATCH_GRACE_SECONDS + 40)
    settled = time.monotonic() - started

    by_email = stack.crm.deliveries_by_email()
    event_of = {email: event_id for event_id, email in ledger.emails.items()}
    repeats = {email: n - 1 for email, n in by_email.items() if n > 1}
    bulk_calls = sum(1 for r in stack.crm.requests if r["path"] == "/create-leads-bulk")
    # At-least-once is the honest contract at this edge: a worker killed after ConnectGain got its
    # request, before the outcome was recorded, leaves leads that another worker delivers again
    # when their lease runs out. Only leads in flight at a kill may repeat, once per such kill.
    # A kill cuts the victim's calls in flight (up to delivery.calls_in_flight of them), and a bulk
    # call cut by a kill repeats every lead in it: at most one extra call per lead the victim held.
    # ConnectGain merges contacts on e-mail, so the account still holds one contact per lead.
    allowed = sum(in_flight.values())
    verdict = ledger.verdict(
        events,
        "worker sigkill",
        f"kills={kills} cut_deliveries={len(cut)} in_flight_at_kills={sum(in_flight.values())} "
        f"extra_create_calls={sum(repeats.values())} bulk_calls={bulk_calls} "
        f"attempts_of_cut_leads={[events[i].attempts for i in cut]} lease={LEASE_SECONDS}s "
        f"kills_over={kills_done:.1f}s all_settled={settled:.1f}s",
        crm_duplicates=allowed,
    )
    assert verdict.acknowledged == LEADS and verdict.dead_lettered == 0
    beyond = {email: n for email, n in repeats.items() if n > in_flight[event_of[email]]}
    assert beyond == {}, f"leads delivered more often than kills interrupted them: {beyond}"
    assert len(stack.crm.contacts) == LEADS, "ConnectGain should hold exactly one contact per acknowledged lead"
    assert all(events[i].attempts >= 2 for i in cut), "a killed worker's lead should have been taken over"
    ledger.check_metrics(verdict, "worker sigkill")
    assert sum(s.running for s in stack.worker_services()) == 2
