"""The ``json`` kind without HTTP: config validation, authentication, splitting bodies, mapping, templates."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest

from adapters import get_adapter
from adapters import webhook as json_kind
from adapters.base import BadInput
from adapters.base import InboundRequest
from adapters.base import Unauthorized
from adapters.base import Unprocessable
from leadgate.config import ConfigError
from leadgate.config import SourceConfig
from tests.support.config import parse_yaml

HEAD = """
destinations: {main: {base_url: "http://127.0.0.1:9", api_key: k}}
sources:
  hook:
    kind: json
"""


OPEN = "    auth: none\n"
"""What a source with neither token nor secret must say; :func:`source` adds it to such options."""


def source(options: str, **env: str) -> SourceConfig:
    """The ``hook`` source from YAML lines indented under it (open with ``auth: none`` unless they authenticate)."""
    authenticates = any(f"    {key}:" in options for key in ("token", "secret", "auth"))
    return parse_yaml(HEAD + options + ("" if authenticates else OPEN), env).sources["hook"]


def config_error(options: str) -> str:
    with pytest.raises(ConfigError) as err:
        source(options)
    return str(err.value)


def request(body: Any, headers: dict[str, str] | None = None, query: dict[str, list[str]] | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return InboundRequest(
        method="POST",
        content_type="application/json",
        body=raw,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query=query or {},
    )


def lead_of(src: SourceConfig, body: Any) -> dict[str, Any]:
    [event] = json_kind.parse(request(body), src)
    return json_kind.normalize(event.raw, src)


def test_registered_as_the_json_kind():
    assert get_adapter("json") is json_kind
    assert json_kind.NORMALIZE_ON_RECEIVE is True


# --- config load ---------------------------------------------------------------------------------


def test_valid_config_keeps_expressions_as_text():
    src = source(
        """    token: tok
    items: payload.submissions
    event_id: id
    mapping:
      first_name: 'data."First Name"'
      custom_fields.page: pageUrl
