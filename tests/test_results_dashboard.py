"""The results dashboard and the background report jobs: numbers equal to analysis.score and to the
workbook, the viewer role, comparison with a previous campaign, and a job's life (queued, running,
done or failed) with its file served only to whoever asked for it."""

from __future__ import annotations

import io
import random
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

import survey.results
from analysis import score
from analysis.options import ScoringOptions, score_arguments
from analysis.quality import scorable
from reports.synthetic import synthetic_answers
from survey.campaigns import campaign_questionnaire, create_campaign
from survey.db import session_scope
from survey.design import campaign_design
from survey.models import Campaign
from survey.storage import save_response
from survey.users import create_user

pytestmark = pytest.mark.db

PASSWORD = "mật-khẩu-đủ-dài-1"
ROLES = {
    "quan_tri": "admin",
    "chuyen_vien": "analyst",
    "chuyen_vien_2": "analyst",
    "lanh_dao": "viewer",
    "dieu_tra": "enumerator",
}
UNITS = [("tra-xuan", "Thị trấn Trà Xuân"), ("tra-giang", "Xã Trà Giang"), ("tra-thuy", "Xã Trà Thủy")]


def _store(app, campaign_id: int, levels: dict[str, float], n: int, seed: str) -> None:
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        questionnaire = campaign_questionnaire(campaign)
        base = datetime(2026, 11, 20, 8, tzinfo=UTC)
        for unit, level in levels.items():
            for i in range(n):
                rng = random.Random(f"{seed}:{unit}:{i}")
                submitted = base + timedelta(days=i % 4, minutes=i)
                save_response(
                    session,
                    campaign=campaign,
                    unit_code=unit,
                    instance_id=str(uuid.uuid4()),
                    answers=synthetic_answers(questionnaire, rng, level),
                    questionnaire_id=campaign.questionnaire_id,
                    version=campaign.questionnaire_version,
                    started_at=submitted - timedelta(minutes=5),
                    submitted_at=submitted,
                    source="paper" if i % 3 == 0 else "kiosk",
                )


def _campaign(app, name: str, levels: dict[str, float], n: int = 12) -> int:
    with app.app_context(), session_scope() as session:
        cid = create_campaign(
            session,
            name=name,
            questionnaire="sipas-2017",
            units=UNITS,
            populations={"tra-xuan": 900, "tra-giang": 400, "tra-thuy": 300},
            targets={"tra-xuan": 20, "tra-giang": 15, "tra-thuy": 15},
        ).id
    _store(app, cid, levels, n, name)
    return cid


@pytest.fixture
def world(make_app):
    survey.results.clear_cache()
    app = make_app(WTF_CSRF_ENABLED=False, REPORT_WORKERS=1, REPORT_POLL_SECONDS=0.2)
    with app.app_context(), session_scope() as session:
        for name, role in ROLES.items():
            create_user(session, name, PASSWORD, role, full_name=f"Cán bộ {name}")
    before = _campaign(app, "SIPAS 2025 — kỳ trước", {"tra-xuan": 0.6, "tra-giang": 0.9, "tra-thuy": 0.75})
    now = _campaign(app, "SIPAS 2026 — Trà Bồng", {"tra-xuan": 0.95, "tra-giang": 0.55, "tra-thuy": 0.8})
    return app, before, now


def login(app, username: str):
    client = app.test_client()
    reply = client.post("/admin/login", data={"username": username, "password": PASSWORD})
    assert reply.status_code == 302, reply.get_data(as_text=True)[:300]
    return client


def text(reply) -> str:
    return reply.get_data(as_text=True)


def _scored(database_url: str, campaign_id: int):
    """analysis.score of the campaign, computed here as `sipas score --campaign` does."""
    design = campaign_design(campaign_id, database_url)
    arguments = scorable(
        score_arguments(ScoringOptions(campaign=campaign_id), design),
        quality=design.quality,
        integrity_settings=design.integrity_settings,
    ).arguments
    return score(**arguments)


def _cells(html: str, field: str) -> dict[str, str]:
    rows = re.findall(r'<tr data-unit="([^"]+)">(.*?)</tr>', html, flags=re.S)
    out = {}
    for unit, row in rows:
        found = re.search(rf'data-field="{field}"(?: data-value="([^"]*)")?>([^<]*)<', row)
        out[unit] = found.group(1) if found.group(1) is not None else found.group(2).strip()
    return out


def _vi(value: float, decimals: int = 2) -> str:
    return f"{value:,.{decimals}f}".replace(",", " ").replace(".", ",").replace(" ", ".")


