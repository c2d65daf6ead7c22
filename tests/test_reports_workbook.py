"""The district report workbook, reopened with openpyxl: values, order, chart, print settings, safety."""

from __future__ import annotations

import datetime as dt
import io
import math
import zipfile
from collections.abc import Mapping

import numpy as np
import openpyxl
import pandas as pd
import pytest
from scipy import stats

import questionnaires
from analysis.results import (
    FLAG_BELOW_TARGET,
    FLAG_LABELS_VI,
    FLAG_MISSING_CRITERIA,
    FLAG_SMALL_SAMPLE,
    IndexTable,
    UnitResult,
)
from questionnaires import Level
from reports.colours import contrast_ratio
from reports.errors import ReportError
from reports.synthetic import synthetic_index_table, synthetic_responses
from reports.workbook import (
    SHEET_COMMENTS,
    SHEET_CRITERIA,
    SHEET_ELEMENTS,
    SHEET_FIGURES,
    SHEET_METHOD,
    SHEET_RANKING,
    SHEET_UNITS,
    build_report,
    sheet_names,
)

HOSTILE = '=HYPERLINK("http://x","y")'
GENERATED = dt.datetime(2023, 12, 20, 9, 30)


def same(value):
    """Equal to what scoring gave, to the 15 significant digits a spreadsheet cell keeps."""
    return pytest.approx(value, rel=1e-14, abs=1e-12)


def same_all(values):
    return [v if v is None or isinstance(v, str) else same(v) for v in values]


# ------------------------------------------------------------------ an index table scored by hand


def _share_satisfied(values: pd.Series) -> tuple[float | None, int]:
    """Percent of valid answers (1-5) that are 4 or 5, and the number of valid answers."""
    codes = pd.to_numeric(values, errors="coerce")
    valid = codes[codes.isin([1, 2, 3, 4, 5])]
    if valid.empty:
        return None, 0
    return float((valid >= 4).sum() / len(valid) * 100), int(len(valid))


def _clopper_pearson(share: float, n: int) -> tuple[float, float]:
    x = round(share / 100 * n)
    low = 0.0 if x == 0 else stats.beta.ppf(0.025, x, n - x + 1)
    high = 1.0 if x == n else stats.beta.ppf(0.975, x + 1, n - x)
    return float(low * 100), float(high * 100)


def score_by_hand(
    questionnaire,
    responses: pd.DataFrame,
    names: Mapping[str, str],
    previous: Mapping[str, tuple[float, int]] | None = None,
    target: int = 40,
) -> IndexTable:
    """Unweighted SIPAS: criteria = share satisfied, elements = mean of criteria, index = mean of elements."""
    tree = questionnaire.scoring.tree
    elements = [n for n in tree.walk() if n.level is Level.ELEMENT]

    def scores(rows: pd.DataFrame) -> tuple[dict, dict, dict, float | None]:
        criteria, counts = {}, {}
        for c in tree.criteria:
            criteria[c.code], counts[c.code] = _share_satisfied(rows[c.items[0]])
        element_values = {}
        for e in elements:
            parts = [criteria[c.code] for c in e.criteria if criteria[c.code] is not None]
            element_values[e.code] = float(np.mean(parts)) if parts else None
        present = [v for v in element_values.values() if v is not None]
        return criteria, counts, element_values, float(np.mean(present)) if present else None

    draft = []
    for unit in names:
        rows = responses[responses["unit"] == unit]
        criteria, counts, element_values, index = scores(rows)
        n = len(rows)
        low, high = _clopper_pearson(index, n)
        flags = []
        if n < questionnaire.scoring.min_n:
            flags.append(FLAG_SMALL_SAMPLE)
        if n < target:
            flags.append(FLAG_BELOW_TARGET)
        if any(v is None for v in criteria.values()):
            flags.append(FLAG_MISSING_CRITERIA)
        draft.append(
            dict(
                unit=unit,
                name=names[unit],
                n=n,
                index=index,
                ci_low=low,
                ci_high=high,
                target=target,
                elements=element_values,
                criteria=criteria,
                criteria_n=counts,
                flags=tuple(flags),
            )
        )
    draft.sort(key=lambda d: (-d["index"], d["unit"]))
    units = []
    for rank, d in enumerate(draft, start=1):
        if previous:
            prev_index, prev_rank = previous[d["unit"]]
            d.update(
                previous_index=prev_index,
                previous_rank=prev_rank,
                change=d["index"] - prev_index,
                rank_change=prev_rank - rank,
            )
        units.append(UnitResult(rank=rank, **d))
    criteria, counts, element_values, index = scores(responses)
    low, high = _clopper_pearson(index, len(responses))
    overall = UnitResult(
        unit="overall",
        n=len(responses),
        index=index,
        ci_low=low,
        ci_high=high,
        elements=element_values,
        criteria=criteria,
        criteria_n=counts,
    )
    return IndexTable(
        questionnaire=questionnaire.id,
        version=questionnaire.version,
        method="share_satisfied",
        units=tuple(units),
        overall=overall,
        warnings=(f"tra-tay: tiêu chí phan_anh_4 không có câu trả lời hợp lệ {HOSTILE}",),
        labels={n.code: n.label.vi for n in tree.walk()},
        levels={n.code: n.level.value for n in tree.walk()},
    )


