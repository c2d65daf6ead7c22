"""Scoring counts only scorable forms and says what it left out; flagged forms leave only when asked; the
report's sheet "Chất lượng dữ liệu" and its sensitivity columns (issue 11, point 5), on SQLite and
PostgreSQL.

The stored campaign: three communes with one tablet each, honest forms spread over a working day, one
form rejected by a reviewer, one tablet form arriving after closing (late), two planted speeders and one
paper form keyed 40 days after the date written on it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import full_answers
from sqlalchemy import create_engine, select

import analysis
from analysis.cli import score
from analysis.integrity import LATE_KEYING, SPEEDING
from analysis.options import LOADER_KEY, ScoringOptions, score_arguments
from questionnaires import load_questionnaire
from reports.quality import SHEET_QUALITY
from reports.workbook import SHEET_METHOD, SHEET_RANKING, build_report
from survey import models
from survey.campaigns import close_campaign, create_campaign, create_kiosk
from survey.cli import cli
from survey.db import session_scope
from survey.design import read_design
from survey.models import Campaign, Kiosk
from survey.review import exclude
from survey.storage import save_response
from survey.users import create_user

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
UNITS = [("tra-xuan", "Thị trấn Trà Xuân"), ("tra-bui", "Xã Trà Bùi"), ("son-tra", "Xã Sơn Trà")]
LIKERT = [q.code for q in SIPAS_2017.questions() if q.appearance == "likert" and not q.relevant]
HONEST_PER_UNIT = 14
# Monday 6 May 2024, 09:00 in Vietnam: every honest tablet form falls in office hours.
MORNING = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)
PASSWORD = "mat-khau-chuyen-vien"


def _answers(rng: random.Random) -> dict:
    """A complete form whose 18 Likert answers vary (no straight-lining, no two forms alike)."""
    answers = full_answers(SIPAS_2017, {"da_gop_y": "2"})
    for code in LIKERT:
        if code in answers:
            answers[code] = rng.choice("2345")
    return answers


def _save(session, campaign, unit, answers, *, source, started=None, submitted=None, kiosk=None, by=None):
    response, created = save_response(
        session,
        campaign=campaign,
        unit_code=unit,
        instance_id=str(uuid.uuid4()),
        answers=answers,
        questionnaire_id="sipas-2017",
        version=SIPAS_2017.version,
        started_at=started,
        submitted_at=submitted,
        source=source,
        kiosk=kiosk,
        entered_by=by,
    )
    assert created
    return response.instance_id


@pytest.fixture
def campaign(make_app):
    """Store the campaign; return the app, its id and what was planted (ids by kind, per unit)."""
    app = make_app(WTF_CSRF_ENABLED=False)
    rng = random.Random(20240506)
    planted: dict[str, list[str]] = {"speeding": [], "late_keying": [], "rejected": [], "late": []}
    stored: dict[str, list[tuple[str, str]]] = {unit: [] for unit, _ in UNITS}  # unit -> (id, source)
    with app.app_context(), session_scope() as session:
        c = create_campaign(
            session, name="SIPAS 2024 — kiểm tra dữ liệu", questionnaire="sipas-2017", units=UNITS
        )
        kiosks = {unit: create_kiosk(session, c, unit, counter="Quầy 1")[0] for unit, _ in UNITS}
        clerk = create_user(session, "nhap_lieu", PASSWORD, "enumerator")
        create_user(session, "chuyen_vien", PASSWORD, "analyst")
        session.commit()
        campaign_id = c.id
        c = session.get(Campaign, campaign_id)
        for unit, _ in UNITS:
            kiosk = session.get(Kiosk, kiosks[unit].id)
            for i in range(HONEST_PER_UNIT + (2 if unit == "tra-bui" else 0)):
                submitted = MORNING + timedelta(minutes=17 * i)  # one form per 17 minutes: no burst
                speeder = i >= HONEST_PER_UNIT
                seconds = 20 if speeder else 240 + (37 * i) % 120
                rid = _save(
                    session,
                    c,
                    unit,
                    _answers(rng),
                    source="kiosk",
                    kiosk=kiosk,
                    started=submitted - timedelta(seconds=seconds),
                    submitted=submitted,
                )
                stored[unit].append((rid, "kiosk"))
                if speeder:
                    planted["speeding"].append(rid)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for days in (1, 2, 40):  # the date written on each paper form; the third is keyed 40 days late
            rid = _save(
                session,
                c,
                "son-tra",
                _answers(rng),
                source="paper",
                submitted=today - timedelta(days=days),
                by=clerk,
            )
            stored["son-tra"].append((rid, "paper"))
            if days == 40:
                planted["late_keying"].append(rid)
        rejected = stored["tra-xuan"][3][0]
        exclude(
            session,
            session.scalars(select(models.Response).where(models.Response.instance_id == rejected)).one(),
            "Phiếu thử của cán bộ xã",
        )
        planted["rejected"].append(rejected)
        c = session.get(Campaign, campaign_id)
        close_campaign(session, c)
        session.commit()
        # A tablet's queued form, filled before closing, arrives after: kept apart as late.
        late_at = datetime.now(UTC) - timedelta(minutes=5)
        rid = _save(
            session,
            session.get(Campaign, campaign_id),
            "son-tra",
            _answers(rng),
            source="kiosk",
            kiosk=session.get(Kiosk, kiosks["son-tra"].id),
            started=late_at - timedelta(minutes=4),
            submitted=late_at,
        )
        stored["son-tra"].append((rid, "kiosk"))
        planted["late"].append(rid)
    return app, campaign_id, planted, stored


def _sipas(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _design(database_url: str, campaign_id: int):
    engine = create_engine(database_url)
    try:
        return read_design(engine, campaign_id)
    finally:
        engine.dispose()


def _indices(path) -> dict[str, tuple]:
    units = json.loads(path.read_text(encoding="utf-8"))["units"]
    return {u["unit"]: (u["index"], u["rank"], u["n"]) for u in units}


def _expected(table: analysis.IndexTable) -> dict[str, tuple]:
    return {u.unit: (u.index, u.rank, u.n) for u in table.units}


def _has_keyings() -> bool:
    return hasattr(models, "PaperKeying")


# ------------------------------------------------------------------------------------------ tests
def test_the_frame_carries_kiosk_enumerator_and_received_at(campaign, database_url, tmp_path):
    app, campaign_id, planted, stored = campaign
    frame = _design(database_url, campaign_id).responses
    assert {"kiosk", "enumerator", "received_at"} <= set(frame.columns)
    paper = frame["source"] == "paper"
    assert (
        set(frame.loc[paper, "enumerator"]) == {"nhap_lieu"} and frame.loc[~paper, "enumerator"].isna().all()
    )
    assert frame.loc[paper, "kiosk"].isna().all()
    # One tablet per commune, named by its id and its counter; the three are told apart.
    names = frame.loc[~paper].groupby("unit")["kiosk"].unique()
    assert all(len(n) == 1 and re.fullmatch(r"\d+ \(Quầy 1\)", n[0]) for n in names)
    assert len({n[0] for n in names}) == 3
    assert frame["received_at"].notna().all() and str(frame["received_at"].dt.tz) == "UTC"
    # Metadata, not items: scoring accepts the table as it is.
    analysis.score(SIPAS_2017, frame)


def test_sipas_export_writes_kiosk_enumerator_and_received_at(campaign, database_url, tmp_path):
    _, campaign_id, planted, _ = campaign
    frame = _design(database_url, campaign_id).responses
    out = tmp_path / "phieu.csv"
    _sipas("export", "--campaign", str(campaign_id), "--out", str(out), "--database-url", database_url)
    exported = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False).set_index(
        "response_id"
    )
    clerk_rows = exported.loc[exported["source"] == "paper"]
    assert set(clerk_rows["enumerator"]) == {"nhap_lieu"} and set(clerk_rows["kiosk"]) == {""}
    assert pd.to_datetime(exported["received_at"], utc=True, format="ISO8601").notna().all()
    assert set(exported.index) == set(frame["response_id"]) | set(planted["late"])  # export keeps late forms


def test_the_checks_find_exactly_the_planted_forms_on_the_stored_campaign(campaign, database_url):
    _, campaign_id, planted, _ = campaign
    frame = _design(database_url, campaign_id).responses
    report = analysis.check_integrity(SIPAS_2017, frame)
    assert {s.rule for s in report.skipped} == {"unit_jump"}  # every form check ran, bursts included
    flagged = {
        rule: set(report.flags.loc[report.flags["rule"] == rule, "response_id"])
        for rule in (SPEEDING, LATE_KEYING)
    }
    assert flagged == {SPEEDING: set(planted["speeding"]), LATE_KEYING: set(planted["late_keying"])}
    assert set(report.flagged_ids()) == set(planted["speeding"]) | set(planted["late_keying"])


def test_score_says_what_it_left_out_and_why(campaign, database_url, tmp_path):
    _, campaign_id, planted, stored = campaign
    source = ["--campaign", str(campaign_id), "--database-url", database_url]
    output = _sipas("score", *source, "-o", str(tmp_path / "a.json"))
    assert "đã loại 1 phiếu bị từ chối, 1 phiếu đến muộn (left out: 1 rejected, 1 late)" in output
    assert "đánh dấu" not in output  # flags never exclude by themselves
    design = _design(database_url, campaign_id)
    assert _indices(tmp_path / "a.json") == _expected(
        analysis.score(**score_arguments(ScoringOptions(campaign=campaign_id), design))
    )
    # The design's counts, against what was stored.
    quality = design.quality
    for unit, forms in stored.items():
        row = quality.loc[unit]
        rejected = sum(rid in planted["rejected"] for rid, _ in forms)
        late = sum(rid in planted["late"] for rid, _ in forms)
        assert row["received"] == len(forms)
        assert row["kiosk"] == sum(s == "kiosk" for _, s in forms) and row["paper"] == sum(
            s == "paper" for _, s in forms
        )
        assert (row["api"], row["rejected"], row["late"]) == (0, rejected, late)
        assert row["scored"] == len(forms) - rejected - late == (design.responses["unit"] == unit).sum()
    if _has_keyings():
        assert quality["double_entry"].sum() == 0


def test_exclude_flagged_scores_as_if_the_flagged_forms_were_not_there(campaign, database_url, tmp_path):
    _, campaign_id, planted, _ = campaign
    source = ["--campaign", str(campaign_id), "--database-url", database_url]
    output = _sipas("score", *source, "--exclude-flagged", "-o", str(tmp_path / "b.json"))
    assert (
        "đã loại 1 phiếu bị từ chối, 1 phiếu đến muộn, 3 phiếu bị đánh dấu "
        "(left out: 1 rejected, 1 late, 3 flagged)" in output
    )
    assert "Trả lời quá nhanh (speeding): 2" in output and "Phiếu giấy nhập muộn (late_keying): 1" in output
    assert "(flagged forms left out by rule: speeding 2, late_keying 1)" in output
    design = _design(database_url, campaign_id)
    arguments = score_arguments(ScoringOptions(campaign=campaign_id), design)
    frame = arguments.pop("responses")
    doubtful = set(planted["speeding"]) | set(planted["late_keying"])
    kept = frame.loc[~frame["response_id"].isin(doubtful)]
    assert len(kept) == len(frame) - 3
    expected = _expected(analysis.score(responses=kept, **arguments))
    assert _indices(tmp_path / "b.json") == expected
    assert _indices(tmp_path / "b.json") != _indices_of_default(source, tmp_path)
    # plot takes the same option and says the same.
    out = _sipas("plot", *source, "--exclude-flagged", "-o", str(tmp_path / "c.png"))
    assert "(left out: 1 rejected, 1 late, 3 flagged)" in out


def _indices_of_default(source, tmp_path) -> dict:
    _sipas("score", *source, "-o", str(tmp_path / "default.json"))
    return _indices(tmp_path / "default.json")


def test_a_responses_file_is_checked_on_its_own_columns(campaign, database_url, tmp_path):
    _, campaign_id, planted, _ = campaign
    frame = _design(database_url, campaign_id).responses.drop(columns=["kiosk", "enumerator", "received_at"])
    path = tmp_path / "phieu.csv"
    frame.to_csv(path, index=False)
    output = _sipas(
        "score", "-q", "sipas-2017", "-r", str(path), "--exclude-flagged", "-o", str(tmp_path / "f.json")
    )
    assert "(left out: 2 flagged)" in output  # only the speeders: no received_at, no late keying
    skipped = next(line for line in output.splitlines() if line.startswith("kiểm tra không chạy"))
    for rule in ("burst_kiosk", "burst_enumerator", "late_keying"):
        assert rule in skipped
    assert "bảng phiếu không có cột kiosk" in skipped and "speeding" not in skipped
    table = analysis.read_responses(path, SIPAS_2017)
    kept = table.loc[~table["response_id"].isin(set(planted["speeding"]))]
    assert _indices(tmp_path / "f.json") == _expected(analysis.score(SIPAS_2017, kept))
    # Without --exclude-flagged a file scores as before, and nothing is said about leaving forms out.
    plain = _sipas("score", "-q", "sipas-2017", "-r", str(path), "-o", str(tmp_path / "g.json"))
    assert "(left out:" not in plain
    assert _indices(tmp_path / "g.json") == _expected(analysis.score(SIPAS_2017, table))


def _sheet_rows(book, name: str) -> list[list]:
    return [list(row) for row in book[name].iter_rows(values_only=True)]


def _quality_rows(book) -> tuple[dict[str, dict[str, object]], dict[str, object]]:
    """The quality sheet's unit rows by unit code, each as header -> value, and the totals row."""
    rows = _sheet_rows(book, SHEET_QUALITY)
    head = next(i for i, row in enumerate(rows) if row[0] == "Đơn vị")
    header = rows[head]
    units = {}
    totals = {}
    for row in rows[head + 1 :]:
        if row[0] == "Tổng cộng":
            totals = dict(zip(header, row, strict=True))
            break
        values = dict(zip(header, row, strict=True))
        units[values["Mã đơn vị"]] = values
    return units, totals


