"""The ``leadgate`` command group; each command lives in the module named after it."""

from __future__ import annotations

import click

from leadgate.logs import configure_logging

__all__ = ["main"]


@click.group()
@click.version_option(package_name="leadgate")
def main() -> None:
    """leadgate: webhook-to-lead gateway for the ConnectGain CRM."""
    configure_logging()
