"""Every source kind at once, and platforms re-sending the same lead in bursts: each lead arrives exactly once.

Each kind is posted the way its platform posts it (tests/gateway/test_hooks_*.py show the
same bodies through the Flask test client): a signed ``json`` webhook, a Google Ads lead
form with its ``google_key``, a Typeform response signed with ``Typeform-Signature``, and a
Meta ``leadgen`` notification signed with ``X-Hub-Signature-256`` whose lead the worker
fetches from the fake Graph API; plus the website form, with and without ``Idempotency-Key``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.graph_api import APP_SECRET
from tests.support.graph_api import PAGE_TOKEN
from tests.support.graph_api import VERIFY_TOKEN
from tests.support.graph_api import FakeGraphAPI
from tests.support.graph_api import leadgen_change
from tests.support.graph_api import notification
from tests.support.graph_api import sign
from tests.support.stack import SOURCE_ID
from tests.support.stack import Ledger
from tests.support.stack import Stack
from tests.support.stack import in_parallel

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(120)]

SEED = 11
JSON_SECRET = "whsec-faults-json"
GOOGLE_KEY = "gk-faults"
TYPEFORM_SECRET = "whsec-faults-typeform"
SOURCES = """\
  webhook:
    kind: json
    secret: {json_secret}
    event_id: id
    mapping: {{email: contact.email, full_name: contact.name}}
  google:
    kind: google_ads
    google_key: {google_key}
  tf:
    kind: typeform
    secret: {typeform_secret}
  fb:
    kind: facebook
    app_secret: {app_secret}
    verify_token: {verify_token}
    access_token: {page_token}
    graph_api_url: {graph_url}
