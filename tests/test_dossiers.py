"""Case files (hồ sơ) from the one-stop systems: import, frame, targets, scoring by it, response rates."""

from __future__ import annotations

import json
import math
import uuid
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from survey.cli import cli
from survey.db import session_scope
from survey.dossiers import (
    DossierError,
    dossier_frame,
    dossier_targets,
    load_mapping,
    parse_date,
    plan_import,
    read_export,
)
from survey.models import AuditEvent, Campaign, Dossier, DossierImport
from tests import dossier_files
from tests.dossier_files import MAPPING_YAML

pytestmark = pytest.mark.db

PERIOD = ("2024-01-01", "2024-06-30")


@pytest.fixture(scope="module")
def big_export() -> dossier_files.Export:
    return dossier_files.export(4000)


@pytest.fixture
def campaign_id(make_campaign):
    cid, _ = make_campaign(kiosk_units=(), period_start=PERIOD[0], period_end=PERIOD[1])
    return cid


def sipas(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def slovin(n: int) -> int:
    """n = ⌈N / (1 + N·0.05²)⌉ = ⌈400·N / (400 + N)⌉, in integers."""
    return -(-400 * n // (400 + n)) if n else 0


def truth_frame(good: list[dict], period=PERIOD) -> pd.Series:
    """The frame counted independently, with pandas, from what the generator says is in the file."""
    df = pd.DataFrame(good)
    start, end = (date.fromisoformat(p) for p in period)
    inside = df[(df["received"] >= start) & (df["received"] <= end)]
    return inside.groupby(["unit", "stratum"]).size()


# ------------------------------------------------------------------------------------- pure parsing
def test_dates_are_read_in_every_way_the_systems_write_them():
    assert parse_date("05/01/2024") == date(2024, 1, 5)  # dd/mm/yyyy, never mm/dd
    assert parse_date("5/1/2024 08:30") == date(2024, 1, 5)
    assert parse_date("2024-01-05") == date(2024, 1, 5)
    assert parse_date("2024-01-05T08:30:00") == date(2024, 1, 5)
    assert parse_date(45296) == date(2024, 1, 5)  # an Excel serial number
    assert parse_date("45296") == date(2024, 1, 5)
    assert parse_date(45296.75) == date(2024, 1, 5)
    for bad in ("31/02/2024", "2024-13-01", "ngày 5 tháng 3", 12, True, "", "5/1"):
        assert parse_date(bad) is None, bad
    assert parse_date("01/05/2024", ["%m/%d/%Y"]) == date(2024, 1, 5)  # a mapping's own format


def test_a_bad_mapping_says_what_is_wrong(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("columns:\n  ma: Mã\n", encoding="utf-8")
    with pytest.raises(DossierError, match="columns.ma"):
        load_mapping(bad)
    bad.write_text("colums: {}\n", encoding="utf-8")
    with pytest.raises(DossierError, match="colums"):
        load_mapping(bad)
    bad.write_text("date_formats: dd/mm/yyyy\n", encoding="utf-8")
    with pytest.raises(DossierError, match="date_formats"):
        load_mapping(bad)
    example = Path(__file__).parents[1] / "docs" / "dossier-mapping.example.yaml"
    shipped = load_mapping(example)
    assert shipped.columns["case_code"][0] == "Mã hồ sơ"


# ------------------------------------------------------------------------------ a small, by hand
HAND_CSV = """\
Mã hồ sơ;Đơn vị tiếp nhận;Tên thủ tục hành chính;Lĩnh vực;Ngày tiếp nhận;Ngày trả kết quả
A-1;Xã Trà Giang;Đăng ký khai sinh;Hộ tịch;02/01/2024;03/01/2024
A-2;trà giang;Đăng ký kết hôn;HỘ TỊCH;2024-01-09;
A-3;UBND xã Trà Giang;Chứng thực bản sao;Chứng thực;45300;
A-4;Thị trấn Trà Xuân;Đăng ký đất đai;Đất đai;15/03/2024;20/03/2024
;;;;;
A-5;Xã Trà Giang;Đăng ký khai tử;Hộ tịch;30/12/2023;
A-6;Xã Trà Giang;Đăng ký khai tử;Hộ tịch;31/02/2024;
A-7;Xã Bình Sơn;Chứng thực bản sao;Chứng thực;10/01/2024;
A-2;Xã Trà Giang;Đăng ký kết hôn;Hộ tịch;09/01/2024;
;Xã Trà Giang;Đăng ký kết hôn;Hộ tịch;09/01/2024;
A-8;Xa Tra Giang;Trợ cấp mai táng phí;;11/01/2024;
"""


def test_a_small_export_checked_by_hand(app, campaign_id, tmp_path):
    path = tmp_path / "tra-giang.csv"
    path.write_text(HAND_CSV, encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    url = app.config["DATABASE_URL"]
    result = sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
                   "--database-url", url, input="n\n")  # fmt: skip
    # Row numbers are the file's (header = row 1); the blank line 6 is skipped, not an error.
    assert result.exit_code == 1 and "chưa nhập gì" in result.output
    for line in [
        "dòng 8, cột “Ngày tiếp nhận”: không đọc được ngày “31/02/2024”",
        "dòng 9, cột “Đơn vị tiếp nhận”: đơn vị “Xã Bình Sơn” không có trong đợt khảo sát",
        "dòng 10, cột “Mã hồ sơ”: mã hồ sơ A-2 trùng với dòng 3",
        "dòng 11, cột “Mã hồ sơ”: thiếu mã hồ sơ",
    ]:
        assert line in result.output
    assert "dòng 6" not in result.output
    assert "10 dòng dữ liệu, 6 hồ sơ mới, 0 đã có (không đổi), 4 dòng lỗi (bỏ qua)" in result.output
    assert "1 hồ sơ mới ngoài thời gian của đợt" in result.output  # A-5, 30/12/2023
    with app.app_context(), session_scope() as session:
        assert session.scalar(select(func.count(Dossier.id))) == 0  # refused: nothing written

    result = sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
                   "--database-url", url, "--yes")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Đã nhập 6 hồ sơ mới" in result.output
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        stored = {d.case_code: d for d in session.scalars(select(Dossier))}
        assert sorted(stored) == ["A-1", "A-2", "A-3", "A-4", "A-5", "A-8"]
        assert stored["A-3"].received_on == date(2024, 1, 9) and stored["A-3"].stratum == "chung_thuc"
        assert stored["A-1"].returned_on == date(2024, 1, 3) and stored["A-2"].returned_on is None
        assert stored["A-8"].stratum == "lao_dong_xh" and stored["A-8"].unit_code == "tra-giang"
        assert stored["A-1"].procedure == "Đăng ký khai sinh"  # diacritics kept as written
        # By hand: Trà Giang hộ tịch A-1, A-2 (A-5 is before the period), chứng thực A-3, LĐ-XH A-8;
        # Trà Xuân đất đai A-4.
        frame = dossier_frame(session, campaign)
        assert frame == {
            ("tra-xuan", "dat_dai"): 1,
            ("tra-giang", "ho_tich"): 2,
            ("tra-giang", "chung_thuc"): 1,
            ("tra-giang", "lao_dong_xh"): 1,
        }
        # Slovin: N = 4 -> ⌈4/(1 + 4·0.0025)⌉ = ⌈3.96⌉ = 4; N = 1 -> 1; units without case files: 0.
        targets = dossier_targets(campaign, frame)
        assert targets.units == {"tra-xuan": 1, "tra-giang": 4} and targets.cells is None
        batch = session.scalars(select(DossierImport)).one()
        assert (batch.rows_read, batch.added, batch.skipped, batch.filename) == (10, 6, 4, "tra-giang.csv")
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "dossiers_imported")).one()
        assert event.detail["added"] == 6 and event.detail["bad_rows"] == 4

    # The same file again changes nothing; the CLI shows N from the case files beside the typed N.
    again = sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
                  "--database-url", url, "--yes")  # fmt: skip
    assert again.exit_code == 0 and "Không có hồ sơ mới" in again.output
    assert "0 hồ sơ mới, 6 đã có (không đổi)" in again.output
    shown = sipas("campaign", "progress", "--campaign", str(campaign_id), "--database-url", url)
    assert "tra-giang\tXã Trà Giang\t0/4\t0.0%\tN=4 theo hồ sơ (nhập tay: N=—, chỉ tiêu —)" in shown.output
    with app.app_context(), session_scope() as session:
        assert session.scalar(select(func.count(Dossier.id))) == 6
        assert session.scalar(select(func.count(DossierImport.id))) == 1


