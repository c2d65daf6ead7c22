"""``sipas report`` and ``sipas plot`` end to end: responses file -> analysis.score -> workbook / figure."""

from __future__ import annotations

import io
import uuid

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import full_answers
from PIL import Image

import analysis
import questionnaires
from reports.responses import write_responses_csv
from reports.synthetic import synthetic_responses
from reports.workbook import SHEET_METHOD, SHEET_RANKING
from survey.cli import cli

HOSTILE = '=HYPERLINK("http://x","y")'


def same(value):
    return pytest.approx(value, rel=1e-14, abs=1e-12)


@pytest.fixture(scope="module")
def questionnaire():
    return questionnaires.load_questionnaire("sipas-2017")


@pytest.fixture(scope="module")
def names():
    return {u.code: u.name for u in questionnaires.load_units("tra-bong-2023")}


@pytest.fixture(scope="module")
def files(tmp_path_factory, questionnaire, names):
    """This year's responses (a Parquet responses table) and last year's scores (sipas score JSON)."""
    folder = tmp_path_factory.mktemp("cli")
    now = synthetic_responses(questionnaire, list(names), [40] * 15 + [12], seed=21)
    now["gop_y"] = now["gop_y"].astype(object)
    now.loc[3, "gop_y"] = HOSTILE
    responses = folder / "phieu-2023.parquet"
    now.to_parquet(responses)
    before = analysis.score(questionnaire, synthetic_responses(questionnaire, list(names), 40, seed=20))
    previous = folder / "ket-qua-2022.json"
    before.write_json(previous)
    return folder, responses, previous


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_report_end_to_end_equals_analysis_score(files, questionnaire, names):
    folder, responses, previous = files
    out = folder / "bao-cao.xlsx"
    result = run(
        "report",
        "--questionnaire",
        "sipas-2017",
        "--responses",
        str(responses),
        "--previous",
        str(previous),
        "--unit-list",
        "tra-bong-2023",
        "--out",
        str(out),
        "--include-data",
        "--issuer",
        "UBND HUYỆN TRÀ BỒNG",
        "--period",
        "Năm 2023",
    )
    assert result.exit_code == 0, result.output
    assert f"Đã ghi {out} (16 đơn vị" in result.output
    expected = analysis.score(
        questionnaire,
        analysis.read_responses(responses, questionnaire),
        previous=analysis.read_previous(previous),
        unit_names=names,
    )
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[:3] == ["Xếp hạng", "Theo yếu tố", "Theo tiêu chí"]
    assert book.sheetnames[-3:] == [SHEET_METHOD, "Dữ liệu", "Mã hoá"]
    ws = book[SHEET_RANKING]
    head = next(c.row for c in ws["A"] if c.value == "Hạng")
    rows = list(ws.iter_rows(min_row=head + 1, max_row=head + 16, values_only=True))
    # Columns by their header: the rank interval and the groups sit between the CI and the previous period.
    at = {c.value: c.column - 1 for c in ws[head] if c.value}
    for row, unit in zip(rows, expected.units, strict=True):
        assert row[:3] == (unit.rank, names[unit.unit], unit.n)
        assert row[3:6] == (same(unit.index), same(unit.ci_low), same(unit.ci_high))
        assert (row[at["Từ hạng"]], row[at["Đến hạng"]]) == (unit.rank_low, unit.rank_high)
        assert row[at["Nhóm không phân biệt được"]] == unit.rank_group
        assert row[at["Thay đổi chỉ số"]] == same(unit.change)
        assert row[at["Thay đổi hạng"]] == unit.rank_change
    small = next(r for r in rows if r[2] == 12)
    assert "Mẫu nhỏ" in small[at["Ghi chú"]]
    assert len(ws._charts) == 1
    data = book["Dữ liệu"]
    header = [c.value for c in data[1]]
    comment = data.cell(row=5, column=header.index("gop_y") + 1)
    assert comment.value == HOSTILE and comment.data_type == "s"
    assert not list(folder.glob(".bao-cao-*"))  # no temporary file left


@pytest.mark.parametrize(("kind", "suffix"), [("ranking", ".png"), ("elements", ".svg"), ("heatmap", ".png")])
def test_plot_end_to_end(files, kind, suffix):
    folder, responses, _ = files
    out = folder / f"{kind}{suffix}"
    source = ["-q", "sipas-2017", "--responses", str(responses), "--unit-list", "tra-bong-2023"]
    result = run("plot", *source, "--kind", kind, "--out", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    if suffix == ".png":
        with Image.open(io.BytesIO(data)) as image:
            assert image.size[0] > 500
    else:
        assert data.lstrip().startswith(b"<?xml") and b"<svg" in data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--questionnaire", "khong-co"], "khong-co"),
        (["--questionnaire", "sipas-2017", "--unit-list", "khong-co"], "khong-co"),
        (["--questionnaire", "sipas-2017", "--previous", "{folder}/khong-co.json"], "khong-co.json"),
    ],
)
def test_report_user_errors_are_one_line(files, args, message):
    folder, responses, _ = files
    out = folder / "loi.xlsx"
    args = [a.replace("{folder}", str(folder)) for a in args]
    result = run("report", *args, "--responses", str(responses), "--out", str(out))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert not out.exists()


