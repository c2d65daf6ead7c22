"""The sipas commands create what they print, on SQLite and PostgreSQL; bad input is one line, exit 1."""

from __future__ import annotations

import re
import uuid

import pandas as pd
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from survey.campaigns import kiosk_for_token
from survey.cli import cli
from survey.db import alembic_config, make_engine, session_scope
from survey.models import Base, Campaign, Kiosk, Response, User
from survey.users import authenticate

pytestmark = pytest.mark.db


@pytest.fixture
def sipas(database_url, tmp_path):
    """Run ``sipas …`` against the test database, the way a user's shell would."""
    runner = CliRunner()
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args, input=None, expect=0):
        result = runner.invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result.output

    return run


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output  # one line, no traceback
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_db_upgrade_creates_the_schema(tmp_path, database_url):
    runner = CliRunner()
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh' / 'sipas.sqlite'}"
        cleanup = None
    else:
        name = f"sipas_cmd_{uuid.uuid4().hex[:8]}"
        admin = make_engine(database_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)

        def cleanup():
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    env = {"SIPAS_DATABASE_URL": url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}
    try:
        before = runner.invoke(cli, ["campaign", "list"], env=env)
        assert before.exit_code == 1 and "sipas db upgrade" in _error_line(before.output)
        result = runner.invoke(cli, ["db", "upgrade"], env=env)
        assert result.exit_code == 0, result.output
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert f"phiên bản mới nhất ({head})" in result.output
        engine = make_engine(url)
        assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
        engine.dispose()
        again = runner.invoke(cli, ["db", "upgrade"], env=env)  # idempotent
        assert again.exit_code == 0
        status = runner.invoke(cli, ["db", "status"], env=env)
        assert status.exit_code == 0 and "up to date" in status.output
        assert "Chưa có đợt khảo sát" in runner.invoke(cli, ["campaign", "list"], env=env).output
    finally:
        if cleanup:
            cleanup()


def test_user_create_with_a_given_or_a_generated_password(app, sipas):
    out = sipas("user", "create", "--username", "Lan", "--role", "analyst", "--password", "mật-khẩu-của-lan")
    assert "lan (analyst)" in out
    out = sipas("user", "create", "--username", "quan-tri", "--role", "admin", "--full-name", "Trần Văn Quản")
    password = re.search(r"password: (\S+)", out).group(1)
    with app.test_request_context("/"), session_scope() as s:
        assert authenticate(s, "lan", "mật-khẩu-của-lan").role == "analyst"
        admin = authenticate(s, "quan-tri", password)
        assert admin is not None and admin.role == "admin" and admin.full_name == "Trần Văn Quản"
    listing = sipas("user", "list")
    assert "lan\tanalyst" in listing and "quan-tri\tadmin" in listing
    assert "đã có" in _error_line(sipas("user", "create", "--username", "lan", "--role", "admin", expect=1))
    assert "10" in _error_line(
        sipas("user", "create", "--username", "x2", "--role", "admin", "--password", "ngan", expect=1)
    )
    sipas("user", "create", "--username", "x3", "--role", "boss", expect=2)  # click's usage error


def test_campaign_create_reads_populations_and_targets(app, sipas, tmp_path):
    populations = tmp_path / "N.csv"
    populations.write_text("ma_don_vi,so_nguoi\ntra-xuan,1.000\ntra-giang,400\n", encoding="utf-8-sig")
    targets = tmp_path / "chi-tieu.csv"
    targets.write_text("tra-giang;150\n", encoding="utf-8")
    out = sipas(
        "campaign",
        "create",
        "--questionnaire",
        "sipas-2023",
        "--units",
        "tra-bong-2023",
        "--name",
        "Khảo sát SIPAS 2023 — Trà Bồng",
        "--period-start",
        "2023-09-15",
        "--period-end",
        "2023-10-31",
        "--populations",
        str(populations),
        "--targets",
        str(targets),
    )
    campaign_id = int(re.search(r"#(\d+)", out).group(1))
    assert "16 đơn vị" in out and "tổng chỉ tiêu 436" in out  # 286 (Slovin) + 150 (typed)
    with app.app_context(), session_scope() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign.name == "Khảo sát SIPAS 2023 — Trà Bồng"
        assert (campaign.period_start, campaign.period_end) == ("2023-09-15", "2023-10-31")
        units = {u.unit_code: (u.population, u.target) for u in campaign.units}
        assert units["tra-xuan"] == (1000, 286) and units["tra-giang"] == (400, 150)
    listing = sipas("campaign", "list")
    assert f"{campaign_id}\tKhảo sát SIPAS 2023 — Trà Bồng\tsipas-2023 2023.1" in listing
    progress = sipas("campaign", "progress", "--campaign", str(campaign_id))
    assert "tra-xuan\tThị trấn Trà Xuân\t0/286" in progress


