"""Validation of answers, storing responses (idempotent), and the responses table read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest
from conftest import full_answers
from sqlalchemy import func, select

from questionnaires import from_data, load_questionnaire
from survey.db import session_scope
from survey.errors import DuplicateConflict, ValidationFailed
from survey.models import Campaign, Response
from survey.storage import content_hash, normalise_instance_id, responses_frame, save_response
from survey.validation import validate_answers

SIPAS_2017 = load_questionnaire("sipas-2017")
SIPAS_2023 = load_questionnaire("sipas-2023")
PAR_XA = "par-xa-2023"


def codes(errors):
    return sorted((e.item, e.code) for e in errors)


# ------------------------------------------------------------------------------------- validation
def test_valid_answers_are_normalised():
    answers = full_answers(
        SIPAS_2017, {"tiep_can_1": 4, "so_lan_di_lai": "3", "gop_y": "  Tốt  ", "da_gop_y": 1}
    )
    answers["bat_dau"] = "2024-05-02T08:01:00+07:00"
    kept, errors = validate_answers(SIPAS_2017, answers)
    assert errors == []
    assert kept["tiep_can_1"] == "4" and kept["da_gop_y"] == "1"
    assert kept["so_lan_di_lai"] == 3
    assert kept["gop_y"] == "Tốt"
    assert kept["bat_dau"] == "2024-05-02T01:01:00+00:00"
    assert list(kept) == [c for c in SIPAS_2017.item_codes if c in kept]  # questionnaire order


def test_empty_values_mean_not_answered():
    answers = full_answers(SIPAS_2017, {"gop_y": "", "dan_toc": None})
    kept, errors = validate_answers(SIPAS_2017, answers)
    assert errors == []
    assert "gop_y" not in kept and "dan_toc" not in kept


def test_multiple_choice_is_a_list_of_distinct_codes_in_list_order():
    answers = full_answers(SIPAS_2023, {"da_thuc_hien_tthc": "2", "kenh_tiep_nhan": ["khac", "bao_chi"]})
    answers["kenh_mong_muon"] = "can_bo truyen_hinh"  # ODK's space-separated form
    kept, errors = validate_answers(SIPAS_2023, answers)
    assert errors == []
    assert kept["kenh_tiep_nhan"] == ["bao_chi", "khac"]
    assert kept["kenh_mong_muon"] == ["truyen_hinh", "can_bo"]

    for bad, code in (
        (["bao_chi", "bao_chi"], "duplicate_code"),
        (["bao_chi", "tivi"], "invalid_code"),
        ({"a": 1}, "wrong_type"),
        ([["bao_chi"]], "wrong_type"),
    ):
        _, errors = validate_answers(SIPAS_2023, dict(answers, kenh_tiep_nhan=bad))
        assert codes(errors) == [("kenh_tiep_nhan", code)], bad


@pytest.mark.parametrize(
    "value, expected",
    [(3, 3), ("12", 12), (4.0, 4), (" 7 ", 7)],
)
def test_integer_answers_accept_numbers_and_numeric_text(value, expected):
    kept, errors = validate_answers(SIPAS_2017, full_answers(SIPAS_2017, {"so_lan_di_lai": value}))
    assert errors == [] and kept["so_lan_di_lai"] == expected


@pytest.mark.parametrize("value", [2.5, "2,5", True, "1e3", [1], "3 lần"])
def test_integer_answers_refuse_other_values(value):
    _, errors = validate_answers(SIPAS_2017, full_answers(SIPAS_2017, {"so_lan_di_lai": value}))
    assert codes(errors) == [("so_lan_di_lai", "wrong_type")]


def test_constraint_uses_the_value_and_its_message():
    _, errors = validate_answers(SIPAS_2017, full_answers(SIPAS_2017, {"so_lan_di_lai": 0}))
    assert codes(errors) == [("so_lan_di_lai", "constraint")]
    assert errors[0].message == "Số lần từ 1 đến 20."
    assert errors[0].message_en == "Between 1 and 20."


def test_metadata_may_be_set_by_the_device_but_notes_cannot_be_answered():
    q = from_data(
        {
            "id": "mini",
            "version": "1",
            "title": {"vi": "Phiếu nhỏ"},
            "choices": {
                "cokhong": [{"code": 1, "label": {"vi": "Có"}}, {"code": 2, "label": {"vi": "Không"}}]
            },
            "sections": [
                {
                    "code": "s",
                    "label": {"vi": "Phần"},
                    "questions": [
                        {"code": "bat_dau", "type": "start"},
                        {"code": "hom_nay", "type": "today"},
                        {"code": "loi_dan", "type": "note", "label": {"vi": "Xin cảm ơn"}},
                        {"code": "ngay", "type": "date", "label": {"vi": "Ngày"}},
                        {"code": "diem", "type": "decimal", "label": {"vi": "Điểm"}, "constraint": ". <= 10"},
                        {"code": "q", "type": "single", "choices": "cokhong", "label": {"vi": "Câu"}},
                        {
                            "code": "ly_do",
                            "type": "text",
                            "label": {"vi": "Lý do"},
                            "required": "${q} = 2",
                        },
                    ],
                }
            ],
        }
    ).questionnaire
    kept, errors = validate_answers(
        q,
        {
            "bat_dau": "2024-05-02T08:00:00Z",
            "hom_nay": "2024-05-02",
            "ngay": "2024-02-29",
            "diem": "9.5",
            "q": 1,
        },
    )
    assert errors == []
    assert kept == {
        "bat_dau": "2024-05-02T08:00:00+00:00",
        "hom_nay": "2024-05-02",
        "ngay": "2024-02-29",
        "diem": 9.5,
        "q": "1",
    }
    _, errors = validate_answers(
        q, {"loi_dan": "x", "ngay": "2023-02-29", "diem": 11, "bat_dau": "sáng nay", "q": 2}
    )
    assert codes(errors) == [
        ("bat_dau", "wrong_type"),
        ("diem", "constraint"),
        ("loi_dan", "not_answerable"),
        ("ly_do", "required"),  # required_if: q = 2
        ("ngay", "wrong_type"),
    ]
    # The device's clock is checked (2000-01-01 to a day ahead); a date the respondent gives is not.
    _, errors = validate_answers(
        q, {"bat_dau": "0001-01-01T00:00:00+07:00", "hom_nay": "9999-12-31", "ngay": "0001-01-01", "q": 1}
    )
    assert codes(errors) == [("bat_dau", "out_of_range"), ("hom_nay", "out_of_range")]
    assert all("2000-01-01" in e.message for e in errors)
    _, errors = validate_answers(q, {"hom_nay": "1999-12-31", "q": 1})
    assert codes(errors) == [("hom_nay", "out_of_range")]


def test_answers_to_questions_that_are_not_relevant_are_dropped_in_cascade():
    # da_thuc_hien_tthc = 2 hides da_gop_y, which in turn hides phan_anh_* even though they say 1.
    answers = full_answers(SIPAS_2023, {"da_thuc_hien_tthc": "2"})
    answers.update(da_gop_y="1", phan_anh_1="5", tiep_can_3="2")
    kept, errors = validate_answers(SIPAS_2023, answers)
    assert errors == []
    assert not {"da_gop_y", "phan_anh_1", "tiep_can_3"} & set(kept)


def test_respondent_groups_decide_which_questions_are_asked():
    par = load_questionnaire(PAR_XA)
    group_item = next(q for q in par.questions() if q.role is not None and q.role.value == "group")
    for group in [g.code for g in par.groups]:
        answers = full_answers(par, {group_item.code: group})
        kept, errors = validate_answers(par, answers)
        assert errors == [], (group, errors)
        for section in par.sections:
            for q in section.questions:
                restricted = set(section.groups) | set(q.groups)
                if restricted and group not in restricted:
                    assert q.code not in kept
    # An answer given by the wrong group is dropped, not stored.
    leader_only = next(q for q in par.questions() if q.groups and "lanh_dao" in q.groups)
    citizen = full_answers(par, {group_item.code: "nguoi_dan"})
    kept, errors = validate_answers(
        par, dict(citizen, **{leader_only.code: citizen.get(leader_only.code) or "1"})
    )
    assert leader_only.code not in kept


def test_answers_must_be_an_object_with_known_items():
    _, errors = validate_answers(SIPAS_2017, ["4"])
    assert codes(errors) == [("answers", "wrong_type")]
    _, errors = validate_answers(SIPAS_2017, full_answers(SIPAS_2017, {"khong_ton_tai": "1"}))
    assert codes(errors) == [("khong_ton_tai", "unknown_item")]
    assert "khong_ton_tai" in errors[0].message and errors[0].message_en


# ----------------------------------------------------------------------------------- content hash
def test_instance_ids_are_canonical_uuids():
    u = uuid.uuid4()
    assert normalise_instance_id(str(u).upper()) == str(u)
    assert normalise_instance_id(f"uuid:{u.hex}") == str(u)
    for bad in ("", "abc", "1234", str(u) + "0", None, 5):
        with pytest.raises(ValueError):
            normalise_instance_id(bad)


def test_content_hash_ignores_key_order_and_time_zone_but_not_content():
    base = dict(
        questionnaire_id="sipas-2017",
        version="2017.1",
        unit_code="tra-xuan",
        stratum="ho_tich",
        group="citizen",
        answers={"a": "1", "b": "Trà Bồng"},
        started_at=datetime(2024, 5, 2, 1, 0, tzinfo=UTC),
        submitted_at=datetime(2024, 5, 2, 1, 5, tzinfo=UTC),
    )
    h = content_hash(**base)
    assert len(h) == 64
    assert content_hash(**dict(base, answers={"b": "Trà Bồng", "a": "1"})) == h
    assert content_hash(**dict(base, started_at=datetime(2024, 5, 2, 1, 0))) == h  # naive = UTC
    for change in ({"answers": {"a": "2", "b": "Trà Bồng"}}, {"unit_code": "tra-giang"}, {"stratum": None}):
        assert content_hash(**dict(base, **change)) != h


# ------------------------------------------------------------------------------------- save_response


def _save(session, campaign, answers, instance_id=None, **kwargs):
    params = dict(
        campaign=campaign,
        unit_code="tra-xuan",
        instance_id=instance_id or str(uuid.uuid4()),
        answers=answers,
        questionnaire_id=campaign.questionnaire_id,
        version=campaign.questionnaire_version,
        started_at="2024-05-02T08:00:00+07:00",
        submitted_at="2024-05-02T08:06:00+07:00",
        source="paper",
    )
    params.update(kwargs)
    return save_response(session, **params)


@pytest.mark.db
def test_save_response_is_idempotent_and_detects_conflicts(app, make_campaign):
    campaign_id, _ = make_campaign("sipas-2017")
    answers = full_answers(SIPAS_2017, {"linh_vuc": "chung_thuc"})
    iid = str(uuid.uuid4())
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        first, created = _save(session, campaign, answers, iid)
        assert created and first.stratum == "chung_thuc" and first.source == "paper"
        again, created = _save(session, campaign, answers, iid.upper(), source="api")
        assert not created and again.id == first.id
        with pytest.raises(DuplicateConflict) as info:
            _save(session, campaign, dict(answers, tiep_can_1="1"), iid)
        assert info.value.instance_id == iid
        with pytest.raises(DuplicateConflict):
            _save(session, campaign, answers, iid, unit_code="tra-giang")
        assert session.scalar(select(func.count(Response.id))) == 1


@pytest.mark.db
def test_an_instance_id_stored_in_one_campaign_is_a_conflict_in_another(app, make_campaign):
    """Same instance id, same content, another campaign: never "duplicate", and nothing stored twice."""
    from survey.errors import InstanceInOtherCampaign

    first_id, _ = make_campaign("sipas-2017")
    other_id, _ = make_campaign("sipas-2017", name="Đợt 2")
    answers = full_answers(SIPAS_2017)
    iid = str(uuid.uuid4())
    with app.app_context(), session_scope() as session:
        first, other = session.get(Campaign, first_id), session.get(Campaign, other_id)
        stored, created = _save(session, first, answers, iid)
        assert created
        with pytest.raises(InstanceInOtherCampaign) as info:
            _save(session, other, answers, iid.upper())
        assert isinstance(info.value, DuplicateConflict)  # callers that know only conflicts still refuse
        assert info.value.instance_id == iid and info.value.existing.campaign_id == first_id
        assert "another campaign" in str(info.value)
        again, created = _save(session, first, answers, iid)  # its own campaign: still a duplicate
        assert not created and again.id == stored.id
        rows = session.execute(select(Response.campaign_id, Response.instance_id)).all()
        assert rows == [(first_id, iid)]


@pytest.mark.db
def test_save_response_refuses_bad_envelopes_and_stores_nothing(app, make_campaign):
    campaign_id, _ = make_campaign("sipas-2017")
    answers = full_answers(SIPAS_2017)
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        cases = {
            ("unit", "unknown_unit"): {"unit_code": "ha-noi"},
            ("questionnaire", "wrong_questionnaire"): {"version": "2017.2"},
            ("instance_id", "wrong_type"): {"instance_id": "not-a-uuid"},
            ("started_at", "wrong_type"): {"started_at": "hôm qua"},
            ("stratum", "wrong_type"): {"stratum": ""},
        }
        for expected, change in cases.items():
            with pytest.raises(ValidationFailed) as info:
                _save(session, campaign, answers, **change)
            assert expected in codes(info.value.errors), change
        assert session.scalar(select(func.count(Response.id))) == 0


# ------------------------------------------------------------------------------- responses table
@pytest.mark.db
def test_responses_frame_has_the_responses_table_layout_and_the_stored_values(
    app, make_campaign, database_url
):
    campaign_id, _ = make_campaign("sipas-2023", units=[("xa-a", "Xã A"), ("xa-b", "Xã B")], kiosk_units=())
    sent = [
        (
            "xa-a",
            full_answers(SIPAS_2023, {"da_thuc_hien_tthc": "1", "da_gop_y": "1", "y_kien_khac": "Rất tốt"}),
        ),
        (
            "xa-b",
            full_answers(
                SIPAS_2023, {"da_thuc_hien_tthc": "2", "kenh_tiep_nhan": ["mang_xa_hoi", "bao_chi"]}
            ),
        ),
    ]
    ids = []
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        for unit, answers in sent:
            response, _ = _save(session, campaign, answers, unit_code=unit, source="kiosk")
            ids.append(response.instance_id)

    frame = responses_frame(campaign_id, database_url)

    items = [q.code for q in SIPAS_2023.questions() if q.type.is_answerable]
    assert list(frame.columns) == [
        "response_id",
        "unit",
        "stratum",
        "group",
        *items,
        "questionnaire_version",
        "language",
        "source",
        "kiosk",
        "enumerator",
        "started_at",
        "submitted_at",
        "received_at",
    ]
    assert list(frame["response_id"]) == ids
    assert list(frame["unit"]) == ["xa-a", "xa-b"]
    # xa-b never did a procedure (Câu 8 = 2): the procedure field is not asked, so its stratum is blank
    assert frame.loc[0, "stratum"] == sent[0][1]["linh_vuc"] and "linh_vuc" not in sent[1][1]
    assert pd.isna(frame.loc[1, "stratum"])
    assert list(frame["group"]) == ["citizen", "citizen"]
    assert frame.loc[0, "y_kien_khac"] == "Rất tốt"
    assert frame.loc[1, "kenh_tiep_nhan"] == "bao_chi mang_xa_hoi"
    assert frame.loc[0, "tiep_can_1"] == "4" and pd.isna(frame.loc[1, "tiep_can_1"])  # dropped: not asked
    assert set(frame["source"]) == {"kiosk"} and set(frame["questionnaire_version"]) == {"2023.1"}
    assert list(frame["language"]) == ["vi", "vi"]  # kiosk forms sent without one were in Vietnamese
    assert frame.loc[0, "submitted_at"] == pd.Timestamp("2024-05-02T01:06:00Z")
    # Every stored answer is in the table, and nothing else is.
    with app.app_context(), session_scope() as session:
        for row in session.scalars(select(Response)):
            line = frame.set_index("response_id").loc[row.instance_id]
            for code in items:
                value = row.answers.get(code)
                expected = " ".join(value) if isinstance(value, list) else value
                assert pd.isna(line[code]) if expected is None else line[code] == expected, code


@pytest.mark.db
def test_responses_frame_of_an_empty_campaign_and_integer_items(app, make_campaign, database_url):
    campaign_id, _ = make_campaign("sipas-2017", kiosk_units=())
    empty = responses_frame(campaign_id, database_url)
    assert len(empty) == 0 and "stratum" in empty.columns and "tiep_can_1" in empty.columns
    with app.app_context(), session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        _save(session, campaign, full_answers(SIPAS_2017, {"so_lan_di_lai": 7}))
        _save(session, campaign, full_answers(SIPAS_2017, {"so_lan_di_lai": None}))
    frame = responses_frame(campaign_id, database_url)
    assert str(frame["so_lan_di_lai"].dtype) == "Int64"
    assert frame["so_lan_di_lai"].tolist()[0] == 7 and pd.isna(frame["so_lan_di_lai"].tolist()[1])


@pytest.mark.db
def test_responses_frame_uses_the_configured_database_outside_a_request(
    app, make_campaign, database_url, monkeypatch, tmp_path
):
    campaign_id, _ = make_campaign("sipas-2017", kiosk_units=())
    with app.app_context(), session_scope() as session:
        _save(session, session.get(Campaign, campaign_id), full_answers(SIPAS_2017))
    monkeypatch.setenv("SIPAS_DATABASE_URL", database_url)
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path / "cli-instance"))
    frame = responses_frame(campaign_id)
    assert len(frame) == 1
    with app.app_context():  # inside an app context it uses that app's database
        assert len(responses_frame(campaign_id)) == 1


@pytest.mark.db
def test_responses_frame_of_an_unknown_campaign_is_a_clear_error(app, database_url):
    from survey.errors import CampaignError

    with pytest.raises(CampaignError, match="42"):
        responses_frame(42, database_url)
