"""``sipas score``: score a responses table (or a campaign) and write the index table as JSON or CSV."""

from __future__ import annotations

from pathlib import Path

import click

from . import score as score_table
from .domains import BY_COLUMNS, score_by
from .options import SCORING_ERRORS, ScoringOptions, one_line, prepare, scoring_options
from .progress import Progress


@click.command("score")
@scoring_options
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp kết quả (output): .json or .csv (one row per unit, UTF-8 with BOM).",
)
@click.option(
    "--by",
    "by",
    type=click.Choice(sorted(BY_COLUMNS)),
    help="Chia chỉ số chung theo một cột, cùng thiết kế mẫu: language = ngôn ngữ hiển thị phiếu "
    "(the overall index by domain, same design; one row per value).",
)
def score(options: ScoringOptions, out: Path, by: str | None) -> None:
    """Tính chỉ số theo đơn vị (score the index per unit, with SE, CI and rank)."""
    if out.suffix.lower() not in (".json", ".csv"):
        raise click.ClickException(
            f"{out}: tệp kết quả phải là .json hoặc .csv (the output must be .json or .csv)"
        )
    if not out.parent.exists():
        raise click.ClickException(f"{out.parent}: thư mục không tồn tại (the output folder does not exist)")
    if by is not None:
        _score_by(options, out, by)
        return
    try:
        with Progress("sipas score") as bar:
            bar.step("đọc dữ liệu", 0.0)
            scoring, _ = prepare(options)  # prints what was left out, and why
            bar.step("tính chỉ số", 0.2)
            result = score_table(**scoring.arguments)
            bar.step("ghi tệp", 0.9)
            result.write(out)
    except SCORING_ERRORS as exc:
        raise click.ClickException(one_line(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"{out}: không ghi được tệp kết quả (cannot write the output: {exc})"
        ) from None
    overall = result.overall
    headline = "—" if overall.index is None else f"{overall.index:.{result.decimals}f}"
    interval = ""
    if overall.ci_low is not None and overall.ci_high is not None:
        interval = f" [{overall.ci_low:.{result.decimals}f}; {overall.ci_high:.{result.decimals}f}]"
    click.echo(
        f"{len(result.units)} đơn vị, {overall.n} phiếu; chỉ số chung {headline}{interval} -> {out} "
        f"({len(result.units)} units, {overall.n} responses, overall index {headline})"
    )
    for warning in result.warnings:
        click.echo(f"cảnh báo (warning): {warning}", err=True)


def _score_by(options: ScoringOptions, out: Path, by: str) -> None:
    """``--by``: the overall index per value of the column, then for everyone."""
    try:
        scoring, _ = prepare(options)
        table = score_by(by, scoring.arguments)
        table.write(out)
    except SCORING_ERRORS as exc:
        raise click.ClickException(one_line(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"{out}: không ghi được tệp kết quả (cannot write the output: {exc})"
        ) from None
    d = table.decimals
    for row in (*table.rows, table.overall):
        shown = "—" if row.index is None else f"{row.index:.{d}f}"
        interval = ""
        if row.ci_low is not None and row.ci_high is not None:
            interval = f" [{row.ci_low:.{d}f}; {row.ci_high:.{d}f}]"
        click.echo(f"{by} {row.domain}: {row.n} phiếu (responses), chỉ số (index) {shown}{interval}")
    click.echo(f"-> {out}")
