"""The scoring options shared by ``sipas score``, ``sipas report`` and ``sipas plot``, and what they mean.

:func:`scoring_options` adds the same click options to each of the three commands and hands the command
one :class:`ScoringOptions`. :func:`score_arguments` turns those options, with the design of a stored
campaign when one is scored, into the keyword arguments of :func:`analysis.score`; the admin report
download calls it with default options, so every path scores a campaign alike.

A stored campaign belongs to the survey app, which this package never imports: the ``sipas`` group
puts a loader on the click context (``ctx.obj["load_campaign"]``, see ``survey.cli``), and
:func:`resolve` calls it for ``--campaign``.

:func:`prepare` is what the commands call: :func:`resolve`, then :func:`analysis.quality.scorable`,
which leaves flagged forms out with ``--exclude-flagged`` (flags never exclude by themselves), and the
lines saying what was left out and why.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from questionnaires import Questionnaire, QuestionnaireError, load_questionnaire, load_units

from .errors import ScoringError
from .io import read_frame, read_margins, read_previous, read_responses
from .quality import Scorable, scorable

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LOADER_KEY",
    "SCORING_ERRORS",
    "CampaignDesign",
    "ScoringOptions",
    "one_line",
    "prepare",
    "resolve",
    "score_arguments",
    "scoring_options",
]

CONFIDENCE = 0.95
# The key under which the ``sipas`` group leaves its campaign loader in ``ctx.obj``.
LOADER_KEY = "load_campaign"
# The user errors of reading the inputs and scoring them (each package has one type).
SCORING_ERRORS: tuple[type[Exception], ...] = (ScoringError, QuestionnaireError)


class CampaignDesign(Protocol):
    """What scoring takes from a stored campaign (``survey.design.CampaignDesign`` is one)."""

    @property
    def name(self) -> str: ...  # the campaign's name: the report's default title

    @property
    def period(self) -> str | None: ...  # the campaign's period: the report's default period

    @property
    def questionnaire(self) -> Questionnaire: ...

    @property
    def responses(self) -> pd.DataFrame: ...

    @property
    def frame(self) -> pd.DataFrame | None: ...

    @property
    def targets(self) -> Mapping[str, int]: ...

    @property
    def unit_names(self) -> Mapping[str, str]: ...

    @property
    def units(self) -> Sequence[str]: ...

    @property
    def margin_of_error(self) -> float: ...

    @property
    def notes(self) -> Sequence[str]: ...

    # The campaign's counts per unit of forms received and left out (survey.design.QUALITY_COLUMNS),
    # its stored integrity-check settings, and where its data collection stands (for the report).
    @property
    def quality(self) -> pd.DataFrame | None: ...

    @property
    def integrity_settings(self) -> Mapping[str, Any] | None: ...

    @property
    def status(self) -> str | None: ...


# campaign id, database URL (None: the app's configuration) -> the campaign's design
CampaignLoader = Callable[[int, str | None], CampaignDesign]


@dataclass(frozen=True)
class ScoringOptions:
    """The scoring options as parsed; the defaults are those of a command given none."""

    questionnaire: str | None = None
    responses: Path | None = None
    unit_column: str | None = None  # an export's unit: a column (item code or header) …
    unit: str | None = None  # … or one unit for the whole file
    campaign: int | None = None
    database_url: str | None = None
    frame: Path | None = None
    margins: Path | None = None
    previous: Path | None = None
    previous_campaign: int | None = None  # or another stored campaign's results, scored alike
    unit_list: str | None = None
    min_n: int | None = None
    confidence: float = CONFIDENCE
    margin_of_error: float | None = None  # None: the campaign's, else analysis.score's 0.05
    trim: tuple[float, float] | None = None
    rank_probability: bool = False
    include_flagged: bool = True  # flags never exclude by themselves: --exclude-flagged asks for it


def _trim_bounds(
    ctx: click.Context, param: click.Parameter, value: tuple[float, float] | None
) -> tuple[float, float] | None:
    """Check that the trimming bounds enclose 1 (a calibration factor of 1 must stay allowed)."""
    if value is not None and not 0 <= value[0] <= 1 <= value[1]:
        raise click.BadParameter("cần LOW <= 1 <= HIGH (trimming bounds must enclose 1)")
    return value


_PATH = click.Path(dir_okay=False, path_type=Path)
_OPTIONS = (
    click.option(
        "--questionnaire",
        "-q",
        "questionnaire",
        help="Mã hoặc tệp bảng hỏi, ví dụ sipas-2017 (questionnaire id or file); "
        "với --campaign: mặc định là bảng hỏi của đợt khảo sát.",
    ),
    click.option(
        "--responses",
        "-r",
        type=_PATH,
        help="Bảng phiếu trả lời (responses table): .csv, .xlsx or .parquet; hoặc tệp xuất của KoboToolbox "
        "(CSV/XLSX, giá trị XML hoặc nhãn) hay ODK Central (CSV) (or a KoboToolbox CSV/XLSX export, XML "
        "values or labels, or an ODK Central CSV export).",
    ),
    click.option(
        "--unit-column",
        metavar="TÊN_CỘT",
        help="Với --responses: cột chứa mã đơn vị (mã câu hỏi hoặc tiêu đề cột) khi tệp không có cột unit, "
        "ví dụ tệp xuất từ KoboToolbox/ODK Central (with --responses: the column holding the unit code, "
        "an item code or a header, for a file without a 'unit' column such as a Kobo/ODK export).",
    ),
    click.option(
        "--unit",
        "unit",
        metavar="MÃ",
        help="Với --responses: một mã đơn vị cho mọi phiếu trong tệp (with --responses: one unit code "
        "for every response of the file).",
    ),
    click.option(
        "--campaign",
        type=int,
        help="Hoặc: mã đợt khảo sát trong cơ sở dữ liệu của ứng dụng (campaign id) instead of --responses.",
    ),
    click.option("--database-url", help="Cơ sở dữ liệu của ứng dụng (app database URL), with --campaign."),
    click.option(
        "--frame",
        type=_PATH,
        help="Khung mẫu (sampling frame): unit, [stratum], population; "
        "với --campaign: mặc định là khung mẫu của đợt khảo sát.",
    ),
    click.option(
        "--margins",
        type=_PATH,
        help="Biên hiệu chỉnh (raking margins): variable, category, population, [unit].",
    ),
    click.option(
        "--previous", type=_PATH, help="Kết quả kỳ trước (previous results, .json or .csv of sipas score)."
    ),
    click.option(
        "--previous-campaign",
        type=int,
        metavar="MÃ",
        help="Hoặc: so sánh với một đợt khảo sát khác trong cơ sở dữ liệu, tính như --campaign (or compare "
        "with another stored campaign, scored as --campaign is; the admin report download does the same).",
    ),
    click.option("--unit-list", help="Danh sách đơn vị (unit list id), ví dụ tra-bong-2023."),
    click.option(
        "--min-n", type=click.IntRange(min=0), help="Ngưỡng mẫu nhỏ (flag units below N responses)."
    ),
    click.option(
        "--confidence",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=CONFIDENCE,
        show_default=True,
        help="Độ tin cậy của khoảng tin cậy (confidence level).",
    ),
    click.option(
        "--margin-of-error",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        help="Sai số e của công thức Slovin N/(1+N·e²) cho số phiếu mục tiêu (target sample size); "
        "mặc định: của đợt khảo sát với --campaign, không thì 0,05.",
    ),
    click.option(
        "--trim",
        type=(float, float),
        default=None,
        metavar="LOW HIGH",
        callback=_trim_bounds,
        help="Giới hạn hệ số hiệu chỉnh trọng số (bounds on calibrated/design weight), with --margins.",
    ),
    click.option(
        "--rank-probability",
        is_flag=True,
        help=(
            "Ước lượng xác suất thứ hạng (P(true rank within ±1)). Khoảng hạng 95% (rank interval) luôn được"
            " tính khi có đến 1000 đơn vị; với tùy chọn này thì tính cho mọi số đơn vị."
        ),
    ),
    click.option(
        "--include-flagged/--exclude-flagged",
        "include_flagged",
        default=True,
        show_default=True,
        help="Tính hay loại các phiếu bị kiểm tra tính xác thực đánh dấu (count or leave out the forms "
        "that the integrity checks flag; by default flags never exclude a form).",
    ),
)
_FIELDS = tuple(field.name for field in dataclasses.fields(ScoringOptions))


def scoring_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the scoring options to a click command, which receives them as one ScoringOptions first."""

    @functools.wraps(command)
    def with_options(**kwargs: Any) -> Any:
        options = ScoringOptions(**{name: kwargs.pop(name) for name in _FIELDS})
        return command(options, **kwargs)

    for option in reversed(_OPTIONS):
        with_options = option(with_options)
    return with_options