def test_the_interactive_prompt_imports_when_the_user_says_yes(app, campaign_id, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(HAND_CSV, encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    result = sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
                   "--database-url", app.config["DATABASE_URL"], input="y\n")  # fmt: skip
    assert result.exit_code == 0 and "Đã nhập 6 hồ sơ mới" in result.output


def test_a_file_without_the_needed_columns_is_refused_whole(app, campaign_id, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Mã hồ sơ,Tên đơn vị khác\nA-1,Trà Giang\n", encoding="utf-8")
    result = sipas("dossiers", "import", "--campaign", str(campaign_id), str(path),
                   "--database-url", app.config["DATABASE_URL"], "--yes")  # fmt: skip
    assert result.exit_code == 1
    assert "dòng 1: thiếu cột đơn vị" in result.output and "Tên đơn vị khác" in result.output
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------- a realistic synthetic export
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_synthetic_export_gives_the_frame_and_targets(app, campaign_id, tmp_path, big_export, kind):
    path = tmp_path / f"mot-cua.{kind}"
    path.write_bytes(big_export.csv_bytes() if kind == "csv" else big_export.xlsx_bytes())
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    url = app.config["DATABASE_URL"]
    result = sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
                   "--database-url", url, "--yes")  # fmt: skip
    assert result.exit_code == 0, result.output
    # Every planted bad row is listed with its row and column, and nothing else.
    listed = {}
    for line in result.output.splitlines():
        line = line.strip()
        if line.startswith("dòng "):
            row = int(line.split(",")[0].split()[1])
            listed[row] = line.split("cột “")[1].split("”")[0]
    assert listed == big_export.bad
    assert f"Đã nhập {len(big_export.good)} hồ sơ mới" in result.output

    truth = truth_frame(big_export.good)
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        frame = dossier_frame(session, campaign)
        assert {k: v for k, v in frame.items() if v} == {k: int(v) for k, v in truth.items()}
        assert sum(frame.values()) < len(big_export.good)  # some case files fall outside the period
        targets = dossier_targets(campaign, frame)
        per_unit = truth.groupby(level=0).sum()
        assert targets.units == {u: slovin(int(n)) for u, n in per_unit.items()}
        # Spot check: ⌈400·N/(400+N)⌉ for the largest unit.
        big = per_unit.idxmax()
        assert targets.units[big] == math.ceil(int(per_unit[big]) / (1 + int(per_unit[big]) * 0.0025))
        # Every received date was read as written (text, date cell, serial number).
        stored = dict(session.execute(select(Dossier.case_code, Dossier.received_on)).all())
        assert stored == {g["code"]: g["received"] for g in big_export.good}


def test_proportional_allocation_splits_each_units_target_across_fields(
    app, campaign_id, tmp_path, big_export
):
    path = tmp_path / "mot-cua.csv"
    path.write_bytes(big_export.csv_bytes())
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    url = app.config["DATABASE_URL"]
    sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
          "--database-url", url, "--yes")  # fmt: skip
    assert sipas("dossiers", "allocation", "--campaign", str(campaign_id), "proportional",
                 "--database-url", url).exit_code == 0  # fmt: skip
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        frame = dossier_frame(session, campaign)
        targets = dossier_targets(campaign, frame)
        assert targets.allocation == "proportional"
        for unit, n_unit in targets.units.items():
            cells = {s: n for (u, s), n in frame.items() if u == unit}
            total = sum(cells.values())
            allocated = {s: targets.cells[(unit, s)] for s in cells}
            assert sum(allocated.values()) == n_unit
            for s, n in cells.items():  # each field gets its quota rounded down or up
                quota = n_unit * n / total
                assert math.floor(quota) <= allocated[s] <= math.ceil(quota)
    shown = sipas("dossiers", "frame", "--campaign", str(campaign_id), "--database-url", url)
    assert "chia cho các lĩnh vực theo tỷ lệ số hồ sơ" in shown.output


