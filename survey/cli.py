"""The ``sipas`` command, where the packages meet. Each package owns its subcommands, imported only when used.

``analysis`` and ``reports`` never import the survey app: the group hands them :func:`load_campaign` on
the click context (``ctx.obj["load_campaign"]``, read by ``analysis.options``) for ``--campaign``.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .design import CampaignDesign

# name -> "module:attribute", imported on first use (scoring a file never loads Flask).
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
    "dossiers": "survey.dossier_commands:dossiers",
    "export": "survey.commands:export",
    "responses": "survey.review_commands:responses",
    "codes": "survey.code_commands:codes",
    "backup": "survey.backup:backup_command",
    "restore": "survey.backup:restore_command",
}
# The key of analysis.options.LOADER_KEY, spelt out: importing analysis here would load pandas for every
# command.
LOADER_KEY = "load_campaign"


def _load(name: str) -> click.Command:
    module_name, _, attr = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name) if cmd_name in COMMANDS else None


def load_campaign(campaign_id: int, database_url: str | None = None) -> CampaignDesign:
    """Read a stored campaign for scoring; a user error (no such campaign, no database) is one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from .design import campaign_design
    from .errors import SurveyError

    try:
        return campaign_design(campaign_id, database_url)
    except (SurveyError, SQLAlchemyError) as exc:
        message = str(getattr(exc, "orig", None) or exc).strip()
        message = message.splitlines()[0] if message else type(exc).__name__
        raise click.ClickException(
            f"không đọc được đợt khảo sát {campaign_id} (cannot read campaign {campaign_id}): {message}"
        ) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sipas-toolkit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """sipas-toolkit: khảo sát SIPAS và Chỉ số CCHC cấp xã — survey, scoring and reports."""
    ctx.ensure_object(dict)[LOADER_KEY] = load_campaign


def main(argv: list[str] | None = None) -> None:
    """Run the command; an unexpected error is one line on stderr (the traceback with SIPAS_DEBUG=1)."""
    try:
        cli.main(args=argv, prog_name="sipas", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug, not a user error (those are ClickException): one line
        if os.environ.get("SIPAS_DEBUG"):
            traceback.print_exc()
        click.echo(
            f"sipas: internal error: {type(exc).__name__}: {exc} (set SIPAS_DEBUG=1 for details)", err=True
        )
        sys.exit(2)
