"""The ``typeform`` source kind: Typeform ``form_response`` webhooks, signed with the webhook secret.

Typeform signs the raw body (``Typeform-Signature: sha256=<base64 HMAC-SHA256>``); it is checked
before anything is parsed. Only ``form_response`` events are leads: partial responses and any other
event type are acknowledged and kept as ``ignored`` history. The stored event is the whole body (it
carries no secret), so a replay re-maps the answers with the current ``field_map``.

Answers are matched to their field through ``field.ref``, then ``field.id``, then the title found in
``definition.fields``. ``field_map`` keys may be any of the three and win; otherwise the answer type
decides (email, phone_number), a text field whose title or ref is a person's name or a company goes
to the name fields or ``company_name``, and everything else lands in ``custom_fields`` rendered by
type. Hidden fields, the score, variables, the ending and the response metadata go there too.

Typeform disables a webhook at once on 404 or 410, so a response with no usable contact field is
acknowledged and stored as ``rejected`` (``ACCEPT_UNPROCESSABLE``) rather than refused.

No I/O: the module only reads the request or stored event it is handed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from adapters.base import Accepted
from adapters.base import BadInput
from adapters.base import InboundEvent
from adapters.base import InboundRequest
from adapters.base import Reply
from adapters.base import Unprocessable
from adapters.jsonbody import load_json
from adapters.normalize import LeadDraft
from adapters.normalize import finalize
from adapters.normalize import map_target
from adapters.signatures import require_hmac_sha256
from leadgate.config import SourceConfig
from leadgate.speed import parse_platform_time

__all__ = [
    "created_at",
    "ACCEPT_UNPROCESSABLE",
    "DEFAULT_SOURCE",
    "KIND",
    "NORMALIZE_ON_RECEIVE",
    "Options",
    "acknowledge",
    "normalize",
    "parse",
    "verify",
]

KIND = "typeform"
DEFAULT_SOURCE = "typeform"
NORMALIZE_ON_RECEIVE = True
ACCEPT_UNPROCESSABLE = True
LIMITS = {"max_fields": 20_000}
"""A signed response repeats the whole form definition (about 10 values a question) next to the answers."""

SIGNATURE_HEADER = "Typeform-Signature"
LEAD_EVENT = "form_response"
TEXT_FIELDS = frozenset({"short_text", "long_text"})
META_KEYS = ("form_id", "token", "landed_at", "submitted_at")

WORD = re.compile(r"[a-z]+")
RECALL = re.compile(r"\{\{[^}]*\}\}")
GENERATED_REF = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID
    r"|[0-9A-HJKMNP-TV-Z]{26}"  # ULID, Typeform's newer auto refs (01H531GWVKAT474T5MS32VKKS9)
    r"|[0-9a-f]{16,})$",  # other long hex ids
    re.IGNORECASE,
)
"""Refs Typeform generated rather than a person chose: they say nothing, so the question's title names the answer."""

FILLER = frozenset(
    "a and are at can do enter for get hello hi i is let lets may me my of ok okay please s "
    "so start tell thanks the to type us we what whats which who with work you your".split()
)
"""Words a question wraps around the thing it asks for ("What's your first name?")."""


def _phrases(target: str, *phrases: str) -> dict[frozenset[str], str]:
    return {frozenset(phrase.split()): target for phrase in phrases}


PHRASES: dict[frozenset[str], str] = {
    **_phrases("first_name", "first name", "firstname", "fname", "given name", "forename"),
    **_phrases("last_name", "last name", "lastname", "lname", "surname", "family name"),
    **_phrases("full_name", "name", "full name", "fullname", "first last name", "name surname"),
    **_phrases(
        "company_name",
        "company",
        "company name",
        "company called",
        "organization",
        "organization name",
        "organisation",
        "organisation name",
        "company organization",
        "company organization name",
        "business name",
        "employer",
    ),
}
"""Word sets (filler removed, order ignored) that name a person or a company, and their lead field.

Whole-set matching is what keeps "Company name" or "Name of your pet" away from the person's name.
"""


class Options(Schema):
    """The ``typeform`` kind's own config keys."""

    secret = fields.String(required=True, validate=validate.Length(min=1))


def verify(request: InboundRequest, source: SourceConfig) -> None:
    """Checks ``Typeform-Signature`` against the raw body before anything is parsed."""
    require_hmac_sha256(
        request.body,
        source.option("secret"),
        request.header(SIGNATURE_HEADER),
        header=SIGNATURE_HEADER,
        encoding="base64",
    )


def _load_body(body: bytes, source: SourceConfig) -> dict[str, Any]:
    data = load_json(body, limits=source.limits)
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object (a Typeform webhook event)")
    return data


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BadInput(f"malformed form_response: {message}")


