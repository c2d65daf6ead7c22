"""Paper forms as they really are, on SQLite and PostgreSQL: items marked blank or illegible (kept out of
the answers and of the index, while kiosk and API forms stay bound by ``required``), paper serial numbers
(unique per campaign and unit), and double entry (a serial counts once two users agree, or a reviewer
resolves their differences)."""

from __future__ import annotations

import csv
import re
import uuid

import pytest
from click.testing import CliRunner
from conftest import assign_enumerators, full_answers, submission
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import analysis
from questionnaires import load_questionnaire
from survey.cli import cli
from survey.db import session_scope
from survey.double_entry import (
    DoubleEntryError,
    key_paper_form,
    pairs_to_resolve,
    resolve,
    set_double_entry,
)
from survey.errors import ValidationFailed
from survey.exports import export_campaign
from survey.models import AuditEvent, Campaign, PaperKeying, Response, User
from survey.storage import build_response, campaign_frame, save_response, store_response
from survey.users import create_user
from survey.validation import check_blank_items, validate_answers

pytestmark = pytest.mark.db

SIPAS_2017 = load_questionnaire("sipas-2017")
LIKERT = [q.code for q in SIPAS_2017.questions() if q.appearance == "likert"]
PASSWORDS = {"nhap_1": "mat-khau-nhap-1", "nhap_2": "mat-khau-nhap-2", "phan_tich": "mat-khau-phan-tich"}
ROLES = {"nhap_1": "enumerator", "nhap_2": "enumerator", "phan_tich": "analyst"}
# The paper form's answers outside Câu 9: the feedback items are asked (da_gop_y = 1).
PAPER = {
    "linh_vuc": "dat_dai",
    "gioi_tinh": "1",
    "do_tuoi": "4",
    "dan_toc": "2",
    "so_lan_di_lai": "3",
    "da_gop_y": "1",
}


def answers(likert: str = "4", **overrides) -> dict:
    """Every item answered, Likert items with ``likert``; the feedback items asked (da_gop_y = 1)."""
    return full_answers(SIPAS_2017, {"da_gop_y": "1", **overrides}, likert=likert)


def without(values: dict, *codes: str) -> dict:
    return {k: v for k, v in values.items() if k not in codes}


# ----------------------------------------------------------------------------------- validation
def test_required_binds_kiosk_forms_but_a_paper_blank_mark_satisfies_it():
    given = without(answers(), "tiep_can_3")
    kept, errors = validate_answers(SIPAS_2017, given)
    assert [(e.item, e.code) for e in errors] == [("tiep_can_3", "required")]

    kept, errors = validate_answers(SIPAS_2017, given, blank={"tiep_can_3"})
    assert errors == [] and "tiep_can_3" not in kept
    marks, errors = check_blank_items(SIPAS_2017, kept, ["tiep_can_3"])
    assert (marks, errors) == (["tiep_can_3"], [])


def test_blank_marks_are_checked_and_follow_the_skip_logic():
    kept, _ = validate_answers(SIPAS_2017, answers(da_gop_y="2"))  # phan_anh_* not asked
    kept = without(kept, "cong_chuc_1", "cong_chuc_2")  # left blank on this paper form
    marks, errors = check_blank_items(
        SIPAS_2017, kept, ["cong_chuc_2", "tiep_can_1", "khong_co", "phan_anh_1", "cong_chuc_1"]
    )
    assert [(e.item, e.code) for e in errors] == [
        ("tiep_can_1", "answered_blank"),
        ("khong_co", "unknown_item"),
    ]
    assert "vừa có câu trả lời vừa được đánh dấu" in errors[0].message
    # In questionnaire order; phan_anh_1 is not asked (da_gop_y = 2), so its mark goes, like its answer.
    assert marks == ["cong_chuc_1", "cong_chuc_2"]
    _, errors = check_blank_items(SIPAS_2017, kept, "cong_chuc_1")
    assert [e.code for e in errors] == ["wrong_type"]


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def staff_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=False)
    with app.app_context(), session_scope() as session:
        for name, password in PASSWORDS.items():
            create_user(session, name, password, ROLES[name], full_name=f"Cán bộ {name}")
    return app