# ------------------------------------------------------------------------------------ the dashboard
def test_dashboard_numbers_equal_analysis_score_and_the_workbook(world, database_url):
    app, _, cid = world
    table = _scored(database_url, cid)
    page = login(app, "lanh_dao").get(f"/admin/campaigns/{cid}/results")
    assert page.status_code == 200, text(page)[:500]
    html = text(page)
    figures = re.findall(r'<img src="(/admin/campaigns/\d+/results/figures/(\w+)\.svg\?v=(\w+))"', html)
    assert [name for _, name, _ in figures] == ["ranking", "daily"]
    for url, _, version in figures:
        svg = login(app, "lanh_dao").get(url)
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml", url
        assert svg.data.lstrip().startswith(b"<?xml") and b"<svg" in svg.data and b"<script" not in svg.data
        assert "script-src 'none'" in svg.headers["Content-Security-Policy"]
        assert version == survey.results.data_version(app.extensions["sipas.engine"], cid)
        assert login(app, "dieu_tra").get(url).status_code == 403
    assert (
        login(app, "lanh_dao").get(f"/admin/campaigns/{cid}/results/figures/heatmap.svg").status_code == 404
    )
    shown = _cells(html, "index")
    assert set(shown) == {u for u, _ in UNITS}
    for u in table.units:
        assert float(shown[u.unit]) == u.index  # full precision in data-value
        row = re.search(rf'<tr data-unit="{u.unit}">(.*?)</tr>', html, flags=re.S).group(1)
        assert f">{_vi(u.index)}<" in row and f"{_vi(u.ci_low)} – {_vi(u.ci_high)}" in row
        assert f"{u.rank_low}–{u.rank_high}" in row and f">{u.rank}<" in row
        assert (u.rank_group or "—") in row
    # Ranked order: Trà Xuân (0.95) first, Trà Giang (0.55) last.
    assert list(shown) == [u.unit for u in table.units] and list(shown)[0] == "tra-xuan"
    assert f'data-value="{table.overall.index}"' in html
    assert ">36 / 50<" in html  # 3 × 12 forms against targets 20 + 15 + 15
    # The workbook of the same campaign has the very same values.
    reply = login(app, "chuyen_vien").get(f"/admin/campaigns/{cid}/report.xlsx")
    assert reply.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(reply.data))
    reply.close()
    sheet = book[book.sheetnames[0]]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    head = next(i for i, r in enumerate(rows) if r and r[0] == "Hạng")
    columns = {
        name: rows[head].index(name) for name in ("Mã đơn vị", "Chỉ số (%)", "Cận dưới", "Cận trên", "Hạng")
    }
    in_book = {
        r[columns["Mã đơn vị"]]: tuple(r[columns[k]] for k in ("Chỉ số (%)", "Cận dưới", "Cận trên", "Hạng"))
        for r in rows[head + 1 :]
        if len(r) > columns["Mã đơn vị"] and r[columns["Mã đơn vị"]] in shown
    }
    on_page = {u.unit: (u.index, u.ci_low, u.ci_high, u.rank) for u in table.units}
    assert set(in_book) == set(on_page)
    for unit, values in in_book.items():
        assert values == pytest.approx(on_page[unit], abs=1e-9)


def test_the_unit_drill_down_shows_elements_criteria_comments_and_the_trend(world, database_url):
    app, before, cid = world
    table = _scored(database_url, cid)
    earlier = _scored(database_url, before)
    html = text(login(app, "lanh_dao").get(f"/admin/campaigns/{cid}/results/units/tra-giang"))
    unit = table.unit("tra-giang")
    assert f'data-field="index" data-value="{unit.index}"' in html
    for code, value in unit.elements.items():
        assert f'data-node="{code}"' in html and f'data-value="{value}"' in html
    for code, value in list(unit.criteria.items())[:5]:
        assert f'data-node="{code}"' in html and f">{_vi(value)}<" in html
    # Trend over the campaigns of the same questionnaire: last period's index, then this one.
    trend = re.search(r'<table class="table" id="trend-table">(.*?)</table>', html, flags=re.S).group(1)
    assert trend.index("SIPAS 2025") < trend.index("SIPAS 2026")
    assert _vi(earlier.unit("tra-giang").index) in trend and _vi(unit.index) in trend
    assert 'id="trend-chart"' in html and 'id="profile-chart"' in html
    client = login(app, "lanh_dao")
    for name in ("profile", "trend"):
        svg = client.get(f"/admin/campaigns/{cid}/results/units/tra-giang/{name}.svg")
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    # The first campaign has no earlier one: no trend figure.
    assert client.get(f"/admin/campaigns/{before}/results/units/tra-giang/trend.svg").status_code == 404
    comments = re.search(r'data-field="comments">([^<]*)<', html).group(1)
    assert int(comments) <= 12
    assert "Traceback" not in html
    assert login(app, "lanh_dao").get(f"/admin/campaigns/{cid}/results/units/khong-co").status_code == 404


