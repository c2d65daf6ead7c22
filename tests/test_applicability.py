"""Skip logic as questionnaires.applicability decides it: groups, section and question relevant, cascade."""

from __future__ import annotations

from questionnaires import (
    applicable,
    drop_inapplicable,
    from_data,
    load_questionnaire,
    respondent_group,
    section_applicable,
)

YES_NO = [{"code": 1, "label": "Có"}, {"code": 2, "label": "Không"}]


def _definition(sections: list[dict], groups: list[str] = ()) -> dict:
    raw = {
        "id": "thu",
        "version": "1",
        "title": "Phiếu thử",
        "choices": {"cokhong": YES_NO},
        "sections": sections,
    }
    if groups:
        raw["groups"] = [{"code": g, "label": g} for g in groups]
        raw["choices"]["nhom"] = [{"code": g, "label": g} for g in groups]
    return raw


def _single(code: str, **extra) -> dict:
    return {"code": code, "type": "single", "choices": "cokhong", "label": code, **extra}


# A chain: a -> b (relevant ${a} = 1) -> section s2 (relevant ${b} = 1) -> c, d (relevant ${c} = 1).
CHAIN = from_data(
    _definition(
        [
            {
                "code": "s1",
                "label": "Phần 1",
                "questions": [
                    {"code": "bat_dau", "type": "start"},
                    _single("a"),
                    _single("b", relevant="${a} = 1"),
                ],
            },
            {
                "code": "s2",
                "label": "Phần 2",
                "relevant": "${b} = 1",
                "questions": [
                    {"code": "loi_dan", "type": "note", "label": "Xin cảm ơn"},
                    _single("c"),
                    _single("d", relevant="${c} = 1"),
                ],
            },
        ]
    )
).questionnaire

# Two groups; the group question itself is asked only when ${mo} = 1.
GROUPS = from_data(
    _definition(
        [
            {
                "code": "chung",
                "label": "Chung",
                "questions": [
                    _single("mo"),
                    {"code": "nhom", "type": "single", "choices": "nhom", "label": "Nhóm", "role": "group",
                     "relevant": "${mo} = 1"},
                    _single("ca_hai"),
                    _single("chi_dan", groups=["dan"]),
                ],
            },
            {"code": "lanh_dao", "label": "Lãnh đạo", "groups": ["lanh_dao"], "questions": [_single("ld")]},
        ],
        groups=["dan", "lanh_dao"],
    )
).questionnaire  # fmt: skip


def _section(questionnaire, code):
    return next(s for s in questionnaire.sections if s.code == code)


def test_a_question_is_asked_when_its_section_and_its_own_relevant_hold():
    s1, s2 = CHAIN.sections
    b, c, d = CHAIN.question("b"), CHAIN.question("c"), CHAIN.question("d")
    assert applicable(s1, b, {"a": "1"}, None)
    assert not applicable(s1, b, {"a": "2"}, None)
    assert not applicable(s1, b, {}, None)  # an unanswered item is '': not 1
    assert not section_applicable(s2, {"b": "2"}, None)
    assert not applicable(s2, c, {"b": "2"}, None)
    assert applicable(s2, c, {"b": "1"}, None)
    assert not applicable(s2, d, {"b": "1", "c": "2"}, None)
    assert not applicable(s2, d, {"b": "2", "c": "1"}, None)  # its own holds, its section's does not


def test_dropping_cascades_until_nothing_changes():
    answers = {"d": "1", "c": "1", "b": "1", "a": "2", "bat_dau": "2024-05-02T08:00:00+07:00"}
    kept, dropped = drop_inapplicable(CHAIN, answers)
    # a = 2 drops b; without b, section s2 is not asked: c and d go, on the second pass.
    assert dropped == ("b", "c", "d")
    assert kept == {"bat_dau": "2024-05-02T08:00:00+07:00", "a": "2"}
    assert list(kept) == ["bat_dau", "a"]  # the questionnaire's order, whatever the input's
    assert answers["b"] == "1"  # the input is left alone
    assert drop_inapplicable(CHAIN, {"a": "1", "b": "1", "c": "2", "d": "1"}) == (
        {"a": "1", "b": "1", "c": "2"},
        ("d",),
    )
    assert drop_inapplicable(CHAIN, kept) == (kept, ())


def test_metadata_and_unknown_keys_are_never_dropped():
    kept, dropped = drop_inapplicable(CHAIN, {"khac": "x", "bat_dau": "t", "a": "1"})
    assert dropped == ()
    assert list(kept) == ["bat_dau", "a", "khac"]


def test_the_respondent_group_is_given_else_answered_else_the_only_one():
    assert respondent_group(GROUPS, {"nhom": "dan"}) == "dan"
    assert respondent_group(GROUPS, {"nhom": "dan"}, "lanh_dao") == "lanh_dao"  # given wins
    assert respondent_group(GROUPS, {}) is None
    citizens_only = load_questionnaire("sipas-2017")
    assert respondent_group(citizens_only, {}) == "citizen"


def test_groups_of_sections_and_questions_decide_who_is_asked():
    chung, lanh_dao = GROUPS.sections
    chi_dan, ld, ca_hai = GROUPS.question("chi_dan"), GROUPS.question("ld"), GROUPS.question("ca_hai")
    assert applicable(chung, chi_dan, {}, "dan")
    assert not applicable(chung, chi_dan, {}, "lanh_dao")
    assert not applicable(chung, chi_dan, {}, None)  # unknown group: restricted questions are not asked
    assert applicable(lanh_dao, ld, {}, "lanh_dao")
    assert not applicable(lanh_dao, ld, {}, "dan")
    assert applicable(chung, ca_hai, {}, None)
    answers = {"mo": "1", "nhom": "dan", "ca_hai": "1", "chi_dan": "2", "ld": "1"}
    assert drop_inapplicable(GROUPS, answers)[1] == ("ld",)
    assert drop_inapplicable(GROUPS, answers, "lanh_dao")[1] == ("chi_dan",)


def test_the_group_is_read_again_from_the_kept_answers_on_every_pass():
    # mo = 2 drops the group question; then the group is unknown and chi_dan is not asked either.
    answers = {"mo": "2", "nhom": "dan", "ca_hai": "1", "chi_dan": "2"}
    kept, dropped = drop_inapplicable(GROUPS, answers)
    assert dropped == ("nhom", "chi_dan")
    assert kept == {"mo": "2", "ca_hai": "1"}
    assert drop_inapplicable(GROUPS, kept) == (kept, ())
    # A group given with the response does not depend on the answers.
    assert drop_inapplicable(GROUPS, answers, "dan") == (
        {"mo": "2", "ca_hai": "1", "chi_dan": "2"},
        ("nhom",),
    )
