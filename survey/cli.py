"""The ``sipas`` command. Each package owns its subcommands; they are imported only when used."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

# name -> "module:attribute"; a module that is not installed simply leaves its commands out.
COMMANDS: dict[str, str] = {
    "questionnaires": "questionnaires.cli:questionnaires",
    "score": "analysis.cli:score",
    "report": "reports.cli:report",
    "plot": "reports.cli:plot",
    "demo": "survey.commands:demo",
    "serve": "survey.commands:serve",
    "db": "survey.commands:db",
    "user": "survey.commands:user",
    "campaign": "survey.commands:campaign",
    "kiosk": "survey.commands:kiosk",
    "export": "survey.commands:export",
    "backup": "survey.backup:backup_command",
    "restore": "survey.backup:restore_command",
}


def _load(name: str) -> click.Command | None:
    module_name, _, attr = COMMANDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, attr, None)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name) if cmd_name in COMMANDS else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sipas-toolkit")
def cli() -> None:
    """sipas-toolkit: khảo sát SIPAS và Chỉ số CCHC cấp xã — survey, scoring and reports."""


def main(argv: list[str] | None = None) -> None:
    """Run the command; an unexpected error is one line on stderr (the traceback with SIPAS_DEBUG=1)."""
    try:
        cli.main(args=argv, prog_name="sipas", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # a bug, not a user error: user errors are click.ClickException
        if os.environ.get("SIPAS_DEBUG"):
            traceback.print_exc()
        click.echo(
            f"sipas: internal error: {type(exc).__name__}: {exc} (set SIPAS_DEBUG=1 for details)", err=True
        )
        sys.exit(2)