@pytest.fixture(scope="module")
def questionnaire():
    return questionnaires.load_questionnaire("sipas-2017")


@pytest.fixture(scope="module")
def unit_list():
    return questionnaires.load_units("tra-bong-2023")


@pytest.fixture(scope="module")
def names(unit_list):
    return {u.code: u.name for u in unit_list}


@pytest.fixture(scope="module")
def responses(questionnaire, unit_list):
    """Trà Bồng's 16 communes: 45 forms each, Trà Thanh only 20, nobody at Trà Tây answered phan_anh_4."""
    counts = [20 if u.code == "tra-thanh" else 45 for u in unit_list]
    frame = synthetic_responses(questionnaire, unit_list.codes, counts, seed=11)
    frame["phan_anh_4"] = frame["phan_anh_4"].astype(object)
    frame.loc[frame["unit"] == "tra-tay", "phan_anh_4"] = None
    frame["gop_y"] = frame["gop_y"].astype(object)
    frame.loc[0, "gop_y"] = HOSTILE
    return frame


@pytest.fixture(scope="module")
def table(questionnaire, responses, names):
    last_year = synthetic_responses(questionnaire, list(names), 45, seed=2022)
    before = score_by_hand(questionnaire, last_year, names)
    previous = {u.unit: (u.index, u.rank) for u in before.units}
    return score_by_hand(questionnaire, responses, names, previous)


@pytest.fixture(scope="module")
def report(tmp_path_factory, table, questionnaire, names, responses):
    path = tmp_path_factory.mktemp("report") / "bao-cao.xlsx"
    sheets = build_report(
        table,
        questionnaire,
        path,
        unit_names=names,
        responses=responses,
        title="Kết quả Chỉ số hài lòng năm 2023",
        issuer="UBND huyện Trà Bồng",
        period="Năm 2023",
        generated=GENERATED,
    )
    return path, sheets


@pytest.fixture(scope="module")
def book(report):
    return openpyxl.load_workbook(report[0])


def _header_row(ws, first: str) -> int:
    for row in ws.iter_rows(min_col=1, max_col=1):
        if row[0].value == first:
            return row[0].row
    raise AssertionError(f"no row starting with {first!r} in {ws.title}")


def _table(ws, first_header: str) -> tuple[list[str], list[list]]:
    """The header and the body rows (until the first empty row) of a sheet's main table."""
    head = _header_row(ws, first_header)
    header = [c.value for c in ws[head]]
    body = []
    for row in ws.iter_rows(min_row=head + 1, values_only=True):
        if row[0] is None:
            break
        body.append(list(row))
    return header, body


