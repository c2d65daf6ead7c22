"""Responses-table exports: CSV with BOM and neutralised text; XLSX data + codebook, text never a formula."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pandas as pd
import pytest
import xlsxwriter

import questionnaires
from analysis import read_responses, score
from analysis.data import canonical_text
from analysis.io import restore
from reports.errors import ReportError
from reports.responses import (
    CODEBOOK_HEADER,
    CODEBOOK_SHEET,
    DATA_SHEET,
    add_responses_sheets,
    neutralise,
    open_workbook,
    response_columns,
    write_responses_csv,
    write_responses_xlsx,
)
from reports.synthetic import synthetic_responses

HOSTILE = '=HYPERLINK("http://x","y")'


@pytest.fixture(scope="module")
def questionnaire():
    return questionnaires.load_questionnaire("sipas-2017")


@pytest.fixture(scope="module")
def units():
    return questionnaires.load_units("tra-bong-2023")


@pytest.fixture
def frame(questionnaire, units):
    """Five responses per Trà Bồng commune, codes as strings, plus hostile and Vietnamese comments."""
    f = synthetic_responses(questionnaire, units.codes, 5, seed=7)
    f["gop_y"] = f["gop_y"].astype(object)
    f.loc[0, "gop_y"] = HOSTILE
    f.loc[1, "gop_y"] = "+84 905 123 456 gọi lại giúp tôi"
    f.loc[2, "gop_y"] = "-Ý kiến: cần thêm chỗ ngồi"
    f.loc[3, "gop_y"] = "@admin xem lại"
    f.loc[4, "gop_y"] = "\tthụt đầu dòng"
    f.loc[5, "gop_y"] = "Thời hạn giải quyết đúng quy định, công chức tận tình; Ủy ban Trà Bùi ưu tú"
    return f


def _expected(value):
    """What a cell should hold for a table value: blank, the integer code, or the text."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+84905", "'+84905"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Hài lòng", "Hài lòng"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (3.5, 3.5),
        (None, None),
    ],
)
def test_neutralise(value, expected):
    assert neutralise(value) == expected


TRIGGER_TEXTS = [
    "=1+2",
    "+84 905",
    "-Ý kiến",
    "@admin",
    "\tthụt đầu dòng",
    "\rdòng mới",
    "bình thường",
    "'; có dấu nháy",
]


def test_csv_export_reads_back_equal_for_every_formula_trigger(questionnaire, frame, tmp_path):
    rows = frame.head(40).copy()
    rows["gop_y"] = (TRIGGER_TEXTS * 5)[: len(rows)]
    # unit codes too: the reader restores them before scoring
    rows["unit"] = [f"{'=+-@'[i % 4]}{unit}" for i, unit in enumerate(rows["unit"])]
    path = tmp_path / "phieu.csv"
    write_responses_csv(questionnaire, rows, path)
    raw = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert raw["gop_y"].tolist()[:8] == ["'" + t for t in TRIGGER_TEXTS[:6]] + TRIGGER_TEXTS[6:]
    back = read_responses(path)
    assert [restore(v) for v in back["gop_y"]] == rows["gop_y"].tolist()
    assert [canonical_text(v) for v in back["gop_y"]] == [canonical_text(v) for v in rows["gop_y"]]
    again, direct = score(questionnaire, back), score(questionnaire, rows)
    assert {u.unit for u in again.units} == set(rows["unit"])
    assert again.to_json_dict() == direct.to_json_dict()


def test_columns_follow_the_responses_table_layout(questionnaire, frame):
    shuffled = frame[list(reversed(frame.columns))].assign(weight=1.0)
    names = response_columns(questionnaire, shuffled)
    assert names[:3] == ["response_id", "unit", "stratum"]
    answerable = [q.code for q in questionnaire.questions() if q.type.is_answerable]
    assert names[3:-1] == answerable
    assert names[-1] == "weight"  # unknown columns are kept, last


