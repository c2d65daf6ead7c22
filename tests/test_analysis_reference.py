"""The engine against R's survey package (outputs stored beside the R scripts in tests/fixtures/analysis).

Each ``*_reference.R`` script builds the design with ``svydesign(ids = ~1, strata = ~cell, weights = ~w,
fpc = ~N)`` (post-stratified or raked where said), estimates the weighted totals of every item's
numerator and denominator with ``svytotal`` and the index with ``svycontrast`` of the index formula;
the CI follows ``svyciprop(method = "beta")``. CI has no R, so the outputs are stored: regenerate them
with ``Rscript <name>_reference.R`` in that folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from analysis import read_frame, read_margins, read_responses, score
from questionnaires import from_data, load_file, load_questionnaire, to_dict

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"
INDEX_TOL = 1e-9  # absolute, on the 0-100 scale
SE_REL = 1e-6


def expected(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}_expected.csv", dtype={"domain": str}).set_index("domain")


def sipas_2017(method: str = "share_satisfied"):
    q = load_questionnaire("sipas-2017")
    if method == "share_satisfied":
        return q
    data = to_dict(q)
    data["scoring"]["method"] = method
    return from_data(data).questionnaire


def check(table, exp: pd.DataFrame, elements: bool = True) -> None:
    results = {u.unit: u for u in table.units}
    results["overall"] = table.overall
    assert set(results) == set(exp.index)
    for domain, row in exp.iterrows():
        got = results[domain]
        assert got.n == row["n"], domain
        assert got.df == row["df"], domain
        if pd.isna(row["index"]):
            assert got.index is None
            continue
        assert got.index == pytest.approx(row["index"], abs=INDEX_TOL), domain
        assert got.se == pytest.approx(row["se"], rel=SE_REL, abs=1e-12), domain
        assert got.ci_low == pytest.approx(row["ci_low"], rel=1e-6, abs=1e-9), domain
        assert got.ci_high == pytest.approx(row["ci_high"], rel=1e-6, abs=1e-9), domain
        if "n_kish" in row and not pd.isna(row["n_kish"]):
            assert got.n_eff == pytest.approx(row["n_kish"], rel=1e-12)
        if elements:
            for column, value in row.items():
                if str(column).startswith("element:"):
                    code = str(column).split(":", 1)[1]
                    if pd.isna(value):
                        assert got.elements[code] is None, (domain, code)
                    else:
                        assert got.elements[code] == pytest.approx(value, abs=INDEX_TOL), (domain, code)


@pytest.mark.parametrize("method", ["share_satisfied", "mean_score"])
def test_unweighted_matches_r(method):
    responses = read_responses(FIXTURES / "unweighted_responses.csv")
    table = score(sipas_2017(method), responses)
    exp = expected("unweighted")
    check(table, exp[exp["method"] == method].drop(columns="method"))
    assert table.weighting == "none"


def test_unweighted_fixture_exercises_missing_criteria_and_full_satisfaction():
    table = score(sipas_2017(), read_responses(FIXTURES / "unweighted_responses.csv"))
    hiep = table.unit("tra-hiep")
    assert hiep.criteria["tiep_can_3"] is None and "missing_criteria" in hiep.flags
    binh = table.unit("tra-binh")
    # 100% with zero variance: the interval uses the 30 responses, as Clopper-Pearson at 30/30
    assert binh.index == 100.0 and binh.se == 0.0
    assert binh.ci_low == pytest.approx(100 * 0.025 ** (1 / 30), abs=1e-9)
    assert binh.ci_high == 100.0


def test_design_weights_with_fpc_match_r():
    table = score(
        sipas_2017(),
        read_responses(FIXTURES / "design_responses.csv"),
        read_frame(FIXTURES / "design_frame.csv"),
    )
    check(table, expected("design"))
    assert table.weighting == "design"
    assert "lonely_cell" in table.unit("tra-giang").flags


def test_post_stratification_matches_r():
    table = score(
        sipas_2017(),
        read_responses(FIXTURES / "poststratified_responses.csv"),
        read_frame(FIXTURES / "poststratified_frame.csv"),
        margins=read_margins(FIXTURES / "poststratified_margins.csv"),
    )
    check(table, expected("poststratified"))
    assert table.weighting == "poststratified"


def test_raking_matches_r_calibrate():
    table = score(
        sipas_2017(),
        read_responses(FIXTURES / "poststratified_responses.csv"),
        read_frame(FIXTURES / "poststratified_frame.csv"),
        margins=read_margins(FIXTURES / "raked_margins.csv"),
        tolerance=1e-13,
    )
    check(table, expected("raked"))
    assert table.weighting == "raked"


def test_points_method_with_group_weights_matches_r():
    q = load_file(FIXTURES / "points_questionnaire.yaml").questionnaire
    table = score(
        q, read_responses(FIXTURES / "points_responses.csv"), read_frame(FIXTURES / "points_frame.csv")
    )
    exp = expected("points")
    check(table, exp.drop(columns="points"))
    for domain, row in exp.iterrows():
        got = table.overall if domain == "overall" else table.unit(domain)
        assert got.points == pytest.approx(row["points"], abs=1e-10)
        assert got.max_points == 6.0
    assert table.group_weighted
    xinh = table.unit("tra-xinh")
    assert xinh.criteria["sipas_xa"] is None and "missing_criteria" in xinh.flags


@pytest.mark.parametrize("reading", ["criterion_means", "respondents"])
def test_par_survey_groups_match_r(reading):
    # Both readings of group_weights, points summed over the criteria asked and answered, questions
    # asked of one group only, a gated criterion, missing criteria and a criterion with one group.
    q = load_file(FIXTURES / "parxa_questionnaire.yaml").questionnaire
    data = to_dict(q)
    data["scoring"]["group_weighting"] = reading
    q = from_data(data).questionnaire
    table = score(
        q, read_responses(FIXTURES / "parxa_responses.csv"), read_frame(FIXTURES / "parxa_frame.csv")
    )
    exp = expected("parxa_means" if reading == "criterion_means" else "parxa_respondents")
    check(table, exp.drop(columns=["points", "max_points"]))
    for domain, row in exp.iterrows():
        got = table.overall if domain == "overall" else table.unit(domain)
        assert got.points == pytest.approx(row["points"], abs=1e-10), domain
        assert got.max_points == pytest.approx(row["max_points"], abs=1e-12), domain
        # the points are the sum of the criteria's points, out of the sum of their maxima
        assert got.points == pytest.approx(sum(got.node_points[c] or 0 for c in got.criteria), abs=1e-12)
        for column, value in row.items():
            if str(column).startswith("criterion:"):
                code = str(column).split(":", 1)[1]
                if pd.isna(value):
                    assert got.criteria[code] is None, (domain, code)
                else:
                    assert got.criteria[code] == pytest.approx(value, abs=INDEX_TOL), (domain, code)
    assert table.group_weighted and table.group_weighting == reading and table.points_total == "asked"
    assert "missing_criteria" in table.unit("tra-thanh").flags  # tt_3 only "KB": 6 points, not 6.5
    assert table.unit("tra-thanh").max_points == 6.0
    assert table.unit("tra-thanh").node_max_points["thu_tuc"] == 2.5
    assert "answers_not_asked" in table.unit("tra-bui").flags  # citizens' answers to cd_2 not counted
    assert any("cd_2: nguoi_dan 4" in w for w in table.warnings)
    if reading == "criterion_means":
        assert "missing_group" in table.unit("tra-phong").flags  # tt_2: the leaders only said "KB"


def test_korn_graubard_matches_svyciprop_beta():
    q = load_file(FIXTURES / "single_questionnaire.yaml").questionnaire
    table = score(
        q, read_responses(FIXTURES / "single_responses.csv"), read_frame(FIXTURES / "single_frame.csv")
    )
    check(table, expected("single"), elements=False)


def test_reference_outputs_are_not_trivial():
    # The fixtures would prove little if every unit had the same index or a zero SE.
    for name in (
        "unweighted",
        "design",
        "poststratified",
        "raked",
        "points",
        "single",
        "parxa_means",
        "parxa_respondents",
    ):
        exp = expected(name)
        assert exp["index"].nunique() >= 3, name
        assert (exp["se"].dropna() > 0.1).sum() >= 3, name
        assert all(math.isfinite(v) for v in exp["ci_low"].dropna())
