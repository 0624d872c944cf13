"""The ``leadgate`` group as a whole: its help, and that no command leaves a process behind."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import redis
from click.testing import CliRunner

from leadgate.cli import main
from leadgate.cli.app import COMMANDS
from leadgate.cli.app import UNCUT
from leadgate.embedded_redis import EmbeddedRedis
from tests.support.config import API_KEY
from tests.support.config import BASE_CONFIG


def words(output: str) -> str:
    return re.sub(r"\s+", " ", output)


@pytest.mark.parametrize("group", [[], ["dlq"], ["destinations"]], ids=["top", "dlq", "destinations"])
def test_help_lists_every_command_with_its_whole_description_at_80_columns(group):
    result = CliRunner().invoke(main, [*group, "--help"], terminal_width=80)
    assert result.exit_code == 0
    listing = result.output.split("Commands:", 1)[1]
    assert "..." not in listing
    assert max(len(line) for line in result.output.splitlines()) <= 80
    command: click.Group = main
    for name in group:
        command = command.get_command(click.Context(command), name)  # type: ignore[assignment]
    for name in command.list_commands(click.Context(command)):
        sub = command.get_command(click.Context(command), name)
        assert sub is not None and words(sub.get_short_help_str(UNCUT)) in words(result.output)


NOT_IN_A_WORKER = ("flask", "gateway", "werkzeug", "leadgate.cli.dev", "leadgate.sandbox", "prometheus_client")
"""What a queue worker never runs: the web side, the dev server, the sandbox CRM, the ``/metrics`` renderer."""


def test_every_listed_command_resolves_and_the_worker_loads_no_web_code():
    """Commands load on first use (leadgate.cli.app.COMMANDS): each name resolves to its command, and a
    queue worker's process, its job module included, never imports :data:`NOT_IN_A_WORKER` (its memory, bench/)."""
    assert set(main.list_commands(click.Context(main))) == set(COMMANDS)
    for name in COMMANDS:
        assert main.get_command(click.Context(main), name).name == name  # type: ignore[union-attr]
    code = (
        "import sys; from leadgate.cli import main\n"
        "try: main(['worker', '--help'])\nexcept SystemExit: pass\n"
        "import workers.delivery\n"  # what RQ imports at the first job
        f"print(sorted(m for m in {NOT_IN_A_WORKER!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip().splitlines()[-1] == "[]", loaded.stdout


@pytest.fixture
def embedded_config(tmp_path: Path, crm) -> Iterator[tuple[Path, EmbeddedRedis]]:
    """A config with no redis_url: the commands use the embedded Redis in its data_dir."""
    data_dir = tmp_path / "var"
    path = tmp_path / "leadgate.yaml"
    path.write_text(f"data_dir: {data_dir}\n" + BASE_CONFIG.format(crm_url=crm.url, api_key=API_KEY))
    embedded = EmbeddedRedis(data_dir)
    yield path, embedded
    embedded.stop()


@pytest.mark.parametrize(
    "args", [["events"], ["health"], ["dlq", "list"], ["destinations", "list"]], ids=lambda a: " ".join(a)
)
def test_a_command_stops_the_embedded_redis_it_had_to_start(embedded_config, args):
    path, embedded = embedded_config
    result = CliRunner().invoke(main, [*args, "--config", str(path)])
    assert result.exit_code in (0, 1), result.output  # health: 1, no worker
    assert (embedded.data_dir / "redis.log").exists()  # it did start one
    assert not embedded.ping()


def test_a_command_leaves_an_embedded_redis_it_found_running(embedded_config):
    path, embedded = embedded_config
    embedded.ensure_running()
    result = CliRunner().invoke(main, ["events", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert embedded.ping()


def test_an_embedded_redis_another_process_attached_to_is_left_running(embedded_config):
    path, _ = embedded_config
    starter = EmbeddedRedis(path.parent / "var")
    starter.ensure_running()
    client = redis.Redis.from_url(starter.url)  # another process attached meanwhile
    client.ping()
    try:
        assert not starter.stop_if_unused()
        assert starter.ping()
    finally:
        client.close()
    assert starter.stop_if_unused()
    assert not starter.ping()
