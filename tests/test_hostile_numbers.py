"""Hostile numbers and oversized files on the command line (issue 12, point 9).

Every file reader parses numbers by the rules of :mod:`questionnaires.numbers` (ASCII digits with the
Vietnamese thousands and decimal habits); anything else, a number out of its column's range, or a file
over its size or row limit is a one-line error naming the file, row and column, never a traceback or a
database exception.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import analysis.io
import questionnaires.xlsform
from analysis import ScoringError, read_frame, read_margins, read_responses, score
from questionnaires import QuestionnaireError, load_file, load_questionnaire
from questionnaires.numbers import NumberFormatError, parse_count, parse_number
from survey.campaigns import MAX_UNIT_NUMBER, create_campaign
from survey.cli import cli
from survey.db import session_scope
from survey.errors import CampaignError
from survey.models import Campaign, CampaignUnit

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"
PROPERTIES = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# ------------------------------------------------------------------------------------------ parser
@pytest.mark.parametrize(
    "text, expected",
    [
        ("1234", 1234),
        ("1.234", 1234),  # the Vietnamese thousands dot, never 1.234
        ("1 234", 1234),
        ("1\u00a0234", 1234),  # a no-break space, as spreadsheets write it
        ("12.345.678", 12345678),
        ("1.234,5", 1234.5),
        ("1 234,5", 1234.5),
        ("0,05", 0.05),
        ("1234.5", 1234.5),  # a decimal point that cannot be a thousands dot (files written by programs)
        ("0.125", 0.125),
        ("-3", -3),
        ("  42 ", 42),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_number(text) == pytest.approx(expected, rel=0, abs=1e-12)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("١٢٠", "0-9"),  # Arabic-Indic digits: int() reads 120
        ("²", "0-9"),  # str.isdigit() says yes, int() raises
        ("１２", "0-9"),  # fullwidth digits
        ("1e5", "1.234,5"),
        ("inf", "1.234,5"),
        ("nan", "1.234,5"),
        ("1_000", "1.234,5"),
        ("1,234.5", "1.234,5"),
        ("1.23.4", "1.234,5"),
        ("1.234 567", "1.234,5"),  # two kinds of thousands separator
        ("", "1.234,5"),
        ("nhiều", "1.234,5"),
    ],
)
def test_rejected_forms_say_what_is_accepted(text, reason):
    with pytest.raises(NumberFormatError, match=re.escape(reason)) as caught:
        parse_number(text)
    assert repr(text) in str(caught.value)


def test_counts_have_a_range():
    assert parse_count("10.000", 10_000) == 10_000
    for text, message in (("10.001", "10.000"), ("-1", "≥ 0"), ("1,5", "số nguyên")):
        with pytest.raises(NumberFormatError, match=re.escape(message)):
            parse_count(text, 10_000)


def _grouped(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(groups)


@st.composite
def typed_numbers(draw) -> tuple[str, str]:
    """A number as a person might type it, with its ASCII form (``1234.5``)."""
    whole = draw(st.integers(0, 10**12))
    fraction = draw(st.none() | st.text("0123456789", min_size=1, max_size=4))
    negative = draw(st.booleans())
    ascii_form = ("-" if negative else "") + str(whole) + (f".{fraction}" if fraction else "")
    separator = draw(st.sampled_from(["", ".", " ", "\u00a0"]))
    typed = _grouped(str(whole), separator) if whole >= 1000 and separator else str(whole)
    if fraction:
        typed += "," + fraction
    return ("-" if negative else "") + typed, ascii_form


@PROPERTIES
@given(typed_numbers())
def test_property_typed_numbers_read_as_their_ascii_form(pair):
    typed, ascii_form = pair
    assert parse_number(typed) == float(Decimal(ascii_form))


FOREIGN_DIGITS = st.characters(categories=["Nd", "No"]).filter(lambda c: not ("0" <= c <= "9"))


@PROPERTIES
@given(typed_numbers(), FOREIGN_DIGITS, st.data())
def test_property_foreign_digits_are_refused_with_file_row_and_column(tmp_path, pair, digit, data):
    typed, _ = pair
    at = data.draw(st.integers(0, len(typed)))
    hostile = typed[:at] + digit + typed[at:]
    with pytest.raises(NumberFormatError):
        parse_number(hostile)
    path = tmp_path / "frame.csv"
    path.write_text(f'unit,population\ntra-xuan,100\ntra-giang,"{hostile}"\n', encoding="utf-8")
    with pytest.raises(ScoringError) as caught:
        read_frame(path)
    message = str(caught.value)
    assert str(path) in message and "dòng 3" in message and "cột population" in message


@PROPERTIES
@given(st.lists(typed_numbers(), min_size=1, max_size=5))
def test_property_frame_reads_typed_numbers(tmp_path, pairs):
    path = tmp_path / "frame.csv"
    lines = [f'u{i},"{typed.lstrip("-")}"' for i, (typed, _) in enumerate(pairs)]
    path.write_text("unit,population\n" + "\n".join(lines) + "\n", encoding="utf-8")
    frame = read_frame(path)
    expected = [float(Decimal(a.lstrip("-"))) for _, a in pairs]
    assert frame["population"].tolist() == expected
    assert frame.index.tolist() == list(range(2, 2 + len(pairs)))


# ------------------------------------------------------------------------------------ scoring readers
def test_frame_reads_vietnamese_thousands(tmp_path):
    path = tmp_path / "frame.csv"
    path.write_text(
        'unit,stratum,population\ntra-xuan,dat_dai,1.234\ntra-xuan,ho_tich,"1 500"\n'
        'tra-giang,dat_dai,"2,5"\n',
        encoding="utf-8",
    )
    assert read_frame(path)["population"].tolist() == [1234.0, 1500.0, 2.5]  # pandas alone: 1.234


def test_frame_xlsx_keeps_numeric_cells_and_parses_text_ones(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["unit", "population"], ["a", 1.234], ["b", "1.234"], ["c", 7]):
        ws.append(row)
    path = tmp_path / "frame.xlsx"
    wb.save(path)
    assert read_frame(path)["population"].tolist() == [1.234, 1234.0, 7.0]


@pytest.mark.parametrize("reader", [read_frame, read_margins])
@pytest.mark.parametrize("value", ["١٢٠", "²", "1e3"])
def test_frame_and_margins_refuse_other_numbers(tmp_path, reader, value):
    path = tmp_path / "table.csv"
    path.write_text(
        f"unit,variable,category,population\ntra-xuan,gioi_tinh,1,60\ntra-xuan,gioi_tinh,2,{value}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScoringError) as caught:
        reader(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "dòng 3, cột population" in message and repr(value) in message


def test_a_frame_handed_to_score_directly_follows_the_same_rules():
    q = load_questionnaire("sipas-2017")
    responses = read_responses(FIXTURES / "design_responses.csv")
    frame = pd.read_csv(FIXTURES / "design_frame.csv", dtype=str)
    frame.loc[0, "population"] = "٤٢٠"  # float() reads 420
    with pytest.raises(ScoringError, match="dòng 1: population '٤٢٠'"):
        score(q, responses, frame)


def test_responses_refuse_foreign_digits_in_answers(tmp_path):
    q = load_questionnaire("sipas-2017")
    source = (FIXTURES / "design_responses.csv").read_text(encoding="utf-8")
    header, first, *rest = source.splitlines()
    cells = first.split(",")
    cells[header.split(",").index("tiep_can_1")] = "٣"  # float() reads 3
    path = tmp_path / "responses.csv"
    path.write_text("\n".join([header, ",".join(cells), *rest]) + "\n", encoding="utf-8")
    with pytest.raises(ScoringError, match="tiep_can_1"):
        score(q, read_responses(path), read_frame(FIXTURES / "design_frame.csv"))


def test_sipas_score_names_file_row_and_column(tmp_path):
    frame = tmp_path / "khung.csv"
    frame.write_text(
        (FIXTURES / "design_frame.csv").read_text(encoding="utf-8").replace(",420", ",١٢٠", 1),
        encoding="utf-8",
    )
    out = tmp_path / "o.json"
    result = CliRunner().invoke(
        cli,
        ["score", "-q", "sipas-2017", "-r", str(FIXTURES / "design_responses.csv"), "--frame", str(frame),
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "internal error" not in lines[0]
    assert f"{frame}: " in lines[0] and "dòng 2, cột population" in lines[0] and "0-9" in lines[0]
    assert not out.exists()


def test_data_files_have_a_row_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(analysis.io, "MAX_DATA_ROWS", 3)
    path = tmp_path / "frame.csv"
    path.write_text("unit,population\n" + "".join(f"u{i},10\n" for i in range(3)), encoding="utf-8")
    assert len(read_frame(path)) == 3
    path.write_text("unit,population\n" + "".join(f"u{i},10\n" for i in range(4)), encoding="utf-8")
    with pytest.raises(ScoringError, match=r"hơn 3 dòng.*MAX_DATA_ROWS"):
        read_frame(path)
    parquet = tmp_path / "frame.parquet"
    pd.DataFrame({"unit": ["a", "b", "c", "d"], "population": [1, 2, 3, 4]}).to_parquet(parquet)
    with pytest.raises(ScoringError, match="hơn 3 dòng"):
        read_frame(parquet)


def test_data_files_have_a_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(analysis.io, "MAX_DATA_FILE_BYTES", 100)
    path = tmp_path / "responses.csv"
    path.write_text("response_id,unit\n" + "r1,tra-xuan\n" * 20, encoding="utf-8")
    with pytest.raises(ScoringError) as caught:
        read_responses(path)
    assert str(caught.value).startswith(f"{path}: tệp responses lớn 257 byte, quá giới hạn 100 byte")


# ------------------------------------------------------------------------------------ campaign create
@pytest.fixture
def sipas(database_url, tmp_path):
    """Run ``sipas …`` against the test database; return (exit code, output)."""
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    return run


def _create(sipas, tmp_path, csv_text: str, option: str = "--populations") -> tuple[int, str]:
    path = tmp_path / "N.csv"
    path.write_text(csv_text, encoding="utf-8")
    return sipas(
        *("campaign", "create", "--questionnaire", "sipas-2017", "--units", "tra-bong-2023"),
        *("--name", "Đợt thử", option, str(path)),
    )


@pytest.mark.db
@pytest.mark.parametrize(
    "value, message",
    [
        ("²", "U+00B2"),  # was "internal error: ValueError"
        ("١٢٠", "U+0661"),  # was silently 120
        ("99999999999999", "lớn hơn giới hạn 10.000.000"),  # was "integer out of range" on PostgreSQL
        ("2147483648", "lớn hơn giới hạn"),
        ('"12,5"', "số nguyên"),  # quoted: the comma is the decimal one
        ("-4", "≥ 0"),
    ],
)
@pytest.mark.parametrize("option", ["--populations", "--targets"])
def test_campaign_numbers_are_refused_by_file_row_and_column(app, sipas, tmp_path, value, message, option):
    code, output = _create(sipas, tmp_path, f"ma_don_vi,so_nguoi\ntra-xuan,100\ntra-giang,{value}\n", option)
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, output
    assert lines[0].startswith(f"Error: {tmp_path / 'N.csv'}, dòng 3, cột 2 (so_nguoi): ")
    assert "internal error" not in lines[0] and "tra-giang" in lines[0] and message in lines[0]
    with app.app_context(), session_scope() as s:
        assert s.scalar(select(func.count(Campaign.id))) == 0


@pytest.mark.db
def test_campaign_numbers_take_vietnamese_thousands_up_to_the_limit(app, sipas, tmp_path):
    limit = f"{MAX_UNIT_NUMBER:_}".replace("_", ".")
    code, output = _create(sipas, tmp_path, f'tra-xuan;1.234\ntra-giang;"1 500"\nson-tra;{limit}\n')
    assert code == 0, output
    with app.app_context(), session_scope() as s:
        units = {u.unit_code: u.population for u in s.scalars(select(CampaignUnit))}
    assert (units["tra-xuan"], units["tra-giang"], units["son-tra"]) == (1234, 1500, MAX_UNIT_NUMBER)


@pytest.mark.db
def test_a_first_row_with_foreign_digits_is_data_not_a_header(app, sipas, tmp_path):
    code, output = _create(sipas, tmp_path, "xa-moi,١٢٠\n")
    assert code == 1 and "dòng 1" in output and "U+0661" in output


@pytest.mark.db
@pytest.mark.parametrize("field", ["populations", "targets"])
def test_create_campaign_checks_the_range_before_the_database(app, field):
    with app.app_context(), session_scope() as s:
        with pytest.raises(CampaignError, match="MAX_UNIT_NUMBER"):
            create_campaign(
                s,
                name="Đợt thử",
                questionnaire="sipas-2017",
                unit_list="tra-bong-2023",
                **{field: {"tra-xuan": 99_999_999_999_999}},
            )
        with pytest.raises(CampaignError, match=r"U\+0661"):
            create_campaign(
                s,
                name="Đợt thử",
                questionnaire="sipas-2017",
                unit_list="tra-bong-2023",
                **{field: {"tra-xuan": "١٢٠"}},
            )


def test_unit_number_files_have_a_size_limit(tmp_path, monkeypatch):
    import survey.commands

    monkeypatch.setattr(survey.commands, "MAX_UNIT_FILE_BYTES", 10)
    path = tmp_path / "N.csv"
    path.write_text("tra-xuan,100\ntra-giang,200\n", encoding="utf-8")
    with pytest.raises(Exception, match="quá giới hạn 10 byte") as caught:
        survey.commands.read_unit_numbers(path, "N")
    assert type(caught.value).__name__ == "ClickException"


# ------------------------------------------------------------------------------------------ XLSForm
def _xlsform(path: Path, rows: int) -> Path:
    """A small valid-looking XLSForm whose survey sheet has ``rows`` text questions."""
    wb = openpyxl.Workbook(write_only=True)
    survey = wb.create_sheet("survey")
    survey.append(["type", "name", "label"])
    for i in range(rows):
        survey.append(["text", f"q{i}", f"Câu {i}"])
    settings_sheet = wb.create_sheet("settings")
    settings_sheet.append(["form_title", "form_id", "version"])
    settings_sheet.append(["Phiếu", "phieu", "1"])
    wb.save(path)
    return path


def test_xlsform_rows_per_sheet_are_limited(tmp_path):
    limit = questionnaires.xlsform_read.MAX_SHEET_ROWS
    path = _xlsform(tmp_path / "lon.xlsx", limit)  # header + limit rows: one too many
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path)
    assert caught.value.code.value == "invalid-file" and caught.value.where == "sheet survey"
    assert "rows per sheet" in str(caught.value) and str(path) in str(caught.value)


def test_xlsform_rows_are_counted_while_read_when_the_sheet_does_not_say(tmp_path, monkeypatch):
    monkeypatch.setattr(questionnaires.xlsform_read, "MAX_SHEET_ROWS", 5)
    path = _xlsform(tmp_path / "lon.xlsx", 5)
    real_max_row = openpyxl.worksheet._read_only.ReadOnlyWorksheet.max_row
    monkeypatch.setattr(openpyxl.worksheet._read_only.ReadOnlyWorksheet, "max_row", None)
    with pytest.raises(QuestionnaireError, match="nhiều dòng, quá giới hạn 5 dòng"):
        load_file(path)
    monkeypatch.setattr(openpyxl.worksheet._read_only.ReadOnlyWorksheet, "max_row", real_max_row)
    assert len(list(load_file(_xlsform(tmp_path / "nho.xlsx", 3)).questionnaire.questions())) == 3


def test_xlsform_file_size_is_limited_before_it_is_opened(tmp_path, monkeypatch):
    monkeypatch.setattr(questionnaires.xlsform_read, "MAX_XLSFORM_BYTES", 1000)
    path = tmp_path / "rac.xlsx"
    path.write_bytes(b"\0" * 1001)  # not even a workbook: the size is checked first
    with pytest.raises(QuestionnaireError, match="quá giới hạn 1.000 byte"):
        load_file(path)


def test_questionnaires_validate_refuses_a_big_workbook_in_one_line(tmp_path):
    path = _xlsform(tmp_path / "lon.xlsx", questionnaires.xlsform_read.MAX_SHEET_ROWS + 10)
    result = CliRunner().invoke(cli, ["questionnaires", "validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}: sheet survey: " in lines[0] and "[invalid-file]" in lines[0]
    assert "Traceback" not in result.output


def test_xlsform_unpacked_size_is_limited(tmp_path, monkeypatch):
    path = _xlsform(tmp_path / "nen.xlsx", 50)
    monkeypatch.setattr(questionnaires.xlsform_read, "MAX_XLSFORM_UNPACKED_BYTES", path.stat().st_size)
    with pytest.raises(QuestionnaireError, match="the workbook unpacks to more than the limit"):
        load_file(path)


# -------------------------------------------------------------------------------- previous results
@pytest.mark.parametrize(
    "cells, message",
    [
        ("81.5,١", "dòng 3, cột rank: '١'"),  # int() reads 1
        ("٨١,1", "dòng 3, cột index"),
        ("1e400,1", "dòng 3, cột index: '1e400'"),  # was an OverflowError
        ("81.5,99999999999999999999", "rank 99999999999999999999: cần số nguyên"),
        ("81.5,0", "rank 0"),
    ],
)
def test_previous_results_csv_numbers_are_checked(tmp_path, cells, message):
    path = tmp_path / "ky-truoc.csv"
    path.write_text(f"unit,n,index,rank\ntra-xuan,40,75.25,2\ntra-giang,30,{cells}\n", encoding="utf-8")
    with pytest.raises(ScoringError, match=re.escape(message)) as caught:
        analysis.io.read_previous(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_previous_results_keep_program_decimals(tmp_path):
    path = tmp_path / "ky-truoc.csv"
    path.write_text("unit,n,index,rank\ntra-xuan,40,65.432,1\ntra-giang,30,1e-05,2\n", encoding="utf-8")
    table = analysis.io.read_previous(path)
    assert [(u.index, u.rank) for u in table.units] == [(65.432, 1), (1e-05, 2)]  # not 65432


def test_previous_results_json_wants_numbers(tmp_path):
    path = tmp_path / "ky-truoc.json"
    path.write_text(json.dumps({"units": [{"unit": "tra-xuan", "n": 40, "index": "١٢٠", "rank": 1}]}))
    with pytest.raises(ScoringError, match=re.escape("đơn vị thứ 1 ('tra-xuan'), index '١٢٠'")):
        analysis.io.read_previous(path)


def test_yaml_definitions_have_a_size_limit(tmp_path, monkeypatch):
    import questionnaires.read

    monkeypatch.setattr(questionnaires.read, "MAX_YAML_BYTES", 50)
    path = tmp_path / "phieu.yaml"
    path.write_text("id: x\n" + "# chú thích\n" * 10, encoding="utf-8")
    with pytest.raises(QuestionnaireError, match="quá giới hạn 50 byte") as caught:
        load_file(path)
    assert caught.value.code.value == "invalid-file" and caught.value.file == str(path)