def test_reimport_changes_nothing_and_a_newer_file_adds_and_lists_conflicts(app, campaign_id, tmp_path):
    first = dossier_files.export(1500, seed=11)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    url = app.config["DATABASE_URL"]
    one = tmp_path / "t1.csv"
    one.write_bytes(first.csv_bytes())

    def run(path):
        return sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping",
                     str(mapping), "--database-url", url, "--yes")  # fmt: skip

    def count():
        with app.app_context(), session_scope() as session:
            return session.scalar(select(func.count(Dossier.id)))

    assert run(one).exit_code == 0
    assert count() == len(first.good)
    assert "Không có hồ sơ mới" in run(one).output and count() == len(first.good)

    # The next month's export: every earlier row again, 300 new case files, one case changed since.
    later = dossier_files.export(300, seed=12, start=date(2024, 6, 1), days=60, first_seq=90000, messy=False)
    rows = first.rows + later.rows[len(dossier_files.TITLE_LINES) + 1 :]
    changed = first.good[5]
    cells = rows[changed["row"] - 1]
    cells[dossier_files.HEADER.index("Đơn vị tiếp nhận")] = (
        "Xã Trà Tây" if changed["unit"] != "tra-tay" else "Xã Trà Bùi"
    )
    two = tmp_path / "t2.csv"
    two.write_bytes(dossier_files.Export(rows=rows).csv_bytes())
    result = run(two)
    assert result.exit_code == 0, result.output
    assert f"Đã nhập {len(later.good)} hồ sơ mới" in result.output
    assert (
        f"dòng {changed['row']}: hồ sơ {changed['code']} đã có với dữ liệu khác "
        f"(đơn vị: đã lưu “{changed['unit']}”" in result.output
    )
    assert "1 trùng mã nhưng khác dữ liệu (giữ bản đã lưu)" in result.output
    assert count() == len(first.good) + len(later.good)
    with app.app_context(), session_scope() as session:
        kept = session.scalars(select(Dossier).where(Dossier.case_code == changed["code"])).one()
        assert kept.unit_code == changed["unit"]  # the stored case stays as it was
        batches = session.scalars(select(DossierImport).order_by(DossierImport.id)).all()
        assert [(b.added, b.conflicts) for b in batches] == [(len(first.good), 0), (len(later.good), 1)]


