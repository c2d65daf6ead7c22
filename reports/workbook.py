"""The district report: a ranked, print-ready Excel workbook in Vietnamese, built from an index table.

Sheets, in order: ``Xếp hạng`` (ranking, CI, change, flags, native bar chart with CI error bars),
``Theo yếu tố`` (unit × element/field), ``Theo tiêu chí`` (unit × criterion heatmap), one sheet per unit
(or one ``Từng đơn vị`` sheet of compact blocks when units are many), ``Phương pháp`` (what was computed,
how, from what), and with the responses ``Dữ liệu`` and ``Mã hoá``. Given the data-quality tables,
``Chất lượng dữ liệu`` (forms received and left out, flags by rule, sensitivity of the ranking to the
flagged forms; :mod:`reports.quality`) follows ``Theo tiêu chí``, and the method sheet says what was
left out.

The workbook is written in xlsxwriter's ``constant_memory`` mode by default, so every sheet is written
strictly row by row, top to bottom: the writers below never go back to an earlier row. Text always goes
through ``write_string`` (never a formula, whatever the data says) and every return code is checked.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import IO, Any

import pandas as pd
from xlsxwriter.utility import quote_sheetname, xl_range_abs, xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from analysis.data import bilingual
from analysis.domains import DomainTable
from analysis.results import FLAG_LABELS_VI, IndexTable, UnitResult
from analysis.tree import asked_groups
from questionnaires import GroupWeighting, Method, PointsTotal, Questionnaire, UnaskedStratum

from . import charts
from .colours import ink_for, scale_colour
from .comments import comment_questions, write_comments_sheet
from .errors import ReportError
from .responses import (
    add_responses_sheets,
    check,
    close_workbook,
    discard_workbook,
    open_workbook,
    print_setup,
)
from .structure import Structure, display_name, nfc, vn_number

SHEET_RANKING = "Xếp hạng"
SHEET_ELEMENTS = "Theo yếu tố"
SHEET_CRITERIA = "Theo tiêu chí"
SHEET_FIGURES = "Biểu đồ"
SHEET_UNITS = "Từng đơn vị"
SHEET_METHOD = "Phương pháp"
SHEET_QUALITY = "Chất lượng dữ liệu"  # reports.quality writes it; 18 characters, within Excel's 31
SHEET_LANGUAGES = "Theo ngôn ngữ"
SHEET_COMMENTS = "Góp ý của người dân"  # reports.comments writes it
SHEET_RATES = "Tỷ lệ phản hồi"  # reports.rates writes it
FIXED_SHEETS = (
    SHEET_RANKING,
    SHEET_QUALITY,
    SHEET_RATES,
    SHEET_ELEMENTS,
    SHEET_CRITERIA,
    SHEET_LANGUAGES,
    SHEET_FIGURES,
    SHEET_UNITS,
    SHEET_COMMENTS,
    SHEET_METHOD,
    "Dữ liệu",
    "Mã hoá",
)

PER_UNIT_SHEETS_MAX = 60  # above this, units get compact blocks on one sheet and no per-unit picture
CHART_UNITS_MAX = 60  # a bar chart of more units than this is unreadable
FIGURE_UNITS_MAX = 60
DEFAULT_THRESHOLD = 80.0
RANKING_ROWS_PAGE_ONE = 18  # units the ranking table holds on its first printed page
FONT = "Times New Roman"  # the font of Vietnamese administrative documents

_INVALID_SHEET_CHARS = str.maketrans({c: " " for c in "[]:*?/\\"})

# The Methods sheet's words on the rank interval and the groups (analysis/README.md, "Flags, targets, ranks").
RANK_INTERVAL_VI = " ".join(
    (
        'Cột "Khoảng hạng {confidence}": từ chỉ số và sai số chuẩn của các đơn vị, máy tính mô phỏng 1.000',
        "lần (phân phối chuẩn, hạt giống cố định nên kết quả lặp lại được) và xếp hạng lại ở mỗi lần; khoảng",
        "hạng là khoảng ở giữa chứa {confidence} số hạng mô phỏng của đơn vị. Khoảng hạng rộng nghĩa là thứ",
        "hạng của đơn vị chưa chắc chắn.",
    )
)
RANK_GROUPS_VI = " ".join(
    (
        'Cột "Nhóm không phân biệt được": mỗi cặp đơn vị được kiểm định chênh lệch chỉ số (kiểm định z',
        "với sai số chuẩn tuyến tính hoá của hai đơn vị; mẫu của các đơn vị độc lập nhau). Mức ý nghĩa",
        "α = {alpha} được",
        "hiệu chỉnh cho nhiều phép so sánh theo phương pháp Holm: 16 đơn vị có 120 cặp, nếu không hiệu chỉnh",
        "thì khoảng 5% số cặp sẽ có vẻ khác nhau chỉ do ngẫu nhiên. Kết quả được trình bày bằng chữ cái:",
        "hai đơn vị có chung ít nhất một chữ cái thì chênh lệch giữa chúng không có ý nghĩa thống kê; hai",
        'đơn vị không có chữ cái chung thì khác nhau có ý nghĩa (ví dụ "a", "ab", "b": đơn vị "ab" không',
        'phân biệt được với cả hai). Chữ "a" là nhóm của đơn vị đứng đầu. Cách này được chọn thay cho việc',
        "xem khoảng tin cậy có chồng nhau hay không, vì hai khoảng tin cậy {confidence} có thể chồng nhau",
        "trong khi chênh lệch vẫn có ý nghĩa; kiểm định trực tiếp chênh lệch là cách đúng. Hạng chỉ nên dùng",
        "để phân biệt các đơn vị thuộc các nhóm khác nhau.",
    )
)
CI_METHODS_VI = {
    "korn-graubard": (
        "Korn–Graubard: khoảng Clopper–Pearson (phân phối beta) tính trên cỡ mẫu hiệu dụng, nên luôn "
        "nằm trong [0; 100] và vẫn có ý nghĩa khi chỉ số gần 100%"
    ),
    "clopper-pearson": "Clopper–Pearson (chính xác, phân phối beta)",
    "wilson": "Wilson (điểm số), luôn nằm trong [0; 100]",
    "logit": "Khoảng logit: tính trên thang logit rồi đổi ngược, luôn nằm trong [0; 100]",
    "wald": "Wald: chỉ số ± z × sai số chuẩn (cắt về [0; 100])",
    "bootstrap": "Bootstrap (lấy mẫu lặp lại theo tầng)",
}
CI_NAMES = {
    "korn-graubard": "Korn–Graubard",
    "clopper-pearson": "Clopper–Pearson",
    "wilson": "Wilson",
    "logit": "logit",
    "wald": "Wald",
    "bootstrap": "bootstrap",
}
WEIGHTING_VI = {
    "none": "Không gia quyền: mỗi phiếu hợp lệ có trọng số bằng 1.",
    "design": (
        "Trọng số thiết kế: mỗi phiếu trong ô h (đơn vị × tầng) có trọng số w = N_h / n_h, với N_h là số "
        "lượt người dân, tổ chức được phục vụ trong kỳ và n_h là số phiếu thu được trong ô đó; chỉ số "
        "toàn địa bàn gộp các đơn vị theo trọng số này."
    ),
    "poststratified": (
        "Trọng số thiết kế, sau đó hậu phân tầng (post-stratification) theo cơ cấu đã biết của người được "
        "phục vụ."
    ),
    "raked": "Trọng số thiết kế, sau đó hiệu chỉnh lặp (raking) theo các phân bố biên đã biết.",
}


# ------------------------------------------------------------------------------------------ helpers


def _num(value: Any) -> float | None:
    """A finite float, or None for missing/NaN."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def sheet_names(wanted: Sequence[str], taken: Sequence[str] = ()) -> list[str]:
    """Make Excel-valid, unique (case-insensitive) sheet names of at most 31 characters."""
    used = {t.casefold() for t in taken} | {"history"}  # "History" is reserved by Excel
    names = []
    for raw in wanted:
        base = " ".join(nfc(str(raw)).translate(_INVALID_SHEET_CHARS).split()).strip("'") or "Đơn vị"
        name = base[:31].rstrip().strip("'")
        k = 1
        while name.casefold() in used:
            k += 1
            suffix = f" ({k})"
            name = base[: 31 - len(suffix)].rstrip().strip("'") + suffix
        used.add(name.casefold())
        names.append(name)
    return names


