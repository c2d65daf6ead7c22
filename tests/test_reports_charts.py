"""Figures: PNG/SVG bytes from Figure objects, every Vietnamese letter in a font that has it."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

import questionnaires
from reports import charts
from reports.errors import ReportError
from reports.synthetic import synthetic_index_table

VIETNAMESE = (
    "AĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXY aăâbcdđeêghiklmnoôơpqrstuưvxy "
    "ÀÁẢÃẠẰẮẲẴẶẦẤẨẪẬÈÉẺẼẸỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌỒỐỔỖỘỜỚỞỠỢÙÚỦŨỤỪỨỬỮỰỲÝỶỸỴ "
    "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)


@pytest.fixture(scope="module")
def unit_list():
    return questionnaires.load_units("tra-bong-2023")


@pytest.fixture(scope="module")
def names(unit_list):
    return {u.code: u.name for u in unit_list}


@pytest.fixture(scope="module", params=["sipas-2017", "sipas-2023"])
def scored(request, unit_list, names):
    q = questionnaires.load_questionnaire(request.param)
    return q, synthetic_index_table(q, unit_list.codes, names=names, seed=9)


def test_the_font_has_every_vietnamese_letter():
    assert charts.font_covers(VIETNAMESE)
    assert not charts.font_covers("中文")  # the check can fail


@pytest.mark.parametrize("kind", charts.KINDS)
def test_every_label_drawn_is_covered_by_the_font(kind, scored, names):
    q, table = scored
    build = {
        "ranking": lambda: charts.ranking_figure(table, names),
        "elements": lambda: charts.elements_figure(table, names, questionnaire=q),
        "heatmap": lambda: charts.heatmap_figure(table, names, questionnaire=q),
    }[kind]
    figure = build()
    texts = list(charts.texts_of(figure))
    drawn = "".join(texts)
    assert any("Xã Trà Thủy" in t for t in texts) or kind != "ranking"
    uncovered = sorted({ch for ch in drawn if not charts.font_covers(ch)} - {"\n"})
    assert uncovered == []
    # Rendering raises on a "Glyph missing" warning: pytest turns warnings into errors.
    png = charts.render(figure, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_unit_profile_names_the_unit_and_the_district(scored, names):
    q, table = scored
    figure = charts.unit_profile_figure(table, "tra-thuy", names, questionnaire=q)
    texts = list(charts.texts_of(figure))
    assert "Xã Trà Thủy" in texts and "Toàn huyện" in texts
    assert all(charts.font_covers(t) for t in texts)
    width, height = Image.open(io.BytesIO(charts.render(figure))).size
    assert width > 600 and height > 300


def test_ranking_shows_units_in_rank_order_with_values(names, unit_list):
    q = questionnaires.load_questionnaire("sipas-2017")
    table = synthetic_index_table(q, unit_list.codes, names=names, seed=1)
    figure = charts.ranking_figure(table, names)
    ax = figure.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{u.rank}. {names[u.unit]}" for u in table.units]
    values = {t.get_text() for t in ax.texts}
    assert f"{table.units[0].index:.2f}".replace(".", ",") in values
    assert any(t.startswith("Toàn huyện ") for t in values)


def test_ranking_of_many_units_keeps_best_and_worst():
    q = questionnaires.load_questionnaire("sipas-2017")
    codes = [f"xa-{i:03d}" for i in range(200)]
    table = synthetic_index_table(q, codes, seed=2)
    figure = charts.ranking_figure(table, limit=20)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert len(labels) == 21 and labels[10] == "…"
    assert labels[0].startswith("1. ") and labels[-1].startswith("200. ")


def test_svg_is_xml_with_glyphs_as_paths(scored, names):
    q, table = scored
    svg = charts.plot("heatmap", table, names, questionnaire=q, fmt="svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert b"<text" not in svg  # outlines: no font needed to view it
    assert charts.plot("heatmap", table, names, questionnaire=q, fmt="svg") == svg  # reproducible


def test_unknown_kind_or_format_is_a_report_error(scored):
    _, table = scored
    with pytest.raises(ReportError, match="pie"):
        charts.plot("pie", table)
    with pytest.raises(ReportError, match="png hoặc svg"):
        charts.plot("ranking", table, fmt="gif")


def test_figures_draw_on_their_own_agg_canvas(scored, names):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    q, table = scored
    assert isinstance(charts.ranking_figure(table, names).canvas, FigureCanvasAgg)
    assert isinstance(charts.heatmap_figure(table, names, questionnaire=q).canvas, FigureCanvasAgg)


def test_charts_never_load_pyplot():
    code = (
        "import sys, questionnaires;"
        "from reports import charts;"
        "from reports.synthetic import synthetic_index_table;"
        "q = questionnaires.load_questionnaire('sipas-2017');"
        "t = synthetic_index_table(q, ['a', 'b', 'c']);"
        "[charts.plot(k, t, questionnaire=q) for k in charts.KINDS];"
        "print('matplotlib.pyplot' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_ranking_chart_shows_the_groups(names, unit_list):
    # The chart of the workbook and of `sipas plot --kind ranking`: a column of group letters per unit.
    from analysis import score
    from reports.synthetic import synthetic_responses

    q = questionnaires.load_questionnaire("sipas-2017")
    table = score(q, synthetic_responses(q, unit_list.codes, 60, seed=5), unit_names=names)
    figure = charts.ranking_figure(table, names)
    ax = figure.axes[0]
    column = [t for t in ax.texts if t.get_position()[0] == charts.GROUP_X]
    assert column[-1].get_text() == "Nhóm"
    assert [t.get_text() for t in column[:-1]] == [u.rank_group for u in table.units]
    assert [t.get_position()[1] for t in column[:-1]] == list(range(len(table.units)))
    assert ax.get_xlim()[1] > charts.GROUP_X
    assert "chung một chữ cái" in figure.get_supxlabel()
    # Without groups (a table from before), the chart is as it was.
    plain = synthetic_index_table(q, unit_list.codes, names=names, seed=1)
    ax = charts.ranking_figure(plain, names).axes[0]
    assert ax.get_xlim() == (0, 108) and not any(t.get_text() == "Nhóm" for t in ax.texts)
