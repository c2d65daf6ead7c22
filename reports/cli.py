"""``sipas report`` and ``sipas plot``: score the responses, then write the workbook or one figure."""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pandas as pd

from .errors import ReportError

SUFFIX_FORMATS = {".png": "png", ".svg": "svg"}


@dataclass
class _Scored:
    questionnaire: Any
    table: Any
    responses: pd.DataFrame
    unit_names: dict[str, str]


def _user_errors() -> tuple[type[BaseException], ...]:
    """Every exception type that means bad input (each package has one), plus file-system errors."""
    from questionnaires import QuestionnaireError

    types: list[type[BaseException]] = [ReportError, QuestionnaireError, OSError]
    for module, name in (("analysis", "ScoringError"), ("survey.errors", "SurveyError")):
        try:
            types.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(types)


def _engine(name: str) -> Callable[..., Any]:
    """A function of the scoring package, or a clear error when this installation lacks it."""
    try:
        return getattr(importlib.import_module("analysis"), name)
    except (ImportError, AttributeError):
        raise ReportError(
            f"bộ tính chỉ số (analysis.{name}) không có trong bản cài đặt này; hãy cài đầy đủ sipas-toolkit"
        ) from None


def _score(
    questionnaire_id: str | None,
    responses_path: Path | None,
    campaign: int | None,
    frame_path: Path | None,
    previous_path: Path | None,
    unit_list: str | None,
    confidence: float,
) -> _Scored:
    import questionnaires

    if (responses_path is None) == (campaign is None):
        raise click.UsageError("cần đúng một nguồn phiếu: --responses TỆP hoặc --campaign MÃ")
    if responses_path is not None and not questionnaire_id:
        raise click.UsageError("--responses cần --questionnaire (mã bảng hỏi của các phiếu)")
    frame = _engine("read_frame")(frame_path) if frame_path else None
    unit_names: dict[str, str] = {}
    units = targets = None
    if campaign is not None:
        # The campaign's frozen questionnaire, frame, targets and unit names (a --frame given here wins).
        from analysis.cli import load_campaign

        design = load_campaign(campaign, questionnaire_ref=questionnaire_id)
        questionnaire, responses = design.questionnaire, design.responses
        unit_names, units, targets = dict(design.unit_names), design.units, design.targets
        frame = design.frame if frame is None else frame
    else:
        questionnaire = questionnaires.load_questionnaire(questionnaire_id)
        responses = _engine("read_responses")(responses_path, questionnaire)
    if unit_list:
        unit_table = questionnaires.load_units(unit_list)
        unit_names, units = {u.code: u.name for u in unit_table}, list(unit_table.codes)
    previous = _engine("read_previous")(previous_path) if previous_path else None
    table = _engine("score")(
        questionnaire,
        responses,
        frame=frame,
        previous=previous,
        targets=targets,
        unit_names=unit_names or None,
        units=units,
        confidence=confidence,
    )
    return _Scored(questionnaire, table, responses, unit_names)


def _write_atomically(out: Path, write: Callable[[Path], Any]) -> Any:
    """Write to a temporary file next to ``out`` and move it into place: never a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=out.suffix, dir=out.parent)
    os.close(handle)
    try:
        result = write(Path(temporary))
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return result


def _source_options(function: Callable) -> Callable:
    options = [
        click.option(
            "--questionnaire",
            "-q",
            "questionnaire_id",
            help="Mã bảng hỏi, ví dụ sipas-2017 (với --campaign: mặc định là bảng hỏi của đợt khảo sát).",
        ),
        click.option(
            "--responses",
            "responses_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Bảng phiếu trả lời (CSV, XLSX, Parquet).",
        ),
        click.option("--campaign", type=int, help="Hoặc: mã đợt khảo sát trong cơ sở dữ liệu của ứng dụng."),
        click.option(
            "--frame",
            "frame_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Khung mẫu: số lượt phục vụ theo đơn vị (× tầng), để tính trọng số.",
        ),
        click.option("--unit-list", help="Danh sách đơn vị (tên hiển thị), ví dụ tra-bong-2023."),
        click.option(
            "--confidence",
            type=click.FloatRange(0.5, 0.999),
            default=0.95,
            show_default=True,
            help="Mức tin cậy.",
        ),
        click.option(
            "--threshold",
            type=click.FloatRange(0, 100),
            default=80.0,
            show_default=True,
            help="Ngưỡng đánh dấu tiêu chí thấp (%).",
        ),
        click.option("--title", help="Tiêu đề báo cáo."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command("report")
@_source_options
@click.option(
    "--previous",
    "previous_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Kết quả kỳ trước (JSON hoặc CSV của sipas score), để so sánh.",
)
@click.option(
    "--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Tệp .xlsx."
)
@click.option("--include-data", is_flag=True, help="Kèm trang Dữ liệu (phiếu) và Mã hoá.")
@click.option("--issuer", help='Cơ quan ban hành, ví dụ "UBND HUYỆN TRÀ BỒNG".')
@click.option("--period", help='Kỳ đánh giá, ví dụ "Năm 2023".')
@click.option(
    "--no-figures", is_flag=True, help="Không vẽ hình matplotlib (nhanh hơn); biểu đồ Excel vẫn có."
)
def report(
    questionnaire_id: str | None,
    responses_path: Path | None,
    campaign: int | None,
    frame_path: Path | None,
    unit_list: str | None,
    confidence: float,
    threshold: float,
    title: str | None,
    previous_path: Path | None,
    out: Path,
    include_data: bool,
    issuer: str | None,
    period: str | None,
    no_figures: bool,
) -> None:
    """Lập báo cáo Excel xếp hạng các đơn vị (write the ranked Excel report)."""
    from .workbook import build_report

    if out.suffix.lower() != ".xlsx":
        raise click.UsageError(f"--out phải là tệp .xlsx (got {out.name})")
    try:
        scored = _score(
            questionnaire_id, responses_path, campaign, frame_path, previous_path, unit_list, confidence
        )
        sheets = _write_atomically(
            out,
            lambda path: build_report(
                scored.table,
                scored.questionnaire,
                path,
                unit_names=scored.unit_names,
                responses=scored.responses if include_data else None,
                title=title,
                issuer=issuer,
                period=period,
                threshold=threshold,
                pictures=not no_figures,
            ),
        )
    except _user_errors() as exc:
        raise click.ClickException(_one_line(exc)) from None
    units = len(scored.table.units)
    click.echo(f"Đã ghi {out} ({units} đơn vị, {len(sheets)} trang tính).")


@click.command("plot")
@_source_options
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
def plot(
    questionnaire_id: str | None,
    responses_path: Path | None,
    campaign: int | None,
    frame_path: Path | None,
    unit_list: str | None,
    confidence: float,
    threshold: float,
    title: str | None,
    kind: str,
    out: Path,
) -> None:
    """Vẽ biểu đồ PNG/SVG (draw a ranking, element or criterion figure)."""
    from . import charts

    fmt = SUFFIX_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise click.UsageError(f"--out phải là tệp .png hoặc .svg (got {out.name})")
    try:
        scored = _score(questionnaire_id, responses_path, campaign, frame_path, None, unit_list, confidence)
        data = charts.plot(
            kind,
            scored.table,
            scored.unit_names,
            questionnaire=scored.questionnaire,
            fmt=fmt,
            threshold=threshold,
            title=title,
        )
        _write_atomically(out, lambda path: path.write_bytes(data))
    except _user_errors() as exc:
        raise click.ClickException(_one_line(exc)) from None
    click.echo(f"Đã ghi {out}.")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return " ".join(str(exc).split())