"""
    )
    assert src.option("mapping") == {"first_name": 'data."First Name"', "custom_fields.page": "pageUrl"}
    assert src.option("unmapped") == "custom_fields"
    assert src.source == "webhook"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("    mapping: {email: 'a['}\n", "sources.hook.mapping.email: not a valid JMESPath expression"),
        ("    mapping: {first_name: 'data.First Name'}\n", 'quote names with spaces or dashes: payload.data."First'),
        ("    mapping: {email: 'lower(email)'}\n", "sources.hook.mapping.email: unknown JMESPath function lower()"),
        ("    mapping: {email: 'join(emails)'}\n", "sources.hook.mapping.email: join() takes 2 argument(s), not 1"),
        ("    mapping: {custom_fields.x: '{a: b'}\n", "sources.hook.mapping.custom_fields.x: not a valid JMESPath"),
        ("    items: 'leads[?'\n    mapping: {email: email}\n", "sources.hook.items: not a valid JMESPath"),
        ("    event_id: ''\n    mapping: {email: email}\n", "sources.hook.event_id: not a valid JMESPath"),
        ("    mapping: {emial: email}\n", "sources.hook.mapping.emial (the name): 'emial' is not a ConnectGain field"),
        ("    mapping: {drop: email}\n", "sources.hook.mapping.drop (the name)"),
        ("    mapping: {}\n", "sources.hook.mapping: map at least one ConnectGain field"),
        ("    token: x\n", "sources.hook.mapping: map at least one ConnectGain field"),
        ("    unmapped: keep\n    mapping: {email: email}\n", "sources.hook.unmapped: Must be one of"),
        ("    mapping: {email: email}\n    jmespath: x\n", "sources.hook.jmespath: Unknown field"),
    ],
)
def test_bad_config_fails_at_load_naming_source_and_key(options, expected):
    assert expected in config_error(options)


def test_an_unset_token_variable_is_an_error_not_an_open_endpoint():
    message = config_error("    token: ${HOOK_TOKEN}\n    mapping: {email: email}\n")
    assert "sources.hook.token: is empty (an unset ${VAR}?)" in message
    assert "sources.hook.secret" in config_error("    secret: ''\n    mapping: {email: email}\n")
    assert source("    token: ${HOOK_TOKEN}\n    mapping: {email: email}\n", HOOK_TOKEN="t").option("token") == "t"


# --- verify --------------------------------------------------------------------------------------

TOKEN_SOURCE = "    token: s3cret-token\n    mapping: {email: email}\n"
SECRET_SOURCE = "    secret: whsec-\u00e9t\u00e9\n    mapping: {email: email}\n"


def signed(body: bytes, secret: str = "whsec-\u00e9t\u00e9") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_token_as_bearer_header_or_query_passes():
    src = source(TOKEN_SOURCE)
    json_kind.verify(request({}, {"Authorization": "Bearer s3cret-token"}), src)
    json_kind.verify(request({}, {"Authorization": "bearer   s3cret-token "}), src)
    json_kind.verify(request({}, query={"token": ["s3cret-token"]}), src)
    json_kind.verify(request({}, {"Authorization": "Bearer wrong"}, {"token": ["s3cret-token"]}), src)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, {}),
        ({"Authorization": "Bearer s3cret-tokeN"}, {}),
        ({"Authorization": "Basic s3cret-token"}, {}),
        ({"Authorization": "s3cret-token"}, {}),
        ({}, {"token": ["s3cret"]}),
        ({}, {"token": [""]}),
        ({"X-Token": "s3cret-token"}, {}),
    ],
)
def test_missing_or_wrong_token_is_401(headers, query):
    with pytest.raises(Unauthorized, match="token"):
        json_kind.verify(request({}, headers, query), source(TOKEN_SOURCE))


def test_an_open_source_accepts_anything():
    json_kind.verify(request({}), source("    mapping: {email: email}\n"))


def test_neither_token_nor_secret_needs_auth_none_said_out_loud():
    """A stranger who finds the URL can post leads to an open source: it is never one by omission."""
    with pytest.raises(ConfigError, match="auth: none"):
        parse_yaml(HEAD + "    mapping: {email: email}\n", {})
    assert "contradicts" in config_error("    token: t\n    auth: none\n    mapping: {email: email}\n")
    assert json_kind.warnings(source("    mapping: {email: email}\n"))
    assert json_kind.warnings(source("    token: t\n    mapping: {email: email}\n")) == []


def test_on_an_open_source_an_event_id_counts_only_with_the_lead_it_came_with():
    """Anyone may post there, so a stranger's post with a real lead's id must not make that lead a duplicate."""
    src = source("    event_id: id\n" + PLAIN)
    [forged] = json_kind.parse(request({"id": "sub-1001", "email": "troll@example.com"}), src)
    [real] = json_kind.parse(request({"id": "sub-1001", "email": "jane@example.com"}), src)
    [resent] = json_kind.parse(request({"email": "jane@example.com", "id": "sub-1001"}), src)
    assert forged.dedupe_keys != real.dedupe_keys
    assert real.dedupe_keys == resent.dedupe_keys and real.dedupe_keys[0].startswith("sub-1001:")
    authenticated = source("    token: t\n    event_id: id\n" + PLAIN)
    [trusted] = json_kind.parse(request({"id": "sub-1001", "email": "jane@example.com"}), authenticated)
    assert trusted.dedupe_keys == ("sub-1001",)


def test_signature_is_checked_on_the_raw_bytes():
    src = source(SECRET_SOURCE)
    body = '{"email":"\u00e9@example.com", "a":"/%"}'.encode()
    json_kind.verify(request(body, {"X-Signature-256": signed(body)}), src)
    json_kind.verify(request(body, {"X-Signature-256": signed(body).upper().replace("SHA256=", "sha256=")}), src)
    reserialized = json.dumps(json.loads(body)).encode()
    with pytest.raises(Unauthorized, match="does not match"):
        json_kind.verify(request(reserialized, {"X-Signature-256": signed(body)}), src)
    with pytest.raises(Unauthorized, match="missing X-Signature-256"):
        json_kind.verify(request(body), src)
    with pytest.raises(Unauthorized, match="does not match"):
        json_kind.verify(request(body, {"X-Signature-256": signed(body, "other")}), src)
    with pytest.raises(Unauthorized, match="not a hex digest"):
        json_kind.verify(request(body, {"X-Signature-256": "sha256=zz"}), src)


def test_token_and_secret_together_both_required():
    src = source("    token: tok\n    secret: sec\n    mapping: {email: email}\n")
    body = b'{"email": "a@b.co"}'
    with pytest.raises(Unauthorized, match="X-Signature-256"):
        json_kind.verify(request(body, {"Authorization": "Bearer tok"}), src)
    with pytest.raises(Unauthorized, match="token"):
        json_kind.verify(request(body, {"X-Signature-256": signed(body, "sec")}), src)
    json_kind.verify(request(body, {"Authorization": "Bearer tok", "X-Signature-256": signed(body, "sec")}), src)


# --- parse ---------------------------------------------------------------------------------------

PLAIN = "    mapping: {email: email}\n"


def test_an_object_body_is_one_lead_stored_as_item():
    [event] = json_kind.parse(request({"email": "a@b.co", "n": 1}), source(PLAIN))
    assert event.raw == {"item": {"email": "a@b.co", "n": 1}}
    assert event.dedupe_keys == () and event.outcome == "queued"


def test_a_top_level_array_is_one_lead_per_element():
    events = json_kind.parse(request([{"email": "a@b.co"}, {"email": "c@d.co"}]), source(PLAIN))
    assert [e.raw["item"]["email"] for e in events] == ["a@b.co", "c@d.co"]


def test_items_selects_the_leads_and_event_id_keys_each_one():
    src = source("    items: payload.submissions\n    event_id: meta.id\n" + PLAIN)
    body = {"payload": {"submissions": [{"email": "a@b.co", "meta": {"id": 7}}, {"email": "c@d.co"}]}}
    first, second = json_kind.parse(request(body), src)
    assert first.raw == {"item": {"email": "a@b.co", "meta": {"id": 7}}}
    assert first.dedupe_keys[0].startswith("7:")  # an open source: the id with the lead's digest
    assert second.dedupe_keys == ()


def test_items_filter_selecting_nothing_is_one_ignored_event():
    src = source("    items: \"[@][?event=='invitee.created']\"\n" + PLAIN)
    [lead] = json_kind.parse(request({"event": "invitee.created", "email": "a@b.co"}), src)
    assert lead.outcome == "queued"
    [ignored] = json_kind.parse(request({"event": "invitee.canceled", "email": "a@b.co"}), src)
    assert ignored.outcome == "ignored" and ignored.reason == "no leads in the body"
    [empty] = json_kind.parse(request([]), source(PLAIN))
    assert empty.outcome == "ignored"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            {"payload": {"submissions": {"email": "a@b.co"}}},
            "items 'payload.submissions' must select an array.*an object",
        ),
        ({"payload": {}}, "items 'payload.submissions' must select an array.*nothing"),
        ({"payload": {"submissions": "x"}}, "a string"),
    ],
)
def test_items_selecting_a_non_array_is_400_naming_the_expression(body, match):
    with pytest.raises(BadInput, match=match) as err:
        json_kind.parse(request(body), source("    items: payload.submissions\n" + PLAIN))
    assert "items" in err.value.errors


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{not json", "not valid JSON"),
        (b"email=a%40b.co", "not valid JSON"),
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b'"just a string"', "an object \\(one lead\\) or an array of leads, not a string"),
        (b"42", "not a number"),
        (b'[{"email": "a@b.co"}, 3]', "lead 1 of the body is a number"),
    ],
)
def test_bodies_that_are_not_leads_are_400(body, match):
    with pytest.raises(BadInput, match=match):
        json_kind.parse(request(body), source(PLAIN))


def test_event_id_must_select_a_scalar():
    src = source("    token: t\n    event_id: meta\n" + PLAIN)
    with pytest.raises(BadInput, match="event_id 'meta' must select a string or number.*an object"):
        json_kind.parse(request({"email": "a@b.co", "meta": {"id": 1}}), src)
    [event] = json_kind.parse(request({"email": "a@b.co", "meta": "  abc "}), src)
    assert event.dedupe_keys == ("abc",)


# --- normalize -----------------------------------------------------------------------------------

WEBFLOW = {
    "triggerType": "form_submission",
    "payload": {
        "name": "Contact Us",
        "siteId": "65427cf400e02b306eaa049c",
        "data": {
            "First Name": "Zaphod",
            "Last Name": "Beeblebrox",
            "email": "Zaphod@HeartOfGold.ai",
            "Phone Number": 14155552671,
            "Company": "Heart of Gold",
            "Interests": ["Towels", "Tea"],
        },
        "submittedAt": "2026-11-20T12:35:16.117Z",
        "id": "6321ca84df3949bfc6752327",
        "formId": "65429eadebe8a9f3a30f62d0",
    },
}

WEBFLOW_SOURCE = """    event_id: payload.id
    phone_region: US
    mapping:
      first_name: payload.data."First Name"
      last_name: 'payload.data."Last Name"'
      email: payload.data.email
      phone: payload.data."Phone Number"
      company_name: payload.data.Company
      custom_fields.interests: payload.data.Interests
      custom_fields.form: payload.name
      custom_fields.submission: "{id: payload.id, form: payload.formId}"
