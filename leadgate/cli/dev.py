"""``leadgate dev``: gateway, worker, embedded Redis and (when no API key is set) the sandbox CRM.

Meant for a laptop: one command, nothing to install besides the package. It writes
a starter config to ``./var/leadgate.dev.yaml`` when there is no ``leadgate.yaml``, makes up
a random admin token for the run when the config sets none (``$LEADGATE_ADMIN_TOKEN`` in its
children's environment), prints every URL (hooks, dashboard, sandbox CRM), serves the demo
pages of :mod:`leadgate.cli.dev_pages`, and records its sandbox's URL in the ``data_dir`` so
commands run from another terminal (``leadgate import``) deliver there too.
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
from leadgate.cli import dev_pages
from leadgate.cli.dev_pages import DEMO_SOURCE
from leadgate.cli.sandbox_discovery import forget_sandbox_url
from leadgate.cli.sandbox_discovery import record_sandbox_url
from leadgate.config import SANDBOX_API_KEY
from leadgate.config import SANDBOX_URL_ENV
from leadgate.config import Config
from leadgate.config import ConfigError
from leadgate.config import config_path
from leadgate.config import load_config
from leadgate.embedded_redis import EmbeddedRedis
from leadgate.sandbox import SandboxCRM

console = Console()

DEV_URL_ENV = "LEADGATE_DEV_URL"
"""Where ``leadgate dev`` serves (``http://127.0.0.1:5000``); the starter config's URLs read it."""

DEV_CONFIG = """\
# Written by `leadgate dev` because ./leadgate.yaml does not exist. Copy it there to change it.
admin_token: ${LEADGATE_ADMIN_TOKEN}   # unset: leadgate dev makes one up for the run and prints it
destinations:
  main:
    base_url: https://example.supabase.co/functions/v1
    api_key: ${CONNECTGAIN_API_KEY}    # unset: leads go to the sandbox CRM
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
    # a browser's post is sent on (303) to redirect; a refused one to error_redirect (?error=&event_id=)
    redirect: ${LEADGATE_DEV_URL:-http://127.0.0.1:5000}/dev/thanks
    error_redirect: ${LEADGATE_DEV_URL:-http://127.0.0.1:5000}/dev/oops
    # pages on these origins may post from JavaScript (fetch, XHR: CORS preflight); other origins get 403
    allowed_origins: ["${LEADGATE_DEV_URL:-http://127.0.0.1:5000}", "http://localhost:3000", "http://localhost:8080"]
"""


def with_admin_token(config: Config) -> tuple[Config, str | None]:
    """The config with a random admin token when it has none, and that token (None when one was set)."""
    if config.admin_token:
        return config, None
    token = secrets.token_urlsafe(32)
    return dataclasses.replace(config, admin_token=token), token


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _served_url(host: str, port: int) -> str:
    """The URL to open: a wildcard bind is reached on loopback."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def print_urls(config: Config, base: str, generated_token: str | None, sandbox_url: str | None) -> None:
    """Every URL a developer needs, once, before the request log starts; never wrapped, so each can be copied."""

    def say(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    console.rule("[bold]leadgate dev")
    for source in config.sources.values():
        say(f"hook [bold]{source.id}[/] ({source.kind}): {base}{source.path}")
    if DEMO_SOURCE in config.sources and config.sources[DEMO_SOURCE].kind == "form":
        say(f"demo form: {base}/dev/form")
    say(f"dashboard: {base}/admin/")
    if generated_token:
        say(f"admin token made up for this run: [bold]{generated_token}[/]")
        say("  (set LEADGATE_ADMIN_TOKEN, or admin_token in the config, to keep one)")
    else:
        say("  log in with the config's admin_token")
    say(f"admin API: {base}/admin/api/ (Authorization: Bearer <admin token>)")
    if sandbox_url:
        say(f"sandbox CRM: {sandbox_url}/")
        say(
            f"  its contacts: {sandbox_url}/_sandbox/contacts, "
            f"faults: {sandbox_url}/_sandbox/faults (docs/development.md)"
        )
    console.rule()


def run_dev(host: str, port: int, sandbox_port: int) -> None:
    env = dict(os.environ)
    base = _served_url(host, port)
    env.setdefault(DEV_URL_ENV, base)
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
        console.print(f"embedded Redis (AOF on) at {env['REDIS_URL']}", soft_wrap=True)

    sandbox = None
    if not all(d.configured for d in config.destinations.values()):
        sandbox = SandboxCRM(api_keys=(SANDBOX_API_KEY,), port=sandbox_port).start()
        env[SANDBOX_URL_ENV] = sandbox.url
        record_sandbox_url(config.data_dir, sandbox.url)
        console.print(
            "[bold black on yellow] SANDBOX [/] no ConnectGain api_key configured: leads go to the built-in "
            f"sandbox CRM at {sandbox.url} (open it in a browser). Set CONNECTGAIN_API_KEY to deliver for real.",
            soft_wrap=True,
        )
    config, generated = with_admin_token(load_config(path, env, kinds=KINDS))
    if generated:
        env["LEADGATE_ADMIN_TOKEN"] = generated  # the worker and anything else dev starts read the same one
    os.environ.update(env)
    signal.signal(signal.SIGTERM, _interrupt)
    worker = subprocess.Popen([sys.executable, "-m", "leadgate.cli", "worker"], env=env)
    try:
        app = create_app(config)
        app.register_blueprint(dev_pages.bp)
        print_urls(config, base, generated, sandbox.url if sandbox else None)
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
            forget_sandbox_url(config.data_dir, sandbox.url)
            sandbox.stop()
        if embedded is not None:
            embedded.stop()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, envvar="PORT")
@click.option("--sandbox-port", default=8900, show_default=True)
def dev(host: str, port: int, sandbox_port: int) -> None:
    """Run gateway + worker (+ embedded Redis and the sandbox CRM when needed) in one command."""
    run_dev(host=host, port=port, sandbox_port=sandbox_port)
