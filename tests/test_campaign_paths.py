"""One campaign, three paths: `sipas score --campaign`, `sipas report --campaign` and the admin download
give the same indices, confidence intervals and ranks (they share survey.design and analysis.options)."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

import openpyxl
import pytest
from click.testing import CliRunner

from questionnaires import load_questionnaire
from reports.workbook import SHEET_RANKING
from survey.campaigns import close_campaign, create_campaign
from survey.cli import cli
from survey.db import session_scope
from survey.models import Campaign
from survey.storage import save_response
from survey.users import create_user

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
UNITS = [("tra-xuan", "Thị trấn Trà Xuân"), ("tra-bui", "Xã Trà Bùi"), ("son-tra", "Xã Sơn Trà")]
# unit -> procedure field (the stratum) -> the answer to every criterion, one character per response
ANSWERS = {
    "tra-xuan": {"ho_tich": "552", "dat_dai": "224"},
    "tra-bui": {"ho_tich": "45", "dat_dai": "5553"},
    "son-tra": {"ho_tich": "1124", "dat_dai": "444"},
}
FRAMES = {
    "stratified": {
        ("tra-xuan", "ho_tich"): 100, ("tra-xuan", "dat_dai"): 300,
        ("tra-bui", "ho_tich"): 80, ("tra-bui", "dat_dai"): 90,
        ("son-tra", "ho_tich"): 50, ("son-tra", "dat_dai"): 150,
    },
    "unstratified": {("tra-xuan", ""): 400, ("tra-bui", ""): 170, ("son-tra", ""): 200},  # stratum "": none
}  # fmt: skip


def satisfied(answers: str) -> float:
    return sum(a in "45" for a in answers) / len(answers)


def expected_index(frame: str, unit: str) -> float:
    """Every criterion's (so the index's) weighted share of 4-5 answers: sum N_h·p_h / sum N_h."""
    share = {field: satisfied(answers) for field, answers in ANSWERS[unit].items()}
    if frame == "unstratified":  # one cell per unit: every response weighs the same
        return 100 * satisfied("".join(ANSWERS[unit].values()))
    cells = {field: n for (code, field), n in FRAMES[frame].items() if code == unit}
    return 100 * sum(cells[field] * share[field] for field in cells) / sum(cells.values())


PASSWORD = "mat-khau-chuyen-vien"
RANKING_COLUMNS = ("Hạng", "Chỉ số (%)", "Cận dưới", "Cận trên", "Mã đơn vị")


def _campaign(app, frame: str) -> int:
    """Store a campaign of three communes with the given frame, and the responses of ANSWERS."""
    likert = [q.code for q in SIPAS_2017.questions() if q.appearance == "likert" and not q.relevant]
    with app.app_context(), session_scope() as session:
        campaign_id = create_campaign(
            session,
            name=f"SIPAS 2024 — {frame}",
            questionnaire="sipas-2017",
            units=UNITS,
            frame_cells=FRAMES[frame],
            period_start="2024-01-01",
            period_end="2024-06-30",
            margin_of_error=0.1,
        ).id
        campaign = session.get(Campaign, campaign_id)
        for unit, fields in ANSWERS.items():
            for field, answers_given in fields.items():
                for i, answer in enumerate(answers_given):
                    answers = {"linh_vuc": field, "gioi_tinh": "12"[i % 2], "do_tuoi": "2", "da_gop_y": "2"}
                    save_response(
                        session,
                        campaign=campaign,
                        unit_code=unit,
                        instance_id=str(uuid.uuid4()),
                        answers=answers | dict.fromkeys(likert, answer),
                        questionnaire_id="sipas-2017",
                        version=SIPAS_2017.version,
                        started_at=None,
                        submitted_at=None,
                        source="paper",
                    )
    return campaign_id


def same(values: dict[str, tuple]):
    """Equal to ``values`` as a workbook keeps them: Excel stores 15 significant digits."""
    return {unit: pytest.approx(row, rel=1e-14, abs=1e-12) for unit, row in values.items()}


def _sipas(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _from_json(path) -> dict[str, tuple]:
    units = json.loads(path.read_text(encoding="utf-8"))["units"]
    return {u["unit"]: (u["index"], u["ci_low"], u["ci_high"], u["rank"]) for u in units}


def _from_workbook(source) -> tuple[dict[str, tuple], tuple[str, str, str]]:
    """Index, CI low and high, and rank per unit code from the ranking sheet; title, period and status."""
    book = openpyxl.load_workbook(source)
    rows = [list(row) for row in book[SHEET_RANKING].iter_rows(values_only=True)]
    period = next(c for row in rows for c in row if isinstance(c, str) and c.startswith("Kỳ đánh giá"))
    status = next(c for row in rows for c in row if isinstance(c, str) and c.startswith("Đợt khảo sát "))
    head = next(i for i, row in enumerate(rows) if row and row[0] == "Hạng")
    header = rows[head]
    rank, index, low, high, code = (header.index(name) for name in RANKING_COLUMNS)
    unit_codes = {unit for unit, _ in UNITS}
    values = {
        row[code]: (row[index], row[low], row[high], row[rank])
        for row in rows[head + 1 :]
        if len(row) > code and row[code] in unit_codes
    }
    return values, (book.properties.title, period, status)


def _download(app, campaign_id: int) -> tuple[dict[str, tuple], tuple[str, str, str]]:
    with app.app_context(), session_scope() as session:
        create_user(session, "chuyen_vien", PASSWORD, "analyst")
    client = app.test_client()
    login = client.post("/admin/login", data={"username": "chuyen_vien", "password": PASSWORD})
    assert login.status_code == 302
    reply = client.get(f"/admin/campaigns/{campaign_id}/report.xlsx")
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    try:
        return _from_workbook(io.BytesIO(reply.data))
    finally:
        reply.close()


@pytest.fixture
def staff_app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)


@pytest.mark.parametrize("frame", ["stratified", "unstratified"])
def test_score_report_and_the_admin_download_agree(staff_app, database_url, tmp_path, frame):
    campaign_id = str(_campaign(staff_app, frame))
    source = ["--campaign", campaign_id, "--database-url", database_url]
    _sipas("score", *source, "-o", str(tmp_path / "chi-so.json"))
    _sipas("report", *source, "--no-figures", "-o", str(tmp_path / "bao-cao.xlsx"))

    scored = _from_json(tmp_path / "chi-so.json")
    expected = {code: expected_index(frame, code) for code, _ in UNITS}
    assert {unit: values[0] for unit, values in scored.items()} == pytest.approx(expected, abs=1e-9)
    assert all(low < index < high for index, low, high, _ in scored.values())
    assert [scored[unit][3] for unit in sorted(expected, key=expected.get, reverse=True)] == [1, 2, 3]
    reported, heading = _from_workbook(tmp_path / "bao-cao.xlsx")
    downloaded, downloaded_heading = _download(staff_app, int(campaign_id))
    assert reported == same(scored) and downloaded == same(scored)
    # The campaign's name, period and state head both workbooks.
    assert heading[:2] == (f"SIPAS 2024 — {frame}", "Kỳ đánh giá: 2024-01-01 – 2024-06-30")
    assert heading[2].startswith("Đợt khảo sát đang thu phiếu (số liệu tạm tính đến ")
    assert downloaded_heading[:2] == heading[:2] and downloaded_heading[2].startswith(heading[2][:45])


def test_the_report_of_a_closed_campaign_says_when_it_closed(staff_app, database_url, tmp_path):
    campaign_id = _campaign(staff_app, "stratified")
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        close_campaign(session, campaign)
        campaign.closed_at = datetime(2024, 6, 30, 10, 0, tzinfo=UTC)  # 17:00 in Vietnam
    source = ["--campaign", str(campaign_id), "--database-url", database_url]
    _sipas("report", *source, "--no-figures", "-o", str(tmp_path / "bao-cao.xlsx"))
    _, heading = _from_workbook(tmp_path / "bao-cao.xlsx")
    closed = "Đợt khảo sát đã kết thúc ngày 30/06/2024; số liệu là kết quả cuối cùng của đợt."
    assert heading[2] == closed
    method = openpyxl.load_workbook(tmp_path / "bao-cao.xlsx")["Phương pháp"]
    rows = {row[0]: row[1] for row in method.iter_rows(values_only=True) if row and row[0]}
    assert rows["Trạng thái đợt khảo sát"] == closed


def test_score_and_report_agree_with_margins(staff_app, database_url, tmp_path):
    campaign_id = str(_campaign(staff_app, "stratified"))
    margins = tmp_path / "bien.csv"
    margins.write_text("variable,category,population\ngioi_tinh,1,420\ngioi_tinh,2,350\n", encoding="utf-8")
    source = ["--campaign", campaign_id, "--database-url", database_url, "--margins", str(margins)]
    _sipas("score", *source, "-o", str(tmp_path / "chi-so.json"))
    _sipas("report", *source, "--no-figures", "-o", str(tmp_path / "bao-cao.xlsx"))
    scored = _from_json(tmp_path / "chi-so.json")
    assert json.loads((tmp_path / "chi-so.json").read_text(encoding="utf-8"))["weighting"] == "poststratified"
    assert _from_workbook(tmp_path / "bao-cao.xlsx")[0] == same(scored)
    _sipas("score", "--campaign", campaign_id, "--database-url", database_url, "-o", str(tmp_path / "d.json"))
    assert _from_json(tmp_path / "d.json") != scored  # the margins changed the weights
