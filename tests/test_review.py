"""Reviewing stored responses, on SQLite and PostgreSQL: the schema, the service (list, detail, correct,
review, exclude, restore), what scoring reads afterwards, and the `sipas responses` commands."""

from __future__ import annotations

import csv
import uuid
from datetime import date

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from conftest import full_answers
from sqlalchemy import func, select, text

import analysis
from questionnaires import load_questionnaire
from survey.assignments import assign
from survey.campaigns import progress
from survey.cli import cli
from survey.db import alembic_config, make_engine, session_scope, upgrade
from survey.models import AuditEvent, Base, Campaign, Response, ResponseRevision
from survey.review import (
    AccessDenied,
    InvalidCorrection,
    ReasonRequired,
    ResponseFilter,
    ResponseNotFound,
    ReviewError,
    detail,
    exclude,
    find_response,
    list_responses,
    restore,
    revise,
    set_state,
    set_states,
)
from survey.storage import campaign_frame, save_response
from survey.users import create_user

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")


def answers(likert: str, **overrides) -> dict:
    """Every item answered, Likert items with ``likert``; the feedback items asked (da_gop_y = 1)."""
    return full_answers(SIPAS_2017, {"da_gop_y": "1", **overrides}, likert=likert)


def store(session, campaign, unit="tra-xuan", likert="4", *, source="paper", entered_by=None, iid=None, **kw):
    """Store one response the way a form does; return its instance id."""
    response, created = save_response(
        session,
        campaign=campaign,
        unit_code=unit,
        instance_id=iid or str(uuid.uuid4()),
        answers=kw.pop("values", None) or answers(likert),
        questionnaire_id=campaign.questionnaire_id,
        version=campaign.questionnaire_version,
        started_at=kw.pop("started_at", "2024-05-02T08:01:00+07:00"),
        submitted_at=kw.pop("submitted_at", "2024-05-02T08:04:10+07:00"),
        source=source,
        entered_by=entered_by,
    )
    assert created
    return response.instance_id


@pytest.fixture
def stored(app, make_campaign):
    """A campaign with four responses: two kiosk-like ("api") and two paper forms keyed by 'nhap_1'."""
    campaign_id, _ = make_campaign(kiosk_units=())
    with app.app_context(), session_scope() as session:
        clerk = create_user(session, "nhap_1", "mat-khau-nhap-1", "enumerator")
        other = create_user(session, "nhap_2", "mat-khau-nhap-2", "enumerator")
        create_user(session, "phan_tich", "mat-khau-phan-tich", "analyst")
        session.commit()
        campaign = session.get(Campaign, campaign_id)
        for enumerator in (clerk, other):  # both key every unit (survey.assignments)
            assign(session, enumerator, campaign, None)
        ids = {
            "a": store(session, campaign, likert="4", source="api", submitted_at="2024-05-01T09:00:00+07:00"),
            "b": store(session, campaign, likert="2", source="api", submitted_at="2024-05-02T23:30:00+07:00"),
            "c": store(
                session, campaign, "tra-bui", "5", entered_by=clerk, submitted_at="2024-05-03T08:00:00+07:00"
            ),
            "d": store(
                session,
                campaign,
                "tra-bui",
                "3",
                entered_by=other,
                values=answers("3", gop_y="Phòng chờ thiếu QUẠT, nóng bức"),
                submitted_at="2024-05-04T08:00:00+07:00",
            ),
        }
        return campaign_id, ids


def users(session):
    from survey.models import User

    return {u.username: u for u in session.scalars(select(User))}


