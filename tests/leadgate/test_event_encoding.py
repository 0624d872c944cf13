"""How events are stored: compressed payloads, a small summary hash, payload retention, the memory budget."""

from __future__ import annotations

import json
import zlib

import pytest

from adapters import KINDS
from leadgate.config import parse_yaml
from leadgate.events import EventStore
from leadgate.operations import replay_event
from leadgate.payloads import DICTIONARY_V1
from leadgate.payloads import decode_json
from leadgate.payloads import encode_json
from leadgate.runtime import Runtime
from leadgate.sandbox import footprint
from tests.support.config import API_KEY
from tests.support.config import DESTINATION_CONFIG
from tests.support.stack import report

BUDGET_BYTES = 1536
"""Issue 15: a delivered event costs at most 1.5 KB of Redis memory (its keys and its index entries)."""
MEASURED_EVENTS = 300


def footprint_runtime(crm, redis_client, redis_url, **options: str) -> Runtime:
    text = DESTINATION_CONFIG.format(crm_url=crm.url, api_key=API_KEY)
    text += "".join(f"{name}: {value}\n" for name, value in options.items())
    text += (
        "sources:\n" + footprint.FORM_SOURCE_YAML.format(name="web") + footprint.FACEBOOK_SOURCE_YAML.format(name="fb")
    )
    return Runtime.from_config(parse_yaml(text, {"REDIS_URL": redis_url}, kinds=KINDS), client=redis_client)


def test_payloads_round_trip_compressed_and_old_plain_json_still_reads():
    value = {"fields": [["email", "ada@example.com"], ["message", "héllo"]], "n": 1.5}
    stored = encode_json(value)
    assert stored[:1] == b"\x00" and len(stored) < len(json.dumps(value))
    assert decode_json(stored) == value
    assert decode_json(json.dumps(value).encode()) == value
    assert decode_json(b"") is None


def test_payloads_compressed_at_zlibs_default_memory_level_still_read_and_are_no_smaller():
    """Payloads written before MEM_LEVEL was lowered (memLevel 9) read back; the cheaper compressor loses no bytes."""
    value = {
        "raw": {"fields": [["name", "Ada Lovelace"], ["email", "ada@example.com"], ["phone", "+1 415 555 0100"]]},
        "lead": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+14155550100"},
        "request": {"method": "POST", "content_type": "application/x-www-form-urlencoded", "query": {}},
    }
    text = json.dumps(value, separators=(",", ":")).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY_V1)
    before = b"\x001" + packer.compress(text) + packer.flush()
    assert decode_json(before) == value
    assert len(encode_json(value)) <= len(before)


def test_an_event_stored_before_compaction_reads_updates_and_replays(rt, deliver_all):
    event_id = "ev_0190000000000000000000aa"
    raw = {"fields": [["email", "old@example.com"], ["name", "Old Format"]]}
    rt.redis.hset(
        rt.store.key(event_id),
        mapping={
            "source": "contact-us",
            "kind": "form",
            "destination": "main",
            "status": "dead",
            "received_at": "1700000000.0",
            "updated_at": "1700000001.0",
            "attempts": "1",
            "dispatch": "1",
            "raw": json.dumps(raw),
            "lead": "",
            "request": json.dumps({"method": "POST"}),
            "dedupe_keys": "[]",
            "last_error": "boom",
            "next_attempt_at": "",
        },
    )
    rt.redis.rpush(rt.store.attempts_key(event_id), json.dumps({"n": 1, "outcome": "dead"}))
    rt.redis.zadd(rt.store.dead_key, {event_id: 1700000001.0})
    event = rt.store.get(event_id)
    assert event is not None and event.raw == raw and event.request == {"method": "POST"} and event.has_payloads
    assert rt.store.attempts(event_id) == [{"n": 1, "outcome": "dead"}]
    assert replay_event(rt, event_id).ok
    deliver_all(rt)
    event = rt.store.get(event_id)
    assert event.status == "delivered" and event.raw == raw and event.lead["email"] == "old@example.com"
    assert not rt.redis.hexists(rt.store.key(event_id), "raw")  # moved into the payload list
    assert [a["outcome"] for a in rt.store.attempts(event_id)] == ["dead", "delivered"]


