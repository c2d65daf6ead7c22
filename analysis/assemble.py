"""Turn the engine's per-domain arrays into :class:`~analysis.results.UnitResult` objects.

The last stage of :func:`analysis.score`: node values by level, valid answers per criterion, flags and
their warnings, targets, ranks and the comparison with a previous period.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from questionnaires import Level

from .data import bilingual, canonical_text
from .errors import ScoringError
from .results import (
    FLAG_BELOW_TARGET,
    FLAG_LONELY_CELL,
    FLAG_MISSING_CRITERIA,
    FLAG_MISSING_GROUP,
    FLAG_NO_DATA,
    FLAG_NOT_ASKED,
    FLAG_SMALL_SAMPLE,
    IndexTable,
    UnitResult,
)
from .tree import Plan, Tree
from .variance import slovin

OVERALL = "overall"


def targets_of(
    targets: Mapping[str, int] | None,
    unit_order: list[str],
    unit_population: np.ndarray | None,
    margin_of_error: float,
) -> dict[str, int]:
    """Target responses per unit: Slovin's from the frame, overridden by the caller's targets."""
    out: dict[str, int] = {}
    if unit_population is not None:
        for u, N in zip(unit_order, unit_population.tolist(), strict=True):
            out[u] = slovin(N, margin_of_error)
    for u, t in (targets or {}).items():
        out[str(u)] = int(t)
    return out


def previous_lookup(
    previous: IndexTable | pd.DataFrame | None,
) -> dict[str, tuple[float | None, int | None]]:
    """Index and rank of each unit in an earlier period."""
    if previous is None:
        return {}
    if isinstance(previous, IndexTable):
        return {u.unit: (u.index, u.rank) for u in previous.units}
    if isinstance(previous, pd.DataFrame):
        if "unit" not in previous.columns or "index" not in previous.columns:
            raise ScoringError(
                bilingual(
                    "kết quả kỳ trước cần cột unit và index", "previous results need columns unit and index"
                )
            )
        out: dict[str, tuple[float | None, int | None]] = {}
        for _, row in previous.iterrows():
            unit = canonical_text(row["unit"])
            if unit is None:
                continue
            index = _float_or_none(row["index"])
            rank = _int_or_none(row["rank"]) if "rank" in previous.columns else None
            out[unit] = (index, rank)
        return out
    raise ScoringError(
        bilingual("kết quả kỳ trước không đúng dạng", "previous results must be an IndexTable or DataFrame")
    )


def _float_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _int_or_none(v: Any) -> int | None:
    f = _float_or_none(v)
    return None if f is None else int(round(f))


@dataclass(frozen=True, slots=True)
class Estimates:
    """Per-domain arrays (units, then the whole area) on the percentage scale."""

    index: np.ndarray
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    df: np.ndarray
    deff: np.ndarray
    n_eff: np.ndarray
    ranks: np.ndarray  # units only; 0 = no rank
    rank_probability: np.ndarray | None
    rank_low: np.ndarray | None  # units only; the rank interval, 0 = none
    rank_high: np.ndarray | None
    rank_groups: list[str | None]  # units only; letters of the groups that cannot be told apart
    valid_n: np.ndarray  # (D, L) valid answers per leaf
    any_valid: Mapping[int, np.ndarray]  # multi-item criteria: responses with a valid answer, per unit
    population: np.ndarray | None
    lonely_units: set[int]


def _rows(matrix: np.ndarray, codes: list[str]) -> list[MappingProxyType]:
    """One read-only ``{code: value}`` per row, NaN as None."""
    if not codes:
        empty: MappingProxyType = MappingProxyType({})
        return [empty] * matrix.shape[0]
    cells = np.where(np.isnan(matrix), None, matrix).tolist()
    return [MappingProxyType(dict(zip(codes, row, strict=True))) for row in cells]


@dataclass(frozen=True, slots=True)
class _NodeColumns:
    """Per domain: node values by level, valid answers per criterion, points; which criteria are missing."""

    sections: Mapping[Level, list[MappingProxyType]]  # field, element, criterion
    criteria_n: list[MappingProxyType]
    criteria: list[str]
    missing: np.ndarray  # (D, criteria): no valid answer
    node_points: list[MappingProxyType]
    node_max_points: list[MappingProxyType]
    max_points: np.ndarray | None  # (D,): the points each domain is scored out of
    group_gaps: np.ndarray  # (D, criteria): a weighted group asked the criterion has no valid answer


def _node_columns(plan: Plan, tree: Tree, est: Estimates) -> _NodeColumns:
    """Lay out every node's value (and points) per domain as read-only mappings."""
    D = tree.value.shape[0]
    values = tree.value * 100.0
    level_nodes = {lv: [nd for nd in plan.nodes if nd.node.level is lv] for lv in Level}
    sections = {
        lv: _rows(values[:, [nd.idx for nd in nodes]], [nd.node.code for nd in nodes])
        for lv, nodes in level_nodes.items()
        if lv is not Level.INDEX
    }
    criteria_nodes = level_nodes[Level.CRITERION]
    counts = np.zeros((D, len(criteria_nodes)))
    for j, nd in enumerate(criteria_nodes):
        if nd.idx in est.any_valid:
            per_unit = est.any_valid[nd.idx]
            counts[:, j] = np.append(per_unit, per_unit.sum())
        else:
            counts[:, j] = est.valid_n[:, nd.leaves[0]]
    crit_codes = [nd.node.code for nd in criteria_nodes]
    criteria_n = [
        MappingProxyType(dict(zip(crit_codes, row, strict=True)))
        for row in np.rint(counts).astype(int).tolist()
    ]
    missing = np.isnan(values[:, [nd.idx for nd in criteria_nodes]])
    codes = [nd.node.code for nd in plan.nodes]
    if plan.points and tree.maximum is not None:
        maxima = np.array(tree.maximum, dtype=float)
        node_points = _rows(values * maxima / 100.0, codes)
        if plan.points_asked:  # out of the criteria with a value: none where there is no value
            maxima = np.where(np.isnan(values), np.nan, maxima)
        node_max_points = _rows(maxima, codes)
        max_points = maxima[:, 0]
    else:
        node_points = node_max_points = _rows(np.empty((D, 0)), [])
        max_points = None
    gaps = np.zeros((D, len(criteria_nodes)), dtype=bool)
    if plan.by_group:
        answered = est.valid_n > 0
        for j, nd in enumerate(criteria_nodes):
            for slot in nd.slots:
                some = answered[:, slot].any(axis=1)
                gaps[:, j] |= some & ~answered[:, slot].all(axis=1)
    return _NodeColumns(
        sections, criteria_n, crit_codes, missing, node_points, node_max_points, max_points, gaps
    )