"""


def test_nested_paths_and_quoted_names_with_spaces():
    lead = lead_of(source(WEBFLOW_SOURCE), WEBFLOW)
    assert lead["first_name"] == "Zaphod" and lead["last_name"] == "Beeblebrox"
    assert lead["email"] == "zaphod@heartofgold.ai"
    assert lead["phone"] == "+14155552671"
    assert lead["company_name"] == "Heart of Gold"
    assert lead["source"] == "webhook"
    assert lead["custom_fields"] == {
        "interests": ["Towels", "Tea"],
        "form": "Contact Us",
        "submission": {"id": "6321ca84df3949bfc6752327", "form": "65429eadebe8a9f3a30f62d0"},
        # every value the mapping does not read, at any depth
        "triggerType": "form_submission",
        "payload.siteId": "65427cf400e02b306eaa049c",
        "payload.submittedAt": "2026-11-20T12:35:16.117Z",
    }


def test_lists_of_emails_and_phones_become_primary_plus_extras():
    src = source("    phone_region: GB\n    mapping: {email: contact.emails, phone: 'contact.phones[].number'}\n")
    body = {
        "contact": {
            "emails": ["Ann@Example.com", "not-an-email", "ann@work.example.com", "ann@example.com"],
            "phones": [{"number": "020 7946 0018"}, {"number": "+1 415 555 2671"}],
        }
    }
    lead = lead_of(src, body)
    assert lead["email"] == "ann@example.com" and lead["emails"] == ["ann@work.example.com"]
    assert lead["phone"] == "+442079460018" and lead["phones"] == ["+14155552671"]
    assert lead["custom_fields"] == {"raw_email": "not-an-email"}


def test_unmapped_custom_fields_keeps_every_other_value_at_any_depth():
    src = source("    mapping: {email: contact.email, full_name: \"join(' ', [first, last])\"}\n")
    body = {
        "contact": {"email": "a@b.co"},
        "first": "Ann",
        "last": "Lee",
        "utm_source": "ads",
        "score": 7,
        "vip": False,
        "nothing": None,
        "blank": "  ",
        "nested": {"x": 1},
        "list": [1, 2],
    }
    lead = lead_of(src, body)
    assert lead["first_name"] == "Ann" and lead["last_name"] == "Lee"
    # first/last and contact.* are read by the mapping; nulls and blanks carry nothing
    assert lead["custom_fields"] == {"utm_source": "ads", "score": 7, "vip": False, "nested.x": 1, "list": [1, 2]}


def test_unmapped_values_below_a_mapped_path_are_kept_beside_it():
    src = source("    mapping: {email: payload.data.Email}\n")
    body = {"payload": {"data": {"Email": "a@b.co", "Message": "Call me"}, "attendees": [{"email": "x@y.co"}]}}
    custom = lead_of(src, body)["custom_fields"]
    assert custom == {"payload.data.Message": "Call me", "payload.attendees.0.email": "x@y.co"}


def test_unmapped_values_are_bounded_in_count_and_size():
    src = source("    mapping: {email: email}\n")
    body = {"email": "a@b.co", "long": "x" * 10_000, **{f"k{i}": i for i in range(500)}}
    custom = lead_of(src, body)["custom_fields"]
    assert len(custom) == json_kind.UNMAPPED_LIMIT
    assert len(custom["long"]) == json_kind.UNMAPPED_VALUE_CHARS


def test_unmapped_drop_keeps_only_the_mapping_and_field_map_entries():
    body = {"email": "a@b.co", "utm_source": "ads", "org": "Acme", "noise": "x"}
    src = source("    unmapped: drop\n    field_map: {org: company_name}\n    mapping: {email: email}\n")
    lead = lead_of(src, body)
    assert lead == {"email": "a@b.co", "company_name": "Acme", "source": "webhook"}
    kept = lead_of(source("    field_map: {org: company_name, noise: drop}\n    mapping: {email: email}\n"), body)
    assert kept["company_name"] == "Acme" and kept["custom_fields"] == {"utm_source": "ads"}


def test_a_field_map_typo_fails_at_load_and_never_crashes_normalize():
    assert "sources.hook.field_map.org" in config_error("    field_map: {org: compnay}\n    mapping: {email: email}\n")
    # a SourceConfig built some other way (tests, a future loader) still gets a 422, not a 500
    src = dataclasses.replace(source(PLAIN), field_map={"org": "compnay"})
    with pytest.raises(Unprocessable) as err:
        lead_of(src, {"email": "a@b.co", "org": "Acme"})
    assert "field_map.org" in err.value.errors


def test_an_expression_failing_on_this_lead_is_unprocessable_naming_the_field():
    src = source("    mapping: {email: email, description: \"join(', ', notes)\"}\n")
    assert lead_of(src, {"email": "a@b.co", "notes": ["a", "b"]})["description"] == "a, b"
    with pytest.raises(Unprocessable) as err:
        lead_of(src, {"email": "a@b.co", "notes": [1, 2]})
    assert set(err.value.errors) == {"mapping.description"}


def test_no_contact_field_is_unprocessable():
    with pytest.raises(Unprocessable) as err:
        lead_of(source(PLAIN), {"mail": "a@b.co"})
    assert "contact" in err.value.errors
    assert json_kind.ACCEPT_UNPROCESSABLE is True


def test_normalize_reads_the_current_mapping():
    body = {"contact": {"mail": "a@b.co"}}
    [event] = json_kind.parse(request(body), source("    mapping: {email: contact.email}\n"))
    with pytest.raises(Unprocessable):
        json_kind.normalize(event.raw, source("    mapping: {email: contact.email}\n"))
    assert json_kind.normalize(event.raw, source("    mapping: {email: contact.mail}\n"))["email"] == "a@b.co"


def test_mapped_values_of_every_shape():
    src = source(
        """    mapping:
      email: e
      opt_in_status: consent
      tags: labels
      description: notes
      source: origin
      custom_fields.n: n