def resolve(options: ScoringOptions) -> tuple[dict[str, Any], CampaignDesign | None]:
    """Check the options, read the campaign if one is asked for; return analysis.score's arguments and it."""
    if (options.responses is None) == (options.campaign is None):
        raise click.UsageError(
            "cần đúng một nguồn phiếu: --responses TỆP hoặc --campaign MÃ "
            "(give exactly one of --responses or --campaign)"
        )
    if options.responses is not None and not options.questionnaire:
        raise click.UsageError(
            "--responses cần --questionnaire (which questionnaire are these responses of?)"
        )
    if options.responses is None and (options.unit_column or options.unit):
        raise click.UsageError(
            "--unit-column và --unit chỉ dùng với --responses (--unit-column and --unit go with --responses)"
        )
    if options.unit_column and options.unit:
        raise click.UsageError(
            "chỉ dùng một trong --unit-column và --unit (give --unit-column or --unit, not both)"
        )
    if options.previous is not None and options.previous_campaign is not None:
        raise click.UsageError(
            "chỉ dùng một trong --previous và --previous-campaign (give --previous or --previous-campaign)"
        )
    design = _campaign_design(options) if options.campaign is not None else None
    arguments = score_arguments(options, design)
    if options.previous_campaign is not None:
        previous = _campaign_design(
            ScoringOptions(campaign=options.previous_campaign, database_url=options.database_url)
        )
        arguments["previous"] = previous_results(previous)
    return arguments, design