def test_missing_unit_column_is_a_clear_error(questionnaire, frame, tmp_path):
    with pytest.raises(ReportError, match="unit"):
        write_responses_csv(questionnaire, frame.drop(columns="unit"), tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_csv_has_bom_codes_vietnamese_and_neutralised_text(questionnaire, frame, tmp_path):
    path = tmp_path / "phieu.csv"
    write_responses_csv(questionnaire, frame, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    assert header == response_columns(questionnaire, frame)
    assert len(body) == len(frame) == 80
    by_column = {name: [row[i] for row in body] for i, name in enumerate(header)}
    assert by_column["gop_y"][0] == "'" + HOSTILE
    assert by_column["gop_y"][1] == "'+84 905 123 456 gọi lại giúp tôi"
    assert by_column["gop_y"][2] == "'-Ý kiến: cần thêm chỗ ngồi"
    assert by_column["gop_y"][3] == "'@admin xem lại"
    assert by_column["gop_y"][4] == "'\tthụt đầu dòng"
    assert by_column["gop_y"][5] == frame.loc[5, "gop_y"]
    for name in header:
        expected = ["" if _expected(v) is None else str(_expected(v)) for v in frame[name].tolist()]
        if name == "gop_y":
            expected = [neutralise(v) for v in expected]
        assert by_column[name] == expected, name
    assert "tra-xuan" in by_column["unit"] and by_column["phan_anh_1"].count("") > 0


def test_csv_to_a_binary_stream_keeps_the_stream_open(questionnaire, frame):
    buffer = io.BytesIO()
    write_responses_csv(questionnaire, frame.head(3), buffer)
    assert not buffer.closed
    assert buffer.getvalue().startswith(b"\xef\xbb\xbfresponse_id,unit,stratum,")
    back = pd.read_csv(io.BytesIO(buffer.getvalue()), encoding="utf-8-sig", dtype=str)
    assert back["response_id"].tolist() == frame["response_id"].head(3).tolist()


def test_xlsx_round_trip_values_equal(questionnaire, frame, tmp_path):
    path = tmp_path / "phieu.xlsx"
    write_responses_xlsx(questionnaire, frame, path)
    back = pd.read_excel(path, sheet_name=DATA_SHEET, dtype=object)
    assert list(back.columns) == response_columns(questionnaire, frame)
    assert len(back) == len(frame)
    for name in back.columns:
        got = [None if pd.isna(v) else v for v in back[name].tolist()]
        assert got == [_expected(v) for v in frame[name].tolist()], name


def test_xlsx_hostile_comment_is_text_not_a_formula(questionnaire, frame, tmp_path):
    path = tmp_path / "phieu.xlsx"
    write_responses_xlsx(questionnaire, frame, path)
    book = openpyxl.load_workbook(path)
    sheet = book[DATA_SHEET]
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("gop_y") + 1)
    assert cell.value == HOSTILE
    assert cell.data_type == "s"
    # The raw XML holds no formula element and no hyperlink relation anywhere.
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
        assert "<f>" not in xml and "<f " not in xml
        assert not any("hyperlink" in n.lower() for n in z.namelist())
        assert '<is><t>=HYPERLINK("http://x","y")</t></is>' in xml
    # Vietnamese text survives unchanged.
    assert sheet.cell(row=7, column=header.index("gop_y") + 1).value == frame.loc[5, "gop_y"]


def test_xlsx_codes_are_numbers_and_strata_text(questionnaire, frame, tmp_path):
    path = tmp_path / "phieu.xlsx"
    write_responses_xlsx(questionnaire, frame, path)
    sheet = openpyxl.load_workbook(path)[DATA_SHEET]
    header = [c.value for c in sheet[1]]
    tiep_can = sheet.cell(row=2, column=header.index("tiep_can_1") + 1)
    assert tiep_can.data_type == "n" and tiep_can.value == int(frame.loc[0, "tiep_can_1"])
    assert sheet.cell(row=2, column=header.index("stratum") + 1).value == frame.loc[0, "stratum"]
    assert sheet.freeze_panes == "C2"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}81"