@pytest.mark.parametrize(
    "args, csv_text, message",
    [
        (["--questionnaire", "khong-co"], None, "khong-co"),
        (["--units", "ha-noi-2024"], None, "ha-noi-2024"),
        (["--period-start", "15/09/2023"], None, "YYYY-MM-DD"),
        (["--margin", "2"], None, "sai số"),
        ([], "tra-xuan,nhiều\n", "dòng 1"),
        ([], "unit,N\ntra-xuan,100\ntra-xuan,200\n", "dòng 3"),
        ([], "unit,N\nha-noi,100\n", "ha-noi"),
        ([], "unit,N\ntra-xuan\n", "dòng 2"),
    ],
)
def test_campaign_create_errors_are_one_line(app, sipas, tmp_path, args, csv_text, message):
    base = {"--questionnaire": "sipas-2017", "--units": "tra-bong-2023", "--name": "Đợt thử"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [x for pair in base.items() for x in pair]
    if csv_text is not None:
        path = tmp_path / "N.csv"
        path.write_text(csv_text, encoding="utf-8")
        argv += ["--populations", str(path)]
    line = _error_line(sipas("campaign", "create", *argv, expect=1))
    assert message in line
    with app.app_context(), session_scope() as s:
        assert s.scalar(select(func.count(Campaign.id))) == 0


def test_kiosk_create_prints_working_links_and_revoke_stops_them(app, sipas):
    sipas(
        "campaign", "create", "--questionnaire", "sipas-2017", "--units", "tra-bong-2023", "--name", "Đợt 1"
    )
    out = sipas(
        *("kiosk", "create", "--campaign", "1", "--unit", "tra-xuan", "--unit", "son-tra"),
        *("--counter", "Quầy 1", "--base-url", "https://sipas.trabong.gov.vn/"),
    )
    links = re.findall(r"^(\d+)\t(\S+)\t(.+?)\t(https://sipas\.trabong\.gov\.vn/k/(\S+))$", out, re.M)
    assert [(unit, name) for _, unit, name, _, _ in links] == [
        ("tra-xuan", "Thị trấn Trà Xuân"),
        ("son-tra", "Xã Sơn Trà"),
    ]
    with app.app_context(), session_scope() as s:
        for kiosk_id, unit, _, _, token in links:
            kiosk = kiosk_for_token(s, token)
            assert kiosk is not None and kiosk.id == int(kiosk_id) and kiosk.unit_code == unit
            assert kiosk.counter == "Quầy 1"
    listing = sipas("kiosk", "list", "--campaign", "1")
    assert links[0][4][:6] in listing and "active" in listing

    sipas("kiosk", "revoke", "--id", links[0][0])
    sipas("kiosk", "revoke", "--token", links[1][3])  # the whole URL is accepted too
    with app.app_context(), session_scope() as s:
        assert all(kiosk_for_token(s, token) is None for *_, token in links)
    all_units = sipas("kiosk", "create", "--campaign", "1", "--all-units")
    assert len(all_units.strip().splitlines()) == 16
    assert "http://127.0.0.1:5000/k/" in all_units

    assert "ha-noi" in _error_line(sipas("kiosk", "create", "--campaign", "1", "--unit", "ha-noi", expect=1))
    assert "99" in _error_line(sipas("kiosk", "create", "--campaign", "99", "--unit", "tra-xuan", expect=1))
    assert _error_line(sipas("kiosk", "revoke", "--id", "999", expect=1))
    assert _error_line(sipas("kiosk", "create", "--campaign", "1", expect=1))


def test_export_writes_the_file_it_names(app, sipas, tmp_path, make_campaign):
    from conftest import full_answers

    from questionnaires import load_questionnaire
    from survey.storage import save_response

    campaign_id, _ = make_campaign("sipas-2017", kiosk_units=())
    q = load_questionnaire("sipas-2017")
    with app.app_context(), session_scope() as s:
        campaign = s.get(Campaign, campaign_id)
        for unit in ("tra-xuan", "tra-tay"):
            save_response(
                s, campaign=campaign, unit_code=unit, instance_id=str(uuid.uuid4()),
                answers=full_answers(q, {"gop_y": "Ý kiến: tốt"}), questionnaire_id="sipas-2017",
                version="2017.1", started_at=None, submitted_at=None, source="paper",
            )  # fmt: skip
    out = tmp_path / "xuat.xlsx"
    assert "2" in sipas("export", "--campaign", str(campaign_id), "--out", str(out))
    frame = pd.read_excel(out, sheet_name="Dữ liệu", dtype=str)
    assert sorted(frame["unit"]) == ["tra-tay", "tra-xuan"] and set(frame["gop_y"]) == {"Ý kiến: tốt"}
    csv_out = tmp_path / "xuat.csv"
    sipas("export", "--campaign", str(campaign_id), "--out", str(csv_out))
    assert csv_out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert ".pdf" in _error_line(
        sipas("export", "--campaign", "1", "--out", str(tmp_path / "x.pdf"), expect=1)
    )
    assert _error_line(sipas("export", "--campaign", "1", "--out", str(tmp_path / "no" / "x.csv"), expect=1))
    assert _error_line(sipas("export", "--campaign", "77", "--out", str(tmp_path / "x.csv"), expect=1))


def test_demo_sets_up_what_it_prints_and_is_idempotent(app, database_url, tmp_path):
    runner = CliRunner()
    env = {"SIPAS_INSTANCE_PATH": str(tmp_path / "demo-instance"), "SIPAS_DATABASE_URL": "sqlite:///unused"}
    argv = ["demo", "--no-serve", "--sample-responses", "3", "--database-url", database_url, "--port", "5055"]

    first = runner.invoke(cli, argv, env=env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "Xã cố ý ít phiếu" not in first.output  # 3 a commune: none thinner than the rest
    password = re.search(r"password:\s+(\S+)", first.output).group(1)
    first_kiosk = re.search(r"(http://127\.0\.0\.1:5055/k/(\S+))", first.output)
    assert "http://127.0.0.1:5055/admin/login" in first.output
    kiosk_file = tmp_path / "demo-instance" / "demo-kiosks.txt"
    assert str(kiosk_file) in first.output
    lines = [line.split("\t") for line in kiosk_file.read_text(encoding="utf-8").splitlines() if "\t" in line]
    assert len(lines) == 16 and lines[0][2] == first_kiosk.group(1)
    assert lines[0][1] == "Thị trấn Trà Xuân"

    with app.test_request_context("/"), session_scope() as s:
        assert authenticate(s, "admin", password).role == "admin"
        campaign = s.scalars(select(Campaign)).one()
        assert "DEMO" in campaign.name and campaign.questionnaire_id == "sipas-2017"
        assert len(campaign.units) == 16 and all(u.target and u.population for u in campaign.units)
        assert s.scalar(select(func.count(Response.id))) == 16 * 3
        for unit_code, _, url in lines:
            assert kiosk_for_token(s, url.rsplit("/k/", 1)[1]).unit_code == unit_code

    second = runner.invoke(cli, argv, env=env, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    new_password = re.search(r"password:\s+(\S+)", second.output).group(1)
    assert new_password != password
    assert kiosk_file.read_text(encoding="utf-8").count("/k/") == 16
    assert [
        line.split("\t") for line in kiosk_file.read_text(encoding="utf-8").splitlines() if "\t" in line
    ] == lines
    with app.test_request_context("/"), session_scope() as s:
        assert s.scalar(select(func.count(Campaign.id))) == 1
        assert s.scalar(select(func.count(Kiosk.id))) == 16
        assert s.scalar(select(func.count(Response.id))) == 16 * 3  # the same responses, not new ones
        assert s.scalar(select(func.count(User.id))) == 1
        assert authenticate(s, "admin", password) is None
        assert authenticate(s, "admin", new_password) is not None

    # More sample responses on request; the scoring input reads them back.
    third = runner.invoke(cli, [*argv[:3], "5", *argv[4:]], env=env, catch_exceptions=False)
    assert third.exit_code == 0, third.output
    from survey.storage import responses_frame

    frame = responses_frame(1, database_url)
    assert len(frame) == 16 * 5 and frame["unit"].nunique() == 16
    assert set(frame["tiep_can_1"]) <= {"1", "2", "3", "4", "5"}


def test_demo_sets_a_staff_pin_prints_it_and_the_kiosk_pages_carry_it(database_url, tmp_path, monkeypatch):
    import hashlib

    from flask import Flask

    served = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: served.append(self))
    runner = CliRunner()
    env = {"SIPAS_INSTANCE_PATH": str(tmp_path / "demo-instance"), "SIPAS_DATABASE_URL": "sqlite:///unused"}
    argv = ["demo", "--sample-responses", "0", "--database-url", database_url]
    first = runner.invoke(cli, argv, env=env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    pin = re.search(r"staff PIN: (\d+)", first.output).group(1)
    assert len(pin) == 6
    pin_file = tmp_path / "demo-instance" / "demo-staff-pin.txt"
    assert str(pin_file) in first.output and pin_file.read_text().strip() == pin
    assert pin_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    # The served app checks that PIN: the kiosk page carries its salted hash, never the PIN itself.
    app = served[0]
    assert app.config["KIOSK_STAFF_PIN"] == pin
    url = re.search(r"http://127\.0\.0\.1:5000(/k/\S+)", first.output).group(1)
    page = app.test_client().get(url).get_data(as_text=True)
    record = re.search(r'data-staff-pin="([^"]+)"', page).group(1)
    algorithm, iterations, salt, digest = record.split("$")
    assert algorithm == "pbkdf2-sha256" and pin not in page
    assert hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), int(iterations)).hex() == digest
    app.extensions["sipas.engine"].dispose()
    # The same PIN on the next run; a configured one wins.
    second = runner.invoke(cli, [*argv, "--no-serve"], env=env, catch_exceptions=False)
    assert f"staff PIN: {pin} " in second.output
    third = runner.invoke(
        cli, [*argv, "--no-serve"], env={**env, "SIPAS_KIOSK_STAFF_PIN": "482916"}, catch_exceptions=False
    )
    assert "staff PIN: 482916   (SIPAS_KIOSK_STAFF_PIN)" in third.output


def test_demo_on_all_interfaces_prints_lan_links_a_qr_code_and_why_https(database_url, tmp_path, monkeypatch):
    from flask import Flask

    import survey.commands as commands

    served = []

    def run(self, **kw):
        served.append(kw)
        self.extensions["sipas.engine"].dispose()

    monkeypatch.setattr(Flask, "run", run)
    monkeypatch.setattr(commands, "_lan_address", lambda: "127.0.0.1")  # tests stay on the loopback
    env = {"SIPAS_INSTANCE_PATH": str(tmp_path / "demo-instance"), "SIPAS_DATABASE_URL": "sqlite:///unused"}
    argv = [
        "demo",
        "--host",
        "0.0.0.0",
        "--port",
        "5066",
        "--sample-responses",
        "0",
        "--database-url",
        database_url,
    ]
    result = CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    kiosk = re.search(
        r"scan with a tablet — Thị trấn Trà Xuân: (http://127\.0\.0\.1:5066/k/\S+)", result.output
    )
    assert kiosk and "http://127.0.0.1:5066/admin/login" in result.output
    assert "█" in result.output or "▀" in result.output  # the QR code, in block characters
    assert "KHÔNG có chế độ ngoại tuyến" in result.output and "docs/deployment.md" in result.output
    assert served == [
        {"host": "0.0.0.0", "port": 5066, "threaded": True, "use_reloader": False, "debug": False}
    ]
    # On the loopback, as before: no QR code, no note.
    quiet = CliRunner().invoke(cli, [*argv[:1], *argv[5:], "--no-serve"], env=env, catch_exceptions=False)
    assert "scan with a tablet" not in quiet.output and "HTTPS" not in quiet.output


def test_serve_runs_the_development_server(monkeypatch, sipas):
    from flask import Flask

    calls = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: calls.append((self.config["ENV"], kw)))
    out = sipas("serve", "--port", "5077")
    assert "http://127.0.0.1:5077/" in out
    expected = {"host": "127.0.0.1", "port": 5077, "threaded": True, "use_reloader": False, "debug": False}
    assert calls == [("development", expected)]


