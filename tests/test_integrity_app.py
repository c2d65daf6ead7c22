"""Integrity checks in the app, on SQLite and PostgreSQL: campaign settings (stored, checked, audited),
flags on a seeded campaign with planted forms, the `sipas campaign integrity|settings` commands, the
admin pages (settings, "Kiểm tra chất lượng", flags on the response list and detail), and kiosk paradata."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic import command
from click.testing import CliRunner
from conftest import full_answers, submission
from sqlalchemy import inspect, select
from test_browser_kiosk import browser, live  # noqa: F401 - fixtures of the paradata browser test

from questionnaires import load_questionnaire
from survey.assignments import assign
from survey.campaigns import create_campaign, create_kiosk
from survey.cli import cli
from survey.db import alembic_config, make_engine, session_scope
from survey.integrity import SettingError, campaign_flags, change_settings, response_flags, settings_for
from survey.models import AuditEvent, Campaign, Response, User
from survey.review import set_state
from survey.storage import campaign_frame, save_response
from survey.users import create_user

pytestmark = pytest.mark.db

Q = load_questionnaire("sipas-2017")
LIKERT = [q.code for q in Q.questions() if q.appearance == "likert"]
PASSWORDS = {"chuyen_vien": "mat-khau-chuyen-vien", "dieu_tra": "mat-khau-dieu-tra"}


def _store(session, campaign, unit, answers, *, start, seconds=300, source="kiosk", kiosk=None, clerk=None):
    """Store one form filled at ``start`` (Vietnam time) in ``seconds``; return its instance id."""
    begin = datetime.fromisoformat(start + "+07:00")
    response, created = save_response(
        session,
        campaign=campaign,
        unit_code=unit,
        instance_id=str(uuid.uuid4()),
        answers=full_answers(Q, {"da_gop_y": "1", **answers}),
        questionnaire_id=campaign.questionnaire_id,
        version=campaign.questionnaire_version,
        started_at=None if source == "paper" else begin,
        submitted_at=begin + timedelta(seconds=seconds),
        source=source,
        kiosk=kiosk,
        entered_by=clerk,
    )
    assert created
    return response.instance_id


def _honest(rng) -> dict[str, str]:
    return {code: str(rng.choice(["3", "4", "5"], p=[0.1, 0.5, 0.4])) for code in LIKERT}


@pytest.fixture
def planted(make_app):
    """A campaign of 30 honest kiosk forms and planted ones; returns (app, campaign id, {kind: ids})."""
    app = make_app(WTF_CSRF_ENABLED=False)
    rng = np.random.default_rng(11)
    with app.app_context(), session_scope() as session:
        for name, password in PASSWORDS.items():
            create_user(session, name, password, "analyst" if name == "chuyen_vien" else "enumerator")
        campaign = create_campaign(
            session, name="Khảo sát 2024", questionnaire="sipas-2017", unit_list="tra-bong-2023"
        )
        counter, _ = create_kiosk(session, campaign, "tra-xuan", counter="Quầy 1")
        other, _ = create_kiosk(session, campaign, "tra-bui", counter="Quầy 2")
        session.commit()
        for clerk in session.scalars(select(User).where(User.role == "enumerator")).all():
            assign(session, clerk, campaign, None)  # every unit (survey.assignments)
        ids: dict[str, set[str]] = {"honest": set()}
        first = datetime(2024, 5, 6, 7, 30)  # a Monday
        for i in range(30):  # every 15 minutes, 3-6.5 minutes each: nothing to flag
            at = (first + timedelta(minutes=15 * i)).isoformat()
            ids["honest"].add(
                _store(
                    session, campaign, "tra-xuan", _honest(rng), start=at, seconds=180 + 7 * i, kiosk=counter
                )
            )
        ids["speeding"] = {
            _store(
                session,
                campaign,
                "tra-xuan",
                _honest(rng),
                start="2024-05-07T09:00",
                seconds=45,
                kiosk=counter,
            )
        }
        ids["straight_lining"] = {
            _store(
                session,
                campaign,
                "tra-xuan",
                dict.fromkeys(LIKERT, "5"),
                start="2024-05-07T10:00",
                kiosk=counter,
            )
        }
        ids["off_hours"] = {
            _store(session, campaign, "tra-xuan", _honest(rng), start="2024-05-07T21:15", kiosk=counter)
        }
        ids["burst_kiosk"] = {
            _store(
                session,
                campaign,
                "tra-bui",
                _honest(rng),
                start=f"2024-05-08T10:0{2 * i}",
                seconds=100,
                kiosk=other,
            )
            for i in range(5)
        }
        enumerator = session.scalars(select(User).where(User.username == "dieu_tra")).one()
        today = datetime.now(UTC).date().isoformat()
        copied = _honest(rng)
        ids["near_duplicate"] = {
            _store(
                session,
                campaign,
                "tra-giang",
                copied,
                start=f"{today}T00:00",
                seconds=0,
                source="paper",
                clerk=enumerator,
            )
            for _ in range(2)
        }
        month_ago = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
        ids["late_keying"] = {
            _store(
                session,
                campaign,
                "tra-giang",
                _honest(rng),
                start=f"{month_ago}T00:00",
                seconds=0,
                source="paper",
                clerk=enumerator,
            )
        }
        return app, campaign.id, ids


def _found(result) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in result.lines:
        out.setdefault(line.rule, set()).add(line.response_id)
    return out


PLANTED = ("speeding", "straight_lining", "off_hours", "burst_kiosk", "near_duplicate", "late_keying")


# -------------------------------------------------------------------------------------- the checks
def test_the_checks_find_the_planted_forms_and_exclude_none(planted):
    app, campaign_id, ids = planted
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        result = campaign_flags(session, campaign)
        found = _found(result)
        assert found == {rule: ids[rule] for rule in PLANTED}  # every planted form, and nothing honest
        assert not result.flagged_ids() & ids["honest"]
        burst = [line for line in result.lines if line.rule == "burst_kiosk"]
        assert burst[0].label == "Nhiều phiếu dồn dập từ một máy"
        assert (
            burst[0].evidence.startswith("5 phiếu từ máy ")
            and "Quầy 2" in burst[0].evidence
            and "10:01–10:09 ngày 08/05/2024" in burst[0].evidence
        )
        speeding = next(line for line in result.lines if line.rule == "speeding")
        assert speeding.evidence.startswith("thời gian trả lời 45 giây, dưới 1/3 trung vị")
        assert "burst_enumerator" in result.report.checks_run  # ran: paper keying is not a burst by default
        assert dict((s.rule, s.reason) for s in result.report.skipped)["unit_jump"].startswith(
            "không có kết quả"
        )
        # A flag excludes nothing: every form is still scored and still "received".
        frame = campaign_frame(session.get_bind(), campaign_id)
        assert len(frame) == 30 + 1 + 1 + 1 + 5 + 2 + 1
        states = set(
            session.scalars(select(Response.review_state).where(Response.campaign_id == campaign_id))
        )
        assert states == {"received"}


def test_people_decide_by_review_and_the_flags_follow(planted):
    app, campaign_id, ids = planted
    speeder = next(iter(ids["speeding"]))
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert speeder in campaign_flags(session, campaign).flagged_ids("speeding")
        response = session.scalars(select(Response).where(Response.instance_id == speeder)).one()
        [flag] = response_flags(session, response)
        assert (flag.rule, flag.label, flag.unit) == ("speeding", "Trả lời quá nhanh", "tra-xuan")
        set_state(session, response, "rejected", "Điền 45 giây, cán bộ xác nhận là phiếu thử")
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "response_excluded")).all()
        assert len(audited) == 1 and audited[0].detail["reason"].startswith("Điền 45 giây")
        # The rejected form leaves the scored forms, so it leaves the checks too (no stale cache).
        assert speeder not in campaign_flags(session, campaign).flagged_ids()
        assert response_flags(session, response) == []


def test_settings_are_stored_as_changes_checked_and_turn_checks_off(planted):
    app, campaign_id, ids = planted
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.integrity_settings is None and settings_for(campaign).burst_forms == 5
        made = change_settings(
            campaign, {"burst_forms": "6", "speeding": "tắt", "office_hours": "T2-T6 07:00-22:00"}
        )
        assert set(made.changes) == {"burst_forms", "speeding", "office_hours"}
        assert made.to_audit()["changes"]["burst_forms"] == {"old": 5, "new": 6}
        session.commit()
        assert (
            campaign.integrity_settings["burst_forms"] == 6
            and campaign.integrity_settings["speeding"] is False
        )
        found = _found(campaign_flags(session, campaign))
        assert "speeding" not in found and "burst_kiosk" not in found and "off_hours" not in found
        assert found["straight_lining"] == ids["straight_lining"]
        # Back to the default: stored as no change at all.
        change_settings(
            campaign, {"burst_forms": "default", "speeding": "default", "office_hours": "mặc định"}
        )
        assert campaign.integrity_settings is None


@pytest.mark.parametrize(
    ("values", "name", "message"),
    [
        (
            {"burst_forms": "1"},
            "burst_forms",
            "Cài đặt Số phiếu tạo thành một đợt dồn (burst_forms): phải ≥ 2.",
        ),
        ({"speeding_fraction": "1,5"}, "speeding_fraction", "(speeding_fraction): phải ở giữa 0 và 1"),
        ({"burst_minutes": "mười"}, "burst_minutes", "“mười” không phải là số"),
        ({"speeding_min_forms": "2.5"}, "speeding_min_forms", "cần một số nguyên"),
        ({"near_duplicate_max_differences": "3"}, "near_duplicate_max_differences", "phải từ 0 đến 2"),
        ({"burst_sources": "kiosk, may_tinh"}, "burst_sources", "không có “may_tinh”"),
        ({"office_hours": "T8 07:00-17:00"}, "office_hours", "ngày “T8” không hợp lệ"),
        ({"holidays": "2024-02-30"}, "holidays", "phải có dạng YYYY-MM-DD"),
        ({"speeding": "có lẽ"}, "speeding", "dùng bật/tắt"),
        ({"toc_do": "1"}, "toc_do", "Không có cài đặt kiểm tra “toc_do”"),
    ],
)
def test_a_bad_setting_is_refused_with_a_message_naming_it(make_app, make_campaign, values, name, message):
    app = make_app()
    campaign_id, _ = make_campaign(kiosk_units=())
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        with pytest.raises(SettingError) as caught:
            change_settings(campaign, values)
        assert message in str(caught.value) and name in caught.value.problems
        assert campaign.integrity_settings is None  # nothing changed


# ---------------------------------------------------------------------------------------- commands
@pytest.fixture
def sipas(database_url, tmp_path):
    runner = CliRunner()
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args, expect=0):
        result = runner.invoke(cli, ["campaign", *args], env=env, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result.output

    return run


def test_campaign_integrity_and_settings_commands(planted, sipas):
    app, campaign_id, ids = planted
    out = sipas("integrity", "--campaign", str(campaign_id))
    rows = [line.split("\t") for line in out.splitlines()[2:] if line.count("\t") == 3]
    assert {(r[0], r[2]) for r in rows} == {(i, rule) for rule in PLANTED for i in ids[rule]}
    assert "11 phiếu có cờ trên 41 phiếu được tính" in out
    only = sipas("integrity", "--campaign", str(campaign_id), "--rule", "burst_kiosk")
    assert sum(1 for line in only.splitlines() if "\tburst_kiosk\t" in line) == 5

    shown = sipas("settings", "--campaign", str(campaign_id))
    assert "burst_forms = 5\n" in shown and "office_hours = T2-T6 07:00-17:30\n" in shown
    changed = sipas(
        "settings",
        "--campaign",
        str(campaign_id),
        "--integrity",
        "burst_forms=6",
        "--integrity",
        "near_duplicate=off",
    )
    assert "Đã đổi 2 cài đặt" in changed and "burst_forms = 6\t(đã đổi; mặc định 5)" in changed
    after = sipas("integrity", "--campaign", str(campaign_id))
    assert "\tburst_kiosk\t" not in after and "\tnear_duplicate\t" not in after
    with app.app_context(), session_scope() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "integrity_settings_changed")
        ).one()
        assert event.detail["via"] == "cli" and event.detail["campaign_id"] == campaign_id
        assert event.detail["changes"] == {
            "burst_forms": {"old": 5, "new": 6},
            "near_duplicate": {"old": True, "new": False},
        }

    error = sipas("settings", "--campaign", str(campaign_id), "--integrity", "burst_minutes=0", expect=1)
    lines = [line for line in error.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "Error: Cài đặt Trong khoảng (phút) (burst_minutes): phải > 0"
    )
    assert "TÊN=GIÁ_TRỊ" in sipas(
        "settings", "--campaign", str(campaign_id), "--integrity", "burst_forms", expect=1
    )
    assert "không có đợt khảo sát số 99" in sipas("integrity", "--campaign", "99", expect=1)
    with app.app_context(), session_scope() as session:  # the refused changes changed nothing
        assert session.get(Campaign, campaign_id).integrity_settings == {
            "burst_forms": 6,
            "near_duplicate": False,
        }
        assert (
            len(
                session.scalars(
                    select(AuditEvent).where(AuditEvent.action == "integrity_settings_changed")
                ).all()
            )
            == 1
        )


# ------------------------------------------------------------------------------------------- pages
def login(app, username: str):
    client = app.test_client()
    reply = client.post("/admin/login", data={"username": username, "password": PASSWORDS[username]})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return client


def text(reply) -> str:
    return reply.get_data(as_text=True)


def test_the_quality_page_lists_flags_by_rule_with_evidence_and_links(planted):
    app, campaign_id, ids = planted
    client = login(app, "chuyen_vien")
    page = client.get(f"/admin/campaigns/{campaign_id}/integrity")
    assert page.status_code == 200
    html = text(page)
    assert "<h1>Kiểm tra chất lượng</h1>" in html and "11 phiếu có cờ trên 41 phiếu" in html
    for rule in PLANTED:
        section = html.split(f'id="flags-{rule}"')[1].split("</section>")[0]
        assert set(re.findall(r'<tr data-response="([0-9a-f-]{36})"', section)) == ids[rule]
        for iid in ids[rule]:
            assert f'href="/admin/responses/{iid}#flags"' in section
    assert "Nhiều phiếu dồn dập từ một máy · 5 phiếu" in html
    assert "Cờ không tự loại phiếu nào" in html
    assert 'data-rule="unit_jump"' in html  # skipped, with its reason
    # Enumerators (the office being graded) never see flags.
    assert login(app, "dieu_tra").get(f"/admin/campaigns/{campaign_id}/integrity").status_code == 403


def test_the_settings_page_shows_defaults_with_reasons_and_audits_changes(planted):
    app, campaign_id, ids = planted
    client = login(app, "chuyen_vien")
    url = f"/admin/campaigns/{campaign_id}/integrity/settings"
    html = text(client.get(url))
    assert 'name="burst_forms" spellcheck="false" type="text" value="5"' in html
    assert "Mặc định: 1/3." in html and "một phần ba đủ xa" in html  # the default and its reason
    assert 'checked class="field__input" id="speeding" name="speeding" type="checkbox"' in html
    form = {
        m[0]: m[1] for m in re.findall(r'name="(\w+)" spellcheck="false" type="text" value="([^"]*)"', html)
    }
    form |= {
        name: "y"
        for name in re.findall(r'checked class="field__input" id="\w+" name="(\w+)" type="checkbox"', html)
    }
    assert form["office_hours"] == "T2-T6 07:00-17:30" and form["speeding_sources"] == "kiosk, phone, api"

    bad = client.post(url, data={**form, "burst_minutes": "-3", "late_keying_days": "abc"})
    assert bad.status_code == 422
    bad_html = text(bad)
    assert "Cài đặt Trong khoảng (phút) (burst_minutes): phải &gt; 0." in bad_html
    assert "(late_keying_days): “abc” không phải là số." in bad_html
    with app.app_context(), session_scope() as session:
        assert session.get(Campaign, campaign_id).integrity_settings is None

    no_burst = {k: v for k, v in form.items() if k != "burst_kiosk"}  # the checkbox unticked
    done = client.post(url, data={**no_burst, "burst_forms": "6"})
    assert done.status_code == 302 and done.headers["Location"].endswith(url)
    assert "Đã lưu 2 thay đổi" in text(client.get(url))
    with app.app_context(), session_scope() as session:
        assert session.get(Campaign, campaign_id).integrity_settings == {
            "burst_kiosk": False,
            "burst_forms": 6,
        }
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "integrity_settings_changed")
        ).one()
        assert event.username == "chuyen_vien"
        assert event.detail["changes"]["burst_kiosk"] == {"old": True, "new": False}
    assert 'id="flags-burst_kiosk"' not in text(client.get(f"/admin/campaigns/{campaign_id}/integrity"))

    reset = client.post(url, data={**no_burst, "reset": "1"})
    assert reset.status_code == 302
    with app.app_context(), session_scope() as session:
        assert session.get(Campaign, campaign_id).integrity_settings is None
        assert (
            len(
                session.scalars(
                    select(AuditEvent).where(AuditEvent.action == "integrity_settings_changed")
                ).all()
            )
            == 2
        )


def test_the_settings_form_needs_its_csrf_token(make_app, make_campaign):
    app = make_app()
    campaign_id, _ = make_campaign(kiosk_units=())
    with app.app_context(), session_scope() as session:
        create_user(session, "chuyen_vien", PASSWORDS["chuyen_vien"], "analyst")
        session.commit()
    client = app.test_client()
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', text(client.get("/admin/login"))
    ).group(1)
    client.post(
        "/admin/login",
        data={"username": "chuyen_vien", "password": PASSWORDS["chuyen_vien"], "csrf_token": token},
    )
    url = f"/admin/campaigns/{campaign_id}/integrity/settings"
    assert client.post(url, data={"burst_forms": "6"}).status_code in (400, 422)
    with app.app_context(), session_scope() as session:
        assert session.get(Campaign, campaign_id).integrity_settings is None


def test_the_response_list_filters_by_flag_and_the_detail_shows_them(planted):
    app, campaign_id, ids = planted
    client = login(app, "chuyen_vien")
    base = f"/admin/campaigns/{campaign_id}/responses"
    every = text(client.get(base))
    assert '<select class="field__input" id="flag" name="flag">' in every
    flagged = text(client.get(f"{base}?flag=any"))
    listed = set(re.findall(r'<tr data-response="([0-9a-f-]{36})"', flagged))
    assert listed == set().union(*(ids[r] for r in PLANTED))
    burst = set(
        re.findall(r'<tr data-response="([0-9a-f-]{36})"', text(client.get(f"{base}?flag=burst_kiosk")))
    )
    assert burst == ids["burst_kiosk"]
    clean = set(re.findall(r'<tr data-response="([0-9a-f-]{36})"', text(client.get(f"{base}?flag=none"))))
    assert clean == ids["honest"]
    both = text(client.get(f"{base}?flag=any&unit=tra-giang"))
    assert (
        set(re.findall(r'<tr data-response="([0-9a-f-]{36})"', both))
        == ids["near_duplicate"] | ids["late_keying"]
    )
    assert 'data-rule="near_duplicate"' in both and "Phiếu gần trùng nhau" in both
    unknown = client.get(f"{base}?flag=speed")
    assert unknown.status_code == 422 and "Cờ “speed” không có" in text(unknown)

    speeder = next(iter(ids["speeding"]))
    page = text(client.get(f"/admin/responses/{speeder}"))
    panel = page.split('id="flags"')[1].split("</section>")[0]
    assert "Trả lời quá nhanh" in panel and "45 giây" in panel and "không tự loại phiếu" in panel
    honest = next(iter(ids["honest"]))
    assert "Không có cờ nào." in text(client.get(f"/admin/responses/{honest}"))

    # An enumerator sees their own paper forms, never the flags on them.
    clerk = login(app, "dieu_tra")
    own = text(clerk.get(f"{base}?flag=any"))
    assert 'id="flag"' not in own and "Phiếu gần trùng nhau" not in own
    assert (
        set(re.findall(r'<tr data-response="([0-9a-f-]{36})"', own))
        == ids["near_duplicate"] | ids["late_keying"]
    )
    dup = next(iter(ids["near_duplicate"]))
    assert 'id="flags"' not in text(clerk.get(f"/admin/responses/{dup}"))


# ---------------------------------------------------------------------------------------- schema
def test_migration_0005_adds_and_drops_the_columns(database_url):
    cfg = alembic_config(database_url)
    engine = make_engine(database_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("campaigns")}
        assert "integrity_settings" in columns
        assert "paradata" in {c["name"] for c in inspect(engine).get_columns("responses")}
        engine.dispose()
        command.downgrade(cfg, "0004")
        assert "integrity_settings" not in {c["name"] for c in inspect(engine).get_columns("campaigns")}
        assert "paradata" not in {c["name"] for c in inspect(engine).get_columns("responses")}
        engine.dispose()
        command.upgrade(cfg, "head")
        assert "paradata" in {c["name"] for c in inspect(engine).get_columns("responses")}
    finally:
        engine.dispose()


# -------------------------------------------------------------------------------------- paradata
PARADATA = {
    "v": 1,
    "pages": [
        {"page": 0, "ms": 41_200, "taps": 9, "visits": 1},
        {"page": 1, "ms": 95_000.0, "taps": 22, "visits": 2},
    ],
    "review": {"ms": 5_300, "taps": 2, "visits": 1},
}


def _post(client, body):
    return client.post("/api/v1/responses", json=body)


def test_the_kiosk_definition_says_the_server_takes_paradata(client, make_campaign):
    _, tokens = make_campaign()
    definition = client.get(f"/api/v1/kiosk/{tokens['tra-xuan']}/definition").get_json()
    assert definition["paradata"] == {"v": 1, "max_pages": 200}


def test_paradata_is_stored_with_the_answers_and_left_out_of_the_content_hash(app, client, make_campaign):
    _, tokens = make_campaign()
    body = submission(Q, tokens["tra-xuan"], full_answers(Q, {"da_gop_y": "1"}), paradata=PARADATA)
    reply = _post(client, body)
    assert reply.status_code == 201 and "warnings" not in reply.get_json()
    # The same form resent without its paradata is the same response ("duplicate"), not a conflict.
    again = _post(client, {k: v for k, v in body.items() if k != "paradata"})
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    with app.app_context(), session_scope() as session:
        stored = session.scalars(select(Response)).one()
        assert stored.paradata == {
            "v": 1,
            "pages": [
                {"page": 0, "ms": 41_200, "taps": 9, "visits": 1},
                {"page": 1, "ms": 95_000, "taps": 22, "visits": 2},
            ],
            "review": {"ms": 5_300, "taps": 2, "visits": 1},
        }
        assert all(isinstance(v, int) for page in stored.paradata["pages"] for v in page.values())


@pytest.mark.parametrize(
    "paradata",
    [
        "fast",
        [1, 2],
        {"pages": []},  # no version
        {"v": 2, "pages": []},
        {"v": 1, "pages": [{"page": 0, "ms": "41200"}]},  # numbers only
        {"v": 1, "pages": [{"page": 0, "ms": True}]},
        {"v": 1, "pages": [{"page": 0, "ms": -1}]},
        {"v": 1, "pages": [{"page": 0, "ms": 1.5}]},
        {"v": 1, "pages": [{"page": 0, "ms": 86_400_001}]},  # more than a day on one page
        {"v": 1, "pages": [{"ms": 100}]},  # which page?
        {"v": 1, "pages": [{"page": 0, "ms": 1, "label": "Phần A"}]},
        {"v": 1, "pages": [{"page": i, "ms": 1} for i in range(201)]},  # bounded size
        {"v": 1, "pages": [], "review": {"ms": 1, "page": 3}},
        {"v": 1, "pages": [], "device": "iPad"},
    ],
)
def test_malformed_paradata_is_dropped_politely_and_the_answers_kept(app, client, make_campaign, paradata):
    _, tokens = make_campaign()
    body = submission(Q, tokens["tra-xuan"], full_answers(Q, {"da_gop_y": "1"}), paradata=paradata)
    reply = _post(client, body)
    assert reply.status_code == 201
    data = reply.get_json()
    assert data["status"] == "created" and data["paradata"] == "ignored"
    assert data["warnings"][0]["item"] == "paradata"
    assert data["warnings"][0]["message"].startswith("Đã lưu câu trả lời;")
    with app.app_context(), session_scope() as session:
        stored = session.scalars(select(Response)).one()
        assert stored.paradata is None and stored.answers["tiep_can_1"] == "4"


def test_a_refused_form_stays_refused_whatever_its_paradata(app, client, make_campaign):
    _, tokens = make_campaign()
    body = submission(Q, tokens["tra-xuan"], {"tiep_can_1": "9"}, paradata=PARADATA)
    assert _post(client, body).status_code == 400
    with app.app_context(), session_scope() as session:
        assert session.scalars(select(Response)).first() is None


@pytest.mark.browser
@pytest.mark.filterwarnings(
    r"ignore:unclosed file <_io\.BufferedReader name='[^']*survey/static/:ResourceWarning"
)
def test_the_tablet_sends_its_timings_and_taps_per_page(browser, live):  # noqa: F811 - the fixtures
    from browser_helpers import wait_for
    from test_browser_kiosk import TABLET, _fill_until_review, _open_form, _stored

    context = browser.new_context(**TABLET)
    page = context.new_page()
    posts: list[dict] = []
    context.on("request", lambda r: posts.append(r.post_data_json) if r.method == "POST" else None)
    _open_form(page, live)
    _fill_until_review(page)
    page.tap("#k-submit")
    page.wait_for_selector("#k-thanks")
    stored = wait_for(lambda: _stored(live["app"]), what="the response stored", page=page)
    paradata = stored[0].paradata
    context.close()
    assert posts[0]["paradata"] == paradata  # stored as sent: it was well formed
    sections = len(Q.sections)
    pages = paradata["pages"]
    assert [p["page"] for p in pages] == list(range(sections))  # every page of sipas-2017, in order
    assert all(p["ms"] > 0 and p["visits"] >= 1 for p in pages)
    # Taps: the first page's profile answers (4) and "next" twice (the number out of range, then on).
    assert pages[0]["taps"] >= 6
    assert sum(p["taps"] for p in pages) >= 18 + 4 + 4  # at least the Likert, feedback and profile taps
    assert paradata["review"]["visits"] == 1


def test_an_empty_campaign_has_a_quality_page_and_nothing_flagged(make_app, make_campaign, sipas):
    app = make_app(WTF_CSRF_ENABLED=False)
    campaign_id, _ = make_campaign(kiosk_units=())
    with app.app_context(), session_scope() as session:
        create_user(session, "chuyen_vien", PASSWORDS["chuyen_vien"], "analyst")
        session.commit()
    page = login(app, "chuyen_vien").get(f"/admin/campaigns/{campaign_id}/integrity")
    assert page.status_code == 200 and "0 phiếu có cờ trên 0 phiếu" in text(page)
    assert "0 phiếu có cờ trên 0 phiếu được tính" in sipas("integrity", "--campaign", str(campaign_id))


def test_the_detail_page_shows_the_tablet_timings(make_app, make_campaign):
    app = make_app(WTF_CSRF_ENABLED=False)
    client = app.test_client()
    _, tokens = make_campaign()
    body = submission(Q, tokens["tra-xuan"], full_answers(Q, {"da_gop_y": "1"}), paradata=PARADATA)
    assert _post(client, body).status_code == 201
    with app.app_context(), session_scope() as session:
        create_user(session, "chuyen_vien", PASSWORDS["chuyen_vien"], "analyst")
        session.commit()
    html = text(login(app, "chuyen_vien").get(f"/admin/responses/{body['instance_id']}"))
    timings = html.split('id="page-timings">')[1].split("</ul>")[0]
    assert "<li>Thông tin về người trả lời: 41 giây, 9 lần chạm</li>" in timings
    assert "<li>1. Tiếp cận dịch vụ hành chính công: 95 giây, 22 lần chạm, mở 2 lần</li>" in timings
    assert "<li>Xem lại trước khi gửi: 5 giây, 2 lần chạm</li>" in timings