# ------------------------------------------------------------------------------------------- schema
def test_migration_adds_review_columns_and_keeps_existing_responses(database_url):
    """A database at 0001 with a response migrates to head: the response is 'received', schema = models."""
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0001")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO campaigns (name, questionnaire_id, questionnaire_version, definition, "
                    "margin_of_error, status, created_at) VALUES ('Cũ', 'sipas-2017', '1', '{}', 0.05, "
                    "'active', '2024-01-01T00:00:00+00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO responses (instance_id, campaign_id, questionnaire_id, "
                    "questionnaire_version, unit_code, answers, content_hash, source, received_at) "
                    "VALUES ('old', "
                    "(SELECT max(id) FROM campaigns), 'sipas-2017', '1', 'tra-xuan', '{\"a\": \"4\"}', 'h', "
                    "'kiosk', '2024-01-01T00:00:00+00:00')"
                )
            )
        upgrade(database_url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT review_state, current_answers, answers FROM responses")).one()
            assert row[0] == "received" and row[1] is None
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        with engine.begin() as conn:  # leave the shared database as the other tests expect it
            conn.execute(text("DELETE FROM responses"))
            conn.execute(text("DELETE FROM campaigns"))
    finally:
        engine.dispose()


def test_a_backup_from_before_the_review_columns_restores_and_is_upgraded(tmp_path):
    from survey.backup import restore

    old = tmp_path / "old.sqlite"
    upgrade(f"sqlite:///{old}", "0001")
    live = f"sqlite:///{tmp_path / 'live.sqlite'}"
    summary, _ = restore(live, old)
    assert summary.counts["response_revisions"] == 0 and summary.counts["responses"] == 0
    engine = make_engine(live)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------ service
def test_a_correction_keeps_the_original_and_a_resent_original_is_still_a_duplicate(app, stored):
    campaign_id, ids = stored
    with app.app_context(), session_scope() as session:
        analyst = users(session)["phan_tich"]
        response = find_response(session, ids["b"].upper(), analyst)  # as exported, any case
        original, digest = dict(response.answers), response.content_hash
        edited = {**original, "tiep_can_1": "5", "gop_y": "Sửa theo phiếu giấy"}
        first = revise(session, response, edited, "  Nhập nhầm câu 1  ", user=analyst)
        second = revise(session, response, {**edited, "tiep_can_1": "4"}, "Đối chiếu lại", user=analyst)

    with app.app_context(), session_scope() as session:
        response = session.scalars(select(Response).where(Response.instance_id == ids["b"])).one()
        assert response.answers == original and response.content_hash == digest
        assert response.current_answers == {**edited, "tiep_can_1": "4"}
        revisions = session.scalars(select(ResponseRevision).order_by(ResponseRevision.number)).all()
        assert [(r.number, r.username, r.reason) for r in revisions] == [
            (1, "phan_tich", "Nhập nhầm câu 1"),
            (2, "phan_tich", "Đối chiếu lại"),
        ]
        assert revisions[0].changes == [
            {"item": "tiep_can_1", "old": "2", "new": "5"},
            {"item": "gop_y", "old": original["gop_y"], "new": "Sửa theo phiếu giấy"},
        ]
        assert revisions[1].changes == [{"item": "tiep_can_1", "old": "5", "new": "4"}]
        assert revisions[0].answers == edited and first.id == revisions[0].id and second.number == 2
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "response_revised")).all()
        assert [
            (e.username, e.detail["response_id"], e.detail["revision"], e.detail["items"]) for e in events
        ] == [
            ("phan_tich", ids["b"], 1, ["tiep_can_1", "gop_y"]),
            ("phan_tich", ids["b"], 2, ["tiep_can_1"]),
        ]

        # The tablet resends the original: still the same response, nothing changes.
        campaign = session.get(Campaign, campaign_id)
        again, created = save_response(
            session,
            campaign=campaign,
            unit_code="tra-xuan",
            instance_id=ids["b"],
            answers=original,
            questionnaire_id="sipas-2017",
            version=campaign.questionnaire_version,
            started_at="2024-05-02T08:01:00+07:00",
            submitted_at="2024-05-02T23:30:00+07:00",
            source="api",
        )
        assert created is False and again.id == response.id
        assert session.scalar(select(func.count(Response.id))) == 4

        # An editor who opened the form before revision 2 does not overwrite it.
        with pytest.raises(ReviewError, match="bản số 2"):
            revise(session, response, original, "Mở trang cũ", user=analyst, based_on=1)
        session.rollback()
        assert session.scalar(select(func.count(ResponseRevision.id))) == 2

        shown = detail(session, response)
        lines = {line.code: line for line in shown.answers}
        assert lines["tiep_can_1"].value == "4" and lines["tiep_can_1"].original == "2"
        assert lines["tiep_can_1"].value_label == "4 — Hài lòng" and lines["tiep_can_1"].changed
        assert (
            not lines["tiep_can_2"].changed
            and lines["tiep_can_2"].label == SIPAS_2017.question("tiep_can_2").label.vi
        )
        assert [r.number for r in shown.revisions] == [1, 2]
        assert [e.action for e in shown.history] == ["response_revised", "response_revised"]


