"""The campaign lifecycle on SQLite and PostgreSQL: draft -> open -> closed (-> reopened with a reason),
from the service, the admin pages and ``sipas campaign open|close|reopen``; what a closed or draft campaign
refuses (kiosk page, API, paper entry) and what it keeps (late tablet forms, stored apart and never scored).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from click.testing import CliRunner
from conftest import assign_enumerators, full_answers, submission
from sqlalchemy import func, select, text

from questionnaires import load_questionnaire
from survey.campaigns import (
    close_campaign,
    create_campaign,
    create_kiosk,
    open_campaign,
    progress,
    reopen_campaign,
)
from survey.cli import cli
from survey.db import alembic_config, make_engine, session_scope, upgrade
from survey.errors import CampaignError
from survey.models import AuditEvent, Campaign, Response, User
from survey.storage import campaign_frame
from survey.users import create_user
from survey.web import VIETNAM_TZ

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
PASSWORDS = {
    "quan_tri": "mat-khau-quan-tri",
    "chuyen_vien": "mat-khau-chuyen-vien",
    "dieu_tra": "mat-khau-dieu-tra",
}
ROLE_OF = {"quan_tri": "admin", "chuyen_vien": "analyst", "dieu_tra": "enumerator"}


# ------------------------------------------------------------------------------------------ helpers
@pytest.fixture
def staff_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=False)
    with app.app_context(), session_scope() as session:
        for name, password in PASSWORDS.items():
            create_user(session, name, password, ROLE_OF[name], full_name=f"Cán bộ {name}")
    return app


def login(app, username: str):
    client = app.test_client()
    reply = client.post("/admin/login", data={"username": username, "password": PASSWORDS[username]})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return client


def html(reply) -> str:
    return reply.get_data(as_text=True)


def new_campaign(app, *, draft: bool = False) -> tuple[int, str]:
    """A campaign over Trà Bồng with one kiosk for tra-xuan; return its id and the kiosk token."""
    with app.app_context(), session_scope() as session:
        campaign = create_campaign(
            session, name="Khảo sát 2024", questionnaire="sipas-2017", unit_list="tra-bong-2023", draft=draft
        )
        _, token = create_kiosk(session, campaign, "tra-xuan")
        made = campaign.id
    assign_enumerators(app, made)  # the enumerator keys every unit (survey.assignments)
    return made, token


def campaign_row(app, campaign_id: int) -> Campaign:
    with app.app_context(), session_scope() as session:
        found = session.get(Campaign, campaign_id)
        session.expunge(found)
        return found


def audit_rows(app, action: str) -> list[AuditEvent]:
    with app.app_context(), session_scope() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        found = list(rows)
        session.expunge_all()
        return found


def stored(app) -> list[Response]:
    with app.app_context(), session_scope() as session:
        rows = list(session.scalars(select(Response).order_by(Response.id)))
        session.expunge_all()
        return rows


def post_form(client, token: str, **extra):
    body = submission(SIPAS_2017, token, full_answers(SIPAS_2017), **extra)
    return body, client.post("/api/v1/responses", json=body)


def close_now(app, campaign_id: int, reason: str | None = None) -> None:
    with app.app_context(), session_scope() as session:
        close_campaign(session, session.get(Campaign, campaign_id), reason=reason)


def iso(stamp: datetime) -> str:
    return stamp.astimezone(UTC).isoformat()


# --------------------------------------------------------------------------------- the service
def test_new_campaigns_are_open_unless_a_draft_is_asked_for(app):
    with app.app_context(), session_scope() as session:
        running = create_campaign(session, name="A", questionnaire="sipas-2017", units=[("xa-a", "Xã A")])
        draft = create_campaign(
            session, name="B", questionnaire="sipas-2017", units=[("xa-a", "Xã A")], draft=True
        )
        assert (running.status, draft.status) == ("open", "draft")
        assert running.opened_at is not None and draft.opened_at is None


def test_each_transition_and_the_refused_ones(app):
    with app.app_context(), session_scope() as session:
        user = create_user(session, "chuyen_vien", "mat-khau-chuyen-vien", "analyst")
        c = create_campaign(
            session, name="Đợt", questionnaire="sipas-2017", units=[("xa-a", "Xã A")], draft=True
        )
        with pytest.raises(CampaignError, match="chưa mở"):
            close_campaign(session, c, user)  # a draft is opened, not closed
        with pytest.raises(CampaignError, match="chưa kết thúc"):
            reopen_campaign(session, c, user, "lý do")

        change = open_campaign(session, c, user)
        assert (c.status, change.action, change.old, change.new) == (
            "open",
            "campaign_opened",
            "draft",
            "open",
        )
        with pytest.raises(CampaignError, match="chỉ mở được bản nháp"):
            open_campaign(session, c, user)

        change = close_campaign(session, c, user, "  Đủ chỉ tiêu  ")
        assert (c.status, c.closed_by, c.close_reason) == ("closed", user.id, "Đủ chỉ tiêu")
        assert change.to_audit() == {
            "campaign_id": c.id,
            "from": "open",
            "to": "closed",
            "reason": "Đủ chỉ tiêu",
        }
        first_close = c.closed_at
        with pytest.raises(CampaignError, match="đã kết thúc rồi"):
            close_campaign(session, c, user)  # closing twice
        with pytest.raises(CampaignError, match="Dùng “mở lại”"):
            open_campaign(session, c, user)
        for blank in (None, "", "   "):
            with pytest.raises(CampaignError, match="cần ghi lý do"):
                reopen_campaign(session, c, user, blank)
        with pytest.raises(CampaignError, match="quá 2000"):
            reopen_campaign(session, c, user, "x" * 2001)
        with pytest.raises(CampaignError, match="ký tự điều khiển"):
            reopen_campaign(session, c, user, "lý do\x00")
        assert c.status == "closed" and c.closed_at.replace(tzinfo=UTC) == first_close.replace(tzinfo=UTC)

        change = reopen_campaign(session, c, user, "Xã A chưa đủ phiếu")
        assert (c.status, c.reopen_reason, c.reopened_by) == ("open", "Xã A chưa đủ phiếu", user.id)
        assert c.reopened_at is not None and change.action == "campaign_reopened"


def test_the_migration_maps_active_to_open(database_url):
    """0003 renames the old "active" status to "open" (and keeps "closed"), on both databases."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        command.downgrade(alembic_config(database_url), "0002")
        try:
            with engine.begin() as conn:
                for name, status in (("Cũ đang chạy", "active"), ("Cũ đã đóng", "closed")):
                    conn.execute(
                        text(
                            "INSERT INTO campaigns (name, questionnaire_id, questionnaire_version, "
                            "definition, margin_of_error, status, created_at) "
                            "VALUES (:n, 'sipas-2017', '2017.1', '{}', 0.05, :s, :t)"
                        ),
                        {"n": name, "s": status, "t": datetime(2024, 5, 1, tzinfo=UTC)},
                    )
        finally:
            upgrade(database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT name, status, opened_at, closed_at FROM campaigns ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [(r.name, r.status) for r in rows] == [("Cũ đang chạy", "open"), ("Cũ đã đóng", "closed")]
    assert all(r.opened_at is not None for r in rows) and all(r.closed_at is None for r in rows)


# ------------------------------------------------------------------------------- the admin pages
def test_close_and_reopen_from_the_campaign_page_with_audit(staff_app):
    campaign_id, _ = new_campaign(staff_app)
    client = login(staff_app, "chuyen_vien")
    page = html(client.get(f"/admin/campaigns/{campaign_id}"))
    assert "Đang thu phiếu" in page and f"/admin/campaigns/{campaign_id}/close" in page
    assert 'data-confirm="Đóng đợt khảo sát' in page

    reply = client.post(f"/admin/campaigns/{campaign_id}/close", data={"reason": "Hết kỳ đánh giá"})
    assert reply.status_code == 302
    page = html(client.get(reply.headers["Location"]))
    assert "Đã đóng đợt khảo sát" in page and "Đã kết thúc" in page and "Đóng lúc" in page
    assert "Hết kỳ đánh giá" in page and f"/admin/campaigns/{campaign_id}/reopen" in page
    assert f"/admin/campaigns/{campaign_id}/entry" not in page  # no paper entry button
    closed = campaign_row(staff_app, campaign_id)
    assert closed.status == "closed" and closed.close_reason == "Hết kỳ đánh giá"
    closed_day = closed.closed_at.replace(tzinfo=closed.closed_at.tzinfo or UTC).astimezone(VIETNAM_TZ)
    dashboard = html(client.get("/admin/"))
    assert "Đã kết thúc" in dashboard and f"đóng {closed_day:%d/%m/%Y}" in dashboard

    # Closing twice (a stale page): refused, nothing changes.
    again = client.post(f"/admin/campaigns/{campaign_id}/close", data={})
    assert "đã kết thúc rồi" in html(client.get(again.headers["Location"]))
    assert campaign_row(staff_app, campaign_id).closed_at == closed.closed_at

    # Reopening needs a reason: 422, the campaign stays closed.
    refused = client.post(f"/admin/campaigns/{campaign_id}/reopen", data={"reason": "  "})
    assert refused.status_code == 422
    assert "Cần ghi lý do mở lại đợt khảo sát." in html(refused)
    assert campaign_row(staff_app, campaign_id).status == "closed"

    reply = client.post(f"/admin/campaigns/{campaign_id}/reopen", data={"reason": "Trà Giang chưa đủ phiếu"})
    assert reply.status_code == 302
    page = html(client.get(reply.headers["Location"]))
    assert "Đã mở lại đợt khảo sát" in page and "Trà Giang chưa đủ phiếu" in page
    reopened = campaign_row(staff_app, campaign_id)
    assert reopened.status == "open" and reopened.reopen_reason == "Trà Giang chưa đủ phiếu"

    with staff_app.app_context(), session_scope() as session:
        analyst = session.scalars(select(User).where(User.username == "chuyen_vien")).one()
        assert reopened.reopened_by == analyst.id and closed.closed_by == analyst.id
    (close_event,) = audit_rows(staff_app, "campaign_closed")
    (reopen_event,) = audit_rows(staff_app, "campaign_reopened")
    assert close_event.username == "chuyen_vien" and close_event.detail == {
        "campaign_id": campaign_id,
        "from": "open",
        "to": "closed",
        "reason": "Hết kỳ đánh giá",
    }
    assert (
        reopen_event.username == "chuyen_vien" and reopen_event.detail["reason"] == "Trà Giang chưa đủ phiếu"
    )


def test_a_draft_is_opened_from_its_page(staff_app):
    campaign_id, token = new_campaign(staff_app, draft=True)
    client = login(staff_app, "quan_tri")
    page = html(client.get(f"/admin/campaigns/{campaign_id}"))
    assert "Bản nháp" in page and "Mở đợt khảo sát" in page
    reply = client.post(f"/admin/campaigns/{campaign_id}/open")
    assert reply.status_code == 302
    assert campaign_row(staff_app, campaign_id).status == "open"
    assert audit_rows(staff_app, "campaign_opened")[0].detail["to"] == "open"
    assert client.get(f"/k/{token}").status_code == 200  # the link made for the draft works now


def test_the_campaign_form_can_create_a_draft(staff_app):
    client = login(staff_app, "chuyen_vien")
    form = {
        "name": "Đợt nháp",
        "questionnaire": "sipas-2017",
        "unit_list": "tra-bong-2023",
        "margin_of_error": "0,05",
        "draft": "y",
    }
    reply = client.post("/admin/campaigns/new", data=form)
    assert reply.status_code == 302, html(reply)
    with staff_app.app_context(), session_scope() as session:
        assert session.scalars(select(Campaign.status).where(Campaign.name == "Đợt nháp")).one() == "draft"


def test_only_analysts_and_admins_change_the_state(staff_app):
    campaign_id, _ = new_campaign(staff_app)
    enumerator = login(staff_app, "dieu_tra")
    assert enumerator.post(f"/admin/campaigns/{campaign_id}/close", data={}).status_code == 403
    assert f"/admin/campaigns/{campaign_id}/close" not in html(
        enumerator.get(f"/admin/campaigns/{campaign_id}")
    )
    anonymous = staff_app.test_client().post(f"/admin/campaigns/{campaign_id}/close", data={})
    assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"]
    assert campaign_row(staff_app, campaign_id).status == "open"
    assert audit_rows(staff_app, "campaign_closed") == []


def test_a_lifecycle_form_without_its_csrf_token_changes_nothing(make_app):
    app = make_app()  # CSRF on
    with app.app_context(), session_scope() as session:
        create_user(session, "chuyen_vien", PASSWORDS["chuyen_vien"], "analyst")
    campaign_id, _ = new_campaign(app)
    client = app.test_client()
    login_page = html(client.get("/admin/login"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    reply = client.post(
        "/admin/login",
        data={"username": "chuyen_vien", "password": PASSWORDS["chuyen_vien"], "csrf_token": token},
    )
    assert reply.status_code == 302
    refused = client.post(f"/admin/campaigns/{campaign_id}/close", data={"reason": "x"})
    assert refused.status_code == 400
    assert campaign_row(app, campaign_id).status == "open"


# ------------------------------------------------------------------- what a closed campaign refuses
def test_a_closed_campaign_refuses_the_three_sources_in_vietnamese(staff_app):
    campaign_id, token = new_campaign(staff_app)
    close_now(staff_app, campaign_id)
    closed_at = campaign_row(staff_app, campaign_id).closed_at.replace(tzinfo=UTC)

    kiosk_page = staff_app.test_client().get(f"/k/{token}")
    assert kiosk_page.status_code == 403 and "Đợt khảo sát đã kết thúc" in html(kiosk_page)
    definition = staff_app.test_client().get(f"/api/v1/kiosk/{token}/definition")
    assert definition.status_code == 403 and definition.get_json()["error"] == "campaign_closed"

    # A form filled on the tablet after closing (or without a usable time): 403 campaign_closed.
    for submitted in (iso(closed_at + timedelta(minutes=5)), "không phải thời điểm"):
        _, reply = post_form(staff_app.test_client(), token, submitted_at=submitted)
        assert reply.status_code == 403
        body = reply.get_json()
        assert body["error"] == "campaign_closed"
        assert body["message"].startswith("Đợt khảo sát đã kết thúc ngày")

    client = login(staff_app, "dieu_tra")
    entry = client.get(f"/admin/campaigns/{campaign_id}/entry")
    assert entry.status_code == 302
    assert "Không nhập được phiếu giấy: Đợt khảo sát đã kết thúc" in html(
        client.get(entry.headers["Location"])
    )
    # A paper form keyed while the campaign was closed under the clerk: refused, the typing kept.
    form = {"entry_unit": "tra-xuan", "entry_instance_id": str(uuid.uuid4()), "gop_y": "Phòng chờ hơi nóng"}
    reply = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert reply.status_code == 409
    page = html(reply)
    assert "Đợt khảo sát đã kết thúc" in page and "nội dung đã nhập vẫn còn trên trang" in page
    assert "Phòng chờ hơi nóng" in page
    assert stored(staff_app) == []


def test_a_draft_refuses_every_source(staff_app):
    campaign_id, token = new_campaign(staff_app, draft=True)
    page = staff_app.test_client().get(f"/k/{token}")
    assert page.status_code == 403 and "Đợt khảo sát chưa bắt đầu" in html(page)
    _, reply = post_form(staff_app.test_client(), token)
    assert reply.status_code == 403 and reply.get_json()["error"] == "campaign_not_open"
    assert "chưa mở nhận phiếu" in reply.get_json()["message"]
    client = login(staff_app, "dieu_tra")
    form = {"entry_unit": "tra-xuan", "entry_instance_id": str(uuid.uuid4())}
    assert client.post(f"/admin/campaigns/{campaign_id}/entry", data=form).status_code == 409
    assert stored(staff_app) == []


# ------------------------------------------------------------------------------------ late forms
def test_a_late_tablet_form_is_kept_apart_listed_and_never_scored(staff_app):
    campaign_id, token = new_campaign(staff_app)
    api = staff_app.test_client()
    before = datetime.now(UTC) - timedelta(minutes=30)
    _, on_time = post_form(api, token, submitted_at=iso(before))
    assert on_time.status_code == 201 and "late" not in on_time.get_json()

    close_now(staff_app, campaign_id)
    closed_at = campaign_row(staff_app, campaign_id).closed_at.replace(tzinfo=UTC)
    # Filled on the tablet two minutes before closing, sent from the outbox afterwards.
    late_body, late = post_form(api, token, submitted_at=iso(closed_at - timedelta(minutes=2)))
    assert late.status_code == 201
    assert late.get_json()["late"] is True and late.get_json()["instance_id"] == late_body["instance_id"]
    resent = api.post("/api/v1/responses", json=late_body)  # the outbox sends it again: one row
    assert resent.status_code == 200 and resent.get_json()["status"] == "duplicate"

    rows = stored(staff_app)
    assert [(r.late, r.source) for r in rows] == [(False, "kiosk"), (True, "kiosk")]

    with staff_app.app_context(), session_scope() as session:
        scored = campaign_frame(session.connection(), campaign_id)
        exported = campaign_frame(session.connection(), campaign_id, include_late=True)
        counted = progress(session, session.get(Campaign, campaign_id))
    assert len(scored) == 1 and "late" not in scored.columns
    assert list(scored["response_id"]) == [rows[0].instance_id]
    assert len(exported) == 2 and list(exported["late"]) == [False, True]
    assert counted.responses == 1

    client = login(staff_app, "chuyen_vien")
    page = html(client.get(f"/admin/campaigns/{campaign_id}"))
    assert re.search(r'Phiếu đến muộn: <span data-field="late-count">1</span>', page)
    assert late_body["instance_id"] in page and rows[0].instance_id not in page

    download = client.get(f"/admin/campaigns/{campaign_id}/responses.csv")
    assert download.status_code == 200
    table = list(csv.DictReader(io.StringIO(download.get_data().decode("utf-8-sig"))))
    download.close()  # the spooled temporary file
    assert [(r["response_id"], r["late"]) for r in table] == [
        (rows[0].instance_id, "0"),
        (late_body["instance_id"], "1"),
    ]


def test_paper_forms_are_never_late(staff_app):
    campaign_id, _ = new_campaign(staff_app)
    close_now(staff_app, campaign_id)
    with staff_app.app_context(), session_scope() as session:
        from survey.errors import SurveyError
        from survey.storage import save_response

        campaign = session.get(Campaign, campaign_id)
        with pytest.raises(SurveyError, match="Đợt khảo sát đã kết thúc"):
            save_response(
                session,
                campaign=campaign,
                unit_code="tra-xuan",
                instance_id=str(uuid.uuid4()),
                answers=full_answers(SIPAS_2017),
                questionnaire_id=SIPAS_2017.id,
                version=SIPAS_2017.version,
                started_at=None,
                submitted_at=datetime(2024, 5, 1, tzinfo=UTC),  # long before the closing
                source="paper",
            )
        assert session.scalar(select(func.count(Response.id))) == 0


def test_forms_are_taken_again_once_reopened(staff_app):
    campaign_id, token = new_campaign(staff_app)
    close_now(staff_app, campaign_id)
    with staff_app.app_context(), session_scope() as session:
        reopen_campaign(session, session.get(Campaign, campaign_id), None, "Gia hạn một tuần")
    _, reply = post_form(staff_app.test_client(), token, submitted_at=iso(datetime.now(UTC)))
    assert reply.status_code == 201 and "late" not in reply.get_json()
    assert [r.late for r in stored(staff_app)] == [False]


# --------------------------------------------------------------------------------- the commands
@pytest.fixture
def sipas(database_url, tmp_path):
    runner = CliRunner()
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args, expect=0):
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result.output

    return run


def test_the_commands_open_close_and_reopen(app, sipas, database_url):
    out = sipas(
        "campaign",
        "create",
        "--questionnaire",
        "sipas-2017",
        "--units",
        "tra-bong-2023",
        "--name",
        "Đợt CLI",
        "--draft",
    )
    campaign_id = int(re.search(r"#(\d+)", out).group(1))
    assert "bản nháp" in out and campaign_row(app, campaign_id).status == "draft"

    assert "Đang thu phiếu (draft → open)" in sipas("campaign", "open", "--campaign", str(campaign_id))
    out = sipas("campaign", "open", "--campaign", str(campaign_id), expect=1)
    assert out.startswith("Error: ") and "chỉ mở được bản nháp" in out
    out = sipas(
        "campaign",
        "close",
        "--campaign",
        str(campaign_id),
        "--reason",
        "Đủ chỉ tiêu",
        "--database-url",
        database_url,
    )
    assert "Đã kết thúc (open → closed)" in out
    assert "đã kết thúc rồi" in sipas("campaign", "close", "--campaign", str(campaign_id), expect=1)
    assert "cần ghi lý do" in sipas("campaign", "reopen", "--campaign", str(campaign_id), expect=1)
    assert campaign_row(app, campaign_id).status == "closed"
    out = sipas("campaign", "reopen", "--campaign", str(campaign_id), "--reason", "Gia hạn")
    assert "Đang thu phiếu (closed → open)" in out
    assert "không có đợt khảo sát số 999" in sipas("campaign", "close", "--campaign", "999", expect=1)

    found = campaign_row(app, campaign_id)
    assert (found.status, found.close_reason, found.reopen_reason) == ("open", "Đủ chỉ tiêu", "Gia hạn")
    actions = [e.action for e in audit_rows(app, "campaign_opened") + audit_rows(app, "campaign_closed")]
    assert actions == ["campaign_opened", "campaign_closed"]
    (reopened,) = audit_rows(app, "campaign_reopened")
    assert reopened.detail["via"] == "cli" and reopened.detail["reason"] == "Gia hạn"
    assert "\topen\t" in sipas("campaign", "list")
