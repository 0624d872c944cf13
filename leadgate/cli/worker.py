"""``leadgate worker``: the Procfile's worker process."""

from __future__ import annotations

import click

from leadgate.cli.common import console
from leadgate.cli.common import runtime_for
from leadgate.cli.common import with_config
from leadgate.config import Config
from workers.worker import run_worker


@click.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--name", default=None, help="Worker name (default: host.pid).")
@with_config
def worker(config: Config, burst: bool, name: str | None) -> None:
    """Deliver queued leads to ConnectGain (the Procfile's worker process)."""
    rt = runtime_for(config)
    # no emoji codes to replace in this line: looking for them loads rich's emoji table (0.45 MiB), kept for good
    console.print(f"leadgate worker: delivering for {len(config.sources)} sources", highlight=False, emoji=False)
    run_worker(rt, burst=burst, name=name)
