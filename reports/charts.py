"""Figures of an index table, drawn with matplotlib's object API (no pyplot) and returned as PNG/SVG bytes.

Every label is drawn in a font that has the Vietnamese letters (DejaVu Sans ships with matplotlib and
covers them); :func:`font_covers` checks a text against the font's character map.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Mapping
from functools import cache

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from analysis.data import bilingual
from analysis.results import IndexTable, UnitResult
from questionnaires import Questionnaire

from .colours import SCALE, ink_for
from .errors import ReportError
from .structure import Structure, display_name, nfc, vn_number

FONT_FAMILY = "DejaVu Sans"
KINDS = ("ranking", "elements", "heatmap")
FORMATS = ("png", "svg")
_NO_UNITS = bilingual("không có đơn vị nào có chỉ số để vẽ", "no unit has an index to draw")

UNIT_COLOUR = "#1F6FB2"
DISTRICT_COLOUR = "#9AA5B1"
CAUTION_COLOUR = "#E39B3A"  # results to read with care (small sample, criteria left out)
CAUTION_FLAGS = ("small_sample", "missing_criteria", "no_data")
# Red (low) -> yellow -> green (high): the lowest cells stand out, in the workbook's own colours, light
# enough that the numbers in the cells keep a contrast of at least 4.5:1.
HEAT = LinearSegmentedColormap.from_list("sipas_heat", list(SCALE)).with_extremes(bad="#F2F2F2")

# The smallest type on any figure, in points at the figure's own size: the workbook inserts figures at
# that size (never shrunk), so this is also the smallest type on paper.
MIN_FONT_PT = 8.0
SMALL = 8.0  # value labels, notes, tick labels of dense charts

_RC = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT_FAMILY],
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "svg.fonttype": "path",  # glyphs as outlines: an SVG viewer needs no Vietnamese font
    "svg.hashsalt": "sipas",  # stable ids, reproducible files
}


@cache
def font_path(family: str = FONT_FAMILY) -> str:
    """Return the file of the font matplotlib uses for ``family``."""
    return font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)


@cache
def _charmap(path: str) -> frozenset[int]:
    return frozenset(FT2Font(path).get_charmap())


def font_covers(text: str, family: str = FONT_FAMILY) -> bool:
    """Whether the font has a glyph for every character of ``text`` (spaces and newlines aside)."""
    charmap = _charmap(font_path(family))
    return all(ord(ch) in charmap for ch in nfc(text) if ch not in "\n\r\t")


def render(figure: Figure, fmt: str = "png", *, dpi: int = 130) -> bytes:
    """Return the figure as PNG or SVG bytes."""
    if fmt not in FORMATS:
        raise ReportError(
            bilingual(
                f"định dạng hình '{fmt}' không hỗ trợ; dùng png hoặc svg",
                f"unsupported image format '{fmt}'; use png or svg",
            )
        )
    buffer = io.BytesIO()
    with matplotlib.rc_context(_RC):
        metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        figure.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def _figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(width, height), layout=layout)
    # The Agg canvas of this figure only: no global backend switch, no window, safe in a web server.
    FigureCanvasAgg(figure)
    return figure


# x of the column of group letters in the ranking chart (right of the value labels, which end near 108).
GROUP_X = 113


def _ranked(table: IndexTable) -> list[UnitResult]:
    ranked = [u for u in table.units if u.index is not None]
    return sorted(ranked, key=lambda u: (u.rank if u.rank is not None else math.inf, -(u.index or 0), u.unit))


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(nfc(text), width=width, break_long_words=False)) or nfc(text)


def _limit(units: list[UnitResult], limit: int) -> tuple[list[UnitResult | None], str]:
    """Keep the best and the worst units when there are too many to draw (None marks the gap)."""
    if len(units) <= limit:
        return list(units), ""
    head = limit // 2
    tail = limit - head
    note = f"{head} đơn vị đứng đầu và {tail} đơn vị cuối bảng (trong tổng số {len(units)})"
    return [*units[:head], None, *units[-tail:]], note


def ranking_figure(
    table: IndexTable,
    unit_names: Mapping[str, str] | None = None,
    *,
    title: str | None = None,
    limit: int = 80,
    width: float = 9.5,
) -> Figure:
    """Draw units by rank as bars from 0 with their confidence intervals and the district line."""
    with matplotlib.rc_context(_RC):
        ranked = _ranked(table)
        if not ranked:
            raise ReportError(_NO_UNITS)
        rows, note = _limit(ranked, limit)
        height = 1.4 + 0.28 * len(rows)
        figure = _figure(width, height)
        ax = figure.add_subplot()
        y = np.arange(len(rows))
        shown = [(i, u) for i, u in enumerate(rows) if u is not None]
        values = np.array([u.index for _, u in shown], dtype=float)
        low = np.array([u.index - u.ci_low if u.ci_low is not None else 0 for _, u in shown], dtype=float)
        high = np.array([u.ci_high - u.index if u.ci_high is not None else 0 for _, u in shown], dtype=float)
        ys = np.array([i for i, _ in shown])
        cautious = [any(f in CAUTION_FLAGS for f in u.flags) for _, u in shown]
        colours = [CAUTION_COLOUR if c else UNIT_COLOUR for c in cautious]
        ax.barh(ys, values, color=colours, height=0.7, alpha=0.9)
        ax.errorbar(values, ys, xerr=[low, high], fmt="none", ecolor="#222222", elinewidth=1, capsize=2.5)
        for (_, u), yy, hi in zip(shown, ys, high, strict=True):
            ax.text(
                min(u.index + hi + 0.8, 101),
                yy,
                vn_number(u.index),
                va="center",
                ha="left",
                fontsize=8,
                in_layout=False,  # inside the axes: the layout need not measure every label
            )
        grouped = any(u.rank_group for _, u in shown)
        if grouped:
            # Groups that cannot be told apart (analysis: pairwise tests, Holm): letters in a column.
            for (_, u), yy in zip(shown, ys, strict=True):
                letters = u.rank_group or ""
                ax.text(GROUP_X, yy, letters, va="center", ha="center", fontsize=8, in_layout=False)
            ax.text(GROUP_X, -0.9, "Nhóm", ha="center", va="bottom", fontsize=8, fontweight="bold")
        labels = ["…" if u is None else f"{u.rank or '—'}. {display_name(u, unit_names)}" for u in rows]
        ax.set_yticks(y, labels=labels)
        ax.invert_yaxis()
        ax.set_xlim(0, GROUP_X + 5 if grouped else 108)
        ax.set_xticks(range(0, 101, 10))
        ax.set_xlabel(f"Chỉ số (%) và khoảng tin cậy {table.confidence:.0%}")
        overall = table.overall.index
        if overall is not None:
            ax.axvline(overall, color="#555555", linestyle="--", linewidth=1)
            ax.text(
                overall,
                -0.9,
                f"Toàn huyện {vn_number(overall)}",
                ha="center",
                va="bottom",
                fontsize=8,
                color="#333333",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5},
            )
        ax.set_ylim(len(rows) - 0.5, -1.6)
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        heading = title or f"Xếp hạng {table.labels.get(_index_code(table), 'chỉ số')}"
        ax.set_title(_wrap(heading, 90), loc="left")
        if any(cautious) or note or grouped:
            bits = []
            if grouped:
                bits.append(
                    "Nhóm: các đơn vị có chung một chữ cái không khác nhau có ý nghĩa thống kê "
                    "(kiểm định từng cặp, hiệu chỉnh Holm)"
                )
            if any(cautious):
                bits.append("Thanh màu cam: mẫu nhỏ hoặc thiếu tiêu chí, cần đọc thận trọng")
            if note:
                bits.append("Hiển thị " + note)
            _footnote(figure, _wrap("; ".join(bits), int(width * 15)))
    return figure


def _footnote(figure: Figure, text: str) -> None:
    # supxlabel takes part in the constrained layout, so the note never overlaps the axes.
    figure.supxlabel(text, x=0.01, ha="left", fontsize=SMALL, color="#444444", linespacing=1.4)


def _index_code(table: IndexTable) -> str:
    return next((k for k, v in table.levels.items() if v == "index"), "")


def elements_figure(
    table: IndexTable,
    unit_names: Mapping[str, str] | None = None,
    *,
    questionnaire: Questionnaire | None = None,
    limit: int = 36,
    width: float | None = None,
    height: float | None = None,
) -> Figure:
    """Draw one small radar per unit: its elements against the district, units in rank order.

    Every radar's scale runs from 0 to 100, so differences look as large as they are. ``width`` and
    ``height`` (inches) fit the grid into a box, e.g. a printed page; by default each radar is 2.5 in.
    """
    structure = Structure.build(table, questionnaire)
    elements = structure.elements
    if len(elements) < 3:
        raise ReportError(
            bilingual("biểu đồ radar cần ít nhất 3 yếu tố", "a radar chart needs at least 3 elements")
        )
    with matplotlib.rc_context(_RC):
        ranked = _ranked(table)[:limit]
        if not ranked:
            raise ReportError(_NO_UNITS)
        if width is None:
            # About as wide as a landscape page is tall times 1.5, so it prints on one A4 page.
            columns = min(len(ranked), max(1, math.ceil(math.sqrt(len(ranked) * 1.6))))
            cell_w = 2.5
        else:
            columns = max(1, min(len(ranked), int((width - 0.4) // 1.5)))
            if height is not None:  # as few rows as fit the height, radars at least 1.5 in tall
                fit = max(1, int((height - 1.4) // 1.5))
                columns = min(len(ranked), max(columns, math.ceil(len(ranked) / fit)))
            cell_w = (width - 0.4) / columns
        rows = math.ceil(len(ranked) / columns)
        cell_h = 2.6 if height is None else max(1.5, min(cell_w * 1.1, (height - 1.4) / rows))
        width = cell_w * columns + 0.4
        height = cell_h * rows + 1.4
        # A fixed grid: many polar axes make the constrained layout slow, and every cell is alike.
        figure = _figure(width, height, layout=None)
        figure.subplots_adjust(
            left=0.3 / width,
            right=1 - 0.3 / width,
            top=1 - 1.0 / height,
            bottom=0.7 / height,
            wspace=0.45,
            hspace=0.8,
        )
        angles = np.linspace(0, 2 * np.pi, len(elements), endpoint=False)
        closed = np.append(angles, angles[0])
        district = [table.overall.elements.get(e.code) for e in elements]
        for i, unit in enumerate(ranked):
            ax = figure.add_subplot(rows, columns, i + 1, projection="polar")
            ax.set_theta_offset(np.pi / 2)
            ax.set_theta_direction(-1)
            ax.set_ylim(0, 100)  # from 0: a radar from 40 makes small differences look large
            ax.set_yticks([25, 50, 75, 100], labels=[])
            ax.set_xticks(angles, labels=[str(e.number) for e in elements], fontsize=SMALL)
            if all(v is not None for v in district):
                ax.plot(closed, [*district, district[0]], color=DISTRICT_COLOUR, linestyle="--", linewidth=1)
            values = [unit.elements.get(e.code) for e in elements]
            filled = [0.0 if v is None else v for v in values]
            ax.plot(closed, [*filled, filled[0]], color=UNIT_COLOUR, linewidth=1.5)
            ax.fill(closed, [*filled, filled[0]], color=UNIT_COLOUR, alpha=0.18)
            ax.set_title(
                _wrap(
                    f"{unit.rank or '—'}. {display_name(unit, unit_names)} — {vn_number(unit.index)}",
                    max(12, int(cell_w * 12.5)),
                ),
                fontsize=SMALL + 0.5,
                pad=8,
            )
            ax.tick_params(axis="x", pad=0)
        legend = "   ".join(f"{e.number}. {e.label}" for e in elements)
        note = (
            "Đường xanh: đơn vị; đường đứt nét: toàn huyện. Thang từ 0 (tâm) đến 100 (vòng ngoài), "
            "các vòng cách nhau 25."
        )
        if len(_ranked(table)) > limit:
            note += f" Hiển thị {limit} đơn vị đầu bảng xếp hạng (trong tổng số {len(_ranked(table))})."
        figure.suptitle(
            "Chỉ số theo yếu tố của từng đơn vị", fontweight="bold", fontsize=11, y=1 - 0.12 / height
        )
        figure.text(
            0.1 / width,
            0.08 / height,
            _wrap(legend, int(width * 15)) + "\n" + _wrap(note, int(width * 15)),
            fontsize=SMALL,
            color="#444444",
        )
    return figure


def heatmap_figure(
    table: IndexTable,
    unit_names: Mapping[str, str] | None = None,
    *,
    questionnaire: Questionnaire | None = None,
    threshold: float = 80.0,
    limit: int = 80,
    width: float | None = None,
    height: float | None = None,
) -> Figure:
    """Draw the unit × criterion matrix; red cells are the lowest, cells under the threshold are boxed.

    Criteria are labelled by their number and a short name cut from their own label
    (:func:`reports.structure.short_name`). Each cell's number is written in the colour (near-black
    or white) with the higher contrast on its fill.
    """
    structure = Structure.build(table, questionnaire)
    criteria = structure.criteria
    if not criteria:
        raise ReportError(
            bilingual("bảng chỉ số không có tiêu chí để vẽ", "the index table has no criteria to draw")
        )
    with matplotlib.rc_context(_RC):
        rows, note = _limit(_ranked(table), limit)
        units = [u for u in rows if u is not None]
        if not units:
            raise ReportError(_NO_UNITS)
        matrix = np.array(
            [[np.nan if u is None else _num(u.criteria.get(c)) for c in criteria] for u in rows], dtype=float
        )
        width = width or min(3.2 + 0.38 * len(criteria), 30)
        labels = [_wrap(f"{structure.short[c]} {structure.names.get(c, '')}".strip(), 19) for c in criteria]
        label_lines = max(t.count("\n") + 1 for t in labels)
        longest = max(len(line) for t in labels for line in t.split("\n"))
        legend = "   ".join(f"{e.number}. {e.label}" for e in structure.elements)
        if note:
            legend += "\nHiển thị " + note
        legend = _wrap(legend, int(width * 15))
        # Rotated criterion labels above, the rows, and the legend below; ``height`` squeezes the rows.
        top = 0.55 + longest * SMALL * 0.6 / 72 + 0.15 * label_lines
        bottom = 0.35 + 0.17 * (legend.count("\n") + 1)
        row_height = 0.26 if height is None else max(0.2, min(0.26, (height - top - bottom) / len(rows)))
        figure = _figure(width, top + row_height * len(rows) + bottom)
        ax = figure.add_subplot()
        finite = matrix[np.isfinite(matrix)]
        vmin = float(min(finite.min(), threshold - 10)) if finite.size else 0.0
        image = ax.imshow(matrix, cmap=HEAT, vmin=vmin, vmax=100, aspect="auto", interpolation="nearest")
        if len(rows) * len(criteria) <= 700:  # numbers in cells while they stay legible (and quick to draw)
            for r, c in zip(*np.nonzero(np.isfinite(matrix)), strict=True):
                value = matrix[r, c]
                ax.text(
                    c,
                    r,
                    f"{value:.0f}",
                    ha="center",
                    va="center",
                    fontsize=SMALL,
                    fontweight="bold" if value < threshold else "normal",
                    color=_ink(image.cmap(image.norm(value))),
                    in_layout=False,
                )
        boxes = [
            Rectangle((c - 0.5, r - 0.5), 1, 1) for r, c in zip(*np.nonzero(matrix < threshold), strict=True)
        ]
        if boxes:
            outline = PatchCollection(boxes, facecolor="none", edgecolor="#222222", linewidth=1.0)
            outline.set_in_layout(False)
            ax.add_collection(outline)
        ax.set_xticks(range(len(criteria)), labels=labels, fontsize=SMALL, rotation=90, linespacing=1.0)
        ax.xaxis.tick_top()
        ax.set_yticks(
            range(len(rows)),
            labels=["…" if u is None else f"{u.rank or '—'}. {display_name(u, unit_names)}" for u in rows],
            fontsize=SMALL,
        )
        ax.tick_params(length=0)
        # Thin white lines between elements, so the criteria read in their groups.
        edge = -0.5
        for element in structure.elements[:-1]:
            edge += len(element.criteria)
            ax.axvline(edge, color="white", linewidth=2.5)
        colourbar = figure.colorbar(image, ax=ax, shrink=0.6, pad=0.01)
        colourbar.set_label("Chỉ số tiêu chí (%)")
        colourbar.ax.tick_params(labelsize=SMALL)
        ax.set_title(
            _wrap(f"Chỉ số theo tiêu chí (ô viền đậm: dưới {vn_number(threshold, 0)}%)", 120),
            loc="left",
            pad=8,
        )
        _footnote(figure, legend)
    return figure


def _ink(rgba: tuple[float, ...]) -> str:
    """Near-black on light cells, white on dark ones: whichever has the higher contrast (WCAG 2)."""
    return ink_for(rgba)


def smallest_font(figure: Figure) -> float:
    """The smallest font size (points) of any text drawn on the figure."""
    return min((t.get_fontsize() for t in figure.findobj(Text) if t.get_text()), default=MIN_FONT_PT)


def _num(value: float | None) -> float:
    return np.nan if value is None else float(value)


def unit_profile_figure(
    table: IndexTable,
    unit: str,
    unit_names: Mapping[str, str] | None = None,
    *,
    questionnaire: Questionnaire | None = None,
    width: float = 7.2,
) -> Figure:
    """Draw one unit's elements (and index) against the district as paired horizontal bars."""
    structure = Structure.build(table, questionnaire)
    result = table.unit(unit)
    with matplotlib.rc_context(_RC):
        rows = [(f"{e.number}. {e.label}", e.code) for e in structure.elements]
        wrap = max(18, min(34, int(width * 4.5)))
        labels = [_wrap(text, wrap) for text, _ in rows] + ["Chỉ số chung"]
        mine = [_num(result.elements.get(code)) for _, code in rows] + [_num(result.index)]
        district = [_num(table.overall.elements.get(code)) for _, code in rows] + [_num(table.overall.index)]
        lines = sum(t.count("\n") + 1 for t in labels)
        figure = _figure(width, 1.0 + max(0.5 * len(labels), 0.17 * lines))
        ax = figure.add_subplot()
        y = np.arange(len(labels))
        ax.barh(
            y - 0.19,
            np.nan_to_num(mine),
            height=0.36,
            color=UNIT_COLOUR,
            label=display_name(result, unit_names),
        )
        ax.barh(y + 0.19, np.nan_to_num(district), height=0.36, color=DISTRICT_COLOUR, label="Toàn huyện")
        for yy, a, b in zip(y, mine, district, strict=True):
            ax.text(
                (0 if np.isnan(a) else a) + 0.8,
                yy - 0.19,
                vn_number(None if np.isnan(a) else a),
                va="center",
                fontsize=SMALL,
                in_layout=False,
            )
            ax.text(
                (0 if np.isnan(b) else b) + 0.8,
                yy + 0.19,
                vn_number(None if np.isnan(b) else b),
                va="center",
                fontsize=SMALL,
                color="#555555",
                in_layout=False,
            )
        ax.set_yticks(y, labels=labels, fontsize=SMALL)
        ax.invert_yaxis()
        ax.set_xlim(0, 118)  # from 0; room for the value labels after 100
        ax.set_xticks(range(0, 101, 20))
        ax.tick_params(axis="x", labelsize=SMALL)
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(loc="lower left", fontsize=SMALL, frameon=False, bbox_to_anchor=(0.0, 1.0), ncols=2)
        ax.set_title(_wrap(display_name(result, unit_names), 40), loc="left", fontsize=10, pad=20)
    return figure


def plot(
    kind: str,
    table: IndexTable,
    unit_names: Mapping[str, str] | None = None,
    *,
    questionnaire: Questionnaire | None = None,
    fmt: str = "png",
    threshold: float = 80.0,
    title: str | None = None,
) -> bytes:
    """Draw one of the standard figures (ranking, elements, heatmap) and return its bytes."""
    if kind == "ranking":
        figure = ranking_figure(table, unit_names, title=title)
    elif kind == "elements":
        figure = elements_figure(table, unit_names, questionnaire=questionnaire)
    elif kind == "heatmap":
        figure = heatmap_figure(table, unit_names, questionnaire=questionnaire, threshold=threshold)
    else:
        raise ReportError(
            bilingual(
                f"loại biểu đồ '{kind}' không có; chọn một trong: {', '.join(KINDS)}",
                f"no chart of kind '{kind}'",
            )
        )
    return render(figure, fmt)


def texts_of(figure: Figure) -> Iterable[str]:
    """Yield every text drawn on the figure (titles, tick labels, annotations, legends)."""
    for artist in figure.findobj(Text):
        text = artist.get_text()
        if text:
            yield text
