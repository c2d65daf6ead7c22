"""The scoring engine: responses table -> weights -> index per unit and for the whole area, with SE and CI.

Every choice of method comes from the questionnaire's :class:`~questionnaires.model.Scoring`
(methodology §5–§7); nothing is a constant here.

Estimates
---------
Each criterion item ``ℓ`` of a unit gives a ratio of weighted totals over its valid answers::

    R_ℓ = Σ w·g_ℓ·s_ℓ(y) / Σ w·g_ℓ·[y valid]

with ``g_ℓ`` the product of the gates on the path to the criterion and ``s_ℓ`` the answer's score:
``[y ∈ positive]`` (share_satisfied), ``(y - min)/(max - min)`` (mean_score) or the option's fraction of
the criterion's points (points; a code missing from ``values`` is not valid). A criterion is the mean
of its items' ratios. A node is the weighted mean of its children (node ``weight``); under the points
method children are combined by their maximum points, so the index is the sum of points as a share of
the maximum, and a criterion's points are ``max_points × value``. A child with no valid answer is left
out of its parent's mean (a criterion missing in a unit is flagged and named in the warnings). The
whole area pools the weighted totals of all units.

Uncertainty
-----------
The index is a smooth function of the weighted totals, so it is linearised through the tree (delta
method, the derivative of every mean with respect to its children, of every ratio with respect to its
totals); the variance of the linearised variable follows the stratified design with strata = cells
(:mod:`analysis.variance`). This equals R's ``svycontrast`` on ``svytotal`` of the item indicators for
``svydesign(ids = ~1, strata = ~cell, weights = ~w, fpc = ~N)`` (see ``tests/fixtures/analysis``).

Speed
-----
Answers are small integer codes; per cell and per answer code the weights are summed with
``np.bincount`` once per item, and the linearised variable is gathered from per-cell lookup tables. No
Python loop runs over responses or over units in the numerical part.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from questionnaires import (
    Level,
    Method,
    Questionnaire,
    QuestionnaireError,
    Role,
    ScoreNode,
    Scoring,
    load_questionnaire,
)
from questionnaires.expressions import Expression

from .data import (
    GROUP,
    STRATUM,
    ItemColumn,
    ResponseData,
    bilingual,
    canonical_text,
    number_text,
    prepare_responses,
    text_codes,
)
from .errors import ScoringError
from .results import (
    FLAG_BELOW_TARGET,
    FLAG_LONELY_CELL,
    FLAG_MISSING_CRITERIA,
    FLAG_NO_DATA,
    FLAG_SMALL_SAMPLE,
    IndexTable,
    UnitResult,
)
from .variance import cell_variance, fpc_factor, korn_graubard, slovin, stratified
from .weights import AreaProjection, Constraint, kish, kish_total, rake, residualise_nested, trim_weights

OVERALL = "overall"


# ------------------------------------------------------------------------------------------- plan
@dataclass
class _Node:
    idx: int
    node: ScoreNode
    parent: int | None
    children: list[int] = field(default_factory=list)  # non-leaf children (node indices)
    leaves: list[int] = field(default_factory=list)  # criteria: their items (leaf indices)
    combine: float = 1.0  # weight in the parent's mean
    points: float | None = None  # maximum points (points method)
    gates: tuple[int, ...] = ()  # nodes whose gate applies here: ancestors and self


@dataclass
class _Leaf:
    idx: int
    criterion: int
    item: str
    method: Method
    values: Mapping[str, float] | None  # points: option code -> fraction


@dataclass
class _Plan:
    scoring: Scoring
    nodes: list[_Node]  # pre-order: parents before children; root first
    leaves: list[_Leaf]
    points: bool

    @property
    def criteria(self) -> list[_Node]:
        return [n for n in self.nodes if n.node.level is Level.CRITERION]

    def items(self) -> list[str]:
        return list(dict.fromkeys(leaf.item for leaf in self.leaves))

    def gate_references(self) -> set[str]:
        refs: set[str] = set()
        for n in self.nodes:
            if n.node.gate is not None:
                refs |= set(n.node.gate.references)
        return refs


def _compile(scoring: Scoring) -> _Plan:
    points = scoring.method is Method.POINTS
    nodes: list[_Node] = []
    leaves: list[_Leaf] = []

    def visit(sn: ScoreNode, parent: int | None, gates: tuple[int, ...]) -> int:
        idx = len(nodes)
        n = _Node(idx, sn, parent)
        nodes.append(n)
        if sn.gate is not None:
            gates = (*gates, idx)
        n.gates = gates
        if sn.level is Level.CRITERION:
            method = sn.method or scoring.method
            values = sn.values or scoring.values if method is Method.POINTS else None
            for item in sn.items:
                leaves.append(_Leaf(len(leaves), idx, item, method, values))
                n.leaves.append(len(leaves) - 1)
            if points:
                if sn.max_points is None:
                    raise ScoringError(
                        bilingual(
                            f"tiêu chí {sn.code} cần max_points vì phiếu chấm theo điểm",
                            f"criterion {sn.code} needs max_points: the questionnaire scores by points",
                        )
                    )
                n.points = float(sn.max_points)
        else:
            for child in sn.children:
                n.children.append(visit(child, idx, gates))
            if points:
                total = sum(nodes[c].points or 0.0 for c in n.children)
                n.points = float(sn.max_points) if sn.max_points is not None else total
        return idx

    visit(scoring.tree, None, ())
    for n in nodes:
        n.combine = (n.points or 0.0) if points else float(n.node.weight)
    return _Plan(scoring, nodes, leaves, points)


def _leaf_tables(leaf: _Leaf, column: ItemColumn, scoring: Scoring) -> tuple[np.ndarray, np.ndarray]:
    """Score and validity of each code of the column (then 'no answer', then 'not counted')."""
    texts = column.texts
    size = len(texts) + 2
    s = np.zeros(size)
    v = np.zeros(size)
    if leaf.method is Method.SHARE_SATISFIED:
        valid, positive = set(scoring.valid), set(scoring.positive)
        for i, t in enumerate(texts):
            if t in valid:
                v[i] = 1.0
                s[i] = 1.0 if t in positive else 0.0
    elif leaf.method is Method.MEAN_SCORE:
        lo, hi = scoring.scale
        valid = set(scoring.valid)
        for i, t in enumerate(texts):
            if t not in valid:
                continue
            try:
                x = float(t)
            except ValueError:
                raise ScoringError(
                    bilingual(
                        f"câu {column.code}: mã hợp lệ {t!r} không phải là số "
                        "nên không tính được điểm trung bình",
                        f"item {column.code}: valid code {t!r} is not a number, so it has no mean score",
                    )
                ) from None
            if not lo <= x <= hi:
                raise ScoringError(
                    bilingual(
                        f"câu {column.code}: mã hợp lệ {t} nằm ngoài thang "
                        f"[{number_text(lo)}, {number_text(hi)}]",
                        f"item {column.code}: valid code {t} lies outside the scale",
                    )
                )
            v[i] = 1.0
            s[i] = (x - lo) / (hi - lo)
    else:
        values = leaf.values or {}
        for i, t in enumerate(texts):
            if t in values:
                v[i] = 1.0
                s[i] = float(values[t])
    return s, v


# ------------------------------------------------------------------------------------------ gates
def _evaluate_gate(expr: Expression, columns: Mapping[str, ItemColumn], n: int) -> np.ndarray:
    """Evaluate a gate for every response, once per distinct combination of the answers it reads."""
    refs = sorted(expr.references)
    if not refs:
        return np.full(n, bool(expr.truthy({})))
    cols = [columns[r] for r in refs]
    radices = [c.blank + 1 for c in cols]
    total = math.prod(radices)
    if len(cols) == 1 and total <= 256:
        # Few possible answers: judge each one, then compare codes (no per-response index arrays).
        codes = cols[0].codes
        outcome = [_gate_outcome(expr, refs, [v]) for v in cols[0].gate_values()]
        hits = [v for v, o in enumerate(outcome) if o]
        misses = [v for v, o in enumerate(outcome) if not o]
        if not hits or not misses:
            return np.full(n, bool(hits))
        invert = len(hits) > len(misses)
        mask = np.zeros(n, dtype=bool)
        for v in misses if invert else hits:
            mask |= codes == v
        return ~mask if invert else mask
    if len(cols) == 1:
        key = cols[0].codes.astype(np.intp)
        present = np.flatnonzero(np.bincount(key, minlength=total))
        inverse = None
    else:
        key = np.zeros(n, dtype=np.int64)
        stride = 1
        for c, r in zip(cols, radices, strict=True):
            key += c.codes.astype(np.int64) * stride
            stride *= r
        if total <= 4_000_000:
            present = np.flatnonzero(np.bincount(key, minlength=total))
            inverse = None
        else:
            present, inverse = np.unique(key, return_inverse=True)
    gate_values = [c.gate_values() for c in cols]
    outcome = np.zeros(len(present), dtype=bool)
    for j, combo in enumerate(present.tolist()):
        picked = []
        for vals, r in zip(gate_values, radices, strict=True):
            picked.append(vals[combo % r])
            combo //= r
        outcome[j] = _gate_outcome(expr, refs, picked)
    if inverse is not None:
        return outcome[inverse.reshape(-1)]
    lut = np.zeros(total, dtype=bool)
    lut[present] = outcome
    return np.take(lut, key)


def _gate_outcome(expr: Expression, refs: Sequence[str], values: Sequence[Any]) -> bool:
    """The gate for one combination of answers (None = not answered, as the kiosk sees it)."""
    answers = {ref: value for ref, value in zip(refs, values, strict=True) if value is not None}
    return bool(expr.truthy(answers))


PASS1_BLOCK = 1 << 20  # responses per block: the keys of a block stay in cache between steps
PASS2_BLOCK = 1 << 17


class _Blocks:
    """Walk the responses in blocks; :meth:`key` gives ``row_index * K + code`` of a pair for the block.

    ``row_index`` is the cell (pass 1: per-cell histograms) or the unit (pass 2: per-unit tables) of
    each response.
    """

    def __init__(
        self,
        n: int,
        cell: np.ndarray,
        pair_codes: Mapping[tuple[str, tuple[int, ...]], np.ndarray],
        pair_size: Mapping[tuple[str, tuple[int, ...]], int],
        size: int,
    ):
        self.n, self.cell, self.codes, self.sizes, self.size = n, cell, pair_codes, pair_size, size
        self.buffer = np.empty(min(size, max(n, 1)), dtype=np.intp)
        self.start = self.stop = 0
        self.offsets: dict[int, np.ndarray] = {}

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for start in range(0, self.n, self.size):
            self.start, self.stop = start, min(start + self.size, self.n)
            self.offsets = {}
            yield self.start, self.stop

    def key(self, pair: tuple[str, tuple[int, ...]]) -> np.ndarray:
        """``row_index * K + code`` for the block (in a buffer reused by the next call)."""
        K = self.sizes[pair]
        if K not in self.offsets:
            self.offsets[K] = self.cell[self.start : self.stop] * K
        out = self.buffer[: self.stop - self.start]
        np.add(self.offsets[K], self.codes[pair][self.start : self.stop], out=out)
        return out

    def code(self, pair: tuple[str, tuple[int, ...]]) -> np.ndarray:
        """The pair's codes for the block as indices (after :meth:`key`, which it overwrites)."""
        out = self.buffer[: self.stop - self.start]
        np.subtract(out, self.offsets[self.sizes[pair]], out=out)
        return out


