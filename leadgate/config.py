"""Loads and validates ``leadgate.yaml``: the only place configuration enters the program.

The file is YAML with ``${VAR}`` (and ``${VAR:-default}``) expanded from the
environment. It is validated with marshmallow at start-up; a bad file raises
:class:`ConfigError` whose message names every bad key, so start-up stops with a
sentence an operator can act on.

The source kinds are not known here: the entry points (the app factory, the worker, the CLI)
pass their registry (``adapters.KINDS``) in, and each kind validates its own options.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Protocol

import phonenumbers
import yaml
from marshmallow import INCLUDE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from leadgate import defaults
from leadgate.alert_settings import AlertSettings
from leadgate.alert_settings import AlertSettingsSchema
from leadgate.config_errors import ConfigError
from leadgate.config_errors import Problem
from leadgate.config_errors import config_error
from leadgate.config_errors import flatten
from leadgate.contract import is_valid_target
from leadgate.env_refs import expand_tree
from leadgate.env_refs import protect_env_refs
from leadgate.redis_urls import check_redis_url
from leadgate.redis_urls import is_cluster_url
from leadgate.visitor_messages import LANGUAGES
from leadgate.yaml_lines import YamlDocument
from leadgate.yaml_lines import load_yaml

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_PROXIES_ENV = "LEADGATE_TRUSTED_PROXIES"

__all__ = [
    "Config",
    "SourceKind",
    "ConfigError",
    "DeliveryPolicy",
    "Destination",
    "Durability",
    "Kinds",
    "LIMIT_NAMES",
    "RequestLimits",
    "SourceConfig",
    "load_config",
    "parse_config",
]

SOURCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SourceKind(Protocol):
    """What the config needs of a source kind (an ``adapters`` module): its options and its default source."""

    DEFAULT_SOURCE: str
    Options: Any


Kinds = Mapping[str, Any]
"""The registry of source kinds, by ``kind:`` name (``adapters.KINDS``)."""


@dataclass(frozen=True)
class Destination:
    """A ConnectGain account the gateway delivers to."""

    name: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    sandbox: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.api_key)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard the worker tries before a lead is dead-lettered."""

    max_attempts: int = defaults.MAX_ATTEMPTS
    backoff_seconds: tuple[float, ...] = defaults.BACKOFF_SECONDS
    timeout_seconds: float = defaults.TIMEOUT_SECONDS
    jitter: float = defaults.BACKOFF_JITTER
    lease: float | None = None
    batch_size: int = defaults.BATCH_SIZE
    batch_wait_ms: int = 0
    calls_in_flight: int = defaults.CALLS_IN_FLIGHT

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based), before jitter."""
        index = min(max(attempt, 1), len(self.backoff_seconds)) - 1
        return float(self.backoff_seconds[index])

    @property
    def lease_seconds(self) -> float:
        """Longest one delivery may hold an event before another worker takes it over.

        Defaults to connect + write + read timeouts plus grace, so a live worker's
        request has always ended (one way or the other) before its lease does.
        """
        if self.lease is not None:
            return self.lease
        return 3 * self.timeout_seconds + defaults.LEASE_GRACE_SECONDS


@dataclass(frozen=True)
class RequestLimits:
    """What one request to a source may hold besides its size: beyond a limit it gets 413 or 400."""

    max_fields: int = defaults.MAX_FIELDS
    max_name_length: int = defaults.MAX_NAME_LENGTH
    max_value_length: int = defaults.MAX_VALUE_LENGTH
    max_depth: int = defaults.MAX_DEPTH


DURABILITY_MODES = ("master", "replicated")


@dataclass(frozen=True)
class Durability:
    """What a 2xx waits for: the write on the master (``master``), or on ``min_replicas`` replicas too."""

    mode: str = defaults.DURABILITY
    min_replicas: int = defaults.MIN_REPLICAS
    replica_timeout_ms: int = defaults.REPLICA_TIMEOUT_MS

    @property
    def replicated(self) -> bool:
        return self.mode == "replicated"


LIMIT_NAMES = ("max_body_bytes", "max_fields", "max_name_length", "max_value_length", "max_depth")
"""The request limits a source sets, ``request_limits:`` sets for every source, and a kind may raise."""


@dataclass(frozen=True)
class SourceConfig:
    """One ``sources:`` entry: where leads come in and how they become ConnectGain leads."""

    id: str
    kind: str
    destination: str
    source: str
    tags: tuple[str, ...] = ()
    phone_region: str | None = None
    field_map: Mapping[str, str] = field(default_factory=dict)
    deal: Mapping[str, Any] | None = None
    max_body_bytes: int = defaults.MAX_BODY_BYTES
    limits: RequestLimits = RequestLimits()
    options: Mapping[str, Any] = field(default_factory=dict)
    default_source: str = ""
    """The kind's ConnectGain ``source`` when ``source`` is a template that renders empty."""
    language: str = defaults.LANGUAGE
    """The language of the page a visitor's refused post shows (``leadgate.visitor_messages``)."""
    required: tuple[str, ...] = ()
    """Lead fields that must all be present (and valid) after normalizing, else the lead is refused (422)."""
    required_any: tuple[str, ...] = ()
    """Lead fields of which at least one must be present, else the lead is refused (422)."""

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    @property
    def path(self) -> str:
        return f"/hooks/{self.id}"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    destinations: Mapping[str, Destination]
    sources: Mapping[str, SourceConfig]
    delivery: DeliveryPolicy = DeliveryPolicy()
    redis_url: str | None = None
    queue_redis_url: str | None = None
    """Where RQ keeps its jobs and workers, and the rate limiter its counters; None: ``redis_url``'s Redis.

    Nothing there must survive (the event store re-dispatches any lead whose job is lost), so a small
    standalone Redis does; it is required beside a ``redis+cluster://`` store, which RQ cannot use."""
    durability: Durability = Durability()
    admin_token: str | None = field(default=None, repr=False)
    metrics_public: bool = False
    trusted_proxies: tuple[IPNetwork, ...] = ()
    """Peers whose ``X-Forwarded-For`` is believed (the reverse proxies in front); nobody else's is."""
    retention_days: int = defaults.RETENTION_DAYS
    payload_retention_days: int = defaults.PAYLOAD_RETENTION_DAYS
    """How long a finished event keeps its payloads (at most ``retention_days``); its summary stays longer."""
    data_dir: str = defaults.DATA_DIR
    public_url: str = ""
    alerts: AlertSettings = AlertSettings()
    """Where alerts go and when each condition fires (``alerts:``, :mod:`leadgate.alert_settings`)."""
    path: str | None = None
    kinds: Kinds = field(default_factory=dict, repr=False, compare=False)
    """The source kinds this config was validated with: what normalizes, verifies and replays its events."""

    def source_url(self, source: SourceConfig) -> str:
        return f"{self.public_url.rstrip('/')}{source.path}"