@pytest.mark.parametrize(
    ("change", "reason", "error", "words"),
    [
        ({"tiep_can_3": "9"}, "Sửa", InvalidCorrection, ["tiep_can_3", "9"]),
        ({"khong_co": "1"}, "Sửa", InvalidCorrection, ["khong_co"]),
        ({"tiep_can_3": None}, "Sửa", InvalidCorrection, ["tiep_can_3", "bắt buộc"]),
        ({"tiep_can_3": "5"}, "   ", ReasonRequired, ["lý do", "reason"]),
        ({}, "Không đổi gì", ReviewError, ["không có câu trả lời nào thay đổi", "nothing changed"]),
    ],
)
def test_a_bad_correction_names_the_problem_and_changes_nothing(app, stored, change, reason, error, words):
    _, ids = stored
    with app.app_context(), session_scope() as session:
        response = find_response(session, ids["a"])
        edited = {k: v for k, v in {**response.answers, **change}.items() if v is not None}
        with pytest.raises(error) as caught:
            revise(session, response, edited, reason)
        assert all(w in str(caught.value) for w in words), str(caught.value)
        session.rollback()
    with app.app_context(), session_scope() as session:
        assert session.scalar(select(func.count(ResponseRevision.id))) == 0
        assert (
            session.scalar(select(Response.current_answers).where(Response.instance_id == ids["a"])) is None
        )
        assert (
            session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action.like("response_%"))) == 0
        )


def test_review_states_exclude_and_restore_are_recorded(app, stored):
    _, ids = stored
    with app.app_context(), session_scope() as session:
        analyst = users(session)["phan_tich"]
        response = find_response(session, ids["a"], analyst)
        assert response.review_state == "received"
        set_state(session, response, "has_issues", "Chữ ký không rõ", user=analyst)
        set_state(session, response, "approved", user=analyst)
        with pytest.raises(ReasonRequired, match="lý do"):
            set_state(session, response, "rejected", "", user=analyst)
        with pytest.raises(ReviewError, match="deleted"):
            set_state(session, response, "deleted", user=analyst)
        with pytest.raises(ReviewError, match="không bị loại"):
            restore(session, response, user=analyst)
        exclude(session, response, "Cán bộ xã tự điền", user=analyst)

    with app.app_context(), session_scope() as session:
        response = find_response(session, ids["a"])
        assert response.review_state == "rejected" and response.review_reason == "Cán bộ xã tự điền"
        assert response.reviewed_by == users(session)["phan_tich"].id and response.reviewed_at is not None
        restore(session, response, "Đã xác minh với người dân")
        assert response.review_state == "received" and response.reviewed_by is None

    with app.app_context(), session_scope() as session:
        history = detail(session, find_response(session, ids["a"])).history
        assert [(e.action, e.detail["from"], e.detail["state"], e.detail["reason"]) for e in history] == [
            ("response_reviewed", "received", "has_issues", "Chữ ký không rõ"),
            ("response_reviewed", "has_issues", "approved", None),
            ("response_excluded", "approved", "rejected", "Cán bộ xã tự điền"),
            ("response_restored", "rejected", "received", "Đã xác minh với người dân"),
        ]
        assert [e.username for e in history] == ["phan_tich"] * 3 + [None]
        with pytest.raises(ResponseNotFound, match="no response with id"):
            find_response(session, str(uuid.uuid4()))
        with pytest.raises(ResponseNotFound):
            find_response(session, "không-phải-mã")


