"""How an event's JSON payloads are stored: compact JSON, deflated with a preset dictionary, marked.

A stored payload (the raw event, the lead, the request metadata, an attempt record) is either

- ``\\x00`` + ``1`` + raw deflate of its compact JSON with :data:`DICTIONARY_V1` as the preset
  dictionary (what is written now), or
- plain JSON text (events written before compaction), which never starts with a NUL byte.

A lead is a few hundred bytes: deflate alone saves a third of that, as most of it is field names
and structure every lead repeats. The preset dictionary holds that structure (JSON keys of the
request metadata, of ConnectGain's lead and answers, of Meta's Graph lead and webhook, header
values every browser sends), so only what is particular to a lead costs bytes. It holds no lead's
values. A dictionary is frozen once released: payloads name theirs by the marker's second byte,
so a better one is a ``DICTIONARY_V2`` next to this one, never an edit of it.

Pure (no Redis): :mod:`leadgate.events` is the only caller.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

__all__ = ["DICTIONARY_V1", "decode_json", "encode_json", "is_compressed"]

MARKER = b"\x00"
"""Plain JSON never starts with a NUL byte, so this tells a compressed payload from an old one."""

_DICTIONARY_PARTS_V1 = (
    # CRM answers and attempt records
    '{"success": true, "message": "Lead created successfully", "data": {"contact": {"id": "", "first_name": "", '
    '"last_name": "", "emails": [""], "phones": ["+1"], "source": "", "tags": [""], "created_at": "20'
    '"}, "is_new": true, "deal": {"id": ""}}}',
    '{"index":0,"success":true,"contact_id":"","is_new":false,"error":"","message":""}',
    # a create-lead answer as an attempt record holds it: a JSON string inside JSON
    '"response":"{\\"success\\": true, \\"message\\": \\"Lead created successfully\\", \\"data\\": '
    '{\\"contact\\": {\\"id\\": \\"\\", \\"first_name\\": \\"\\", \\"last_name\\": \\"\\", '
    '\\"emails\\": [\\"\\"], \\"phones\\": [\\"+1\\"], \\"source\\": \\"facebook_lead_ads\\", '
    '\\"source\\": \\"website_form\\", \\"tags\\": [\\"\\"], \\"created_at\\": \\"20T:Z\\"}, '
    '\\"is_new\\": true}}","outcome":"delivered","duration_ms":',
    '{"n":1,"at":1,"status_code":201,"batch":100,"response":"{\\"index\\":0,\\"success\\":true,\\"contact_id\\":\\"'
    '","error":"","outcome":"retry","outcome":"dead","outcome":"delivered","duration_ms":',
    # Meta: the webhook, the Graph lead
    '{"webhook":{"leadgen_id":"","page_id":"","form_id":"","adgroup_id":"","ad_id":"","created_time":},'
    '"entry_time":,"lead":{"created_time":"20T+0000","id":"","ad_id":"","ad_name":"","adset_id":"",'
    '"adset_name":"","campaign_id":"","campaign_name":"","form_id":"","is_organic":false,"platform":"fb",'
    '"platform":"ig","partner_name":"","field_data":[{"name":"full_name","values":[""]},{"name":"first_name",'
    '"values":[""]},{"name":"last_name","values":[""]},{"name":"email","values":[""]},{"name":"phone_number",'
    '"values":["+1"]},{"name":"city","values":[""]},{"name":"zip_code","values":[""]},{"name":"company_name",'
    '"values":[""]},{"name":"job_title","values":[""]},{"name":"","values":[""]}],"custom_disclaimer_responses":'
    '[{"checkbox_key":"optional_1","is_checked":"1"},{"checkbox_key":"optional_2","is_checked":""}]}}',
    # a form post's fields
    '{"fields":[["name",""],["first_name",""],["last_name",""],["full_name",""],["email",""],["phone",""],'
    '["company",""],["message",""],["comments",""],["utm_source",""],["utm_medium",""],["utm_campaign",""],'
    '["utm_term",""],["utm_content",""],["gclid",""],["fbclid",""],["page_url","https://"],["consent","on"]]}',
    # the request metadata
    '{"method":"POST","content_type":"application/json","content_type":"multipart/form-data; boundary=",'
    '"remote_addr":"","headers":{"user-agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 '
    '(KHTML, like Gecko) Chrome/ Safari/537.36","user-agent":"Mozilla/5.0 (iPhone; CPU iPhone OS  like Mac OS X) '
    'AppleWebKit/605.1.15 (KHTML, like Gecko) Version/ Mobile/15E148 Safari/604.1","user-agent":"Mozilla/5.0 '
    '(Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/.0.0.0 Safari/537.36",'
    '"user-agent":"facebookexternalua","accept":"*/*","x-hub-signature-256":"[redacted]","x-hub-signature":'
    '"[redacted]","accept":"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",'
    '"origin":"https://www.","referer":"https://www.","x-forwarded-for":"","x-forwarded-proto":"https",'
    '"x-real-ip":"","x-request-id":"","content-type":"application/x-www-form-urlencoded","content-length":""},'
    '"query":{},"body_bytes":',
    # the normalized lead (ConnectGain's create-lead payload)
    '{"first_name":"","last_name":"","email":"","emails":[""],"phone":"+1","phones":["+1"],"company_name":"",'
    '"description":"","opt_in_status":true,"custom_fields":{"utm_source":"","utm_medium":"","utm_campaign":"",'
    '"consent_optional_1":true,"consent_optional_2":false,"leadgen_id":"","page_id":"","form_id":"","ad_id":"",'
    '"ad_name":"","adset_id":"","adset_name":"","campaign_id":"","campaign_name":"","created_time":"20T+0000",'
    '"is_organic":false,"platform":"fb"},"source":"website_form","source":"facebook_lead_ads","tags":[""]}',
    # the three payloads of one event, as :func:`leadgate.events.encode_fields` writes them
    '{"raw":{"fields":[["email",""]]},"lead":null,"request":{"method":"POST","content_type":'
    '"application/x-www-form-urlencoded","remote_addr":"","headers":{"user-agent":"Mozilla/5.0 (',
)
DICTIONARY_V1 = "".join(_DICTIONARY_PARTS_V1).encode()
"""Deflate's preset dictionary for marker ``1``: structure only, most frequent last (shortest distances)."""