def _check_quality_sheet(book, design, planted, stored) -> None:
    frame = design.responses
    arguments = score_arguments(ScoringOptions(campaign=design.campaign_id), design)
    arguments.pop("questionnaire"), arguments.pop("responses")
    report = analysis.check_integrity(SIPAS_2017, frame)
    sensitivity = analysis.sensitivity(SIPAS_2017, frame, report, **arguments).set_index("unit")
    units, totals = _quality_rows(book)
    assert set(units) == {unit for unit, _ in UNITS}
    for unit, forms in stored.items():
        row = units[unit]
        rejected = sum(rid in planted["rejected"] for rid, _ in forms)
        late = sum(rid in planted["late"] for rid, _ in forms)
        speeding = sum(rid in planted["speeding"] for rid, _ in forms)
        late_keying = sum(rid in planted["late_keying"] for rid, _ in forms)
        assert row["Tổng số"] == len(forms)
        assert row["Máy tính bảng (kiosk)"] == sum(s == "kiosk" for _, s in forms)
        assert row["Phiếu giấy (paper)"] == sum(s == "paper" for _, s in forms)
        assert row["Ứng dụng khác (api)"] == row["Điện thoại người dân (phone)"] == 0
        assert (row["Bị từ chối (rejected)"], row["Đến muộn (late)"]) == (rejected, late)
        assert row["Trả lời quá nhanh (speeding)"] == speeding == report.counts.loc[unit, SPEEDING]
        assert (
            row["Phiếu giấy nhập muộn (late_keying)"] == late_keying == report.counts.loc[unit, LATE_KEYING]
        )
        assert row["Bất kỳ luật nào"] == speeding + late_keying == report.counts.loc[unit, "flagged"]
        assert row["Được tính vào chỉ số"] == len(forms) - rejected - late
        if _has_keyings():
            assert row["Nhập hai lần chưa khớp"] == 0
        s = sensitivity.loc[unit]
        assert row["Chỉ số (gồm phiếu bị đánh dấu)"] == pytest.approx(s["index"], rel=1e-14)
        assert row["Chỉ số khi bỏ phiếu bị đánh dấu"] == pytest.approx(s["index_without"], rel=1e-14)
        assert (row["Hạng"], row["Hạng khi bỏ"]) == (s["rank"], s["rank_without"])
        assert row["Thay đổi chỉ số"] == pytest.approx(s["index_change"], rel=1e-12, abs=1e-12)
        # The sensitivity changes exactly the units holding flagged forms.
        assert (s["index_change"] != 0) == (speeding + late_keying > 0)
    assert totals["Tổng số"] == sum(len(f) for f in stored.values())
    assert totals["Bị từ chối (rejected)"] == 1 and totals["Đến muộn (late)"] == 1
    assert totals["Bất kỳ luật nào"] == 3 and totals["Hạng"] is None
    method = [c for row in _sheet_rows(book, SHEET_METHOD) for c in row if isinstance(c, str)]
    assert any(
        "đã loại 1 phiếu bị từ chối, 1 phiếu đến muộn (left out: 1 rejected, 1 late)" in c for c in method
    )
    assert any("vẫn được tính" in c for c in method)