"""


@dataclass
class Post:
    """One request as its platform sends it; ``key`` is what makes a re-send the same lead."""

    kind: str
    source: str
    body: bytes
    headers: dict[str, str]
    emails: list[str]
    key: str = ""
    answers: list[httpx.Response] = field(default_factory=list)


def form_post(email: str, idempotency_key: str = "") -> Post:
    body = urlencode({"name": "Ada Lovelace", "email": email, "message": "hi"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return Post("form", SOURCE_ID, body, headers, [email], idempotency_key or email)


def json_post(email: str, event_id: str) -> Post:
    body = json.dumps({"id": event_id, "contact": {"email": email, "name": "Ada Lovelace"}}).encode()
    signature = "sha256=" + hmac.new(JSON_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return Post("json", "webhook", body, {"Content-Type": "application/json", "X-Signature-256": signature}, [email])


def google_post(email: str, lead_id: str) -> Post:
    lead = {
        "lead_id": lead_id,
        "api_version": "1.0",
        "form_id": 40000000001,
        "campaign_id": 9007199254740993,
        "google_key": GOOGLE_KEY,
        "is_test": False,
        "user_column_data": [
            {"column_name": "Full Name", "string_value": "Ada Lovelace", "column_id": "FULL_NAME"},
            {"column_name": "User Email", "string_value": email, "column_id": "EMAIL"},
        ],
    }
    headers = {"Content-Type": "application/json", "User-Agent": "Google-Ads-Notifications"}
    return Post("google_ads", "google", json.dumps(lead).encode(), headers, [email], lead_id)


def typeform_post(email: str, event_id: str) -> Post:
    fields = [
        {"id": "Fn1", "ref": "first_name", "type": "short_text", "title": "What's your first name?"},
        {"id": "Em3", "ref": "work_email", "type": "email", "title": "Work email"},
    ]
    answers = [
        {"type": "text", "text": "Zoë", "field": {"id": "Fn1", "type": "short_text", "ref": "first_name"}},
        {"type": "email", "email": email, "field": {"id": "Em3", "type": "email", "ref": "work_email"}},
    ]
    response = {"form_id": "AbC123", "token": f"tok-{event_id}", "submitted_at": "2026-11-20T12:03:00Z"}
    response.update(definition={"id": "AbC123", "title": "Contact us", "fields": fields}, answers=answers)
    data = {"event_id": event_id, "event_type": "form_response", "form_response": response}
    body = json.dumps(data, ensure_ascii=False).encode()  # as Typeform sends it: UTF-8, unescaped
    digest = base64.b64encode(hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"Content-Type": "application/json", "Typeform-Signature": f"sha256={digest}"}
    return Post("typeform", "tf", body, headers, [email], event_id)


def facebook_post(graph: FakeGraphAPI, emails: list[str]) -> Post:
    """A Meta notification naming one new Graph lead per e-mail (Meta batches several changes)."""
    ids = [graph.add_lead({"full_name": "Ada Lovelace", "email": email})["id"] for email in emails]
    body = json.dumps(notification([leadgen_change(lead_id) for lead_id in ids])).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
    return Post("facebook", "fb", body, headers, list(emails), ",".join(ids))


def book(ledger: Ledger, post: Post, response: httpx.Response) -> None:
    """Enters one answer in the ledger the way its kind answers (Google's ``{}`` is booked by the caller)."""
    post.answers.append(response)
    if not response.is_success or post.kind == "google_ads":
        if not response.is_success:
            ledger.refuse(response, post.emails[0])
        return
    if post.kind == "facebook":
        answer = response.json()
        ledger.duplicate(answer["duplicates"])
        if answer["duplicates"] == 0:
            for email in post.emails:
                ledger.acknowledge(email, source=post.source)
        return
    ledger.record(response, post.emails[0])


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI() as fake:
        yield fake


@pytest.fixture
def make_platform_stack(make_stack, graph: FakeGraphAPI) -> Callable[..., Stack]:
    """Builds a stack whose config has a source of every kind, the facebook one reading the fake Graph API."""

    def build(workers: int = 2, **options: Any) -> Stack:
        sources = SOURCES.format(
            json_secret=JSON_SECRET,
            google_key=GOOGLE_KEY,
            typeform_secret=TYPEFORM_SECRET,
            app_secret=APP_SECRET,
            verify_token=VERIFY_TOKEN,
            page_token=PAGE_TOKEN,
            graph_url=graph.url,
        )
        stack: Stack = make_stack(extra_sources=sources, web_concurrency=3, **options)
        stack.start_gateway()
        for _ in range(workers):
            stack.start_worker()
        return stack

    return build


@pytest.fixture
def platform_stack(make_platform_stack: Callable[..., Stack]) -> Stack:
    """Two workers with the default delivery settings (bulk calls on)."""
    return make_platform_stack()


def send(stack: Stack, ledger: Ledger, posts: list[Post], threads: int = 16) -> float:
    """Posts everything from ``threads`` concurrent senders, books each answer; returns the seconds taken."""
    started = time.monotonic()

    def one(post: Post) -> tuple[Post, httpx.Response]:
        return post, stack.post(post.source, post.body, post.headers)

    for post, response in in_parallel(one, posts, threads=threads):
        book(ledger, post, response)
    return time.monotonic() - started


def test_concurrent_posts_to_every_source_kind_are_all_delivered_once(
    platform_stack: Stack, graph: FakeGraphAPI, new_email: Callable[[str], str]
) -> None:
    stack = platform_stack
    ledger = Ledger(stack)
    per_kind = 40
    posts = [form_post(new_email("form")) for _ in range(per_kind)]
    posts += [json_post(new_email("json"), f"wf-{i}") for i in range(per_kind)]
    posts += [google_post(new_email("google"), f"gl-{i}") for i in range(per_kind)]
    posts += [typeform_post(new_email("typeform"), f"tf-{i}") for i in range(per_kind)]
    posts += [facebook_post(graph, [new_email("fb"), new_email("fb")]) for _ in range(per_kind // 2)]
    random.Random(SEED).shuffle(posts)

    seconds = send(stack, ledger, posts)
    assert ledger.refused == [] and ledger.duplicates == 0
    for post in posts:
        if post.kind == "google_ads":
            assert post.answers[0].status_code == 200 and post.answers[0].json() == {}
            ledger.acknowledge(post.emails[0], source=post.source)
    events = ledger.settle(timeout=60)

    kinds = Counter(stack.store.get(i).kind for i in events)
    graph_reads = len(graph.lead_reads())  # the workers' watchdogs also ask about tokens and subscriptions
    verdict = ledger.verdict(
        events,
        "all source kinds",
        f"by_kind={dict(sorted(kinds.items()))} posts={len(posts)} posting={seconds:.2f}s graph_reads={graph_reads}",
    )
    assert verdict.acknowledged == 5 * per_kind and verdict.dead_lettered == 0
    assert kinds == dict.fromkeys(("form", "json", "google_ads", "typeform", "facebook"), per_kind)
    assert graph_reads == per_kind, "each Facebook lead should be read from the Graph API once"
    assert len(stack.crm.contacts) == verdict.acknowledged
    ledger.check_metrics(verdict, "all source kinds")


def test_bursts_of_duplicate_resends_are_delivered_once_each(
    platform_stack: Stack, graph: FakeGraphAPI, new_email: Callable[[str], str]
) -> None:
    stack = platform_stack
    ledger = Ledger(stack)
    leads_per_kind, resends = 5, 20
    originals = []
    for i in range(leads_per_kind):
        originals += [
            form_post(new_email("form"), idempotency_key=f"idem-{i}"),
            json_post(new_email("json"), f"wf-dup-{i}"),
            google_post(new_email("google"), f"gl-dup-{i}"),
            typeform_post(new_email("typeform"), f"tf-dup-{i}"),
            facebook_post(graph, [new_email("fb")]),
        ]
    # The copies of one lead sit next to each other, so all of them are in flight together
    # (16 senders, 3 gunicorn workers x 4 threads): the dedupe keys are raced for, not queued for.
    posts = [post for post in originals for _ in range(resends)]

    seconds = send(stack, ledger, posts)
    assert ledger.refused == []
    for post in originals:
        assert len(post.answers) == resends
        if post.kind == "google_ads":  # Google's answer is {} for a new lead and a re-send alike
            assert {r.status_code for r in post.answers} == {200}
            ledger.acknowledge(post.emails[0], source=post.source)
            ledger.duplicate(resends - 1)
        elif post.kind == "facebook":
            assert sorted(r.json()["duplicates"] for r in post.answers) == [0] + [1] * (resends - 1)
        else:
            named = [r.json() for r in post.answers]
            assert len({a["event_id"] for a in named}) == 1, f"{post.kind}: re-sends named different events"
            assert sorted(a["duplicate"] for a in named) == [False] + [True] * (resends - 1)
    events = ledger.settle(timeout=60)

    stored = Counter(e.status for _, e in stack.store.iter_index())
    verdict = ledger.verdict(
        events,
        "duplicate bursts",
        f"leads={len(originals)} posts={len(posts)} ({resends} copies each, 16 at once) "
        f"stored={dict(sorted(stored.items()))} posting={seconds:.2f}s",
    )
    assert verdict.acknowledged == len(originals) and verdict.dead_lettered == 0
    assert ledger.duplicates == len(originals) * (resends - 1)
    assert stored["duplicate"] == ledger.duplicates, "every re-send should be kept as a duplicate event"
    assert len(graph.lead_reads()) == leads_per_kind, "a re-sent Facebook lead should be read once"
    assert len(stack.crm.contacts) == len(originals)
    ledger.check_metrics(verdict, "duplicate bursts")


class DeadLettered(AssertionError):
    """The failure this test guards against (the bug it was written for), told apart from any other."""


def test_a_facebook_lead_fetched_by_the_worker_travels_in_a_bulk_call(
    make_platform_stack: Callable[..., Stack], graph: FakeGraphAPI, new_email: Callable[[str], str]
) -> None:
    # Deterministic: the Facebook lead's job is first in the (FIFO) queue, ten form leads wait
    # behind it, and the only worker starts after all of them are stored; so the Facebook lead's
    # first attempt fetches it from the Graph API and finds ten leads to coalesce with.
    stack = make_platform_stack(workers=0)
    ledger = Ledger(stack)
    posts = [facebook_post(graph, [new_email("fb")])] + [form_post(new_email("form")) for _ in range(10)]
    for post in posts:
        book(ledger, post, stack.post(post.source, post.body, post.headers))
    assert ledger.acknowledged == len(posts) and ledger.refused == []
    stack.start_worker()
    events = ledger.settle(timeout=30)

    verdict = ledger.verdict(events, "facebook in a bulk call")
    if verdict.dead_lettered:
        dead = [(e.kind, e.last_error) for e in events.values() if e.status == "dead"]
        raise DeadLettered(f"dead-lettered without any fault injected: {dead}")
    assert len(graph.lead_reads()) == 1
    ledger.check_metrics(verdict, "facebook in a bulk call")