def test_codebook_one_row_per_choice(questionnaire, frame, tmp_path):
    path = tmp_path / "phieu.xlsx"
    write_responses_xlsx(questionnaire, frame, path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [DATA_SHEET, CODEBOOK_SHEET]
    rows = list(book[CODEBOOK_SHEET].iter_rows(values_only=True))
    assert rows[0] == CODEBOOK_HEADER
    tiep_can = [r for r in rows if r[0] == "tiep_can_1"]
    assert [r[5] for r in tiep_can] == [1, 2, 3, 4, 5]
    assert [r[6] for r in tiep_can] == [
        "Rất không hài lòng",
        "Không hài lòng",
        "Bình thường",
        "Hài lòng",
        "Rất hài lòng",
    ]
    assert tiep_can[0][2] == "Nơi ngồi chờ có đủ chỗ ngồi"
    assert tiep_can[0][3] == "The waiting area has enough seats"
    assert tiep_can[0][4] == "Một lựa chọn"
    assert tiep_can[0][1] == "1. Tiếp cận dịch vụ hành chính công"
    linh_vuc = [r for r in rows if r[0] == "linh_vuc"]
    assert [r[5] for r in linh_vuc][:2] == ["dat_dai", "ho_tich"]
    gop_y = [r for r in rows if r[0] == "gop_y"]
    assert len(gop_y) == 1 and gop_y[0][4] == "Văn bản" and gop_y[0][5] is None
    described = {r[0] for r in rows[1:]}
    assert described == set(response_columns(questionnaire, frame))


def test_xlsx_without_codebook_and_to_a_stream(questionnaire, frame):
    buffer = io.BytesIO()
    write_responses_xlsx(questionnaire, frame, buffer, codebook=False, constant_memory=False)
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    assert book.sheetnames == [DATA_SHEET]
    assert book[DATA_SHEET].max_row == len(frame) + 1


def test_numeric_codes_and_multiple_choice_lists(questionnaire, units, tmp_path):
    f = synthetic_responses(questionnaire, units.codes[:2], 3, numeric_codes=True)
    f["extra_multi"] = [["1", "3"], [], None, ["2"], ["4", "5"], ["1"]]
    path = tmp_path / "x.xlsx"
    write_responses_xlsx(questionnaire, f, path)
    back = pd.read_excel(path, sheet_name=DATA_SHEET, dtype=object)
    assert back["tiep_can_1"].tolist() == [int(v) for v in f["tiep_can_1"]]
    # A column the questionnaire does not know keeps its values as text.
    assert [None if pd.isna(v) else v for v in back["extra_multi"]] == ["1 3", None, None, "2", "4 5", "1"]


def test_add_sheets_to_an_existing_workbook(questionnaire, frame, tmp_path):
    path = tmp_path / "report.xlsx"
    workbook = open_workbook(path)
    first = workbook.add_worksheet("Xếp hạng")
    first.write_string(0, 0, "Bảng xếp hạng")
    add_responses_sheets(workbook, questionnaire, frame)
    workbook.close()
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Xếp hạng", DATA_SHEET, CODEBOOK_SHEET]
    assert book[DATA_SHEET].max_row == len(frame) + 1


def test_text_longer_than_an_excel_cell_is_refused_and_no_file_left(questionnaire, frame, tmp_path):
    frame.loc[3, "gop_y"] = "ý" * 40_000
    path = tmp_path / "x.xlsx"
    with pytest.raises(ReportError, match=r"R0000004.*gop_y.*32\.767"):
        write_responses_xlsx(questionnaire, frame, path)
    assert not path.exists()


def test_xlsxwriter_failure_codes_raise(questionnaire, frame, tmp_path):
    workbook = xlsxwriter.Workbook(str(tmp_path / "y.xlsx"), {"constant_memory": True})
    sheet = workbook.add_worksheet("a")
    sheet.write_string(5, 0, "x")
    from reports.responses import check

    with pytest.raises(ReportError, match="XlsxWriter"):
        check(sheet.write_string(2, 0, "late row"), "ô A3")  # constant_memory: rows only go forward
    workbook.close()