def test_delivered_event_keeps_a_small_summary_and_payloads_for_payload_retention_days(crm, redis_client, redis_url):
    rt = footprint_runtime(crm, redis_client, redis_url, retention_days="30", payload_retention_days="7")
    event_id = footprint.acknowledge_form(rt, "web", 1)
    footprint.deliver_everything(rt)
    summary = {k.decode(): v for k, v in redis_client.hgetall(rt.store.key(event_id)).items()}
    assert summary["status"] == b"delivered"
    assert not {"raw", "lead", "request", "lease_until", "batchable", "next_attempt_at", "last_error"} & set(summary)
    assert all(len(v) <= 64 for v in summary.values())
    assert redis_client.object("encoding", rt.store.key(event_id)) in (b"listpack", b"ziplist")
    assert 29 * 86400 < redis_client.ttl(rt.store.key(event_id)) <= 30 * 86400
    assert 6 * 86400 < redis_client.ttl(rt.store.payload_key(event_id)) <= 7 * 86400
    event = rt.store.get(event_id)
    assert event.lead["email"] == "ada.1@example.com" and event.delivered_at > 0
    assert rt.store.attempts(event_id)[0]["outcome"] == "delivered"


def test_replay_after_payload_retention_says_so(rt, deliver_all):
    event_id = footprint.acknowledge_form(rt, "contact-us", 2)
    deliver_all(rt)
    rt.redis.delete(rt.store.payload_key(event_id))  # what payload_retention_days does
    event = rt.store.get(event_id)
    assert event is not None and not event.has_payloads and event.raw is None and event.status == "delivered"
    assert rt.store.attempts(event_id) == []
    result = replay_event(rt, event_id, force=True)
    assert not result.ok and "payload_retention_days" in result.message


def test_rejected_events_expire_with_retention_days(rt, client):
    response = client.post("/hooks/contact-us", data={"_gotcha": ""}, headers={"Origin": "https://example.com"})
    assert response.status_code < 500
    ids = [i.decode() for i in rt.redis.zrange(rt.store.index_key, 0, -1)]
    rejected = [e for e in rt.store.get_many(ids) if e.status == "rejected"]
    assert rejected, "an empty form post is kept as a rejected event"
    assert 0 < rt.redis.ttl(rt.store.key(rejected[0].id)) <= rt.store.retention_seconds
    assert 0 < rt.redis.ttl(rt.store.payload_key(rejected[0].id)) <= rt.store.payload_retention_seconds


def test_payload_retention_is_capped_by_retention(redis_client):
    store = EventStore(redis_client, retention_days=3, payload_retention_days=7)
    assert store.payload_retention_seconds == store.retention_seconds == 3 * 86400


@pytest.mark.parametrize("kind", ["form", "facebook"])
def test_a_delivered_event_costs_at_most_1_5_kb(kind, crm, redis_client, redis_url):
    rt = footprint_runtime(crm, redis_client, redis_url)
    acknowledge = footprint.acknowledge_form if kind == "form" else footprint.acknowledge_facebook
    ids = [acknowledge(rt, "web" if kind == "form" else "fb", i) for i in range(MEASURED_EVENTS)]
    footprint.deliver_everything(rt)
    assert {e.status for e in rt.store.get_many(ids)} == {"delivered"}
    measured = footprint.measure(rt, ids)
    version = redis_client.info("server")["redis_version"]
    report(
        f"memory per delivered {kind} event (redis {version}, {MEASURED_EVENTS} events): {measured.event:.0f} B "
        f"(keys {measured.record:.0f} + index {measured.index:.0f}; budget {BUDGET_BYTES}); "
        f"dedupe claims {measured.dedupe:.0f} B, rq jobs left {measured.jobs:.0f} B"
    )
    assert measured.event <= BUDGET_BYTES
    assert measured.jobs == 0