def test_csv_export_is_read_back_by_the_report(files, questionnaire, tmp_path):
    _, responses, _ = files
    frame = analysis.read_responses(responses, questionnaire)
    csv = tmp_path / "phieu.csv"
    write_responses_csv(questionnaire, frame, csv)
    out = tmp_path / "tu-csv.xlsx"
    result = run("report", "-q", "sipas-2017", "--responses", str(csv), "-o", str(out), "--no-figures")
    assert result.exit_code == 0, result.output
    expected = analysis.score(questionnaire, frame)
    ws = openpyxl.load_workbook(out)[SHEET_RANKING]
    head = next(c.row for c in ws["A"] if c.value == "Hạng")
    indices = [r[3] for r in ws.iter_rows(min_row=head + 1, max_row=head + 16, values_only=True)]
    assert indices == [same(u.index) for u in expected.units]


def test_bad_responses_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ma_phieu,xa\n1,tra-xuan\n", encoding="utf-8")
    result = run("report", "-q", "sipas-2017", "--responses", str(bad), "--out", str(tmp_path / "x.xlsx"))
    assert result.exit_code == 1
    assert "response_id" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.xlsx").exists()


def test_usage_errors(files, tmp_path):
    _, responses, _ = files
    both = run("report", "-q", "sipas-2017", "--responses", str(responses), "--campaign", "1", "-o", "x.xlsx")
    assert both.exit_code == 2 and "--campaign" in both.output
    neither = run("report", "-q", "sipas-2017", "-o", str(tmp_path / "x.xlsx"))
    assert neither.exit_code == 2
    wrong = run("report", "-q", "sipas-2017", "--responses", str(responses), "-o", str(tmp_path / "x.pdf"))
    assert wrong.exit_code == 2 and ".xlsx" in wrong.output
    wrong = run("plot", "-q", "sipas-2017", "--responses", str(responses), "-o", str(tmp_path / "x.jpg"))
    assert wrong.exit_code == 2 and ".png" in wrong.output


@pytest.mark.db
def test_report_from_a_stored_campaign(
    app, make_campaign, database_url, monkeypatch, tmp_path, questionnaire
):
    from survey.db import session_scope
    from survey.models import Campaign
    from survey.storage import responses_frame, save_response

    campaign_id, _ = make_campaign("sipas-2017", kiosk_units=())
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        for i, (unit, likert) in enumerate([("tra-xuan", "5"), ("tra-xuan", "2"), ("tra-bui", "4")] * 2):
            save_response(
                session,
                campaign=campaign,
                unit_code=unit,
                instance_id=str(uuid.uuid4()),
                answers=full_answers(questionnaire, {"gop_y": HOSTILE if i == 0 else None}, likert=likert),
                questionnaire_id="sipas-2017",
                version=questionnaire.version,
                started_at="2024-05-02T08:00:00+07:00",
                submitted_at="2024-05-02T08:06:00+07:00",
                source="paper",
            )
    monkeypatch.setenv("SIPAS_DATABASE_URL", database_url)
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path / "instance"))
    out = tmp_path / "dot.xlsx"
    result = run(
        "report", "-q", "sipas-2017", "--campaign", str(campaign_id), "-o", str(out), "--include-data"
    )
    assert result.exit_code == 0, result.output
    expected = analysis.score(questionnaire, responses_frame(campaign_id, database_url))
    ws = openpyxl.load_workbook(out)[SHEET_RANKING]
    head = next(c.row for c in ws["A"] if c.value == "Hạng")
    code = [c.value for c in ws[head]].index("Mã đơn vị")
    rows = list(ws.iter_rows(min_row=head + 1, max_row=head + 2, values_only=True))
    assert [(r[0], r[code], r[3]) for r in rows] == [(u.rank, u.unit, same(u.index)) for u in expected.units]
    data = openpyxl.load_workbook(out)["Dữ liệu"]
    assert any(c.value == HOSTILE and c.data_type == "s" for row in data.iter_rows() for c in row)

    missing = run("report", "-q", "sipas-2017", "--campaign", "99999", "-o", str(tmp_path / "khong.xlsx"))
    assert missing.exit_code == 1 and "99999" in missing.output
    assert not (tmp_path / "khong.xlsx").exists()
