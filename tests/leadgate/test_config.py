"""Unit tests of ``leadgate.config``: ${VAR} expansion, defaults, validation messages, the sandbox override."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters import facebook
from adapters import form
from leadgate import defaults
from leadgate.config import SANDBOX_API_KEY
from leadgate.config import Config
from leadgate.config import ConfigError
from leadgate.config import DeliveryPolicy
from leadgate.config import Durability
from leadgate.config import RequestLimits
from tests.support.config import load_config
from tests.support.config import parse_yaml

ONE_DESTINATION = """
destinations:
  main:
    base_url: http://crm.test/v1
"""

MINIMAL = (
    ONE_DESTINATION
    + """
sources:
  contact-us:
    kind: form
"""
)

LONG_TOKEN = "t" * defaults.ADMIN_TOKEN_MIN_LENGTH
"""An admin token as short as start-up allows."""


def parse(text: str, **env: str) -> Config:
    return parse_yaml(text, env)


def config_error(text: str, **env: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_yaml(text, env)
    return str(raised.value)


# ${VAR} expansion


def test_whole_scalar_var_is_replaced_by_its_value():
    config = parse(ONE_DESTINATION + "admin_token: ${TOKEN}\n", TOKEN=LONG_TOKEN)
    assert config.admin_token == LONG_TOKEN


@pytest.mark.parametrize("env", [{}, {"TOKEN": ""}], ids=["unset", "empty"])
def test_whole_scalar_var_unset_or_empty_becomes_none(env):
    config = parse_yaml(ONE_DESTINATION + "admin_token: ${TOKEN}\n", env)
    assert config.admin_token is None


def test_default_applies_when_var_is_unset_or_empty_but_not_when_set():
    text = ONE_DESTINATION + "admin_token: ${TOKEN:-fallback-" + LONG_TOKEN + "}\n"
    assert parse(text).admin_token == "fallback-" + LONG_TOKEN
    assert parse(text, TOKEN="").admin_token == "fallback-" + LONG_TOKEN
    assert parse(text, TOKEN="given-" + LONG_TOKEN).admin_token == "given-" + LONG_TOKEN


def test_var_embedded_in_text_is_spliced_in_and_unset_ones_vanish():
    text = """
destinations:
  main:
    base_url: http://${CRM_HOST}:${CRM_PORT:-8080}/functions${SUFFIX}/v1
"""
    config = parse(text, CRM_HOST="crm.test")
    assert config.destinations["main"].base_url == "http://crm.test:8080/functions/v1"


def test_vars_inside_yaml_flow_mappings():
    text = """
destinations:
  main: {base_url: ${CRM_URL}, api_key: ${CRM_KEY}}
sources:
  contact-us:
    kind: form
    field_map: {"123": ${ORG_FIELD}, "unset": ${NOT_SET}, "free": ${FREE:-custom_fields.notes, with: colon}}
