"""The ``alerts:`` section of the config: where alerts go, and when each condition fires.

Parsed here (a marshmallow schema) and nowhere else; :mod:`leadgate.config` only nests it. Every
default lives in :mod:`leadgate.defaults`. A per-source entry (``alerts.sources.<id>``) overrides
the conditions for that source alone, and carries its ``expect_every``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate
from marshmallow import validates_schema

from leadgate import defaults

__all__ = [
    "CHANNEL_KINDS",
    "AlertSettings",
    "AlertSettingsSchema",
    "Channel",
    "ConditionSettings",
    "Duration",
    "parse_duration",
]

CHANNEL_KINDS = ("slack", "webhook", "email")
SMTP_SECURITY = ("starttls", "ssl", "none")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """``90``, ``"30s"``, ``"10m"``, ``"4h"``, ``"7d"`` -> seconds; raises ValueError on anything else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration (a number of seconds, or 30s, 10m, 4h, 7d)")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


class Duration(fields.Field):
    """A length of time in the file, as seconds (a float) once loaded."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as err:
            raise ValidationError(str(err)) from None
        if seconds <= 0:
            raise ValidationError("must be longer than zero")
        return seconds


@dataclass(frozen=True)
class Channel:
    """One place alerts go. ``kind`` says which of the other fields matter."""

    kind: str
    name: str
    url: str = ""
    secret: str = field(default="", repr=False)
    host: str = ""
    port: int = defaults.SMTP_PORT
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    recipients: tuple[str, ...] = ()
    security: str = "starttls"
    timeout_seconds: float = defaults.ALERT_SEND_TIMEOUT_SECONDS


@dataclass(frozen=True)
class ConditionSettings:
    """When the conditions fire; the global values, or one source's after its overrides."""

    dead_letters: bool = True
    dead_letter_window: float = defaults.DEAD_LETTER_WINDOW_SECONDS
    paused: bool = True
    needs_token: bool = True
    backlog: bool = True
    backlog_older_than: float = defaults.BACKLOG_ALERT_SECONDS
    silence: bool = True
    expect_every: float | None = None
    learn_silence: bool = True
    silence_factor: float = defaults.SILENCE_FACTOR
    silence_minimum: float = defaults.SILENCE_MINIMUM_SECONDS
    rejections: bool = True
    rejection_minimum: int = defaults.REJECTION_MINIMUM
    rejection_factor: float = defaults.REJECTION_FACTOR
    facebook_token: bool = True
    token_expires_within: float = defaults.TOKEN_EXPIRY_WARNING_SECONDS
    facebook_subscription: bool = True


@dataclass(frozen=True)
class AlertSettings:
    """The whole ``alerts:`` section."""

    channels: tuple[Channel, ...] = ()
    repeat_after: float = defaults.ALERT_REPEAT_SECONDS
    evaluate_every: float = defaults.ALERT_EVALUATE_SECONDS
    facebook_check_every: float = defaults.FACEBOOK_CHECK_SECONDS
    conditions: ConditionSettings = ConditionSettings()
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-source overrides as loaded (``ConditionSettings`` field names); :meth:`for_source` applies them."""

    def for_source(self, source_id: str) -> ConditionSettings:
        """The conditions of one source: the global ones with its overrides applied."""
        overrides = self.sources.get(source_id)
        return replace(self.conditions, **overrides) if overrides else self.conditions


def _flag() -> fields.Boolean:
    return fields.Boolean(load_default=None)


class _ConditionsSchema(Schema):
    """``alerts.conditions`` and ``alerts.sources.<id>``: unset keys stay None, so overrides know what was set."""

    dead_letters = _flag()
    dead_letter_window = Duration(load_default=None)
    paused = _flag()
    needs_token = _flag()
    backlog = _flag()
    backlog_older_than = Duration(load_default=None)
    silence = _flag()
    expect_every = Duration(load_default=None)
    learn_silence = _flag()
    silence_factor = fields.Float(load_default=None, validate=validate.Range(min=1))
    silence_minimum = Duration(load_default=None)
    rejections = _flag()
    rejection_minimum = fields.Integer(load_default=None, validate=validate.Range(min=1))
    rejection_factor = fields.Float(load_default=None, validate=validate.Range(min=1))
    facebook_token = _flag()
    token_expires_within = Duration(load_default=None)
    facebook_subscription = _flag()

    @post_load
    def set_only(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {name: value for name, value in data.items() if value is not None}


class _ChannelSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(CHANNEL_KINDS))
    name = fields.String(load_default=None)
    url = fields.Url(load_default="", schemes={"http", "https"}, require_tld=False)
    secret = fields.String(load_default="")
    host = fields.String(load_default="")
    port = fields.Integer(load_default=defaults.SMTP_PORT, validate=validate.Range(min=1, max=65535))
    user = fields.String(load_default="")
    password = fields.String(load_default="")
    sender = fields.Email(data_key="from", load_default="")
    recipients = fields.List(fields.Email(), data_key="to", load_default=list)
    security = fields.String(load_default="starttls", validate=validate.OneOf(SMTP_SECURITY))
    timeout_seconds = fields.Float(
        load_default=defaults.ALERT_SEND_TIMEOUT_SECONDS, validate=validate.Range(min=0.1, max=120)
    )

    @validates_schema
    def has_what_its_kind_needs(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data.get("kind")
        if kind in ("slack", "webhook") and not data.get("url"):
            raise ValidationError(f"a {kind} channel needs its url (is its ${{VAR}} set?)", "url")
        if kind == "webhook" and not data.get("secret"):
            raise ValidationError(
                "a webhook channel needs a secret to sign with (e.g. ${ALERT_WEBHOOK_SECRET})", "secret"
            )
        if kind == "email":
            for key, name in (("host", "host"), ("sender", "from"), ("recipients", "to")):
                if not data.get(key):
                    raise ValidationError(f"an email channel needs {name}", name)

    @post_load
    def build(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["recipients"] = tuple(data["recipients"])
        return data


class AlertSettingsSchema(Schema):
    """``alerts:``; an empty or missing section means no channels and every condition at its default."""

    channels = fields.List(fields.Nested(_ChannelSchema), load_default=list)
    repeat_after = Duration(load_default=defaults.ALERT_REPEAT_SECONDS)
    evaluate_every = Duration(load_default=defaults.ALERT_EVALUATE_SECONDS)
    facebook_check_every = Duration(load_default=defaults.FACEBOOK_CHECK_SECONDS)
    conditions = fields.Nested(_ConditionsSchema, load_default=dict)
    sources = fields.Dict(keys=fields.String(), values=fields.Nested(_ConditionsSchema), load_default=dict)

    @post_load
    def build(self, data: dict[str, Any], **kwargs: Any) -> AlertSettings:
        channels = []
        for number, channel in enumerate(data["channels"], 1):
            name = channel.pop("name") or f"{channel['kind']}-{number}"
            channels.append(Channel(name=name, **channel))
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValidationError("two channels have the same name", "channels")
        return AlertSettings(
            channels=tuple(channels),
            repeat_after=data["repeat_after"],
            evaluate_every=data["evaluate_every"],
            facebook_check_every=data["facebook_check_every"],
            conditions=replace(ConditionSettings(), **data["conditions"]),
            sources=data["sources"],
        )