"""
    )
    lead = lead_of(
        src, {"e": "a@b.co", "consent": "yes", "labels": ["x", "y, z"], "notes": {"k": 1}, "origin": "x", "n": 1.5}
    )
    assert lead["opt_in_status"] is True
    assert lead["tags"] == ["x", "y", "z"]
    assert lead["description"] == '{"k": 1}'
    assert lead["source"] == "x"
    assert lead["custom_fields"]["n"] == 1.5


# --- templates (every kind) ----------------------------------------------------------------------


def test_tags_source_and_deal_title_are_templates_over_the_lead():
    src = source(
        """    source: "webflow-{custom_fields.form}"
    tags: [webflow, "{custom_fields.form}", "{utm_campaign}", "{missing}", "{custom_fields.missing}", "{"]
    deal: {title: "{company_name} {first_name} via {custom_fields.form} {nope}"}
"""
        + WEBFLOW_SOURCE
    )
    lead = lead_of(src, {**WEBFLOW, "utm_campaign": "spring"})
    assert lead["source"] == "webflow-Contact Us"
    assert lead["tags"] == ["webflow", "Contact Us", "spring", "{"]
    assert lead["deal"]["title"] == "Heart of Gold Zaphod via Contact Us"


def test_a_source_template_with_nothing_filled_falls_back_to_the_kind_default():
    src = source('    source: "{custom_fields.nope}"\n    tags: ["{nope}"]\n' + PLAIN)
    lead = lead_of(src, {"email": "a@b.co"})
    assert lead["source"] == "webhook"
    assert "tags" not in lead


def test_form_kind_templates_too_but_never_what_the_sender_typed():
    text = """