def test_results_are_cached_per_data_version(world, database_url):
    app, _, cid = world
    engine = app.extensions["sipas.engine"]
    with app.app_context():
        first = survey.results.campaign_results(engine, cid)
        again = survey.results.campaign_results(engine, cid)
        assert again is first  # nothing changed: no second scoring
        _store(app, cid, {"tra-thuy": 0.2}, 3, "more")
        after = survey.results.campaign_results(engine, cid)
    assert after is not first and after.version != first.version
    assert after.table.unit("tra-thuy").n == 15
    client = login(app, "lanh_dao")
    version = client.get(f"/admin/campaigns/{cid}/results/version").get_json()["version"]
    assert version == after.version


def test_the_viewer_sees_results_and_nothing_else(world):
    app, _, cid = world
    client = login(app, "lanh_dao")
    listing = text(client.get("/admin/"))
    assert f'href="/admin/campaigns/{cid}/results"' in listing
    assert f'href="/admin/campaigns/{cid}"' not in listing
    for url in (
        f"/admin/campaigns/{cid}",
        f"/admin/campaigns/{cid}/responses",
        f"/admin/campaigns/{cid}/responses.csv",
        f"/admin/campaigns/{cid}/report.xlsx",
        f"/admin/campaigns/{cid}/integrity",
        "/admin/users",
    ):
        assert client.get(url).status_code == 403, url
    assert client.get(f"/api/v1/campaigns/{cid}/progress").status_code == 403
    assert login(app, "dieu_tra").get(f"/admin/campaigns/{cid}/results").status_code == 403


def test_an_empty_campaign_says_why_there_are_no_results(world):
    app, _, _ = world
    with app.app_context(), session_scope() as session:
        empty = create_campaign(session, name="Trống", questionnaire="sipas-2017", units=UNITS[:2]).id
    reply = login(app, "lanh_dao").get(f"/admin/campaigns/{empty}/results")
    assert reply.status_code == 200
    assert 'id="results-error"' in text(reply) and "Chưa tính được chỉ số" in text(reply)


# --------------------------------------------------------------------------------- report downloads
def _ranking_sheet(data: bytes) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [[c.value for c in r] for r in book[book.sheetnames[0]].iter_rows()]


def test_the_download_compares_with_a_previous_campaign(world, database_url):
    app, before, cid = world
    client = login(app, "chuyen_vien")
    reply = client.get(f"/admin/campaigns/{cid}/report.xlsx?previous={before}")
    assert reply.status_code == 200, text(reply)[:300]
    rows = _ranking_sheet(reply.data)
    reply.close()
    head = next(i for i, r in enumerate(rows) if "Chỉ số kỳ trước" in r)
    previous_col, rank_col = rows[head].index("Chỉ số kỳ trước"), rows[head].index("Hạng kỳ trước")
    earlier = _scored(database_url, before)
    names = dict(UNITS)
    for r in rows[head + 1 :]:
        unit = next((code for code, name in names.items() if name in r), None)
        if unit:
            assert r[previous_col] == pytest.approx(earlier.unit(unit).index, abs=1e-9)
            assert r[rank_col] == earlier.unit(unit).rank
    assert client.get(f"/admin/campaigns/{cid}/report.xlsx?previous=999").status_code == 404
    plain = _ranking_sheet(client.get(f"/admin/campaigns/{cid}/report.xlsx").data)
    assert not any("Chỉ số kỳ trước" in r for r in plain)