def _check_response(response: Any) -> dict[str, Any]:
    """``response`` itself once it has the shape :func:`normalize` reads; :class:`BadInput` otherwise."""
    if not isinstance(response, dict):
        raise BadInput("malformed form_response: form_response must be an object")
    answers = response.get("answers")
    _check(answers is None or isinstance(answers, list), "answers must be a list")
    for index, answer in enumerate(answers or []):
        _check(isinstance(answer, dict), f"answers[{index}] must be an object")
        _check(isinstance(answer.get("type"), str), f"answers[{index}].type must be a string")
        field = answer.get("field")
        _check(isinstance(field, dict), f"answers[{index}].field must be an object")
        _check(any(_text(field.get(key)) for key in ("id", "ref")), f"answers[{index}].field needs an id or ref")
    definition = response.get("definition")
    _check(definition is None or isinstance(definition, dict), "definition must be an object")
    defined = (definition or {}).get("fields")
    _check(defined is None or isinstance(defined, list), "definition.fields must be a list")
    _check(all(isinstance(item, dict) for item in defined or []), "definition.fields must hold objects")
    for key in ("hidden", "calculated", "ending"):
        _check(response.get(key) is None or isinstance(response[key], dict), f"{key} must be an object")
    variables = response.get("variables")
    _check(variables is None or isinstance(variables, list), "variables must be a list")
    return response


def parse(request: InboundRequest, source: SourceConfig) -> list[InboundEvent]:
    """One event per webhook: a lead for ``form_response``, ``ignored`` history for anything else."""
    body = _load_body(request.body, source)
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise BadInput("the body has no event_type; is this a Typeform webhook?")
    if event_type != LEAD_EVENT:
        return [InboundEvent(raw=body, outcome="ignored", reason=f"{event_type} events are not leads")]
    response = _check_response(body.get("form_response"))
    keys = [f"event:{_text(body.get('event_id'))}", f"token:{_text(response.get('token'))}"]
    return [InboundEvent(raw=body, dedupe_keys=tuple(key for key in keys if not key.endswith(":")))]


def _text(value: Any) -> str:
    """A non-blank id or label as a string; '' for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()


def _as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: optional parts read the same either way."""
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def _words(text: str) -> frozenset[str]:
    """``"Thanks {{field:x}}! And your last_name?"`` -> ``{"last", "name"}`` (``what's`` -> ``what``, ``s``)."""
    return frozenset(WORD.findall(RECALL.sub(" ", text.lower()))) - FILLER


def _automatic_target(field: Mapping[str, Any], answer_type: str) -> str | None:
    """The lead field an answer's type, title or ref says it is; None means ``custom_fields``."""
    if answer_type == "email":
        return "email"
    if answer_type == "phone_number":
        return "phone"
    field_type = field.get("type") if isinstance(field.get("type"), str) else ""
    if answer_type != "text" or (field_type and field_type not in TEXT_FIELDS):
        return None
    for label in (field.get("ref"), field.get("title")):
        if isinstance(label, str):
            target = PHRASES.get(_words(label))
            if target:
                return target
    return None


def _choice(choice: Any) -> Any:
    if not isinstance(choice, dict):
        return None
    return choice.get("label") if choice.get("label") not in (None, "") else choice.get("other")


def _choices(choices: Any) -> list[Any] | None:
    if not isinstance(choices, dict):
        return None
    labels = _as_list(choices.get("labels"))
    other = choices.get("other")
    return [*labels, other] if other not in (None, "") else list(labels)


def _payment(payment: Any, field: Mapping[str, Any]) -> dict[str, Any] | None:
    """Amount, currency (from the field definition, when it says) and success; never card details."""
    if not isinstance(payment, dict):
        return None
    out: dict[str, Any] = {"amount": payment.get("amount")}
    properties = _as_object(field.get("properties"))
    price = _as_object(properties.get("price"))
    currency = properties.get("currency") or price.get("currency")
    if isinstance(currency, str) and currency:
        out["currency"] = currency.upper()
    if isinstance(payment.get("success"), bool):
        out["success"] = payment["success"]
    return out


def _value(answer: Mapping[str, Any], field: Mapping[str, Any]) -> Any:
    """The answer's value rendered by its type (choice label, list of labels, payment summary, ...)."""
    answer_type = answer.get("type")
    if answer_type == "choice":
        return _choice(answer.get("choice"))
    if answer_type == "choices":
        return _choices(answer.get("choices"))
    if answer_type == "payment":
        return _payment(answer.get("payment"), field)
    return answer.get(answer_type) if isinstance(answer_type, str) else None