class DestinationConfigSchema(Schema):
    base_url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    api_key = fields.String(load_default=None, allow_none=True)


class DeliverySchema(Schema):
    max_attempts = fields.Integer(load_default=defaults.MAX_ATTEMPTS, validate=validate.Range(min=1, max=100))
    backoff_seconds = fields.List(
        fields.Float(validate=validate.Range(min=0)),
        load_default=list(defaults.BACKOFF_SECONDS),
        validate=validate.Length(min=1),
    )
    timeout_seconds = fields.Float(load_default=defaults.TIMEOUT_SECONDS, validate=validate.Range(min=0.1, max=300))
    jitter = fields.Float(load_default=defaults.BACKOFF_JITTER, validate=validate.Range(min=0, max=1))
    lease_seconds = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=1))
    batch_size = fields.Integer(load_default=defaults.BATCH_SIZE, validate=validate.Range(min=1, max=100))
    batch_wait_ms = fields.Integer(load_default=0, validate=validate.Range(min=0, max=5000))
    calls_in_flight = fields.Integer(
        load_default=defaults.CALLS_IN_FLIGHT, validate=validate.Range(min=1, max=defaults.MAX_CALLS_IN_FLIGHT)
    )

    @validates_schema
    def lease_outlasts_timeout(self, data: dict[str, Any], **kwargs: Any) -> None:
        lease = data.get("lease_seconds")
        if lease is not None and lease <= data.get("timeout_seconds", defaults.TIMEOUT_SECONDS):
            raise ValidationError("must be longer than timeout_seconds", "lease_seconds")


class DealSchema(Schema):
    title = fields.String(load_default=None, allow_none=True)
    """A template (docs/configuration.md, Templates); unset: ``defaults.DEAL_TITLE``."""
    value = fields.Float(load_default=0)
    currency = fields.String(load_default="USD", validate=validate.Length(equal=3))
    stage = fields.String(load_default=None, allow_none=True)
    pipeline_id = fields.String(load_default=None, allow_none=True)