def _wait(client, job_url: str, states=("done", "failed"), timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(job_url + "/status").get_json()
        if status["state"] in states:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_a_background_report_job_from_queued_to_done(world, database_url, monkeypatch):
    app, before, cid = world
    gate = threading.Event()
    real = survey.results.build_campaign_report

    def held(*args, **kwargs):
        assert gate.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(survey.results, "build_campaign_report", held)
    client = login(app, "chuyen_vien")
    page = text(client.get(f"/admin/campaigns/{cid}"))
    assert f'action="/admin/campaigns/{cid}/report"' in page and f'<option value="{before}">' in page
    first = client.post(f"/admin/campaigns/{cid}/report", data={"previous": str(before)})
    assert first.status_code == 302 and first.headers["Location"].startswith("/admin/reports/")
    job = first.headers["Location"]
    second = client.post(f"/admin/campaigns/{cid}/report", data={"previous": ""}).headers["Location"]
    assert _wait(client, job, states=("running",))["stage"]  # one worker: the first runs …
    queued = client.get(second + "/status").get_json()
    assert queued["state"] == "queued" and queued["file_url"] is None  # … and the second waits
    progress = text(client.get(job))
    assert 'data-status-url="' + job + '/status"' in progress and "report_job.js" in progress
    assert client.get(job + "/file").status_code == 404  # not ready yet
    gate.set()
    done = _wait(client, job)
    assert done["state"] == "done" and done["progress"] == 100 and done["file_url"] == job + "/file"
    assert _wait(client, second)["state"] == "done"
    reply = client.get(done["file_url"])
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    assert "attachment" in reply.headers["Content-Disposition"]
    rows = _ranking_sheet(reply.data)
    reply.close()
    assert any("Chỉ số kỳ trước" in r for r in rows)  # the job compared with the previous campaign
    assert 'id="job-file"' in text(client.get(job))
    listed = text(client.get(f"/admin/campaigns/{cid}"))
    assert listed.count('href="' + job + '"') == 1 and f'href="{job}/file"' in listed
    assert 'id="report-jobs"' not in text(login(app, "chuyen_vien_2").get(f"/admin/campaigns/{cid}"))
    # The file goes to whoever asked (and admins), not to another analyst, an enumerator or a viewer.
    assert login(app, "chuyen_vien_2").get(job + "/file").status_code == 404
    assert login(app, "chuyen_vien_2").get(job + "/status").status_code == 404
    assert login(app, "dieu_tra").get(job + "/file").status_code == 403
    assert login(app, "lanh_dao").get(job + "/file").status_code == 403
    assert login(app, "quan_tri").get(job + "/file").status_code == 200
    assert app.test_client().get(job + "/file").status_code == 302  # to the login page


def test_a_failed_report_job_says_why_in_vietnamese(world):
    app, _, _ = world
    with app.app_context(), session_scope() as session:
        empty = create_campaign(session, name="Chưa có phiếu", questionnaire="sipas-2017", units=UNITS[:2]).id
    client = login(app, "chuyen_vien")
    job = client.post(f"/admin/campaigns/{empty}/report", data={"previous": ""}).headers["Location"]
    failed = _wait(client, job)
    assert failed["state"] == "failed" and failed["file_url"] is None
    assert failed["message"].startswith("Chưa lập được báo cáo: ")
    page = text(client.get(job))
    alert = re.search(r'<p id="job-error" class="flash flash--error" role="alert">([^<]*)</p>', page)
    assert alert is not None and "Chưa lập được báo cáo" in alert.group(1)
    assert client.get(job + "/file").status_code == 404
    # An unknown previous campaign is refused before any job is made.
    bad = client.post(f"/admin/campaigns/{empty}/report", data={"previous": "12345"})
    assert bad.status_code == 302 and bad.headers["Location"].endswith(f"/admin/campaigns/{empty}")


def test_the_command_line_compares_with_a_previous_campaign_as_the_download_does(
    world, database_url, tmp_path
):
    from click.testing import CliRunner

    from survey.cli import cli

    app, before, cid = world
    out = tmp_path / "bao-cao.xlsx"
    args = [
        "report",
        "--campaign",
        str(cid),
        "--previous-campaign",
        str(before),
        "--database-url",
        database_url,
    ]
    result = CliRunner().invoke(cli, [*args, "--no-figures", "-o", str(out)])
    assert result.exit_code == 0, result.output
    reply = login(app, "chuyen_vien").get(f"/admin/campaigns/{cid}/report.xlsx?previous={before}")
    downloaded = _ranking_sheet(reply.data)
    reply.close()

    def comparison(rows):
        head = next(i for i, r in enumerate(rows) if "Chỉ số kỳ trước" in r)
        keep = [rows[head].index(name) for name in ("Mã đơn vị", "Chỉ số kỳ trước", "Hạng kỳ trước")]
        return sorted(tuple(r[k] for k in keep) for r in rows[head + 1 :] if r[keep[0]] in dict(UNITS))

    from_cli = comparison(_ranking_sheet(out.read_bytes()))
    assert len(from_cli) == 3 and from_cli == comparison(downloaded)
    both = CliRunner().invoke(cli, [*args, "--previous", str(out), "-o", str(tmp_path / "x.xlsx")])
    assert both.exit_code == 2 and "--previous-campaign" in both.output