def _definitions(response: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``definition.fields`` indexed by id and by ref."""
    definition = _as_object(response.get("definition"))
    defined = [item for item in definition.get("fields") or [] if isinstance(item, dict)]
    by_id = {_text(item.get("id")): item for item in defined if _text(item.get("id"))}
    by_ref = {_text(item.get("ref")): item for item in defined if _text(item.get("ref"))}
    return by_id, by_ref


def _answers(response: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each answer with its field: the answer's own ``field`` merged over its definition."""
    by_id, by_ref = _definitions(response)
    answers = _as_list(response.get("answers"))
    for answer in answers:
        if not isinstance(answer, dict) or not isinstance(answer.get("field"), dict):
            continue
        own = answer["field"]
        defined = by_id.get(_text(own.get("id"))) or by_ref.get(_text(own.get("ref"))) or {}
        yield answer, {**defined, **{key: value for key, value in own.items() if value not in (None, "")}}


def _custom_key(field: Mapping[str, Any]) -> str:
    """The field's ref, or its title when the ref is one Typeform generated (a UUID or ULID says nothing)."""
    ref, title, field_id = (_text(field.get(key)) for key in ("ref", "title", "id"))
    if ref and not GENERATED_REF.match(ref):
        return ref
    return title or ref or field_id


def _mapped(names: Sequence[Any], source: SourceConfig) -> tuple[bool, str | None]:
    """The ``field_map`` entry for the first of ``names`` (ref, id, title) that has one."""
    for name in names:
        if _text(name):
            found, target = map_target(_text(name), source.field_map)
            if found:
                return True, target
    return False, None


def _extras(response: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Hidden fields, score, variables, ending and metadata, as (custom field name, value)."""
    hidden = _as_object(response.get("hidden"))
    # a hidden field with a blank name still carries a value worth keeping
    yield from ((str(name).strip() or "hidden", value) for name, value in hidden.items())
    calculated = _as_object(response.get("calculated"))
    if "score" in calculated:
        yield "score", calculated["score"]
    variables = _as_list(response.get("variables"))
    for variable in variables:
        if isinstance(variable, dict) and _text(variable.get("key")):
            yield f"variables.{_text(variable['key'])}", _variable_value(variable)
    ending = _as_object(response.get("ending"))
    if _text(ending.get("ref")) or _text(ending.get("id")):
        yield "ending", _text(ending.get("ref")) or _text(ending.get("id"))
    yield from ((key, response[key]) for key in META_KEYS if key in response)


def _variable_value(variable: Mapping[str, Any]) -> Any:
    """A variable's value sits under the key its ``type`` names (``{"type": "number", "number": 4}``)."""
    kind = variable.get("type")
    if isinstance(kind, str) and kind in variable:
        return variable[kind]
    return next((value for key, value in variable.items() if key not in ("key", "type")), None)


def _assign(draft: LeadDraft, target: str | None, value: Any, name: str, problems: dict[str, str]) -> None:
    try:
        draft.assign(target, value)
    except ValueError as err:
        # A field_map typo must park the lead (rejected, replayable), never answer 500.
        problems[f"field_map.{name}"] = str(err)


def normalize(raw: Mapping[str, Any], source: SourceConfig) -> dict[str, Any]:
    """Builds the ConnectGain payload from a stored ``form_response`` with the source's current mapping."""
    response = _as_object(raw.get("form_response"))
    draft = LeadDraft()
    problems: dict[str, str] = {}
    for answer, field in _answers(response):
        key = _custom_key(field)
        found, target = _mapped([field.get("ref"), field.get("id"), field.get("title")], source)
        if not found:
            target = _automatic_target(field, str(answer.get("type"))) or f"custom_fields.{key}"
        _assign(draft, target, _value(answer, field), key, problems)
    for name, value in _extras(response):
        found, target = _mapped([name], source)
        _assign(draft, target if found else f"custom_fields.{name}", value, name, problems)
    if problems:
        raise Unprocessable("the field_map names an unknown lead field", errors=problems)
    return finalize(draft, source)


def acknowledge(accepted: Sequence[Accepted], request: InboundRequest, source: SourceConfig) -> Reply:
    """200 for every stored event, rejected and duplicate ones included: Typeform only needs a 2xx."""
    items = [{"event_id": a.event_id, "status": a.status, "duplicate": a.duplicate} for a in accepted]
    body: dict[str, Any] = {"ok": True, **items[0]} if len(items) == 1 else {"ok": True, "events": items}
    return Reply(200, body)


def created_at(raw: Mapping[str, Any]) -> float | None:
    """When the respondent submitted: ``form_response.submitted_at`` (speed to lead)."""
    response = raw.get("form_response")
    return parse_platform_time(response.get("submitted_at")) if isinstance(response, dict) else None