def _limit_field() -> fields.Integer:
    """A request limit: unset here means the kind's own, then ``request_limits:``, then the default."""
    return fields.Integer(load_default=None, validate=validate.Range(min=1))


class RequestLimitsSchema(Schema):
    """``request_limits:``: the limits of every source that sets none itself."""

    max_body_bytes = _limit_field()
    max_fields = _limit_field()
    max_name_length = _limit_field()
    max_value_length = _limit_field()
    max_depth = _limit_field()


REQUIRABLE_FIELDS = ("first_name", "last_name", "email", "phone", "company_name", "description")
"""What ``required`` and ``required_any`` may name, besides ``custom_fields.NAME``."""


def _requirable(name: str) -> None:
    if name in REQUIRABLE_FIELDS or (name.startswith("custom_fields.") and name[len("custom_fields.") :].strip()):
        return
    known = ", ".join(REQUIRABLE_FIELDS)
    raise ValidationError(f"{name!r} is not a lead field that can be required ({known}, custom_fields.NAME)")


def _required_list() -> fields.List:
    return fields.List(fields.String(validate=_requirable), load_default=list)


class CommonSourceSchema(Schema):
    """Keys every source kind has; the rest are checked by the kind's own ``Options``."""

    class Meta:
        unknown = INCLUDE

    kind = fields.String(required=True)
    required = _required_list()
    required_any = _required_list()
    destination = fields.String(load_default=None, allow_none=True)
    source = fields.String(load_default=None, allow_none=True)
    tags = fields.List(fields.String(), load_default=list)
    phone_region = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(
            sorted(phonenumbers.SUPPORTED_REGIONS) + [r.lower() for r in sorted(phonenumbers.SUPPORTED_REGIONS)],
            error="must be a two-letter region code phonenumbers knows (US, GB, DE, ...)",
        ),
    )
    field_map = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), load_default=dict)
    deal = fields.Nested(DealSchema, load_default=None, allow_none=True)
    language = fields.String(
        load_default=defaults.LANGUAGE,
        validate=validate.OneOf(LANGUAGES, error=f"must be one of {', '.join(LANGUAGES)}"),
    )
    max_body_bytes = _limit_field()
    max_fields = _limit_field()
    max_name_length = _limit_field()
    max_value_length = _limit_field()
    max_depth = _limit_field()


def _network(text: str) -> None:
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValidationError(
            f"{text!r} is not an address or network (CIDR such as 10.0.0.0/8, 127.0.0.1 or ::1)"
        ) from None


def _trusted_proxies(listed: list[str] | None, environ: Mapping[str, str]) -> tuple[IPNetwork, ...]:
    """``trusted_proxies`` from the file, else ``$LEADGATE_TRUSTED_PROXIES`` (comma-separated)."""
    if listed is None:
        text = environ.get(TRUSTED_PROXIES_ENV, "").strip()
        if text.isdigit():
            raise ConfigError(
                f"{TRUSTED_PROXIES_ENV}={text}: a hop count trusts X-Forwarded-For from anyone who reaches the "
                "gateway directly; list the proxies' addresses instead (e.g. 127.0.0.1,10.0.0.0/8)"
            )
        listed = [part for part in text.split(",") if part.strip()]
        for part in listed:
            try:
                _network(part)
            except ValidationError as err:
                raise ConfigError(f"{TRUSTED_PROXIES_ENV}: {err.messages[0]}") from None
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in listed)


