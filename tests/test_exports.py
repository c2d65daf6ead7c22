"""Campaign exports read back: CSV (UTF-8 BOM) and XLSX hold what was stored; formulas stay text."""

from __future__ import annotations

import io
import uuid

import openpyxl
import pandas as pd
import pytest
from conftest import full_answers
from sqlalchemy import select

from questionnaires import load_questionnaire
from survey.db import session_scope
from survey.exports import ExportError, export_campaign, export_response, format_of
from survey.models import AuditEvent, Campaign, Response
from survey.storage import save_response

pytestmark = pytest.mark.db

SIPAS_2023 = load_questionnaire("sipas-2023")
FORMULA = '=HYPERLINK("http://x","y")'
COMMENTS = [FORMULA, "Cán bộ xã Trà Bùi nhiệt tình; đề nghị thêm ghế chờ.", "+84 905 123 456", None]


@pytest.fixture
def stored_campaign(app, make_campaign):
    """A sipas-2023 campaign with four responses; returns (campaign id, {instance id: stored answers})."""
    campaign_id, _ = make_campaign(
        "sipas-2023", units=[("tra-bui", "Xã Trà Bùi"), ("son-tra", "Xã Sơn Trà")], kiosk_units=()
    )
    stored = {}
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        for i, comment in enumerate(COMMENTS):
            overrides = {
                "da_thuc_hien_tthc": "1" if i % 2 == 0 else "2",
                "da_gop_y": "1",
                "kenh_tiep_nhan": ["mang_xa_hoi", "hop_thon"] if i == 1 else ["truyen_hinh"],
                "y_kien_khac": comment,
            }
            response, _ = save_response(
                session,
                campaign=campaign,
                unit_code="tra-bui" if i < 3 else "son-tra",
                instance_id=str(uuid.uuid4()),
                answers=full_answers(SIPAS_2023, overrides, likert=str(1 + i)),
                questionnaire_id="sipas-2023",
                version="2023.1",
                started_at="2024-05-02T08:00:00+07:00",
                submitted_at=f"2024-05-02T08:1{i}:00+07:00",
                source="kiosk",
            )
            stored[response.instance_id] = dict(response.answers)
    return campaign_id, stored


def _expected(answers, code):
    value = answers.get(code)
    if isinstance(value, list):
        return " ".join(value)
    return value


def _items():
    return [q.code for q in SIPAS_2023.questions() if q.type.is_answerable]


def test_csv_export_has_a_bom_and_the_stored_values(app, stored_campaign, tmp_path):
    campaign_id, stored = stored_campaign
    out = tmp_path / "phieu.csv"
    with app.app_context(), session_scope() as session:
        rows = export_campaign(session, session.get(Campaign, campaign_id), out)
    assert rows == 4
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "Cán bộ xã Trà Bùi nhiệt tình".encode() in raw

    frame = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(frame.columns[:4]) == ["response_id", "unit", "stratum", "group"]
    assert list(frame.columns[4 : 4 + len(_items())]) == _items()
    assert list(frame.columns[-8:]) == [
        "questionnaire_version",
        "language",
        "source",
        "kiosk",
        "enumerator",
        "started_at",
        "submitted_at",
        "received_at",
    ]
    assert set(frame["response_id"]) == set(stored)
    for _, line in frame.iterrows():
        answers = stored[line["response_id"]]
        for code in _items():
            expected = _expected(answers, code)
            if expected is None:
                assert line[code] == "", code
            elif code == "y_kien_khac" and expected[0] in "=+-@":
                assert line[code] == "'" + expected  # neutralised: a spreadsheet shows it as text
            else:
                assert line[code] == expected, code
    assert sorted(frame["y_kien_khac"]) == sorted(["'" + FORMULA, COMMENTS[1], "'" + COMMENTS[2], ""])


def test_xlsx_export_keeps_values_and_writes_formulas_as_text(app, stored_campaign, tmp_path):
    campaign_id, stored = stored_campaign
    out = tmp_path / "phieu.xlsx"
    with app.app_context(), session_scope() as session:
        export_campaign(session, session.get(Campaign, campaign_id), out)

    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["Dữ liệu", "Mã hoá"]
    sheet = workbook["Dữ liệu"]
    header = [c.value for c in sheet[1]]
    comment_col = header.index("y_kien_khac")
    formula_cells = [
        row[comment_col] for row in sheet.iter_rows(min_row=2) if row[comment_col].value == FORMULA
    ]
    assert len(formula_cells) == 1 and formula_cells[0].data_type == "s"
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)

    frame = pd.read_excel(out, sheet_name="Dữ liệu", dtype=str, keep_default_na=False)
    for _, line in frame.iterrows():
        answers = stored[line["response_id"]]
        for code in _items():
            expected = _expected(answers, code)
            assert line[code] == ("" if expected is None else expected), code
    codebook = pd.read_excel(out, sheet_name="Mã hoá", dtype=str)
    assert "Người dân, tổ chức" in set(codebook["Nhãn lựa chọn"])
    assert {"tiep_can_1", "y_kien_khac"} <= set(codebook["Mã câu hỏi"])
    described = codebook.drop_duplicates("Mã câu hỏi").set_index("Mã câu hỏi")["Nội dung câu hỏi"]
    assert described["source"].startswith("Nguồn phiếu")
    assert described["received_at"] == "Thời điểm máy chủ nhận phiếu (UTC)"


def test_exports_are_audited(app, stored_campaign, tmp_path):
    campaign_id, _ = stored_campaign
    with app.app_context(), session_scope() as session:
        export_campaign(session, session.get(Campaign, campaign_id), tmp_path / "a.xlsx")
    with app.app_context(), session_scope() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
        assert event.detail["campaign_id"] == campaign_id
        assert event.detail["format"] == "xlsx" and event.detail["rows"] == 4


def test_a_download_response_for_the_admin_pages(app, stored_campaign):
    campaign_id, stored = stored_campaign
    with app.test_request_context("/admin/x"):
        from survey.db import get_session

        session = get_session()
        response = export_response(session, session.get(Campaign, campaign_id), "csv")
        response.direct_passthrough = False
        body = response.get_data()
        response.close()
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    frame = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig", dtype=str)
    assert set(frame["response_id"]) == set(stored)
    with app.app_context(), session_scope() as s:
        assert (
            s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one().detail["format"] == "csv"
        )


def test_export_formats_and_errors(app, stored_campaign, tmp_path):
    assert format_of("a/b.CSV") == "csv" and format_of("x.xlsx") == "xlsx"
    with pytest.raises(ExportError, match=r"\.pdf"):
        format_of("bao-cao.pdf")
    campaign_id, _ = stored_campaign
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        with pytest.raises(ExportError):
            export_campaign(session, campaign, io.BytesIO())  # a stream needs an explicit format
        with pytest.raises(ExportError, match="không ghi được"):
            export_campaign(session, campaign, tmp_path / "khong-co" / "sub" / "a.csv")
        assert session.scalar(select(Response.id).limit(1)) is not None