# --------------------------------------------------------------------------------------- tests


def test_sheets_in_order(report, book, table, names):
    path, sheets = report
    units = [names[u.unit] for u in table.units]
    expected = [SHEET_RANKING, SHEET_ELEMENTS, SHEET_CRITERIA, SHEET_FIGURES, *units]
    expected += [SHEET_COMMENTS, SHEET_METHOD]
    assert book.sheetnames == [*expected, "Dữ liệu", "Mã hoá"]
    assert sheets == book.sheetnames


def test_ranking_equals_the_scoring_output(book, table, names):
    ws = book[SHEET_RANKING]
    header, body = _table(ws, "Hạng")
    assert header[:12] == [
        "Hạng",
        "Đơn vị",
        "Số phiếu",
        "Chỉ số (%)",
        "Cận dưới",
        "Cận trên",
        "Chỉ số kỳ trước",
        "Thay đổi chỉ số",
        "Hạng kỳ trước",
        "Thay đổi hạng",
        "Ghi chú",
        "Mã đơn vị",
    ]
    assert len(body) == 16
    for row, unit in zip(body, table.units, strict=True):
        assert row[0] == unit.rank
        assert row[1] == names[unit.unit]
        assert row[2] == unit.n
        assert row[3] == same(unit.index)
        assert row[4:6] == [same(unit.ci_low), same(unit.ci_high)]
        assert row[6:8] == [same(unit.previous_index), same(unit.change)]
        assert row[8] == unit.previous_rank and row[9] == unit.rank_change
        assert row[10] == ("; ".join(FLAG_LABELS_VI[f] for f in unit.flags) or None)
        assert row[11] == unit.unit
        # The chart's error bars: the distances from the index to the CI bounds.
        assert row[12] == pytest.approx(unit.ci_high - unit.index)
        assert row[13] == pytest.approx(unit.index - unit.ci_low)
    assert [r[0] for r in body] == list(range(1, 17))  # sorted by rank
    ranks = {r[11]: r[0] for r in body}
    assert ranks["tra-thanh"] == table.unit("tra-thanh").rank
    thanh = next(r for r in body if r[11] == "tra-thanh")
    assert thanh[10] == "Mẫu nhỏ; Chưa đủ số phiếu mục tiêu"
    tay = next(r for r in body if r[11] == "tra-tay")
    assert tay[10] == "Thiếu tiêu chí"
    index_cell = ws.cell(row=_header_row(ws, "Hạng") + 1, column=4)
    assert index_cell.number_format == "0.00"


def test_ranking_heading_overall_and_format(book, table):
    ws = book[SHEET_RANKING]
    values = [c for row in ws.iter_rows(max_row=7, values_only=True) for c in row if c]
    assert "UBND HUYỆN TRÀ BỒNG" in values
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in values
    assert "Độc lập - Tự do - Hạnh phúc" in values
    assert "KẾT QUẢ CHỈ SỐ HÀI LÒNG NĂM 2023" in values
    assert "Kỳ đánh giá: Năm 2023" in values
    assert "ngày 20 tháng 12 năm 2023" in values
    overall_row = next(r for r in ws.iter_rows(values_only=True) if r[0] == "Toàn huyện")
    assert overall_row[2] == table.overall.n
    assert list(overall_row[3:6]) == same_all(
        [table.overall.index, table.overall.ci_low, table.overall.ci_high]
    )
    head = _header_row(ws, "Hạng")
    assert ws.freeze_panes == f"C{head + 1}"
    assert ws.auto_filter.ref == f"A{head}:N{head + 16}"
    hidden = ws.column_dimensions["M"]  # openpyxl groups M:N into one dimension
    assert hidden.hidden and (hidden.min, hidden.max) == (13, 14)
    rules = {r.type for cf in ws.conditional_formatting for r in cf.rules}
    assert {"dataBar", "colorScale"} <= rules


