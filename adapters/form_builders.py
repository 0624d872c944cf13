"""The field-naming conventions of the form builders people run, so their posts need no ``field_map``.

Each :class:`Convention` recognises one builder's post by a field only it sends (``_wpcf7``,
``gform_submit``, ``wpforms[...]``, Mailchimp's ``b_<u>_<id>`` bot trap, ...), then reads every
entry of it as one of:

- a **field** the visitor filled in, with what its name says (a word such as ``email``, a sub-input
  such as ``first`` or ``city``, a type a generated name announces such as CF7's ``email-460``);
- **context**: the page URL, page title, form id or name, kept under the keys in :data:`CONTEXT_KEYS`;
- **technical**: nonces, versions, submit buttons, state blobs, never forwarded;
- a **trap**: a bot trap (honeypot) that a person never fills in.

What each builder posts, and where each fact comes from, is in ``tests/corpus/forms/NOTES.md``;
every convention here is exercised by a published sample in that corpus. A post no convention
claims is read by :data:`GENERIC`, which still parses brackets, generated names and CF7's
``your-*`` names. Pure: reads entries, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from adapters.form_fields import Entry

__all__ = ["CONTEXT_KEYS", "CONVENTIONS", "GENERIC", "Convention", "Reading", "convention_for", "word_of"]

CONTEXT_KEYS = ("page_url", "page_path", "page_title", "referrer", "form_id", "form_name", "form_key")
"""Where a post's context lands in ``custom_fields``, whichever builder sent it."""


@dataclass(frozen=True)
class Reading:
    """What one posted entry is. ``role`` is ``field``, ``context``, ``technical`` or ``trap``.

    For a field: ``key`` names its custom field when nothing better is known; ``word`` is what the
    alias table looks up; ``sub`` a sub-input's part (``first``, ``city``, ``primary``...); ``hint``
    the type a generated name announces (``email``, ``phone``, ``description``, ``name``, ``text``,
    ``number``, ``opt_in``); ``opaque`` marks a generated id that says nothing of its content. For
    context, ``key`` is one of :data:`CONTEXT_KEYS`.
    """

    role: str
    key: str = ""
    word: str = ""
    sub: str = ""
    hint: str = ""
    opaque: bool = False


TECHNICAL = Reading("technical")
TRAP = Reading("trap")


def context(key: str) -> Reading:
    return Reading("context", key=key)


Survey = Mapping[str, str]
"""What a convention learned from the whole post before reading its entries (Gravity's field kinds)."""


@dataclass(frozen=True)
class Convention:
    """One builder's naming: how to recognise its posts and how to read each entry."""

    name: str
    detect: Callable[[Sequence[Entry]], bool]
    read: Callable[[Entry, Survey], Reading]
    containers: frozenset[str] = frozenset()
    """Fields whose value is JSON holding more entries (read by ``form_fields.expand``)."""
    survey: Callable[[Sequence[Entry]], Survey] = field(default=lambda entries: {})


# --- words ---------------------------------------------------------------------------------------------------

CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
SEPARATORS = re.compile(r"[\s_.-]+")
YOUR = re.compile(r"^your[-_ ]+", re.IGNORECASE)
GENERATED = re.compile(
    r"^(?P<type>[a-z]+(?:_answer)?)[-_](?P<id>\d+|yui_[\d_]+|[0-9a-f]{4,8})$",
    re.IGNORECASE,
)
"""A name a builder made from a field's type and an id: CF7 ``email-460``, Squarespace
``phone-yui_3_17_2_1_1658358129065_2233``, Wix ``long_answer_3524``."""
TYPE_HINTS = {
    "email": "email",
    "tel": "phone",
    "phone": "phone",
    "textarea": "description",
    "long_answer": "description",
    "text": "text",
    "short_answer": "text",
    "name": "name",
    "number": "number",
}
"""The types such a generated name announces; others (``url``, ``menu``, ``checkbox``) are just custom fields."""
OPAQUE_NAME = re.compile(r"^(?:field_[0-9a-f]{7}|field_\d+|input_\d+|\d+|mmerge\d+)$", re.IGNORECASE)
"""Generated ids that say nothing: Elementor ``field_5778e7b``, numeric ids, Mailchimp ``MMERGE5``."""
DIALLING_WORDS = frozenset({"dialling_code", "dialing_code", "dial_code", "calling_code", "phone_code", "country_code"})