def test_an_import_is_all_or_nothing(app, campaign_id, tmp_path, monkeypatch):
    """A failure while storing leaves no case file and no import record behind."""
    from survey import dossiers as module

    path = tmp_path / "x.csv"
    path.write_bytes(dossier_files.export(300, seed=3, messy=False).csv_bytes())
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    real = module.apply_import

    def failing(session, campaign, plan, user=None):
        real(session, campaign, plan, user)
        session.execute(text("INSERT INTO dossiers (id) VALUES (NULL)"))  # violates NOT NULL: the DB refuses

    monkeypatch.setattr(module, "apply_import", failing)
    result = sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
                   "--database-url", app.config["DATABASE_URL"], "--yes")  # fmt: skip
    assert result.exit_code == 1 and "lỗi cơ sở dữ liệu" in result.output
    with app.app_context(), session_scope() as session:
        assert session.scalar(select(func.count(Dossier.id))) == 0
        assert session.scalar(select(func.count(DossierImport.id))) == 0


def test_plan_import_names_an_ambiguous_unit(app, make_campaign):
    cid, _ = make_campaign(kiosk_units=(), units=[("a", "Xã Tân Lập"), ("b", "Thị trấn Tân Lập")])
    table = read_export(
        "Mã hồ sơ,Đơn vị,Lĩnh vực,Ngày tiếp nhận\n"
        "X1,Tân Lập,Hộ tịch,01/02/2024\nX2,TT Tân Lập,Hộ tịch,01/02/2024\n".encode(),
        "a.csv",
    )  # fmt: skip
    with app.app_context(), session_scope() as session:
        plan = plan_import(session, session.get(Campaign, cid), table, load_mapping(None))
    assert [p.row for p in plan.problems] == [2] and "khớp nhiều đơn vị" in plan.problems[0].message
    assert [(c.case_code, c.unit_code) for c in plan.new] == [("X2", "b")]


# ---------------------------------------------------------------------------------------- scoring
def _store_responses(app, campaign_id, frame, seed=5):
    """Forms in a few cells of the frame, answers drawn so that cells differ; return how many per cell."""
    import numpy as np

    from questionnaires import load_questionnaire
    from survey.storage import save_response

    rng = np.random.default_rng(seed)
    items = [c.items[0] for c in load_questionnaire("sipas-2017").scoring.criteria]
    cells = [key for key, n in frame.items() if n >= 20][:12]
    stored = {}
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        for i, (unit, stratum) in enumerate(cells):
            stored[(unit, stratum)] = n = 4 + i % 5
            for _ in range(n):
                low = 1 + (i % 3)  # cells differ in satisfaction, so the weights matter
                answers = {
                    it: str(int(rng.integers(low, 6))) for it in items if not it.startswith("phan_anh")
                }
                answers.update({"linh_vuc": stratum, "gioi_tinh": "2", "do_tuoi": "3", "da_gop_y": "2"})
                save_response(
                    session,
                    campaign=campaign,
                    unit_code=unit,
                    instance_id=str(uuid.uuid4()),
                    answers=answers,
                    questionnaire_id="sipas-2017",
                    version=campaign.questionnaire_version,
                    started_at=None,
                    submitted_at=None,
                    source="paper",
                )
    return stored


