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

from . import design, ranking
from .data import (
    GROUP,
    STRATUM,
    ItemColumn,
    bilingual,
    canonical_text,
    number_text,
    prepare_responses,
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
        frame_cells, by_stratum, frame_order = design.frame_cells(frame)
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
    unit_order = design.unit_order(units, frame_order, data, frame_cells, where)
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
        population_h, unit_population = design.populations(
            frame_cells, by_stratum, unit_order, cell_unit, cell_stratum, data, n_h, where, warnings
        )
    design_h = population_h / n_h if population_h is not None else np.ones(H)
    f_h = fpc_factor(n_h, population_h)
    design_weight = np.take(design_h, cell)

    # -- calibration: group weights and margins
    constraints: list[Constraint] = []
    weighting = "design" if frame_cells is not None else "none"
    group_weighted = False
    if group_weights:
        c = design.group_constraint(
            group_weights, data, unit_row, U, unit_order, design_weight, where, warnings
        )
        if c is not None:
            constraints.append(c)
            group_weighted = True
    margin_constraints: list[Constraint] = []
    if margins is not None:
        margin_constraints = design.margin_constraints(
            margins, data, item_columns, unit_row, unit_order, design_weight
        )
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
        weight, _ = rake(design_weight, constraints, max_iterations, tolerance)
        if trim is not None and margin_constraints:
            weight, trimmed = trim_weights(weight, design_weight, trim)
            if trimmed:
                warnings.append(
                    bilingual(
                        f"{trimmed} trọng số bị cắt về giới hạn {trim}; các biên chỉ còn đúng gần đúng",
                        f"{trimmed} weights were trimmed to {trim}; the margins now hold approximately",
                    )
                )
        constant_in_cell = False
    else:
        weight = design_weight
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
            z_unit = residualise_nested(z_unit, constraints, design_weight)
            z_area = residualise_nested(z_area, constraints, design_weight)
        if area:
            var_unit, var_h_area = _area_calibrated_variance(
                z_unit, z_area, area, design_weight, weight, cell, cell_unit, unit_row, n_h, f_h, U
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
    ranks = ranking.competition_rank_array(index[:U], sc.decimals)
    probability = (
        ranking.rank_probability_array(index[:U], se[:U] * 100.0, ranks, draws, seed)
        if rank_probability
        else None
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
    design_weight: np.ndarray,
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
    proj = AreaProjection.build(constraints, design_weight)
    H = len(n_h)
    p = proj.p
    everyone = np.zeros(len(z_area), dtype=np.intp)
    beta_all = proj.pinv @ proj.cross(constraints, design_weight * z_area, everyone, 1)[0]
    e_area = z_area - proj.fitted(constraints, beta_all)
    var_h_area = cell_variance(weight * e_area, cell, n_h, f_h)
    beta_u = proj.cross(constraints, design_weight * z_unit, unit_row, U) @ proj.pinv
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
