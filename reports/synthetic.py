"""Synthetic, reproducible survey data for demonstrations, tests and benchmarks (never for real reports).

``fill_answers`` answers one questionnaire in order, asking only what its skip logic asks, with
values from a given function; ``synthetic_answers`` is one drawn respondent on it (the demo's sample
responses). ``synthetic_responses`` draws a whole responses table column by column (choice codes, a
Vietnamese comment now and then) and blanks what skip logic would not have asked;
``synthetic_index_table`` draws an :class:`~analysis.results.IndexTable` shaped like the scoring
output, for rendering without scoring. Skip logic is :mod:`questionnaires.applicability`'s.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.results import (
    FLAG_BELOW_TARGET,
    FLAG_MISSING_CRITERIA,
    FLAG_SMALL_SAMPLE,
    IndexTable,
    UnitResult,
)
from questionnaires import (
    ChoiceList,
    Level,
    Question,
    Questionnaire,
    QuestionType,
    Role,
    applicable,
    drop_inapplicable,
    respondent_group,
)

COMMENTS = (
    "Cán bộ một cửa rất nhiệt tình, hướng dẫn chu đáo.",
    "Nên bố trí thêm ghế ngồi chờ và quạt mát.",
    "Thời gian trả kết quả còn chậm so với giấy hẹn.",
    "Đề nghị niêm yết thủ tục rõ ràng hơn, chữ to dễ đọc.",
    "Hài lòng. Cảm ơn Ủy ban nhân dân xã.",
)

# The value for one question (with its choice list, if any); None leaves the question unanswered.
Draw = Callable[[Question, ChoiceList | None], Any]


def fill_answers(
    questionnaire: Questionnaire, draw: Draw, answers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Answer, in order, each question skip logic asks given the answers so far; keep ``answers`` as given."""
    filled = dict(answers or {})
    for section in questionnaire.sections:
        for question in section.questions:
            if not question.type.is_answerable or question.code in filled:
                continue
            if not applicable(section, question, filled, respondent_group(questionnaire, filled)):
                continue
            value = draw(question, questionnaire.choice_list(question))
            if value is not None:
                filled[question.code] = value
    return filled


def synthetic_answers(
    questionnaire: Questionnaire, rng: random.Random, satisfaction: float
) -> dict[str, Any]:
    """Draw one respondent's answers: Likert answers positive (4 or 5) with probability ``satisfaction``."""

    def draw(q: Question, choice_list: ChoiceList | None) -> Any:
        if q.type is QuestionType.SINGLE and choice_list is not None:
            codes = choice_list.codes
            if q.has_appearance("likert") and len(codes) == 5:
                return rng.choice(codes[3:]) if rng.random() < satisfaction else rng.choice(codes[:3])
            if not q.required and rng.random() < 0.1:
                return None
            return rng.choice(codes)
        if q.type is QuestionType.MULTIPLE and choice_list is not None:
            return rng.sample(list(choice_list.codes), k=rng.randint(1, min(3, len(choice_list.codes))))
        if q.type is QuestionType.INTEGER:
            return rng.randint(1, 4)
        if q.type is QuestionType.DECIMAL:
            return round(rng.uniform(0, 10), 1)
        if q.type is QuestionType.DATE:
            return (date(2024, 1, 1) + timedelta(days=rng.randrange(300))).isoformat()
        if q.type is QuestionType.TEXT and rng.random() < 0.15:
            return rng.choice(COMMENTS)
        return None

    return fill_answers(questionnaire, draw)