# ------------------------------------------------------------------------------------------ frame
def _frame_cells(frame: pd.DataFrame) -> tuple[dict[tuple[str, str | None], float], bool, list[str]]:
    """Populations by (unit, stratum) from a frame table; the unit order of the frame."""
    where = f"{frame.attrs['source']}: " if frame.attrs.get("source") else ""
    cols = {str(c).strip(): frame.iloc[:, i] for i, c in enumerate(frame.columns)}
    missing = [c for c in ("unit", "population") if c not in cols]
    if missing:
        raise ScoringError(
            where
            + bilingual(
                f"khung mẫu thiếu cột {', '.join(missing)}", f"the frame lacks column(s) {', '.join(missing)}"
            )
        )
    by_stratum = "stratum" in cols
    rows = frame.index.tolist() if frame.attrs.get("row_numbers") else list(range(1, len(frame) + 1))
    unit_codes, unit_labels = text_codes(cols["unit"])
    if by_stratum:
        stratum_codes, stratum_labels = text_codes(cols["stratum"])
    else:
        stratum_codes, stratum_labels = np.zeros(len(frame), dtype=np.int64), [None]
    raw_population = cols["population"]
    if pd.api.types.is_numeric_dtype(raw_population.dtype) and not pd.api.types.is_bool_dtype(
        raw_population.dtype
    ):
        populations = raw_population.to_numpy(dtype=float, na_value=np.nan)
    else:
        texts = [canonical_text(v) for v in raw_population.tolist()]
        populations = np.array([_to_float(t) for t in texts], dtype=float)
    bad_population = ~np.isfinite(populations) | (populations < 0)
    problems: list[str] = []
    for pos in np.flatnonzero((unit_codes < 0) | (stratum_codes < 0) | bad_population)[:20].tolist():
        row = rows[pos]
        if unit_codes[pos] < 0:
            problems.append(bilingual(f"dòng {row}: unit để trống", f"row {row}: blank unit"))
        elif stratum_codes[pos] < 0:
            problems.append(bilingual(f"dòng {row}: stratum để trống", f"row {row}: blank stratum"))
        else:
            raw = raw_population.iat[pos]
            problems.append(
                bilingual(
                    f"dòng {row}: population {raw!r} phải là số không âm",
                    f"row {row}: population must be a number >= 0",
                )
            )
    keys = unit_codes * len(stratum_labels) + stratum_codes
    duplicated = (
        pd.Series(keys).duplicated(keep="first").to_numpy() & (unit_codes >= 0) & (stratum_codes >= 0)
    )
    for pos in np.flatnonzero(duplicated)[:20].tolist():
        stratum = stratum_labels[stratum_codes[pos]]
        label = f"{unit_labels[unit_codes[pos]]}/{stratum}" if by_stratum else unit_labels[unit_codes[pos]]
        problems.append(
            bilingual(f"dòng {rows[pos]}: ô {label} bị lặp", f"row {rows[pos]}: cell {label} appears twice")
        )
    cells: dict[tuple[str, str | None], float] = {}
    if not problems:
        unit_text = [unit_labels[c] for c in unit_codes.tolist()]
        stratum_text = [stratum_labels[c] for c in stratum_codes.tolist()]
        cells = dict(zip(zip(unit_text, stratum_text, strict=True), populations.tolist(), strict=True))
        order = list(dict.fromkeys(unit_text))
    if problems:
        raise ScoringError(
            where + bilingual("khung mẫu có lỗi", "the frame has errors") + ": " + "; ".join(problems[:20])
        )
    if not cells:
        raise ScoringError(where + bilingual("khung mẫu trống", "the frame is empty"))
    return cells, by_stratum, order