def test_ranking_chart_with_ci_error_bars(report, book, table):
    ws = book[SHEET_RANKING]
    assert len(ws._charts) == 1
    with zipfile.ZipFile(report[0]) as z:
        chart = z.read("xl/charts/chart1.xml").decode("utf-8")
    head = _header_row(ws, "Hạng")
    first, last = head + 1, head + 16
    assert '<c:barDir val="bar"/>' in chart
    assert f"<c:f>'Xếp hạng'!$D${first}:$D${last}</c:f>" in chart  # the index
    assert f"<c:f>'Xếp hạng'!$B${first}:$B${last}</c:f>" in chart  # unit names
    assert '<c:errValType val="cust"/>' in chart
    assert f"<c:plus><c:numRef><c:f>'Xếp hạng'!$M${first}:$M${last}</c:f>" in chart
    assert f"<c:minus><c:numRef><c:f>'Xếp hạng'!$N${first}:$N${last}</c:f>" in chart


def test_every_sheet_is_print_ready(book):
    for ws in book.worksheets:
        setup = ws.page_setup
        assert setup.orientation == "landscape", ws.title
        assert int(setup.paperSize) == 9, ws.title  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert (setup.fitToWidth or 1) == 1 and setup.fitToHeight == 0, ws.title  # one page wide
        assert ws.oddFooter.center.text == "Trang &P / &N", ws.title
        assert ws.oddFooter.right.text == ws.title
    ranking = book[SHEET_RANKING]
    head = _header_row(ranking, "Hạng")
    # 16 communes fit on the first page: no header is repeated (above the chart or anywhere else).
    assert ranking.print_title_rows is None
    # Printed: the table, notes and signature, without the unit codes (column L) or the chart.
    notes = max(r[0].row for r in ranking.iter_rows(min_col=1, max_col=1) if r[0].value)
    assert ranking.print_area == f"'{SHEET_RANKING}'!$A$1:$K${notes}"
    assert ranking.cell(row=head, column=12).value == "Mã đơn vị"
    assert book[SHEET_ELEMENTS].print_title_rows is not None
    assert book[SHEET_CRITERIA].print_title_rows is not None
    assert book["Dữ liệu"].print_title_rows == "$1:$1"


def test_elements_matrix(book, table, questionnaire, names):
    ws = book[SHEET_ELEMENTS]
    header, body = _table(ws, "Hạng")
    elements = [n for n in questionnaire.scoring.tree.walk() if n.level is Level.ELEMENT]
    assert header == [
        "Hạng",
        "Đơn vị",
        *[f"{i}. {e.label.vi}" for i, e in enumerate(elements, 1)],
        "Chỉ số chung",
    ]
    for row, unit in zip(body, table.units, strict=True):
        assert row[:2] == [unit.rank, names[unit.unit]]
        assert row[2:-1] == same_all([unit.elements[e.code] for e in elements])
        assert row[-1] == same(unit.index)
    overall = next(r for r in ws.iter_rows(values_only=True) if r[0] == "Toàn huyện")
    assert list(overall[2:7]) == same_all([table.overall.elements[e.code] for e in elements])
    # Fixed fills from red (lowest) to green (highest), each with the text colour readable on it.
    head = _header_row(ws, "Hạng")
    cells = [ws.cell(row=head + 1 + i, column=3 + k) for i in range(16) for k in range(5)]
    lowest = min(cells, key=lambda c: c.value)
    highest = max(cells, key=lambda c: c.value)
    assert lowest.fill.fgColor.rgb[-6:] == "F8696B" and highest.fill.fgColor.rgb[-6:] == "63BE7B"
    for c in cells:
        fill, ink = "#" + c.fill.fgColor.rgb[-6:], "#" + (c.font.color.rgb or "FF000000")[-6:]
        assert contrast_ratio(fill, ink) >= 4.5, (c.coordinate, fill, ink)
        assert c.number_format == "0.00"
    assert not [r for cf in ws.conditional_formatting for r in cf.rules if r.type == "colorScale"]