@pytest.fixture
def campaign_id(staff_app, make_campaign) -> int:
    made = make_campaign(kiosk_units=("tra-xuan",))[0]
    assign_enumerators(staff_app, made)  # both clerks key every unit (survey.assignments)
    return made


def login(app, username: str):
    client = app.test_client()
    reply = client.post("/admin/login", data={"username": username, "password": PASSWORDS[username]})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return client


def text(reply) -> str:
    return reply.get_data(as_text=True)


def block(html: str, code: str) -> str:
    """The HTML of one question's block on the entry page (from its data-code to the next one)."""
    start = html.index(f'data-code="{code}"')
    following = html.find("data-code=", start + 10)
    return html[start : following if following > 0 else len(html)]


def entry_form(client, campaign_id: int, **fields) -> dict:
    """A blank entry form's fields (its fresh instance id) with every item answered, ``fields`` over it."""
    page = text(client.get(f"/admin/campaigns/{campaign_id}/entry"))
    instance_id = re.search(r'name="entry_instance_id" type="hidden" value="([0-9a-f-]{36})"', page).group(1)
    likert = {code: "4" for code in LIKERT}
    form = {"entry_unit": "tra-xuan", "entry_date": "2024-05-02", "entry_instance_id": instance_id}
    return {**form, **PAPER, **likert, **fields}


def stored(app) -> list[Response]:
    with app.app_context(), session_scope() as session:
        return list(session.scalars(select(Response).order_by(Response.id)))


def frame_ids(app, campaign_id: int) -> list[str]:
    with app.app_context(), session_scope() as session:
        return list(campaign_frame(session.get_bind(), campaign_id)["response_id"])


def users(app) -> dict[str, User]:
    with app.app_context(), session_scope() as session:
        return {u.username: u for u in session.scalars(select(User))}


# ------------------------------------------------------------------------------- blank / illegible
def test_an_item_left_blank_on_paper_is_saved_when_marked_and_refused_when_not(staff_app, campaign_id):
    client = login(staff_app, "nhap_1")
    form = entry_form(client, campaign_id)
    del form["tiep_can_3"]
    form["tiep_can_2"] = "5"

    refused = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert refused.status_code == 422
    html = text(refused)
    assert "Câu bắt buộc: chưa được nhập." in block(html, "tiep_can_3")
    assert "Để trống / không đọc được" in block(html, "tiep_can_3")  # the message says how to save it
    assert re.search(r'<input[^>]* checked[^>]*name="tiep_can_2"[^>]*value="5"', block(html, "tiep_can_2"))
    assert stored(staff_app) == []

    form["entry_blank"] = "tiep_can_3"
    saved = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert saved.status_code == 302, text(saved)
    (row,) = stored(staff_app)
    expected = {
        **PAPER,
        "so_lan_di_lai": 3,
        **{c: "4" for c in LIKERT if c != "tiep_can_3"},
        "tiep_can_2": "5",
    }
    assert row.answers == expected and "tiep_can_3" not in row.answers
    assert row.blank_items == ["tiep_can_3"]

    detail = text(client.get(f"/admin/responses/{row.instance_id}"))
    assert 'data-code="tiep_can_3" data-blank' in detail
    assert "Đánh dấu để trống / không đọc được: tiep_can_3" in detail


def test_an_answered_item_marked_blank_is_refused_and_both_are_kept_on_the_page(staff_app, campaign_id):
    client = login(staff_app, "nhap_1")
    form = entry_form(client, campaign_id, entry_blank="tiep_can_1")  # tiep_can_1 is answered "4"
    reply = client.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert reply.status_code == 422
    item = block(text(reply), "tiep_can_1")
    assert "vừa có câu trả lời vừa được đánh dấu" in item
    assert re.search(r'value="tiep_can_1"[^>]* checked', item)
    assert re.search(r'<input[^>]* checked[^>]*name="tiep_can_1"[^>]*value="4"', item)
    assert stored(staff_app) == []