def _to_float(text: str | None) -> float:
    if text is None:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


# ------------------------------------------------------------------------------------------ score
def score(
    questionnaire: Questionnaire | str,
    responses: pd.DataFrame,
    frame: pd.DataFrame | None = None,
    margins: pd.DataFrame | None = None,
    previous: IndexTable | pd.DataFrame | None = None,
    targets: Mapping[str, int] | None = None,
    unit_names: Mapping[str, str] | None = None,
    confidence: float = 0.95,
    *,
    units: Sequence[str] | None = None,
    min_n: int | None = None,
    margin_of_error: float = 0.05,
    rank_probability: bool = False,
    draws: int = 1000,
    seed: int = 20231,
    trim: tuple[float, float] | None = None,
    max_iterations: int = 1000,
    tolerance: float = 1e-10,
) -> IndexTable:
    """Score a responses table: index per unit and for the whole area, with SE, CI, rank and flags.

    Parameters
    ----------
    questionnaire
        The questionnaire (or its id); its ``scoring`` says how answers become the index.
    responses
        The responses table: ``response_id``, ``unit``, optional ``stratum`` and ``group``, then one
        column per item code (see :mod:`analysis.io`).
    frame
        Sampling frame: ``unit``, optional ``stratum``, ``population``. Gives design weights
        ``N_h/n_h`` and the finite population correction; without it every response weighs 1.
    margins
        Known totals ``variable, category, population`` (optional ``unit``): post-stratification for one
        variable, raking for several.
    previous
        Results of an earlier period: the change in index and in rank is reported.
    targets
        Target number of responses per unit; by default Slovin's ``N/(1 + N e²)`` from the frame.
    unit_names
        Display names of the units.
    confidence
        Coverage of the confidence intervals.
    units
        The units expected (a unit list): responses from another unit are an error, and a listed unit
        without responses is reported with ``no_data``.
    min_n
        Units with fewer responses are flagged ``small_sample``; default ``Scoring.min_n``.
    margin_of_error
        ``e`` in Slovin's formula.
    rank_probability
        Also estimate, by simulation from normal(index, se), the probability that a unit's true rank is
        within one place of its shown rank.
    draws, seed
        Simulation size and seed (fixed, so results repeat).
    trim
        Bounds on the calibration factor (calibrated / design weight), as R's ``calibrate(trim=)``.
    max_iterations, tolerance
        Raking convergence settings.

    Returns
    -------
    IndexTable

    Raises
    ------
    ScoringError
        For any input the engine cannot use; the message names file, rows, columns and items.
    """
    q = _questionnaire(questionnaire)
    if q.scoring is None:
        raise ScoringError(
            bilingual(
                f"phiếu {q.id} không có phần tính điểm (scoring)", f"questionnaire {q.id} has no scoring"
            )
        )
    if not 0 < confidence < 1:
        raise ScoringError(
            bilingual("mức tin cậy phải nằm giữa 0 và 1", "confidence must lie between 0 and 1")
        )
    sc = q.scoring
    plan = _compile(sc)
    warnings: list[str] = []

    # -- input
    frame_cells: dict[tuple[str, str | None], float] | None = None
    by_stratum = False
    frame_order: list[str] = []
    if frame is not None:
        frame_cells, by_stratum, frame_order = _frame_cells(frame)
    columns = {str(c).strip() for c in responses.columns} if isinstance(responses, pd.DataFrame) else set()
    role_alias = {}
    for role, meta in ((Role.STRATUM, STRATUM), (Role.GROUP, GROUP)):
        item = q.role_item(role)
        if item is not None and item.code not in columns and meta in columns:
            role_alias[item.code] = meta
    gate_refs = plan.gate_references()
    needed = [*plan.items(), *sorted(r for r in gate_refs if r not in role_alias)]
    group_weights = {g: float(w) for g, w in sc.group_weights.items()}
    data = prepare_responses(
        q, responses, needed_items=needed, stratum_required=by_stratum, group_required=bool(group_weights)
    )
    where = data.where()
    item_columns = dict(data.items)
    for code, meta in role_alias.items():
        arr, labels = (data.stratum, data.strata) if meta == STRATUM else (data.group, data.groups)
        if arr is not None and labels is not None:
            item_columns[code] = ItemColumn(code, "choice", np.where(arr < 0, len(labels), arr), list(labels))

    # -- units and cells
    unit_order = _unit_order(units, frame_order, data, frame_cells, where)
    U = len(unit_order)
    unit_pos = {u: i for i, u in enumerate(unit_order)}
    unit_of_code = np.array([unit_pos[u] for u in data.units], dtype=np.intp)
    unit_row = np.take(unit_of_code, data.unit.astype(np.intp))
    n = data.n
    if by_stratum:
        assert data.stratum is not None and data.strata is not None
        S = len(data.strata)
        key = unit_row * S
        key += data.stratum
    else:
        S = 1
        key = unit_row
    counts = np.bincount(key, minlength=U * S)
    present = np.flatnonzero(counts)
    H = len(present)
    lut = np.full(U * S, -1, dtype=np.intp)
    lut[present] = np.arange(H, dtype=np.intp)
    cell = np.take(lut, key)
    del key, lut
    cell_unit = present // S
    cell_stratum = present % S
    n_h = counts[present].astype(float)
    n_unit = np.bincount(unit_row, minlength=U)

    population_h: np.ndarray | None = None
    unit_population: np.ndarray | None = None
    if frame_cells is not None:
        population_h, unit_population = _populations(
            frame_cells, by_stratum, unit_order, cell_unit, cell_stratum, data, n_h, where, warnings
        )
    design_h = population_h / n_h if population_h is not None else np.ones(H)
    f_h = fpc_factor(n_h, population_h)
    design = np.take(design_h, cell)

    # -- calibration: group weights and margins
    constraints: list[Constraint] = []
    weighting = "design" if frame_cells is not None else "none"
    group_weighted = False
    if group_weights:
        c = _group_constraint(group_weights, data, unit_row, U, unit_order, design, where, warnings)
        if c is not None:
            constraints.append(c)
            group_weighted = True
    margin_constraints: list[Constraint] = []
    if margins is not None:
        margin_constraints = _margin_constraints(margins, data, item_columns, unit_row, unit_order, design)
        constraints.extend(margin_constraints)
        weighting = "poststratified" if len({c.name for c in margin_constraints}) == 1 else "raked"
    nested = [c for c in constraints if c.nested]
    area = [c for c in constraints if not c.nested]
    if nested and area:
        raise ScoringError(
            bilingual(
                "không kết hợp được biên cho toàn vùng với trọng số nhóm hoặc biên theo từng đơn vị",
                "area-wide margins cannot be combined with group_weights or per-unit margins",
            )
        )
    if constraints:
        weight, _ = rake(design, constraints, max_iterations, tolerance)
        if trim is not None and margin_constraints:
            weight, trimmed = trim_weights(weight, design, trim)
            if trimmed:
                warnings.append(
                    bilingual(
                        f"{trimmed} trọng số bị cắt về giới hạn {trim}; các biên chỉ còn đúng gần đúng",
                        f"{trimmed} weights were trimmed to {trim}; the margins now hold approximately",
                    )
                )
        constant_in_cell = False
    else:
        weight = design
        constant_in_cell = True

    # -- gates: one mask per gated node, combined along each path
    gate_masks: dict[int, np.ndarray] = {}
    for nd in plan.nodes:
        if nd.node.gate is not None:
            gate_masks[nd.idx] = _evaluate_gate(nd.node.gate, item_columns, n)
    pairs: dict[tuple[str, tuple[int, ...]], list[int]] = {}
    for leaf in plan.leaves:
        pairs.setdefault((leaf.item, plan.nodes[leaf.criterion].gates), []).append(leaf.idx)
    pair_codes: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
    pair_size: dict[tuple[str, tuple[int, ...]], int] = {}
    for item, path in pairs:
        column = data.items[item]
        codes = column.codes
        if path:
            mask = gate_masks[path[0]]
            for g in path[1:]:
                mask = mask & gate_masks[g]
            # responses outside the gates move to the extra 'not counted' code
            codes = np.where(mask, codes, column.blank + 1).astype(codes.dtype, copy=False)
        pair_codes[(item, path)] = codes
        pair_size[(item, path)] = column.blank + 2
    del gate_masks

    # -- pass 1: weighted totals per cell and answer code
    L = len(plan.leaves)
    D = U + 1  # every unit, then the whole area
    tables = {leaf.idx: _leaf_tables(leaf, data.items[leaf.item], sc) for leaf in plan.leaves}
    multi = {nd.idx for nd in plan.criteria if len(nd.leaves) > 1}
    any_valid = {c: np.zeros(n, dtype=bool) for c in multi}
    counts_hk = {pair: np.zeros(H * K, dtype=np.int64) for pair, K in pair_size.items()}
    weighted_hk = {pair: np.zeros(H * K) for pair, K in pair_size.items()} if not constant_in_cell else {}
    blocks = _Blocks(n, cell, pair_codes, pair_size, PASS1_BLOCK)
    for start, stop in blocks:
        for pair, leaf_ids in pairs.items():
            key = blocks.key(pair)
            K = pair_size[pair]
            counts_hk[pair] += np.bincount(key, minlength=H * K)
            if not constant_in_cell:
                weighted_hk[pair] += np.bincount(key, weights=weight[start:stop], minlength=H * K)
            for li in leaf_ids:
                crit = plan.leaves[li].criterion
                if crit in any_valid:
                    any_valid[crit][start:stop] |= np.take(np.tile(tables[li][1], H), key) > 0
    Y = np.zeros((D, L))
    X = np.zeros((D, L))
    valid_n = np.zeros((D, L))
    hists: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
    for pair, leaf_ids in pairs.items():
        K = pair_size[pair]
        count = counts_hk.pop(pair).reshape(H, K).astype(float)
        hist = count * design_h[:, None] if constant_in_cell else weighted_hk.pop(pair).reshape(H, K)
        hists[pair] = hist
        for li in leaf_ids:
            s_lut, v_lut = tables[li]
            for arr, per_cell in ((Y, hist @ s_lut), (X, hist @ v_lut), (valid_n, count @ v_lut)):
                arr[:U, li] = np.bincount(cell_unit, weights=per_cell, minlength=U)
                arr[U, li] = per_cell.sum()

    # -- the tree, per domain, with derivatives
    tree = _evaluate_tree(plan, Y, X)

    # -- linearised variables: per pair, a table of z by (cell, code) for the own unit and for the area
    safe_x = np.where(X > 0, X, 1.0)
    slope = np.where(tree.leaf_derivative != 0, tree.leaf_derivative / safe_x, 0.0)
    ratio = np.where(X > 0, Y / safe_x, 0.0)
    unit_tables: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
    area_tables: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
    sum_unit = np.zeros(H)  # Σ w z per cell, known from the histograms before touching responses again
    sum_area = np.zeros(H)
    for pair, leaf_ids in pairs.items():
        K = pair_size[pair]
        table = np.zeros((D, K))
        for li in leaf_ids:
            s_lut, v_lut = tables[li]
            table += slope[:, li, None] * (s_lut[None, :] - ratio[:, li, None] * v_lut[None, :])
        per_cell = table[cell_unit]
        unit_tables[pair] = table[:U].ravel()  # keyed by unit × code: small enough to stay in cache
        area_tables[pair] = table[U].copy()  # keyed by code alone
        sum_unit += (hists[pair] * per_cell).sum(axis=1)
        sum_area += hists[pair] @ table[U]
    del hists

    # -- pass 2: the variance of each unit's index and of the area's
    if constraints:
        z_unit = np.zeros(n)
        z_area = np.zeros(n)
    else:
        mean_unit = sum_unit / n_h  # of a = w z, per cell
        mean_area = sum_area / n_h
        dev_unit = np.zeros(H)
        dev_area = np.zeros(H)
    gathered = np.empty(PASS2_BLOCK)
    zu_block = np.empty(PASS2_BLOCK)
    za_block = np.empty(PASS2_BLOCK)
    blocks = _Blocks(n, unit_row, pair_codes, pair_size, PASS2_BLOCK)
    for start, stop in blocks:
        m = stop - start
        zu, za, g = zu_block[:m], za_block[:m], gathered[:m]
        zu.fill(0.0)
        za.fill(0.0)
        for pair in pairs:
            key = blocks.key(pair)
            np.take(unit_tables[pair], key, out=g)
            zu += g
            np.take(area_tables[pair], blocks.code(pair), out=g)
            za += g
        if constraints:
            z_unit[start:stop] = zu
            z_area[start:stop] = za
            continue
        cells = cell[start:stop]
        w = np.take(design_h, cells)
        zu *= w
        zu -= np.take(mean_unit, cells)
        np.multiply(zu, zu, out=zu)
        dev_unit += np.bincount(cells, weights=zu, minlength=H)
        za *= w
        za -= np.take(mean_area, cells)
        np.multiply(za, za, out=za)
        dev_area += np.bincount(cells, weights=za, minlength=H)
    del gathered, zu_block, za_block, unit_tables, area_tables, pair_codes
    if constraints:
        if nested:
            z_unit = residualise_nested(z_unit, constraints, design)
            z_area = residualise_nested(z_area, constraints, design)
        if area:
            var_unit, var_h_area = _area_calibrated_variance(
                z_unit, z_area, area, design, weight, cell, cell_unit, unit_row, n_h, f_h, U
            )
        else:
            z_unit *= weight
            z_area *= weight
            var_unit = np.bincount(cell_unit, weights=cell_variance(z_unit, cell, n_h, f_h), minlength=U)
            var_h_area = cell_variance(z_area, cell, n_h, f_h)
        del z_unit, z_area
    else:
        var_unit = np.bincount(cell_unit, weights=stratified(sum_unit, dev_unit, n_h, f_h), minlength=U)
        var_h_area = stratified(sum_area, dev_area, n_h, f_h)
    variance = np.maximum(np.append(var_unit, var_h_area.sum()), 0.0)

    # -- sizes, design effects, intervals
    n_dom = np.append(n_unit, n).astype(float)
    cells_dom = np.append(np.bincount(cell_unit, minlength=U), H).astype(float)
    df_dom = n_dom - cells_dom
    if constant_in_cell:
        n_eff, deff = _kish_cells(design_h, n_h, cell_unit, U)
    else:
        n_eff_u, deff_u = kish(weight, unit_row, U)
        n_eff_all, deff_all = kish_total(weight)
        n_eff = np.append(n_eff_u, n_eff_all)
        deff = np.append(deff_u, deff_all)
    census_h = f_h == 0
    not_census = np.bincount(cell_unit, weights=(~census_h).astype(float), minlength=U)
    census = np.append((not_census == 0) & (n_unit > 0), bool(census_h.all()))
    p = tree.value[:, 0]
    low, high = korn_graubard(p, variance, n_dom, df_dom, n_eff, census, confidence)
    se = np.sqrt(variance)
    lonely_units = set(cell_unit[(n_h == 1) & (f_h > 0)].tolist())

    # -- results
    min_n_value = sc.min_n if min_n is None else int(min_n)
    index = tree.value[:, 0] * 100.0
    ranks = _competition_rank_array(index[:U], sc.decimals)
    probability = (
        _rank_probability_array(index[:U], se[:U] * 100.0, ranks, draws, seed) if rank_probability else None
    )
    estimates = _Estimates(
        index=index,
        se=se * 100.0,
        low=low * 100.0,
        high=high * 100.0,
        n=n_dom,
        df=df_dom,
        deff=deff,
        n_eff=n_eff,
        ranks=ranks,
        rank_probability=probability,
        valid_n=valid_n,
        any_valid={c: np.bincount(unit_row, weights=v, minlength=U) for c, v in any_valid.items()},
        population=unit_population,
        lonely_units=lonely_units,
    )
    unit_results, overall = _assemble(
        plan,
        tree,
        unit_order,
        estimates,
        _targets(targets, unit_order, unit_population, margin_of_error),
        min_n_value,
        _previous_lookup(previous),
        dict(unit_names or {}),
        warnings,
    )
    if lonely_units:
        listed = ", ".join(sorted(unit_order[u] for u in lonely_units)[:10])
        warnings.append(
            bilingual(
                f"có ô (đơn vị × tầng) chỉ có 1 phiếu; phương sai tính theo cách 'adjust' của R: {listed}",
                "some cells have a single response; their variance follows R's lonely.psu = 'adjust'",
            )
        )
    return IndexTable(
        questionnaire=q.id,
        version=q.version,
        method=sc.method.value,
        units=tuple(unit_results),
        overall=overall,
        warnings=tuple(warnings),
        weighting=weighting,
        ci_method="korn-graubard",
        confidence=confidence,
        labels=MappingProxyType({nd.node.code: nd.node.label.vi for nd in plan.nodes}),
        levels=MappingProxyType({nd.node.code: nd.node.level.value for nd in plan.nodes}),
        group_weighted=group_weighted,
        decimals=sc.decimals,
        min_n=min_n_value,
    )