def test_the_report_has_the_quality_sheet_and_the_sensitivity_columns(campaign, database_url, tmp_path):
    _, campaign_id, planted, stored = campaign
    out = tmp_path / "bao-cao.xlsx"
    source = ["--campaign", str(campaign_id), "--database-url", database_url]
    output = _sipas("report", *source, "--no-figures", "-o", str(out))
    assert "(left out: 1 rejected, 1 late)" in output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[:4] == [SHEET_RANKING, "Theo yếu tố", "Theo tiêu chí", SHEET_QUALITY]
    assert len(SHEET_QUALITY) <= 31
    _check_quality_sheet(book, _design(database_url, campaign_id), planted, stored)


def test_the_admin_download_has_the_same_quality_sheet(campaign, database_url):
    app, campaign_id, planted, stored = campaign
    client = app.test_client()
    login = client.post("/admin/login", data={"username": "chuyen_vien", "password": PASSWORD})
    assert login.status_code == 302
    reply = client.get(f"/admin/campaigns/{campaign_id}/report.xlsx")
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    try:
        book = openpyxl.load_workbook(io.BytesIO(reply.data))
    finally:
        reply.close()
    _check_quality_sheet(book, _design(database_url, campaign_id), planted, stored)


def test_report_with_exclude_flagged_ranks_without_them_and_says_so(campaign, database_url, tmp_path):
    _, campaign_id, planted, _ = campaign
    out = tmp_path / "bao-cao.xlsx"
    source = ["--campaign", str(campaign_id), "--database-url", database_url]
    output = _sipas("report", *source, "--exclude-flagged", "--no-figures", "-o", str(out))
    assert "(left out: 1 rejected, 1 late, 3 flagged)" in output
    book = openpyxl.load_workbook(out)
    units, totals = _quality_rows(book)
    assert totals["Được tính vào chỉ số"] == totals["Tổng số"] - 2 - 3
    method = [c for row in _sheet_rows(book, SHEET_METHOD) for c in row if isinstance(c, str)]
    assert any("3 phiếu bị đánh dấu (left out: 1 rejected, 1 late, 3 flagged)" in c for c in method)
    assert any("--exclude-flagged" in c for c in method)
    # The ranking sheet holds the indices without the flagged forms.
    design = _design(database_url, campaign_id)
    arguments = score_arguments(ScoringOptions(campaign=campaign_id), design)
    frame = arguments.pop("responses")
    doubtful = set(planted["speeding"]) | set(planted["late_keying"])
    table = analysis.score(responses=frame.loc[~frame["response_id"].isin(doubtful)], **arguments)
    rows = _sheet_rows(book, SHEET_RANKING)
    head = next(i for i, row in enumerate(rows) if row and row[0] == "Hạng")
    code, index = rows[head].index("Mã đơn vị"), rows[head].index("Chỉ số (%)")
    shown = {row[code]: row[index] for row in rows[head + 1 :] if len(row) > code and row[code] in units}
    assert shown == {u.unit: pytest.approx(u.index, rel=1e-14) for u in table.units}


