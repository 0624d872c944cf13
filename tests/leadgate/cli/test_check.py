"""``leadgate check-config`` and how every command reports a bad or missing config or an unreachable Redis."""

from __future__ import annotations

from click.testing import CliRunner

from leadgate.cli import main
from tests.support.cli import cli
from tests.support.cli import text


def test_check_config_prints_every_source_with_its_url(config_file):
    result = CliRunner().invoke(main, ["check-config"], env={"LEADGATE_CONFIG": str(config_file)})
    assert result.exit_code == 0, text(result)
    output = text(result)
    assert "/hooks/contact-us" in output
    assert "/hooks/careers" in output
    assert "careers_page" in output
    assert "website_form" in output
    assert f"config file: {config_file}" in output
    assert "3 attempts" in output


def test_check_config_prints_the_whole_url_with_a_public_url(config_file):
    config_file.write_text("public_url: https://leads.example-company.com\n" + config_file.read_text())
    output = text(cli(config_file, "check-config"))
    assert "https://leads.example-company.com/hooks/contact-us" in output


def test_check_config_with_a_bad_config_exits_nonzero_naming_the_key(config_file):
    config_file.write_text(config_file.read_text().replace("max_attempts: 3", "max_attempts: 0"))
    result = cli(config_file, "check-config")
    assert result.exit_code == 2
    assert "delivery.max_attempts" in text(result)
    assert "/hooks/" not in text(result)


def test_missing_config_file_exits_nonzero_naming_the_path(tmp_path):
    missing = tmp_path / "absent.yaml"
    result = CliRunner().invoke(main, ["events"], env={"LEADGATE_CONFIG": str(missing)})
    assert result.exit_code == 2
    assert str(missing) in text(result).replace("\n", "")  # rich folds a long path at 80 columns


def test_config_error_text_is_printed_verbatim(config_file):
    config_file.write_text(config_file.read_text().replace("tags: [website]", "tags: [website] [ads]"))
    result = cli(config_file, "check-config")
    assert result.exit_code == 2
    assert "[website] [ads]" in text(result)


def test_unreachable_redis_exits_3(config_file):
    lines = config_file.read_text().splitlines()
    config_file.write_text("\n".join(["redis_url: redis://127.0.0.1:1/0", *lines[1:]]) + "\n")
    result = cli(config_file, "events")
    assert result.exit_code == 3
    assert "cannot reach redis" in text(result)


def test_check_config_says_where_a_cluster_store_and_rqs_redis_are(config_file):
    lines = config_file.read_text().splitlines()
    cluster = "redis+cluster://:pw@n1:7000,n2:7001"
    config_file.write_text("\n".join([f"redis_url: {cluster}", "queue_redis_url: redis://rq:6379/0", *lines[1:]]))
    output = " ".join(text(cli(config_file, "check-config")).split())  # rich folds long lines
    assert "a Redis Cluster, from 2 start node(s); store keys tagged {lg}:" in output
    assert "RQ jobs and rate limits: QUEUE_REDIS_URL/queue_redis_url" in output
    assert "pw" not in output.replace("prints", "")


def test_check_config_says_admin_and_metrics_are_off_without_an_admin_token(config_file):
    output = text(cli(config_file, "check-config"))
    assert "admin: off (no admin_token: /admin/ answers 404" in output
    assert "metrics: off" in output
    assert "set public_url to print full ones" in output


def test_check_config_prints_admin_and_metrics_urls_in_full_with_a_public_url(config_file):
    token = "t" * 40
    config_file.write_text(
        f"public_url: https://leads.example-company.com/\nadmin_token: {token}\n" + config_file.read_text()
    )
    output = text(cli(config_file, "check-config"))
    assert (
        "admin: on (admin_token set): dashboard https://leads.example-company.com/admin/, "
        "API https://leads.example-company.com/admin/api/" in output
    )
    assert "metrics: at https://leads.example-company.com/metrics with the admin token as bearer" in output
    assert "relative URLs" not in output
    assert token not in output
    config_file.write_text("metrics_public: true\n" + config_file.read_text())
    assert "metrics: public at https://leads.example-company.com/metrics" in text(cli(config_file, "check-config"))