def word_of(name: str) -> str:
    """``"phoneNumber"`` -> ``"phone_number"``, ``"your-email"`` -> ``"email"``, ``"E-Mail"`` -> ``"e_mail"``."""
    text = YOUR.sub("", name.strip())
    return SEPARATORS.sub("_", CAMEL.sub("_", text)).strip("_").lower()


def read_name(name: str, key: str | None = None, sub: str = "") -> Reading:
    """A field named ``name`` by whoever built the form, with its generated-name hint if it has one."""
    key = key or name
    generated = GENERATED.match(name)
    if generated:
        hint = TYPE_HINTS.get(generated.group("type").lower(), "")
        return Reading("field", key=key, word="", sub=sub, hint=hint, opaque=True)
    return Reading("field", key=key, word=word_of(name), sub=sub, opaque=bool(OPAQUE_NAME.match(name)))


CONTROL_FIELDS = frozenset({"submit", "g_recaptcha_response", "h_captcha_response", "cf_turnstile_response"})
"""Fields every kind of form posts that say nothing about the lead: the button and captcha tokens."""
GENERIC_CONTEXT = {"_wp_http_referer": "page_path"}
GENERIC_TRAPS = frozenset({"bot-field"})


def read_generic(entry: Entry, survey: Survey = {}) -> Reading:  # noqa: B006 (read-only default)
    """Any form: ``_`` names are control fields, brackets are read, the last part names the field."""
    name = entry.name
    if name in GENERIC_CONTEXT:
        return context(GENERIC_CONTEXT[name])
    if name in GENERIC_TRAPS:
        return TRAP
    if name.startswith("_") or word_of(name) in CONTROL_FIELDS:
        return TECHNICAL
    if len(entry.path) > 1 and not entry.path[-1].isdigit():
        leaf, parent = entry.path[-1], entry.path[-2]
        return read_name(parent, key=name, sub=word_of(leaf)) if _is_sub(leaf) else read_name(leaf, key=name)
    return read_name(entry.path[0], key=entry.path[0])  # "interest[]" is the field "interest"


SUB_PARTS = frozenset(
    {
        "first",
        "last",
        "middle",
        "prefix",
        "suffix",
        "primary",
        "secondary",
        "full",
        "area",
        "addr1",
        "addr2",
        "address1",
        "address2",
        "addr_line1",
        "addr_line2",
        "line1",
        "line2",
        "street",
        "city",
        "state",
        "province",
        "region",
        "zip",
        "postal",
        "postcode",
        "country",
        "other",
    }
)
"""Sub-input names of combined fields (name, email with confirmation, phone, address)."""


def _is_sub(part: str) -> bool:
    return word_of(part) in SUB_PARTS


def _names(entries: Sequence[Entry]) -> set[str]:
    return {entry.name for entry in entries}


def _value_of(entries: Sequence[Entry], name: str) -> str:
    return next((str(e.value) for e in entries if e.name == name), "")


def _builder(
    name: str,
    *,
    detect: Callable[[Sequence[Entry]], bool],
    read: Callable[[Entry, Survey], Reading],
    containers: tuple[str, ...] = (),
    survey: Callable[[Sequence[Entry]], Survey] | None = None,
) -> Convention:
    return Convention(name, detect, read, frozenset(containers), survey or (lambda entries: {}))


# --- Contact Form 7 ------------------------------------------------------------------------------------------

CF7_TECHNICAL = re.compile(r"^_wpcf7\w*$|^_wpnonce$")
CF7_FREE_TEXT = re.compile(r"^_wpcf7_free_text_(?P<name>.+)$")