def _admin_token(token: str) -> None:
    """An empty ``admin_token`` leaves the admin surface off; a set one must be long enough not to be guessed."""
    if token and len(token.strip()) < defaults.ADMIN_TOKEN_MIN_LENGTH:
        raise ValidationError(
            f"must be at least {defaults.ADMIN_TOKEN_MIN_LENGTH} characters (it has {len(token.strip())}); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


def _redis_url(url: str) -> None:
    try:
        check_redis_url(url)
    except ValueError as err:
        raise ValidationError(str(err)) from None


class ConfigSchema(Schema):
    redis_url = fields.String(load_default=None, allow_none=True, validate=_redis_url)
    queue_redis_url = fields.String(load_default=None, allow_none=True, validate=_redis_url)
    durability = fields.String(load_default=defaults.DURABILITY, validate=validate.OneOf(DURABILITY_MODES))
    min_replicas = fields.Integer(load_default=defaults.MIN_REPLICAS, validate=validate.Range(min=1, max=100))
    replica_timeout_ms = fields.Integer(
        load_default=defaults.REPLICA_TIMEOUT_MS, validate=validate.Range(min=1, max=60_000)
    )
    admin_token = fields.String(load_default=None, allow_none=True, validate=_admin_token)
    metrics_public = fields.Boolean(load_default=False)
    trusted_proxies = fields.List(fields.String(validate=_network), load_default=None, allow_none=True)
    public_url = fields.String(load_default="")
    alerts = fields.Nested(AlertSettingsSchema, load_default=AlertSettings)
    retention_days = fields.Integer(load_default=defaults.RETENTION_DAYS, validate=validate.Range(min=1))
    payload_retention_days = fields.Integer(
        load_default=defaults.PAYLOAD_RETENTION_DAYS, validate=validate.Range(min=1)
    )
    data_dir = fields.String(load_default=defaults.DATA_DIR)
    destinations = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(DestinationConfigSchema),
        required=True,
        validate=validate.Length(min=1),
    )
    delivery = fields.Nested(DeliverySchema, load_default=lambda: DeliverySchema().load({}))
    request_limits = fields.Nested(RequestLimitsSchema, load_default=lambda: RequestLimitsSchema().load({}))
    sources = fields.Dict(
        keys=fields.String(validate=validate.Regexp(SOURCE_ID)), values=fields.Dict(), load_default=dict
    )


def _request_limits(common: Mapping[str, Any], adapter: Any, shared: Mapping[str, Any]) -> dict[str, int]:
    """Each limit from the source, else the kind's own (``LIMITS``: platforms that batch), else
    ``request_limits:``, else the default."""
    builtin = {"max_body_bytes": defaults.MAX_BODY_BYTES, **vars(RequestLimits())}
    layers = (common, getattr(adapter, "LIMITS", {}), shared, builtin)
    return {name: next(layer[name] for layer in layers if layer.get(name) is not None) for name in LIMIT_NAMES}


def _build_source(
    source_id: str,
    raw: Mapping[str, Any],
    destinations: Mapping[str, Destination] | None,
    kinds: Kinds,
    shared_limits: Mapping[str, Any],
    problems: list[Problem],
) -> SourceConfig | None:
    """The source, or None with what is wrong with it added to ``problems`` (every check runs).

    ``destinations`` is None when they are themselves invalid: the source's is then not checked.
    """
    prefix = f"sources.{source_id}"
    found: list[Problem] = []
    common_schema = CommonSourceSchema()
    try:
        common = common_schema.load(raw)
    except ValidationError as err:
        found.extend(flatten(err.messages, prefix, common_schema))
        common = dict(err.valid_data or {})
    found.extend(
        Problem(
            f"{prefix}.field_map.{key}",
            f"{target!r} is not a lead field (first_name, email, phone, company_name, "
            "description, tags, source, opt_in_status, custom_fields.NAME, ... or null to drop)",
        )
        for key, target in (common.get("field_map") or {}).items()
        if not is_valid_target(target)
    )
    kind = common.pop("kind", None)
    adapter = kinds.get(kind) if kind is not None else None
    if kind is not None and adapter is None:
        found.append(Problem(f"{prefix}.kind", f"unknown kind {kind!r}; one of {', '.join(sorted(kinds))}"))
    options: Mapping[str, Any] = {}
    if adapter is not None:
        extra = {k: v for k, v in common.items() if k not in common_schema.fields}
        try:
            options = adapter.Options().load(extra)
        except ValidationError as err:
            found.extend(flatten(err.messages, prefix, adapter.Options(), also_known=common_schema.fields))
    destination = common.get("destination")
    if destinations is None:
        pass
    elif destination is None:
        if len(destinations) != 1:
            found.append(Problem(f"{prefix}.destination", "required when there is more than one destination"))
        else:
            destination = next(iter(destinations))
    elif destination not in destinations:
        found.append(Problem(f"{prefix}.destination", f"no destination named {destination!r}"))
    if found or adapter is None or destination is None:
        problems.extend(found)
        return None
    phone_region = common["phone_region"].upper() if common["phone_region"] else None
    limits = _request_limits(common, adapter, shared_limits)
    kind_default = getattr(adapter, "default_source", None)
    default_source = kind_default(options) if kind_default else adapter.DEFAULT_SOURCE
    return SourceConfig(
        id=source_id,
        kind=kind,
        destination=destination,
        source=common["source"] or default_source,
        tags=tuple(common["tags"]),
        phone_region=phone_region,
        field_map=dict(common["field_map"]),
        deal=common["deal"],
        max_body_bytes=limits.pop("max_body_bytes"),
        limits=RequestLimits(**limits),
        options=options,
        default_source=default_source,
        language=common["language"],
        required=tuple(common["required"]),
        required_any=tuple(common["required_any"]),
    )