def test_kiosk_and_api_forms_are_still_bound_by_required(staff_app, make_campaign):
    campaign_id, tokens = make_campaign(kiosk_units=("tra-xuan",))
    body = submission(SIPAS_2017, tokens["tra-xuan"], without(answers(), "tiep_can_3"))
    client = staff_app.test_client()
    reply = client.post("/api/v1/responses", json=body)
    assert reply.status_code == 400
    assert [(e["item"], e["code"]) for e in reply.get_json()["errors"]] == [("tiep_can_3", "required")]
    # The API has no way to mark an item blank: the field is refused, not read.
    reply = client.post("/api/v1/responses", json={**body, "blank_items": ["tiep_can_3"]})
    assert reply.status_code == 400
    assert [e["item"] for e in reply.get_json()["errors"]] == ["blank_items"]
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        for source in ("kiosk", "api"):
            with pytest.raises(ValueError, match="only paper forms"):
                save_response(
                    session,
                    campaign=campaign,
                    unit_code="tra-xuan",
                    instance_id=str(uuid.uuid4()),
                    answers=without(answers(), "tiep_can_3"),
                    questionnaire_id=campaign.questionnaire_id,
                    version=campaign.questionnaire_version,
                    started_at=None,
                    submitted_at=None,
                    source=source,
                    blank_items=["tiep_can_3"],
                )
    assert stored(staff_app) == []


def _paper(session, campaign, values, blank=(), unit="tra-xuan", serial=None, user=None):
    response, created = save_response(
        session,
        campaign=campaign,
        unit_code=unit,
        instance_id=str(uuid.uuid4()),
        answers=values,
        questionnaire_id=campaign.questionnaire_id,
        version=campaign.questionnaire_version,
        started_at=None,
        submitted_at="2024-05-02T00:00:00+07:00",
        source="paper",
        entered_by=user,
        paper_serial=serial,
        blank_items=list(blank),
    )
    assert created
    return response


def test_blank_items_leave_the_denominator_hand_worked_index(staff_app, campaign_id):
    """Two forms in Trà Xuân, every Likert answer 4 (satisfied) except:

    form A: tiep_can_1 = 2, tiep_can_3 marked blank, cong_chuc_6 marked blank;
    form B: tiep_can_1 = 4, tiep_can_3 = 5,           cong_chuc_6 marked blank.
    Criteria: tiep_can_1 = 1 of 2 valid = 50 %; tiep_can_3 = 1 of 1 valid = 100 % (50 % if the blank
    counted as an answer); cong_chuc_6 has no valid answer and leaves its element's mean.
    Elements: tiep_can = (50 + 100 + 100 + 100) / 4 = 87.5; thu_tuc, cong_chuc (5 criteria), ket_qua,
    phan_anh = 100. SIPAS 2017 = mean of the five elements = (87.5 + 4 × 100) / 5 = 97.5.
    """
    base = answers("4")
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        _paper(
            session,
            campaign,
            {**without(base, "tiep_can_3", "cong_chuc_6"), "tiep_can_1": "2"},
            blank=["tiep_can_3", "cong_chuc_6"],
        )
        _paper(session, campaign, {**without(base, "cong_chuc_6"), "tiep_can_3": "5"}, blank=["cong_chuc_6"])
        frame = campaign_frame(session.get_bind(), campaign_id)
    assert frame["tiep_can_3"].tolist() == [None, "5"]
    result = analysis.score(SIPAS_2017, frame).unit("tra-xuan")
    assert result.criteria["tiep_can_1"] == pytest.approx(50.0)
    assert result.criteria["tiep_can_3"] == pytest.approx(100.0)
    assert result.criteria_n["tiep_can_3"] == 1
    assert result.criteria.get("cong_chuc_6") is None
    assert result.elements["tiep_can"] == pytest.approx(87.5)
    assert result.elements["cong_chuc"] == pytest.approx(100.0)
    assert result.index == pytest.approx(97.5)