"""
    config = parse(text, CRM_URL="https://crm.test", CRM_KEY="cg_live", ORG_FIELD="company_name")
    assert config.destinations["main"].base_url == "https://crm.test"
    assert config.destinations["main"].api_key == "cg_live"
    assert dict(config.sources["contact-us"].field_map) == {
        "123": "company_name",
        "unset": None,
        "free": "custom_fields.notes, with: colon",
    }


def test_numbers_from_env_are_validated_as_numbers():
    config = parse(ONE_DESTINATION + "delivery:\n  max_attempts: ${ATTEMPTS:-5}\n  timeout_seconds: ${T}\n", T="2.5")
    assert config.delivery.max_attempts == 5
    assert config.delivery.timeout_seconds == 2.5
    assert "delivery.max_attempts" in config_error(ONE_DESTINATION + "delivery:\n  max_attempts: ${A}\n", A="many")


def test_without_environ_the_process_environment_is_used(monkeypatch):
    monkeypatch.setenv("LEADGATE_TEST_TOKEN", "from-os-" + LONG_TOKEN)
    assert parse_yaml(ONE_DESTINATION + "admin_token: ${LEADGATE_TEST_TOKEN}\n").admin_token == "from-os-" + LONG_TOKEN


def test_var_with_double_underscore_embedded_in_text():
    text = "destinations:\n  main:\n    base_url: http://${MY__HOST}/v1\n"
    assert parse(text, MY__HOST="crm.test").destinations["main"].base_url == "http://crm.test/v1"


# redis_url


def test_redis_url_env_is_honoured_when_redis_url_is_unset():
    assert parse(ONE_DESTINATION, REDIS_URL="redis://env:6379/0").redis_url == "redis://env:6379/0"
    assert parse(ONE_DESTINATION + "redis_url: ${REDIS_URL}\n", REDIS_URL="redis://env/1").redis_url == "redis://env/1"


def test_redis_url_in_file_wins_over_env_and_neither_means_embedded():
    text = ONE_DESTINATION + "redis_url: redis://file:6379/2\n"
    assert parse(text, REDIS_URL="redis://env:6379/0").redis_url == "redis://file:6379/2"
    assert parse(ONE_DESTINATION + "redis_url: ${REDIS_URL}\n").redis_url is None
    assert parse(ONE_DESTINATION).redis_url is None


def test_a_sentinel_url_is_taken_from_the_file_or_the_environment():
    url = "redis+sentinel://:pw@h1:26379,h2/mymaster/2"
    assert parse(ONE_DESTINATION + f"redis_url: {url}\n").redis_url == url
    assert parse(ONE_DESTINATION, REDIS_URL=url).redis_url == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h:6379/0", "must start with redis://"),
        ("redis+sentinel://h1:26379", "name the master's service"),
        ("redis+sentinel://h1:x/mymaster", "must be a number"),
        ("redis+sentinel://h1/mymaster/zero", "database after the service"),
    ],
)
def test_a_bad_redis_url_is_named_from_the_file_or_the_environment(url, expected):
    assert "redis_url" in config_error(ONE_DESTINATION + f"redis_url: {url}\n")
    assert expected in config_error(ONE_DESTINATION + f"redis_url: {url}\n")
    with pytest.raises(ConfigError, match="REDIS_URL") as raised:
        parse(ONE_DESTINATION, REDIS_URL=url)
    assert expected in str(raised.value)


CLUSTER = "redis+cluster://:pw@n1:7000,n2:7001"


def test_a_cluster_store_takes_rqs_redis_from_the_file_or_the_environment():
    text = ONE_DESTINATION + f"redis_url: {CLUSTER}\nqueue_redis_url: redis://rq:6379/0\n"
    assert (parse(text).redis_url, parse(text).queue_redis_url) == (CLUSTER, "redis://rq:6379/0")
    config = parse(ONE_DESTINATION, REDIS_URL=CLUSTER, QUEUE_REDIS_URL="redis+sentinel://s1/rq")
    assert config.queue_redis_url == "redis+sentinel://s1/rq"
    assert parse(ONE_DESTINATION).queue_redis_url is None  # RQ shares redis_url's Redis


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        (f"redis_url: {CLUSTER}\n", {}, "set queue_redis_url (or QUEUE_REDIS_URL) to a standalone or Sentinel"),
        ("", {"REDIS_URL": CLUSTER}, "RQ's jobs, which cannot run on a cluster"),
        ("queue_redis_url: redis+cluster://n1\n", {}, "queue_redis_url: RQ cannot run on a Redis Cluster"),
        ("", {"REDIS_URL": CLUSTER, "QUEUE_REDIS_URL": "redis+cluster://n1"}, "RQ cannot run on a Redis Cluster"),
        (f"redis_url: {CLUSTER}\nqueue_redis_url: redis://rq\ndurability: replicated\n", {}, "not supported on a"),
        ("queue_redis_url: memcached://m\n", {}, "queue_redis_url: must start with redis://"),
        ("redis_url: redis+cluster://n1/2\n", {}, "a Redis Cluster has only database 0"),
    ],
)
def test_what_a_cluster_cannot_hold_is_refused_with_the_reason(text, env, expected):
    with pytest.raises(ConfigError) as raised:
        parse(ONE_DESTINATION + text, **env)
    assert expected in str(raised.value)
    assert "pw" not in str(raised.value)


def test_a_bad_redis_url_does_not_repeat_its_password():
    assert "s3cret" not in config_error(ONE_DESTINATION + "redis_url: 'https://:s3cret@h/0'\n")


# durability


def test_durability_defaults_to_the_master_and_replicated_reads_its_keys():
    assert parse(ONE_DESTINATION).durability == Durability("master", 1, 500)
    assert not parse(ONE_DESTINATION).durability.replicated
    config = parse(ONE_DESTINATION + "durability: replicated\nmin_replicas: 2\nreplica_timeout_ms: 250\n")
    assert config.durability == Durability("replicated", 2, 250) and config.durability.replicated


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("durability: quorum\n", "durability: Must be one of: master, replicated"),
        ("min_replicas: 0\n", "min_replicas: Must be greater than or equal to 1"),
        ("replica_timeout_ms: 0\n", "replica_timeout_ms: Must be greater than or equal to 1"),
    ],
)
def test_bad_durability_settings_are_named(text, expected):
    assert expected in config_error(ONE_DESTINATION + text)


# defaults


def test_top_level_and_delivery_defaults():
    config = parse(ONE_DESTINATION)
    assert config.delivery == DeliveryPolicy()
    assert config.delivery.max_attempts == defaults.MAX_ATTEMPTS == 8
    assert config.delivery.backoff_seconds == defaults.BACKOFF_SECONDS
    assert config.delivery.timeout_seconds == defaults.TIMEOUT_SECONDS
    assert config.delivery.jitter == defaults.BACKOFF_JITTER
    assert config.delivery.calls_in_flight == defaults.CALLS_IN_FLIGHT == 4
    assert config.retention_days == defaults.RETENTION_DAYS
    assert config.data_dir == defaults.DATA_DIR
    assert config.sources == {}
    assert config.admin_token is None


def test_delivery_values_are_read():
    config = parse(
        ONE_DESTINATION
        + "delivery:\n  max_attempts: 3\n  backoff_seconds: [1, 2.5]\n  timeout_seconds: 4\n  jitter: 0\n"
        + "  lease_seconds: 60\n  calls_in_flight: 1\n"
    )
    assert config.delivery == DeliveryPolicy(
        max_attempts=3, backoff_seconds=(1.0, 2.5), timeout_seconds=4.0, jitter=0.0, lease=60.0, calls_in_flight=1
    )


def test_source_defaults_come_from_the_kind_and_the_only_destination():
    source = parse(MINIMAL).sources["contact-us"]
    assert source.kind == "form"
    assert source.source == form.DEFAULT_SOURCE == "website_form"
    assert source.destination == "main"
    assert source.tags == ()
    assert source.phone_region is None
    assert dict(source.field_map) == {}
    assert source.deal is None
    assert source.max_body_bytes == defaults.MAX_BODY_BYTES
    assert source.option("honeypot") is None
    assert source.option("allowed_origins") == []
    assert source.path == "/hooks/contact-us"


def test_source_values_override_defaults():
    text = """