SANDBOX_API_KEY = "cg_sandbox"
SANDBOX_URL_ENV = "LEADGATE_SANDBOX_URL"
"""Set by ``leadgate dev`` (and found by the CLI beside it): where destinations without an API key deliver."""


def _sandboxed(destination: Destination, sandbox_url: str) -> Destination:
    """``leadgate dev`` points destinations that have no API key at the sandbox CRM."""
    if destination.configured:
        return destination
    return Destination(name=destination.name, base_url=sandbox_url.rstrip("/"), api_key=SANDBOX_API_KEY, sandbox=True)


def parse_config(
    data: Any,
    environ: Mapping[str, str] | None = None,
    path: str | None = None,
    *,
    kinds: Kinds,
    document: YamlDocument | None = None,
) -> Config:
    """Validates an already-parsed config tree (``${VAR}`` placeholders not yet expanded) against ``kinds``.

    Every problem is collected before one :class:`ConfigError` names them all; ``document``
    (the file as :func:`load_yaml` read it) adds their lines and the keys defined twice.
    """
    environ = os.environ if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config file must be a mapping of keys (redis_url, destinations, sources, ...)")
    unset: dict[str, list[str]] = {}
    data = expand_tree(data, environ, "", unset)
    problems = [
        Problem(key, f"defined twice (first at line {first}); a key may appear once in its mapping", line)
        for key, first, line in (document.duplicates if document else [])
    ]
    schema = ConfigSchema()
    try:
        loaded = schema.load(data)
    except ValidationError as err:
        problems.extend(flatten(err.messages, schema=schema))
        failed = err.messages if isinstance(err.messages, dict) else {}
        valid = err.valid_data if isinstance(err.valid_data, dict) else {}
        loaded = {k: v for k, v in valid.items() if k not in failed}
    destinations: dict[str, Destination] | None = None
    if "destinations" in loaded:
        destinations = {
            name: Destination(name=name, base_url=d["base_url"].rstrip("/"), api_key=d["api_key"])
            for name, d in loaded["destinations"].items()
        }
        sandbox_url = environ.get(SANDBOX_URL_ENV)
        if sandbox_url:
            destinations = {name: _sandboxed(d, sandbox_url) for name, d in destinations.items()}
    shared_limits = loaded.get("request_limits") or RequestLimitsSchema().load({})
    built = {
        sid: _build_source(sid, raw, destinations, kinds, shared_limits, problems)
        for sid, raw in _source_entries(loaded, data).items()
    }
    if not problems:
        problems.extend(_environment_problems(loaded, environ))
    if problems:
        raise config_error(problems, document.line_of if document else None, unset)
    assert destinations is not None  # no problems: the schema loaded them
    sources = {sid: source for sid, source in built.items() if source is not None}
    delivery = loaded["delivery"]
    redis_url = _url_setting(loaded, environ, "redis_url")
    queue_redis_url = _url_setting(loaded, environ, "queue_redis_url")
    durability = Durability(loaded["durability"], loaded["min_replicas"], loaded["replica_timeout_ms"])
    return Config(
        destinations=destinations,
        sources=sources,
        delivery=DeliveryPolicy(
            max_attempts=delivery["max_attempts"],
            backoff_seconds=tuple(delivery["backoff_seconds"]),
            timeout_seconds=delivery["timeout_seconds"],
            jitter=delivery["jitter"],
            lease=delivery["lease_seconds"],
            batch_size=delivery["batch_size"],
            batch_wait_ms=delivery["batch_wait_ms"],
            calls_in_flight=delivery["calls_in_flight"],
        ),
        redis_url=redis_url,
        queue_redis_url=queue_redis_url,
        durability=durability,
        admin_token=loaded["admin_token"],
        metrics_public=loaded["metrics_public"],
        trusted_proxies=_trusted_proxies(loaded["trusted_proxies"], environ),
        retention_days=loaded["retention_days"],
        payload_retention_days=min(loaded["payload_retention_days"], loaded["retention_days"]),
        data_dir=loaded["data_dir"],
        public_url=loaded["public_url"],
        alerts=loaded["alerts"],
        path=path,
        kinds=kinds,
    )