def synthetic_responses(
    questionnaire: Questionnaire,
    units: Sequence[str],
    n_per_unit: int | Sequence[int],
    *,
    seed: int = 2023,
    numeric_codes: bool = False,
    comment_rate: float = 0.1,
) -> pd.DataFrame:
    """Draw a responses table: one row per response, choice codes as strings (or small integers)."""
    rng = np.random.default_rng(seed)
    counts = [n_per_unit] * len(units) if isinstance(n_per_unit, int) else list(n_per_unit)
    if len(counts) != len(units):
        raise ValueError("n_per_unit must give one count per unit")
    total = int(sum(counts))
    unit_index = np.repeat(np.arange(len(units)), counts)
    # Each unit has its own satisfaction level, so ranks differ and some units score 98-100%.
    level = rng.uniform(0.55, 0.97, size=len(units))[unit_index]
    # Built in Arrow memory: no million Python strings on the way.
    digits = pc.utf8_lpad(pa.array(np.arange(1, total + 1)).cast(pa.string()), 7, "0")
    columns: dict[str, object] = {
        "response_id": pd.array(pc.binary_join_element_wise("R", digits, ""), dtype="str"),
        "unit": pd.Categorical.from_codes(unit_index, categories=list(units)),
    }
    stratum_item = next((q for q in questionnaire.questions() if q.role is not None), None)

    for q in questionnaire.questions():
        if not q.type.is_answerable:
            continue
        choice_list = questionnaire.choice_list(q)
        if q.type is QuestionType.SINGLE and choice_list is not None:
            codes = np.array(choice_list.codes, dtype=object)
            if q.has_appearance("likert") and len(codes) == 5:
                satisfied = rng.random(total) < level
                high = rng.integers(3, 5, total, dtype=np.int8)
                picks = np.where(satisfied, high, rng.integers(0, 3, total, dtype=np.int8))
            else:
                picks = rng.integers(0, len(codes), total, dtype=np.int8)
            if numeric_codes and choice_list.is_numeric:
                values = pd.array(codes.astype(np.int8)[picks], dtype="Int8")
            else:
                values = pd.Categorical.from_codes(picks, categories=list(codes))
            columns[q.code] = values
        elif q.type is QuestionType.INTEGER:
            columns[q.code] = pd.array(rng.integers(1, 4, total, dtype=np.int16), dtype="Int16")
        elif q.type is QuestionType.TEXT:
            has = rng.random(total) < comment_rate
            pick = rng.integers(0, len(COMMENTS), total, dtype=np.int8)
            columns[q.code] = pd.Categorical.from_codes(np.where(has, pick, -1), categories=list(COMMENTS))
    frame = pd.DataFrame(columns, copy=False)
    _blank_not_asked(questionnaire, frame)
    if stratum_item is not None and stratum_item.code in frame:
        source = frame[stratum_item.code]
        if isinstance(source.dtype, pd.CategoricalDtype):
            stratum = source.copy()  # text categories: the same values, without a string per row
        else:
            stratum = source.astype("str")
        frame.insert(2, "stratum", stratum)
    return frame


def _blank_not_asked(questionnaire: Questionnaire, frame: pd.DataFrame) -> None:
    """Blank, in place, every answer that skip logic drops, as validation would before storing it."""
    answered = [q for q in questionnaire.questions() if q.type.is_answerable and q.code in frame]
    read = {
        ref
        for s in questionnaire.sections
        for e in (s.relevant, *(q.relevant for q in s.questions))
        if e is not None
        for ref in e.references
    }
    group_item = questionnaire.role_item(Role.GROUP)
    if group_item is not None:
        read.add(group_item.code)
    gates = [q for q in answered if q.code in read]
    # What is asked depends only on the answers skip logic reads, which take few values: decide it
    # once per combination of them, not once per row (a million rows add up fast).
    combination = np.zeros(len(frame), dtype=np.int64)
    for q in gates:
        codes, values = pd.factorize(frame[q.code], use_na_sentinel=True)
        combination, _ = pd.factorize(combination * (len(values) + 1) + codes + 1)
    _, first = np.unique(combination, return_index=True)
    others = {q.code: "x" for q in answered if q.code not in read}  # read by no expression
    dropped = {q.code: np.zeros(len(first), dtype=bool) for q in answered}
    for number, row in enumerate(first):
        answers = dict(others)
        for q in gates:
            value = frame[q.code].iat[row]
            if not pd.isna(value):
                answers[q.code] = int(value) if q.type is QuestionType.INTEGER else str(value)
        for code in drop_inapplicable(questionnaire, answers)[1]:
            dropped[code][number] = True
    for code, flags in dropped.items():
        if flags.any():
            frame.loc[flags[combination], code] = pd.NA