def read_cf7(entry: Entry, survey: Survey) -> Reading:
    name = entry.name
    if name == "_wpcf7":
        return context("form_id")
    free = CF7_FREE_TEXT.match(name)
    if free:  # the "other" text of a checkbox or radio: lead data behind a technical-looking name
        return Reading("field", key=f"{free.group('name')}_other")
    if CF7_TECHNICAL.match(name):
        return TECHNICAL
    return read_generic(entry)


# --- Elementor Pro -------------------------------------------------------------------------------------------

ELEMENTOR_CONTEXT = {"form_id": "form_id", "referer_title": "page_title", "referrer": "page_url"}
ELEMENTOR_TECHNICAL = frozenset({"post_id", "queried_id", "action"})


def read_elementor(entry: Entry, survey: Survey) -> Reading:
    if entry.name in ELEMENTOR_CONTEXT:
        return context(ELEMENTOR_CONTEXT[entry.name])
    if entry.name in ELEMENTOR_TECHNICAL:
        return TECHNICAL
    if entry.path[0] == "form_fields" and len(entry.path) >= 2:
        return read_name(entry.path[1], key=entry.path[1])
    return read_generic(entry)


# --- Gravity Forms -------------------------------------------------------------------------------------------

GRAVITY_INPUT = re.compile(r"^input_(?P<field>\d+)(?:\.(?P<sub>\d+))?$")
GRAVITY_CONFIRM = re.compile(r"^input_\d+_2$")
GRAVITY_TECHNICAL = re.compile(
    r"^(?:gform_\w+|_gform_submit_nonce_\d+|is_submit_\d+|state_\d+|version_hash|action|form_id"
    r"|display_title|display_description)$"
)
GRAVITY_CONTEXT = {"gform_submit": "form_id", "current_page_url": "page_url", "ajax_referer": "referrer"}
GRAVITY_NAME_PARTS = {"2": "prefix", "3": "first", "4": "middle", "6": "last", "8": "suffix"}
GRAVITY_ADDRESS_PARTS = {"1": "street", "2": "addr2", "3": "city", "4": "state", "5": "zip", "6": "country"}


def survey_gravity(entries: Sequence[Entry]) -> Survey:
    """Which numbered fields are names, addresses or consent boxes, told apart by their sub-inputs.

    The sub-input numbers overlap (``.3`` is a first name or a city), so the set of numbers a field
    posts decides: a name posts ``.3``/``.6`` and never ``.1`` or ``.5``; an address posts ``.1`` or
    ``.5`` among three or more; a consent box posts its label in ``.2`` and a revision id in ``.3``.
    Anything else with sub-inputs is a checkbox field (each ticked choice one value).
    """
    subs: dict[str, dict[str, str]] = {}
    for entry in entries:
        match = GRAVITY_INPUT.match(entry.name)
        if match and match.group("sub"):
            subs.setdefault(match.group("field"), {})[match.group("sub")] = str(entry.value)
    kinds: dict[str, str] = {}
    for number, parts in subs.items():
        present = set(parts)
        if present <= {"1", "2", "3"} and "3" in present and parts["3"].isdigit() and parts.get("1", "1") in ("1", ""):
            kinds[number] = "consent"
        elif present <= set(GRAVITY_NAME_PARTS) and present & {"3", "6"}:
            kinds[number] = "name"
        elif present <= set(GRAVITY_ADDRESS_PARTS) and present & {"1", "5"} and len(present) >= 3:
            kinds[number] = "address"
        else:
            kinds[number] = "choices"
    return kinds