def assemble(
    plan: Plan,
    tree: Tree,
    unit_order: list[str],
    est: Estimates,
    target_of: Mapping[str, int],
    min_n: int,
    previous: Mapping[str, tuple[float | None, int | None]],
    names: Mapping[str, str],
    warnings: list[str],
    not_asked: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> tuple[list[UnitResult], UnitResult]:
    """Build every unit's result (sorted by rank) and the whole area's, with flags and warnings.

    Parameters
    ----------
    plan, tree
        The compiled and evaluated tree.
    unit_order
        The units, in the order of the rows of ``est``.
    est
        The per-domain estimates.
    target_of
        Target responses per unit.
    min_n
        Fewer responses than this are flagged ``small_sample``.
    previous
        Index and rank per unit in an earlier period.
    names
        Display names of the units.
    warnings
        Receives the warnings on missing criteria, groups missing in a criterion, answers of groups
        not asked and cells with one response.
    not_asked
        Per item and group not asked it: the answers given per unit (not counted).

    Returns
    -------
    units : list of UnitResult
        Sorted by rank (units without an index last), then by index and code.
    overall : UnitResult
    """
    U = len(unit_order)
    columns = _node_columns(plan, tree, est)
    index = est.index.tolist()
    se, low, high = est.se.tolist(), est.low.tolist(), est.high.tolist()
    deff, n_eff = est.deff.tolist(), est.n_eff.tolist()
    n_list, df_list = est.n.astype(int).tolist(), est.df.astype(int).tolist()
    ranks = est.ranks.tolist()
    probability = est.rank_probability.tolist() if est.rank_probability is not None else None
    rank_low = est.rank_low.tolist() if est.rank_low is not None else None
    rank_high = est.rank_high.tolist() if est.rank_high is not None else None
    population = est.population.tolist() if est.population is not None else None
    root = plan.nodes[0].node.code
    results: list[UnitResult] = []
    for d in range(U + 1):
        is_unit = d < U
        unit = unit_order[d] if is_unit else OVERALL
        value = index[d]
        has_index = not math.isnan(value)
        n = n_list[d]
        target = target_of.get(unit) if is_unit else None
        flags = _flags(d, unit, is_unit, has_index, n, target, min_n, columns, est.lonely_units, warnings)
        flags += _group_flags(d, unit, is_unit, columns, not_asked or {}, warnings)
        extra: dict[str, Any] = {}
        if is_unit:
            extra = _unit_extra(unit, value if has_index else None, ranks[d] or None, previous, names)
            if probability is not None and extra["rank"] is not None:
                extra["rank_probability"] = probability[d]
            if rank_low is not None and rank_high is not None and extra["rank"] is not None:
                extra["rank_low"], extra["rank_high"] = rank_low[d] or None, rank_high[d] or None
            if extra["rank"] is not None:
                extra["rank_group"] = est.rank_groups[d]
            if population is not None:
                extra["population"] = population[d]
        elif population is not None:
            extra["population"] = float(sum(population))
        results.append(
            UnitResult(
                unit=unit,
                n=n,
                index=value if has_index else None,
                se=se[d] if has_index else None,
                ci_low=low[d] if has_index else None,
                ci_high=high[d] if has_index else None,
                deff=_none_nan(deff[d]),
                n_eff=_none_nan(n_eff[d]),
                df=df_list[d] if n > 0 else None,
                target=target,
                fields=columns.sections[Level.FIELD][d],
                elements=columns.sections[Level.ELEMENT][d],
                criteria=columns.sections[Level.CRITERION][d],
                criteria_n=columns.criteria_n[d],
                points=columns.node_points[d].get(root) if plan.points else None,
                max_points=_max_points(columns.max_points, d),
                node_points=columns.node_points[d],
                node_max_points=columns.node_max_points[d],
                flags=tuple(flags),
                **extra,
            )
        )
    if est.lonely_units:
        listed = ", ".join(sorted(unit_order[u] for u in est.lonely_units)[:10])
        warnings.append(
            bilingual(
                f"có ô (đơn vị × tầng) chỉ có 1 phiếu; phương sai tính theo cách 'adjust' của R: {listed}",
                "some cells have a single response; their variance follows R's lonely.psu = 'adjust'",
            )
        )
    units = results[:U]
    units.sort(key=lambda u: (u.rank is None, u.rank or 0, -(u.index or 0.0), u.unit))
    return units, results[U]


def _flags(
    d: int,
    unit: str,
    is_unit: bool,
    has_index: bool,
    n: int,
    target: int | None,
    min_n: int,
    columns: _NodeColumns,
    lonely_units: set[int],
    warnings: list[str],
) -> list[str]:
    """The flags of domain ``d``; a warning names the criteria it misses."""
    flags: list[str] = []
    if n < min_n:
        flags.append(FLAG_SMALL_SAMPLE)
    if target is not None and n < target:
        flags.append(FLAG_BELOW_TARGET)
    if not has_index:
        flags.append(FLAG_NO_DATA)
    elif columns.missing[d].any():
        flags.append(FLAG_MISSING_CRITERIA)
        missing = [c for c, m in zip(columns.criteria, columns.missing[d].tolist(), strict=True) if m]
        place = f"đơn vị {unit}" if is_unit else "toàn vùng"
        warnings.append(
            bilingual(
                f"{place}: tiêu chí {', '.join(missing)} không có câu trả lời hợp lệ nên không tính vào điểm",
                f"{'unit ' + unit if is_unit else 'whole area'}: "
                "criteria without valid answers were left out",
            )
        )
    if is_unit and d in lonely_units:
        flags.append(FLAG_LONELY_CELL)
    return flags


def _group_flags(
    d: int,
    unit: str,
    is_unit: bool,
    columns: _NodeColumns,
    not_asked: Mapping[str, Mapping[str, np.ndarray]],
    warnings: list[str],
) -> list[str]:
    """Flags (and warnings) on respondent groups: a criterion without one of its groups, answers not asked."""
    flags: list[str] = []
    place_vi = f"đơn vị {unit}" if is_unit else "toàn vùng"
    place_en = f"unit {unit}" if is_unit else "whole area"
    if columns.group_gaps[d].any():
        flags.append(FLAG_MISSING_GROUP)
        gaps = [c for c, m in zip(columns.criteria, columns.group_gaps[d].tolist(), strict=True) if m]
        warnings.append(
            bilingual(
                f"{place_vi}: tiêu chí {', '.join(gaps)} chỉ có câu trả lời hợp lệ của một phần các nhóm "
                "đối tượng; điểm là trung bình của các nhóm có trả lời",
                f"{place_en}: some criteria were answered by part of their respondent groups; "
                "their value rests on the groups that answered",
            )
        )
    parts: list[str] = []
    total = 0
    for item, per_group in not_asked.items():
        for group, counts in per_group.items():
            count = int(counts[d]) if is_unit else int(counts.sum())
            if count:
                parts.append(f"{item}: {group} {count}")
                total += count
    if total:
        flags.append(FLAG_NOT_ASKED)
        warnings.append(
            bilingual(
                f"{place_vi}: {total} câu trả lời của nhóm đối tượng không được hỏi câu đó không được tính "
                f"({'; '.join(parts)})",
                f"{place_en}: {total} answers from respondent groups not asked the question were not counted",
            )
        )
    return flags


def _max_points(max_points: np.ndarray | None, d: int) -> float | None:
    if max_points is None or math.isnan(max_points[d]):
        return None
    return float(max_points[d])


def _unit_extra(
    unit: str,
    index: float | None,
    rank: int | None,
    previous: Mapping[str, tuple[float | None, int | None]],
    names: Mapping[str, str],
) -> dict[str, Any]:
    """A unit's rank and name, and its change since the previous period."""
    extra: dict[str, Any] = {"rank": rank, "name": names.get(unit)}
    if unit in previous:
        p_index, p_rank = previous[unit]
        extra["previous_index"] = p_index
        extra["previous_rank"] = p_rank
        if p_index is not None and index is not None:
            extra["change"] = index - p_index
        if p_rank is not None and rank is not None:
            extra["rank_change"] = p_rank - rank
    return extra


def _none_nan(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else v