def test_scoring_with_the_imported_frame_equals_scoring_with_the_same_frame_by_hand(
    app, campaign_id, tmp_path, big_export
):
    path = tmp_path / "mot-cua.xlsx"
    path.write_bytes(big_export.xlsx_bytes())
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    url = app.config["DATABASE_URL"]
    assert sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
                 "--database-url", url, "--yes").exit_code == 0  # fmt: skip
    truth = truth_frame(big_export.good)
    stored = _store_responses(app, campaign_id, {k: int(v) for k, v in truth.items()})
    # The frame CSV an analyst would type from the same export: counted here with pandas.
    by_hand = tmp_path / "frame.csv"
    truth.rename("population").reset_index().to_csv(by_hand, index=False)
    uniform = tmp_path / "uniform.csv"
    truth.rename("population").reset_index().assign(population=100).to_csv(uniform, index=False)

    def score(*extra):
        out = tmp_path / f"s{len(list(tmp_path.glob('s*.json')))}.json"
        result = sipas(
            "score", "--campaign", str(campaign_id), "--database-url", url, "--out", str(out), *extra
        )
        assert result.exit_code == 0, result.output
        return json.loads(out.read_text(encoding="utf-8"))

    imported, hand, flat = score(), score("--frame", str(by_hand)), score("--frame", str(uniform))
    assert imported["weighting"] == "design"
    assert {unit for unit, _ in stored} <= {u["unit"] for u in imported["units"]}
    assert imported["overall"] == hand["overall"] and imported["units"] == hand["units"]
    assert imported["overall"]["index"] != pytest.approx(flat["overall"]["index"], abs=1e-6)
    for u in imported["units"]:  # N and target come from the case files
        n = int(truth[u["unit"]].sum())
        assert u["population"] == n and u["target"] == slovin(n)


# ------------------------------------------------------------------------------------- admin pages
def _csrf(client, path: str) -> str:
    import re

    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


@pytest.fixture
def staff(make_app, monkeypatch):
    """An app with CSRF on, an analyst and an enumerator; return (app, logged-in client factory)."""
    from survey.users import create_user

    monkeypatch.setattr("survey.users.PASSWORD_METHOD", "pbkdf2:sha256:1000")
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context(), session_scope() as session:
        create_user(session, "phan-tich", "mật-khẩu-đủ-dài-1", "analyst")
        create_user(session, "dieu-tra", "mật-khẩu-đủ-dài-1", "enumerator")

    def login(username):
        client = app.test_client()
        token = _csrf(client, "/admin/login")
        reply = client.post(
            "/admin/login", data={"username": username, "password": "mật-khẩu-đủ-dài-1", "csrf_token": token}
        )
        assert reply.status_code == 302
        return client

    return app, login