def test_a_correction_can_fill_an_item_marked_blank(staff_app, campaign_id):
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        row = _paper(session, campaign, without(answers(), "tiep_can_3"), blank=["tiep_can_3"])
        iid = row.instance_id
    client = login(staff_app, "phan_tich")
    page = text(client.get(f"/admin/responses/{iid}/edit"))
    assert re.search(r'value="tiep_can_3"[^>]* checked', block(page, "tiep_can_3"))
    form = {k: str(v) for k, v in answers().items()}
    form |= {"tiep_can_3": "3", "correction_reason": "Đọc lại được câu 3", "correction_base": "0"}
    reply = client.post(f"/admin/responses/{iid}/edit", data=form)
    assert reply.status_code == 302, text(reply)
    with staff_app.app_context(), session_scope() as session:
        row = session.scalars(select(Response).where(Response.instance_id == iid)).one()
        assert row.current_answers["tiep_can_3"] == "3" and row.blank_items is None
        assert "tiep_can_3" not in row.answers  # the submitted answers stay as keyed
        (revision,) = row.revisions
        assert revision.changes == [{"item": "tiep_can_3", "old": "(để trống / không đọc được)", "new": "3"}]

    # The other way: an answer keyed where the paper is in fact illegible.
    form = {**without(form, "cong_chuc_1"), "entry_blank": "cong_chuc_1", "correction_base": "1"}
    reply = client.post(f"/admin/responses/{iid}/edit", data={**form, "correction_reason": "Câu 1 mờ"})
    assert reply.status_code == 302, text(reply)
    with staff_app.app_context(), session_scope() as session:
        row = session.scalars(select(Response).where(Response.instance_id == iid)).one()
        assert "cong_chuc_1" not in row.current_answers and row.blank_items == ["cong_chuc_1"]
        assert row.revisions[-1].changes == [
            {"item": "cong_chuc_1", "old": "4", "new": "(để trống / không đọc được)"}
        ]


# ------------------------------------------------------------------------------------ serial number
def test_a_paper_serial_is_unique_per_campaign_and_unit(staff_app, campaign_id):
    client = login(staff_app, "nhap_1")
    first = client.post(
        f"/admin/campaigns/{campaign_id}/entry",
        data=entry_form(client, campaign_id, entry_serial=" tx-0012 "),
    )
    assert first.status_code == 302, text(first)
    other_unit = entry_form(client, campaign_id, entry_serial="TX-0012", entry_unit="tra-bui")
    assert client.post(f"/admin/campaigns/{campaign_id}/entry", data=other_unit).status_code == 302

    again = entry_form(client, campaign_id, entry_serial="tx-0012", tiep_can_2="1")
    reply = client.post(f"/admin/campaigns/{campaign_id}/entry", data=again)
    assert reply.status_code == 422
    html = text(reply)
    assert "Số phiếu TX-0012 của đơn vị tra-xuan đã được nhập rồi" in html
    assert re.search(r'<input[^>]* checked[^>]*name="tiep_can_2"[^>]*value="1"', block(html, "tiep_can_2"))
    bad = client.post(
        f"/admin/campaigns/{campaign_id}/entry", data=entry_form(client, campaign_id, entry_serial="12 34")
    )
    assert bad.status_code == 422 and "Số phiếu chỉ gồm chữ, số" in text(bad)
    assert [(r.unit_code, r.paper_serial) for r in stored(staff_app)] == [
        ("tra-xuan", "TX-0012"),
        ("tra-bui", "TX-0012"),
    ]