def synthetic_index_table(
    questionnaire: Questionnaire,
    units: Sequence[str],
    *,
    names: Mapping[str, str] | None = None,
    seed: int = 2023,
    n: int | Sequence[int] = 120,
    with_previous: bool = True,
    target: int | None = 100,
) -> IndexTable:
    """Draw an index table with consistent criteria, elements, fields, index, CIs, ranks and flags."""
    if questionnaire.scoring is None:
        raise ValueError(f"{questionnaire.id} has no scoring tree")
    rng = np.random.default_rng(seed)
    tree = questionnaire.scoring.tree
    counts = [n] * len(units) if isinstance(n, int) else list(n)
    results: list[dict] = []
    for i, unit in enumerate(units):
        base = rng.uniform(70, 99.5)
        criteria: dict[str, float | None] = {}
        criteria_n: dict[str, int] = {}
        for c in tree.criteria:
            value = float(np.clip(base + rng.normal(0, 4), 0, 100))
            criteria[c.code] = round(value, 6)
            criteria_n[c.code] = counts[i]
        flags: list[str] = []
        if i % 7 == 3:  # a criterion nobody answered in this unit
            criteria[tree.criteria[-1].code] = None
            criteria_n[tree.criteria[-1].code] = 0
            flags.append(FLAG_MISSING_CRITERIA)
        values = _roll_up(tree, criteria)
        index = values[tree.code]
        n_i = counts[i]
        half = float(1.96 * np.sqrt(max(index * (100 - index), 25.0) / max(n_i, 1)))
        low, high = max(0.0, index - half), min(100.0, index + half)
        if n_i < questionnaire.scoring.min_n:
            flags.append(FLAG_SMALL_SAMPLE)
        if target is not None and n_i < target:
            flags.append(FLAG_BELOW_TARGET)
        results.append(
            {
                "unit": unit,
                "name": (names or {}).get(unit),
                "n": n_i,
                "index": index,
                "se": half / 1.96,
                "ci_low": low,
                "ci_high": high,
                "target": target,
                "fields": {k: v for k, v in values.items() if _level(tree, k) is Level.FIELD},
                "elements": {k: v for k, v in values.items() if _level(tree, k) is Level.ELEMENT},
                "criteria": criteria,
                "criteria_n": criteria_n,
                "flags": tuple(flags),
                "previous_index": float(np.clip(index + rng.normal(0, 3), 0, 100)) if with_previous else None,
            }
        )
    order = sorted(range(len(results)), key=lambda k: (-results[k]["index"], results[k]["unit"]))
    prev_order = sorted(
        range(len(results)), key=lambda k: (-(results[k]["previous_index"] or 0), results[k]["unit"])
    )
    prev_rank = {k: r for r, k in enumerate(prev_order, start=1)}
    unit_results = []
    for rank, k in enumerate(order, start=1):
        d = results[k]
        if with_previous:
            d["previous_rank"] = prev_rank[k]
            d["change"] = d["index"] - d["previous_index"]
            d["rank_change"] = prev_rank[k] - rank
        unit_results.append(UnitResult(rank=rank, **d))
    total = sum(counts)
    mean = float(np.mean([r.index for r in unit_results]))
    overall_criteria = {
        c.code: float(np.mean([r.criteria[c.code] for r in unit_results if r.criteria[c.code] is not None]))
        for c in tree.criteria
    }
    overall_values = _roll_up(tree, overall_criteria)
    half = float(1.96 * np.sqrt(max(mean * (100 - mean), 25.0) / total))
    overall = UnitResult(
        unit="overall",
        n=total,
        index=overall_values[tree.code],
        se=half / 1.96,
        ci_low=max(0.0, overall_values[tree.code] - half),
        ci_high=min(100.0, overall_values[tree.code] + half),
        fields={k: v for k, v in overall_values.items() if _level(tree, k) is Level.FIELD},
        elements={k: v for k, v in overall_values.items() if _level(tree, k) is Level.ELEMENT},
        criteria=overall_criteria,
        criteria_n={c.code: sum(r.criteria_n[c.code] for r in unit_results) for c in tree.criteria},
    )
    return IndexTable(
        questionnaire=questionnaire.id,
        version=questionnaire.version,
        method=questionnaire.scoring.method.value,
        units=tuple(unit_results),
        overall=overall,
        warnings=tuple(
            f"{r.unit}: tiêu chí {tree.criteria[-1].code} không có câu trả lời hợp lệ, không tính vào yếu tố"
            for r in unit_results
            if FLAG_MISSING_CRITERIA in r.flags
        ),
        labels={node.code: node.label.vi for node in tree.walk()},
        levels={node.code: node.level.value for node in tree.walk()},
    )


def _roll_up(tree, criteria: Mapping[str, float | None]) -> dict[str, float]:
    """Average criteria into elements, elements into fields, and those into the index (unweighted)."""
    values: dict[str, float] = {}

    def visit(node) -> float | None:
        if node.level is Level.CRITERION:
            return criteria.get(node.code)
        parts = [v for v in (visit(child) for child in node.children) if v is not None]
        value = float(np.mean(parts)) if parts else None
        if value is not None:
            values[node.code] = value
        return value

    visit(tree)
    return values


def _level(tree, code: str) -> Level:
    for node in tree.walk():
        if node.code == code:
            return node.level
    raise KeyError(code)
