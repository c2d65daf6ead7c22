"""Hand-worked cases for the scoring engine: the arithmetic is written beside each assertion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from runtime_helpers import questionnaire as runtime_questionnaire

from analysis import IndexTable, ScoringError, competition_ranks, score
from questionnaires import from_data, load_questionnaire, to_dict

LIKERT = [{"code": i, "label": {"vi": f"Mức {i}"}} for i in range(1, 6)]
YES_NO = [{"code": 1, "label": {"vi": "Có"}}, {"code": 2, "label": {"vi": "Không"}}]
ABCD = [{"code": c, "label": {"vi": c}} for c in ("A", "B", "C", "D", "KB")]


def small_questionnaire(method: str = "share_satisfied", **scoring) -> object:
    """Elements A (criteria a1, a2) and B (criterion b1, gated by ${g} = 1)."""
    data = {
        "id": "hand",
        "version": "1",
        "title": {"vi": "Phiếu tính tay"},
        "choices": {"likert5": LIKERT, "co_khong": YES_NO},
        "sections": [
            {
                "code": "s",
                "label": {"vi": "Câu hỏi"},
                "questions": [
                    {"code": "g", "type": "single", "choices": "co_khong", "label": {"vi": "Đã góp ý?"}},
                    *[
                        {"code": c, "type": "single", "choices": "likert5", "label": {"vi": f"Câu {c}"}}
                        for c in ("a1", "a2", "b1")
                    ],
                    {"code": "ghi_chu", "type": "text", "label": {"vi": "Ý kiến"}},
                ],
            }
        ],
        "scoring": {
            "method": method,
            **scoring,
            "index": {
                "code": "chi_so",
                "label": {"vi": "Chỉ số"},
                "elements": [
                    {"code": "A", "label": {"vi": "Yếu tố A"}, "criteria": ["a1", "a2"]},
                    {"code": "B", "label": {"vi": "Yếu tố B"}, "gate": "${g} = 1", "criteria": ["b1"]},
                ],
            },
        },
    }
    return from_data(data).questionnaire


def hand_responses() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "response_id": ["r1", "r2", "r3", "r4"],
            "unit": ["xa-a"] * 4,
            "g": ["1", "2", "1", "1"],
            "a1": ["5", "3", "5", None],
            "a2": ["4", None, "1", "5"],
            "b1": ["2", "5", "4", None],  # r2 is outside the gate of B: its "5" must not count
            "ghi_chu": ["Tốt", None, "Cần thêm ghế ngồi chờ", None],
        }
    )


def test_share_satisfied_by_hand():
    t = score(small_questionnaire(), hand_responses())
    u = t.unit("xa-a")
    # a1: valid 5,3,5 -> satisfied 2/3; a2: valid 4,1,5 -> 2/3; A = (2/3 + 2/3)/2 = 2/3
    assert u.criteria["a1"] == pytest.approx(200 / 3)
    assert u.criteria["a2"] == pytest.approx(200 / 3)
    assert u.elements["A"] == pytest.approx(200 / 3)
    # b1: gated rows r1, r3, r4 -> valid 2, 4 -> 1/2 (r2's "5" is outside the gate)
    assert u.criteria["b1"] == pytest.approx(50.0)
    # index = (2/3 + 1/2) / 2 = 7/12
    assert u.index == pytest.approx(700 / 12)
    assert u.criteria_n == {"a1": 3, "a2": 3, "b1": 2}
    assert u.n == 4 and u.rank == 1


def test_mean_score_by_hand():
    t = score(small_questionnaire("mean_score"), hand_responses())
    u = t.unit("xa-a")
    # a1 mean (5+3+5)/3 = 13/3 -> (13/3 - 1)/4 = 5/6; a2 mean 10/3 -> (10/3 - 1)/4 = 7/12
    assert u.criteria["a1"] == pytest.approx(500 / 6)
    assert u.criteria["a2"] == pytest.approx(700 / 12)
    # A = (5/6 + 7/12)/2 = 17/24; B: b1 mean (2+4)/2 = 3 -> 1/2; index = (17/24 + 1/2)/2 = 29/48
    assert u.elements["A"] == pytest.approx(1700 / 24)
    assert u.index == pytest.approx(2900 / 48)


def test_mean_score_follows_the_scale_setting():
    t = score(small_questionnaire("mean_score", scale=[0, 5], valid=[1, 2, 3, 4, 5]), hand_responses())
    # a1 mean 13/3 on a 0-5 scale -> 13/15
    assert t.unit("xa-a").criteria["a1"] == pytest.approx(100 * 13 / 15)


def test_positive_codes_are_a_setting():
    t = score(small_questionnaire(positive=[5]), hand_responses())
    # a1: valid 5,3,5 -> only "5" counts now: 2/3; a2: 4,1,5 -> 1/3
    assert t.unit("xa-a").criteria["a2"] == pytest.approx(100 / 3)


def single_criterion_questionnaire(**node) -> object:
    return from_data(
        {
            "id": "one",
            "version": "1",
            "title": {"vi": "Một câu"},
            "choices": {"likert5": LIKERT},
            "sections": [
                {
                    "code": "s",
                    "label": {"vi": "S"},
                    "questions": [
                        {"code": "y", "type": "single", "choices": "likert5", "label": {"vi": "Y"}}
                    ],
                }
            ],
            "scoring": {
                "method": "share_satisfied",
                "min_n": 3,
                "index": {"code": "i", "label": {"vi": "Chỉ số"}, "criteria": ["y"], **node},
            },
        }
    ).questionnaire


def test_standard_error_of_a_proportion_by_hand():
    q = single_criterion_questionnaire()
    responses = pd.DataFrame({"response_id": [1, 2, 3, 4], "unit": "u", "y": [5, 1, 4, 4]})
    u = score(q, responses).unit("u")
    # p = 3/4; linearised a_i = (y_i - p x_i)/X = (y_i - 0.75)/4 -> 1/16, -3/16, 1/16, 1/16
    # V = n/(n-1) Σ(a - ā)² = 4/3 × (3/256 + 9/256) = 1/16 = p(1-p)/(n-1); SE = 1/4
    assert u.index == pytest.approx(75.0)
    assert u.se == pytest.approx(25.0)
    assert u.df == 3 and u.deff == pytest.approx(1.0) and u.n_eff == pytest.approx(4.0)


def test_finite_population_correction_by_hand():
    q = single_criterion_questionnaire()
    responses = pd.DataFrame({"response_id": [1, 2, 3, 4], "unit": "u", "y": [5, 1, 4, 4]})
    frame = pd.DataFrame({"unit": ["u"], "population": [8]})
    u = score(q, responses, frame).unit("u")
    # w = N/n = 2 for everyone (the ratio is unchanged); fpc 1 - 4/8 = 1/2 -> V = 1/32, SE = 17.677…
    assert u.index == pytest.approx(75.0)
    assert u.se == pytest.approx(100 * math.sqrt(1 / 32))
    assert u.population == 8
    # Slovin target: 8 / (1 + 8 × 0.0025) = 7.84 -> 8 responses; 4 < 8
    assert u.target == 8 and "below_target" in u.flags


def test_full_satisfaction_keeps_an_informative_interval():
    q = single_criterion_questionnaire()
    responses = pd.DataFrame({"response_id": range(30), "unit": "u", "y": [4, 5] * 15})
    u = score(q, responses).unit("u")
    # zero variance: Clopper-Pearson with x = n = 30 -> lower = 0.025^(1/30) = 0.88430…
    assert u.index == 100.0 and u.se == 0.0
    assert u.ci_low == pytest.approx(100 * 0.025 ** (1 / 30))
    assert u.ci_high == 100.0
    none = score(q, responses.assign(y=[1, 2, 3] * 10)).unit("u")
    assert none.index == 0.0 and none.ci_low == 0.0
    assert none.ci_high == pytest.approx(100 * (1 - 0.025 ** (1 / 30)))


def test_confidence_level_is_a_setting():
    q = single_criterion_questionnaire()
    responses = pd.DataFrame({"response_id": range(30), "unit": "u", "y": [4, 5] * 15})
    u = score(q, responses, confidence=0.9).unit("u")
    assert u.ci_low == pytest.approx(100 * 0.05 ** (1 / 30))


def test_census_has_a_point_interval():
    q = single_criterion_questionnaire()
    responses = pd.DataFrame({"response_id": [1, 2, 3, 4], "unit": "u", "y": [5, 1, 4, 4]})
    u = score(q, responses, pd.DataFrame({"unit": ["u"], "population": [4]})).unit("u")
    assert u.se == 0.0 and u.ci_low == u.ci_high == pytest.approx(75.0)


def par_questionnaire(group_weights=None, **settings) -> object:
    data = {
        "id": "par-hand",
        "version": "1",
        "title": {"vi": "Điều tra xã hội học"},
        "groups": [
            {"code": "lanh_dao", "label": {"vi": "Lãnh đạo"}},
            {"code": "nguoi_dan", "label": {"vi": "Dân"}},
        ],
        "choices": {"muc": ABCD, "likert5": LIKERT},
        "sections": [
            {
                "code": "s",
                "label": {"vi": "S"},
                "questions": [
                    {"code": "c1", "type": "single", "choices": "muc", "label": {"vi": "C1"}},
                    {"code": "c2", "type": "single", "choices": "muc", "label": {"vi": "C2"}},
                    {"code": "h1", "type": "single", "choices": "likert5", "label": {"vi": "H1"}},
                    {"code": "h2", "type": "single", "choices": "likert5", "label": {"vi": "H2"}},
                ],
            }
        ],
        "scoring": {
            "method": "points",
            "valid": ["A", "B", "C", "D", 1, 2, 3, 4, 5],
            "values": {"A": 1.0, "B": 0.6, "C": 0.2, "D": 0.0},
            "index": {
                "code": "par",
                "label": {"vi": "Điểm"},
                "elements": [
                    {
                        "code": "E1",
                        "label": {"vi": "E1"},
                        "criteria": [{"item": "c1", "max_points": 2}, {"item": "c2", "max_points": 1}],
                    },
                    {
                        "code": "E2",
                        "label": {"vi": "E2"},
                        "criteria": [
                            {
                                "code": "sipas",
                                "label": {"vi": "SIPAS"},
                                "method": "share_satisfied",
                                "items": ["h1", "h2"],
                                "max_points": 2,
                            }
                        ],
                    },
                ],
            },
        },
    }
    if group_weights:
        data["scoring"]["group_weights"] = group_weights
    data["scoring"].update(settings)
    return from_data(data).questionnaire


def test_points_by_hand():
    responses = pd.DataFrame(
        {
            "response_id": ["p1", "p2", "p3", "p4"],
            "unit": "xa",
            "c1": ["A", "B", "KB", "C"],
            "c2": ["D", "A", "A", None],
            "h1": [5, 4, 2, None],
            "h2": [1, 5, 5, 5],
        }
    )
    u = score(par_questionnaire(), responses).unit("xa")
    # c1: "KB" is not valid -> (1 + 0.6 + 0.2)/3 = 0.6 of 2 points = 1.2
    assert u.criteria["c1"] == pytest.approx(60.0)
    assert u.node_points["c1"] == pytest.approx(1.2)
    # c2: (0 + 1 + 1)/3 = 2/3 of 1 point
    assert u.node_points["c2"] == pytest.approx(2 / 3)
    # sipas: mean of item shares h1 2/3 and h2 3/4 = 17/24, × 2 points = 17/12
    assert u.criteria["sipas"] == pytest.approx(100 * 17 / 24)
    assert u.node_points["sipas"] == pytest.approx(17 / 12)
    # E1 = 1.2 + 2/3 of 3 points; total = 1.2 + 2/3 + 17/12 of 5
    assert u.node_points["E1"] == pytest.approx(1.2 + 2 / 3)
    assert u.elements["E1"] == pytest.approx(100 * (1.2 + 2 / 3) / 3)
    total = 1.2 + 2 / 3 + 17 / 12
    assert u.points == pytest.approx(total)
    assert u.max_points == 5.0
    assert u.index == pytest.approx(100 * total / 5)


def test_group_weights_by_hand():
    responses = pd.DataFrame(
        {
            "response_id": ["l1", "d1", "d2", "d3"],
            "unit": "xa",
            "group": ["lanh_dao", "nguoi_dan", "nguoi_dan", "nguoi_dan"],
            "c1": ["A", "D", "D", "A"],
            "c2": ["A"] * 4,
            "h1": [None, 5, 5, 5],
            "h2": [None, 5, 5, 5],
        }
    )
    plain = score(par_questionnaire(), responses.drop(columns="group")).unit("xa")
    assert plain.criteria["c1"] == pytest.approx(50.0)  # 2 of 4 answers are A
    weighted = score(
        par_questionnaire({"lanh_dao": 0.5, "nguoi_dan": 0.5}, group_weighting="respondents"), responses
    )
    u = weighted.unit("xa")
    # the leader weighs 0.5 × 4 / 1 = 2, each citizen 0.5 × 4 / 3 = 2/3:
    # c1 = (2 × 1 + 2/3 × 0 + 2/3 × 0 + 2/3 × 1) / 4 = 2/3
    assert u.criteria["c1"] == pytest.approx(200 / 3)
    assert weighted.group_weighted
    # Kish: Σw = 4, Σw² = 4 + 3 × 4/9 = 16/3 -> n_eff = 3, deff = 4/3
    assert u.n_eff == pytest.approx(3.0) and u.deff == pytest.approx(4 / 3)
    assert weighted.group_weighting == "respondents"
    # criterion_means (the default): the group means 1 and 1/3 weigh 0.5 each; the weights stay 1
    means = score(par_questionnaire({"lanh_dao": 0.5, "nguoi_dan": 0.5}), responses)
    m = means.unit("xa")
    assert m.criteria["c1"] == pytest.approx(100 * (0.5 * 1 + 0.5 / 3))
    assert m.criteria["c2"] == pytest.approx(100.0)
    assert means.group_weighted and means.group_weighting == "criterion_means"
    assert m.n_eff == pytest.approx(4.0) and m.deff == pytest.approx(1.0)


def test_group_weights_need_a_group_column():
    q = par_questionnaire({"lanh_dao": 0.5, "nguoi_dan": 0.5})
    responses = pd.DataFrame(
        {"response_id": [1], "unit": "xa", "c1": ["A"], "c2": ["A"], "h1": [5], "h2": [5]}
    )
    with pytest.raises(ScoringError, match="group"):
        score(q, responses)


def test_missing_criterion_is_left_out_and_named():
    responses = hand_responses().assign(a2=None)
    t = score(small_questionnaire(), responses)
    u = t.unit("xa-a")
    assert u.criteria["a2"] is None
    assert u.elements["A"] == pytest.approx(200 / 3)  # a1 alone
    assert u.index == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert "missing_criteria" in u.flags
    assert any("xa-a" in w and "a2" in w for w in t.warnings)


def test_unit_without_valid_answers_has_no_index():
    responses = pd.concat(
        [
            hand_responses(),
            pd.DataFrame(
                {
                    "response_id": ["z1"],
                    "unit": ["xa-b"],
                    "g": ["2"],
                    "a1": [None],
                    "a2": [None],
                    "b1": [None],
                }
            ),
        ]
    )
    t = score(small_questionnaire(), responses)
    b = t.unit("xa-b")
    assert b.index is None and b.se is None and b.rank is None
    assert "no_data" in b.flags
    assert t.units[-1].unit == "xa-b"  # unranked units come last


def test_unit_list_reports_units_without_responses():
    t = score(
        small_questionnaire(), hand_responses(), units=["xa-a", "xa-c"], unit_names={"xa-a": "Xã Trà Giang"}
    )
    assert t.unit("xa-a").name == "Xã Trà Giang"
    c = t.unit("xa-c")
    assert c.n == 0 and c.index is None and "no_data" in c.flags
    with pytest.raises(ScoringError, match="xa-a"):
        score(small_questionnaire(), hand_responses(), units=["xa-z"])


def test_weights_of_nodes_are_settings():
    from questionnaires import to_dict

    d = to_dict(small_questionnaire())
    d["scoring"]["index"]["elements"][0]["weight"] = 3
    t = score(from_data(d).questionnaire, hand_responses())
    # index = (3 × 2/3 + 1 × 1/2) / 4 = 5/8
    assert t.unit("xa-a").index == pytest.approx(62.5)


def three_units() -> pd.DataFrame:
    rows = []
    satisfied = {"u1": 9, "u2": 6, "u3": 6, "u4": 3}
    for unit, k in satisfied.items():
        for i in range(10):
            rows.append({"response_id": f"{unit}-{i}", "unit": unit, "y": 5 if i < k else 2})
    return pd.DataFrame(rows)


def test_competition_ranks_and_previous_results():
    q = single_criterion_questionnaire()
    t = score(q, three_units())
    ranks = {u.unit: u.rank for u in t.units}
    assert ranks == {"u1": 1, "u2": 2, "u3": 2, "u4": 4}  # "1, 2, 2, 4"
    assert [u.unit for u in t.units] == ["u1", "u2", "u3", "u4"]
    previous = pd.DataFrame({"unit": ["u1", "u2", "u4"], "index": [95.0, 50.0, 30.0], "rank": [1, 3, 2]})
    t2 = score(q, three_units(), previous=previous)
    u2 = t2.unit("u2")
    assert u2.change == pytest.approx(10.0) and u2.rank_change == 1  # from 3rd to 2nd
    assert t2.unit("u4").rank_change == -2
    assert t2.unit("u3").previous_index is None and t2.unit("u3").change is None
    # an IndexTable works as well
    t3 = score(q, three_units(), previous=t)
    assert t3.unit("u1").change == 0.0 and t3.unit("u1").rank_change == 0


def test_competition_ranks_compare_at_published_precision():
    assert competition_ranks([90.001, 90.004, 85.0, 95.0, None], 2) == [2, 2, 4, 1, None]
    assert competition_ranks([90.001, 90.004], 3) == [2, 1]


def test_rank_probability_is_reproducible():
    q = single_criterion_questionnaire()
    a = score(q, three_units(), rank_probability=True)
    b = score(q, three_units(), rank_probability=True)
    assert [u.rank_probability for u in a.units] == [u.rank_probability for u in b.units]
    for u in a.units:
        assert 0.0 <= u.rank_probability <= 1.0
    assert a.unit("u4").rank_probability > 0.9  # clearly last: 30% against 60-90%


def test_small_sample_flag_and_min_n():
    q = single_criterion_questionnaire()  # min_n 3
    responses = pd.DataFrame({"response_id": [1, 2], "unit": "u", "y": [5, 4]})
    assert "small_sample" in score(q, responses).unit("u").flags
    assert "small_sample" not in score(q, responses, min_n=2).unit("u").flags
    assert "below_target" in score(q, responses, targets={"u": 5}).unit("u").flags


def test_overall_pools_units_with_their_weights():
    q = single_criterion_questionnaire()
    responses = three_units()
    frame = pd.DataFrame({"unit": ["u1", "u2", "u3", "u4"], "population": [1000, 100, 100, 100]})
    t = score(q, responses, frame)
    # pooled = Σ N_u p_u / Σ N_u = (1000 × .9 + 100 × (.6 + .6 + .3)) / 1300
    assert t.overall.index == pytest.approx(100 * (900 + 150) / 1300)
    assert t.overall.unit == "overall" and t.overall.rank is None
    assert t.overall.population == 1300
    unweighted = score(q, responses)
    assert unweighted.overall.index == pytest.approx(100 * 24 / 40)


def test_stratified_design_weights():
    q = single_criterion_questionnaire()
    responses = pd.DataFrame(
        {
            "response_id": range(6),
            "unit": "u",
            "stratum": ["dat_dai", "dat_dai", "ho_tich", "ho_tich", "ho_tich", "ho_tich"],
            "y": [5, 5, 1, 1, 5, 1],
        }
    )
    frame = pd.DataFrame({"unit": ["u", "u"], "stratum": ["dat_dai", "ho_tich"], "population": [300, 100]})
    u = score(q, responses, frame).unit("u")
    # dat_dai: w = 150, both satisfied; ho_tich: w = 25, 1 of 4 -> (300 + 25) / 400
    assert u.index == pytest.approx(100 * 325 / 400)


def test_frame_cell_without_responses_is_a_warning():
    q = single_criterion_questionnaire()
    responses = pd.DataFrame({"response_id": [1, 2], "unit": "u", "stratum": "dat_dai", "y": [5, 4]})
    frame = pd.DataFrame(
        {"unit": ["u", "u", "v"], "stratum": ["dat_dai", "ho_tich", "dat_dai"], "population": [30, 20, 10]}
    )
    t = score(q, responses, frame)
    assert any("u" in w and "ho_tich" in w for w in t.warnings)
    assert any("v" in w for w in t.warnings)
    v = t.unit("v")
    assert v.n == 0 and "no_data" in v.flags and v.population == 10
    assert t.unit("u").population == 50


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"unit": ["other"], "population": [10]}), "u"),
        (pd.DataFrame({"unit": ["u"], "population": [1]}), "n=2 > N=1"),
        (pd.DataFrame({"unit": ["u", "u"], "population": [5, 6]}), "u"),
        (pd.DataFrame({"unit": ["u"], "population": ["nhiều"]}), "population"),
        (pd.DataFrame({"unit": ["u"]}), "population"),
    ],
)
def test_frame_errors(frame, message):
    q = single_criterion_questionnaire()
    responses = pd.DataFrame({"response_id": [1, 2], "unit": "u", "y": [5, 4]})
    with pytest.raises(ScoringError, match=message):
        score(q, responses, frame)


def test_frame_by_stratum_needs_strata_in_responses():
    q = single_criterion_questionnaire()
    responses = pd.DataFrame({"response_id": [1, 2], "unit": "u", "y": [5, 4]})
    frame = pd.DataFrame({"unit": ["u"], "stratum": ["dat_dai"], "population": [10]})
    with pytest.raises(ScoringError, match="stratum"):
        score(q, responses, frame)


def margins_case():
    q = from_data(
        {
            "id": "m",
            "version": "1",
            "title": {"vi": "M"},
            "choices": {
                "likert5": LIKERT,
                "sex": [{"code": 1, "label": {"vi": "Nam"}}, {"code": 2, "label": {"vi": "Nữ"}}],
            },
            "sections": [
                {
                    "code": "s",
                    "label": {"vi": "S"},
                    "questions": [
                        {
                            "code": "gioi_tinh",
                            "type": "single",
                            "choices": "sex",
                            "label": {"vi": "Giới tính"},
                        },
                        {"code": "y", "type": "single", "choices": "likert5", "label": {"vi": "Y"}},
                    ],
                }
            ],
            "scoring": {
                "method": "share_satisfied",
                "index": {"code": "i", "label": {"vi": "I"}, "criteria": ["y"]},
            },
        }
    ).questionnaire
    responses = pd.DataFrame(
        {
            "response_id": range(8),
            "unit": ["u"] * 4 + ["v"] * 4,
            "gioi_tinh": [1, 1, 1, 2, 1, 2, 2, 2],
            "y": [5, 5, 5, 1, 5, 1, 1, 1],
        }
    )
    return q, responses


def test_post_stratification_by_hand():
    q, responses = margins_case()
    margins = pd.DataFrame(
        {"variable": ["gioi_tinh", "gioi_tinh"], "category": ["1", "2"], "population": [50, 50]}
    )
    t = score(q, responses, margins=margins)
    # sample: 4 men (all satisfied), 4 women (none): men weigh 50/4, women 50/4 -> overall 50%
    assert t.overall.index == pytest.approx(50.0)
    assert t.weighting == "poststratified"
    margins2 = margins.assign(population=[30, 70])
    t2 = score(q, responses, margins=margins2)
    # men 30/4 each, women 70/4 each: overall = 30 / 100
    assert t2.overall.index == pytest.approx(30.0)
    # unit u: 3 men (30/4 each, satisfied), 1 woman (70/4, not) -> 90 / (90 + 70)
    assert t2.unit("u").index == pytest.approx(100 * 90 / 160)


def test_per_unit_margins():
    q, responses = margins_case()
    margins = pd.DataFrame(
        {
            "unit": ["u", "u", "v", "v"],
            "variable": ["gioi_tinh"] * 4,
            "category": [1, 2, 1, 2],
            "population": [10, 10, 40, 10],
        }
    )
    t = score(q, responses, margins=margins)
    # u: men 10/3 each (3 satisfied), woman 10 -> 50%; v: man 40 (satisfied), women 10/3 each -> 80%
    assert t.unit("u").index == pytest.approx(50.0)
    assert t.unit("v").index == pytest.approx(80.0)
    assert t.overall.index == pytest.approx(100 * (10 + 40) / 70)


@pytest.mark.parametrize(
    ("margins", "message"),
    [
        (pd.DataFrame({"variable": ["gioi_tinh"], "category": ["1"], "population": [50]}), "2"),
        (pd.DataFrame({"variable": ["tuoi", "tuoi"], "category": ["1", "2"], "population": [5, 5]}), "tuoi"),
        (
            pd.DataFrame(
                {"variable": ["gioi_tinh", "gioi_tinh"], "category": ["1", "2"], "population": [50, -1]}
            ),
            ">= 0",
        ),
        (
            pd.DataFrame(
                {
                    "variable": ["gioi_tinh", "gioi_tinh", "y", "y"],
                    "category": ["1", "2", "5", "1"],
                    "population": [50, 50, 10, 10],
                }
            ),
            "same total",
        ),
    ],
)
def test_margin_errors(margins, message):
    q, responses = margins_case()
    with pytest.raises(ScoringError, match=message):
        score(q, responses, margins=margins)


def test_gates_on_any_level_are_inherited():
    q = small_questionnaire()
    from questionnaires import to_dict

    d = to_dict(q)
    element_a = d["scoring"]["index"]["elements"][0]
    element_a["gate"] = "${g} != 2"  # the whole element: only respondents with g != 2
    element_a["criteria"][0]["gate"] = "${b1} != ''"  # and a1 also needs an answer to b1
    t = score(from_data(d).questionnaire, hand_responses())
    u = t.unit("xa-a")
    # a1 counts r1 (5) and r3 (5): r2 fails the element's gate, r4 the criterion's -> 100%
    assert u.criteria["a1"] == pytest.approx(100.0)
    assert u.criteria_n["a1"] == 2
    # a2 has only the element's gate: r1 4, r3 1, r4 5 -> 2/3
    assert u.criteria["a2"] == pytest.approx(200 / 3)


def test_gate_evaluation_matches_the_row_by_row_evaluator():
    from analysis.data import ItemColumn
    from analysis.gates import evaluate_gate
    from questionnaires import parse

    rng = np.random.default_rng(5)
    n = 500
    a = ItemColumn("a", "choice", rng.integers(0, 4, n).astype(np.int8), ["1", "2", "9"])
    b = ItemColumn("b", "number", rng.integers(0, 5, n).astype(np.int8), [0.0, 17.0, 45.5, 61.0])
    m = ItemColumn("m", "multiple", rng.integers(0, 3, n).astype(np.int8), ["tv radio", "internet"])
    for text in (
        "${a} = 1",
        "${a} != 2 and ${b} >= 18",
        "selected(${m}, 'tv') or ${b} = ''",
        "not(${a} = '') and (${b} < 60 or ${a} = 9)",
        "count-selected(${m}) > 1",
    ):
        expr = parse(text)
        mask = evaluate_gate(expr, {"a": a, "b": b, "m": m}, n)
        for i in range(n):
            answers = {}
            for col in (a, b, m):
                code = int(col.codes[i])
                if code < col.blank:
                    answers[col.code] = col.values[code]
            assert mask[i] == expr.truthy(answers), (text, i)


def test_result_round_trips_through_json_and_csv(tmp_path):
    q = single_criterion_questionnaire()
    t = score(q, three_units(), unit_names={"u1": "Thị trấn Trà Xuân", "u2": "=cmd|' /C calc'!A0"})
    t.write(tmp_path / "out.json")
    back = IndexTable.read(tmp_path / "out.json")
    assert back == t
    t.write(tmp_path / "out.csv")
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "Thị trấn Trà Xuân" in text
    assert "'=cmd" in text  # a name that a spreadsheet would run is neutralised
    again = IndexTable.read(tmp_path / "out.csv")
    assert again.unit("u2").name == "=cmd|' /C calc'!A0"  # read back as written, the quote taken off
    assert [(u.unit, u.rank) for u in again.units] == [(u.unit, u.rank) for u in t.units]
    assert again.unit("u1").index == t.unit("u1").index
    assert again.unit("u1").criteria == t.unit("u1").criteria


def test_group_weights_equal_per_unit_margins_on_the_group():
    q = par_questionnaire({"lanh_dao": 0.5, "nguoi_dan": 0.5}, group_weighting="respondents")
    rng = np.random.default_rng(3)
    rows = []
    for unit, leaders, citizens in (("xa-1", 3, 12), ("xa-2", 5, 20)):
        for i in range(leaders + citizens):
            rows.append(
                {
                    "response_id": f"{unit}-{i}",
                    "unit": unit,
                    "group": "lanh_dao" if i < leaders else "nguoi_dan",
                    "c1": "ABCD"[int(rng.integers(0, 4))],
                    "c2": "ABCD"[int(rng.integers(0, 4))],
                    "h1": int(rng.integers(1, 6)),
                    "h2": int(rng.integers(1, 6)),
                }
            )
    df = pd.DataFrame(rows)
    by_groups = score(q, df)
    plain = par_questionnaire()
    margins = pd.DataFrame(
        {
            "unit": ["xa-1", "xa-1", "xa-2", "xa-2"],
            "variable": ["group"] * 4,
            "category": ["lanh_dao", "nguoi_dan"] * 2,
            "population": [7.5, 7.5, 12.5, 12.5],  # half of each unit's 15 and 25 responses
        }
    )
    by_margins = score(plain, df, margins=margins)
    for a, b in zip(
        (*by_groups.units, by_groups.overall), (*by_margins.units, by_margins.overall), strict=True
    ):
        assert a.unit == b.unit
        assert a.index == pytest.approx(b.index, abs=1e-12)
        assert a.se == pytest.approx(b.se, rel=1e-12)


def test_trimming_weights_by_hand():
    q, responses = margins_case()
    margins = pd.DataFrame(
        {"variable": ["gioi_tinh", "gioi_tinh"], "category": ["1", "2"], "population": [30, 70]}
    )
    t = score(q, responses, margins=margins, trim=(0.0, 10.0))
    # calibrated factors: men 30/4 = 7.5, women 70/4 = 17.5 -> women trimmed to 10; the 4 × 7.5 = 30
    # removed go to the men: 7.5 + 30/4 = 15. Overall = 4 × 15 satisfied / (4 × 15 + 4 × 10) = 60%
    assert t.overall.index == pytest.approx(60.0)
    assert any("4" in w and "trim" in w for w in t.warnings)


def _with_calculates(b_item: str = "b1") -> object:
    """small_questionnaire with two calculates: ``tong`` (never scored) and ``b1_tinh`` (a copy of b1).

    ``b_item`` is the item criterion b1 scores.
    """
    data = {
        "id": "hand-calc",
        "version": "1",
        "title": {"vi": "Phiếu tính tay có câu tính toán"},
        "choices": {"likert5": LIKERT, "co_khong": YES_NO},
        "sections": [
            {
                "code": "s",
                "label": {"vi": "Câu hỏi"},
                "questions": [
                    {"code": "g", "type": "single", "choices": "co_khong", "label": {"vi": "Đã góp ý?"}},
                    *[
                        {"code": c, "type": "single", "choices": "likert5", "label": {"vi": f"Câu {c}"}}
                        for c in ("a1", "a2", "b1")
                    ],
                    {"code": "tong", "type": "calculate", "calculation": "${a1} + ${a2}"},
                    {"code": "b1_tinh", "type": "calculate", "calculation": "${b1}"},
                ],
            }
        ],
        "scoring": {
            "method": "share_satisfied",
            "index": {
                "code": "chi_so",
                "label": {"vi": "Chỉ số"},
                "elements": [
                    {"code": "A", "label": {"vi": "Yếu tố A"}, "criteria": ["a1", "a2"]},
                    {
                        "code": "B",
                        "label": {"vi": "Yếu tố B"},
                        "gate": "${g} = 1",
                        "criteria": [{"code": "b1", "item": b_item}],
                    },
                ],
            },
        },
    }
    return runtime_questionnaire(data)


def test_calculates_are_scored_only_when_a_criterion_names_them():
    responses = hand_responses().drop(columns="ghi_chu")
    # Stored calculates are text; "tong" is not a likert code, and nothing reads it.
    responses["tong"] = ["9", "không rõ", "6", None]
    responses["b1_tinh"] = responses["b1"]
    plain = score(small_questionnaire(), hand_responses()).unit("xa-a")
    u = score(_with_calculates(), responses).unit("xa-a")
    assert (u.index, u.criteria) == (plain.index, plain.criteria)
    # A criterion may name a calculate: its stored text is read as the answer codes.
    named = score(_with_calculates("b1_tinh"), responses).unit("xa-a")
    assert named.criteria["b1"] == pytest.approx(50.0)  # as b1: gated r1, r3 -> 2, 4 -> 1/2
    assert named.index == pytest.approx(plain.index)


def par_xa(**settings):
    q = load_questionnaire("par-xa-2023")
    if not settings:
        return q
    data = to_dict(q)
    data["scoring"].update(settings)
    return from_data(data).questionnaire


def six_responses() -> pd.DataFrame:
    """Unit X: one leader answers tt_1 = A, two citizens D and "Không biết"; unit Y: three more."""
    q = load_questionnaire("par-xa-2023")
    items = [it for c in q.scoring.criteria for it in c.items]
    rows = [
        ("x1", "X", "lanh_dao", {"tt_1": "A"}),
        ("x2", "X", "nguoi_dan", {"tt_1": "D"}),
        ("x3", "X", "nguoi_dan", {"tt_1": "KB"}),
        ("y1", "Y", "lanh_dao", {"tt_1": "B", "tt_3": "A"}),
        # a citizen's paper answer to the leaders-only tt_3: not counted, reported
        ("y2", "Y", "nguoi_dan", {"tt_1": "A", "tt_3": "D", **{f"hl_{i}": 5 for i in range(1, 6)}}),
        ("y3", "Y", "nguoi_dan", {"tt_1": "C"}),
    ]
    return pd.DataFrame(
        [
            {"response_id": rid, "unit": unit, "nhom": group, **{it: answers.get(it) for it in items}}
            for rid, unit, group, answers in rows
        ]
    )


def test_par_survey_six_responses_by_hand():
    table = score(par_xa(), six_responses())
    assert table.group_weighting == "criterion_means" and table.points_total == "asked"
    x = table.unit("X")
    # the file's rule: 0.5 × the leaders' mean 1 + 0.5 × the citizens' mean 0 ("KB" is not valid)
    assert x.criteria["tt_1"] == pytest.approx(50.0)
    # only tt_1 (1 point) was asked and answered: 0.5 of 1 point, and the index is 50
    assert x.points == pytest.approx(0.5) and x.max_points == 1.0 and x.index == pytest.approx(50.0)
    assert x.node_points["thu_tuc_hc"] == pytest.approx(0.5) and x.node_max_points["thu_tuc_hc"] == 1.0
    assert x.node_points["chi_dao"] is None and x.node_max_points["chi_dao"] is None
    y = table.unit("Y")
    # tt_1: leaders 0.6, citizens (1 + 0.2)/2 = 0.6; tt_3: the leader's A alone (the citizen's D is not
    # counted); sipas_xa: 100% of 2 points
    assert y.criteria["tt_1"] == pytest.approx(60.0)
    assert y.criteria["tt_3"] == pytest.approx(100.0)
    assert y.criteria["sipas_xa"] == pytest.approx(100.0)
    assert y.node_points["thu_tuc_hc"] == pytest.approx(1.6) and y.node_max_points["thu_tuc_hc"] == 2.0
    assert y.points == pytest.approx(0.6 + 1.0 + 2.0) and y.max_points == 4.0
    assert y.index == pytest.approx(100 * 3.6 / 4)
    assert "answers_not_asked" in y.flags and "answers_not_asked" not in x.flags
    assert any("tt_3: nguoi_dan 1" in w and "đơn vị Y" in w for w in table.warnings)
    # the whole area pools the groups: tt_1 = 0.5 × (1 + 0.6)/2 + 0.5 × (0 + 1 + 0.2)/3 = 0.6
    assert table.overall.criteria["tt_1"] == pytest.approx(60.0)
    assert table.overall.points == pytest.approx(3.6) and table.overall.max_points == 4.0
    # ranked by the normalised score
    assert [u.unit for u in table.units] == ["Y", "X"]


def test_par_survey_six_responses_other_readings():
    responses = six_responses()
    respondents = score(par_xa(group_weighting="respondents"), responses)
    x = respondents.unit("X")
    # post-stratified: the leader weighs 1.5, each citizen 0.75: (1.5 × 1 + 0.75 × 0) / 2.25
    assert x.criteria["tt_1"] == pytest.approx(200 / 3)
    assert x.points == pytest.approx(2 / 3) and x.max_points == 1.0
    y = respondents.unit("Y")
    assert y.criteria["tt_3"] == pytest.approx(100.0)  # the gate holds under either reading
    # the reading before: every node keeps its full maximum, points = 20 × index
    scaled = score(par_xa(group_weighting="respondents", points_total="scaled"), responses)
    old = scaled.unit("X")
    assert old.index == pytest.approx(200 / 3)
    assert old.points == pytest.approx(20 * 2 / 3) and old.max_points == 20.0
    assert scaled.points_total == "scaled"


def test_par_survey_one_group_answering_takes_the_criterion():
    # criterion_means with only the citizens answering a criterion: its value is their mean (the
    # weights renormalised over the groups that answered), and the unit is flagged
    responses = six_responses()
    responses.loc[responses["response_id"] == "x1", "tt_1"] = "KB"
    u = score(par_xa(), responses).unit("X")
    assert u.criteria["tt_1"] == pytest.approx(0.0)
    assert "missing_group" in u.flags


def test_par_survey_linearised_se_matches_a_numerical_derivative():
    # criterion_means is a ratio of ratios: check the delta-method SE against finite differences of
    # the estimator in the weights (Σ over responses of (∂index/∂w_i · w_i)² × n/(n-1), one stratum)
    rng = np.random.default_rng(7)
    q = par_xa()
    items = [it for c in q.scoring.criteria for it in c.items]
    rows = []
    for i in range(40):
        group = "lanh_dao" if i < 8 else "nguoi_dan"
        answers = {it: "ABCD"[int(rng.integers(0, 4))] for it in items if not it.startswith("hl_")}
        answers |= {f"hl_{k}": int(rng.integers(1, 6)) for k in range(1, 6)}
        rows.append({"response_id": f"r{i}", "unit": "X", "nhom": group, **answers})
    df = pd.DataFrame(rows)
    u = score(q, df).unit("X")

    def index_with(weights):
        """The estimator written out: Σ max × criterion over Σ max, criteria as group-weighted means."""
        num = 0.0
        den = 0.0
        for crit in q.scoring.criteria:
            slot_values = []
            for item in crit.items:
                parts = []
                for g, a in q.scoring.group_weights.items():
                    asked = _asked(q, item)
                    if asked is not None and g not in asked:
                        continue
                    mask = (df["nhom"] == g).to_numpy()
                    codes = df[item].astype(str).to_numpy()
                    s, v = _points_score(q, crit, codes)
                    x = (weights * v * mask).sum()
                    if x > 0:
                        parts.append((a, (weights * s * v * mask).sum() / x))
                if parts:
                    slot_values.append(sum(a * r for a, r in parts) / sum(a for a, _ in parts))
            if slot_values:
                num += crit.max_points * sum(slot_values) / len(slot_values)
                den += crit.max_points
        return num / den

    w = np.ones(len(df))
    base = index_with(w)
    assert 100 * base == pytest.approx(u.index, abs=1e-9)
    grad = np.zeros(len(df))
    h = 1e-6
    for i in range(len(df)):
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (index_with(up) - index_with(down)) / (2 * h)
    n = len(df)
    z = grad * w
    var = n / (n - 1) * ((z - z.mean()) ** 2).sum()
    assert u.se == pytest.approx(100 * np.sqrt(var), rel=1e-5)


def _asked(q, item):
    """The groups asked ``item`` (its section's and its own ``groups``); None = everyone."""
    for section in q.sections:
        for question in section.questions:
            if question.code == item:
                groups = set(section.groups) if section.groups else None
                if question.groups:
                    groups = set(question.groups) if groups is None else groups & set(question.groups)
                return groups
    return None


def _points_score(q, crit, codes):
    sc = q.scoring
    if (crit.method or sc.method).value == "share_satisfied":
        v = np.isin(codes, list(sc.valid)).astype(float)
        s = np.isin(codes, list(sc.positive)).astype(float)
    else:
        table = crit.values or sc.values
        v = np.array([c in table for c in codes], dtype=float)
        s = np.array([table.get(c, 0.0) for c in codes], dtype=float)
    return s, v
