"""``sipas score``: score a responses table (or a campaign) and write the index table as JSON or CSV."""

from __future__ import annotations

from pathlib import Path

import click

from .errors import ScoringError


def load_campaign(campaign: str | int, database_url: str | None = None, questionnaire_ref: str | None = None):
    """The campaign's questionnaire, responses and design, read through the survey app's storage.

    Also used by ``sipas report`` and ``sipas plot``. ``questionnaire_ref``, when given, must name the
    campaign's questionnaire; notes about the design (e.g. no frame) are printed as warnings.
    """
    try:
        from survey.storage import campaign_design
    except ImportError as exc:
        raise click.ClickException(
            "không đọc được đợt khảo sát vì thiếu phần lưu trữ của ứng dụng (survey.storage) "
            f"(reading a campaign needs the survey app's storage: {exc})"
        ) from None
    try:
        campaign_id = int(campaign)
    except ValueError:
        raise click.ClickException(
            f"mã đợt khảo sát phải là số: {campaign!r} (the campaign id must be a number)"
        ) from None
    try:
        design = campaign_design(campaign_id, database_url=database_url)
    except Exception as exc:  # noqa: BLE001 - the storage layer raises its own user errors; show them in one line
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise click.ClickException(
            f"không đọc được đợt khảo sát {campaign_id} (cannot read campaign {campaign_id}): {message}"
        ) from None
    own = design.questionnaire.id
    if questionnaire_ref:
        from questionnaires import load_questionnaire

        if load_questionnaire(questionnaire_ref).id != own:
            raise click.ClickException(
                f"đợt khảo sát {campaign_id} dùng phiếu {own}, không phải {questionnaire_ref} "
                f"(campaign {campaign_id} uses {own})"
            )
    for note in design.notes:
        click.echo(f"cảnh báo (warning): {note}", err=True)
    return design


@click.command("score")
@click.option(
    "--questionnaire",
    "-q",
    "questionnaire_ref",
    help="Mã hoặc tệp phiếu (questionnaire id or file); with --campaign the campaign's own is used.",
)
@click.option(
    "--responses",
    "-r",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Bảng phiếu trả lời (responses table): .csv, .xlsx or .parquet.",
)
@click.option(
    "--campaign", help="Đọc phiếu của đợt khảo sát này từ cơ sở dữ liệu (campaign id) instead of --responses."
)
@click.option("--database-url", help="Cơ sở dữ liệu của ứng dụng (app database URL), with --campaign.")
@click.option(
    "--frame",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Khung mẫu (sampling frame): unit, [stratum], population.",
)
@click.option(
    "--margins",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Biên hiệu chỉnh (raking margins): variable, category, population, [unit].",
)
@click.option(
    "--previous",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Kết quả kỳ trước (previous results, .json or .csv from this command).",
)
@click.option("--unit-list", help="Danh sách đơn vị (unit list id), e.g. tra-bong-2023.")
@click.option("--min-n", type=click.IntRange(min=0), help="Ngưỡng mẫu nhỏ (flag units below N responses).")
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Độ tin cậy của khoảng tin cậy (confidence level).",
)
@click.option(
    "--margin-of-error",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Sai số e của công thức Slovin N/(1+N·e²) cho số phiếu mục tiêu (target sample size).",
)
@click.option(
    "--trim",
    type=(float, float),
    default=None,
    metavar="LOW HIGH",
    help="Giới hạn hệ số hiệu chỉnh trọng số (bounds on calibrated/design weight), with --margins.",
)
@click.option(
    "--rank-probability", is_flag=True, help="Ước lượng xác suất thứ hạng (P(true rank within ±1))."
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp kết quả (output): .json or .csv (one row per unit, UTF-8 with BOM).",
)
def score(
    questionnaire_ref: str | None,
    responses: Path | None,
    campaign: str | None,
    database_url: str | None,
    frame: Path | None,
    margins: Path | None,
    previous: Path | None,
    unit_list: str | None,
    min_n: int | None,
    confidence: float,
    margin_of_error: float,
    trim: tuple[float, float] | None,
    rank_probability: bool,
    out: Path,
) -> None:
    """Tính chỉ số theo đơn vị (score the index per unit, with SE, CI and rank)."""
    from questionnaires import QuestionnaireError, load_questionnaire, load_units

    from . import read_frame, read_margins, read_previous, read_responses
    from . import score as score_table

    if (responses is None) == (campaign is None):
        raise click.ClickException(
            "cần đúng một trong --responses hoặc --campaign (give exactly one of --responses or --campaign)"
        )
    suffix = out.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise click.ClickException(
            f"{out}: tệp kết quả phải là .json hoặc .csv (the output must be .json or .csv)"
        )
    if trim is not None and not 0 <= trim[0] <= 1 <= trim[1]:
        raise click.ClickException("--trim cần LOW <= 1 <= HIGH (trimming bounds must enclose 1)")
    if not out.parent.exists():
        raise click.ClickException(f"{out.parent}: thư mục không tồn tại (the output folder does not exist)")
    if responses is not None and not questionnaire_ref:
        raise click.ClickException(
            "--responses cần --questionnaire (which questionnaire are these responses of?)"
        )
    try:
        units = names = targets = None
        frame_table = read_frame(frame) if frame else None
        if campaign is not None:
            # The campaign's frozen questionnaire, and its frame, targets and unit names unless given here.
            design = load_campaign(campaign, database_url, questionnaire_ref)
            questionnaire, table = design.questionnaire, design.responses
            units, names, targets = design.units, design.unit_names, design.targets
            if frame_table is None:
                frame_table = design.frame
        else:
            questionnaire = load_questionnaire(questionnaire_ref)
            table = read_responses(responses, questionnaire)
        if unit_list:
            unit_table = load_units(unit_list)
            units = list(unit_table.codes)
            names = {u.code: u.name for u in unit_table}
        result = score_table(
            questionnaire,
            table,
            frame=frame_table,
            margins=read_margins(margins) if margins else None,
            previous=read_previous(previous) if previous else None,
            targets=targets,
            unit_names=names,
            units=units,
            min_n=min_n,
            confidence=confidence,
            margin_of_error=margin_of_error,
            trim=trim,
            rank_probability=rank_probability,
        )
        result.write(out)
    except (ScoringError, QuestionnaireError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
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