def test_criteria_heatmap_marks_cells_below_threshold(book, table, questionnaire):
    ws = book[SHEET_CRITERIA]
    header, body = _table(ws, "Hạng")
    criteria = [c.code for c in questionnaire.scoring.criteria]
    assert header[2:6] == ["1.1", "1.2", "1.3", "1.4"] and header[-1] == "5.4"
    for row, unit in zip(body, table.units, strict=True):
        expected = [unit.criteria[c] if unit.criteria[c] is not None else "—" for c in criteria]
        assert row[2:] == same_all(expected)
    tay = next(r for r in body if r[0] == table.unit("tra-tay").rank)
    assert tay[-1] == "—"  # no valid answer to phan_anh_4
    # Under the threshold (80): bold with a thick border; never a red font on a red cell.
    head = _header_row(ws, "Hạng")
    for row in ws.iter_rows(min_row=head + 1, max_row=head + 16, min_col=3):
        for c in row:
            if isinstance(c.value, float):
                low = c.value < 80
                assert c.font.b == low and (c.border.left.style == "medium") == low, c.coordinate
                ink = "#" + (c.font.color.rgb or "FF000000")[-6:]
                assert contrast_ratio("#" + c.fill.fgColor.rgb[-6:], ink) >= 4.5, c.coordinate
    legend = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r[0] in ("1.1", "5.4")}
    assert legend["1.1"] == "Nơi ngồi chờ có đủ chỗ ngồi"  # no internal code printed


def test_unit_sheets_profile_weakest_and_picture(book, table, names, questionnaire):
    criteria_order = [c.code for c in questionnaire.scoring.criteria]
    for unit in table.units:
        ws = book[names[unit.unit]]
        assert len(ws._images) == 1
        rows = list(ws.iter_rows(values_only=True))
        assert rows[1][0] == names[unit.unit].upper()
        profile = {r[0]: r[1:4] for r in rows if r[0] and r[0][:2] in {"1.", "2.", "3.", "4.", "5."}}
        first = profile["1. Tiếp cận dịch vụ hành chính công"]
        assert first[0] == same(unit.elements["tiep_can"])
        assert first[1] == same(table.overall.elements["tiep_can"])
        assert first[2] == pytest.approx(unit.elements["tiep_can"] - table.overall.elements["tiep_can"])
        start = next(i for i, r in enumerate(rows) if r[0] == "Tiêu chí")
        weakest = [r for r in rows[start + 1 : start + 4]]
        scored = sorted((v, criteria_order.index(c), c) for c, v in unit.criteria.items() if v is not None)[
            :3
        ]
        assert [r[1] for r in weakest] == same_all([v for v, _, _ in scored])
        assert [r[4] for r in weakest] == [unit.criteria_n[c] for _, _, c in scored]


def test_method_sheet_cites_the_decision_and_sample_sizes(book, table, names):
    ws = book[SHEET_METHOD]
    text = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r[0]}
    assert text["Căn cứ"] == "Quyết định số 2640/QĐ-BNV ngày 10/10/2017 của Bộ Nội vụ"
    assert '"Hài lòng" hoặc "Rất hài lòng"' in text["Chỉ số tiêu chí"]
    assert text["Trọng số"].startswith("Không gia quyền")
    assert "Korn–Graubard" in text["Khoảng tin cậy"] and "95%" in text["Khoảng tin cậy"]
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "Đơn vị")
    sample = {r[0]: r[1:4] for r in rows[start + 1 : start + 17]}
    thanh = table.unit("tra-thanh")
    assert sample[names["tra-thanh"]] == (thanh.n, 40, pytest.approx(thanh.n / 40 * 100))
    # The scoring's warnings arrive as text, even one that looks like a formula, with names for codes.
    warning = next(
        c for r in ws.iter_rows() for c in r if isinstance(c.value, str) and "HYPERLINK" in c.value
    )
    expected = table.warnings[0].replace("tra-tay", names["tra-tay"])
    expected = expected.replace("phan_anh_4", '5.4 "Cơ quan thông báo … kiến nghị"')
    assert warning.value == expected and warning.data_type == "s"