@pytest.mark.skipif(not _has_keyings(), reason="the app keeps no paper keyings yet")
def test_a_paper_serial_awaiting_its_second_keying_is_counted_as_left_out(campaign, database_url, tmp_path):
    app, campaign_id, _, _ = campaign
    with app.app_context(), session_scope() as session:
        clerk = session.scalars(select(models.User).where(models.User.username == "nhap_lieu")).one()
        session.add(
            models.PaperKeying(
                campaign_id=campaign_id,
                unit_code="tra-bui",
                paper_serial="TB-0007",
                instance_id=str(uuid.uuid4()),
                user_id=clerk.id,
                username=clerk.username,
                answers=_answers(random.Random(7)),
                state="pending",
            )
        )
        session.commit()
    output = _sipas(
        "score",
        "--campaign",
        str(campaign_id),
        "--database-url",
        database_url,
        "-o",
        str(tmp_path / "k.json"),
    )
    assert (
        "đã loại 1 phiếu bị từ chối, 1 phiếu đến muộn, 1 phiếu giấy chưa khớp hai lần nhập "
        "(left out: 1 rejected, 1 late, 1 double entry not settled)" in output
    )
    quality = _design(database_url, campaign_id).quality
    assert quality.loc["tra-bui", ["received", "paper", "double_entry"]].tolist() == [17, 1, 1]


