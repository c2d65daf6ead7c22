"""Synthetic answers follow the questionnaire's skip logic: one respondent, and a whole responses table."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from questionnaires import (
    QuestionType,
    applicable,
    drop_inapplicable,
    list_questionnaires,
    load_questionnaire,
    respondent_group,
)
from reports.synthetic import fill_answers, synthetic_answers, synthetic_responses

SIPAS_2023 = load_questionnaire("sipas-2023")
PAR_XA = load_questionnaire("par-xa-2023")
LEADER_ONLY = {"chuc_danh", "cd_1", "cd_2", "cd_3", "vb_1", "vb_2", "vb_3", "tt_3", "bm_1", "bm_2"}
CITIZEN_ONLY = {"cc_4", "cs_3", "hl_1", "hl_2", "hl_3", "hl_4", "hl_5"}


def _row_answers(questionnaire, row: pd.Series) -> dict:
    """One row of a synthetic table as stored answers (choice codes as text)."""
    out = {}
    for q in questionnaire.questions():
        if q.code in row.index and not pd.isna(row[q.code]):
            out[q.code] = int(row[q.code]) if q.type is QuestionType.INTEGER else str(row[q.code])
    return out


@pytest.mark.parametrize("ident", list_questionnaires())
@pytest.mark.parametrize("numeric_codes", [False, True])
def test_a_synthetic_table_holds_only_what_skip_logic_asks(ident, numeric_codes):
    questionnaire = load_questionnaire(ident)
    frame = synthetic_responses(questionnaire, ["a", "b"], [60, 40], seed=3, numeric_codes=numeric_codes)
    assert len(frame) == 100
    for _, row in frame.iterrows():
        answers = _row_answers(questionnaire, row)
        assert drop_inapplicable(questionnaire, answers)[1] == (), answers
        # Every single-choice question asked is drawn: its blanks are exactly the questions not asked.
        group = respondent_group(questionnaire, answers)
        asked = {
            q.code
            for s in questionnaire.sections
            for q in s.questions
            if q.type is QuestionType.SINGLE and applicable(s, q, answers, group)
        }
        assert asked == {code for code in answers if questionnaire.question(code).type is QuestionType.SINGLE}


def test_the_cascade_and_the_groups_blank_the_table():
    frame = synthetic_responses(SIPAS_2023, ["a"], 400, seed=5)
    did = frame["da_thuc_hien_tthc"].astype("str") == "1"
    commented = frame["da_gop_y"].astype("str") == "1"
    assert frame.loc[~did, ["da_gop_y", "tiep_can_1", "phan_anh_3"]].isna().all().all()
    assert frame.loc[did & ~commented, "phan_anh_1"].isna().all()  # section and question: two items read
    assert frame.loc[did & commented, "phan_anh_1"].notna().all()
    assert 0 < (did & commented).sum() < did.sum() < len(frame)

    frame = synthetic_responses(PAR_XA, ["a"], 300, seed=6)
    leaders = frame["nhom"].astype("str") == "lanh_dao"
    assert frame.loc[leaders, sorted(CITIZEN_ONLY)].isna().all().all()
    assert frame.loc[~leaders, sorted(LEADER_ONLY)].isna().all().all()
    assert frame.loc[leaders, sorted(LEADER_ONLY)].notna().all().all()
    assert 50 < leaders.sum() < 250


def test_an_empty_table_has_the_columns():
    frame = synthetic_responses(PAR_XA, ["a"], 0)
    assert frame.empty and {"nhom", "cd_1"} <= set(frame.columns)


def test_one_respondent_follows_skip_logic_and_its_seed():
    draws = [synthetic_answers(SIPAS_2023, random.Random(f"1:a:{i}"), 0.9) for i in range(300)]
    assert draws == [synthetic_answers(SIPAS_2023, random.Random(f"1:a:{i}"), 0.9) for i in range(300)]
    assert len({tuple(sorted(map(str, d.items()))) for d in draws}) == 300
    for answers in draws:
        assert drop_inapplicable(SIPAS_2023, answers)[1] == ()
        if answers["da_thuc_hien_tthc"] != "1":
            assert not {"da_gop_y", "tiep_can_1", "phan_anh_1"} & set(answers)
    likert = [  # five-point Likert items; the three-point scales are drawn evenly
        a[q.code]
        for a in draws
        for q in SIPAS_2023.questions()
        if q.appearance == "likert" and q.choices == "likert5" and q.code in a
    ]
    assert sum(code in ("4", "5") for code in likert) / len(likert) == pytest.approx(0.9, abs=0.02)
    groups = {synthetic_answers(PAR_XA, random.Random(i), 0.8)["nhom"] for i in range(40)}
    assert groups == {"lanh_dao", "nguoi_dan"}


def test_fill_answers_keeps_what_is_given_and_asks_only_what_follows_from_it():
    def first(q, choice_list):
        return choice_list.codes[0] if choice_list else None

    answers = fill_answers(PAR_XA, first, {"nhom": "nguoi_dan", "gioi_tinh": None})
    assert answers["nhom"] == "nguoi_dan" and answers["gioi_tinh"] is None  # given, even as unanswered
    assert not LEADER_ONLY & set(answers) and CITIZEN_ONLY <= set(answers)
    assert list(answers)[:2] == ["nhom", "gioi_tinh"]
    assert "de_xuat" not in answers  # text: no choice list, so the draw left it unanswered
    leader = fill_answers(PAR_XA, first, {"nhom": "lanh_dao"})
    assert LEADER_ONLY <= set(leader) and not CITIZEN_ONLY & set(leader)