def test_commands_say_when_the_database_is_unreachable(tmp_path):
    runner = CliRunner()
    env = {
        "SIPAS_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2",
        "SIPAS_INSTANCE_PATH": str(tmp_path),
    }
    result = runner.invoke(cli, ["campaign", "list"], env=env)
    assert result.exit_code == 1
    assert "không kết nối được" in _error_line(result.output)


def test_the_demo_reads_as_a_normal_report_with_two_thin_communes(database_url, tmp_path):
    import analysis
    from analysis.options import ScoringOptions, score_arguments
    from survey.demo import THIN_UNITS, set_up_demo
    from survey.design import campaign_design

    env = {"SIPAS_INSTANCE_PATH": str(tmp_path / "demo-instance"), "SIPAS_DATABASE_URL": "sqlite:///unused"}
    argv = ["demo", "--no-serve", "--database-url", database_url]
    result = CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    thin = "Xã cố ý ít phiếu (mẫu nhỏ, dưới ngưỡng 30; deliberately thin): Xã Trà Xinh (12), Xã Trà Tây (12)"
    assert thin in result.output
    assert set_up_demo.__kwdefaults__["sample_responses"] >= 30
    design = campaign_design(1, database_url)
    table = analysis.score(**score_arguments(ScoringOptions(campaign=1), design))
    assert table.min_n == 30
    for unit in table.units:
        if unit.unit in THIN_UNITS:
            assert unit.n == 12 and "small_sample" in unit.flags
        else:
            assert unit.n == 40 and unit.flags == () and unit.target == 40
    assert len({u.rank_group for u in table.units}) > 3  # communes that can be told apart