class _Formats:
    """Every cell format the report uses, created once per workbook."""

    def __init__(self, workbook: Workbook):
        base = {"font_name": FONT, "font_size": 11, "valign": "vcenter"}
        self._workbook, self._base = workbook, base
        self._heat: dict[tuple[str, bool, bool], Any] = {}

        def fmt(**props: Any):
            return workbook.add_format({**base, **props})

        self.issuer = fmt(bold=True, align="center")
        self.motto = fmt(bold=True, align="center")
        self.motto_sub = fmt(bold=True, underline=True, align="center")
        self.date = fmt(italic=True, align="center")
        self.title = fmt(bold=True, font_size=14, align="center", text_wrap=True)
        self.subtitle = fmt(italic=True, align="center", text_wrap=True)
        self.summary = fmt(align="center", text_wrap=True)
        self.head = fmt(bold=True, align="center", text_wrap=True, border=1, bg_color="#DDEBF7")
        self.group_head = fmt(bold=True, align="center", text_wrap=True, border=1, bg_color="#BDD7EE")
        # A column without a group: its header cell spans both header rows, drawn as one box.
        self.head_top = fmt(top=1, left=1, right=1, bg_color="#DDEBF7")
        self.head_bottom = fmt(
            bold=True, align="center", text_wrap=True, bottom=1, left=1, right=1, bg_color="#DDEBF7"
        )
        self.text = fmt(border=1, text_wrap=True)
        self.text_center = fmt(border=1, align="center")
        self.code = fmt(border=1, font_color="#595959", font_size=9)
        self.rank = fmt(border=1, align="center", bold=True)
        self.count = fmt(border=1, num_format="#,##0")
        self.index = fmt(border=1, num_format="0.00")
        self.percent = fmt(border=1, num_format="0%")
        self.share = fmt(border=1, num_format="0.0")  # a percentage written as 0-100
        self.index_bold = fmt(border=1, num_format="0.00", bold=True)
        self.change = fmt(border=1, num_format="+0.00;-0.00;0.00")
        self.rank_change = fmt(border=1, align="center", num_format='"▲ "0;"▼ "0;"="')
        # Places lost (+) or gained (-) without the flagged forms (the quality sheet): no arrows, whose
        # direction on the ranking sheet means the opposite.
        self.rank_shift = fmt(border=1, align="center", num_format="+0;-0;0")
        self.missing = fmt(border=1, align="center", font_color="#7F7F7F")
        self.flags = fmt(border=1, text_wrap=True, italic=True, font_color="#C00000", font_size=10)
        self.overall_label = fmt(border=1, bold=True, bg_color="#F2F2F2")
        self.overall_index = fmt(border=1, bold=True, bg_color="#F2F2F2", num_format="0.00")
        self.overall_count = fmt(border=1, bold=True, bg_color="#F2F2F2", num_format="#,##0")
        self.overall_blank = fmt(border=1, bg_color="#F2F2F2")
        self.note = fmt(italic=True, font_size=10, text_wrap=True, valign="top")
        self.section = fmt(bold=True, font_size=12)
        self.label = fmt(bold=True, text_wrap=True, valign="top", border=1, bg_color="#F2F2F2")
        self.long_text = fmt(text_wrap=True, valign="top", border=1)
        self.block_title = fmt(bold=True, bg_color="#DDEBF7", border=1)
        self.signer = fmt(bold=True, align="center", text_wrap=True, valign="top")
        self.signer_name = fmt(bold=True, align="center")
        self.recipients_head = fmt(bold=True, italic=True, font_size=12)
        self.recipients = fmt(font_size=11, text_wrap=True, valign="top")
        self.number = fmt(align="center")
        self.rise = workbook.add_format({"font_color": "#006100"})
        self.fall = workbook.add_format({"font_color": "#9C0006"})

    def heat(self, fill: str, *, bold: bool = False, low: bool = False):
        """An index cell filled with ``fill``, its text in the colour readable on that fill.

        ``low`` (under the threshold) adds bold type and a thick border, which still show in black and
        white print.
        """
        key = (fill, bold, low)
        fmt = self._heat.get(key)
        if fmt is None:
            fmt = self._workbook.add_format(
                {
                    **self._base,
                    "num_format": "0.00",
                    "bg_color": fill,
                    "font_color": ink_for(fill),
                    "bold": bold or low,
                    "border": 2 if low else 1,
                }
            )
            self._heat[key] = fmt
        return fmt


HEAT_STEPS = 40  # fills of a matrix are quantised to this many steps: few formats, same look


