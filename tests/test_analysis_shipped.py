"""The shipped questionnaires scored by the engine and by a slow, row-by-row reference written here.

The reference walks every response in Python, evaluates gates with ``Expression.truthy`` on the
response's answers and applies the methodology's formulas literally, so it shares nothing with the
vectorised engine but the questionnaire model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from analysis import score
from questionnaires import (
    GroupWeighting,
    Level,
    Method,
    PointsTotal,
    Questionnaire,
    QuestionType,
    Role,
    from_data,
    load_questionnaire,
    to_dict,
)

TEXTS = ("Cán bộ nhiệt tình, chu đáo.", "Cần thêm ghế ngồi chờ.", "Thời gian trả kết quả còn chậm.")


def draw_responses(q: Questionnaire, units: dict[str, int], seed: int) -> pd.DataFrame:
    """Random answers for every answerable item, blanks included, codes as text."""
    rng = np.random.default_rng(seed)
    rows = []
    k = 0
    group_item = q.role_item(Role.GROUP)
    for unit, count in units.items():
        mood = rng.uniform(0.4, 0.95)
        for _ in range(count):
            k += 1
            row: dict[str, object] = {"response_id": f"{unit}-{k}", "unit": unit}
            for question in q.questions():
                if not question.type.is_answerable or question.type in (QuestionType.DATE,):
                    continue
                choices = q.choice_list(question)
                if question.type is QuestionType.SINGLE and choices is not None:
                    codes = choices.codes
                    if rng.random() < 0.07 and question.role is None:
                        value = None
                    elif len(codes) == 5 and choices.is_numeric:
                        value = str(rng.integers(4, 6) if rng.random() < mood else rng.integers(1, 4))
                    else:
                        value = codes[int(rng.integers(0, len(codes)))]
                elif question.type is QuestionType.MULTIPLE and choices is not None:
                    picked = [c for c in choices.codes if rng.random() < 0.4]
                    value = " ".join(picked) or None
                elif question.type in (QuestionType.INTEGER, QuestionType.DECIMAL):
                    value = None if rng.random() < 0.1 else int(rng.integers(1, 6))
                else:
                    value = TEXTS[int(rng.integers(0, len(TEXTS)))] if rng.random() < 0.2 else None
                row[question.code] = value
            if group_item is not None:
                row["group"] = row[group_item.code]
            rows.append(row)
    return pd.DataFrame(rows)


def asked_of(q: Questionnaire) -> dict[str, set[str] | None]:
    """The groups asked each question (its own and its section's ``groups``); None = everyone."""
    out: dict[str, set[str] | None] = {}
    for section in q.sections:
        for question in section.questions:
            allowed: set[str] | None = None
            for groups in (section.groups, question.groups):
                if groups:
                    allowed = set(groups) if allowed is None else allowed & set(groups)
            out[question.code] = allowed
    return out


@dataclass(frozen=True)
class Rows:
    """One unit's responses: answers, weights and respondent groups."""

    answers: list[dict]
    weights: list[float]
    groups: list[str | None]


def ratio(sc, node, item, gates, only, rows: Rows) -> float | None:
    """The weighted mean score of ``item`` over the answers of groups ``only`` (None = all)."""
    method = node.method or sc.method
    num = den = 0.0
    for a, w, g in zip(rows.answers, rows.weights, rows.groups, strict=True):
        if not all(gt.truthy(a) for gt in gates) or item not in a:
            continue
        if only is not None and g not in only:
            continue
        code = str(a[item])
        if method is Method.SHARE_SATISFIED:
            if code in sc.valid:
                den += w
                num += w * (code in sc.positive)
        elif method is Method.MEAN_SCORE:
            if code in sc.valid:
                den += w
                num += w * (float(code) - sc.scale[0]) / (sc.scale[1] - sc.scale[0])
        else:
            table = node.values or sc.values
            if code in table:
                den += w
                num += w * table[code]
    return num / den if den > 0 else None


def criterion_value(sc, node, gates, rows: Rows, asked, by_group: bool) -> float | None:
    """Mean of the items with a value; by group: each item the weighted mean of its groups' means."""
    item_values = []
    for item in node.items:
        if by_group:
            parts = []
            for g, a in sc.group_weights.items():
                if a > 0 and (asked[item] is None or g in asked[item]):
                    r = ratio(sc, node, item, gates, {g}, rows)
                    if r is not None:
                        parts.append((a, r))
            v = sum(a * r for a, r in parts) / sum(a for a, _ in parts) if parts else None
        else:
            v = ratio(sc, node, item, gates, asked[item], rows)
        if v is not None:
            item_values.append(v)
    return sum(item_values) / len(item_values) if item_values else None


def reference(q: Questionnaire, df: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Index, elements and criteria per unit (w = 1, group weights as the scoring says), row by row."""
    sc = q.scoring
    assert sc is not None
    by_group = bool(sc.group_weights) and sc.group_weighting is GroupWeighting.CRITERION_MEANS
    asked_total = sc.method is Method.POINTS and sc.points_total is PointsTotal.ASKED
    asked = asked_of(q)
    out: dict[str, dict[str, float | None]] = {}
    for unit, part in df.groupby("unit", sort=True):
        records = part.to_dict("records")
        answers = [
            {k: v for k, v in r.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
            for r in records
        ]
        groups = [r.get("group") for r in records]
        weights = [1.0] * len(records)
        if sc.group_weights and not by_group:
            present = sorted(set(groups))
            shares = {g: sc.group_weights[g] for g in present}
            total = sum(shares.values())
            for i, g in enumerate(groups):
                weights[i] = shares[g] / total * len(records) / groups.count(g)
        values: dict[str, float | None] = {}

        rows = Rows(answers, weights, groups)

        def node_value(node, gates, values=values, rows=rows):
            """The node's value and the points it is scored out of (``asked``: criteria with a value)."""
            gates = gates + ((node.gate,) if node.gate is not None else ())
            if node.level is Level.CRITERION:
                value = criterion_value(sc, node, gates, rows, asked, by_group)
                maximum = (node.max_points or 0.0) if value is not None else 0.0
            else:
                parts = []
                maximum = 0.0
                for child in node.children:
                    v, child_max = node_value(child, gates)
                    if asked_total:
                        weight = child_max
                    else:
                        weight = child_points(child) if sc.method is Method.POINTS else child.weight
                    if v is not None and weight > 0:
                        parts.append((weight, v))
                        maximum += child_max
                total = sum(w for w, _ in parts)
                value = sum(w * v for w, v in parts) / total if parts else None
            values[node.code] = None if value is None else 100 * value
            return value, maximum

        def child_points(node):
            if node.max_points is not None:
                return node.max_points
            return sum(child_points(c) for c in node.children)

        node_value(sc.tree, ())
        out[str(unit)] = values
    return out


@pytest.mark.parametrize(
    "qid, settings",
    [
        ("sipas-2017", {}),
        ("sipas-2023", {}),
        ("par-xa-2023", {}),
        ("par-xa-2023", {"group_weighting": "respondents", "points_total": "scaled"}),
        ("par-xa-2023", {"group_weighting": "respondents"}),
    ],
)
def test_shipped_questionnaires_match_the_row_by_row_reference(qid, settings):
    try:
        q = load_questionnaire(qid)
    except Exception as exc:  # noqa: BLE001 - a definition still being written elsewhere
        pytest.skip(f"{qid} cannot be loaded: {exc}")
    if settings:
        data = to_dict(q)
        data["scoring"].update(settings)
        q = from_data(data).questionnaire
    df = draw_responses(q, {"tra-xuan": 45, "tra-giang": 33, "tra-thuy": 21}, seed=len(qid))
    table = score(q, df)
    expected = reference(q, df)
    for unit, values in expected.items():
        got = table.unit(unit)
        assert got.index == pytest.approx(values[q.scoring.tree.code], abs=1e-9), unit
        for level, section in (
            ("elements", got.elements),
            ("fields", got.fields),
            ("criteria", got.criteria),
        ):
            for code, value in section.items():
                if values[code] is None:
                    assert value is None, (unit, level, code)
                else:
                    assert value == pytest.approx(values[code], abs=1e-9), (unit, level, code)
        assert got.se is not None and got.se > 0
        assert got.ci_low <= got.index <= got.ci_high


def test_sipas_2023_gate_removes_respondents_without_a_procedure():
    q = load_questionnaire("sipas-2023")
    df = draw_responses(q, {"tra-xuan": 40}, seed=7)
    gate_field = next(n for n in q.scoring.tree.walk() if n.level is Level.FIELD and n.gate is not None)
    (ref,) = gate_field.gate.references
    before = score(q, df).unit("tra-xuan")
    # Flip everyone outside the gate to a satisfied answer on the gated field's items: nothing changes.
    outside = ~df.apply(lambda r: gate_field.gate.truthy({ref: r[ref]} if r[ref] is not None else {}), axis=1)
    assert outside.any()
    changed = df.copy()
    for criterion in gate_field.criteria:
        for item in criterion.items:
            changed.loc[outside, item] = "5"
    after = score(q, changed).unit("tra-xuan")
    assert after.fields[gate_field.code] == pytest.approx(before.fields[gate_field.code])
    assert after.index == pytest.approx(before.index)