def test_figures_sheet_holds_three_pictures(book):
    ws = book[SHEET_FIGURES]
    assert len(ws._images) == 3
    captions = [r[0] for r in ws.iter_rows(values_only=True) if r[0]]
    assert [c.split(".")[0] for c in captions] == ["Hình 1", "Hình 2", "Hình 3"]
    assert len(ws.row_breaks.brk) == 2  # each figure on its own page


def test_responses_sheets_hold_the_hostile_comment_as_text(book, responses):
    ws = book["Dữ liệu"]
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index("gop_y") + 1)
    assert cell.value == HOSTILE and cell.data_type == "s"
    assert ws.max_row == len(responses) + 1
    assert book["Mã hoá"]["A1"].value == "Mã câu hỏi"


def test_no_formula_anywhere(report):
    with zipfile.ZipFile(report[0]) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet"):
                xml = z.read(name).decode("utf-8")
                assert "<f>" not in xml and "<f " not in xml, name


def test_hostile_names_title_and_issuer_stay_text(table, questionnaire, tmp_path):
    names = {u.unit: HOSTILE if u.unit == "tra-xuan" else f"@{u.unit}" for u in table.units}
    path = tmp_path / "x.xlsx"
    build_report(
        table,
        questionnaire,
        path,
        unit_names=names,
        title=HOSTILE,
        issuer="+cmd|' /C calc'!A0",
        pictures=False,
    )
    book = openpyxl.load_workbook(path)
    ws = book[SHEET_RANKING]
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(c.value == HOSTILE for c in cells)
    assert all(c.data_type == "s" for c in cells)
    assert "=HYPERLINK(http x,y)" in book.sheetnames or any("HYPERLINK" in n for n in book.sheetnames)


def test_sheet_names_are_valid_and_unique():
    long = "Xã Trà Bồng Thượng Nguồn Sông Trà Bồng"  # 39 characters, same first 31 twice
    names = sheet_names([long, long + " B", "Xếp hạng", "a/b:c*d?", "history", "'quoted'", ""], ["Xếp hạng"])
    assert all(len(n) <= 31 for n in names)
    assert len({n.casefold() for n in names}) == len(names)
    assert names[0] == long[:31].rstrip()
    assert names[1] == long[:27].rstrip() + " (2)"
    assert names[2] == "Xếp hạng (2)"
    assert names[3] == "a b c d"
    assert names[4] == "history (2)"
    assert names[5] == "quoted"
    assert names[6] == "Đơn vị"


def test_colliding_long_unit_names_get_unique_sheets(table, questionnaire, tmp_path):
    same = "Ủy ban nhân dân xã Trà Bồng Thượng Nguồn số "
    names = {u.unit: f"{same}{i}" for i, u in enumerate(table.units)}
    path = tmp_path / "x.xlsx"
    sheets = build_report(table, questionnaire, path, unit_names=names, pictures=False)
    unit_sheets = sheets[3:-1]
    assert len(unit_sheets) == 16 == len({s.casefold() for s in unit_sheets})
    assert all(len(s) <= 31 for s in unit_sheets)


@pytest.mark.parametrize("constant_memory", [True, False])
def test_writes_to_a_binary_stream(table, questionnaire, names, constant_memory):
    buffer = io.BytesIO()
    build_report(
        table, questionnaire, buffer, unit_names=names, constant_memory=constant_memory, pictures=False
    )
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    assert book.sheetnames[0] == SHEET_RANKING
    _, body = _table(book[SHEET_RANKING], "Hạng")
    assert [r[3] for r in body] == same_all([u.index for u in table.units])