def _questionnaire(ref: Questionnaire | str) -> Questionnaire:
    if isinstance(ref, Questionnaire):
        return ref
    try:
        return load_questionnaire(ref)
    except QuestionnaireError as exc:
        raise ScoringError(str(exc)) from None


def _unit_order(
    units: Sequence[str] | None,
    frame_order: list[str],
    data: ResponseData,
    frame_cells: Mapping[tuple[str, str | None], float] | None,
    where: str,
) -> list[str]:
    order: list[str] = []
    if units is not None:
        order = [str(u) for u in units]
        known = set(order)
        stray = [u for u in data.units if u not in known]
        if stray:
            raise ScoringError(
                where
                + bilingual(
                    f"phiếu của đơn vị không có trong danh sách đơn vị: {', '.join(stray[:10])}",
                    "responses from units that are not in the unit list",
                )
            )
        extra = [u for u in frame_order if u not in known]
        if extra:
            raise ScoringError(
                bilingual(
                    f"khung mẫu có đơn vị không có trong danh sách đơn vị: {', '.join(extra[:10])}",
                    "the frame names units that are not in the unit list",
                )
            )
    if frame_cells is not None:
        in_frame = set(frame_order)
        stray = [u for u in data.units if u not in in_frame]
        if stray:
            raise ScoringError(
                where
                + bilingual(
                    f"đơn vị có phiếu nhưng không có trong khung mẫu: {', '.join(stray[:10])}",
                    "units with responses are missing from the frame",
                )
            )
        seen = set(order)
        order += [u for u in frame_order if u not in seen]
    seen = set(order)
    order += [u for u in data.units if u not in seen]
    return order


