"""Enumerator assignments: an enumerator sees and keys only the campaigns and units an admin assigned them;
the admin page and ``sipas user assign`` make the assignments, audited; the migration assigns nobody."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from conftest import full_answers
from markupsafe import escape
from sqlalchemy import func, select

from questionnaires import load_questionnaire
from survey.assignments import NOT_ASSIGNED, NOT_ASSIGNED_CAMPAIGN, NOT_ASSIGNED_UNIT, AssignmentError, assign
from survey.campaigns import create_campaign
from survey.cli import cli
from survey.db import session_scope
from survey.models import Assignment, AuditEvent, Campaign, Response, User
from survey.storage import save_response
from survey.users import create_user

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
PASSWORD = "mat-khau-du-dai-1"
# The paper form's answers outside Câu 9 (as the entry page posts them), the Likert items "4".
PAPER = {
    "linh_vuc": "dat_dai",
    "gioi_tinh": "1",
    "do_tuoi": "4",
    "dan_toc": "2",
    "so_lan_di_lai": "3",
    "da_gop_y": "2",
}


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch):
    monkeypatch.setattr("survey.users.PASSWORD_METHOD", "pbkdf2:sha256:1000")


class Site:
    """An app with an admin, an analyst, two enumerators and two campaigns over Trà Bồng."""

    def __init__(self, app):
        self.app = app
        with app.app_context(), session_scope() as session:
            self.users = {
                name: create_user(session, name, PASSWORD, role).id
                for name, role in (
                    ("quan-tri", "admin"),
                    ("phan-tich", "analyst"),
                    ("nhap-1", "enumerator"),
                    ("nhap-2", "enumerator"),
                )
            }
            self.campaigns = [
                create_campaign(
                    session, name=f"Đợt {n} — Trà Bồng", questionnaire="sipas-2017", unit_list="tra-bong-2023"
                ).id
                for n in (1, 2)
            ]

    def client(self, name: str):
        client = self.app.test_client()
        with client.session_transaction() as sess:
            sess["user_id"] = self.users[name]
        return client

    def assign(self, name: str, campaign_id: int, units: list[str] | None) -> None:
        with self.app.app_context(), session_scope() as session:
            assign(session, session.get(User, self.users[name]), session.get(Campaign, campaign_id), units)

    def units(self, name: str) -> set[tuple[int, str]]:
        with self.app.app_context(), session_scope() as session:
            rows = session.execute(
                select(Assignment.campaign_id, Assignment.unit_code).where(
                    Assignment.user_id == self.users[name]
                )
            )
            return {tuple(row) for row in rows}

    def count(self, model) -> int:
        with self.app.app_context(), session_scope() as session:
            return session.scalar(select(func.count()).select_from(model))

    def paper(self, name: str, campaign_id: int, unit: str) -> str:
        """Store a paper form keyed by ``name`` (directly, as if keyed before an assignment changed)."""
        with self.app.app_context(), session_scope() as session:
            campaign = session.get(Campaign, campaign_id)
            response, _ = save_response(
                session,
                campaign=campaign,
                unit_code=unit,
                instance_id=str(uuid.uuid4()),
                answers=full_answers(SIPAS_2017),
                questionnaire_id=campaign.questionnaire_id,
                version=campaign.questionnaire_version,
                started_at=None,
                submitted_at=None,
                source="paper",
                entered_by=self.users[name],
            )
            return response.instance_id


@pytest.fixture
def site(make_app):
    return Site(make_app(WTF_CSRF_ENABLED=False))


def _text(reply) -> str:
    return reply.get_data(as_text=True)


def _entry(unit: str) -> dict[str, str]:
    likert = {q.code: "4" for q in SIPAS_2017.questions() if q.appearance == "likert"}
    return {"entry_unit": unit, "entry_instance_id": str(uuid.uuid4()), **PAPER, **likert}


# ------------------------------------------------------------------------------- an unassigned one
def test_an_unassigned_enumerator_sees_no_campaign_and_is_told_to_ask_an_admin(site):
    client = site.client("nhap-1")
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200
    assert str(escape(NOT_ASSIGNED)) in _text(dashboard)
    assert "Đợt 1" not in _text(dashboard) and "Đợt 2" not in _text(dashboard)
    for campaign_id in site.campaigns:
        for url in (
            f"/admin/campaigns/{campaign_id}",
            f"/admin/campaigns/{campaign_id}/entry",
            f"/admin/campaigns/{campaign_id}/responses",
        ):
            reply = client.get(url)
            assert reply.status_code == 403, url
            assert str(escape(NOT_ASSIGNED_CAMPAIGN)) in _text(reply), url
        progress = client.get(f"/api/v1/campaigns/{campaign_id}/progress")
        assert progress.status_code == 403 and progress.get_json()["message"] == NOT_ASSIGNED_CAMPAIGN
    # Admins and analysts need no assignment.
    for name in ("quan-tri", "phan-tich"):
        page = _text(site.client(name).get("/admin/"))
        assert "Đợt 1" in page and "Đợt 2" in page and str(escape(NOT_ASSIGNED)) not in page


def test_a_paper_form_posted_for_an_unassigned_campaign_is_refused_and_stores_nothing(site):
    site.assign("nhap-1", site.campaigns[0], ["tra-xuan"])
    client = site.client("nhap-1")
    data = _entry("tra-xuan") | {"gop_y": "Phòng chờ rất nóng"}
    reply = client.post(f"/admin/campaigns/{site.campaigns[1]}/entry", data=data)
    assert reply.status_code == 403
    page = _text(reply)
    assert str(escape(NOT_ASSIGNED_CAMPAIGN)) in page
    assert "Phòng chờ rất nóng" in page  # what was typed is still on the page
    assert site.count(Response) == 0


# --------------------------------------------------------------------------------- an assigned one
def test_an_enumerator_keys_only_the_assigned_units_of_an_assigned_campaign(site):
    first, second = site.campaigns
    site.assign("nhap-1", first, ["tra-xuan", "tra-bui"])
    client = site.client("nhap-1")
    dashboard = _text(client.get("/admin/"))
    assert "Đợt 1" in dashboard and "Đợt 2" not in dashboard and str(escape(NOT_ASSIGNED)) not in dashboard
    assert client.get(f"/admin/campaigns/{first}").status_code == 200
    assert client.get(f"/admin/campaigns/{second}").status_code == 403

    page = client.get(f"/admin/campaigns/{first}/entry")
    assert page.status_code == 200
    options = set(_options(_text(page), "entry_unit"))
    assert options == {"", "tra-xuan", "tra-bui"}

    stored = client.post(f"/admin/campaigns/{first}/entry", data=_entry("tra-xuan"))
    assert stored.status_code == 302
    refused = client.post(f"/admin/campaigns/{first}/entry", data=_entry("tra-giang") | {"gop_y": "Cảm ơn"})
    assert refused.status_code == 403
    assert str(escape(NOT_ASSIGNED_UNIT)) in _text(refused) and "Cảm ơn" in _text(refused)
    with site.app.app_context(), session_scope() as session:
        rows = session.execute(select(Response.campaign_id, Response.unit_code)).all()
    assert [tuple(r) for r in rows] == [(first, "tra-xuan")]
    # A unit the campaign does not have is the form's own error (422), as for everybody.
    unknown = client.post(f"/admin/campaigns/{first}/entry", data=_entry("ha-noi"))
    assert unknown.status_code == 422 and site.count(Response) == 1


def _options(html: str, name: str) -> list[str]:
    import re

    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option[^>]*value="([^"]*)"', select_html)


def test_the_response_list_and_pages_keep_to_own_forms_of_assigned_units(site):
    first, second = site.campaigns
    site.assign("nhap-1", first, ["tra-xuan", "tra-bui"])
    mine_here = site.paper("nhap-1", first, "tra-xuan")
    mine_left = site.paper("nhap-1", first, "tra-bui")  # keyed before the unit was taken away
    theirs = site.paper("nhap-2", first, "tra-xuan")
    mine_elsewhere = site.paper("nhap-1", second, "tra-xuan")
    site.assign("nhap-1", first, ["tra-xuan"])
    client = site.client("nhap-1")
    listing = client.get(f"/admin/campaigns/{first}/responses")
    assert listing.status_code == 200
    html = _text(listing)
    assert mine_here in html
    assert mine_left not in html and theirs not in html and mine_elsewhere not in html
    assert set(_options(html, "unit")) == {"", "tra-xuan"}
    assert client.get(f"/admin/responses/{mine_here}").status_code == 200
    for ref in (mine_left, theirs, mine_elsewhere):
        assert client.get(f"/admin/responses/{ref}").status_code == 403, ref
        assert client.get(f"/admin/responses/{ref}/edit").status_code == 403, ref
    # The analyst sees all four.
    analyst = _text(site.client("phan-tich").get(f"/admin/campaigns/{first}/responses"))
    assert mine_here in analyst and mine_left in analyst and theirs in analyst


# ----------------------------------------------------------------------------------- the admin page
def test_an_admin_assigns_units_on_the_page_and_it_is_audited(site):
    first = site.campaigns[0]
    admin = site.client("quan-tri")
    users = _text(admin.get("/admin/users"))
    assert "Chưa được phân công" in users
    url = f"/admin/users/{site.users['nhap-1']}/assignments"
    page = admin.get(url)
    assert page.status_code == 200 and "Đợt 1" in _text(page) and "Đợt 2" in _text(page)

    saved = admin.post(url, data={"campaign_id": first, "units": ["tra-xuan", "tra-bui"]})
    assert saved.status_code == 302
    assert "Đã lưu phân công của nhap-1" in _text(admin.get(saved.headers["Location"]))
    assert site.units("nhap-1") == {(first, "tra-xuan"), (first, "tra-bui")}
    assert "1 đợt, 2 đơn vị" in _text(admin.get("/admin/users"))

    removed = admin.post(url, data={"campaign_id": first})  # nothing ticked: no longer assigned
    assert removed.status_code == 302 and site.units("nhap-1") == set()
    with site.app.app_context(), session_scope() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user_assigned").order_by(AuditEvent.id)
        ).all()
        assert [(e.username, e.detail) for e in events] == [
            (
                "quan-tri",
                {"username": "nhap-1", "campaign_id": first, "units": ["tra-bui", "tra-xuan"], "before": []},
            ),
            (
                "quan-tri",
                {"username": "nhap-1", "campaign_id": first, "units": [], "before": ["tra-bui", "tra-xuan"]},
            ),
        ]


@pytest.mark.parametrize(
    ("who", "data", "message"),
    [
        (
            "nhap-1",
            {"units": ["tra-xuam"]},
            "không có đơn vị &#39;tra-xuam&#39;; có phải &#39;tra-xuan&#39;?",
        ),
        ("phan-tich", {"units": ["tra-xuan"]}, "chỉ điều tra viên mới cần phân công"),
        ("nhap-1", {"campaign_id": "999", "units": ["tra-xuan"]}, "không có đợt khảo sát này"),
        ("nhap-1", {"campaign_id": "", "units": ["tra-xuan"]}, "không có đợt khảo sát này"),
    ],
)
def test_a_bad_assignment_is_refused_with_a_message_and_changes_nothing(site, who, data, message):
    site.assign("nhap-1", site.campaigns[0], ["tra-bui"])
    before = site.count(AuditEvent)
    admin = site.client("quan-tri")
    reply = admin.post(
        f"/admin/users/{site.users[who]}/assignments", data={"campaign_id": site.campaigns[0], **data}
    )
    assert reply.status_code == 422
    assert message in _text(reply)
    assert site.units("nhap-1") == {(site.campaigns[0], "tra-bui")} and site.units("phan-tich") == set()
    assert site.count(AuditEvent) == before


def test_only_admins_assign(site):
    url = f"/admin/users/{site.users['nhap-1']}/assignments"
    for name in ("phan-tich", "nhap-1"):
        client = site.client(name)
        assert client.get(url).status_code == 403
        assert (
            client.post(url, data={"campaign_id": site.campaigns[0], "units": ["tra-xuan"]}).status_code
            == 403
        )
    assert site.units("nhap-1") == set()


def test_assign_refuses_other_roles_and_unknown_units(site):
    with site.app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, site.campaigns[0])
        with pytest.raises(AssignmentError, match="chỉ điều tra viên"):
            assign(session, session.get(User, site.users["quan-tri"]), campaign, None)
        with pytest.raises(AssignmentError, match="có phải 'tra-bui'"):
            assign(session, session.get(User, site.users["nhap-1"]), campaign, ["tra-bul"])
        change = assign(session, session.get(User, site.users["nhap-1"]), campaign, None)
        assert len(change.after) == len(campaign.units) == 16


# ------------------------------------------------------------------------------------ the command
def test_sipas_user_assign(site, database_url):
    runner = CliRunner()
    first = site.campaigns[0]

    def run(*args):
        return runner.invoke(cli, ["user", "assign", "--database-url", database_url, *args])

    done = run("--username", "nhap-1", "--campaign", str(first), "--unit", "tra-xuan", "--unit", "tra-bui")
    assert done.exit_code == 0, done.output
    assert "nhap-1, đợt" in done.output and "tra-bui, tra-xuan" in done.output
    assert site.units("nhap-1") == {(first, "tra-xuan"), (first, "tra-bui")}

    everything = run("--username", "NHAP-1", "--campaign", str(first))
    assert everything.exit_code == 0 and len(site.units("nhap-1")) == 16

    for args, message in (
        (("--username", "nhap-1", "--campaign", str(first), "--unit", "tra-xuam"), "có phải 'tra-xuan'"),
        (("--username", "phan-tich", "--campaign", str(first)), "chỉ điều tra viên"),
        (("--username", "ai-do", "--campaign", str(first)), "không có tài khoản"),
        (("--username", "nhap-1", "--campaign", "999"), "không có đợt khảo sát 999"),
        (("--username", "nhap-1", "--campaign", str(first), "--none", "--unit", "tra-xuan"), "--none"),
    ):
        failed = run(*args)
        assert failed.exit_code != 0 and message in failed.output, (args, failed.output)
        assert "Traceback" not in failed.output
    assert len(site.units("nhap-1")) == 16

    removed = run("--username", "nhap-1", "--campaign", str(first), "--none")
    assert removed.exit_code == 0 and site.units("nhap-1") == set()
    with site.app.app_context(), session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "user_assigned")).all()
        assert len(events) == 3 and all(e.detail["via"] == "cli" for e in events)
        assert events[-1].detail["units"] == [] and len(events[-1].detail["before"]) == 16


# ---------------------------------------------------------------------------------- the migration
def test_the_migration_assigns_nobody(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text

    from survey.db import make_engine, upgrade
    from survey.models import Base

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0006")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, active, created_at, failed_logins) "
                    "VALUES ('cu', 'x', 'enumerator', 1, '2024-01-01T00:00:00+00:00', 0)"
                )
            )
        upgrade(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM assignments")).scalar() == 0
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()