def _source_entries(loaded: Mapping[str, Any], data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The sources to check: all of them, or when ``sources:`` failed as a whole, each that is a mapping."""
    if "sources" in loaded:
        return loaded["sources"]
    raw = data.get("sources")
    if not isinstance(raw, dict):
        return {}
    return {sid: v for sid, v in raw.items() if isinstance(v, dict) and SOURCE_ID.match(str(sid))}


def _environment_problems(loaded: Mapping[str, Any], environ: Mapping[str, str]) -> list[Problem]:
    """What the environment adds to a valid file: Redis URLs, trusted proxies, what a cluster cannot hold."""
    problems = []
    urls: list[str | None] = []
    for name in ("redis_url", "queue_redis_url"):
        try:
            urls.append(_url_setting(loaded, environ, name))
        except ConfigError as err:
            problems.append(Problem("", str(err)))
    durability = Durability(loaded["durability"], loaded["min_replicas"], loaded["replica_timeout_ms"])
    checks: list[Callable[[], object]] = [lambda: _trusted_proxies(loaded["trusted_proxies"], environ)]
    if not problems:
        checks.append(lambda: _check_cluster_setup(urls[0], urls[1], durability))
    for run_check in checks:
        try:
            run_check()
        except ConfigError as err:
            problems.append(Problem("", str(err)))
    return problems


def _url_setting(loaded: Mapping[str, Any], environ: Mapping[str, str], name: str) -> str | None:
    """A Redis URL from the file, else from its environment variable (``REDIS_URL``, ``QUEUE_REDIS_URL``)."""
    variable = name.upper()
    url = loaded[name] or environ.get(variable) or None
    if url and not loaded[name]:
        try:
            check_redis_url(url)
        except ValueError as err:
            raise ConfigError(f"{variable}: {err}") from None
    return url


def _check_cluster_setup(redis_url: str | None, queue_redis_url: str | None, durability: Durability) -> None:
    """What a Redis Cluster cannot hold: RQ's queue (rq/rq#1942: its keys span slots), and ``WAIT``."""
    if queue_redis_url and is_cluster_url(queue_redis_url):
        raise ConfigError(
            "queue_redis_url: RQ cannot run on a Redis Cluster (its commands span hash slots); "
            "name a standalone or Sentinel Redis (docs/operations.md, Redis Cluster)"
        )
    if not (redis_url and is_cluster_url(redis_url)):
        return
    if not queue_redis_url:
        raise ConfigError(
            "redis_url is a Redis Cluster: set queue_redis_url (or QUEUE_REDIS_URL) to a standalone or Sentinel "
            "Redis for RQ's jobs, which cannot run on a cluster (docs/operations.md, Redis Cluster)"
        )
    if durability.replicated:
        raise ConfigError(
            "durability: replicated is not supported on a Redis Cluster (WAIT there covers one node's "
            "connection); use a Sentinel set-up for it, or min-replicas-to-write on the cluster's masters"
        )


def parse_yaml(text: str, environ: Mapping[str, str] | None = None, path: str | None = None, *, kinds: Kinds) -> Config:
    """Parses config text; the unit tests' entry point."""
    try:
        document = load_yaml(protect_env_refs(text))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path or 'config'} is not valid YAML: {err}") from None
    return parse_config(document.data, environ, path, kinds=kinds, document=document)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$LEADGATE_CONFIG``, else ``./leadgate.yaml``, else the starter config ``leadgate dev`` wrote."""
    environ = os.environ if environ is None else environ
    if environ.get("LEADGATE_CONFIG"):
        return Path(environ["LEADGATE_CONFIG"])
    path = Path(defaults.CONFIG_PATH)
    if not path.exists() and Path(defaults.DEV_CONFIG_PATH).exists():
        return Path(defaults.DEV_CONFIG_PATH)
    return path


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None, *, kinds: Kinds
) -> Config:
    """Reads and validates the config file (``$LEADGATE_CONFIG``, default ``./leadgate.yaml``)."""
    file = Path(path) if path is not None else config_path(environ)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {file} not found (set LEADGATE_CONFIG or create it)") from None
    return parse_yaml(text, environ, str(file), kinds=kinds)