def test_bulk_state_change_is_all_or_nothing(app, stored):
    _, ids = stored
    with app.app_context(), session_scope() as session:
        u = users(session)
        chosen = [find_response(session, ids[k]) for k in ("a", "b", "c")]
        with pytest.raises(ReasonRequired):
            set_states(session, chosen, "rejected", None, user=u["phan_tich"])
        assert set_states(session, chosen, "approved", "Đã kiểm tra", user=u["phan_tich"]) == 3
    with app.app_context(), session_scope() as session:
        states = dict(session.execute(select(Response.instance_id, Response.review_state)).all())
        assert states == {
            ids["a"]: "approved",
            ids["b"]: "approved",
            ids["c"]: "approved",
            ids["d"]: "received",
        }
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "response_reviewed")).all()
        assert sorted(e.detail["response_id"] for e in events) == sorted(ids[k] for k in "abc")
        assert {e.detail["bulk"] for e in events} == {3}


def test_list_filters_pages_and_enumerator_scope(app, stored):
    campaign_id, ids = stored
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        u = users(session)
        exclude(session, find_response(session, ids["b"]), "Trùng phiếu")

        def listed(user=None, page=1, per_page=50, **filters):
            result = list_responses(
                session, campaign, ResponseFilter(**filters), page=page, per_page=per_page, user=user
            )
            return [r.instance_id for r in result.rows], result.total

        assert listed() == ([ids[k] for k in "dcba"], 4)  # newest first
        assert listed(unit="tra-bui") == ([ids["d"], ids["c"]], 2)
        assert listed(source="api") == ([ids["b"], ids["a"]], 2)
        assert listed(state="rejected") == ([ids["b"]], 1)
        assert listed(state="received", source="paper") == ([ids["d"], ids["c"]], 2)
        # Dates are Vietnam days: 23:30 on 2 May (UTC+7) is 2 May, though it is 16:30 UTC.
        assert listed(since=date(2024, 5, 2), until=date(2024, 5, 2)) == ([ids["b"]], 1)
        assert listed(since=date(2024, 5, 3)) == ([ids["d"], ids["c"]], 2)
        assert listed(until=date(2024, 5, 1)) == ([ids["a"]], 1)
        assert listed(text="quạt") == ([ids["d"]], 1)  # Vietnamese, case folded
        assert listed(text="trùng") == ([ids["b"]], 1)  # the review reason
        assert listed(text="không ai viết thế") == ([], 0)
        first, second = listed(page=1, per_page=3), listed(page=2, per_page=3)
        assert first == ([ids[k] for k in "dcb"], 4) and second == ([ids["a"]], 4)
        assert listed(text="cán bộ", page=2, per_page=2) == ([ids["a"]], 3)  # c, b, a say it; d does not
        with pytest.raises(ReviewError, match="ngày bắt đầu"):
            listed(since=date(2024, 5, 3), until=date(2024, 5, 1))
        with pytest.raises(ReviewError, match="nguồn"):
            listed(source="fax")

        # An enumerator sees and corrects only the paper forms they keyed, and reviews nothing.
        assert listed(user=u["nhap_1"]) == ([ids["c"]], 1)
        assert listed(user=u["nhap_2"], unit="tra-bui") == ([ids["d"]], 1)
        with pytest.raises(AccessDenied, match="tự nhập|keyed"):
            find_response(session, ids["d"], u["nhap_1"])
        own = find_response(session, ids["c"], u["nhap_1"])
        with pytest.raises(AccessDenied, match="only admins and analysts"):
            set_state(session, own, "approved", user=u["nhap_1"])
        revise(session, own, {**own.answers, "tiep_can_4": "4"}, "Gõ nhầm", user=u["nhap_1"])
        assert own.current_answers["tiep_can_4"] == "4"