@dataclass(frozen=True)
class _Heat:
    """A red-yellow-green scale over the values of a matrix: lowest, median, highest."""

    low: float
    mid: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float | None]) -> _Heat | None:
        finite = sorted(v for v in values if v is not None)
        if not finite:
            return None
        n = len(finite)
        median = finite[n // 2] if n % 2 else (finite[n // 2 - 1] + finite[n // 2]) / 2
        return cls(finite[0], median, finite[-1])

    def fill(self, value: float) -> str:
        span = self.high - self.low
        if span <= 0:
            return scale_colour(self.mid, self.low, self.mid, self.high)
        step = round((min(max(value, self.low), self.high) - self.low) / span * HEAT_STEPS) / HEAT_STEPS
        return scale_colour(self.low + step * span, self.low, self.mid, self.high)


class _Sheet:
    """A worksheet written strictly top to bottom, every xlsxwriter return code checked."""

    def __init__(self, workbook: Workbook, name: str, formats: _Formats):
        self.sheet: Worksheet = workbook.add_worksheet(name)
        self.name = name
        self.f = formats

    def _where(self, row: int, col: int) -> str:
        return f"ô {self.name}!{xl_rowcol_to_cell(row, col)}"

    def text(self, row: int, col: int, value: str, fmt=None) -> None:
        if not value:
            self.blank(row, col, fmt)
            return
        code = self.sheet.write_string(row, col, nfc(value), fmt)
        if code:  # the message is built only on failure: this runs for every cell
            check(code, self._where(row, col))

    def number(self, row: int, col: int, value: Any, fmt=None, missing: str = "—") -> None:
        if value is None or value != value:  # None or NaN
            self.text(row, col, missing, self.f.missing)
            return
        number = float(value)
        if math.isinf(number):
            self.text(row, col, missing, self.f.missing)
            return
        code = self.sheet.write_number(row, col, number, fmt)
        if code:
            check(code, self._where(row, col))

    def blank(self, row: int, col: int, fmt) -> None:
        code = self.sheet.write_blank(row, col, None, fmt)
        if code:
            check(code, self._where(row, col))

    def merge(self, row: int, first: int, last: int, value: str, fmt) -> None:
        if last <= first:
            self.text(row, first, value, fmt)
            return
        check(self.sheet.merge_range(row, first, row, last, "", fmt), self._where(row, first))
        self.text(row, first, value, fmt)

    def height(self, row: int, points: float) -> None:
        check(self.sheet.set_row(row, points), f"chiều cao dòng {row + 1} của trang {self.name}")

    def widths(self, widths: Sequence[float]) -> None:
        for col, width in enumerate(widths):
            check(self.sheet.set_column(col, col, width), f"độ rộng cột của trang {self.name}")

    def conditional(self, first_row: int, first_col: int, last_row: int, last_col: int, options) -> None:
        if last_row < first_row or last_col < first_col:
            return
        check(
            self.sheet.conditional_format(first_row, first_col, last_row, last_col, options),
            f"định dạng có điều kiện của trang {self.name}",
        )

    def print_setup(self, header_rows: tuple[int, int] | None, footer_left: str) -> None:
        print_setup(self.sheet, footer_left, header_rows)


@dataclass(frozen=True)
class Cover:
    """What an official report carries besides its title (Nghị định 30/2020/NĐ-CP), all optional.

    ``number`` is the document's số/ký hiệu ("125/BC-UBND"), ``recipients`` the lines of "Nơi nhận",
    ``signer_title`` the lines above the signature ("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH") and
    ``signer_name`` the name under it. What is missing is simply not printed.
    """

    number: str | None = None
    recipients: tuple[str, ...] = ()
    signer_title: tuple[str, ...] = ()
    signer_name: str | None = None

    @classmethod
    def of(
        cls,
        number: str | None = None,
        recipients: Sequence[str] = (),
        signer_title: Sequence[str] | str = (),
        signer_name: str | None = None,
    ) -> Cover | None:
        titles = signer_title.splitlines() if isinstance(signer_title, str) else list(signer_title)
        cover = cls(
            number=nfc(number.strip()) if number and number.strip() else None,
            recipients=tuple(nfc(r.strip()) for r in recipients if r and r.strip()),
            signer_title=tuple(nfc(t.strip()) for t in titles if t and t.strip()),
            signer_name=nfc(signer_name.strip()) if signer_name and signer_name.strip() else None,
        )
        return cover if cover != cls() else None

    @property
    def has_block(self) -> bool:
        return bool(self.recipients or self.signer_title or self.signer_name)


@dataclass(frozen=True)
class _Context:
    table: IndexTable
    questionnaire: Questionnaire
    structure: Structure
    units: tuple[UnitResult, ...]  # in rank order
    names: Mapping[str, str]
    title: str
    issuer: str | None
    period: str | None
    threshold: float
    generated: dt.datetime
    overall_label: str
    pictures: bool  # matplotlib figures (a few seconds); the native Excel chart is always there
    # What the index leaves out (reason -> forms) and whether flagged forms count: stated on the method
    # sheet when the caller gave the data-quality tables (has_quality).
    left_out: Mapping[str, int] | None = None
    include_flagged: bool = True
    has_quality: bool = False
    # Where the data collection stands (e.g. closed on a date), in a sentence given by the caller.
    status: str | None = None
    cover: Cover | None = None

    # Where the frame N came from (e.g. the case files of the one-stop system), in a sentence; and
    # whether the response-rate sheet is written (the caller gave the table).
    frame_note: str | None = None
    has_rates: bool = False

    @property
    def ranking_print_repeats(self) -> bool:
        """Whether the ranking table is long enough to need its header repeated on later pages."""
        return len(self.units) > RANKING_ROWS_PAGE_ONE

    @property
    def confidence(self) -> str:
        return f"{self.table.confidence:.0%}"

    @property
    def has_previous(self) -> bool:
        return any(u.previous_index is not None or u.previous_rank is not None for u in self.units)

    @property
    def has_points(self) -> bool:
        return any(u.points is not None for u in self.units)

    def name(self, unit: UnitResult) -> str:
        return display_name(unit, self.names)


# -------------------------------------------------------------------------------------- public API


def build_report(
    table: IndexTable,
    questionnaire: Questionnaire,
    out: str | PathLike[str] | IO[bytes],
    *,
    unit_names: Mapping[str, str] | None = None,
    responses: pd.DataFrame | None = None,
    title: str | None = None,
    issuer: str | None = None,
    period: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    per_unit_sheets_max: int = PER_UNIT_SHEETS_MAX,
    overall_label: str = "Toàn huyện",
    constant_memory: bool = True,
    pictures: bool = True,
    generated: dt.datetime | None = None,
    quality: pd.DataFrame | None = None,
    sensitivity: pd.DataFrame | None = None,
    left_out: Mapping[str, int] | None = None,
    include_flagged: bool = True,
    quality_notes: Sequence[str] = (),
    status: str | None = None,
    by_language: DomainTable | None = None,
    comments: pd.DataFrame | None = None,
    cover: Cover | None = None,
    response_rates: pd.DataFrame | None = None,
    frame_note: str | None = None,
) -> list[str]:
    """Write the ranked report workbook to a path or a binary stream; return the sheet names in order.

    With ``by_language`` (``analysis.domains.score_by("language", …)``), the sheet ``Theo ngôn ngữ``
    follows the criteria sheet: the overall index per language the forms were shown in.

    ``status`` is a sentence on where the data collection stands (open, or closed on a date); the
    ranking sheet's heading and the method sheet state it.

    With ``response_rates`` (per unit × field: case files, answer codes issued, forms received; see
    :mod:`reports.rates`) the sheet ``Tỷ lệ phản hồi`` follows, and the method sheet says that the
    weights within unit × field correct for response rates that differ across fields. ``frame_note``
    says on the method sheet where the frame's N came from.

    With ``quality`` (forms per unit: received, by source, rejected, late, flagged by rule, counted)
    and/or ``sensitivity`` (``analysis.sensitivity``), the sheet ``Chất lượng dữ liệu`` follows the
    criteria sheet and the method sheet states ``left_out`` (reason -> forms) and whether flagged forms count.

    The sheet ``Góp ý của người dân`` lists the free-text answers of ``comments`` (a responses table;
    by default ``responses``), with phone numbers, ID numbers and e-mail addresses masked
    (:mod:`reports.comments`). ``cover`` adds the document number, "Nơi nhận" and the signature block.
    """
    if questionnaire.scoring is None:
        raise ReportError(
            bilingual(
                f"bảng hỏi {questionnaire.id} không có cây tính điểm, không lập được báo cáo",
                f"questionnaire {questionnaire.id} has no scoring tree, so there is no report",
            )
        )
    if table.questionnaire != questionnaire.id:
        raise ReportError(
            bilingual(
                f"bảng chỉ số tính cho bảng hỏi '{table.questionnaire}', không phải '{questionnaire.id}'",
                f"the index table was scored for questionnaire '{table.questionnaire}', "
                f"not '{questionnaire.id}'",
            )
        )
    if not table.units:
        raise ReportError(bilingual("bảng chỉ số không có đơn vị nào", "the index table has no units"))
    structure = Structure.build(table, questionnaire)
    units = tuple(sorted(table.units, key=_rank_key))
    ctx = _Context(
        table=table,
        questionnaire=questionnaire,
        structure=structure,
        units=units,
        names=dict(unit_names or {}),
        title=nfc(title or f"Kết quả {structure.index_label}"),
        issuer=nfc(issuer) if issuer else None,
        period=nfc(period) if period else None,
        threshold=float(threshold),
        generated=generated or dt.datetime.now(),
        overall_label=nfc(overall_label),
        pictures=pictures,
        left_out=dict(left_out) if left_out is not None else None,
        include_flagged=include_flagged,
        has_quality=quality is not None or sensitivity is not None,
        status=nfc(status) if status else None,
        cover=cover,
        frame_note=nfc(frame_note) if frame_note else None,
        has_rates=response_rates is not None and len(response_rates) > 0,
    )
    if isinstance(out, str | PathLike):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    workbook = open_workbook(out, constant_memory=constant_memory)
    try:
        workbook.set_properties(
            {
                "title": ctx.title,
                "subject": nfc(questionnaire.title.vi),
                "author": ctx.issuer or "",
                "company": ctx.issuer or "",
                "comments": f"sipas-toolkit; bảng hỏi {questionnaire.id} phiên bản {questionnaire.version}",
                "created": ctx.generated,
            }
        )
        formats = _Formats(workbook)
        _ranking_sheet(workbook, ctx, formats)
        _elements_sheet(workbook, ctx, formats)
        _criteria_sheet(workbook, ctx, formats)
        if by_language is not None:
            _language_sheet(workbook, ctx, formats, by_language)
        if ctx.has_quality:
            from .quality import write_quality_sheet

            write_quality_sheet(
                workbook,
                ctx,
                formats,
                quality=quality,
                sensitivity=sensitivity,
                left_out=ctx.left_out,
                include_flagged=include_flagged,
                notes=[nfc(str(n)) for n in quality_notes],
                name=SHEET_QUALITY,
            )
        if ctx.has_rates:
            from .rates import write_rates_sheet

            write_rates_sheet(workbook, ctx, formats, response_rates)
        if pictures:
            _figures_sheet(workbook, ctx, formats)
        if len(units) <= per_unit_sheets_max:
            for unit, name in zip(
                units, sheet_names([ctx.name(u) for u in units], FIXED_SHEETS), strict=True
            ):
                _unit_sheet(workbook, ctx, formats, unit, name)
        else:
            _compact_units_sheet(workbook, ctx, formats)
        source = comments if comments is not None else responses
        if source is not None and comment_questions(questionnaire, source):
            write_comments_sheet(workbook, ctx, formats, source, name=SHEET_COMMENTS)
        _method_sheet(workbook, ctx, formats, responses)
        if responses is not None:
            add_responses_sheets(workbook, questionnaire, responses)
        names = [ws.get_name() for ws in workbook.worksheets()]
    except BaseException:
        discard_workbook(workbook, out)
        raise
    close_workbook(workbook, out)
    return names


def _rank_key(unit: UnitResult) -> tuple:
    return (unit.rank is None, unit.rank or 0, -(_num(unit.index) or -1.0), unit.unit)


# ------------------------------------------------------------------------------------ heading block


def _official_heading(sh: _Sheet, ctx: _Context, last_col: int) -> int:
    """Write issuer, national motto, date, title, period; return the next free row."""
    f = sh.f
    split = max(2, min(last_col // 2, 3))
    right = split + 1
    sh.merge(0, 0, split, (ctx.issuer or "").upper(), f.issuer)
    sh.merge(0, right, last_col, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", f.motto)
    sh.merge(1, 0, split, "", f.issuer)
    sh.merge(1, right, last_col, "Độc lập - Tự do - Hạnh phúc", f.motto_sub)
    d = ctx.generated
    if ctx.cover is not None and ctx.cover.number:
        sh.merge(2, 0, split, f"Số: {ctx.cover.number}", f.number)
    sh.merge(2, right, last_col, f"ngày {d.day:02d} tháng {d.month:02d} năm {d.year}", f.date)
    sh.height(3, 40)
    sh.merge(3, 0, last_col, ctx.title.upper(), f.title)
    row = 4
    if ctx.period:
        sh.merge(row, 0, last_col, f"Kỳ đánh giá: {ctx.period}", f.subtitle)
        row += 1
    if ctx.status:
        sh.merge(row, 0, last_col, ctx.status, f.subtitle)
        row += 1
    return row


def _short_heading(sh: _Sheet, ctx: _Context, last_col: int, heading: str) -> int:
    f = sh.f
    sh.merge(0, 0, last_col, (ctx.issuer or "").upper(), f.issuer) if ctx.issuer else None
    sh.height(1, 36)
    sh.merge(1, 0, last_col, heading.upper(), f.title)
    row = 2
    if ctx.period:
        sh.merge(row, 0, last_col, f"{ctx.title} — kỳ đánh giá: {ctx.period}", f.subtitle)
    else:
        sh.merge(row, 0, last_col, ctx.title, f.subtitle)
    return row + 2


def _overall_summary(ctx: _Context) -> str:
    o = ctx.table.overall
    parts = [f"{ctx.overall_label}: chỉ số {vn_number(_num(o.index))}"]
    if _num(o.ci_low) is not None and _num(o.ci_high) is not None:
        parts[0] += f" (khoảng tin cậy {ctx.confidence}: {vn_number(o.ci_low)} – {vn_number(o.ci_high)})"
    parts.append(f"{o.n:,} phiếu".replace(",", "."))
    parts.append(f"{len(ctx.units)} đơn vị")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class _Col:
    key: str
    header: str
    width: float
    group: str | None = None


def ranking_columns(ctx: _Context) -> list[_Col]:
    """The ranking sheet's columns, in order (those about a previous period only when there is one)."""
    ci = f"Khoảng tin cậy {ctx.confidence}"
    cols = [
        _Col("rank", "Hạng", 6),
        _Col("name", "Đơn vị", 24),
        _Col("n", "Số phiếu", 9),
        _Col("index", "Chỉ số (%)", 11),
        _Col("ci_low", "Cận dưới", 9, ci),
        _Col("ci_high", "Cận trên", 9, ci),
    ]
    if any(u.rank_low is not None for u in ctx.units):
        rank_range = f"Khoảng hạng {ctx.confidence}"
        cols += [_Col("rank_low", "Từ hạng", 7, rank_range), _Col("rank_high", "Đến hạng", 7, rank_range)]
    if any(u.rank_group is not None for u in ctx.units):
        cols.append(_Col("rank_group", "Nhóm không phân biệt được", 11))
    if any(u.rank_probability is not None for u in ctx.units):
        cols.append(_Col("rank_probability", "Xác suất hạng đúng (± 1)", 10))
    if ctx.has_points:
        cols += [_Col("points", "Điểm", 8), _Col("max_points", "Điểm tối đa", 8)]
    if ctx.has_previous:
        prev = "So với kỳ trước"
        cols += [
            _Col("previous_index", "Chỉ số kỳ trước", 11, prev),
            _Col("change", "Thay đổi chỉ số", 11, prev),
            _Col("previous_rank", "Hạng kỳ trước", 8, prev),
            _Col("rank_change", "Thay đổi hạng", 9, prev),
        ]
    cols += [
        _Col("flags", "Ghi chú", 30),
        _Col("unit", "Mã đơn vị", 12),
        # Error-bar lengths for the chart: hidden, but inside the table so sorting keeps them in step.
        _Col("err_plus", "Sai số trên", 0),
        _Col("err_minus", "Sai số dưới", 0),
    ]
    return cols


def _ranking_sheet(workbook: Workbook, ctx: _Context, f: _Formats) -> None:
    sh = _Sheet(workbook, SHEET_RANKING, f)
    cols = ranking_columns(ctx)
    col = {c.key: i for i, c in enumerate(cols)}
    last_visible = col["unit"]
    sh.widths([c.width for c in cols])
    for key in ("err_plus", "err_minus"):
        check(sh.sheet.set_column(col[key], col[key], 9, None, {"hidden": True}), "cột ẩn")
    printed = last_visible - 1  # the unit code column is for analysts (sorting, joining), not printed
    row = _official_heading(sh, ctx, printed)
    sh.height(row, 30)
    sh.merge(row, 0, printed, _overall_summary(ctx), f.summary)
    row += 2
    group_row, head_row = row, row + 1
    _two_row_header(sh, cols[: last_visible + 1], group_row, head_row, (30, 45))
    sh.text(head_row, col["err_plus"], cols[col["err_plus"]].header, f.head)
    sh.text(head_row, col["err_minus"], cols[col["err_minus"]].header, f.head)
    first = head_row + 1
    for r, unit in enumerate(ctx.units, start=first):
        _ranking_row(sh, ctx, col, r, unit)
    last = first + len(ctx.units) - 1
    index_col = col["index"]
    sh.conditional(
        first,
        index_col,
        last,
        index_col,
        {
            "type": "data_bar",
            "bar_color": "#9DC3E6",
            # Excel 2007 data bars: no x14 extension, so every reader (openpyxl, LibreOffice) keeps them.
            "data_bar_2010": False,
            "min_type": "num",
            "min_value": 0,
            "max_type": "num",
            "max_value": 100,
        },
    )
    if ctx.has_previous:
        c = col["change"]
        sh.conditional(
            first,
            c,
            last,
            c,
            {
                "type": "3_color_scale",
                "min_color": "#F8696B",
                "mid_type": "num",
                "mid_value": 0,
                "mid_color": "#FFFFFF",
                "max_color": "#63BE7B",
            },
        )
        c = col["rank_change"]
        sh.conditional(first, c, last, c, {"type": "cell", "criteria": ">", "value": 0, "format": f.rise})
        sh.conditional(first, c, last, c, {"type": "cell", "criteria": "<", "value": 0, "format": f.fall})
    check(sh.sheet.autofilter(head_row, 0, last, len(cols) - 1), "bộ lọc trang Xếp hạng")
    sh.sheet.freeze_panes(first, 2)
    # The district as a whole, apart from the ranked (sortable) rows.
    row = last + 2
    sh.merge(row, 0, 1, ctx.overall_label, f.overall_label)
    o = ctx.table.overall
    sh.number(row, col["n"], o.n, f.overall_count)
    for key in ("index", "ci_low", "ci_high"):
        sh.number(row, col[key], getattr(o, key), f.overall_index)
    for key in ("rank_probability", "points", "max_points", "previous_index", "previous_rank"):
        if key in col:
            sh.number(row, col[key], getattr(o, key), f.overall_index)
    for key in ("rank_low", "rank_high", "rank_group", "change", "rank_change", "flags", "unit"):
        if key in col:
            sh.blank(row, col[key], f.overall_blank)
    row += 2
    for note in _ranking_notes(ctx):
        sh.height(row, 16 if len(note) <= 120 else 15 * math.ceil(len(note) / 120))
        sh.merge(row, 0, printed, note, f.note)
        row += 1
    if ctx.cover is not None and ctx.cover.has_block:
        row = _signature_block(sh, ctx.cover, row + 1, printed)
    end_of_table = row - 1
    chart_printed = not ctx.pictures and len(ctx.units) <= CHART_UNITS_MAX
    if len(ctx.units) <= CHART_UNITS_MAX:
        row += 1
        if chart_printed:  # the chart prints on its own page
            check(sh.sheet.set_h_pagebreaks([row]), "ngắt trang trước biểu đồ")
    _ranking_chart(workbook, sh, ctx, col, first, last, row, last_visible)
    # Printed: the table, its notes and the signature. The native chart is for the screen when the
    # figures sheet prints its picture (Hình 1); without pictures it prints on a page of its own.
    chart_rows = math.ceil((90 + 24 * len(ctx.units)) / 20) + 1 if chart_printed else 0
    check(sh.sheet.print_area(0, 0, end_of_table + chart_rows, printed), "vùng in của trang Xếp hạng")
    # The header repeats only where the table itself runs onto a second page, never above the chart.
    repeat = (group_row, head_row) if ctx.ranking_print_repeats and not chart_printed else None
    sh.print_setup(repeat, ctx.title)


def _signature_block(sh: _Sheet, cover: Cover, row: int, last_col: int) -> int:
    """ "Nơi nhận" on the left and the signer on the right, as at the end of an official document."""
    f = sh.f
    split = max(1, min(last_col // 2, 3))
    right = split + 1
    lines = max(len(cover.recipients) + 1, len(cover.signer_title) + 5)
    left = ["Nơi nhận:", *[f"- {r}" for r in cover.recipients]] if cover.recipients else []
    signer = list(cover.signer_title) + [""] * 4 + ([cover.signer_name] if cover.signer_name else [])
    for k in range(lines):
        text = left[k] if k < len(left) else ""
        sh.merge(row + k, 0, split, text, f.recipients_head if k == 0 and text else f.recipients)
        mark = signer[k] if k < len(signer) else ""
        fmt = f.signer_name if cover.signer_name and mark == cover.signer_name and k >= 4 else f.signer
        sh.merge(row + k, right, last_col, mark.upper() if fmt is f.signer else mark, fmt)
        sh.height(row + k, 17)
    return row + lines


def _two_row_header(
    sh: _Sheet, cols: Sequence[_Col], group_row: int, head_row: int, heights: tuple[float, float] = (18, 45)
) -> None:
    """Group labels merged across their columns on the first row, column labels on the second."""
    sh.height(group_row, heights[0])
    i = 0
    while i < len(cols):
        group = cols[i].group
        j = i
        while j + 1 < len(cols) and group is not None and cols[j + 1].group == group:
            j += 1
        if group is None:
            sh.blank(group_row, i, sh.f.head_top)
        else:
            sh.merge(group_row, i, j, group, sh.f.group_head)
        i = j + 1
    sh.height(head_row, heights[1])
    for i, c in enumerate(cols):
        sh.text(head_row, i, c.header, sh.f.head if c.group else sh.f.head_bottom)


def _ranking_row(sh: _Sheet, ctx: _Context, col: Mapping[str, int], r: int, u: UnitResult) -> None:
    f = sh.f
    flags = "; ".join(FLAG_LABELS_VI.get(flag, flag) for flag in u.flags)
    # Rows do not grow by themselves in every spreadsheet: give wrapped text its second line.
    if len(flags) > 36 or len(ctx.name(u)) > 30:
        sh.height(r, 30)
    for key, c in col.items():
        if key == "rank":
            sh.number(r, c, u.rank, f.rank)
        elif key == "name":
            sh.text(r, c, ctx.name(u), f.text)
        elif key == "n":
            sh.number(r, c, u.n, f.count)
        elif key in ("index", "ci_low", "ci_high", "points", "max_points", "previous_index"):
            sh.number(r, c, getattr(u, key), f.index)
        elif key == "change":
            sh.number(r, c, u.change, f.change)
        elif key in ("rank_low", "rank_high"):
            sh.number(r, c, getattr(u, key), f.text_center)
        elif key == "rank_group":
            sh.text(r, c, u.rank_group or "", f.text_center)
        elif key == "rank_probability":
            sh.number(r, c, u.rank_probability, f.percent)
        elif key == "previous_rank":
            sh.number(r, c, u.previous_rank, f.text_center)
        elif key == "rank_change":
            sh.number(r, c, u.rank_change, f.rank_change)
        elif key == "flags":
            sh.text(r, c, flags, f.flags)
        elif key == "unit":
            sh.text(r, c, u.unit, f.code)
        elif key == "err_plus":
            sh.number(r, c, _error(u.ci_high, u.index), None, missing="")
        elif key == "err_minus":
            sh.number(r, c, _error(u.index, u.ci_low), None, missing="")


def _range(sheet: str, first: int, col: int, last: int) -> str:
    return "=" + quote_sheetname(sheet) + "!" + xl_range_abs(first, col, last, col)


def _plain(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _count(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _error(a: Any, b: Any) -> float | None:
    a, b = _num(a), _num(b)
    return None if a is None or b is None else max(a - b, 0.0)


def _ranking_notes(ctx: _Context) -> list[str]:
    ci = CI_NAMES.get(ctx.table.ci_method, ctx.table.ci_method)
    notes = [
        f"Ghi chú: Chỉ số tính theo {ctx.questionnaire.source or ctx.questionnaire.title.vi}; "
        f"khoảng tin cậy {ctx.confidence} theo phương pháp {ci}. "
        "Xếp hạng theo chỉ số giảm dần; số liệu làm tròn 2 chữ số thập phân. "
        'Xem trang "Phương pháp" để biết cách tính, trọng số và cỡ mẫu.',
    ]
    if any(u.rank_group is not None for u in ctx.units):
        notes.append(
            f'Cột "Khoảng hạng {ctx.confidence}": các hạng mà đơn vị có thể đạt khi tính đến sai số của mẫu. '
            'Cột "Nhóm không phân biệt được": các đơn vị có chung một chữ cái không khác nhau có ý nghĩa '
            "thống kê; thứ hạng giữa chúng không nên dùng để khen thưởng hay phê bình."
        )
    used = sorted({flag for u in ctx.units for flag in u.flags})
    if used:
        notes.append(
            "Cột Ghi chú: " + "; ".join(f"{FLAG_LABELS_VI.get(flag, flag)}" for flag in used) + " — "
            "kết quả của các đơn vị này cần đọc thận trọng."
        )
    return notes


def _ranking_chart(
    workbook: Workbook,
    sh: _Sheet,
    ctx: _Context,
    col: Mapping[str, int],
    first: int,
    last: int,
    row: int,
    width_cols: int,
) -> None:
    if len(ctx.units) > CHART_UNITS_MAX:
        sh.merge(
            row,
            0,
            width_cols,
            f"Biểu đồ không vẽ vì có {len(ctx.units)} đơn vị (tối đa {CHART_UNITS_MAX}); xem bảng ở trên.",
            sh.f.note,
        )
        return
    name = SHEET_RANKING
    chart = workbook.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": "Chỉ số",
            "categories": [name, first, col["name"], last, col["name"]],
            "values": [name, first, col["index"], last, col["index"]],
            "fill": {"color": "#5B9BD5"},
            "gap": 60,
            "y_error_bars": {
                "type": "custom",
                # A formula string: xlsxwriter reads a list here as literal values, not as a range.
                "plus_values": _range(name, first, col["err_plus"], last),
                "minus_values": _range(name, first, col["err_minus"], last),
                "end_style": 1,
                "line": {"color": "#404040", "width": 1},
            },
        }
    )
    chart.set_title(
        {"name": f"{ctx.structure.index_label} và khoảng tin cậy {ctx.confidence}", "name_font": {"size": 12}}
    )
    chart.set_x_axis({"min": 0, "max": 100, "major_unit": 10, "num_format": "0", "name": "Chỉ số (%)"})
    chart.set_y_axis({"reverse": True, "num_font": {"size": 9}})
    chart.set_legend({"none": True})
    chart.show_hidden_data()  # the error-bar columns are hidden
    chart.set_size({"width": 900, "height": 90 + 24 * len(ctx.units)})
    check(sh.sheet.insert_chart(row, 0, chart), "biểu đồ xếp hạng")


# ---------------------------------------------------------------------------------------- elements


def element_columns(ctx: _Context) -> list[_Col]:
    """Element (and field) columns of the ``Theo yếu tố`` sheet: each field's elements, then the field."""
    s = ctx.structure
    cols = [_Col("rank", "Hạng", 6), _Col("name", "Đơn vị", 24)]
    if s.fields:
        for fld in s.fields:
            for code in fld.elements:
                e = next(x for x in s.elements if x.code == code)
                cols.append(_Col(f"element:{code}", f"{e.number}. {e.label}", 13, fld.label))
            cols.append(_Col(f"field:{fld.code}", "Chỉ số lĩnh vực", 12, fld.label))
    else:
        cols += [_Col(f"element:{e.code}", f"{e.number}. {e.label}", 13, "Yếu tố") for e in s.elements]
    cols.append(_Col("index", "Chỉ số chung", 11))
    return cols


def _value_of(unit: UnitResult, key: str) -> float | None:
    kind, _, code = key.partition(":")
    if kind == "element":
        return _num(unit.elements.get(code))
    if kind == "field":
        return _num(unit.fields.get(code))
    if kind == "criterion":
        return _num(unit.criteria.get(code))
    return _num(getattr(unit, kind))


def _elements_sheet(workbook: Workbook, ctx: _Context, f: _Formats) -> None:
    sh = _Sheet(workbook, SHEET_ELEMENTS, f)
    cols = element_columns(ctx)
    sh.widths([c.width for c in cols])
    last_col = len(cols) - 1
    row = _short_heading(
        sh, ctx, last_col, "Chỉ số theo yếu tố" + (" và lĩnh vực" if ctx.structure.fields else "")
    )
    group_row, head_row = row, row + 1
    _two_row_header(sh, cols, group_row, head_row, (30, 75))
    first = head_row + 1
    parts = [c.key for c in cols if c.key.startswith(("element:", "field:"))]
    heats = {
        "parts": _Heat.of([_value_of(u, k) for u in ctx.units for k in parts]),
        "index": _Heat.of([_num(u.index) for u in ctx.units]),
    }
    for r, unit in enumerate(ctx.units, start=first):
        _matrix_row(sh, ctx, cols, r, unit, lambda key: heats["index" if key == "index" else "parts"])
    last = first + len(ctx.units) - 1
    check(sh.sheet.autofilter(head_row, 0, last, last_col), "bộ lọc trang Theo yếu tố")
    sh.sheet.freeze_panes(first, 2)
    row = _matrix_overall(sh, ctx, cols, last + 1)
    sh.height(row + 1, 30)
    sh.merge(
        row + 1,
        0,
        last_col,
        "Màu ô: đỏ là thấp nhất, vàng là trung vị, xanh là cao nhất trong bảng. "
        "Chỉ số yếu tố là trung bình các tiêu chí của yếu tố"
        + ("; chỉ số lĩnh vực là trung bình các yếu tố của lĩnh vực." if ctx.structure.fields else "."),
        f.note,
    )
    sh.print_setup((group_row, head_row), ctx.title)


def _matrix_row(
    sh: _Sheet,
    ctx: _Context,
    cols: Sequence[_Col],
    r: int,
    unit: UnitResult,
    heat: Callable[[str], _Heat | None],
    threshold: float | None = None,
) -> None:
    """One unit's row of a matrix: each value filled by its scale, with readable text.

    ``threshold``: values under it are bold with a thick border (the criteria sheet).
    """
    for c, col in enumerate(cols):
        if col.key == "rank":
            sh.number(r, c, unit.rank, sh.f.rank)
        elif col.key == "name":
            sh.text(r, c, ctx.name(unit), sh.f.text)
        else:
            value = _value_of(unit, col.key)
            scale = heat(col.key)
            if value is None or scale is None:
                sh.number(r, c, value, sh.f.index_bold if col.key == "index" else sh.f.index)
                continue
            low = threshold is not None and value < threshold
            sh.number(r, c, value, sh.f.heat(scale.fill(value), bold=col.key == "index", low=low))


def _matrix_overall(sh: _Sheet, ctx: _Context, cols: Sequence[_Col], row: int) -> int:
    """Write the district row one line below the table; return its row."""
    row += 1
    sh.merge(row, 0, 1, ctx.overall_label, sh.f.overall_label)
    for c, col in enumerate(cols[2:], start=2):
        sh.number(row, c, _value_of(ctx.table.overall, col.key), sh.f.overall_index)
    return row


# --------------------------------------------------------------------------------------- languages
def _language_sheet(workbook: Workbook, ctx: _Context, f: _Formats, table: DomainTable) -> None:
    """The overall index per language the form was shown in (domain estimation, the same design)."""
    sh = _Sheet(workbook, SHEET_LANGUAGES, f)
    elements = [
        (n.code, n.label.vi) for n in ctx.questionnaire.scoring.tree.walk() if n.level.value == "element"
    ]
    heads = ["Ngôn ngữ", "Số phiếu", "Chỉ số", "Sai số chuẩn", f"KTC {ctx.confidence}: thấp", "cao"]
    heads += [label for _, label in elements]
    sh.widths([26, 10, 10, 11, 12, 10, *([14] * len(elements))])
    last_col = len(heads) - 1
    row = head_row = _short_heading(sh, ctx, last_col, "Chỉ số theo ngôn ngữ hiển thị phiếu")
    sh.height(row, 45)
    for c, head in enumerate(heads):
        sh.text(row, c, head, f.head)
    for r in (*table.rows, table.overall):
        row += 1
        overall = r is table.overall
        name = ctx.overall_label if overall else (ctx.questionnaire.language_name(r.domain) or r.domain)
        sh.text(row, 0, name, f.overall_label if overall else f.text)
        sh.number(row, 1, r.n, f.overall_count if overall else f.count)
        for c, value in enumerate((r.index, r.se, r.ci_low, r.ci_high), start=2):
            sh.number(row, c, value, f.overall_index if overall else (f.index_bold if c == 2 else f.index))
        for c, (code, _) in enumerate(elements, start=6):
            sh.number(row, c, r.elements.get(code), f.overall_index if overall else f.index)
    row += 2
    sh.height(row, 75)
    sh.merge(
        row,
        0,
        last_col,
        "Ước lượng theo miền: mỗi ngôn ngữ được tính với cùng thiết kế mẫu và trọng số của toàn bộ phiếu; "
        "phiếu bằng ngôn ngữ khác vẫn ở trong tầng của chúng nhưng không được tính vào tử số và mẫu số, "
        "nên sai số chuẩn tính cả tính ngẫu nhiên của số phiếu mỗi ngôn ngữ. Ngôn ngữ do người trả lời tự "
        "chọn: chênh lệch giữa các ngôn ngữ chỉ để mô tả, không phải tác động của ngôn ngữ.",
        f.note,
    )
    sh.print_setup((head_row, head_row), ctx.title)


# ---------------------------------------------------------------------------------------- criteria


def criterion_columns(ctx: _Context) -> list[_Col]:
    """Criterion columns of the heatmap, grouped under their element."""
    s = ctx.structure
    cols = [_Col("rank", "Hạng", 7), _Col("name", "Đơn vị", 22)]
    for e in s.elements:
        cols += [_Col(f"criterion:{c}", s.short[c], 6.5, f"{e.number}. {e.label}") for c in e.criteria]
    return cols


def _criteria_sheet(workbook: Workbook, ctx: _Context, f: _Formats) -> None:
    sh = _Sheet(workbook, SHEET_CRITERIA, f)
    cols = criterion_columns(ctx)
    sh.widths([c.width for c in cols])
    last_col = len(cols) - 1
    row = _short_heading(sh, ctx, last_col, "Chỉ số theo tiêu chí")
    group_row, head_row = row, row + 1
    _two_row_header(sh, cols, group_row, head_row, (60, 18))
    first = head_row + 1
    keys = [c.key for c in cols[2:]]
    heat = _Heat.of([_value_of(u, k) for u in ctx.units for k in keys])
    for r, unit in enumerate(ctx.units, start=first):
        # Cells under the threshold stand out even in black and white print: bold, thick border.
        _matrix_row(sh, ctx, cols, r, unit, lambda _key: heat, ctx.threshold)
    last = first + len(ctx.units) - 1
    check(sh.sheet.autofilter(head_row, 0, last, last_col), "bộ lọc trang Theo tiêu chí")
    sh.sheet.freeze_panes(first, 2)
    row = _matrix_overall(sh, ctx, cols, last + 1)
    row += 1
    span = min(last_col, 14)
    sh.height(row, 30)
    sh.merge(
        row,
        0,
        max(span, 1),
        f"Màu ô: đỏ là thấp nhất, xanh là cao nhất trong bảng. Ô chữ đậm, viền đậm: chỉ số tiêu chí dưới "
        f'{vn_number(ctx.threshold, 0)}%. Ô "—": không có câu trả lời hợp lệ.',
        f.note,
    )
    row += 2
    sh.text(row, 0, "Ký hiệu", f.head)
    sh.merge(row, 1, max(span, 1), "Tiêu chí", f.head)
    row += 1
    for e in ctx.structure.elements:
        sh.text(row, 0, str(e.number), f.label)
        sh.merge(row, 1, max(span, 1), e.label, f.label)
        row += 1
        for c in e.criteria:
            label = ctx.structure.label(c)
            sh.height(row, 15 if len(label) < 110 else 30)
            sh.text(row, 0, ctx.structure.short[c], f.text_center)
            sh.merge(row, 1, max(span, 1), label, f.text)
            row += 1
    sh.print_setup((group_row, head_row), ctx.title)


def png_info(png: bytes) -> tuple[int, int, float | None]:
    """Width and height in pixels and the resolution (dots per inch) a PNG states, if it states one."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ReportError(bilingual("hình không phải tệp PNG", "the picture is not a PNG file"))
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    pos, dpi = 8, None
    while pos + 8 <= len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        kind = png[pos + 4 : pos + 8]
        if kind == b"pHYs" and length == 9:
            data = png[pos + 8 : pos + 17]
            x = int.from_bytes(data[0:4], "big")
            if data[8] == 1 and x:  # pixels per metre
                dpi = x * 0.0254
            break
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return width, height, dpi


# Excel lays a sheet out at 96 pixels per inch. What an A4 landscape page prints at 100% (margins 0.5 in
# left and right, 0.6 and 0.7 in top and bottom): 10.69 × 6.97 in. Sheets that carry a picture are kept
# narrower than that by a margin (spreadsheets measure columns slightly differently), so "one page wide"
# never shrinks them and a figure prints at the size it was drawn, its type at its own size (≥ 8 pt).
SCREEN_DPI = 96
PRINT_WIDTH_PX = round(10.69 * SCREEN_DPI)
PICTURE_SHEET_WIDTH_PX = 950
FIGURE_WIDTH_IN = 9.6  # figures of the figures sheet
FIGURE_HEIGHT_IN = 6.4  # one page, under its caption
UNIT_FIGURE_WIDTH_IN = 4.0
FIGURE_DPI = 110


def column_px(width: float) -> int:
    """Pixels of a column ``width`` characters wide (Excel's rule for the default 11 pt font)."""
    return 0 if width <= 0 else (int(width * 7 + 0.5) + 5 if width >= 1 else int(width * 12 + 0.5))


def column_width_for(px: float) -> float:
    """The column width (characters) that is at least ``px`` pixels wide."""
    return max(1.0, math.ceil((px - 5) / 7 * 100) / 100 + 0.01)


def _insert_png(sh: _Sheet, row: int, col: int, png: bytes, filename: str, *, inches: float) -> float:
    """Insert a figure ``inches`` wide, its aspect ratio kept; return the scale given to XlsxWriter.

    XlsxWriter sizes a PNG from its pixels and the resolution written in it; the scale asks for the
    width wanted, equal on both axes. The picture must lie within one column of the sheet (the caller
    makes that column wide enough): LibreOffice places a picture by the cells its corners are in, so
    a picture across columns whose widths it measures differently from Excel comes out stretched.
    """
    width, _, dpi = png_info(png)
    shown = width * SCREEN_DPI / (dpi or SCREEN_DPI)  # what XlsxWriter would show at scale 1
    scale = inches * SCREEN_DPI / shown
    options = {"image_data": io.BytesIO(png), "x_scale": scale, "y_scale": scale, "object_position": 3}
    check(sh.sheet.insert_image(row, col, filename, options), f"hình {filename} trên trang {sh.name}")
    return scale


# ---------------------------------------------------------------------------------------- figures


def _figure_png(figure) -> tuple[bytes, float]:
    """The figure as PNG and its width in inches."""
    return charts.render(figure, dpi=FIGURE_DPI), float(figure.get_figwidth())


def figures(ctx: _Context) -> list[tuple[str, str, bytes]]:
    """The matplotlib figures of the report: (caption, file name, PNG bytes), drawn at printed size."""
    q, names = ctx.questionnaire, ctx.names
    out = [
        (
            f"Hình 1. Xếp hạng {ctx.structure.index_label} và khoảng tin cậy {ctx.confidence}",
            "xep-hang.png",
            charts.render(
                charts.ranking_figure(ctx.table, names, title=ctx.title, width=FIGURE_WIDTH_IN),
                dpi=FIGURE_DPI,
            ),
        ),
        (
            "Hình 2. Chỉ số theo tiêu chí (đỏ: thấp nhất; viền đậm: dưới ngưỡng)",
            "tieu-chi.png",
            charts.render(
                charts.heatmap_figure(
                    ctx.table,
                    names,
                    questionnaire=q,
                    threshold=ctx.threshold,
                    width=min(FIGURE_WIDTH_IN, 3.2 + 0.38 * len(ctx.structure.criteria)),
                    height=FIGURE_HEIGHT_IN,
                ),
                dpi=FIGURE_DPI,
            ),
        ),
    ]
    if len(ctx.structure.elements) >= 3 and len(ctx.units) <= FIGURE_UNITS_MAX:
        out.append(
            (
                "Hình 3. Chỉ số theo yếu tố của từng đơn vị so với toàn địa bàn",
                "yeu-to.png",
                charts.render(
                    charts.elements_figure(
                        ctx.table, names, questionnaire=q, width=FIGURE_WIDTH_IN, height=FIGURE_HEIGHT_IN
                    ),
                    dpi=FIGURE_DPI,
                ),
            )
        )
    return out


def _figures_sheet(workbook: Workbook, ctx: _Context, f: _Formats) -> None:
    """One figure per printed page, at the size it was drawn, each in the sheet's single wide column."""
    sh = _Sheet(workbook, SHEET_FIGURES, f)
    check(sh.sheet.set_column(0, 0, column_width_for(PICTURE_SHEET_WIDTH_PX)), "độ rộng cột trang Biểu đồ")
    row = 0
    breaks = []
    for caption, filename, png in figures(ctx):
        if row:
            breaks.append(row)
        sh.height(row, 20)
        sh.text(row, 0, caption, f.section)
        width, height, dpi = png_info(png)
        inches = width / (dpi or FIGURE_DPI)
        _insert_png(sh, row + 1, 0, png, filename, inches=inches)
        # Rows are 15 pt (20 px): the figure covers this many; a tall one runs onto the next page.
        row += 2 + math.ceil(height / (dpi or FIGURE_DPI) * SCREEN_DPI / 20)
    if breaks:
        check(sh.sheet.set_h_pagebreaks(breaks), "ngắt trang của trang Biểu đồ")
    check(sh.sheet.print_area(0, 0, max(row - 1, 0), 0), "vùng in của trang Biểu đồ")
    sh.print_setup(None, ctx.title)


# ------------------------------------------------------------------------------------------- units


def weakest_criteria(unit: UnitResult, structure: Structure, k: int = 3) -> list[str]:
    """The unit's k lowest-scoring criteria (tree order breaks ties); criteria without a value are skipped."""
    order = {c: i for i, c in enumerate(structure.criteria)}
    scored = [(v, order.get(c, len(order)), c) for c, v in unit.criteria.items() if _num(v) is not None]
    return [c for _, _, c in sorted(scored)[:k]]


def _profile_rows(ctx: _Context) -> list[tuple[str, str, bool]]:
    """(label, key, is_total) rows of a unit profile: fields with their elements, then the index."""
    s = ctx.structure
    rows: list[tuple[str, str, bool]] = []
    if s.fields:
        for fld in s.fields:
            rows.append((f"Lĩnh vực: {fld.label}", f"field:{fld.code}", True))
            for code in fld.elements:
                e = next(x for x in s.elements if x.code == code)
                rows.append((f"{e.number}. {e.label}", f"element:{code}", False))
    else:
        rows += [(f"{e.number}. {e.label}", f"element:{e.code}", False) for e in s.elements]
    rows.append(("Chỉ số chung", "index", True))
    return rows


def _unit_heading_text(ctx: _Context, unit: UnitResult) -> str:
    rank = unit.rank if unit.rank is not None else "—"
    text = f"Hạng {rank}/{len(ctx.units)} — chỉ số {vn_number(_num(unit.index))}"
    if _num(unit.ci_low) is not None and _num(unit.ci_high) is not None:
        text += f" (khoảng tin cậy {ctx.confidence}: {vn_number(unit.ci_low)} – {vn_number(unit.ci_high)})"
    text += f" — {unit.n:,} phiếu".replace(",", ".")
    if unit.change is not None:
        text += f" — so với kỳ trước: {'+' if unit.change >= 0 else ''}{vn_number(unit.change)}"
    return text


def _unit_sheet(workbook: Workbook, ctx: _Context, f: _Formats, unit: UnitResult, sheet_name: str) -> None:
    sh = _Sheet(workbook, sheet_name, f)
    # The tables in A:E, a narrow gap, the profile picture alone in G, sized to it: the sheet stays
    # within a printed page's width, so the picture prints at its drawn size (type ≥ 8 pt).
    widths = [UNIT_LABEL_WIDTH, 9, 9, 9, 9, 1]
    picture_px = PICTURE_SHEET_WIDTH_PX - sum(column_px(w) for w in widths)
    last = 6 if ctx.pictures else 4
    sh.widths([*widths, column_width_for(picture_px)] if ctx.pictures else widths[:5])
    sh.height(0, 16)
    if ctx.issuer:
        sh.merge(0, 0, last, ctx.issuer.upper(), f.issuer)
    sh.height(1, 24)
    sh.merge(1, 0, last, ctx.name(unit).upper(), f.title)
    sh.height(2, 20)
    sh.merge(2, 0, last, _unit_heading_text(ctx, unit), f.subtitle)
    row = 3
    sh.height(row, 16)
    if unit.flags:
        sh.merge(row, 0, last, "Ghi chú: " + "; ".join(FLAG_LABELS_VI.get(x, x) for x in unit.flags), f.flags)
    row += 1
    sh.height(row, 15)
    head_row = row + 1
    row = _profile_table(sh, ctx, unit, head_row, 0)
    sh.height(row, 15)
    row += 1
    sh.height(row, 18)
    sh.merge(row, 0, 3, "Ba tiêu chí có chỉ số thấp nhất", f.section)
    row += 1
    row = _weakest_table(sh, ctx, unit, row, 0)
    if not ctx.pictures:
        sh.print_setup(None, ctx.title)
        return
    inches = (picture_px - 8) / SCREEN_DPI
    figure = charts.unit_profile_figure(
        ctx.table, unit.unit, ctx.names, questionnaire=ctx.questionnaire, width=inches
    )
    _insert_png(sh, head_row, 6, charts.render(figure, dpi=FIGURE_DPI), "ho-so.png", inches=inches)
    sh.print_setup(None, ctx.title)


UNIT_LABEL_WIDTH = 36  # characters of column A on a unit's sheet


def _label_height(label: str) -> float:
    """Row height (points) for a label in column A of a unit's sheet: rows never grow by themselves."""
    lines = max(1, math.ceil(len(label) / (UNIT_LABEL_WIDTH * 1.1)))
    return 16 if lines == 1 else 15 * lines


def _profile_table(sh: _Sheet, ctx: _Context, unit: UnitResult, row: int, col: int) -> int:
    """Elements of the unit against the district; return the row after the table."""
    f = sh.f
    sh.height(row, 30)
    for i, text in enumerate(("Yếu tố", "Đơn vị", ctx.overall_label, "Chênh lệch")):
        sh.text(row, col + i, text, f.head)
    row += 1
    for label, key, total in _profile_rows(ctx):
        mine, district = _value_of(unit, key), _value_of(ctx.table.overall, key)
        sh.height(row, _label_height(label))
        sh.text(row, col, label, f.label if total else f.text)
        sh.number(row, col + 1, mine, f.index_bold if total else f.index)
        sh.number(row, col + 2, district, f.index)
        sh.number(row, col + 3, None if mine is None or district is None else mine - district, f.change)
        row += 1
    return row


def _weakest_table(sh: _Sheet, ctx: _Context, unit: UnitResult, row: int, col: int) -> int:
    f = sh.f
    sh.height(row, 45)
    for i, text in enumerate(
        ("Tiêu chí", "Đơn vị", ctx.overall_label, "Chênh lệch", "Số câu trả lời hợp lệ")
    ):
        sh.text(row, col + i, text, f.head)
    row += 1
    weakest = weakest_criteria(unit, ctx.structure)
    if not weakest:
        sh.merge(row, col, col + 3, "Không có tiêu chí nào có câu trả lời hợp lệ.", f.text)
        return row + 1
    for c in weakest:
        label = f"{ctx.structure.short.get(c, '')} {ctx.structure.label(c)}".strip()
        sh.height(row, _label_height(label))
        mine, district = _num(unit.criteria.get(c)), _num(ctx.table.overall.criteria.get(c))
        sh.text(row, col, label, f.text)
        sh.number(row, col + 1, mine, f.index)
        sh.number(row, col + 2, district, f.index)
        sh.number(row, col + 3, None if mine is None or district is None else mine - district, f.change)
        sh.number(row, col + 4, unit.criteria_n.get(c), f.count)
        row += 1
    return row


def _compact_units_sheet(workbook: Workbook, ctx: _Context, f: _Formats) -> None:
    """One block per unit on a single sheet: elements and the three weakest criteria, against the district.

    The district's own values are written once, as the first block; each unit's block then shows its
    value and the difference, so that thousands of units stay quick to write and to read.
    """
    sh = _Sheet(workbook, SHEET_UNITS, f)
    sh.widths([46, 10, 12, 3, 52, 10, 12])
    row = _short_heading(sh, ctx, 6, "Kết quả từng đơn vị")
    head_row = row
    sh.height(head_row, 30)
    versus = f"Chênh lệch so với {ctx.overall_label.lower()}"
    heads = ("Yếu tố", "Chỉ số", versus, "", "Ba tiêu chí thấp nhất", "Chỉ số", versus)
    for i, text in enumerate(heads):
        if text:
            sh.text(head_row, i, text, f.head)
    row += 1
    profile = _profile_rows(ctx)
    overall = ctx.table.overall
    sh.text(row, 0, f"{ctx.overall_label} — chỉ số {vn_number(_num(overall.index))}", f.block_title)
    row += 1
    for label, key, total in profile:
        sh.text(row, 0, label, f.label if total else f.text)
        sh.number(row, 1, _value_of(overall, key), f.index)
        row += 1
    row += 1
    for unit in ctx.units:
        title = f"{ctx.name(unit)} — {_unit_heading_text(ctx, unit)}"
        if unit.flags:
            title += " — " + "; ".join(FLAG_LABELS_VI.get(x, x) for x in unit.flags)
        # No merged cells here: with thousands of blocks a merge per title costs more than the rest.
        sh.text(row, 0, title, f.block_title)
        row += 1
        weakest = weakest_criteria(unit, ctx.structure)
        for k in range(max(len(profile), len(weakest))):
            if k < len(profile):
                label, key, total = profile[k]
                mine, district = _value_of(unit, key), _value_of(overall, key)
                sh.text(row, 0, label, f.label if total else f.text)
                sh.number(row, 1, mine, f.index_bold if total else f.index)
                sh.number(row, 2, None if mine is None or district is None else mine - district, f.change)
            if k < len(weakest):
                c = weakest[k]
                mine, district = _num(unit.criteria.get(c)), _num(overall.criteria.get(c))
                sh.text(row, 4, f"{ctx.structure.short.get(c, '')} {ctx.structure.label(c)}".strip(), f.text)
                sh.number(row, 5, mine, f.index)
                sh.number(row, 6, None if mine is None or district is None else mine - district, f.change)
            row += 1
        row += 1
    sh.print_setup((head_row, head_row), ctx.title)


# ------------------------------------------------------------------------------------------ method


def method_text(ctx: _Context) -> list[tuple[str, str]]:
    """The method in words: what was asked, how answers became indices, weights, intervals, ranking."""
    q = ctx.questionnaire
    scoring = q.scoring
    assert scoring is not None
    s = ctx.structure
    method = ctx.table.method
    if method == Method.SHARE_SATISFIED.value:
        positive = ", ".join(scoring.positive)
        criterion = " ".join(
            (
                "Chỉ số tiêu chí = tỷ lệ phần trăm (có trọng số) các câu trả lời hợp lệ ở mức",
                f"{_likert_labels(q, scoring.positive)} trên tổng số câu trả lời hợp lệ",
                f"(mã {', '.join(scoring.valid)}):",
                f"Σ w·[trả lời ∈ {{{positive}}}] / Σ w·[trả lời hợp lệ] × 100.",
                "Câu bỏ trống hoặc ngoài thang đo không tính vào mẫu số.",
            )
        )
    elif method == Method.MEAN_SCORE.value:
        lo, hi = scoring.scale
        criterion = " ".join(
            (
                "Chỉ số tiêu chí = điểm trung bình (có trọng số) của các câu trả lời hợp lệ, quy về thang",
                f"0–100: (trung bình − {lo:g}) / ({hi:g} − {lo:g}) × 100.",
            )
        )
    else:
        criterion = " ".join(
            (
                "Mỗi câu hỏi thuộc một tiêu chí có điểm tối đa; mỗi phương án trả lời được một tỷ lệ",
                'của điểm tối đa (ví dụ A = 100%, B = 60%, C = 20%, D = 0%; "Không biết" không hợp lệ).',
                "Điểm tiêu chí = điểm tối đa × tỷ lệ trung bình (có trọng số) trên các câu trả lời hợp lệ.",
            )
        )
    if scoring.group_weights:
        groups = {g.code: g.label.vi for g in q.groups}
        shares = "; ".join(f"{groups.get(k, k)}: {v:g}" for k, v in scoring.group_weights.items())
        criterion += f" Trọng số các nhóm người trả lời: {shares}."
    upper = "các lĩnh vực" if s.fields else "các yếu tố"
    if method == Method.POINTS.value:
        levels = _points_total_text(ctx.table.points_total or scoring.points_total.value)
    else:
        levels = "Chỉ số yếu tố = trung bình cộng chỉ số các tiêu chí của yếu tố"
        if s.fields:
            levels += "; chỉ số lĩnh vực = trung bình cộng chỉ số các yếu tố của lĩnh vực"
        levels += (
            f"; chỉ số chung = trung bình cộng {upper}. Tiêu chí không có câu trả lời hợp lệ ở một đơn vị "
            'được bỏ khỏi trung bình của yếu tố và được ghi chú ("Thiếu tiêu chí").'
        )
    ci = " ".join(
        (
            f"Mức tin cậy {ctx.confidence}. {CI_METHODS_VI.get(ctx.table.ci_method, ctx.table.ci_method)}.",
            "Sai số chuẩn theo thiết kế mẫu phân tầng (tầng = đơn vị × lĩnh vực thủ tục), tuyến tính hoá",
            "Taylor, có hiệu chỉnh tổng thể hữu hạn khi biết số lượt phục vụ.",
        )
    )
    if ctx.table.unasked_stratum == UnaskedStratum.UNIT_CELL.value:
        ci += " " + UNASKED_STRATUM_VI
    ranking = " ".join(
        (
            "Các đơn vị được xếp theo chỉ số chung giảm dần. Khi khoảng tin cậy của hai đơn vị chồng lên",
            "nhau, chênh lệch giữa chúng có thể chỉ do ngẫu nhiên của mẫu.",
        )
    )
    sample = " ".join(
        (
            f"Mỗi đơn vị cần ít nhất {scoring.min_n} phiếu để kết quả đủ tin cậy (dưới mức này ghi chú",
            '"Mẫu nhỏ"). Cỡ mẫu khuyến nghị theo công thức n = N / (1 + N·e²) với e = 0,05',
            "(Quyết định 1383/QĐ-BNV).",
        )
    )
    if any(u.rank_low is not None for u in ctx.units):
        ranking += " " + RANK_INTERVAL_VI.format(confidence=ctx.confidence)
    if any(u.rank_group is not None for u in ctx.units):
        alpha = vn_number(1 - ctx.table.confidence)
        ranking += " " + RANK_GROUPS_VI.format(confidence=ctx.confidence, alpha=alpha)
    if any(u.rank_probability is not None for u in ctx.units):
        ranking += (
            ' Cột "Xác suất hạng đúng (± 1)": xác suất để hạng thật của đơn vị nằm trong hạng hiển thị ± 1,'
            " ước lượng bằng mô phỏng từ sai số của các chỉ số."
        )
    rows = [
        ("Bảng hỏi", f"{nfc(q.title.vi)} (mã {q.id}, phiên bản {q.version})"),
        ("Căn cứ", nfc(q.source) if q.source else "Không ghi trong bảng hỏi"),
        ("Cấu trúc chỉ số", _structure_text(s)),
        ("Chỉ số tiêu chí", criterion),
        ("Chỉ số yếu tố, lĩnh vực, chỉ số chung", levels),
        *_group_rows(q, ctx.table),
        ("Trọng số", WEIGHTING_VI.get(ctx.table.weighting, ctx.table.weighting)),
        ("Khoảng tin cậy", ci),
        ("Xếp hạng", ranking),
        ("Cỡ mẫu", sample),
        (
            "Số liệu",
            f"Làm tròn {scoring.decimals} chữ số thập phân khi hiển thị; tính với độ chính xác đầy đủ.",
        ),
        ("Lập lúc", ctx.generated.strftime("%H:%M ngày %d/%m/%Y") + " bằng sipas-toolkit"),
    ]
    if ctx.status:
        rows.insert(0, ("Trạng thái đợt khảo sát", ctx.status))
    if ctx.frame_note:
        rows.insert(-1, ("Khung mẫu", ctx.frame_note))
    if ctx.has_rates:
        rows.insert(
            -1,
            (
                "Tỷ lệ phản hồi",
                "Trọng số của mỗi phiếu là N/n trong ô đơn vị × lĩnh vực thủ tục của nó, nên chênh lệch "
                "tỷ lệ trả lời giữa các lĩnh vực đã được hiệu chỉnh (hiệu chỉnh không trả lời trong từng ô). "
                f'Số hồ sơ, mã đã phát và phiếu nhận theo ô ở trang "{SHEET_RATES}".',
            ),
        )
    if ctx.has_quality:
        from .quality import left_out_text

        text = left_out_text(ctx.left_out, ctx.include_flagged)
        rows.insert(-1, ("Phiếu được tính", f'{text} Chi tiết theo đơn vị ở trang "{SHEET_QUALITY}".'))
    return rows


UNASKED_STRATUM_VI = " ".join(
    (
        "Người không được hỏi lĩnh vực thủ tục (chưa từng thực hiện thủ tục hành chính) không thuộc ô nào",
        "của khung mẫu; theo lựa chọn của địa phương (unasked_stratum = unit_cell, không phải quy định",
        "chính thức), phiếu của họ được tính như một ô riêng của mỗi đơn vị, với trọng số bằng trọng số",
        "bình quân của các phiếu có lĩnh vực trong đơn vị đó (cùng tỷ lệ chọn mẫu), và không cộng vào số",
        "lượt phục vụ của đơn vị.",
    )
)


def _points_total_text(rule: str) -> str:
    """How the points method totals a unit's points (``points_total``), in words."""
    if rule == PointsTotal.SCALED.value:
        return " ".join(
            (
                "Quy tắc tính tổng điểm: suy rộng theo điểm tối đa đầy đủ (points_total = scaled). Mỗi",
                "yếu tố giữ nguyên điểm tối đa của nó khi tính chỉ số chung, kể cả khi thiếu tiêu chí;",
                "điểm của đơn vị = tổng điểm tối đa của bảng hỏi × chỉ số (%) / 100. Tiêu chí không có",
                'câu trả lời hợp lệ được bỏ khỏi yếu tố của nó và được ghi chú ("Thiếu tiêu chí").',
            )
        )
    return " ".join(
        (
            "Quy tắc tính tổng điểm: cộng điểm các tiêu chí được hỏi (points_total = asked). Điểm",
            "của yếu tố và của đơn vị là tổng điểm các tiêu chí có câu trả lời hợp lệ; điểm tối đa",
            "là tổng điểm tối đa của chính các tiêu chí đó. Chỉ số (%) = tổng điểm / điểm tối đa đó",
            "× 100 và là căn cứ xếp hạng. Tiêu chí không có câu trả lời hợp lệ ở một đơn vị không",
            'được tính vào cả điểm lẫn điểm tối đa và được ghi chú ("Thiếu tiêu chí").',
        )
    )


def _group_rows(q: Questionnaire, table: IndexTable) -> list[tuple[str, str]]:
    """How respondent groups were weighted (``group_weighting``) and which questions each was asked."""
    scoring = q.scoring
    assert scoring is not None
    rows: list[tuple[str, str]] = []
    if scoring.group_weights:
        rule = table.group_weighting or scoring.group_weighting.value
        if rule == GroupWeighting.RESPONDENTS.value:
            text = " ".join(
                (
                    "Quy tắc trọng số nhóm: theo người trả lời (group_weighting = respondents). Phiếu của",
                    "mỗi đơn vị được điều chỉnh trọng số (hậu phân tầng) để mỗi nhóm có phiếu chiếm đúng tỷ",
                    "trọng của nhóm trong tổng trọng số của đơn vị (tỷ trọng chia lại cho các nhóm có",
                    "phiếu); điểm tiêu chí là trung bình có trọng số trên mọi câu trả lời hợp lệ.",
                )
            )
        else:
            text = " ".join(
                (
                    "Quy tắc trọng số nhóm: theo trung bình của từng nhóm (group_weighting =",
                    "criterion_means). Ở mỗi tiêu chí, điểm trung bình (có trọng số) của từng nhóm đối",
                    "tượng được tính riêng, rồi lấy trung bình theo trọng số nhóm. Nếu chỉ một phần các",
                    "nhóm có câu trả lời hợp lệ cho tiêu chí, trọng số được chia lại cho các nhóm có trả",
                    'lời (tiêu chí lấy điểm của nhóm đó) và đơn vị được ghi chú ("Tiêu chí thiếu nhóm đối',
                    'tượng"). Sai số chuẩn tuyến tính hoá Taylor cho tỷ số của các tỷ số.',
                )
            )
        rows.append(("Trọng số nhóm đối tượng", text))
    if asked_groups(q):
        text = " ".join(
            (
                "Câu hỏi (hoặc phần) chỉ dành cho một số nhóm đối tượng: câu trả lời của nhóm không",
                'được hỏi không được tính vào tiêu chí và được ghi chú ("Có trả lời của nhóm không được',
                'hỏi"), kèm số câu trong phần cảnh báo.',
            )
        )
        rows.append(("Câu hỏi theo nhóm đối tượng", text))
    return rows


def _likert_labels(q: Questionnaire, codes: Sequence[str]) -> str:
    for question in q.questions():
        cl = q.choice_list(question)
        if cl is not None and question.has_appearance("likert"):
            labels = [f'"{cl.label_of(c).vi}"' for c in codes if cl.label_of(c) is not None]
            if labels:
                return " hoặc ".join(labels)
    return "mã " + ", ".join(codes)


def _structure_text(s: Structure) -> str:
    parts = []
    if s.fields:
        for fld in s.fields:
            parts.append(f'Lĩnh vực "{fld.label}": {len(fld.elements)} yếu tố')
    parts.append(f"{len(s.elements)} yếu tố, {len(s.criteria)} tiêu chí")
    return "; ".join(parts) + "."


def _readable(ctx: _Context, text: str) -> str:
    """A scoring warning with unit, criterion and group codes replaced by their names (printed text)."""
    s = ctx.structure
    names = {u.unit: ctx.name(u) for u in ctx.units}
    for code in s.criteria:
        names[code] = f'{s.short.get(code, "")} "{s.names.get(code) or s.label(code)}"'.strip()
    for e in s.elements:
        names.setdefault(e.code, f'{e.number}. "{e.label}"')
    names.update({g.code: nfc(g.label.vi) for g in ctx.questionnaire.groups})
    if not names:
        return text
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(c) for c in sorted(names, key=len, reverse=True)) + r")(?![\w-])"
    )
    return pattern.sub(lambda m: names[m.group(1)], text)


def _method_sheet(workbook: Workbook, ctx: _Context, f: _Formats, responses: pd.DataFrame | None) -> None:
    sh = _Sheet(workbook, SHEET_METHOD, f)
    sh.widths([30, 12, 12, 12, 12, 14, 40])
    row = _short_heading(sh, ctx, 6, "Phương pháp tính và thông tin mẫu")
    for label, text in method_text(ctx):
        lines = max(1, math.ceil(len(text) / 95))
        sh.height(row, 15 * lines + 3)
        sh.text(row, 0, label, f.label)
        sh.merge(row, 1, 6, text, f.long_text)
        row += 1
    row += 1
    sh.merge(row, 0, 6, "Cảnh báo khi tính chỉ số", f.section)
    row += 1
    warnings = [_readable(ctx, str(w)) for w in ctx.table.warnings] or ["Không có cảnh báo."]
    for w in warnings:
        sh.height(row, 15 * max(1, math.ceil(len(w) / 110)) + 3)
        sh.merge(row, 0, 6, str(w), f.long_text)
        row += 1
    row += 1
    sh.merge(row, 0, 6, "Ghi chú dùng trong bảng xếp hạng", f.section)
    row += 1
    meanings = {
        "small_sample": f"Số phiếu của đơn vị ít hơn {ctx.questionnaire.scoring.min_n} (mức tối thiểu).",
        "below_target": "Số phiếu chưa đạt số phiếu mục tiêu của đợt khảo sát.",
        "missing_criteria": "Có tiêu chí không có câu trả lời hợp lệ, đã bỏ khỏi trung bình của yếu tố.",
        "no_data": "Đơn vị không có phiếu hợp lệ nào; không xếp hạng.",
        "lonely_cell": (
            "Có ô mẫu (đơn vị × lĩnh vực thủ tục) chỉ có 1 phiếu: không tính được độ biến thiên trong ô "
            "này, nên sai số chuẩn của ô được ước lượng gần đúng (ô được so với trung bình chung, như "
            'tuỳ chọn survey.lonely.psu = "adjust" của gói survey trong R). Khoảng tin cậy của đơn vị vì '
            "thế chỉ là gần đúng."
        ),
        "missing_group": (
            "Có tiêu chí chỉ có câu trả lời của một phần các nhóm đối tượng được hỏi: trọng số được "
            "chia lại cho các nhóm có trả lời."
        ),
        "answers_not_asked": (
            "Có câu trả lời của nhóm đối tượng không được hỏi câu đó; các câu trả lời này không được "
            "tính vào tiêu chí."
        ),
    }
    for code, label in FLAG_LABELS_VI.items():
        text = meanings.get(code) or "Xem phần cảnh báo ở trên."
        sh.height(row, 15 * max(1, math.ceil(len(text) / 95)) + 3)
        sh.text(row, 0, label, f.label)
        sh.merge(row, 1, 6, text, f.long_text)
        row += 1
    row += 1
    sh.merge(row, 0, 6, "Cỡ mẫu theo đơn vị", f.section)
    row += 1
    heads = (
        "Đơn vị",
        "Số phiếu",
        "Mục tiêu",
        "Đạt (%)",
        "Cỡ mẫu hiệu dụng",
        "Số lượt phục vụ (N)",
        "Ghi chú",
    )
    sh.height(row, 30)
    for i, text in enumerate(heads):
        sh.text(row, i, text, f.head)
    head_row = row
    row += 1
    for unit in ctx.units:
        target = unit.target
        if target is None and _num(unit.population):
            target = math.ceil(unit.population / (1 + unit.population * 0.05**2))
        sh.text(row, 0, ctx.name(unit), f.text)
        sh.number(row, 1, unit.n, f.count)
        sh.number(row, 2, target, f.count)
        sh.number(row, 3, None if not target else unit.n / target * 100, f.index)
        sh.number(row, 4, unit.n_eff, f.index)
        sh.number(row, 5, unit.population, f.count)
        sh.text(row, 6, "; ".join(FLAG_LABELS_VI.get(x, x) for x in unit.flags), f.flags)
        row += 1
    sh.merge(row, 0, 0, ctx.overall_label, f.overall_label)
    sh.number(row, 1, ctx.table.overall.n, f.overall_count)
    row += 2
    if responses is not None:
        sh.merge(
            row,
            0,
            6,
            f'Dữ liệu phiếu ({_count(len(responses))} phiếu) ở trang "Dữ liệu"; '
            'ý nghĩa các mã ở trang "Mã hoá".',
            f.note,
        )
    sh.print_setup((head_row, head_row), ctx.title)