def test_many_units_get_compact_blocks(questionnaire, tmp_path):
    codes = [f"xa-{i:03d}" for i in range(80)]
    names = {c: f"Xã số {i}" for i, c in enumerate(codes)}
    table = synthetic_index_table(questionnaire, codes, names=names, seed=5)
    path = tmp_path / "many.xlsx"
    sheets = build_report(table, questionnaire, path, unit_names=names)
    assert sheets == [SHEET_RANKING, SHEET_ELEMENTS, SHEET_CRITERIA, SHEET_FIGURES, SHEET_UNITS, SHEET_METHOD]
    # (no responses, so no comments sheet)
    book = openpyxl.load_workbook(path)
    assert book[SHEET_RANKING]._charts == []  # 80 bars would be unreadable; the note says so
    assert len(book[SHEET_FIGURES]._images) == 2
    blocks = [
        r[0] for r in book[SHEET_UNITS].iter_rows(values_only=True) if r[0] and r[0].startswith("Xã số")
    ]
    assert len(blocks) == 80
    first = table.units[0]
    assert blocks[0].startswith(f"{names[first.unit]} — Hạng 1/80")  # no unit code printed


def test_fields_of_sipas_2023(tmp_path, unit_list, names):
    q = questionnaires.load_questionnaire("sipas-2023")
    table = synthetic_index_table(q, unit_list.codes, names=names, seed=3)
    path = tmp_path / "2023.xlsx"
    build_report(table, q, path, unit_names=names, pictures=False)
    ws = openpyxl.load_workbook(path)[SHEET_ELEMENTS]
    header, body = _table(ws, "Hạng")
    assert header.count("Chỉ số lĩnh vực") == 2
    field_col = header.index("Chỉ số lĩnh vực")
    for row, unit in zip(body, table.units, strict=True):
        assert row[field_col] == same(unit.fields["chinh_sach"])
    groups = [c.value for c in ws[_header_row(ws, "Hạng") - 1] if c.value]
    assert groups[:2] == [
        "Sự hài lòng đối với việc xây dựng, tổ chức thực hiện chính sách",
        "Sự hài lòng đối với việc cung ứng dịch vụ hành chính công",
    ]


def test_points_method_shows_points(tmp_path, unit_list, names):
    q = questionnaires.load_questionnaire("par-xa-2023")
    base = synthetic_index_table(q, unit_list.codes, names=names, seed=4)
    units = tuple(
        UnitResult(**{**u.__dict__, "points": u.index / 100 * 16, "max_points": 16.0}) for u in base.units
    )
    table = IndexTable(**{**base.__dict__, "units": units, "method": "points"})
    path = tmp_path / "par.xlsx"
    build_report(table, q, path, unit_names=names, pictures=False)
    book = openpyxl.load_workbook(path)
    header, body = _table(book[SHEET_RANKING], "Hạng")
    assert header[6:8] == ["Điểm", "Điểm tối đa"]
    assert [r[6] for r in body] == same_all([u.points for u in units])
    method = {r[0]: r[1] for r in book[SHEET_METHOD].iter_rows(values_only=True) if r[0]}
    assert "điểm tối đa" in method["Chỉ số tiêu chí"]
    assert "Lãnh đạo, công chức xã" in method["Chỉ số tiêu chí"]
    # the rules used, named in Vietnamese: the file's defaults here
    assert "points_total = asked" in method["Chỉ số yếu tố, lĩnh vực, chỉ số chung"]
    assert "cộng điểm các tiêu chí được hỏi" in method["Chỉ số yếu tố, lĩnh vực, chỉ số chung"]
    assert "group_weighting = criterion_means" in method["Trọng số nhóm đối tượng"]
    assert "không được tính" in method["Câu hỏi theo nhóm đối tượng"]
    # the rules the table was scored with win over the file's
    other = IndexTable(**{**table.__dict__, "group_weighting": "respondents", "points_total": "scaled"})
    build_report(other, q, path, unit_names=names, pictures=False)
    method = {
        r[0]: r[1] for r in openpyxl.load_workbook(path)[SHEET_METHOD].iter_rows(values_only=True) if r[0]
    }
    assert "group_weighting = respondents" in method["Trọng số nhóm đối tượng"]
    assert "points_total = scaled" in method["Chỉ số yếu tố, lĩnh vực, chỉ số chung"]