def read_gravity(entry: Entry, survey: Survey) -> Reading:
    name = entry.name
    if name in GRAVITY_CONTEXT:
        return context(GRAVITY_CONTEXT[name])
    if GRAVITY_CONFIRM.match(name) or GRAVITY_TECHNICAL.match(name):
        return TECHNICAL  # input_N_2 is the "confirm your email" copy
    match = GRAVITY_INPUT.match(name)
    if match is None:
        return read_generic(entry)
    number, sub = match.group("field"), match.group("sub")
    key = f"input_{number}"
    kind = survey.get(number, "")
    if sub is None:
        return Reading("field", key=key, opaque=True)
    if kind == "name":
        return Reading("field", key=key, sub=GRAVITY_NAME_PARTS[sub])
    if kind == "address":
        return Reading("field", key=key, sub=GRAVITY_ADDRESS_PARTS[sub])
    if kind == "consent":
        return Reading("field", key=f"consent_{number}") if sub == "1" else TECHNICAL
    return Reading("field", key=key, opaque=True)


# --- WPForms -------------------------------------------------------------------------------------------------

WPFORMS_CONTEXT = {
    "wpforms[id]": "form_id",
    "page_url": "page_url",
    "page_title": "page_title",
    "url_referer": "referrer",
}
WPFORMS_TECHNICAL = frozenset({"page_id", "action", "start_timestamp", "end_timestamp", "g-recaptcha-hidden", "_wpfuj"})


def read_wpforms(entry: Entry, survey: Survey) -> Reading:
    name, path = entry.name, entry.path
    if name in WPFORMS_CONTEXT:
        return context(WPFORMS_CONTEXT[name])
    if name == "wpforms[hp]":
        return TRAP
    if name in WPFORMS_TECHNICAL:
        return TECHNICAL
    if path[:2] == ("wpforms", "fields") and len(path) >= 3:
        key = f"field_{path[2]}" if path[2].isdigit() else path[2]
        if len(path) >= 4 and _is_sub(path[3]):
            return Reading("field", key=key, sub=word_of(path[3]))
        return read_name(path[2], key=key) if not path[2].isdigit() else Reading("field", key=key, opaque=True)
    if path[0] == "wpforms":
        return TECHNICAL  # author, post_id, submit, token, nonce, recaptcha, payment ids
    return read_generic(entry)


# --- Ninja Forms 3 -------------------------------------------------------------------------------------------


def read_ninja(entry: Entry, survey: Survey) -> Reading:
    path = entry.path
    if entry.name in ("action", "security"):
        return TECHNICAL
    if path[0] != "formData":
        return read_generic(entry)
    if path[1:] == ("id",):
        return context("form_id")
    if path[1:] == ("settings", "title"):
        return context("form_name")
    if len(path) == 4 and path[1] == "fields" and path[3] == "value":
        return Reading("field", key=f"field_{path[2]}", opaque=True)
    return TECHNICAL  # settings, extra, each field's own id


# --- Formidable Forms ----------------------------------------------------------------------------------------

FORMIDABLE_CONTEXT = {"form_id": "form_id", "form_key": "form_key", "_wp_http_referer": "page_path"}
FORMIDABLE_TECHNICAL = re.compile(
    r"^(?:frm_action|frm_hide_fields_\d+|frm_submit_entry_\d+|frm_page_order_\d+|frm_next_page|item_key|frm_state"
    r"|action|nonce|item_meta\[0\])$"
)
FORMIDABLE_TRAP = re.compile(r"^(?:frm_verify|frm__[0-9a-f]{13})$")


def read_formidable(entry: Entry, survey: Survey) -> Reading:
    name, path = entry.name, entry.path
    if name in FORMIDABLE_CONTEXT:
        return context(FORMIDABLE_CONTEXT[name])
    if FORMIDABLE_TRAP.match(name):
        return TRAP
    if FORMIDABLE_TECHNICAL.match(name):
        return TECHNICAL
    if path[0] == "item_meta" and len(path) >= 2:
        key = f"field_{path[1]}"
        if len(path) >= 3 and _is_sub(path[2]):
            return Reading("field", key=key, sub=word_of(path[2]))
        return Reading("field", key=key, opaque=True)
    return read_generic(entry)


# --- Jotform -------------------------------------------------------------------------------------------------