# ------------------------------------------------------------------------------------------ scoring
def _index(frame, unit: str | None = None) -> float:
    table = analysis.score(SIPAS_2017, frame)
    return (table.unit(unit) if unit else table.overall).index


def test_an_excluded_form_leaves_the_index_as_if_never_stored(app, make_campaign):
    kept, _ = make_campaign(kiosk_units=())
    never, _ = make_campaign(kiosk_units=())
    plan = [("tra-xuan", "5"), ("tra-xuan", "2"), ("tra-xuan", "4"), ("tra-bui", "1"), ("tra-bui", "4")]
    with app.app_context(), session_scope() as session:
        with_it, without = session.get(Campaign, kept), session.get(Campaign, never)
        iids = [store(session, with_it, unit, likert) for unit, likert in plan]
        for i, (unit, likert) in enumerate(plan):
            if i != 2:
                store(session, without, unit, likert)
        engine = session.get_bind()
        before = campaign_frame(engine, kept)
        exclude(session, find_response(session, iids[2]), "Phiếu do cán bộ điền")
        after, reference = campaign_frame(engine, kept), campaign_frame(engine, never)

    assert len(before) == 5 and len(after) == 4 and iids[2] not in set(after["response_id"])
    columns = [c for c in after.columns if c not in ("response_id", "received_at")]  # ids, server clock
    assert after[columns].equals(reference[columns])
    scored, expected = analysis.score(SIPAS_2017, after), analysis.score(SIPAS_2017, reference)
    assert scored.to_frame(include_overall=True).equals(expected.to_frame(include_overall=True))
    # Hand-worked: tra-xuan has a 5 and a 2 left, so every criterion is 50 %, the index 50.
    assert _index(before, "tra-xuan") == pytest.approx(200 / 3) and _index(
        after, "tra-xuan"
    ) == pytest.approx(50)

    with app.app_context(), session_scope() as session:
        # Nor does it count towards the commune's target on the progress table.
        counted = {u.unit_code: u.responses for u in progress(session, session.get(Campaign, kept)).units}
        assert counted["tra-xuan"] == 2 and counted["tra-bui"] == 2
        restore(session, find_response(session, iids[2]))
        assert campaign_frame(session.get_bind(), kept).equals(before)
        counted = {u.unit_code: u.responses for u in progress(session, session.get(Campaign, kept)).units}
        assert counted["tra-xuan"] == 3


def test_a_corrected_answer_changes_the_index_to_the_hand_worked_value(app, make_campaign):
    campaign_id, _ = make_campaign(kiosk_units=())
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        store(session, campaign, likert="4")
        low = store(session, campaign, likert="2")
        frame = campaign_frame(session.get_bind(), campaign_id)
        assert _index(frame, "tra-xuan") == pytest.approx(50)
        response = find_response(session, low)
        revise(session, response, {**response.answers, "tiep_can_1": "5"}, "Đối chiếu phiếu giấy")
        frame = campaign_frame(session.get_bind(), campaign_id)
    # tiep_can_1: 2 of 2 satisfied = 100; the element tiep_can = (100 + 50 + 50 + 50) / 4 = 62.5;
    # SIPAS = mean of the five elements = (62.5 + 4 × 50) / 5 = 52.5.
    assert list(frame["tiep_can_1"]) == ["4", "5"]
    assert _index(frame, "tra-xuan") == pytest.approx(52.5)