def test_the_database_refuses_a_second_form_with_the_same_serial(staff_app, campaign_id):
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        row = _paper(session, campaign, answers(), serial="0001")
        _paper(session, campaign, answers(), serial=None)
        _paper(session, campaign, answers(), serial=None)  # no serial: as many as there are
        session.add(
            Response(
                **{
                    c.key: getattr(row, c.key)
                    for c in Response.__table__.columns
                    if c.key not in ("id", "instance_id")
                },
                instance_id=str(uuid.uuid4()),
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()

        # A race: the friendly check passed, then someone else stored the serial before our insert.
        racing = build_response(
            session,
            campaign=campaign,
            unit_code="tra-xuan",
            instance_id=str(uuid.uuid4()),
            answers=answers(),
            questionnaire_id=campaign.questionnaire_id,
            version=campaign.questionnaire_version,
            started_at=None,
            submitted_at=None,
            source="paper",
            paper_serial="0002",
        )
        _paper(session, campaign, answers(), serial="0002")
        with pytest.raises(ValidationFailed) as refused:
            store_response(session, racing)
        assert refused.value.errors[0].code == "duplicate_serial"
        assert "Số phiếu 0002 của đơn vị tra-xuan đã được nhập rồi" in refused.value.errors[0].message
        serials = sorted(s or "" for s in session.scalars(select(Response.paper_serial)))
        assert serials == ["", "", "0001", "0002"]


def test_the_serial_is_shown_in_the_list_the_detail_and_the_export(staff_app, campaign_id, tmp_path):
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        with_serial = _paper(session, campaign, answers(), serial="TX-0042").instance_id
        plain = _paper(session, campaign, answers()).instance_id
        out = tmp_path / "export.csv"
        export_campaign(session, campaign, out)
        session.commit()
    client = login(staff_app, "phan_tich")
    listing = text(client.get(f"/admin/campaigns/{campaign_id}/responses"))
    assert re.search(rf'data-response="{with_serial}">.*?<td>TX-0042</td>', listing, re.S)
    assert 'id="paper-serial">TX-0042<' in text(client.get(f"/admin/responses/{with_serial}"))
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = {r["response_id"]: r for r in csv.DictReader(handle)}
    assert rows[with_serial]["paper_serial"] == "TX-0042" and rows[plain]["paper_serial"] == ""


# ------------------------------------------------------------------------------------- double entry
def _double(staff_app, campaign_id) -> None:
    with staff_app.app_context(), session_scope() as session:
        set_double_entry(session, session.get(Campaign, campaign_id), True, user=None)
        session.commit()


def _key(session, campaign, user, values, serial="0007", blank=(), iid=None):
    return key_paper_form(
        session,
        campaign=campaign,
        unit_code="tra-xuan",
        instance_id=iid or str(uuid.uuid4()),
        answers=values,
        questionnaire_id=campaign.questionnaire_id,
        version=campaign.questionnaire_version,
        started_at=None,
        submitted_at="2024-05-02T00:00:00+07:00",
        source="paper",
        entered_by=user,
        paper_serial=serial,
        blank_items=list(blank),
    )


def test_a_serial_counts_only_once_a_second_user_keys_it_the_same(staff_app, campaign_id):
    _double(staff_app, campaign_id)
    values = without(answers("4"), "tiep_can_3")
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        u = {x.username: x for x in session.scalars(select(User))}
        with pytest.raises(ValidationFailed) as missing:
            _key(session, campaign, u["nhap_1"], values, serial="  ", blank=["tiep_can_3"])
        assert "cần ghi số phiếu" in missing.value.errors[0].message

        first = _key(session, campaign, u["nhap_1"], values, blank=["tiep_can_3"])
        assert first.created and first.response is None and "lần nhập thứ nhất" in first.message
        # The same POST resent: stored once; the same id with other content: refused.
        resent = _key(
            session, campaign, u["nhap_1"], values, blank=["tiep_can_3"], iid=first.keying.instance_id
        )
        assert not resent.created and "không lưu thêm lần nữa" in resent.message
        with pytest.raises(ValidationFailed) as conflict:
            _key(session, campaign, u["nhap_1"], answers("4"), iid=first.keying.instance_id)
        assert conflict.value.errors[0].code == "conflict"
        assert session.query(PaperKeying).count() == 1
    assert frame_ids(staff_app, campaign_id) == []  # stored, but counted nowhere

    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        u = {x.username: x for x in session.scalars(select(User))}
        with pytest.raises(ValidationFailed) as same:
            _key(session, campaign, u["nhap_1"], values, blank=["tiep_can_3"])
        assert "lần nhập thứ hai phải do một người khác" in same.value.errors[0].message
        assert same.value.errors[0].item == "paper_serial"
        second = _key(session, campaign, u["nhap_2"], values, blank=["tiep_can_3"])
        assert second.created and second.response is not None and "khớp" in second.message
        counted = second.response.instance_id
        with pytest.raises(ValidationFailed) as third:
            _key(session, campaign, u["phan_tich"], values, blank=["tiep_can_3"])
        assert "đã được nhập rồi" in third.value.errors[0].message  # the serial counts already
        keyings = list(session.scalars(select(PaperKeying).order_by(PaperKeying.id)))
        assert [(k.username, k.state) for k in keyings] == [("nhap_1", "matched"), ("nhap_2", "matched")]
        assert {k.response_id for k in keyings} == {second.response.id}
        row = session.get(Response, second.response.id)
        assert row.answers == values and row.blank_items == ["tiep_can_3"] and row.paper_serial == "0007"
        events = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert events[-2:] == ["paper_keyed", "paper_keyed"]
    assert frame_ids(staff_app, campaign_id) == [counted]


def test_differing_keyings_wait_for_a_reviewer_who_chooses_per_item(staff_app, campaign_id):
    _double(staff_app, campaign_id)
    one = without(answers("4"), "tiep_can_3")
    two = {**answers("4"), "tiep_can_1": "2", "tiep_can_3": "5"}  # tiep_can_3 read, tiep_can_1 differs
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        u = {x.username: x for x in session.scalars(select(User))}
        _key(session, campaign, u["nhap_1"], one, blank=["tiep_can_3"])
        keyed = _key(session, campaign, u["nhap_2"], two)
        assert keyed.response is None and "khác lần thứ nhất ở 2 câu" in keyed.message
        with pytest.raises(ValidationFailed) as third:
            _key(session, campaign, u["phan_tich"], one, blank=["tiep_can_3"])
        assert "đã được nhập hai lần" in third.value.errors[0].message
        (pair,) = pairs_to_resolve(session, campaign)
        assert pair.items == ["tiep_can_1", "tiep_can_3"]
    assert frame_ids(staff_app, campaign_id) == []

    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        (pair,) = pairs_to_resolve(session, campaign)
        reviewer = session.scalars(select(User).where(User.username == "phan_tich")).one()
        with pytest.raises(DoubleEntryError, match="cần ghi lý do"):
            resolve(session, campaign, pair, {"tiep_can_1": "1", "tiep_can_3": "2"}, " ", user=reviewer)
        with pytest.raises(DoubleEntryError, match="chưa chọn lần nhập đúng cho: tiep_can_3"):
            resolve(session, campaign, pair, {"tiep_can_1": "1"}, "Xem phiếu", user=reviewer)
        # The first keying was right on tiep_can_1 (4), the second on tiep_can_3 (readable: 5).
        response = resolve(
            session,
            campaign,
            pair,
            {"tiep_can_1": "1", "tiep_can_3": "2"},
            "Đã xem lại phiếu 0007",
            user=reviewer,
        )
        row = session.get(Response, response.id)
        assert row.answers == {**one, "tiep_can_3": "5"} and row.answers["tiep_can_1"] == "4"
        assert row.blank_items is None and row.paper_serial == "0007"
        assert [k.state for k in session.scalars(select(PaperKeying))] == ["resolved", "resolved"]
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "double_entry_resolved")).one()
        assert event.username == "phan_tich"
        assert event.detail["choices"] == {"tiep_can_1": "1", "tiep_can_3": "2"}
        assert event.detail["reason"] == "Đã xem lại phiếu 0007"
        assert event.detail["keyed_by"] == ["nhap_1", "nhap_2"]
        assert pairs_to_resolve(session, campaign) == []
    assert frame_ids(staff_app, campaign_id) == [response.instance_id]


