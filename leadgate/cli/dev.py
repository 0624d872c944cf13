"""``leadgate dev``: gateway, worker, embedded Redis and (when no API key is set) the sandbox CRM.

Meant for a laptop: one command, nothing to install besides the package. It writes
a starter config to ``./var/leadgate.dev.yaml`` when there is no ``leadgate.yaml``, and
makes up a random admin token for the run (printed) when the config sets none.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import click
from rich.console import Console

from adapters import KINDS
from gateway import create_app
from leadgate import defaults
from leadgate.cli.app import main
from leadgate.config import Config
from leadgate.config import ConfigError
from leadgate.config import config_path
from leadgate.config import load_config
from leadgate.embedded_redis import EmbeddedRedis
from leadgate.sandbox import SandboxCRM

console = Console()

DEV_CONFIG = """\
# Written by `leadgate dev` because ./leadgate.yaml does not exist. Copy it there to change it.
admin_token: ${LEADGATE_ADMIN_TOKEN}
destinations:
  main:
    base_url: https://example.supabase.co/functions/v1
    api_key: ${CONNECTGAIN_API_KEY}
delivery:
  max_attempts: 8
  backoff_seconds: [5, 30, 120, 600]
  timeout_seconds: 10
sources:
  contact-us:
    kind: form
    tags: [website]
    phone_region: US
    honeypot: _gotcha
"""


def with_admin_token(config: Config) -> tuple[Config, str | None]:
    """The config with a random admin token when it has none, and that token (None when one was set)."""
    if config.admin_token:
        return config, None
    token = secrets.token_urlsafe(32)
    return dataclasses.replace(config, admin_token=token), token


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dev(host: str, port: int, sandbox_port: int) -> None:
    env = dict(os.environ)
    path = config_path(env)
    if not path.exists():
        path = Path(defaults.DEV_CONFIG_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DEV_CONFIG)
        console.print(f"[yellow]no leadgate.yaml: using the starter config written to {path}[/]")
    env["LEADGATE_CONFIG"] = str(path.resolve())
    try:
        config = load_config(path, env, kinds=KINDS)
    except ConfigError as err:
        console.print(f"[bold red]leadgate: config error:[/]\n{err}")
        sys.exit(2)

    embedded = None
    if not config.redis_url:
        embedded = EmbeddedRedis(config.data_dir)
        env["REDIS_URL"] = embedded.ensure_running()
        console.print(f"embedded Redis (AOF on) at {env['REDIS_URL']}")

    sandbox = None
    if not all(d.configured for d in config.destinations.values()):
        sandbox = SandboxCRM(api_keys=("cg_sandbox",), port=sandbox_port).start()
        env["LEADGATE_SANDBOX_URL"] = sandbox.url
        console.print(
            "[bold black on yellow] SANDBOX [/] no ConnectGain api_key configured: leads go to the built-in "
            f"sandbox CRM at {sandbox.url} (open it in a browser). Set CONNECTGAIN_API_KEY to deliver for real."
        )
    os.environ.update(env)
    config, generated = with_admin_token(load_config(path, env, kinds=KINDS))
    if generated:
        console.print(
            f"admin token for this run (no admin_token set): [bold]{generated}[/]\n"
            f"dashboard: http://{host}:{port}/admin/ (set admin_token to keep one; the starter config reads "
            "LEADGATE_ADMIN_TOKEN)"
        )
    signal.signal(signal.SIGTERM, _interrupt)
    worker = subprocess.Popen([sys.executable, "-m", "leadgate.cli", "worker"], env=env)
    try:
        app = create_app(config)
        for source in config.sources.values():
            console.print(f"source [bold]{source.id}[/] ({source.kind}): http://{host}:{port}{source.path}")
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        console.print("stopping: worker, sandbox CRM, embedded Redis")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        if sandbox is not None:
            sandbox.stop()
        if embedded is not None:
            embedded.stop()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, envvar="PORT")
@click.option("--sandbox-port", default=8900, show_default=True)
def dev(host: str, port: int, sandbox_port: int) -> None:
    """Run gateway + worker (+ embedded Redis and the sandbox CRM when needed) in one command."""
    run_dev(host=host, port=port, sandbox_port=sandbox_port)