def _options(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", help_text.split("Options:", 1)[1]))


def test_report_and_plot_help_list_every_option_of_score():
    score_help = CliRunner().invoke(cli, ["score", "--help"]).output
    # --by is score's own output (one row per language); the workbook writes its language sheet itself.
    wanted = _options(score_help) - {"-o", "--out", "--by"}
    assert {"--include-flagged", "--exclude-flagged", "--campaign", "-r", "--responses"} <= wanted
    for command in ("report", "plot"):
        theirs = _options(CliRunner().invoke(cli, [command, "--help"]).output)
        assert wanted <= theirs, (command, wanted - theirs)


def test_the_campaigns_own_check_settings_decide_what_is_flagged(campaign, database_url, tmp_path):
    _, campaign_id, planted, _ = campaign
    design = dataclasses.replace(_design(database_url, campaign_id), integrity_settings={"speeding": False})
    out = tmp_path / "s.json"
    args = ["--campaign", str(campaign_id), "--exclude-flagged", "-o", str(out)]
    result = CliRunner().invoke(score, args, obj={LOADER_KEY: lambda *_: design})
    assert result.exit_code == 0, result.output
    assert "(left out: 1 rejected, 1 late, 1 flagged)" in result.output
    assert "speeding: tắt trong cài đặt (turned off in the settings)" in result.output
    arguments = score_arguments(ScoringOptions(campaign=campaign_id), design)
    frame = arguments.pop("responses")
    kept = frame.loc[~frame["response_id"].isin(set(planted["late_keying"]))]
    assert _indices(out) == _expected(analysis.score(responses=kept, **arguments))
    bad = dataclasses.replace(design, integrity_settings={"speeding_fraction": 2})
    refused = CliRunner().invoke(score, args, obj={LOADER_KEY: lambda *_: bad})
    assert (
        refused.exit_code == 1 and "speeding_fraction" in refused.output and "Traceback" not in refused.output
    )


def test_build_report_without_the_quality_tables_has_no_quality_sheet(campaign, database_url, tmp_path):
    _, campaign_id, _, _ = campaign
    design = _design(database_url, campaign_id)
    arguments = score_arguments(ScoringOptions(campaign=campaign_id), design)
    sheets = build_report(analysis.score(**arguments), SIPAS_2017, tmp_path / "r.xlsx", pictures=False)
    assert SHEET_QUALITY not in sheets
    method = [
        c for row in _sheet_rows(openpyxl.load_workbook(tmp_path / "r.xlsx"), SHEET_METHOD) for c in row
    ]
    assert "Phiếu được tính" not in method


@pytest.mark.skipif(
    not hasattr(Campaign, "integrity_settings"), reason="campaigns keep no check settings yet"
)
def test_settings_stored_with_the_campaign_are_read_with_its_design(campaign, database_url, tmp_path):
    app, campaign_id, _, _ = campaign
    with app.app_context(), session_scope() as session:
        session.get(Campaign, campaign_id).integrity_settings = {"late_keying": False}
        session.commit()
    assert _design(database_url, campaign_id).integrity_settings == {"late_keying": False}
    source = ["--campaign", str(campaign_id), "--database-url", database_url]
    output = _sipas("score", *source, "--exclude-flagged", "-o", str(tmp_path / "t.json"))
    assert "(left out: 1 rejected, 1 late, 2 flagged)" in output
    assert "(flagged forms left out by rule: speeding 2)" in output
