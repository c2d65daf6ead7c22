"""Honest ranks: rank intervals from the seeded simulation, groups that cannot be told apart, ties at the
published precision, and CSV numbers without float noise. The arithmetic is written beside each assertion."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analysis import IndexTable, score
from analysis.ranking import (
    competition_rank_array,
    holm_adjust,
    letter_display,
    pairwise_differences,
    rank_groups,
    simulate_ranks,
)
from analysis.results import CSV_SIGNIFICANT_DIGITS, csv_number
from questionnaires import from_data

LIKERT = [{"code": i, "label": {"vi": f"Mức {i}"}} for i in range(1, 6)]


def one_question() -> object:
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
                "index": {"code": "i", "label": {"vi": "Chỉ số"}, "criteria": ["y"]},
            },
        }
    ).questionnaire


def responses(satisfied: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """``unit -> (satisfied, n)``: the first ``satisfied`` answer 5 (satisfied), the others 2."""
    rows = [
        {"response_id": f"{unit}-{i}", "unit": unit, "y": 5 if i < k else 2}
        for unit, (k, n) in satisfied.items()
        for i in range(n)
    ]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------- rank intervals
def ranks_of(index: list[float]) -> np.ndarray:
    return competition_rank_array(np.array(index, dtype=float), 2)


def test_rank_interval_of_exact_indices_is_the_rank():
    # se 0: every draw is the index itself, so the simulated rank is the shown one, always.
    index = np.array([70.0, 90.0, 80.0])
    sim = simulate_ranks(index, np.zeros(3), ranks_of([70, 90, 80]), draws=200, seed=1)
    assert sim.low.tolist() == [3, 1, 2] and sim.high.tolist() == [3, 1, 2]
    assert sim.probability.tolist() == [1.0, 1.0, 1.0]


def test_rank_interval_by_hand_against_the_seeded_draws():
    # A = 50 exactly, B ~ normal(50, 10), C = 0 exactly: B is above A in the draws where B's value > 50.
    # 40 draws at 95%: the interval is the ⌈0.025·40⌉ = 1st and the ⌈0.975·40⌉ = 39th smallest rank.
    index, se = np.array([50.0, 50.0, 0.0]), np.array([0.0, 10.0, 0.0])
    draws, seed = 40, 7
    b = np.random.default_rng(seed).normal(index, se, size=(draws, 3))[:, 1]
    above = int((b > 50).sum())  # B ranked 1 and A 2 in these draws, the other way in the rest
    assert 2 <= above <= draws - 2  # so both places appear at least twice in 40 draws
    sim = simulate_ranks(index, se, np.array([1, 1, 3]), draws, seed)
    assert sim.low.tolist() == [1, 1, 3] and sim.high.tolist() == [2, 2, 3]
    # P(rank within shown ± 1): A and B are shown 1st, ranks 1-2 are within 1 of it; C always 3rd.
    assert sim.probability.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(("b_index", "b_range"), [(30.0, (2, 2)), (40.0, (1, 2))])
def test_rank_interval_leaves_out_the_rare_tails(b_index, b_range):
    # A = 50 exactly, B ~ normal(b_index, 8). P(B > A) = P(z > (50 - b)/8):
    #   b = 30: P(z > 2.5) = 0.6% < 2.5%, so A's 97.5% point is still rank 1 and B's 2.5% point rank 2;
    #   b = 40: P(z > 1.25) = 10.6% > 2.5%, so both reach the other rank.
    index, se = np.array([50.0, b_index]), np.array([0.0, 8.0])
    sim = simulate_ranks(index, se, ranks_of([50.0, b_index]), draws=1000, seed=20231)
    assert (sim.low[1], sim.high[1]) == b_range
    assert (sim.low[0], sim.high[0]) == (1, b_range[1] if b_index == 40.0 else 1)


def test_rank_probability_unchanged_by_the_interval():
    # The same draws, in the same order, as before the interval was added: the probability of
    # rank ± 1 is the share of draws, and reruns give the same numbers.
    rng = np.random.default_rng(5)
    index, se = rng.uniform(60, 90, 12), rng.uniform(1, 4, 12)
    ranks = ranks_of(index.tolist())
    a = simulate_ranks(index, se, ranks, 1000, 20231)
    b = simulate_ranks(index, se, ranks, 1000, 20231)
    assert a.probability.tolist() == b.probability.tolist()
    assert (a.low <= a.high).all() and (a.low >= 1).all() and (a.high <= 12).all()


def test_score_reports_rank_intervals_in_json_and_csv(tmp_path):
    # u1 90%, u2 89% of 100 (se ≈ 3): indistinguishable, so both range over ranks 1-2; u3 20% is 3rd.
    q = one_question()
    t = score(q, responses({"u1": (90, 100), "u2": (89, 100), "u3": (20, 100)}))
    got = {u.unit: (u.rank, u.rank_low, u.rank_high) for u in t.units}
    assert got == {"u1": (1, 1, 2), "u2": (2, 1, 2), "u3": (3, 3, 3)}
    assert all(u.rank_probability is None for u in t.units)  # reported only when asked for
    t.write(tmp_path / "r.json")
    t.write(tmp_path / "r.csv")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [(u["rank_low"], u["rank_high"]) for u in data["units"]] == [(1, 2), (1, 2), (3, 3)]
    csv = pd.read_csv(tmp_path / "r.csv", encoding="utf-8-sig")
    assert csv[["rank", "rank_low", "rank_high", "rank_group"]].values.tolist() == [
        [1, 1, 2, "a"],
        [2, 1, 2, "a"],
        [3, 3, 3, "b"],
    ]
    for name in ("r.json", "r.csv"):
        back = IndexTable.read(tmp_path / name)
        assert [(u.rank_low, u.rank_high, u.rank_group) for u in back.units] == [
            (u.rank_low, u.rank_high, u.rank_group) for u in t.units
        ]
    # Seeded: the same inputs give the same intervals.
    again = score(q, responses({"u1": (90, 100), "u2": (89, 100), "u3": (20, 100)}), rank_probability=True)
    assert [(u.rank_low, u.rank_high) for u in again.units] == [(1, 2), (1, 2), (3, 3)]
    assert all(0 < u.rank_probability <= 1 for u in again.units)


def test_units_without_an_index_get_no_interval_nor_group():
    t = score(one_question(), responses({"u1": (9, 10), "u2": (5, 10)}), units=["u1", "u2", "u3"])
    u3 = t.unit("u3")
    assert (u3.rank, u3.rank_low, u3.rank_high, u3.rank_group) == (None, None, None, None)


# --------------------------------------------------------------------------------------------- groups
def test_holm_adjustment_by_hand():
    # Sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; running maximum 0.03, 0.06, 0.06.
    assert holm_adjust(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx([0.03, 0.06, 0.06])
    # 0.5 × 2 = 1 (capped at 1), then max(1, 0.9 × 1) = 1.
    assert holm_adjust(np.array([0.5, 0.9])).tolist() == [1.0, 1.0]


def test_pairwise_test_by_hand():
    # 90 ± 1.5 against 86 ± 2: z = 4 / √(1.5² + 2²) = 4 / 2.5 = 1.6, p = 2·(1 − Φ(1.6)) = 0.1096.
    i, j, p = pairwise_differences(np.array([90.0, 86.0]), np.array([1.5, 2.0]), 2)
    assert (i.tolist(), j.tolist()) == ([0], [1])
    assert p[0] == pytest.approx(2 * norm.sf(1.6)) and p[0] == pytest.approx(0.1096, abs=1e-4)
    # Equal at the published precision: never different; exact (se 0) and unequal: always different.
    assert pairwise_differences(np.array([83.334, 83.3349]), np.zeros(2), 2)[2][0] == 1.0
    assert pairwise_differences(np.array([83.34, 83.32]), np.zeros(2), 2)[2][0] == 0.0


def test_letter_display():
    assert letter_display(3, []) == ["a", "a", "a"]
    # Only the first and the last differ: the middle one shares a letter with each.
    assert letter_display(3, [(0, 2)]) == ["a", "ab", "b"]
    # Two clusters {0, 1} and {2, 3}.
    assert letter_display(4, [(0, 2), (0, 3), (1, 2), (1, 3)]) == ["a", "a", "b", "b"]
    assert letter_display(2, [(0, 1)]) == ["a", "b"]
    # Only 1 and 3 differ: groups {0, 1, 2} and {0, 2, 3} share their best unit 0; the one holding the
    # next unit (1) is "a", so letters run down the ranking.
    assert letter_display(4, [(1, 3)]) == ["ab", "a", "ab", "b"]
    assert letter_display(0, []) == []


def test_two_clusters_give_two_letters_and_near_equal_units_share_one():
    # Around 90% and around 50%, 200 responses each (se ≈ 2.1 and 3.5): within a cluster the differences
    # of 0.5-1 point are far from significant, across clusters (≈ 40 points, z ≈ 10) certain.
    q = one_question()
    counts = {"a1": 181, "a2": 180, "a3": 179, "b1": 101, "b2": 100, "b3": 99}
    t = score(q, responses({u: (k, 200) for u, k in counts.items()}))
    assert {u.unit: u.rank_group for u in t.units} == {
        "a1": "a",
        "a2": "a",
        "a3": "a",
        "b1": "b",
        "b2": "b",
        "b3": "b",
    }


def test_the_issue_case_83_34_and_83_32_share_a_letter():
    # Ranks 6 and 7 of the issue: 83.34 and 83.32 with SEs of about 2 points cannot be told apart.
    index = np.array([95.0, 83.34, 83.32, 60.0])
    se = np.array([1.0, 2.0, 2.1, 1.5])
    letters = rank_groups(index, se, ranks_of(index.tolist()), 2)
    assert letters[1] == letters[2]
    assert letters[0] != letters[1] and letters[3] not in (letters[0], letters[1])
    assert letters == ["a", "b", "b", "c"]


# ----------------------------------------------------------------------------------------------- ties
def test_ties_in_the_shown_value_share_a_rank():
    # 83.334 and 83.3349 both show 83.33: ranks 1, 2, 2, 4 (competition ranking on the rounded value).
    index = [90.0, 83.334, 83.3349, 83.325]
    assert ranks_of(index).tolist() == [1, 2, 2, 4]
    # Through score(): 9 of 10 and 18 of 20 are both 90%, 8 of 10 is 80%.
    t = score(one_question(), responses({"u1": (9, 10), "u2": (18, 20), "u3": (8, 10), "u4": (1, 10)}))
    assert {u.unit: u.rank for u in t.units} == {"u1": 1, "u2": 1, "u3": 3, "u4": 4}
    assert t.unit("u1").rank_group == t.unit("u2").rank_group


# ------------------------------------------------------------------------------------------------ CSV
def test_csv_numbers_carry_no_float_noise(tmp_path):
    assert csv_number(84.00000000000001) == 84.0
    assert csv_number(1 / 3) == float(f"{1 / 3:.{CSV_SIGNIFICANT_DIGITS}g}")
    assert np.isnan(csv_number(float("nan")))
    # 7 satisfied of 9 with weight noise: the index is 77.777…; the CSV holds 12 significant digits.
    t = score(one_question(), responses({"u1": (7, 9), "u2": (21, 25)}))
    noisy = t.units[0].__class__(**{**t.units[0].__dict__, "index": 84.00000000000001})
    t = IndexTable(t.questionnaire, t.version, t.method, (noisy, t.units[1]), t.overall)
    t.write(tmp_path / "r.csv")
    text = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "84.00000000000001" not in text and "84.0" in text
    back = IndexTable.read(tmp_path / "r.csv")
    for before, after in zip(t.units, back.units, strict=True):
        for key in ("index", "se", "ci_low", "ci_high", "deff", "n_eff"):
            assert getattr(after, key) == csv_number(getattr(before, key)), key
        assert dict(after.criteria) == {k: csv_number(v) for k, v in before.criteria.items()}
    # JSON keeps full precision.
    t.write(tmp_path / "r.json")
    assert IndexTable.read(tmp_path / "r.json").units[0].index == 84.00000000000001


def test_rank_simulation_does_not_depend_on_the_order_of_units():
    # The draws are made with the units in the order of their codes: a unit list in another order, or
    # the responses in another order, give the same intervals and probabilities.
    q = one_question()
    counts = {f"x{i}": (60 + 2 * i, 80) for i in range(8)}
    frame = responses(counts)
    a = score(q, frame, rank_probability=True)
    b = score(q, frame.iloc[::-1], units=sorted(counts, reverse=True), rank_probability=True)
    pick = [(u.unit, u.rank_low, u.rank_high, u.rank_probability, u.rank_group) for u in a.units]
    assert pick == [(u.unit, u.rank_low, u.rank_high, u.rank_probability, u.rank_group) for u in b.units]