def _populations(
    frame_cells: Mapping[tuple[str, str | None], float],
    by_stratum: bool,
    unit_order: list[str],
    cell_unit: np.ndarray,
    cell_stratum: np.ndarray,
    data: ResponseData,
    n_h: np.ndarray,
    where: str,
    warnings: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    H = len(n_h)
    population = np.zeros(H)
    missing: list[str] = []
    over: list[str] = []
    seen: set[tuple[str, str | None]] = set()
    for h in range(H):
        unit = unit_order[int(cell_unit[h])]
        stratum = data.strata[int(cell_stratum[h])] if by_stratum and data.strata is not None else None
        key = (unit, stratum)
        label = f"{unit}/{stratum}" if by_stratum else unit
        if key not in frame_cells:
            missing.append(f"{label} ({int(n_h[h])})")
            continue
        seen.add(key)
        population[h] = frame_cells[key]
        if n_h[h] > population[h]:
            over.append(f"{label}: n={int(n_h[h])} > N={number_text(population[h])}")
    if missing:
        raise ScoringError(
            where
            + bilingual(
                f"ô có phiếu nhưng khung mẫu không có số phục vụ: {', '.join(missing[:10])}",
                "cells (unit/stratum) with responses have no population in the frame",
            )
        )
    if over:
        raise ScoringError(
            bilingual(
                f"số phiếu nhiều hơn số người được phục vụ trong khung mẫu: {'; '.join(over[:10])}",
                "more responses than the population served in the frame",
            )
        )
    unit_population = np.zeros(len(unit_order))
    pos = {u: i for i, u in enumerate(unit_order)}
    empty: dict[str, list[str]] = {}
    for (unit, stratum), N in frame_cells.items():
        unit_population[pos[unit]] += N
        if (unit, stratum) not in seen and N > 0:
            empty.setdefault(unit, []).append(stratum or "")
    for unit, strata in empty.items():
        if by_stratum and len(strata) and any(s for s in strata):
            has_any = any(k[0] == unit for k in seen)
            if has_any:
                warnings.append(
                    bilingual(
                        f"đơn vị {unit}: tầng {', '.join(strata)} có trong khung mẫu nhưng không có phiếu; "
                        "chỉ số "
                        "chỉ đại diện cho các tầng có phiếu",
                        f"unit {unit}: frame strata without responses; "
                        "the index represents the other strata only",
                    )
                )
                continue
        warnings.append(
            bilingual(
                f"đơn vị {unit} có trong khung mẫu nhưng không có phiếu nào", f"unit {unit} has no responses"
            )
        )
    return population, unit_population


def _group_constraint(
    group_weights: Mapping[str, float],
    data: ResponseData,
    unit_row: np.ndarray,
    U: int,
    unit_order: list[str],
    design: np.ndarray,
    where: str,
    warnings: list[str],
) -> Constraint | None:
    assert data.group is not None and data.groups is not None
    groups = data.groups
    unknown = [g for g in groups if g not in group_weights]
    if unknown:
        pos = np.flatnonzero(np.isin(data.group, [groups.index(g) for g in unknown]))
        raise ScoringError(
            where
            + bilingual(
                f"nhóm {', '.join(unknown)} không có trọng số trong group_weights",
                "respondent groups without a weight in group_weights",
            )
            + ": "
            + data.rows.describe(pos)
        )
    G = len(groups)
    if G == 0:
        return None
    share = np.array([group_weights[g] for g in groups], dtype=float)
    key = unit_row.astype(np.int64) * G + data.group
    total_w = np.bincount(key, weights=design, minlength=U * G).reshape(U, G)
    present = np.bincount(key, minlength=U * G).reshape(U, G) > 0
    shares = np.where(present, share[None, :], 0.0)
    norm = shares.sum(axis=1, keepdims=True)
    unit_total = total_w.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        target = np.where(norm > 0, shares / np.where(norm > 0, norm, 1.0), 0.0) * unit_total
    has = np.bincount(unit_row, minlength=U) > 0
    for u in np.flatnonzero(has & (norm[:, 0] == 0)).tolist():
        warnings.append(
            bilingual(
                f"đơn vị {unit_order[u]}: mọi nhóm có phiếu đều có trọng số 0 nên không có điểm",
                f"unit {unit_order[u]}: every group present has weight 0, so it has no score",
            )
        )
    lacking = has[:, None] & ~present & (share[None, :] > 0)
    for u in np.flatnonzero(lacking.any(axis=1) & (norm[:, 0] > 0)).tolist():
        missing = [groups[g] for g in np.flatnonzero(lacking[u]).tolist()]
        warnings.append(
            bilingual(
                f"đơn vị {unit_order[u]}: không có phiếu của nhóm {', '.join(missing)}; "
                "điểm chỉ dựa trên các nhóm còn lại",
                f"unit {unit_order[u]}: no responses from group(s) {', '.join(missing)}; "
                "the score rests on the others",
            )
        )
    cell_present = np.flatnonzero(present.ravel())
    compact = np.full(U * G, -1, dtype=np.int64)
    compact[cell_present] = np.arange(len(cell_present))
    return Constraint("group_weights", compact[key], target.ravel()[cell_present], nested=True)


def _margin_constraints(
    margins: pd.DataFrame,
    data: ResponseData,
    item_columns: Mapping[str, ItemColumn],
    unit_row: np.ndarray,
    unit_order: list[str],
    design: np.ndarray,
) -> list[Constraint]:
    source = margins.attrs.get("source")
    where = f"{source}: " if source else ""
    cols = {str(c).strip(): margins.iloc[:, i] for i, c in enumerate(margins.columns)}
    missing = [c for c in ("variable", "category", "population") if c not in cols]
    if missing:
        raise ScoringError(
            where
            + bilingual(
                f"bảng biên thiếu cột {', '.join(missing)}",
                f"the margins lack column(s) {', '.join(missing)}",
            )
        )
    per_unit = "unit" in cols
    numbered = bool(margins.attrs.get("row_numbers"))
    unit_pos = {u: i for i, u in enumerate(unit_order)}
    U = len(unit_order)
    rows_by_var: dict[str, list[tuple[int, str, int, float]]] = {}
    problems: list[str] = []
    for pos in range(len(margins)):
        row = int(margins.index[pos]) if numbered else pos + 1
        variable = canonical_text(cols["variable"].iat[pos])
        category = canonical_text(cols["category"].iat[pos])
        text = canonical_text(cols["population"].iat[pos])
        try:
            population = float(text) if text is not None else math.nan
        except ValueError:
            population = math.nan
        unit = canonical_text(cols["unit"].iat[pos]) if per_unit else None
        if variable is None or category is None:
            problems.append(
                bilingual(
                    f"dòng {row}: thiếu variable hoặc category", f"row {row}: blank variable or category"
                )
            )
            continue
        if not math.isfinite(population) or population < 0:
            problems.append(
                bilingual(
                    f"dòng {row}: population phải là số không âm", f"row {row}: population must be >= 0"
                )
            )
            continue
        u = -1
        if per_unit:
            if unit is None or unit not in unit_pos:
                problems.append(
                    bilingual(
                        f"dòng {row}: đơn vị {unit!r} không có trong dữ liệu",
                        f"row {row}: unknown unit {unit!r}",
                    )
                )
                continue
            u = unit_pos[unit]
        rows_by_var.setdefault(variable, []).append((row, category, u, population))
    if problems:
        raise ScoringError(where + "; ".join(problems[:10]))
    constraints: list[Constraint] = []
    for variable, rows in rows_by_var.items():
        parts = variable.split(":")
        part_cols: list[ItemColumn] = []
        for part in parts:
            column = item_columns.get(part)
            if column is None and part == STRATUM and data.stratum is not None and data.strata is not None:
                column = ItemColumn(
                    part, "choice", np.where(data.stratum < 0, len(data.strata), data.stratum), data.strata
                )
            if column is None and part == GROUP and data.group is not None and data.groups is not None:
                column = ItemColumn(
                    part, "choice", np.where(data.group < 0, len(data.groups), data.group), data.groups
                )
            if column is None or column.kind == "multiple":
                raise ScoringError(
                    where
                    + bilingual(
                        f"biến biên {part!r} không phải là cột một lựa chọn, "
                        "stratum hay group của bảng phiếu",
                        f"margin variable {part!r} is not a single-choice column, "
                        "stratum or group of the responses",
                    )
                )
            blank = np.flatnonzero(column.codes == column.blank)
            if len(blank):
                raise ScoringError(
                    where
                    + bilingual(
                        f"có phiếu không trả lời {part}, nên không hiệu chỉnh theo biên được",
                        f"responses without a value for margin variable {part}",
                    )
                    + ": "
                    + data.rows.describe(blank)
                )
            part_cols.append(column)
        sizes = [c.blank for c in part_cols]
        n_cat = math.prod(sizes)
        key = np.zeros(data.n, dtype=np.int64)
        stride = 1
        for c, size in zip(part_cols, sizes, strict=True):
            key += c.codes.astype(np.int64) * stride
            stride *= size
        if per_unit:
            key = unit_row.astype(np.int64) * n_cat + key
            space = U * n_cat
        else:
            space = n_cat
        lookups = [{t: i for i, t in enumerate(c.texts)} for c in part_cols]
        targets = np.full(space, np.nan)
        for row, category, u, population in rows:
            pieces = category.split(":")
            if len(pieces) != len(parts):
                raise ScoringError(
                    where
                    + bilingual(
                        f"dòng {row}: category {category!r} phải có {len(parts)} phần nối bằng ':'",
                        f"row {row}: the category needs {len(parts)} parts joined by ':'",
                    )
                )
            code = 0
            stride = 1
            found = True
            for piece, lookup, size in zip(pieces, lookups, sizes, strict=True):
                idx = lookup.get(piece)
                if idx is None:
                    alt = canonical_text(piece)
                    idx = lookup.get(alt) if alt is not None else None
                if idx is None:
                    found = False
                    break
                code += idx * stride
                stride *= size
            if not found:
                if population > 0:
                    raise ScoringError(
                        where
                        + bilingual(
                            f"dòng {row}: {variable} = {category} có population "
                            f"{number_text(population)} nhưng "
                            "không có phiếu nào; hãy gộp nhóm này với nhóm bên cạnh",
                            "a margin category has a population but no responses; merge it with a neighbour",
                        )
                    )
                continue
            slot = (u * n_cat + code) if per_unit else code
            if not np.isnan(targets[slot]):
                raise ScoringError(
                    where
                    + bilingual(
                        f"dòng {row}: {variable} = {category} bị lặp", f"row {row}: duplicated margin"
                    )
                )
            targets[slot] = population
        sample = np.bincount(key, minlength=space)
        absent = np.flatnonzero((sample > 0) & np.isnan(targets))
        if len(absent):
            shown = [_margin_label(int(s), per_unit, n_cat, part_cols, sizes, unit_order) for s in absent[:5]]
            raise ScoringError(
                where
                + bilingual(
                    f"có phiếu với {variable} = {', '.join(shown)} nhưng bảng biên không cho population",
                    "responses fall in margin categories that the margins do not give",
                )
            )
        empty = np.flatnonzero((sample == 0) & (np.nan_to_num(targets) > 0))
        if len(empty):
            shown = [_margin_label(int(s), per_unit, n_cat, part_cols, sizes, unit_order) for s in empty[:5]]
            raise ScoringError(
                where
                + bilingual(
                    f"{variable} = {', '.join(shown)} có population nhưng không có phiếu; "
                    "hãy gộp với nhóm bên cạnh",
                    "margin categories with a population but no responses; merge them with a neighbour",
                )
            )
        zero = np.flatnonzero((sample > 0) & (targets == 0))
        if len(zero):
            shown = [_margin_label(int(s), per_unit, n_cat, part_cols, sizes, unit_order) for s in zero[:5]]
            raise ScoringError(
                where
                + bilingual(
                    f"{variable} = {', '.join(shown)} có phiếu nhưng population bằng 0",
                    "margin categories with responses have population 0",
                )
            )
        used = np.flatnonzero(sample > 0)
        compact = np.full(space, -1, dtype=np.int64)
        compact[used] = np.arange(len(used))
        constraints.append(Constraint(variable, compact[key], targets[used], nested=per_unit))
    _check_margin_totals(constraints, unit_row, U, unit_order, per_unit, where)
    return constraints


def _margin_label(
    slot: int, per_unit: bool, n_cat: int, cols: list[ItemColumn], sizes: list[int], unit_order: list[str]
) -> str:
    prefix = ""
    if per_unit:
        prefix = f"{unit_order[slot // n_cat]}/"
        slot %= n_cat
    pieces = []
    for c, size in zip(cols, sizes, strict=True):
        pieces.append(c.texts[slot % size])
        slot //= size
    return prefix + ":".join(pieces)


def _check_margin_totals(
    constraints: list[Constraint],
    unit_row: np.ndarray,
    U: int,
    unit_order: list[str],
    per_unit: bool,
    where: str,
) -> None:
    if len(constraints) < 2:
        return
    totals = []
    for c in constraints:
        if per_unit:
            # the unit of each compact category: take it from any response in it
            first = np.full(c.size, -1, dtype=np.int64)
            first[c.factor[::-1]] = unit_row[::-1]
            totals.append(np.bincount(first, weights=c.targets, minlength=U))
        else:
            totals.append(np.array([c.targets.sum()]))
    base = totals[0]
    for c, t in zip(constraints[1:], totals[1:], strict=True):
        bad = np.flatnonzero(np.abs(t - base) > 1e-6 * np.maximum(np.abs(base), 1.0))
        if len(bad):
            if per_unit:
                u = int(bad[0])
                detail = (
                    f"{unit_order[u]}: {constraints[0].name} = {number_text(base[u])}, "
                    f"{c.name} = {number_text(t[u])}"
                )
            else:
                detail = f"{constraints[0].name} = {number_text(base[0])}, {c.name} = {number_text(t[0])}"
            raise ScoringError(
                where
                + bilingual(
                    f"tổng các biên không bằng nhau ({detail})", "the margins do not add up to the same total"
                )
            )


# ------------------------------------------------------------------------------------------- tree
@dataclass
class _Tree:
    value: np.ndarray  # (D, nodes): node values on the 0-1 scale, NaN where not computable
    available: np.ndarray  # (D, nodes)
    leaf_value: np.ndarray  # (D, L)
    leaf_derivative: np.ndarray  # (D, L): d index / d leaf ratio


def _evaluate_tree(plan: _Plan, Y: np.ndarray, X: np.ndarray) -> _Tree:
    D, L = Y.shape
    N = len(plan.nodes)
    leaf_ok = X > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(leaf_ok, Y / np.where(leaf_ok, X, 1.0), np.nan)
    value = np.full((D, N), np.nan)
    ok = np.zeros((D, N), dtype=bool)
    den = np.zeros((D, N))
    for nd in reversed(plan.nodes):  # children before parents
        num = np.zeros(D)
        d = np.zeros(D)
        if nd.leaves:
            for li in nd.leaves:
                num += np.where(leaf_ok[:, li], ratio[:, li], 0.0)
                d += leaf_ok[:, li]
        else:
            for c in nd.children:
                cw = plan.nodes[c].combine
                num += np.where(ok[:, c], cw * np.nan_to_num(value[:, c]), 0.0)
                d += np.where(ok[:, c], cw, 0.0)
        den[:, nd.idx] = d
        ok[:, nd.idx] = d > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            value[:, nd.idx] = np.where(d > 0, num / np.where(d > 0, d, 1.0), np.nan)
    deriv = np.zeros((D, N))
    leaf_deriv = np.zeros((D, L))
    deriv[:, 0] = ok[:, 0].astype(float)
    for nd in plan.nodes:  # parents before children
        d = den[:, nd.idx]
        safe = np.where(d > 0, d, 1.0)
        if nd.leaves:
            for li in nd.leaves:
                leaf_deriv[:, li] = np.where(leaf_ok[:, li] & (d > 0), deriv[:, nd.idx] / safe, 0.0)
        else:
            for c in nd.children:
                cw = plan.nodes[c].combine
                deriv[:, c] = np.where(ok[:, c] & (d > 0), deriv[:, nd.idx] * cw / safe, 0.0)
    return _Tree(value, ok, ratio, leaf_deriv)


# --------------------------------------------------------------------------------------- variance
def _area_calibrated_variance(
    z_unit: np.ndarray,
    z_area: np.ndarray,
    constraints: list[Constraint],
    design: np.ndarray,
    weight: np.ndarray,
    cell: np.ndarray,
    cell_unit: np.ndarray,
    unit_row: np.ndarray,
    n_h: np.ndarray,
    f_h: np.ndarray,
    U: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Variances under area-wide calibration: own-unit residuals plus the spill-over into other cells.

    For a unit's estimate the linearised variable is zero outside the unit, but its projection on
    area-wide margins is not: every response outside gets ``-x_i' β_u``. Their contribution is the
    quadratic form ``β_u' (Q - Q_u) β_u`` with ``Q_h`` the per-cell second moments of ``w x``.

    Returns
    -------
    var_unit : numpy.ndarray
        Variance of each unit's estimate.
    var_h_area : numpy.ndarray
        Each cell's contribution to the variance of the whole area's estimate.
    """
    proj = AreaProjection.build(constraints, design)
    H = len(n_h)
    p = proj.p
    everyone = np.zeros(len(z_area), dtype=np.intp)
    beta_all = proj.pinv @ proj.cross(constraints, design * z_area, everyone, 1)[0]
    e_area = z_area - proj.fitted(constraints, beta_all)
    var_h_area = cell_variance(weight * e_area, cell, n_h, f_h)
    beta_u = proj.cross(constraints, design * z_unit, unit_row, U) @ proj.pinv
    e_unit = z_unit - proj.fitted(constraints, beta_u, rows_beta=unit_row)
    within = np.bincount(cell_unit, weights=cell_variance(weight * e_unit, cell, n_h, f_h), minlength=U)
    m1 = proj.cross(constraints, weight, cell, H)  # (H, p): Σ w x per cell
    m2 = np.zeros((H, p, p))  # Σ w² x x' per cell
    w2 = weight * weight
    for a, ca in enumerate(constraints):
        for b, cb in enumerate(constraints):
            block = np.bincount(
                (cell * ca.size + ca.factor) * cb.size + cb.factor,
                weights=w2,
                minlength=H * ca.size * cb.size,
            ).reshape(H, ca.size, cb.size)
            oa, ob = proj.offsets[a], proj.offsets[b]
            m2[:, oa : oa + ca.size, ob : ob + cb.size] = block
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(n_h > 1, f_h * n_h / np.where(n_h > 1, n_h - 1, 1), 0.0)
        centred = m2 - np.einsum("hi,hj->hij", m1, m1) / np.maximum(n_h, 1)[:, None, None]
    lonely = (f_h * (n_h == 1))[:, None, None]
    q_h = np.where((n_h > 1)[:, None, None], k[:, None, None] * centred, lonely * m2)
    q_u = np.zeros((U, p, p))
    np.add.at(q_u, cell_unit, q_h)
    outside = np.einsum("ui,uij,uj->u", beta_u, q_h.sum(axis=0)[None, :, :] - q_u, beta_u)
    return within + outside, var_h_area


def _kish_cells(
    design_h: np.ndarray, n_h: np.ndarray, cell_unit: np.ndarray, U: int
) -> tuple[np.ndarray, np.ndarray]:
    """Kish n_eff and deff per unit and overall when weights are constant within cells."""
    s1 = n_h * design_h
    s2 = n_h * design_h * design_h
    n_u = np.bincount(cell_unit, weights=n_h, minlength=U)
    s1_u = np.append(np.bincount(cell_unit, weights=s1, minlength=U), s1.sum())
    s2_u = np.append(np.bincount(cell_unit, weights=s2, minlength=U), s2.sum())
    n_all = np.append(n_u, n_h.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(s2_u > 0, s1_u * s1_u / np.where(s2_u > 0, s2_u, 1.0), np.nan)
        deff = np.where(n_eff > 0, n_all / np.where(n_eff > 0, n_eff, 1.0), np.nan)
    return n_eff, deff


# ---------------------------------------------------------------------------------------- results
def _targets(
    targets: Mapping[str, int] | None,
    unit_order: list[str],
    unit_population: np.ndarray | None,
    margin_of_error: float,
) -> dict[str, int]:
    out: dict[str, int] = {}
    if unit_population is not None:
        for u, N in zip(unit_order, unit_population.tolist(), strict=True):
            out[u] = slovin(N, margin_of_error)
    for u, t in (targets or {}).items():
        out[str(u)] = int(t)
    return out


def _previous_lookup(
    previous: IndexTable | pd.DataFrame | None,
) -> dict[str, tuple[float | None, int | None]]:
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


@dataclass
class _Estimates:
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


def _assemble(
    plan: _Plan,
    tree: _Tree,
    unit_order: list[str],
    est: _Estimates,
    target_of: Mapping[str, int],
    min_n: int,
    previous: Mapping[str, tuple[float | None, int | None]],
    names: Mapping[str, str],
    warnings: list[str],
) -> tuple[list[UnitResult], UnitResult]:
    U = len(unit_order)
    D = U + 1
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
    missing_crit = np.isnan(values[:, [nd.idx for nd in criteria_nodes]])
    if plan.points:
        maxima = np.array([nd.points or 0.0 for nd in plan.nodes])
        node_points = _rows(values * maxima[None, :] / 100.0, [nd.node.code for nd in plan.nodes])
        max_points = plan.nodes[0].points
    else:
        node_points = _rows(np.empty((D, 0)), [])
        max_points = None
    index = est.index.tolist()
    se, low, high = est.se.tolist(), est.low.tolist(), est.high.tolist()
    deff, n_eff = est.deff.tolist(), est.n_eff.tolist()
    n_list, df_list = est.n.astype(int).tolist(), est.df.astype(int).tolist()
    ranks = est.ranks.tolist()
    probability = est.rank_probability.tolist() if est.rank_probability is not None else None
    population = est.population.tolist() if est.population is not None else None
    root = plan.nodes[0].node.code
    results: list[UnitResult] = []
    for d in range(D):
        is_unit = d < U
        unit = unit_order[d] if is_unit else OVERALL
        value = index[d]
        has_index = not math.isnan(value)
        n = n_list[d]
        flags: list[str] = []
        if n < min_n:
            flags.append(FLAG_SMALL_SAMPLE)
        target = target_of.get(unit) if is_unit else None
        if target is not None and n < target:
            flags.append(FLAG_BELOW_TARGET)
        if not has_index:
            flags.append(FLAG_NO_DATA)
        elif missing_crit[d].any():
            flags.append(FLAG_MISSING_CRITERIA)
            missing = [c for c, m in zip(crit_codes, missing_crit[d].tolist(), strict=True) if m]
            place = f"đơn vị {unit}" if is_unit else "toàn vùng"
            warnings.append(
                bilingual(
                    f"{place}: tiêu chí {', '.join(missing)} không có câu trả lời hợp lệ "
                    "nên không tính vào điểm",
                    f"{'unit ' + unit if is_unit else 'whole area'}: "
                    "criteria without valid answers were left out",
                )
            )
        if is_unit and d in est.lonely_units:
            flags.append(FLAG_LONELY_CELL)
        extra: dict[str, Any] = {}
        if is_unit:
            rank = ranks[d] or None
            extra["rank"] = rank
            extra["name"] = names.get(unit)
            if probability is not None and rank is not None:
                extra["rank_probability"] = probability[d]
            if unit in previous:
                p_index, p_rank = previous[unit]
                extra["previous_index"] = p_index
                extra["previous_rank"] = p_rank
                if p_index is not None and has_index:
                    extra["change"] = value - p_index
                if p_rank is not None and rank is not None:
                    extra["rank_change"] = p_rank - rank
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
                fields=sections[Level.FIELD][d],
                elements=sections[Level.ELEMENT][d],
                criteria=sections[Level.CRITERION][d],
                criteria_n=criteria_n[d],
                points=node_points[d].get(root) if plan.points else None,
                max_points=max_points,
                node_points=node_points[d],
                flags=tuple(flags),
                **extra,
            )
        )
    units = results[:U]
    units.sort(key=lambda u: (u.rank is None, u.rank or 0, -(u.index or 0.0), u.unit))
    return units, results[U]


def _none_nan(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else v


def _competition_rank_array(values: np.ndarray, decimals: int) -> np.ndarray:
    """Ranks by descending value at the published precision, ties sharing the best; 0 = no value."""
    rounded = np.round(values, decimals)
    ok = ~np.isnan(rounded)
    ascending = np.sort(rounded[ok])
    greater = len(ascending) - np.searchsorted(ascending, rounded, side="right")
    return np.where(ok, greater + 1, 0).astype(int)


def competition_ranks(values: Sequence[float | None], decimals: int) -> list[int | None]:
    """Ranks by descending value, ties sharing the best rank ("1, 2, 2, 4").

    Values are compared at the published precision (``decimals``), so two units shown with the same
    figure share a rank. ``None`` gets no rank.
    """
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    return [r or None for r in _competition_rank_array(array, decimals).tolist()]


def _rank_probability_array(
    index: np.ndarray, se: np.ndarray, ranks: np.ndarray, draws: int, seed: int
) -> np.ndarray:
    """P(true rank within shown rank ± 1), by simulation from normal(index, se) with a fixed seed."""
    out = np.full(len(index), np.nan)
    scored = np.flatnonzero(ranks > 0)
    m = len(scored)
    if m == 0 or draws <= 0:
        return out
    mean = index[scored]
    sd = np.nan_to_num(se[scored])
    shown = ranks[scored].astype(float)
    rng = np.random.default_rng(seed)
    hits = np.zeros(m)
    batch = max(1, min(draws, 2_000_000 // m))
    positions = np.arange(1, m + 1, dtype=float)
    done = 0
    while done < draws:
        size = min(batch, draws - done)
        sample = rng.normal(mean, sd, size=(size, m))
        order = np.argsort(-sample, axis=1, kind="stable")
        simulated = np.empty_like(sample)
        np.put_along_axis(simulated, order, np.broadcast_to(positions, (size, m)), axis=1)
        hits += (np.abs(simulated - shown[None, :]) <= 1).sum(axis=0)
        done += size
    out[scored] = hits / draws
    return out