def previous_results(design: CampaignDesign):
    """A stored campaign's results to compare with, scored as ``--campaign`` with no options scores it."""
    from .engine import score

    return score(**score_arguments(ScoringOptions(campaign=0), design))


def prepare(options: ScoringOptions, *, check: bool = False) -> tuple[Scorable, CampaignDesign | None]:
    """Resolve the options, leave flagged forms out when asked, and print what was left out and why.

    ``check`` runs the integrity checks even while flagged forms are kept (the report's quality sheet).
    """
    arguments, design = resolve(options)
    result = scorable(
        arguments,
        quality=design.quality if design is not None else None,
        integrity_settings=design.integrity_settings if design is not None else None,
        include_flagged=options.include_flagged,
        check=check,
    )
    for line in result.messages():
        click.echo(line)
    return result, design


def _campaign_design(options: ScoringOptions) -> CampaignDesign:
    """Read the campaign through the loader of the ``sipas`` group; check the questionnaire asked for."""
    obj = click.get_current_context().obj
    loader: CampaignLoader | None = obj.get(LOADER_KEY) if isinstance(obj, dict) else None
    if loader is None:
        raise click.ClickException(
            "--campaign cần phần lưu trữ của ứng dụng khảo sát: hãy chạy lệnh qua `sipas` "
            "(reading a campaign needs the survey app: run it as `sipas score|report|plot --campaign`)"
        )
    design = loader(options.campaign, options.database_url)
    own = design.questionnaire.id
    if options.questionnaire and load_questionnaire(options.questionnaire).id != own:
        raise click.ClickException(
            f"đợt khảo sát {options.campaign} dùng phiếu {own}, không phải {options.questionnaire} "
            f"(campaign {options.campaign} uses {own})"
        )
    for note in design.notes:
        click.echo(f"cảnh báo (warning): {note}", err=True)
    return design


def score_arguments(options: ScoringOptions, design: CampaignDesign | None = None) -> dict[str, Any]:
    """Return the keyword arguments of ``analysis.score`` for ``options`` and a campaign's design.

    Parameters
    ----------
    options
        The parsed scoring options; ``ScoringOptions()`` are those of a command given none.
    design
        The stored campaign being scored: its questionnaire and responses, and as defaults that an
        option overrides its frame (``--frame``), units and names (``--unit-list``) and margin of error
        (``--margin-of-error``); its targets always apply. Without it, ``--questionnaire`` and
        ``--responses`` are read.

    Returns
    -------
    dict
        ``questionnaire``, ``responses`` and every setting of ``analysis.score`` that the options give.

    Raises
    ------
    ScoringError, QuestionnaireError
        For a file or an id that cannot be read; the message names it.
    """
    margin_of_error = options.margin_of_error
    if design is None:
        questionnaire = load_questionnaire(options.questionnaire)
        arguments: dict[str, Any] = {
            "questionnaire": questionnaire,
            "responses": read_responses(
                options.responses, questionnaire, unit_column=options.unit_column, unit=options.unit
            ),
        }
    else:
        arguments = {
            "questionnaire": design.questionnaire,
            "responses": design.responses,
            "frame": design.frame,
            "targets": dict(design.targets),
            "unit_names": dict(design.unit_names),
            "units": list(design.units),
        }
        if margin_of_error is None:
            margin_of_error = design.margin_of_error
    if options.frame is not None:
        arguments["frame"] = read_frame(options.frame)
    if options.unit_list:
        unit_table = load_units(options.unit_list)
        arguments["units"] = list(unit_table.codes)
        arguments["unit_names"] = {unit.code: unit.name for unit in unit_table}
    if options.margins is not None:
        arguments["margins"] = read_margins(options.margins)
    if options.previous is not None:
        arguments["previous"] = read_previous(options.previous)
    if margin_of_error is not None:
        arguments["margin_of_error"] = margin_of_error
    arguments.update(
        min_n=options.min_n,
        confidence=options.confidence,
        trim=options.trim,
        rank_probability=options.rank_probability,
    )
    return arguments


def one_line(exc: BaseException) -> str:
    """Return a user error as one line (a file-system error as ``file: reason``)."""
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return " ".join(str(exc).split())