def test_the_upload_page_lists_problems_and_imports_only_on_confirm(staff, make_campaign, big_export):
    import io

    app, login = staff
    cid, _ = make_campaign(kiosk_units=(), period_start=PERIOD[0], period_end=PERIOD[1])
    page = f"/admin/campaigns/{cid}/dossiers"
    assert login("dieu-tra").get(page).status_code == 403  # enumerators never see the frame
    client = login("phan-tich")
    data = big_export.csv_bytes()
    assert len(data) > 512 * 1024  # larger than an ordinary request may be

    def upload(token, body=data):
        from werkzeug.datastructures import FileStorage
        from werkzeug.test import encode_multipart

        # Encoded here, in memory: the test client would spool a body this large to a temporary file
        # that it never closes.
        boundary, payload = encode_multipart(
            {
                "csrf_token": token,
                "file": FileStorage(io.BytesIO(body), "mot-cua.csv"),
                "mapping": FileStorage(io.BytesIO(MAPPING_YAML.encode()), "map.yaml"),
            }
        )
        return client.post(page, data=payload, content_type=f"multipart/form-data; boundary={boundary}")

    assert upload("forged", data[:2000]).status_code == 400  # no valid CSRF token: refused
    reply = upload(_csrf(client, page))
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200
    for row, column in big_export.bad.items():
        assert f"<li>dòng {row}, cột “{column}”" in html
    assert f"Nhập {len(big_export.good):,} hồ sơ mới".replace(",", ".") in html
    with app.app_context(), session_scope() as session:
        assert session.scalar(select(func.count(Dossier.id))) == 0  # nothing before the confirmation
    import re

    upload_token = re.search(r'name="upload" type="hidden" value="([^"]+)"', html).group(1)
    confirm = f"/admin/campaigns/{cid}/dossiers/confirm"
    assert client.post(confirm, data={"upload": upload_token}).status_code == 400  # CSRF again
    reply = client.post(confirm, data={"upload": upload_token, "csrf_token": _csrf(client, page)})
    assert reply.status_code == 302
    with app.app_context(), session_scope() as session:
        assert session.scalar(select(func.count(Dossier.id))) == len(big_export.good)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "dossiers_imported")).one()
        assert event.detail["via"] == "web" and event.username == "phan-tich"
    # The token is spent: a second confirmation imports nothing twice.
    again = client.post(confirm, data={"upload": upload_token, "csrf_token": _csrf(client, page)})
    assert "Không còn tệp chờ xác nhận" in client.get(again.headers["Location"]).get_data(as_text=True)

    truth = truth_frame(big_export.good).groupby(level=0).sum()
    html = client.get(page).get_data(as_text=True)
    for unit, n in truth.items():
        row = html.split(f'<tr data-unit="{unit}">')[1].split("</tr>")[0]
        assert f'data-field="dossier-n">{n:,}</td>'.replace(",", ".") in row
        assert f'data-field="dossier-target">{slovin(int(n))}</td>' in row
        assert 'data-field="typed-n">—</td>' in row
    campaign_page = client.get(f"/admin/campaigns/{cid}").get_data(as_text=True)
    assert 'id="response-rates"' in campaign_page and "Hồ sơ một cửa (N, chỉ tiêu)" in campaign_page
    for unit, n in truth.items():  # progress: N of the case files, the typed N (none) beside it
        row = campaign_page.split(f'<tr data-unit="{unit}">')[1].split("</tr>")[0]
        assert f'data-field="population">{n:,} · —</td>'.replace(",", ".") in row
        assert f'data-field="target">{slovin(int(n))}</td>' in row
    unit, stratum = truth_frame(big_export.good).idxmax()
    cell = campaign_page.split(f'<tr data-cell="{unit}/{stratum}">')[1].split("</tr>")[0]
    n = int(truth_frame(big_export.good)[(unit, stratum)])
    assert f'data-field="cases">{n:,}</td>'.replace(",", ".") in cell and 'data-field="codes">0</td>' in cell

    # Uploading the same file again: nothing new, no confirmation needed for an import of nothing.
    reply = upload(_csrf(client, page))
    assert reply.status_code == 302
    assert "Không có hồ sơ mới" in client.get(reply.headers["Location"]).get_data(as_text=True)
    # The target rule: proportional allocation across fields, audited.
    reply = client.post(
        f"/admin/campaigns/{cid}/dossiers/allocation",
        data={"allocation": "proportional", "csrf_token": _csrf(client, page)},
    )
    assert reply.status_code == 302
    with app.app_context(), session_scope() as session:
        assert session.get(Campaign, cid).field_allocation == "proportional"


