"""The ``form`` source kind: website forms posted straight at leadgate, by a browser or by AJAX.

Browsers send urlencoded or multipart bodies (the gateway decodes them into ``request.form``);
scripts often send a JSON object instead. Either way the event stores the fields as an ordered
list of ``[name, value]`` pairs, repeats kept, so a replay sees exactly what was posted.

Field names are guessed through a small alias table (``email``, ``e-mail``, ``Phone Number``, ...)
that the source's ``field_map`` overrides; whatever is not recognised goes to ``custom_fields``
under its original name. Names starting with ``_`` are control fields for leadgate and the form
page, never lead data. Spam is stopped by an optional honeypot field and an Origin allow-list.

No I/O: the module only reads the request it is handed.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from adapters.answers import ALIASES
from adapters.answers import lead_fields
from adapters.base import Accepted
from adapters.base import BadInput
from adapters.base import Forbidden
from adapters.base import InboundEvent
from adapters.base import InboundRequest
from adapters.base import Reply
from adapters.base import UnsupportedMediaType
from adapters.bounds import check_fields
from adapters.bounds import check_urlencoded
from adapters.form_builders import Convention
from adapters.form_builders import convention_for
from adapters.form_fields import Entry
from adapters.form_fields import entries_from_json
from adapters.form_fields import entries_from_pairs
from adapters.form_fields import expand
from adapters.jsonbody import load_json
from adapters.negotiation import origin_allowed
from adapters.negotiation import origin_key
from adapters.negotiation import wants_page
from adapters.normalize import LeadDraft
from adapters.normalize import finalize
from adapters.options import rate_limit_field
from leadgate.config import SourceConfig

__all__ = [
    "ALIASES",
    "DEFAULT_SOURCE",
    "KIND",
    "NORMALIZE_ON_RECEIVE",
    "Options",
    "acknowledge",
    "normalize",
    "parse",
    "verify",
]

KIND = "form"
DEFAULT_SOURCE = "website_form"
NORMALIZE_ON_RECEIVE = True
BROWSER_FACING = True
"""Visitors' browsers post here: a refusal they see is a page (or ``error_redirect``), never raw JSON."""

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
ACCEPTED_TYPES = (*FORM_TYPES, "application/json")


def _validate_origin(value: str) -> None:
    if origin_key(value) is None:
        raise ValidationError(f"{value!r} is not an origin like https://example.com (scheme, host, optional port)")


class Options(Schema):
    """The ``form`` kind's own config keys."""

    honeypot = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1))
    redirect = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"}, require_tld=False)
    error_redirect = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"}, require_tld=False)
    allowed_origins = fields.List(fields.String(validate=_validate_origin), load_default=list)
    rate_limit = rate_limit_field()


def verify(request: InboundRequest, source: SourceConfig) -> None:
    """Refuses browser posts from pages not in ``allowed_origins``.

    A missing Origin passes: servers and curl send none, and the allow-list is about other
    people's web pages embedding the form, not about authentication.
    """
    allowed = source.option("allowed_origins") or []
    origin = request.header("origin").strip()
    if not allowed or not origin:
        return
    if not origin_allowed(origin, allowed):
        raise Forbidden(f"origin {origin} is not allowed to post to {source.id}", errors={"origin": origin})


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _json_body(body: bytes, source: SourceConfig) -> dict[str, Any]:
    data = load_json(body, limits=source.limits)
    if not isinstance(data, dict):
        kind = "an array" if isinstance(data, list) else "a single value"
        raise BadInput(f"the JSON body must be an object of field names to values, not {kind}")
    return data


def _form_fields(request: InboundRequest, media_type: str, source: SourceConfig) -> list[list[Any]]:
    if request.form is not None:  # the gateway decoded it, within the source's limits
        return [[str(name), str(value)] for name, value in request.form]
    if media_type != "application/x-www-form-urlencoded":
        raise BadInput("the multipart body could not be decoded")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"the form body is not valid UTF-8 (byte {err.start})") from None
    check_urlencoded(request.body, source.limits)
    pairs = parse_qsl(text, keep_blank_values=True)
    check_fields(pairs, source.limits)
    return [[name, value] for name, value in pairs]


def read_post(raw: Mapping[str, Any]) -> tuple[Convention, list[Entry]]:
    """A stored post's entries, read by the convention of the builder that sent it.

    Posts are stored as sent (``fields`` pairs, or the ``json`` object), so a replay reads them
    with today's conventions. Older events stored JSON bodies flattened into ``fields``.
    """
    entries = entries_from_json(raw["json"]) if "json" in raw else entries_from_pairs(raw.get("fields") or [])
    convention = convention_for(entries)
    return convention, expand(entries, convention.containers)


def _filled(value: Any) -> bool:
    return bool(str(value).strip()) if value is not None else False


def parse(request: InboundRequest, source: SourceConfig) -> list[InboundEvent]:
    """One event per post, holding the posted fields in order; a filled honeypot or bot trap marks it spam."""
    media_type = _media_type(request.content_type)
    raw: dict[str, Any]
    if media_type in FORM_TYPES:
        raw = {"fields": _form_fields(request, media_type, source)}
    elif media_type == "application/json" or media_type.endswith("+json"):
        raw = {"json": _json_body(request.body, source)}
    else:
        shown = media_type or "no content type"
        raise UnsupportedMediaType(f"cannot read {shown}; send one of {', '.join(ACCEPTED_TYPES)}")
    convention, entries = read_post(raw)
    honeypot = source.option("honeypot")
    if honeypot and any(e.name == honeypot and _filled(e.value) for e in entries):
        return [InboundEvent(raw=raw, outcome="spam", reason="honeypot")]
    survey = convention.survey(entries)
    if any(convention.read(e, survey).role == "trap" and _filled(e.value) for e in entries):
        return [InboundEvent(raw=raw, outcome="spam", reason=f"{convention.name} bot trap")]
    return [InboundEvent(raw=raw)]


def normalize(raw: Mapping[str, Any], source: SourceConfig) -> dict[str, Any]:
    """Builds the ConnectGain payload from a stored form event with the source's current mapping."""
    convention, entries = read_post(raw)
    honeypot = source.option("honeypot")
    draft = LeadDraft()
    for target, value in lead_fields([e for e in entries if e.name != honeypot], convention, source):
        draft.assign(target, value)
    return finalize(draft, source)


def acknowledge(accepted: Sequence[Accepted], request: InboundRequest, source: SourceConfig) -> Reply | None:
    """Sends a browser back to the configured thank-you page; JSON callers get the default answer.

    Spam and duplicates are redirected too, so a bot learns nothing from the answer.
    """
    redirect = source.option("redirect")
    if not redirect or not wants_page(request.header("accept"), request.header("x-requested-with")):
        return None  # a script (an XHR wrapper says so with X-Requested-With) keeps the JSON answer
    return Reply(303, "", content_type="text/html", headers={"Location": redirect})
