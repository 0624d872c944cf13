"""The ``leadgate`` command line: the outer ring, which may import every package.

Each command group is the module named after it; importing them registers their commands on
:data:`main` (the console script's entry point).
"""

from __future__ import annotations

from leadgate.cli import alerts
from leadgate.cli import check
from leadgate.cli import destinations
from leadgate.cli import dev
from leadgate.cli import events
from leadgate.cli import facebook
from leadgate.cli import health
from leadgate.cli import importer
from leadgate.cli import sendtest
from leadgate.cli import worker
from leadgate.cli.app import main

__all__ = ["main"]

COMMAND_MODULES = (alerts, check, destinations, dev, events, facebook, health, importer, sendtest, worker)
"""Every module that registers commands (kept referenced so none is dropped as unused)."""