def test_an_unreadable_upload_is_refused_with_its_reason(staff, make_campaign):
    import io

    app, login = staff
    cid, _ = make_campaign(kiosk_units=())
    client = login("phan-tich")
    page = f"/admin/campaigns/{cid}/dossiers"
    reply = client.post(
        page,
        data={"csrf_token": _csrf(client, page), "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 422
    assert "không tìm thấy dòng tiêu đề có cột mã hồ sơ" in reply.get_data(as_text=True)


# ------------------------------------------------------------------------------------ response rates
def test_response_rates_count_case_files_codes_and_forms(app, campaign_id, tmp_path):
    from survey.dossiers import codes_issued, response_rates

    path = tmp_path / "x.csv"
    path.write_text(HAND_CSV, encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    url = app.config["DATABASE_URL"]
    sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
          "--database-url", url, "--yes")  # fmt: skip
    _store_responses(app, campaign_id, {("tra-giang", "ho_tich"): 20})  # 4 forms in Trà Giang, hộ tịch
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert codes_issued(session, campaign_id) == {}  # no answer codes yet: 0 everywhere
        rows = {(r.unit_code, r.stratum): r for r in response_rates(session, campaign)}
        assert set(rows) == {
            ("tra-xuan", "dat_dai"),
            ("tra-giang", "ho_tich"),
            ("tra-giang", "chung_thuc"),
            ("tra-giang", "lao_dong_xh"),
        }
        r = rows[("tra-giang", "ho_tich")]
        assert (r.cases, r.codes, r.received, r.coverage, r.response_rate) == (2, 0, 4, 200.0, None)
        assert rows[("tra-xuan", "dat_dai")].received == 0
    # Once answer codes are issued (survey.codes), they are counted: here the codes of only.
    from survey.codes import CodeKeys
    from survey.models import AnswerCode

    keys = CodeKeys.from_secret("khoa-ma-phieu-cho-kiem-thu-0123456789")
    with app.app_context(), session_scope() as session:
        for case in ("A-1", "A-2"):
            d = session.scalars(select(Dossier).where(Dossier.case_code == case)).one()
            code_hash = keys.hash_of(campaign_id, keys.code_for(campaign_id, case))
            session.add(
                AnswerCode(
                    campaign_id=campaign_id, code_hash=code_hash, unit_code=d.unit_code, stratum=d.stratum
                )
            )
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert codes_issued(session, campaign_id) == {("tra-giang", "ho_tich"): 2}
        r = next(r for r in response_rates(session, campaign) if r.stratum == "ho_tich")
        assert (r.codes, r.response_rate) == (2, 200.0)
    rates = sipas("dossiers", "rates", "--campaign", str(campaign_id), "--database-url", url)
    assert "tra-giang\tho_tich\t2\t2\t4\t200.0%\t200.0%" in rates.output


def test_the_report_has_a_response_rate_sheet_and_says_how_the_weights_correct(app, campaign_id, tmp_path):
    from openpyxl import load_workbook

    generated = dossier_files.export(1500, seed=4, messy=False)
    path = tmp_path / "x.csv"
    path.write_bytes(generated.csv_bytes())
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING_YAML, encoding="utf-8")
    url = app.config["DATABASE_URL"]
    sipas("dossiers", "import", "--campaign", str(campaign_id), str(path), "--mapping", str(mapping),
          "--database-url", url, "--yes")  # fmt: skip
    truth = truth_frame(generated.good)
    stored = _store_responses(app, campaign_id, {k: int(v) for k, v in truth.items()})
    out = tmp_path / "r.xlsx"
    result = sipas("report", "--campaign", str(campaign_id), "--database-url", url, "--out", str(out),
                   "--no-figures")  # fmt: skip
    assert result.exit_code == 0, result.output
    book = load_workbook(out, read_only=True)
    assert "Tỷ lệ phản hồi" in book.sheetnames
    labels = {
        "ho_tich": "Hộ tịch",
        "chung_thuc": "Chứng thực",
        "dat_dai": "Đất đai",
        "lao_dong_xh": "Lao động, thương binh và xã hội",
        "xay_dung": "Xây dựng",
        "khac": "Lĩnh vực khác",
    }
    rows = {(r[7], r[1]): r for r in book["Tỷ lệ phản hồi"].iter_rows(values_only=True) if r and r[7]}
    for (unit, stratum), n in truth.items():  # every cell of the frame, read back
        row = rows[(unit, labels[stratum])]
        received = stored.get((unit, stratum), 0)
        assert row[2:5] == (int(n), 0, received)
        assert row[5] == pytest.approx(received / int(n)) and row[6] == "—"  # no code issued yet
    sheet = list(book["Tỷ lệ phản hồi"].iter_rows(values_only=True))
    total = next(r for r in sheet if r and r[0] == "Tổng cộng")
    assert total[2:5] == (int(truth.sum()), 0, sum(stored.values()))
    method = " ".join(str(c) for r in book["Phương pháp"].iter_rows(values_only=True) for c in r if c)
    assert "hiệu chỉnh không trả lời" in method
    assert "số hồ sơ tiếp nhận trong thời gian của đợt khảo sát" in method
    assert "Chỉ tiêu theo đơn vị (Slovin trên tổng số hồ sơ của đơn vị)" in method
    book.close()