_DICTIONARIES = {b"1": DICTIONARY_V1}
_CURRENT = b"1"
MEM_LEVEL = 6
"""deflate's ``memLevel``. Each payload builds a compressor with the dictionary: at zlib's default 8
that costs 33-49 µs a payload (its hash tables are allocated and cleared), at 6 about 10 µs; a payload
of a few hundred bytes compresses to the same size (``tests/leadgate/test_event_encoding.py``).
Raw deflate is read back the same way whatever the level: this changes nothing stored."""


def encode_json(value: Any) -> bytes:
    """``value`` as stored: its compact JSON, deflated with the current dictionary, behind the marker."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, _DICTIONARIES[_CURRENT])
    return MARKER + _CURRENT + packer.compress(text) + packer.flush()


def is_compressed(data: bytes) -> bool:
    return data[:1] == MARKER


def decode_json(data: bytes | str) -> Any:
    """A stored payload back as its value: compressed (any known dictionary) or old plain JSON; '' is None."""
    if isinstance(data, str):
        data = data.encode()
    if not data:
        return None
    if not is_compressed(data):
        return json.loads(data)
    dictionary = _DICTIONARIES.get(data[1:2])
    if dictionary is None:
        raise ValueError(f"stored payload uses an unknown dictionary {data[1:2]!r}")
    unpacker = zlib.decompressobj(-15, dictionary)
    return json.loads(unpacker.decompress(data[2:]) + unpacker.flush())