destinations:
  main: {base_url: http://crm.test}
  other: {base_url: http://other.test, api_key: k}
sources:
  careers:
    kind: form
    destination: other
    source: careers_page
    tags: [jobs, website]
    phone_region: gb
    honeypot: _gotcha
    deal: {title: "{first_name} applied", value: 10}
"""
    source = parse(text).sources["careers"]
    assert (source.destination, source.source, source.tags) == ("other", "careers_page", ("jobs", "website"))
    assert source.phone_region == "GB"
    assert source.option("honeypot") == "_gotcha"
    assert source.deal["title"] == "{first_name} applied"
    assert source.deal["value"] == 10
    assert source.deal["currency"] == "USD"


def test_source_url_joins_public_url_and_base_url_loses_trailing_slash():
    config = parse("public_url: https://leads.example.com/\n" + MINIMAL.replace("/v1", "/v1/"))
    assert config.source_url(config.sources["contact-us"]) == "https://leads.example.com/hooks/contact-us"
    assert config.destinations["main"].base_url == "http://crm.test/v1"
    assert parse(MINIMAL).source_url(parse(MINIMAL).sources["contact-us"]) == "/hooks/contact-us"


def test_secrets_are_kept_out_of_reprs():
    api_key = ONE_DESTINATION.replace("/v1", "/v1\n    api_key: cg_topsecret")
    config = parse(api_key + "admin_token: adm_topsecret_" + LONG_TOKEN + "\n")
    assert config.destinations["main"].api_key == "cg_topsecret"
    assert "cg_topsecret" not in repr(config)
    assert "adm_topsecret" not in repr(config)


# errors name the key and the problem

TWO_DESTINATIONS = """
destinations:
  main: {base_url: http://crm.test}
  other: {base_url: http://other.test}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("sources: {}\n", ["destinations", "Missing data for required field"], id="missing-destinations"),
        pytest.param("destinations: {}\n", ["destinations", "minimum length 1"], id="empty-destinations"),
        pytest.param(
            "destinations:\n  main:\n    base_url: not a url\n",
            ["destinations.main", "base_url", "Not a valid URL"],
            id="bad-base-url",
        ),
        pytest.param(
            "destinations:\n  main:\n    base_url: ftp://crm.test\n",
            ["destinations.main", "base_url", "Not a valid URL"],
            id="base-url-not-http",
        ),
        pytest.param(
            "destinations:\n  main:\n    api_key: k\n",
            ["destinations.main", "base_url", "Missing data"],
            id="base-url-missing",
        ),
        pytest.param(
            ONE_DESTINATION + "sources:\n  a:\n    kind: carrier_pigeon\n",
            ["sources.a.kind", "unknown kind 'carrier_pigeon'", "form"],
            id="unknown-kind",
        ),
        pytest.param(
            ONE_DESTINATION + "sources:\n  a:\n    tags: [x]\n",
            ["sources.a.kind", "Missing data"],
            id="kind-missing",
        ),
        pytest.param(
            ONE_DESTINATION + "sources:\n  a:\n    kind: form\n    colour: blue\n",
            ["sources.a.colour", "Unknown field"],
            id="unknown-key-in-form-source",
        ),
        pytest.param(
            ONE_DESTINATION + "sources:\n  a:\n    kind: form\n    redirect: thanks.html\n",
            ["sources.a.redirect", "Not a valid URL"],
            id="form-option-invalid",
        ),
        pytest.param(
            TWO_DESTINATIONS + "sources:\n  a:\n    kind: form\n",
            ["sources.a.destination", "more than one destination"],
            id="destination-omitted-with-two",
        ),
        pytest.param(
            TWO_DESTINATIONS + "sources:\n  a:\n    kind: form\n    destination: elsewhere\n",
            ["sources.a.destination", "no destination named 'elsewhere'"],
            id="unknown-destination",
        ),
        pytest.param(
            ONE_DESTINATION + "sources:\n  a:\n    kind: form\n    phone_region: USA\n",
            ["sources.a.phone_region", "two-letter region code"],
            id="phone-region-too-long",
        ),
        pytest.param(
            ONE_DESTINATION + "sources:\n  'bad id!':\n    kind: form\n",
            ["sources", "bad id!", "does not match"],
            id="bad-source-id",
        ),
        pytest.param(
            ONE_DESTINATION + "delivery:\n  max_attempts: 0\n",
            ["delivery.max_attempts", "greater than or equal to 1"],
            id="max-attempts-0",
        ),
        pytest.param(
            ONE_DESTINATION + "delivery:\n  calls_in_flight: 0\n",
            ["delivery.calls_in_flight", "greater than or equal to 1"],
            id="calls-in-flight-0",
        ),
        pytest.param(
            ONE_DESTINATION + "delivery:\n  calls_in_flight: 17\n",
            ["delivery.calls_in_flight", "less than or equal to 16"],
            id="calls-in-flight-above-the-connection-pool",
        ),
        pytest.param(
            ONE_DESTINATION + "delivery:\n  backoff_seconds: []\n",
            ["delivery.backoff_seconds", "minimum length 1"],
            id="backoff-empty",
        ),
        pytest.param(
            ONE_DESTINATION + "delivery:\n  timeout_seconds: 10\n  lease_seconds: 10\n",
            ["delivery.lease_seconds", "longer than timeout_seconds"],
            id="lease-equal-to-timeout",
        ),
        pytest.param(
            ONE_DESTINATION + "delivery:\n  lease_seconds: 5\n",
            ["delivery.lease_seconds", "longer than timeout_seconds"],
            id="lease-shorter-than-default-timeout",
        ),
        pytest.param(
            ONE_DESTINATION + "retention_days: 0\n",
            ["retention_days", "greater than or equal to 1"],
            id="retention-0",
        ),
    ],
)
def test_invalid_config_names_the_key_and_the_problem(text, expected):
    message = config_error(text)
    for part in expected:
        assert part in message


def test_every_bad_key_is_named_at_once():
    message = config_error(ONE_DESTINATION + "delivery:\n  max_attempts: 0\n  jitter: 2\nretention_days: 0\n")
    assert "delivery.max_attempts" in message
    assert "delivery.jitter" in message
    assert "retention_days" in message


def test_lease_longer_than_timeout_is_accepted():
    config = parse(ONE_DESTINATION + "delivery:\n  timeout_seconds: 2\n  lease_seconds: 2.5\n")
    assert config.delivery.lease_seconds == 2.5


@pytest.mark.parametrize(
    ("text", "path"),
    [
        pytest.param("destinations:\n  main:\n    base_url: not a url\n", "destinations.main.base_url:", id="dest"),
        pytest.param(ONE_DESTINATION + "sources:\n  a: form\n", "sources.a:", id="source"),
    ],
)
def test_error_path_matches_the_file(text, path):
    assert config_error(text).startswith(path)


def test_phone_region_must_be_a_known_region():
    message = config_error(ONE_DESTINATION + "sources:\n  a:\n    kind: form\n    phone_region: XX\n")
    assert "sources.a.phone_region" in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a sentence\n", "42\n"], ids=["list", "string", "number"])
def test_non_mapping_file_is_refused(text):
    assert "must be a mapping" in config_error(text)


def test_empty_file_is_missing_its_destinations():
    assert "destinations" in config_error("")


def test_invalid_yaml_names_the_file(tmp_path: Path):
    path = tmp_path / "leadgate.yaml"
    path.write_text(ONE_DESTINATION + "sources: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert str(path) in str(raised.value)
    assert "not valid YAML" in str(raised.value)


# load_config


def test_load_config_reads_leadgate_config_path_and_records_it(tmp_path: Path):
    path = tmp_path / "custom.yaml"
    path.write_text(MINIMAL + "admin_token: ${TOKEN}\n", encoding="utf-8")
    config = load_config(environ={"LEADGATE_CONFIG": str(path), "TOKEN": LONG_TOKEN})
    assert config.path == str(path)
    assert config.admin_token == LONG_TOKEN
    assert list(config.sources) == ["contact-us"]


def test_load_config_defaults_to_leadgate_yaml_in_the_working_directory(tmp_path: Path, monkeypatch):
    (tmp_path / "leadgate.yaml").write_text(MINIMAL, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert list(config.sources) == ["contact-us"]
    assert Path(config.path) == Path(defaults.CONFIG_PATH)


def test_missing_file_names_the_leadgate_config_path(tmp_path: Path):
    missing = tmp_path / "nowhere" / "leadgate.yaml"
    with pytest.raises(ConfigError) as raised:
        load_config(environ={"LEADGATE_CONFIG": str(missing)})
    assert str(missing) in str(raised.value)
    assert "not found" in str(raised.value)
    assert "LEADGATE_CONFIG" in str(raised.value)


def test_explicit_path_wins_over_leadgate_config(tmp_path: Path):
    path = tmp_path / "explicit.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    config = load_config(path, environ={"LEADGATE_CONFIG": str(tmp_path / "absent.yaml")})
    assert config.path == str(path)


# DeliveryPolicy


def test_backoff_follows_the_schedule_and_the_last_value_repeats():
    policy = DeliveryPolicy(backoff_seconds=(1, 5, 30))
    assert [policy.backoff(n) for n in range(1, 7)] == [1.0, 5.0, 30.0, 30.0, 30.0, 30.0]
    assert policy.backoff(0) == 1.0
    default = DeliveryPolicy()
    assert default.backoff(1) == 30.0
    assert default.backoff(7) == default.backoff(50) == 14400.0


def test_lease_defaults_to_three_timeouts_plus_grace_unless_configured():
    assert DeliveryPolicy(timeout_seconds=2).lease_seconds == 3 * 2 + defaults.LEASE_GRACE_SECONDS
    assert DeliveryPolicy(timeout_seconds=2, lease=7).lease_seconds == 7
    assert parse(ONE_DESTINATION + "delivery:\n  timeout_seconds: 4\n").delivery.lease_seconds == 42


# LEADGATE_SANDBOX_URL

SANDBOX_CANDIDATES = """
destinations:
  keyless:
    base_url: https://real.example/v1
    api_key: ${CONNECTGAIN_API_KEY}
  keyed:
    base_url: https://other.example/v1
    api_key: cg_live
"""


def test_sandbox_url_replaces_only_keyless_destinations():
    config = parse(SANDBOX_CANDIDATES, LEADGATE_SANDBOX_URL="http://127.0.0.1:8900/")
    keyless, keyed = config.destinations["keyless"], config.destinations["keyed"]
    assert keyless.base_url == "http://127.0.0.1:8900"
    assert keyless.api_key == SANDBOX_API_KEY
    assert keyless.sandbox is True
    assert keyless.configured
    assert keyed.base_url == "https://other.example/v1"
    assert keyed.api_key == "cg_live"
    assert keyed.sandbox is False


def test_sandbox_url_leaves_destinations_with_a_key_from_env_alone():
    config = parse(SANDBOX_CANDIDATES, LEADGATE_SANDBOX_URL="http://127.0.0.1:8900", CONNECTGAIN_API_KEY="cg_env")
    assert config.destinations["keyless"].base_url == "https://real.example/v1"
    assert config.destinations["keyless"].api_key == "cg_env"
    assert not any(d.sandbox for d in config.destinations.values())


def test_without_sandbox_url_a_keyless_destination_stays_unconfigured():
    keyless = parse(SANDBOX_CANDIDATES).destinations["keyless"]
    assert keyless.base_url == "https://real.example/v1"
    assert keyless.api_key is None
    assert not keyless.configured
    assert keyless.sandbox is False


def test_field_map_target_that_is_not_a_lead_field_fails_at_load():
    text = """
destinations:
  main: {base_url: "http://127.0.0.1:9", api_key: k}
sources:
  a:
    kind: form
    field_map: {org: company, budget: custom_fields.budget, junk: null}
"""
    with pytest.raises(ConfigError, match=r"sources\.a\.field_map\.org: 'company' is not a lead field"):
        parse_yaml(text, {})


# -- request limits --------------------------------------------------------------------------------


LIMITED = (
    ONE_DESTINATION
    + """
request_limits:
  max_body_bytes: 65536
  max_fields: 300
  max_depth: 8
sources:
  plain:
    kind: form
  own:
    kind: form
    max_fields: 40
    max_value_length: 500
  meta:
    kind: facebook
    app_secret: s
    verify_token: v
    access_token: t
"""
)


def test_request_limits_default_to_the_documented_values():
    source = parse(MINIMAL).sources["contact-us"]
    assert source.max_body_bytes == defaults.MAX_BODY_BYTES
    assert source.limits == RequestLimits(
        max_fields=defaults.MAX_FIELDS,
        max_name_length=defaults.MAX_NAME_LENGTH,
        max_value_length=defaults.MAX_VALUE_LENGTH,
        max_depth=defaults.MAX_DEPTH,
    )


def test_request_limits_come_from_the_source_then_the_kind_then_request_limits():
    sources = parse(LIMITED).sources
    assert sources["plain"].max_body_bytes == 65536
    assert sources["plain"].limits == RequestLimits(max_fields=300, max_depth=8)
    assert sources["own"].limits == RequestLimits(max_fields=40, max_value_length=500, max_depth=8)
    # Meta batches: the kind's own field limit wins over the shared one; the rest is shared
    assert sources["meta"].limits == RequestLimits(max_fields=facebook.LIMITS["max_fields"], max_depth=8)


@pytest.mark.parametrize(
    "where", ["request_limits:\n  max_fields: 0\n", "sources:\n  x:\n    kind: form\n    max_depth: 0\n"]
)
def test_a_request_limit_must_be_positive(where):
    message = config_error(ONE_DESTINATION + where)
    assert "max_" in message and "greater than or equal to 1" in message


# every problem at once, with its line, a hint and the unset variables


def test_three_mistakes_in_different_places_are_named_in_one_error_with_their_lines():
    text = (
        "destinations:\n"  # 1
        "  main:\n"  # 2
        "    base_url: not a url\n"  # 3
        "delivery:\n"  # 4
        "  max_attempts: 0\n"  # 5
        "sources:\n"  # 6
        "  a:\n"  # 7
        "    kind: form\n"  # 8
        "    phone_regoin: US\n"  # 9
    )
    with pytest.raises(ConfigError) as raised:
        parse_yaml(text, {})
    lines = str(raised.value).splitlines()
    assert lines == [
        "destinations.main.base_url: Not a valid URL. (line 3)",
        "delivery.max_attempts: Must be greater than or equal to 1 and less than or equal to 100. (line 5)",
        "sources.a.phone_regoin: Unknown field. Did you mean `phone_region`? (line 9)",
    ]
    assert [p.line for p in raised.value.problems] == [3, 5, 9]


def test_every_bad_source_is_named_not_only_the_first():
    text = ONE_DESTINATION + "sources:\n  a:\n    kind: pigeon\n  b:\n    kind: form\n    redirekt: https://x.test/\n"
    message = config_error(text)
    assert "sources.a.kind: unknown kind 'pigeon'" in message
    assert "sources.b.redirekt: Unknown field. Did you mean `redirect`? (line 10)" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "destinations:\n  main:\n    base_url: http://x.test\nretension_days: 3\n",
            "retension_days: Unknown field. Did you mean `retention_days`? (line 4)",
            id="top-level",
        ),
        pytest.param(
            ONE_DESTINATION + "delivery:\n  max_atempts: 3\n",
            "delivery.max_atempts: Unknown field. Did you mean `max_attempts`?",
            id="nested",
        ),
        pytest.param(
            "destinations:\n  main:\n    base_url: http://x.test\n    apikey: k\n",
            "destinations.main.apikey: Unknown field. Did you mean `api_key`? (line 4)",
            id="in-a-named-entry",
        ),
        pytest.param(
            ONE_DESTINATION + "sources:\n  a:\n    kind: form\n    deal: {titel: x}\n",
            "sources.a.deal.titel: Unknown field. Did you mean `title`?",
            id="deal",
        ),
    ],
)
def test_a_misspelt_key_is_answered_with_the_nearest_known_one(text, expected):
    assert expected in config_error(text)


def test_an_unknown_key_far_from_any_known_one_gets_no_guess():
    message = config_error(ONE_DESTINATION + "sources:\n  a:\n    kind: form\n    colour: blue\n")
    assert "sources.a.colour: Unknown field. (line 8)" in message
    assert "Did you mean" not in message


def test_every_unset_variable_a_value_needed_is_named():
    text = (
        "destinations:\n"
        "  main:\n"
        "    base_url: ${CRM_URL}\n"
        "  other:\n"
        "    base_url: https://${CRM_HOST}:${CRM_PORT:-}/v1\n"
        "admin_token: ${UNSET_BUT_OPTIONAL}\n"
    )
    message = config_error(text)
    assert "destinations.main.base_url: is empty: ${CRM_URL} is not set in the environment (line 3)" in message
    assert "destinations.other.base_url: Not a valid URL. (${CRM_HOST}, ${CRM_PORT} are not set" in message
    assert "UNSET_BUT_OPTIONAL" not in message  # an empty admin_token is allowed: nothing needed it


def test_a_source_defined_twice_is_refused_with_both_lines():
    text = ONE_DESTINATION + "sources:\n  a:\n    kind: form\n  a:\n    kind: form\n    tags: [x]\n"
    message = config_error(text)
    assert message == "sources.a: defined twice (first at line 6); a key may appear once in its mapping (line 8)"


def test_a_key_repeated_inside_a_source_is_refused():
    text = ONE_DESTINATION + "sources:\n  a:\n    kind: form\n    tags: [x]\n    tags: [y]\n"
    assert "sources.a.tags: defined twice (first at line 8)" in config_error(text)


def test_yaml_anchors_and_merge_keys_are_not_duplicates():
    text = (
        ONE_DESTINATION
        + "sources:\n  a: &common\n    kind: form\n    tags: [x]\n  b:\n    <<: *common\n    tags: [y]\n"
    )
    config = parse(text)
    assert config.sources["b"].tags == ("y",)