def test_double_entry_through_the_pages(staff_app, campaign_id):
    analyst = login(staff_app, "phan_tich")
    on = analyst.post(f"/admin/campaigns/{campaign_id}/double-entry/setting", data={"double_entry": "y"})
    assert on.status_code == 302
    assert "Đã bật nhập phiếu giấy hai lần" in text(analyst.get(on.headers["Location"]))
    with staff_app.app_context(), session_scope() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "campaign_double_entry_changed")
        ).one()
        assert (event.username, event.detail) == (
            "phan_tich",
            {"campaign_id": campaign_id, "double_entry": True},
        )

    first, second = login(staff_app, "nhap_1"), login(staff_app, "nhap_2")
    no_serial = first.post(f"/admin/campaigns/{campaign_id}/entry", data=entry_form(first, campaign_id))
    assert no_serial.status_code == 422 and "cần ghi số phiếu" in text(no_serial)
    form = entry_form(first, campaign_id, entry_serial="0100")
    reply = first.post(f"/admin/campaigns/{campaign_id}/entry", data=form)
    assert reply.status_code == 302
    assert "lần nhập thứ nhất của phiếu số 0100" in text(first.get(reply.headers["Location"]))
    again = first.post(
        f"/admin/campaigns/{campaign_id}/entry", data=entry_form(first, campaign_id, entry_serial="0100")
    )
    assert again.status_code == 422 and "phải do một người khác" in text(again)

    waiting = text(analyst.get(f"/admin/campaigns/{campaign_id}/double-entry"))
    assert re.search(r'data-serial="0100"><td>0100</td><td>Thị trấn Trà Xuân</td>\s*<td>nhap_1</td>', waiting)

    other = entry_form(second, campaign_id, entry_serial="0100", cong_chuc_2="2")
    assert second.post(f"/admin/campaigns/{campaign_id}/entry", data=other).status_code == 302
    assert frame_ids(staff_app, campaign_id) == []
    campaign_page = text(analyst.get(f"/admin/campaigns/{campaign_id}"))
    assert re.search(r'id="keyings-different">1<', campaign_page)

    page = analyst.get(f"/admin/campaigns/{campaign_id}/double-entry")
    html = text(page)
    assert "Phiếu số 0100" in html and 'data-item="cong_chuc_2"' in html
    assert "4 — Hài lòng" in html and "2 — Không hài lòng" in html
    keying = re.search(r"/double-entry/(\d+)", html).group(1)
    refused = analyst.post(
        f"/admin/campaigns/{campaign_id}/double-entry/{keying}", data={"choice__cong_chuc_2": "2"}
    )
    assert refused.status_code == 422 and "Cần ghi lý do đối chiếu" in text(refused)
    assert re.search(r'name="choice__cong_chuc_2" value="2"\s+checked', text(refused))  # the choice stays
    done = analyst.post(
        f"/admin/campaigns/{campaign_id}/double-entry/{keying}",
        data={"choice__cong_chuc_2": "2", "reason": "Phiếu ghi 2"},
    )
    assert done.status_code == 302
    assert "Không có cặp nào chờ đối chiếu" in text(analyst.get(done.headers["Location"]))
    (row,) = stored(staff_app)
    assert row.answers["cong_chuc_2"] == "2" and row.paper_serial == "0100"
    assert frame_ids(staff_app, campaign_id) == [row.instance_id]


