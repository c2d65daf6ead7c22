"""questionnaires.runtime: calculates in document order, settle, choice filters and defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from runtime_helpers import PLACES, questionnaire

from questionnaires import (
    QuestionType,
    calculate,
    choice_row,
    default_answer,
    offered_codes,
    settle,
    stored_value,
)

NOW = datetime(2024, 5, 2, 8, 30, tzinfo=timezone(timedelta(hours=7)))
LIKERT = [{"code": k, "label": str(k)} for k in range(1, 6)]
YES_NO = [{"code": 1, "label": "Có"}, {"code": 2, "label": "Không"}]

FORM = questionnaire(
    {
        "id": "tinh-toan",
        "version": "1",
        "title": "Phiếu có câu tính toán",
        "choices": {**PLACES, "likert": LIKERT, "cokhong": YES_NO},
        "sections": [
            {
                "code": "s1",
                "label": "Nơi ở",
                "questions": [
                    {"code": "tinh", "type": "single", "choices": "tinh", "label": "Tỉnh", "default": "qng"},
                    {
                        "code": "huyen",
                        "type": "single",
                        "choices": "huyen",
                        "label": "Huyện",
                        "choice_filter": "tinh = ${tinh}",
                    },
                    {
                        "code": "xa",
                        "type": "single",
                        "choices": "xa",
                        "label": "Xã",
                        "choice_filter": "tinh = ${tinh} and huyen = ${huyen}",
                    },
                    {"code": "noi_o", "type": "calculate", "calculation": "concat(${xa}, '/', ${huyen})"},
                ],
            },
            {
                "code": "s2",
                "label": "Đánh giá",
                "questions": [
                    {"code": "c1", "type": "single", "choices": "likert", "label": "Câu 1"},
                    {"code": "c2", "type": "single", "choices": "likert", "label": "Câu 2"},
                    {"code": "tong", "type": "calculate", "calculation": "${c1} + ${c2}"},
                    {"code": "tb", "type": "calculate", "calculation": "round(${tong} div 2, 1)"},
                    {"code": "hai_long", "type": "calculate", "calculation": "${tb} >= 4"},
                    # a forward reference: the later calculate is not computed yet
                    {"code": "truoc", "type": "calculate", "calculation": "coalesce(${sau}, 'chua')"},
                    {"code": "sau", "type": "calculate", "calculation": "1"},
                    {"code": "ngay", "type": "calculate", "calculation": "once(today())"},
                ],
            },
            {
                "code": "s3",
                "label": "Góp ý",
                "relevant": "${tb} < 3",  # relevance may read a calculate
                "questions": [
                    {"code": "gop_y", "type": "text", "label": "Vì sao chưa hài lòng?"},
                    {"code": "do_dai", "type": "calculate", "calculation": "string-length(${gop_y})"},
                ],
            },
        ],
    }
)


def test_the_helper_builds_the_runtime_fields():
    assert FORM.question("noi_o").type is QuestionType.CALCULATE
    assert not FORM.question("noi_o").type.is_answerable
    assert FORM.question("huyen").choice_filter.choice_columns == {"tinh"}
    assert FORM.choice_lists["xa"].choices[0].extra == {"tinh": "qng", "huyen": "tb"}
    assert choice_row(FORM.choice_lists["xa"].choices[0]) == {"tinh": "qng", "huyen": "tb", "name": "tx"}


def test_calculates_follow_document_order_and_read_earlier_ones():
    out = calculate(FORM, {"tinh": "qng", "huyen": "tb", "xa": "tp", "c1": "4", "c2": "5"}, now=NOW)
    assert out["noi_o"] == "tp/tb"
    assert out["tong"] == "9"  # 9.0 printed as the language prints it
    assert out["tb"] == "4.5"
    assert out["hai_long"] == "true"
    assert out["truoc"] == "chua" and out["sau"] == "1"
    assert out["ngay"] == "2024-05-02"
    assert "do_dai" not in out  # its section is not asked (${tb} < 3 is false)


def test_values_sent_for_calculates_are_replaced_or_removed():
    out = calculate(FORM, {"c1": "1", "tong": "999", "do_dai": "5"}, now=NOW)
    assert "tong" not in out and "tb" not in out  # 1 + '' is NaN: nothing is stored, and 999 is gone
    assert out["hai_long"] == "false"
    assert "do_dai" not in out  # its section is not asked ('' < 3 is false): the value sent goes
    assert calculate(FORM, {"c1": "1", "c2": "1", "tong": "999"}, now=NOW)["tong"] == "2"


@pytest.mark.parametrize(
    ("value", "stored"),
    [(3.0, "3"), (2.5, "2.5"), (True, "true"), (False, "false"), ("", None), (float("nan"), None),
     (float("inf"), None), (["a", "b"], "a b"), ("Hà", "Hà"), (7, "7")],
)  # fmt: skip
def test_stored_value(value, stored):
    assert stored_value(value) == stored


def test_settle_computes_and_drops_until_nothing_changes():
    answers = {"c1": "1", "c2": "2", "gop_y": "Chờ lâu"}
    kept, dropped = settle(FORM, answers, now=NOW)
    assert kept["tb"] == "1.5" and kept["gop_y"] == "Chờ lâu" and kept["do_dai"] == "7"
    assert dropped == ()
    # Satisfied: the section that reads ${tb} is no longer asked; its answer and calculate go.
    kept, dropped = settle(FORM, {**answers, "c1": "5", "c2": "5"}, now=NOW)
    assert "gop_y" not in kept and "do_dai" not in kept
    assert dropped == ("gop_y",)
    assert list(kept) == [code for code in FORM.item_codes if code in kept]  # questionnaire order


def test_choice_filters_offer_the_choices_of_the_answers_so_far():
    huyen, xa = FORM.question("huyen"), FORM.question("xa")
    assert offered_codes(FORM, huyen, {}) == ()
    assert offered_codes(FORM, huyen, {"tinh": "qng"}) == ("tb", "st")
    assert offered_codes(FORM, huyen, {"tinh": "qnm"}) == ("tm",)
    assert offered_codes(FORM, xa, {"tinh": "qng", "huyen": "tb"}) == ("tx", "tp")
    assert offered_codes(FORM, xa, {"tinh": "qnm", "huyen": "tb"}) == ()
    assert offered_codes(FORM, FORM.question("tinh"), {}) == ("qng", "qnm")  # no filter: all
    assert offered_codes(FORM, FORM.question("noi_o"), {}) == ()  # no choice list


def test_defaults_are_typed_as_answers():
    def with_default(code, qtype, default):
        return replace(FORM.question(code), type=qtype, default=default)

    assert default_answer(FORM.question("tinh")) == "qng"
    assert default_answer(FORM.question("huyen")) is None
    assert default_answer(with_default("huyen", QuestionType.MULTIPLE, " tb  st ")) == ["tb", "st"]
    assert default_answer(with_default("gop_y", QuestionType.INTEGER, "12")) == 12
    assert default_answer(with_default("gop_y", QuestionType.INTEGER, "1.5")) is None
    assert default_answer(with_default("gop_y", QuestionType.DECIMAL, "1.5")) == 1.5
    assert default_answer(with_default("gop_y", QuestionType.TEXT, "Không có")) == "Không có"
    assert default_answer(with_default("gop_y", QuestionType.DATE, "2024-01-02")) == "2024-01-02"
    assert default_answer(with_default("noi_o", QuestionType.CALCULATE, "x")) is None
    assert default_answer(with_default("gop_y", QuestionType.TEXT, "  ")) is None