JOTFORM_QUESTION = re.compile(r"^q\d+_(?P<label>\w+)$")
JOTFORM_TECHNICAL = frozenset(
    {
        "jsExecutionTracker",
        "submitSource",
        "buildDate",
        "submitDate",
        "uploadServerUrl",
        "eventObserver",
        "simple_spc",
        "event_id",
        "JWTContainer",
        "cardinalOrderNumber",
        "slug",
        "timeToSubmit",
        "validatedNewRequiredFieldIDs",
        "path",
        "temp_upload",
        "file_server",
        "preview",
    }
)


def read_jotform(entry: Entry, survey: Survey) -> Reading:
    name, path = entry.name, entry.path
    if name == "formID":
        return context("form_id")
    if name == "website":  # "Should be Empty:", hidden from people
        return TRAP
    if path[0] in JOTFORM_TECHNICAL:
        return TECHNICAL
    question = JOTFORM_QUESTION.match(path[0])
    if question:
        label = question.group("label")
        sub = word_of(path[1]) if len(path) >= 2 and _is_sub(path[1]) else ""
        return read_name(label, key=label, sub=sub)
    return read_generic(entry)


# --- HubSpot -------------------------------------------------------------------------------------------------

HUBSPOT_CONTEXT = {
    "hs_context.pageUrl": "page_url",
    "hs_context.pageTitle": "page_title",
    "hs_context.originalEmbedContext.formId": "form_id",
    "context.pageUri": "page_url",
    "context.pageName": "page_title",
}
HUBSPOT_MARKETING_CONSENT = "legalConsentOptions.consent.communications.value"
"""Forms API: ``true`` for each subscription the visitor ticked (``consentToProcess`` is not marketing)."""


def read_hubspot(entry: Entry, survey: Survey) -> Reading:
    name = entry.name
    if name in HUBSPOT_CONTEXT:
        return context(HUBSPOT_CONTEXT[name])
    if name == HUBSPOT_MARKETING_CONSENT:
        return Reading("field", key="marketing_consent", hint="opt_in")
    if entry.path[0] in ("hs_context", "context", "legalConsentOptions", "submittedAt"):
        return TECHNICAL
    return read_generic(entry)


# --- Mailchimp embedded signup -------------------------------------------------------------------------------

MAILCHIMP_TRAP = re.compile(r"^b_[0-9a-f]+_[0-9a-f]+$")


def read_mailchimp(entry: Entry, survey: Survey) -> Reading:
    if MAILCHIMP_TRAP.match(entry.name):
        return TRAP
    if entry.name in ("tags", "subscribe"):  # Mailchimp's own tag ids and its submit button
        return TECHNICAL
    return read_generic(entry)


# --- Formspree, Netlify --------------------------------------------------------------------------------------

FORMSPREE_TECHNICAL = frozenset({"_subject", "_next", "_cc", "_format", "_language", "_host_nonce"})


def read_formspree(entry: Entry, survey: Survey) -> Reading:
    if entry.name == "_replyto":
        return Reading("field", key="_replyto", word="email")
    if entry.name == "_gotcha":
        return TRAP
    if entry.name in FORMSPREE_TECHNICAL:
        return TECHNICAL
    return read_generic(entry)


def read_netlify(entry: Entry, survey: Survey) -> Reading:
    if entry.name == "form-name":
        return context("form_name")
    return read_generic(entry)


# --- Webflow, Squarespace, Wix -------------------------------------------------------------------------------

WEBFLOW_CONTEXT = {"name": "form_name", "source": "page_url", "elementId": "form_id"}
WEBFLOW_TECHNICAL = frozenset({"pageId", "domain", "test", "dolphin", "wfFlow", "localeId"})