destinations: {main: {base_url: "http://127.0.0.1:9", api_key: k}}
sources:
  contact:
    kind: form
    source: "site-{custom_fields.utm_source}"
    tags: ["{custom_fields.utm_campaign}", website]
"""
    from adapters import form

    src = parse_yaml(text, {}).sources["contact"]
    raw = {"fields": [["email", "a@b.co"], ["utm_source", "ads"], ["tags", "{email}"], ["utm_campaign", "{email}"]]}
    lead = form.normalize(raw, src)
    assert lead["source"] == "site-ads"
    # a placeholder inside a value is data: the sender's "{email}" is neither expanded nor re-rendered
    assert lead["tags"] == ["{email}", "website"]


def test_the_documented_examples_load_and_map_the_shapes_they_describe():
    section = (Path(__file__).resolve().parents[2] / "docs" / "sources" / "json.md").read_text(encoding="utf-8")
    webflow_yaml, presets_yaml, calendly_yaml = re.findall(r"```yaml\n(.*?)```", section, re.S)
    head = 'destinations: {main: {base_url: "http://127.0.0.1:9", api_key: k}}\n'
    env = {"WEBFLOW_HOOK_TOKEN": "t", "CALENDLY_HOOK_TOKEN": "c"}
    webflow = parse_yaml(head + webflow_yaml, env).sources["webflow"]
    secrets = ("WEBFLOW_CLIENT_SECRET", "CALENDLY_SIGNING_KEY", "TALLY_SIGNING_SECRET", "JOTFORM_HOOK_TOKEN")
    presets = parse_yaml(head + presets_yaml, {name: "s" for name in (*secrets, "HUBSPOT_CLIENT_SECRET")}).sources
    assert {source.option("preset") for source in presets.values()} == {
        "webflow",
        "calendly",
        "tally",
        "jotform",
        "hubspot",
    }
    calendly = parse_yaml(head + "sources:\n" + calendly_yaml, env).sources["calendly"]
    assert lead_of(webflow, WEBFLOW)["last_name"] == "Beeblebrox"
    body = {
        "event": "invitee.created",
        "payload": {
            "name": "Ford Prefect",
            "email": "ford@example.com",
            "uri": "https://api.calendly.com/scheduled_events/X/invitees/Y",
            "questions_and_answers": [{"question": "Company", "answer": "Megadodo", "position": 0}],
            "scheduled_event": {"name": "Intro call"},
        },
    }
    lead = lead_of(calendly, body)
    assert (lead["first_name"], lead["company_name"]) == ("Ford", "Megadodo")
    assert lead["deal"]["title"] == "Intro call with Ford Prefect"