# ----------------------------------------------------------------------------------------- commands
@pytest.fixture
def sipas(database_url, tmp_path):
    runner = CliRunner()
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}

    def run(*args, expect=0):
        result = runner.invoke(cli, ["responses", *args], env=env, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result.output

    return run


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    return lines[0]


def test_responses_commands_list_show_review_exclude_restore(app, stored, sipas, tmp_path):
    campaign_id, ids = stored
    listing = sipas("list", "--campaign", str(campaign_id))
    assert listing.splitlines()[0].startswith("Mã phiếu\tĐơn vị\tNguồn\tTrạng thái")
    assert [line.split("\t")[0] for line in listing.splitlines()[1:5]] == [ids[k] for k in "dcba"]
    assert "4 phiếu, trang 1/1" in listing
    paper = sipas(
        "list", "--campaign", str(campaign_id), "--source", "paper", "--unit", "tra-bui", "--text", "QUẠT"
    )
    assert [line.split("\t")[0] for line in paper.splitlines()[1:-1]] == [ids["d"]]

    # `sipas export` writes the id that these commands take.
    out = tmp_path / "dot.csv"
    result = CliRunner().invoke(
        cli,
        ["export", "--campaign", str(campaign_id), "--out", str(out)],
        env={"SIPAS_DATABASE_URL": app.config["DATABASE_URL"], "SIPAS_INSTANCE_PATH": str(tmp_path / "i")},
    )
    assert result.exit_code == 0, result.output
    exported = out.read_text(encoding="utf-8-sig").splitlines()[1].split(",")[0]
    assert exported in ids.values()

    assert "Đã loại phiếu" in sipas("exclude", exported, "--reason", "Phiếu trùng")
    assert "Bị loại" in sipas("list", "--campaign", str(campaign_id), "--state", "rejected")
    shown = sipas("show", exported)
    assert f"Phiếu / response {exported}" in shown and "Bị loại (không tính điểm) — Phiếu trùng" in shown
    assert "tiep_can_1\t" in shown and SIPAS_2017.question("tiep_can_1").label.vi in shown
    assert "response_excluded" in shown and "Phiếu trùng" in shown
    assert "Đã khôi phục" in sipas("restore", exported)
    assert "Đã duyệt" in sipas("review", exported, "--state", "approved")
    with app.app_context(), session_scope() as session:
        response = find_response(session, exported)
        assert response.review_state == "approved"
        events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("response_%"))).all()
        assert [e.action for e in events] == ["response_excluded", "response_restored", "response_reviewed"]
        assert all(e.detail["via"] == "cli" for e in events)

    revise_out = tmp_path / "lich-su.csv"
    with app.app_context(), session_scope() as session:
        response = find_response(session, ids["d"])
        revise(session, response, {**response.answers, "gop_y": "=1+1 phòng chờ có quạt"}, "Gõ lại góp ý")
    assert "Đã xuất 1 dòng lịch sử sửa" in sipas(
        "history", "--campaign", str(campaign_id), "--out", str(revise_out)
    )
    rows = list(csv.reader(revise_out.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == [
        "response_id",
        "unit",
        "revision",
        "revised_at",
        "revised_by",
        "reason",
        "item",
        "old",
        "new",
    ]
    assert rows[1][:3] == [ids["d"], "tra-bui", "1"] and rows[1][4:7] == ["", "Gõ lại góp ý", "gop_y"]
    assert rows[1][7:] == ["Phòng chờ thiếu QUẠT, nóng bức", "'=1+1 phòng chờ có quạt"]  # no formula
    assert ".csv" in _one_error_line(
        sipas("history", "--campaign", str(campaign_id), "--out", "x.xlsx", expect=1)
    )

    assert "không có phiếu" in _one_error_line(sipas("show", str(uuid.uuid4()), expect=1))
    assert "lý do" in _one_error_line(sipas("review", exported, "--state", "rejected", expect=1))
    assert "không bị loại" in _one_error_line(sipas("restore", exported, expect=1))
    assert "không có đợt khảo sát" in _one_error_line(sipas("list", "--campaign", "999", expect=1))
    assert "Không có phiếu nào" in sipas("list", "--campaign", str(campaign_id), "--since", "2030-01-01")
    bad_day = sipas("list", "--campaign", str(campaign_id), "--since", "01/05/2024", expect=2)
    assert "YYYY-MM-DD" in bad_day
