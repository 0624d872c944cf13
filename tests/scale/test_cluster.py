"""Redis Cluster: the gateway and ``leadgate worker`` on a ``redis+cluster://`` store of three masters.

The event store's keys share one hash tag (``{lg}:``, :mod:`leadgate.keys`), so its scripts and
transactions stay in one slot; RQ, which cannot run on a cluster (its commands span slots, rq/rq#1942),
keeps its jobs on ``queue_redis_url``'s standalone Redis, as docs/operations.md says. The run covers
the normal flow: single and coalesced bulk deliveries, duplicates, a rate-limited source, a dead
letter replayed and one purged and sent afresh; every lead acknowledged is delivered exactly once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterator

import pytest

from leadgate import runtime as runtime_module
from leadgate.config import Config
from leadgate.operations import replay_event
from leadgate.operations import resume_destination
from leadgate.runtime import Runtime
from leadgate.sandbox import SandboxCRM
from tests.support.delivery import drain
from tests.support.leads import accept_form
from tests.support.leads import claim_now
from tests.support.leads import dead_letter
from tests.support.leads import pause
from tests.support.redis_servers import ClusterSet
from tests.support.redis_servers import RedisProcess
from tests.support.redis_servers import RedisServers
from tests.support.stack import Ledger
from tests.support.stack import Stack
from tests.support.stack import report

pytestmark = [pytest.mark.scale, pytest.mark.timeout(120)]

LEADS = 240
SENDERS = 4
"""Four senders at once: leads pile up faster than one worker sends them, so bulk calls coalesce them."""

LIMITED = """\
  limited:
    kind: form
    rate_limit: 1000/minute
"""


@pytest.fixture(scope="module")
def cluster(redis_servers: RedisServers) -> ClusterSet:
    return ClusterSet(redis_servers, masters=3)


@pytest.fixture(scope="module")
def rq_redis(redis_servers: RedisServers) -> RedisProcess:
    return redis_servers.server("rq")


@pytest.fixture
def queue_url(rq_redis: RedisProcess) -> Iterator[str]:
    rq_redis.client.flushdb()
    yield f"redis://127.0.0.1:{rq_redis.port}/0"
    rq_redis.client.flushdb()


def test_the_normal_flow_on_a_three_master_cluster_delivers_every_lead_once(
    cluster: ClusterSet, queue_url: str, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(redis_url=cluster.url, queue_redis_url=queue_url, extra_sources=LIMITED)
    stack.start_gateway()
    stack.start_worker()
    stack.start_worker()
    ledger = Ledger(stack)
    run = uuid.uuid4().hex[:6]
    emails = [f"cluster-{n}-{run}@example.com" for n in range(LEADS)]
    answers: list[int] = []
    lock = threading.Lock()

    def sender(mine: list[str]) -> None:
        for email in mine:
            response = stack.post_lead(email)
            with lock:
                answers.append(response.status_code)
            ledger.record(response, email)

    threads = [threading.Thread(target=sender, args=(emails[n::SENDERS],)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for email in emails[:20]:  # re-sent: recognised as duplicates, not delivered again
        ledger.record(stack.post_lead(email), email)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    limited = stack.post("limited", f"email=limited-{run}@example.com".encode(), form)
    assert limited.status_code == 202 and limited.headers["X-RateLimit-Limit"] == "1000", limited.text
    ledger.acknowledge(f"limited-{run}@example.com", event_id=limited.json()["event_id"])

    verdict = ledger.verdict(ledger.settle(60), "cluster")
    ledger.check_metrics(verdict, "cluster")
    bulk = [r for r in stack.crm.requests if "bulk" in str(r.get("path", ""))]
    report(f"[cluster] masters=3 answers={sorted(set(answers))} bulk_calls={len(bulk)}")
    assert set(answers) == {202}
    assert verdict.delivered == LEADS + 1 and verdict.duplicate_answers == 20

    by_node = cluster.keys_by_node()
    ours = {node: keys for node, keys in by_node.items() if keys}
    store_keys = [key for keys in by_node.values() for key in keys if key.startswith("{lg}:")]
    assert len(ours) == 1 and len(store_keys) > LEADS, f"the store's keys are not in one slot: {ours.keys()}"
    assert [key for keys in by_node.values() for key in keys if key.startswith("rq:")] == [], "RQ keys on the cluster"


def test_replays_purges_pauses_and_edits_run_on_the_cluster(
    cluster: ClusterSet, queue_url: str, make_config: Callable[..., Config], crm: SandboxCRM
) -> None:
    """The operator's transactions (replay's WATCH and MULTI, purge, resume) and a bulk claim, in this process."""
    rt = Runtime.from_config(make_config(REDIS_URL=cluster.url, QUEUE_REDIS_URL=queue_url))
    assert rt.store.prefix == "{lg}:" and rt.queue.connection is not rt.redis
    rt.redis.flushdb()
    runtime_module.install(rt)
    try:
        replayed = accept_form(rt, {"email": "replayed@example.com"}).event_id
        dead_letter(rt, replayed)
        assert replay_event(rt, replayed).ok
        purged = accept_form(rt, {"email": "purged@example.com"}).event_id
        dead_letter(rt, purged)
        assert rt.store.purge(purged)
        assert accept_form(rt, {"email": "purged@example.com"}).duplicate is False  # sent afresh
        assert accept_form(rt, {"email": "purged@example.com"}).duplicate is True
        waited = accept_form(rt, {"email": "waited@example.com"}).event_id
        pause(rt, "main")
        assert claim_now(rt, waited)[1] == -2
        assert resume_destination(rt, "main") == 1
        batched = [f"batched-{n}@example.com" for n in range(3)]
        for email in batched:
            accept_form(rt, {"email": email})
        drain(rt)  # the first job takes the other queued leads with it: one bulk call (claim_ready)
        delivered = crm.deliveries_by_email()
        everyone = ["replayed@example.com", "purged@example.com", "waited@example.com", *batched]
        assert delivered == dict.fromkeys(everyone, 1)
        assert any("bulk" in str(r.get("path", "")) for r in crm.requests), "no bulk call on the cluster"
        assert {e.status for e in rt.store.recent(limit=10)} == {"delivered", "duplicate", "purged"}
    finally:
        runtime_module.install(None)
        rt.redis.flushdb()
        rt.redis.close()
