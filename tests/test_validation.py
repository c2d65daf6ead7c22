"""Server-side validation of calculates and choice filters (survey.validation, rules 6 and 7).

The server computes every calculate itself from the submitted answers and stores its own value, and
refuses a choice its choice filter does not offer, naming the item in Vietnamese.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from runtime_helpers import PLACES, questionnaire

from survey.validation import response_clock, validate_answers

NOW = datetime(2024, 5, 2, 8, 30, tzinfo=timezone(timedelta(hours=7)))

FORM = questionnaire(
    {
        "id": "noi-o",
        "version": "1",
        "title": "Nơi ở và đánh giá",
        "choices": {
            **PLACES,
            "likert": [{"code": k, "label": str(k)} for k in range(1, 6)],
            "kenh": [
                {"code": "loa", "label": "Loa phát thanh", "extra": {"vung": "xa"}},
                {"code": "tv", "label": "Truyền hình", "extra": {"vung": "tat_ca"}},
                {"code": "mang", "label": "Mạng xã hội", "extra": {"vung": "tat_ca"}},
            ],
        },
        "sections": [
            {
                "code": "s1",
                "label": "Nơi ở",
                "questions": [
                    {"code": "tinh", "type": "single", "choices": "tinh", "label": "Tỉnh", "required": True},
                    {
                        "code": "huyen",
                        "type": "single",
                        "choices": "huyen",
                        "label": "Huyện",
                        "required": True,
                        "choice_filter": "tinh = ${tinh}",
                    },
                    {
                        "code": "xa",
                        "type": "single",
                        "choices": "xa",
                        "label": "Xã, phường, thị trấn",
                        "choice_filter": "tinh = ${tinh} and huyen = ${huyen}",
                    },
                    {
                        "code": "kenh",
                        "type": "multiple",
                        "choices": "kenh",
                        "label": "Kênh thông tin",
                        "choice_filter": "vung = 'tat_ca' or ${xa} = 'tp'",
                    },
                ],
            },
            {
                "code": "s2",
                "label": "Đánh giá",
                "questions": [
                    {"code": "c1", "type": "single", "choices": "likert", "label": "Câu 1", "required": True},
                    {"code": "c2", "type": "single", "choices": "likert", "label": "Câu 2", "required": True},
                    {"code": "diem", "type": "calculate", "calculation": "round((${c1} + ${c2}) div 2, 1)"},
                    {"code": "ngay", "type": "calculate", "calculation": "today()"},
                    {
                        "code": "ly_do",
                        "type": "text",
                        "label": "Vì sao chưa hài lòng?",
                        "relevant": "${diem} < 3",
                        "required": True,
                    },
                ],
            },
        ],
    }
)
GOOD = {"tinh": "qng", "huyen": "tb", "xa": "tp", "kenh": ["loa", "tv"], "c1": 4, "c2": "5"}


def test_the_server_computes_calculates_and_stores_its_own_values():
    sent = {**GOOD, "diem": "1", "ngay": "1999-01-01"}  # a device with an old script or a wrong clock
    kept, errors = validate_answers(FORM, sent, now=NOW)
    assert errors == []
    assert kept == {
        "tinh": "qng",
        "huyen": "tb",
        "xa": "tp",
        "kenh": ["loa", "tv"],
        "c1": "4",
        "c2": "5",
        "diem": "4.5",
        "ngay": "2024-05-02",
    }


def test_a_calculate_can_make_a_question_asked_and_required():
    kept, errors = validate_answers(FORM, {**GOOD, "c1": "1", "c2": "2"}, now=NOW)
    assert kept["diem"] == "1.5"
    assert [(e.item, e.code) for e in errors] == [("ly_do", "required")]
    kept, errors = validate_answers(FORM, {**GOOD, "c1": "1", "c2": "2", "ly_do": "Chờ lâu"}, now=NOW)
    assert errors == [] and kept["ly_do"] == "Chờ lâu"
    # Satisfied: the reason is not asked, and an answer sent for it is dropped.
    kept, errors = validate_answers(FORM, {**GOOD, "ly_do": "Chờ lâu"}, now=NOW)
    assert errors == [] and "ly_do" not in kept


def test_a_calculate_takes_a_single_value_from_the_device():
    _, errors = validate_answers(FORM, {**GOOD, "diem": {"x": 1}}, now=NOW)
    assert [(e.item, e.code) for e in errors] == [("diem", "wrong_type")]
    kept, errors = validate_answers(FORM, {**GOOD, "diem": None, "ngay": 3}, now=NOW)
    assert errors == [] and kept["diem"] == "4.5"


@pytest.mark.parametrize(
    ("answers", "item", "shown"),
    [
        # Tây Giang is in Quảng Nam, Tịnh Bình in Sơn Tịnh, and loudspeakers only in Trà Phú
        ({"huyen": "tm", "xa": None, "kenh": ["tv"]}, "huyen", "'tm' của câu 'Huyện' (huyen)"),
        ({"xa": "tbinh", "kenh": ["tv"]}, "xa", "'tbinh' của câu 'Xã, phường, thị trấn' (xa)"),
        ({"xa": "tx"}, "kenh", "'loa' của câu 'Kênh thông tin' (kenh)"),
        ({"tinh": "qnm", "huyen": "tm", "xa": "ax", "kenh": ["mang", "loa"]}, "kenh", "'loa'"),
    ],
)
def test_a_choice_not_offered_by_its_filter_is_refused(answers, item, shown):
    kept, errors = validate_answers(FORM, {**GOOD, **answers}, now=NOW)
    assert [(e.item, e.code) for e in errors] == [(item, "not_offered")]
    assert shown in errors[0].message
    assert "không có trong danh sách được đưa ra" in errors[0].message
    assert "not offered by its choice filter" in errors[0].message_en


def test_changing_the_province_refuses_the_district_of_the_old_one():
    _, errors = validate_answers(FORM, {**GOOD, "tinh": "qnm"}, now=NOW)
    assert {(e.item, e.code) for e in errors} == {("huyen", "not_offered"), ("xa", "not_offered")}


def test_calculations_read_the_submission_time_in_vietnam():
    # 20:00 UTC on 1 May is 03:00 on 2 May in Vietnam: today() is the Vietnamese day.
    clock = response_clock(datetime(2024, 5, 1, 20, 0, tzinfo=UTC))
    assert clock.utcoffset() == timedelta(hours=7)
    kept, errors = validate_answers(FORM, GOOD, now=clock)
    assert errors == [] and kept["ngay"] == "2024-05-02"
    assert response_clock(datetime(2024, 5, 1, 20, 0)).hour == 3  # a naive time is UTC
    assert abs(response_clock(None) - datetime.now(UTC)) < timedelta(minutes=1)
