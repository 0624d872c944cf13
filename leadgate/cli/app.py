"""The ``leadgate`` command group; each command lives in the module named after it."""

from __future__ import annotations

import click

from leadgate.logs import configure_logging

__all__ = ["FullHelpGroup", "main"]

UNCUT = 10_000
"""A short-help length no description reaches: listed commands keep their whole first sentence."""


class FullHelpGroup(click.Group):
    """A group whose ``--help`` lists each command's description whole, wrapped rather than cut with "..."."""

    group_class = type  # subgroups (``dlq``, ``destinations`` ...) list their commands the same way

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(UNCUT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=FullHelpGroup)
@click.version_option(package_name="leadgate")
def main() -> None:
    """leadgate: webhook-to-lead gateway for the ConnectGain CRM."""
    configure_logging()