def test_wrong_questionnaire_or_empty_table_is_refused(table, questionnaire, tmp_path):
    other = questionnaires.load_questionnaire("sipas-2023")
    path = tmp_path / "x.xlsx"
    with pytest.raises(ReportError, match="sipas-2017"):
        build_report(table, other, path)
    empty = IndexTable(**{**table.__dict__, "units": ()})
    with pytest.raises(ReportError, match="không có đơn vị"):
        build_report(empty, questionnaire, path)
    assert not path.exists()


def test_failure_midway_leaves_no_file(table, questionnaire, tmp_path):
    bad = pd.DataFrame({"response_id": ["a"], "unit": ["tra-xuan"], "gop_y": ["ý" * 40_000]})
    path = tmp_path / "x.xlsx"
    with pytest.raises(ReportError, match="32.767"):
        build_report(table, questionnaire, path, responses=bad, pictures=False)
    assert not path.exists()


def test_missing_values_are_shown_not_crashing(table, questionnaire, tmp_path):
    nothing = UnitResult(unit="tra-moi", n=0, index=None, flags=("no_data",), name="Xã Mới")
    with_nan = UnitResult(**{**table.units[0].__dict__, "ci_low": math.nan})
    t = IndexTable(**{**table.__dict__, "units": (with_nan, *table.units[1:], nothing)})
    path = tmp_path / "x.xlsx"
    build_report(t, questionnaire, path, pictures=False)
    _, body = _table(openpyxl.load_workbook(path)[SHEET_RANKING], "Hạng")
    assert body[0][4] == "—"
    assert body[-1][:4] == ["—", "Xã Mới", 0, "—"] and body[-1][10] == "Không có dữ liệu"


def test_ranking_sheet_shows_rank_intervals_and_groups(questionnaire, tmp_path):
    # Scored by the engine (the hand scorer above has no simulation): 16 communes of 60 responses.
    from analysis import score

    codes = [f"xa-{i:02d}" for i in range(16)]
    t = score(questionnaire, synthetic_responses(questionnaire, codes, 60, seed=5))
    build_report(t, questionnaire, tmp_path / "r.xlsx", generated=GENERATED)
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    ws = book[SHEET_RANKING]
    header, body = _table(ws, "Hạng")
    at = {name: header.index(name) for name in ("Từ hạng", "Đến hạng", "Nhóm không phân biệt được")}
    assert header[at["Từ hạng"] - 2 : at["Từ hạng"]] == ["Cận dưới", "Cận trên"]  # beside the CI
    group_row = ws[_header_row(ws, "Hạng") - 1]
    assert group_row[at["Từ hạng"]].value == "Khoảng hạng 95%"
    assert len(body) == 16
    for row, unit in zip(body, t.units, strict=True):
        assert row[0] == unit.rank
        assert unit.rank_low <= unit.rank <= unit.rank_high
        assert [row[at["Từ hạng"]], row[at["Đến hạng"]]] == [unit.rank_low, unit.rank_high]
        assert row[at["Nhóm không phân biệt được"]] == unit.rank_group
    letters = [r[at["Nhóm không phân biệt được"]] for r in body]
    assert letters[0] == "a" and len(set("".join(letters))) > 1  # clear differences among 16 communes
    notes = [c for r in ws.iter_rows(values_only=True) for c in r if isinstance(c, str)]
    assert any("Nhóm không phân biệt được" in c and "chung một chữ cái" in c for c in notes)
    method = {r[0]: r[1] for r in book[SHEET_METHOD].iter_rows(values_only=True) if r[0]}
    ranking = method["Xếp hạng"]
    assert "Holm" in ranking and "α = 0,05" in ranking and "Khoảng hạng 95%" in ranking
    assert "khoảng tin cậy 95% có thể chồng nhau" in ranking  # why tests rather than overlapping CIs
