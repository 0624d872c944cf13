"""The ``leadgate`` command group; each command lives in the module named after it.

A command's module is imported when that command runs (Click's documented lazy subcommands), so
``leadgate worker`` never loads Flask, the dashboard or the dev server: a queue worker's memory is
what delivering needs (``bench/``, peak RSS), and ``leadgate --help`` still lists every command.
"""

from __future__ import annotations

import importlib

import click

from leadgate.logs import configure_logging

__all__ = ["COMMANDS", "CommandTable", "FullHelpGroup", "main"]

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


COMMANDS = {
    "alerts": "leadgate.cli.alerts:alerts",
    "check-config": "leadgate.cli.check:check_config",
    "destinations": "leadgate.cli.destinations:destinations",
    "dev": "leadgate.cli.dev:dev",
    "dlq": "leadgate.cli.events:dlq",
    "events": "leadgate.cli.events:events",
    "facebook": "leadgate.cli.facebook:facebook",
    "health": "leadgate.cli.health:health",
    "import": "leadgate.cli.importer:import_csv",
    "send-test": "leadgate.cli.sendtest:send_test_command",
    "worker": "leadgate.cli.worker:worker",
}
"""Every top-level command: its name, and the module and object that define it."""


class CommandTable(FullHelpGroup):
    """The top-level group: its commands come from :data:`COMMANDS`, each module imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, name = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), name)
        if not isinstance(command, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        return command


@click.group(cls=CommandTable)
@click.version_option(package_name="leadgate")
def main() -> None:
    """leadgate: webhook-to-lead gateway for the ConnectGain CRM."""
    configure_logging()
