"""Properties of the scoring engine, on random designs (hypothesis)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import score
from questionnaires import from_data

LIKERT = [{"code": i, "label": {"vi": f"Mức {i}"}} for i in range(1, 6)]
ITEMS = ("a1", "a2", "b1")


def questionnaire(method: str):
    return from_data(
        {
            "id": "prop",
            "version": "1",
            "title": {"vi": "Thuộc tính"},
            "choices": {
                "likert5": LIKERT,
                "co_khong": [{"code": 1, "label": {"vi": "Có"}}, {"code": 2, "label": {"vi": "Không"}}],
            },
            "sections": [
                {
                    "code": "s",
                    "label": {"vi": "S"},
                    "questions": [
                        {"code": "g", "type": "single", "choices": "co_khong", "label": {"vi": "G"}},
                        *[
                            {"code": c, "type": "single", "choices": "likert5", "label": {"vi": c}}
                            for c in ITEMS
                        ],
                    ],
                }
            ],
            "scoring": {
                "method": method,
                "values": {"1": 0.0, "2": 0.25, "3": 0.5, "4": 0.75, "5": 1.0},
                "index": {
                    "code": "i",
                    "label": {"vi": "I"},
                    "elements": [
                        {
                            "code": "A",
                            "label": {"vi": "A"},
                            "criteria": [{"item": "a1", "max_points": 2}, {"item": "a2", "max_points": 1}],
                        },
                        {
                            "code": "B",
                            "label": {"vi": "B"},
                            "gate": "${g} = 1",
                            "criteria": [{"item": "b1", "max_points": 1.5}],
                        },
                    ],
                },
            },
        }
    ).questionnaire


QUESTIONNAIRES = {m: questionnaire(m) for m in ("share_satisfied", "mean_score", "points")}
answer = st.one_of(st.none(), st.integers(1, 5))


@st.composite
def designs(draw):
    """Responses in 1-4 units and 1-2 strata, and a frame whose populations cover the sample."""
    n_units = draw(st.integers(1, 4))
    rows = []
    for u in range(n_units):
        for s in range(draw(st.integers(1, 2))):
            for _ in range(draw(st.integers(1, 6))):
                rows.append(
                    {
                        "unit": f"xa-{u}",
                        "stratum": f"t{s}",
                        "g": draw(st.sampled_from([1, 2])),
                        **{item: draw(answer) for item in ITEMS},
                    }
                )
    df = pd.DataFrame(rows)
    df.insert(0, "response_id", [f"r{i}" for i in range(len(df))])
    sizes = df.groupby(["unit", "stratum"]).size()
    frame = pd.DataFrame(
        [
            # at least twice the sample, so that the sample can also be duplicated
            {"unit": u, "stratum": s, "population": 2 * int(n) + draw(st.integers(0, 60))}
            for (u, s), n in sizes.items()
        ]
    )
    method = draw(st.sampled_from(sorted(QUESTIONNAIRES)))
    return QUESTIONNAIRES[method], df, frame


def as_rows(table):
    return {u.unit: u for u in (*table.units, table.overall)}


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(designs(), st.randoms(use_true_random=False))
def test_permuting_rows_changes_nothing(design, random):
    q, df, frame = design
    order = list(range(len(df)))
    random.shuffle(order)
    a = as_rows(score(q, df, frame))
    b = as_rows(score(q, df.iloc[order].reset_index(drop=True), frame))
    for unit, x in a.items():
        y = b[unit]
        for field in ("index", "se", "ci_low", "ci_high", "n_eff", "points"):
            vx, vy = getattr(x, field), getattr(y, field)
            assert (vx is None) == (vy is None), (unit, field)
            if vx is not None:
                assert vy == pytest.approx(vx, rel=1e-9, abs=1e-9), (unit, field)
        assert x.rank == y.rank and x.flags == y.flags
        for code, value in x.criteria.items():
            assert (value is None) == (y.criteria[code] is None)
            if value is not None:
                assert y.criteria[code] == pytest.approx(value, abs=1e-9)


@PROPERTY_SETTINGS
@given(designs())
def test_duplicating_every_response_at_half_weight_changes_no_estimate(design):
    q, df, frame = design
    twice = pd.concat([df, df.assign(response_id=df["response_id"] + "-bis")], ignore_index=True)
    a = as_rows(score(q, df, frame))
    # the same populations and twice the responses: every response weighs N_h / (2 n_h), half as much
    b = as_rows(score(q, twice, frame))
    for unit, x in a.items():
        y = b[unit]
        if x.index is None:
            assert y.index is None
            continue
        assert y.index == pytest.approx(x.index, abs=1e-9)
        for code, value in x.criteria.items():
            assert (value is None) == (y.criteria[code] is None)
            if value is not None:
                assert y.criteria[code] == pytest.approx(value, abs=1e-9)
        for code, value in x.elements.items():
            if value is not None:
                assert y.elements[code] == pytest.approx(value, abs=1e-9)


@PROPERTY_SETTINGS
@given(designs(), st.booleans())
def test_index_lies_in_0_100_and_inside_its_interval(design, weighted):
    q, df, frame = design
    table = score(q, df, frame if weighted else None)
    for u in (*table.units, table.overall):
        if u.index is None:
            continue
        assert 0.0 <= u.ci_low <= u.index <= u.ci_high <= 100.0
        assert u.se >= 0.0
        for value in (*u.criteria.values(), *u.elements.values()):
            assert value is None or 0.0 <= value <= 100.0
