"""``sipas report`` and ``sipas plot``: score the responses, then write the workbook or one figure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import analysis
from analysis.options import SCORING_ERRORS, ScoringOptions, one_line, prepare, scoring_options
from analysis.progress import Progress
from questionnaires.files import atomic_write

from .errors import ReportError

SUFFIX_FORMATS = {".png": "png", ".svg": "svg"}
# Bad input anywhere on the way (files, questionnaire, scoring, report), and file-system errors.
USER_ERRORS = (*SCORING_ERRORS, ReportError, OSError)


THRESHOLD_OPTION = click.option(
    "--threshold",
    type=click.FloatRange(0, 100),
    default=80.0,
    show_default=True,
    help="Ngưỡng đánh dấu tiêu chí thấp (%) (low-criterion threshold).",
)


def _write(out: Path, write: Callable[[Path], Any]) -> Any:
    """Write ``out`` whole or not at all, creating its folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(out, write)


@click.command("report")
@scoring_options
@THRESHOLD_OPTION
@click.option("--title", help="Tiêu đề báo cáo; với --campaign: mặc định là tên đợt khảo sát.")
@click.option(
    "--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Tệp .xlsx."
)
@click.option("--include-data", is_flag=True, help="Kèm trang Dữ liệu (phiếu) và Mã hoá.")
@click.option("--issuer", help='Cơ quan ban hành, ví dụ "UBND HUYỆN TRÀ BỒNG".')
@click.option(
    "--period", help='Kỳ đánh giá, ví dụ "Năm 2023"; với --campaign: mặc định là thời gian của đợt khảo sát.'
)
@click.option(
    "--no-figures", is_flag=True, help="Không vẽ hình matplotlib (nhanh hơn); biểu đồ Excel vẫn có."
)
@click.option("--number", "document_number", help='Số, ký hiệu văn bản, ví dụ "125/BC-UBND".')
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    help='Một dòng "Nơi nhận" (lặp lại cho mỗi nơi), ví dụ --recipient "Sở Nội vụ tỉnh Quảng Ngãi;".',
)
@click.option(
    "--signer-title",
    multiple=True,
    help='Một dòng chức vụ người ký (lặp lại), ví dụ "TM. ỦY BAN NHÂN DÂN" rồi "CHỦ TỊCH".',
)
@click.option("--signer-name", help="Họ và tên người ký (signer's name).")
def report(
    options: ScoringOptions,
    threshold: float,
    title: str | None,
    out: Path,
    include_data: bool,
    issuer: str | None,
    period: str | None,
    no_figures: bool,
    document_number: str | None,
    recipients: tuple[str, ...],
    signer_title: tuple[str, ...],
    signer_name: str | None,
) -> None:
    """Lập báo cáo Excel xếp hạng các đơn vị (write the ranked Excel report).

    Góp ý của người dân (the questionnaire's free-text answers) are always in the workbook, phone
    numbers, ID numbers and e-mail addresses masked; --include-data adds the raw data sheets.
    """
    from .workbook import Cover

    if out.suffix.lower() != ".xlsx":
        raise click.UsageError(f"--out phải là tệp .xlsx (got {out.name})")
    cover = Cover.of(document_number, recipients, signer_title, signer_name)
    with Progress("sipas report") as bar:
        table, sheets = _report(
            bar, options, threshold, title, out, include_data, issuer, period, no_figures, cover
        )
    click.echo(f"Đã ghi {out} ({len(table.units)} đơn vị, {len(sheets)} trang tính).")


def _report(
    bar: Progress,
    options: ScoringOptions,
    threshold: float,
    title: str | None,
    out: Path,
    include_data: bool,
    issuer: str | None,
    period: str | None,
    no_figures: bool,
    cover: Any,
) -> tuple[Any, list[str]]:
    """Score and write the workbook, telling ``bar`` each stage."""
    from .quality import language_arguments, quality_arguments
    from .workbook import build_report

    try:
        bar.step("đọc dữ liệu", 0.0)
        scoring, design = prepare(options, check=True)  # prints what was left out, and why
        arguments = scoring.arguments
        bar.step("tính chỉ số", 0.15)
        table = analysis.score(**arguments)
        quality = quality_arguments(scoring, table) | language_arguments(scoring)
        bar.step("lập bảng tính Excel và vẽ biểu đồ", 0.4)
        status = rates = frame_note = None
        if design is not None:
            title = title or design.name
            period = period or design.period
            status = design.status
            # Read with getattr: a design from elsewhere (tests, older loaders) may not carry them.
            rates = getattr(design, "response_rates", None)
            frame_note = getattr(design, "frame_note", None) if options.frame is None else None
        sheets = _write(
            out,
            lambda path: build_report(
                table,
                arguments["questionnaire"],
                path,
                unit_names=arguments.get("unit_names") or {},
                responses=arguments["responses"] if include_data else None,
                comments=arguments["responses"],
                cover=cover,
                title=title,
                issuer=issuer,
                period=period,
                threshold=threshold,
                pictures=not no_figures,
                status=status,
                response_rates=rates,
                frame_note=frame_note,
                **quality,
            ),
        )
    except USER_ERRORS as exc:
        raise click.ClickException(one_line(exc)) from None
    return table, sheets


@click.command("plot")
@scoring_options
@THRESHOLD_OPTION
@click.option("--title", help="Tiêu đề biểu đồ (figure title).")
@click.option(
    "--kind",
    type=click.Choice(["ranking", "elements", "heatmap"]),
    default="ranking",
    show_default=True,
    help="ranking: xếp hạng và khoảng tin cậy; elements: radar yếu tố từng đơn vị; heatmap: tiêu chí.",
)
@click.option(
    "--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Tệp .png hoặc .svg."
)
def plot(options: ScoringOptions, threshold: float, title: str | None, kind: str, out: Path) -> None:
    """Vẽ biểu đồ PNG/SVG (draw a ranking, element or criterion figure)."""
    from . import charts

    fmt = SUFFIX_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise click.UsageError(f"--out phải là tệp .png hoặc .svg (got {out.name})")
    try:
        with Progress("sipas plot") as bar:
            bar.step("đọc dữ liệu", 0.0)
            scoring, _ = prepare(options)  # prints what was left out, and why
            arguments = scoring.arguments
            bar.step("tính chỉ số", 0.2)
            table = analysis.score(**arguments)
            bar.step("vẽ biểu đồ", 0.6)
            data = charts.plot(
                kind,
                table,
                arguments.get("unit_names") or {},
                questionnaire=arguments["questionnaire"],
                fmt=fmt,
                threshold=threshold,
                title=title,
            )
            _write(out, lambda path: path.write_bytes(data))
    except USER_ERRORS as exc:
        raise click.ClickException(one_line(exc)) from None
    click.echo(f"Đã ghi {out}.")