def read_webflow(entry: Entry, survey: Survey) -> Reading:
    name, path = entry.name, entry.path
    if name in WEBFLOW_CONTEXT:
        return context(WEBFLOW_CONTEXT[name])
    if name in WEBFLOW_TECHNICAL or path[0] in ("trackingCookies", "fileUploads"):
        return TECHNICAL
    if path[0] == "fields" and len(path) >= 2:
        return read_name(path[1], key=path[1])
    return read_generic(entry)


SQUARESPACE_CONTEXT = {"formId": "form_id", "pageTitle": "page_title", "pagePath": "page_path"}


def read_squarespace(entry: Entry, survey: Survey) -> Reading:
    if entry.name in SQUARESPACE_CONTEXT:
        return context(SQUARESPACE_CONTEXT[entry.name])
    if entry.path[0] == "form" and len(entry.path) >= 2:
        return read_name(entry.path[1])
    return TECHNICAL  # key, collectionId, objectName, captcha tokens, page ids


def read_wix(entry: Entry, survey: Survey) -> Reading:
    if entry.name == "submission.formId":
        return context("form_id")
    if entry.path[:2] == ("submission", "submissions") and len(entry.path) >= 3:
        return read_name(entry.path[2])
    return read_generic(entry)


# --- the registry --------------------------------------------------------------------------------------------

GENERIC = _builder("generic", detect=lambda entries: True, read=read_generic)

CONVENTIONS: tuple[Convention, ...] = (
    _builder("contact-form-7", detect=lambda e: any(x.name.startswith("_wpcf7") for x in e), read=read_cf7),
    _builder(
        "elementor",
        detect=lambda e: (
            _value_of(e, "action") == "elementor_pro_forms_send_form" or any(x.path[0] == "form_fields" for x in e)
        ),
        read=read_elementor,
    ),
    _builder(
        "gravity-forms",
        detect=lambda e: "gform_submit" in _names(e) or any(x.name.startswith("is_submit_") for x in e),
        read=read_gravity,
        survey=survey_gravity,
    ),
    _builder("wpforms", detect=lambda e: any(x.path[0] == "wpforms" for x in e), read=read_wpforms),
    _builder(
        "ninja-forms",
        detect=lambda e: _value_of(e, "action") == "nf_ajax_submit",
        read=read_ninja,
        containers=("formData",),
    ),
    _builder(
        "formidable",
        detect=lambda e: "frm_action" in _names(e) or any(x.path[0] == "item_meta" for x in e),
        read=read_formidable,
    ),
    _builder(
        "jotform",
        detect=lambda e: "formID" in _names(e) and any(JOTFORM_QUESTION.match(x.path[0]) for x in e),
        read=read_jotform,
    ),
    _builder(
        "hubspot",
        detect=lambda e: "hs_context" in _names(e) or bool({"context.hutk", "context.pageUri"} & _names(e)),
        read=read_hubspot,
        containers=("hs_context",),
    ),
    _builder("mailchimp", detect=lambda e: any(MAILCHIMP_TRAP.match(x.name) for x in e), read=read_mailchimp),
    _builder(
        "formspree",
        detect=lambda e: bool({"_replyto", "_gotcha", "_next"} & _names(e)),
        read=read_formspree,
    ),
    _builder("netlify", detect=lambda e: "form-name" in _names(e), read=read_netlify),
    _builder(
        "webflow",
        detect=lambda e: {"pageId", "elementId"} <= _names(e) and any(x.path[0] == "fields" for x in e),
        read=read_webflow,
    ),
    _builder(
        "squarespace",
        detect=lambda e: {"form", "formId", "collectionId"} <= {x.path[0] for x in e},
        read=read_squarespace,
        containers=("form",),
    ),
    _builder("wix", detect=lambda e: any(x.path[:2] == ("submission", "submissions") for x in e), read=read_wix),
)
"""Tried in order; the first whose ``detect`` claims a post reads it, else :data:`GENERIC`."""


def convention_for(entries: Sequence[Entry]) -> Convention:
    """The convention of the builder that sent ``entries`` (detection runs before containers are read)."""
    return next((c for c in CONVENTIONS if c.detect(entries)), GENERIC)
