"""The ``json`` source kind: any sender that POSTs JSON (Webflow, Calendly, Jotform, a backend), mapped in config.

The source's ``mapping`` names, for each ConnectGain field (or ``custom_fields.X``), a JMESPath
expression evaluated against one lead of the body. A body that is a JSON array, or whose ``items``
expression selects an array, holds one lead per element; otherwise the whole body is the lead.
``event_id`` (JMESPath, per lead) gives the platform id re-sends are deduplicated on. With
``unmapped: custom_fields`` (the default) every value of a lead the mapping does not read, at any
depth, is kept in ``custom_fields`` under its dotted path (``payload.data.Message``; at most
:data:`UNMAPPED_LIMIT` of them), and ``field_map`` may redirect or drop those names; ``drop`` keeps
only what ``mapping`` names.

Authentication is configured per source: a ``token`` sent as ``Authorization: Bearer`` or
``?token=``, and/or a ``secret`` that signs the raw body (``X-Signature-256: sha256=<hex>``). A
source with neither must say ``auth: none``: it takes posts from anyone, start-up and
``check-config`` warn about it, and there a sender-supplied ``event_id`` counts only together with
the lead's content (anyone could post a real lead's id first and suppress it otherwise). The
stored event is the lead element only, never a token or a signature.

A lead whose mapping yields no contact field is stored as ``rejected`` (``ACCEPT_UNPROCESSABLE``):
the usual cause is a mapping mistake, and a stored event can be replayed once the mapping is fixed.

Expressions are compiled at config load, so a typo stops start-up naming the source and key. No I/O:
the module only reads the request or stored event it is handed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from adapters.answers import lead_fields
from adapters.base import BadInput
from adapters.base import InboundEvent
from adapters.base import InboundRequest
from adapters.base import Unauthorized
from adapters.base import Unprocessable
from adapters.form_builders import convention_for
from adapters.jsonbody import load_json
from adapters.normalize import LeadDraft
from adapters.normalize import finalize
from adapters.normalize import map_target
from adapters.options import rate_limit_field
from adapters.presets import PRESETS
from adapters.presets import Preset
from adapters.signatures import require_hmac_sha256
from leadgate.config import SourceConfig
from leadgate.contract import is_valid_target
from leadgate.credentials import bearer_token
from leadgate.credentials import secrets_match
from leadgate.model import content_digest

__all__ = [
    "ACCEPT_UNPROCESSABLE",
    "DEFAULT_SOURCE",
    "KIND",
    "NORMALIZE_ON_RECEIVE",
    "Options",
    "SIGNATURE_HEADER",
    "compile_expression",
    "default_source",
    "warnings",
    "effective_mapping",
    "normalize",
    "parse",
    "verify",
]

KIND = "json"
DEFAULT_SOURCE = "webhook"
NORMALIZE_ON_RECEIVE = True
ACCEPT_UNPROCESSABLE = True
"""A lead the mapping cannot read is usually a mapping mistake: kept as ``rejected``, it is replayable after the fix."""

SIGNATURE_HEADER = "X-Signature-256"
TOKEN_QUERY = "token"
UNMAPPED_MODES = ("custom_fields", "drop")
SCALARS = (str, int, float, bool)
NOT_A_FIELD = frozenset({"", "-", "drop"})

EMPTY_SECRET = "is empty (an unset ${{{{VAR}}}}?); to accept unauthenticated posts remove {key} and set auth: none"
NO_AUTH = "none"
"""Formatted twice: here with the key name, then by marshmallow (hence the doubled braces)."""
MAPPING_HELP = "map at least one ConnectGain field to a JMESPath expression, e.g. email: payload.email"


@lru_cache(maxsize=512)
def compile_expression(expression: str) -> ParsedResult:
    """Compiles a JMESPath expression and checks every function it calls exists with that many arguments.

    Raises:
        ValueError: with one line saying what is wrong (jmespath's own message, first line).
    """
    try:
        parsed = jmespath.compile(expression)
    except JMESPathError as err:
        # jmespath's message spans lines, the last one a caret under the column: keep one line.
        lines = [line.strip() for line in str(err).splitlines() if line.strip().strip("^")]
        reason = " ".join(lines) or type(err).__name__
        hint = ' (quote names with spaces or dashes: payload.data."First Name")' if " " in expression else ""
        raise ValueError(f"not a valid JMESPath expression: {reason}{hint}") from None
    _check_functions(parsed.parsed)
    return parsed


def _check_functions(node: Mapping[str, Any]) -> None:
    """Unknown functions and wrong arities are only found when jmespath evaluates them: find them now."""
    if node.get("type") == "function_expression":
        name = node.get("value")
        spec = Functions.FUNCTION_TABLE.get(name)
        if spec is None:
            known = ", ".join(sorted(Functions.FUNCTION_TABLE))
            raise ValueError(f"unknown JMESPath function {name}(); JMESPath has {known}")
        signature = spec["signature"]
        given = len(node.get("children", ()))
        variadic = bool(signature) and signature[-1].get("variadic", False)
        wrong = given < len(signature) if variadic else given != len(signature)
        if wrong:
            wanted = f"at least {len(signature)}" if variadic else str(len(signature))
            raise ValueError(f"{name}() takes {wanted} argument(s), not {given}")
    for child in node.get("children", ()):
        if isinstance(child, Mapping):
            _check_functions(child)


def _validate_expression(expression: str) -> None:
    try:
        compile_expression(expression)
    except ValueError as err:
        raise ValidationError(str(err)) from None


def _validate_target(target: str) -> None:
    if target.strip() in NOT_A_FIELD or not is_valid_target(target):
        raise ValidationError(
            f"{target!r} is not a ConnectGain field: use first_name, last_name, full_name, email, phone, "
            "company_name, description, tags, opt_in_status, source, ... or custom_fields.<name>"
        )


def _secret_field(key: str) -> fields.String:
    """Optional, but present-and-empty is an error: an unset ``${VAR}`` must not switch authentication off."""
    return fields.String(
        load_default=None,
        allow_none=False,
        validate=validate.Length(min=1, error=EMPTY_SECRET.format(key=key)),
        error_messages={"null": EMPTY_SECRET.format(key=key)},
    )


class Options(Schema):
    """The ``json`` kind's own config keys."""

    token = _secret_field("token")
    secret = _secret_field("secret")
    items = fields.String(load_default=None, validate=_validate_expression)
    event_id = fields.String(load_default=None, validate=_validate_expression)
    preset = fields.String(load_default=None, validate=validate.OneOf(sorted(PRESETS)))
    mapping = fields.Dict(
        keys=fields.String(validate=_validate_target),
        values=fields.String(validate=_validate_expression),
        load_default=dict,
    )
    unmapped = fields.String(load_default="custom_fields", validate=validate.OneOf(UNMAPPED_MODES))
    signature_max_age = fields.Float(load_default=None, validate=validate.Range(min=1, max=86400))
    auth = fields.String(load_default=None, validate=validate.OneOf([NO_AUTH]))
    rate_limit = rate_limit_field()

    @validates_schema
    def authentication_or_none_said_out_loud(self, data: dict[str, Any], **kwargs: Any) -> None:
        credentials = bool(data.get("token") or data.get("secret"))
        if not credentials and data.get("auth") != NO_AUTH:
            raise ValidationError(
                "set a token (Authorization: Bearer or ?token=) or a secret (signed bodies); or auth: none to "
                "take posts from anyone, who can then also post leads in your name",
                "auth",
            )
        if credentials and data.get("auth") == NO_AUTH:
            raise ValidationError("auth: none contradicts the token or secret set here; remove one", "auth")

    @validates_schema
    def a_mapping_or_a_preset(self, data: dict[str, Any], **kwargs: Any) -> None:
        preset = PRESETS.get(data.get("preset") or "")
        if not data.get("mapping") and preset is None:
            raise ValidationError(MAPPING_HELP + f", or name a preset ({', '.join(sorted(PRESETS))})", "mapping")
        if preset is not None and data.get("secret") and preset.signature is None:
            raise ValidationError(
                f"{preset.name} does not sign its webhooks: remove secret and set a token (sent as ?token=)", "secret"
            )


def is_open(source: SourceConfig) -> bool:
    """A source anyone may post to (``auth: none``)."""
    return source.option("auth") == NO_AUTH


def warnings(source: SourceConfig) -> list[str]:
    """What this source leaves open (shown at start-up and by ``check-config``)."""
    if is_open(source):
        return [
            "auth: none: anyone who learns the URL can post leads to it (set a token or a secret); its event_id "
            "only deduplicates together with the lead's content"
        ]
    return []


def preset_of(source: SourceConfig) -> Preset | None:
    return PRESETS.get(source.option("preset") or "")


def default_source(options: Mapping[str, Any]) -> str:
    """The ConnectGain ``source`` when the config names none: the preset's sender, else ``webhook``."""
    preset = PRESETS.get(options.get("preset") or "")
    return preset.source if preset else DEFAULT_SOURCE


def effective_mapping(source: SourceConfig) -> dict[str, str]:
    """The preset's mapping with the source's own ``mapping`` keys on top."""
    preset = preset_of(source)
    return {**(preset.mapping if preset else {}), **(source.option("mapping") or {})}


def verify(request: InboundRequest, source: SourceConfig) -> None:
    """Checks the token (bearer header or ``?token=``) and the body signature, whichever are configured."""
    token = source.option("token")
    if token:
        candidates = (bearer_token(request.header("authorization")), request.query_value(TOKEN_QUERY) or None)
        # Both compared, always, so the answer time says nothing about which one was tried.
        matches = [secrets_match(candidate, token) for candidate in candidates]
        if not any(matches):
            raise Unauthorized("missing or wrong token: send Authorization: Bearer <token> or ?token=<token>")
    secret = source.option("secret")
    if not secret:
        return
    signature = preset.signature if (preset := preset_of(source)) else None
    if signature is None:
        require_hmac_sha256(request.body, secret, request.header(SIGNATURE_HEADER), header=SIGNATURE_HEADER)
        return
    max_age = source.option("signature_max_age") or signature.max_age or 0.0
    signature.check(request, secret, max_age, time.time())


def _load_body(request: InboundRequest, source: SourceConfig) -> Any:
    try:
        return load_json(request.body, limits=source.limits)
    except BadInput as err:
        sent = f" (sent as {request.content_type})" if request.content_type else ""
        raise type(err)(f"{err.message}{sent}", err.errors) from None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _search(option: str, expression: str, data: Any) -> Any:
    try:
        return compile_expression(expression).search(data)
    except JMESPathError as err:
        raise BadInput(f"{option} {expression!r} failed on this body: {err}", errors={option: str(err)}) from None


def _leads(body: Any, source: SourceConfig) -> list[Any]:
    preset = preset_of(source)
    items = source.option("items") or (preset.items if preset else None)
    if items:
        found = _search("items", items, body)
        if not isinstance(found, list):
            got = "nothing" if found is None else _type_name(found)
            raise BadInput(
                f"items {items!r} must select an array of leads; in this body it selects {got}",
                errors={"items": f"selected {got}"},
            )
        return found
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        return [body]
    raise BadInput(f"the JSON body must be an object (one lead) or an array of leads, not {_type_name(body)}")


def _dedupe_keys(lead: Any, index: int, source: SourceConfig) -> tuple[str, ...]:
    preset = preset_of(source)
    expression = source.option("event_id") or (preset.event_id if preset else None)
    if not expression:
        return ()
    value = _search("event_id", expression, lead)
    if value is None or value == "":
        return ()
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadInput(
            f"event_id {expression!r} must select a string or number; for lead {index} it selects {_type_name(value)}",
            errors={"event_id": f"selected {_type_name(value)}"},
        )
    identity = str(value).strip()
    if is_open(source):
        # Anyone can post here: an id alone would let a stranger claim a real lead's id first.
        identity += ":" + content_digest(lead)
    return (identity,)


def parse(request: InboundRequest, source: SourceConfig) -> list[InboundEvent]:
    """One event per lead in the body, each stored as ``{"item": <the lead>}``; none is one ``ignored`` event."""
    preset = preset_of(source)
    body = preset.body(request) if preset and preset.body else _load_body(request, source)
    leads = _leads(body, source)
    if not leads:
        # Acknowledged and kept as history, not refused: an ``items`` filter such as
        # ``[@][?event=='invitee.created']`` selects nothing for the events that are not leads, and
        # a 4xx would make the sender retry them or switch the webhook off.
        return [InboundEvent(raw={"body": body}, outcome="ignored", reason="no leads in the body")]
    events: list[InboundEvent] = []
    for index, lead in enumerate(leads):
        if not isinstance(lead, dict):
            raise BadInput(
                f"lead {index} of the body is {_type_name(lead)}; each lead must be a JSON object",
                errors={f"items[{index}]": "not an object"},
            )
        events.append(InboundEvent(raw={"item": lead}, dedupe_keys=_dedupe_keys(lead, index, source)))
    return events


def _static_path(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    """``a.b.c`` as ``("a", "b", "c")``; None for anything that is not a plain chain of names."""
    kind = node.get("type")
    if kind == "field":
        return (str(node.get("value")),)
    if kind == "subexpression":
        parts = [_static_path(child) for child in node.get("children", ()) if isinstance(child, Mapping)]
        if parts and all(part is not None for part in parts):
            return tuple(name for part in parts for name in part or ())
    return None


def _read_paths(node: Mapping[str, Any]) -> set[tuple[str, ...]]:
    """The paths of the lead an expression reads (``payload.data.Email``; both in ``join(' ', [a, b])``).

    Projections, filters, indexes and pipes evaluate their right side on what their left side
    selected, and ``&expr`` on array elements, so only their left side names a path of the lead;
    everything under a path read counts as read.
    """
    path = _static_path(node)
    if path is not None:
        return {path}
    kind = node.get("type")
    children = [child for child in node.get("children", ()) if isinstance(child, Mapping)]
    if kind in {"subexpression", "index_expression", "pipe", "projection", "value_projection", "flatten"}:
        return _read_paths(children[0]) if children else set()
    if kind == "filter_projection":
        return _read_paths(children[0]) if children else set()
    if kind in {
        "function_expression",
        "multi_select_list",
        "multi_select_dict",
        "key_val_pair",
        "or_expression",
        "and_expression",
        "not_expression",
        "comparator",
    }:
        return set().union(*(_read_paths(child) for child in children)) if children else set()
    return set()


def _read_by(expressions: Iterable[str]) -> set[tuple[str, ...]]:
    paths: set[tuple[str, ...]] = set()
    for expression in expressions:
        paths |= _read_paths(compile_expression(expression).parsed)
    return paths


UNMAPPED_LIMIT = 200
"""Unmapped values kept per lead; the rest are still in the stored event, only not sent."""
UNMAPPED_VALUE_CHARS = 4000
"""A longer unmapped value is cut to this many characters in the lead (the stored event keeps it whole)."""


def _unmapped(lead: Mapping[str, Any], read: set[tuple[str, ...]]) -> Iterator[tuple[str, Any]]:
    """Every value the mapping did not read, at any depth, as ``(dotted.path, value)``.

    A list of scalars is one value; list items that are objects are walked with their index
    (``attendees.0.email``). Nulls and blanks are left out.
    """

    def taken(path: tuple[str, ...]) -> bool:
        return any(path[: len(prefix)] == prefix for prefix in read)

    def walk(path: tuple[str, ...], value: Any) -> Iterator[tuple[str, Any]]:
        if not path or not all(str(part).strip() for part in path) or taken(path):
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                yield from walk((*path, str(key)), item)
        elif isinstance(value, list):
            scalars = [item for item in value if isinstance(item, SCALARS)]
            if scalars and len(scalars) == len(value):
                yield ".".join(path), scalars
            else:
                for index, item in enumerate(value):
                    if isinstance(item, Mapping | list):
                        yield from walk((*path, str(index)), item)
        elif isinstance(value, SCALARS) and not (isinstance(value, str) and not value.strip()):
            if isinstance(value, str) and len(value) > UNMAPPED_VALUE_CHARS:
                value = value[:UNMAPPED_VALUE_CHARS]
            yield ".".join(path), value

    count = 0
    for key, value in lead.items():
        for item in walk((str(key),), value):
            yield item
            count += 1
            if count >= UNMAPPED_LIMIT:
                return


def _assign(draft: LeadDraft, target: str | None, value: Any, where: str, failures: dict[str, str]) -> None:
    try:
        draft.assign(target, value)
    except ValueError as err:
        # field_map targets are not checked at config load: park the lead (rejected, replayable), never 500.
        failures[where] = str(err)


def normalize(raw: Mapping[str, Any], source: SourceConfig) -> dict[str, Any]:
    """Builds the ConnectGain payload from one stored lead with the source's current mapping.

    Raises:
        Unprocessable: when an expression fails on this lead (``errors`` names ``mapping.<field>``),
            or when no usable contact field results.
    """
    lead = raw.get("item")
    if not isinstance(lead, Mapping):
        raise Unprocessable("the stored event holds no lead object", errors={"item": "not an object"})
    mapping = effective_mapping(source)
    preset = preset_of(source)
    draft = LeadDraft()
    failures: dict[str, str] = {}
    filled: set[str] = set()
    for target, expression in mapping.items():
        try:
            value = compile_expression(expression).search(dict(lead))
        except (JMESPathError, ValueError) as err:
            failures[f"mapping.{target}"] = f"{expression!r} failed on this lead: {err}"
            continue
        draft.assign(target, value)
        if value not in (None, "", [], {}):
            filled.add(target)
    read = _read_by(mapping.values())
    if preset is not None:
        # The person's answers, read like a form's fields: names, sub-inputs, recognition by value.
        answers = preset.answers(lead)
        for answer_target, answer in lead_fields(answers, convention_for(answers), source, frozenset(filled)):
            _assign(draft, answer_target, answer, "answers", failures)
        read |= set(preset.answers_at) | set(preset.ignored)
    keep_unmapped = source.option("unmapped", "custom_fields") == "custom_fields"
    for name, value in _unmapped(lead, read):
        found, mapped_to = map_target(name, source.field_map)
        # field_map is explicit, so it applies under ``unmapped: drop`` too.
        if not found and not keep_unmapped:
            continue
        _assign(draft, mapped_to if found else f"custom_fields.{name}", value, f"field_map.{name}", failures)
    if failures:
        raise Unprocessable("a mapping expression or field_map entry failed", errors=failures)
    return finalize(draft, source)