def test_double_entry_cannot_be_turned_off_while_keyings_wait(staff_app, campaign_id):
    _double(staff_app, campaign_id)
    with staff_app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        _key(session, campaign, session.scalars(select(User)).first(), answers())
    analyst = login(staff_app, "phan_tich")
    reply = analyst.post(f"/admin/campaigns/{campaign_id}/double-entry/setting", data={})
    assert "còn 1 phiếu mới nhập một lần" in text(analyst.get(reply.headers["Location"]))
    with staff_app.app_context(), session_scope() as session:
        assert session.get(Campaign, campaign_id).double_entry is True


def test_campaign_create_double_entry_on_the_command_line_and_the_page(staff_app, database_url, tmp_path):
    env = {"SIPAS_DATABASE_URL": database_url, "SIPAS_INSTANCE_PATH": str(tmp_path / "instance")}
    argv = ["campaign", "create", "--questionnaire", "sipas-2017", "--units", "tra-bong-2023"]
    result = CliRunner().invoke(cli, [*argv, "--name", "Hai lần", "--double-entry"], env=env)
    assert result.exit_code == 0, result.output
    assert "nhập phiếu giấy hai lần" in result.output
    analyst = login(staff_app, "phan_tich")
    form = {"name": "Trên trang", "questionnaire": "sipas-2017", "unit_list": "tra-bong-2023"}
    reply = analyst.post(
        "/admin/campaigns/new", data={**form, "margin_of_error": "0,05", "double_entry": "y"}
    )
    assert reply.status_code == 302, text(reply)
    with staff_app.app_context(), session_scope() as session:
        flags = {c.name: c.double_entry for c in session.scalars(select(Campaign))}
        assert flags == {"Hai lần": True, "Trên trang": True}
        created = session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign_created")).all()
        assert [e.detail["double_entry"] for e in created] == [True, True]
