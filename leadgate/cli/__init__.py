"""The ``leadgate`` command line: the outer ring, which may import every package.

Each command group is the module named after it; :data:`leadgate.cli.app.COMMANDS` names them, and
:data:`main` (the console script's entry point) imports only the one that runs.
"""

from __future__ import annotations

from leadgate.cli.app import main

__all__ = ["main"]
