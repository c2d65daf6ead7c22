"""The two passes over the responses: weighted totals, then the variance of the linearised index.

Pass 1 (:func:`weighted_totals`) sums the weights per cell and answer code with one ``np.bincount``
per (item, gate path), which gives every leaf's weighted totals per unit and for the whole area.
Between the passes (:func:`linearise`) the derivatives of the tree turn into a table of the linearised
variable by (unit, code) for each item. Pass 2 (:func:`variance`) gathers the linearised variable of
every response from those tables, in blocks that stay in cache, and takes its design variance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from .data import ItemColumn
from .design import Calibration, Cells
from .gates import GatedCodes
from .tree import LeafScores, Pair, Plan, Tree, leaf_scores
from .variance import cell_variance, stratified
from .weights import AreaProjection, Constraint, residualise_nested

PASS1_BLOCK = 1 << 20  # responses per block: the keys of a block stay in cache between steps
PASS2_BLOCK = 1 << 17


class _Blocks:
    """Walk the responses in blocks; :meth:`key` gives ``row_index * K + code`` of a pair for the block.

    ``row_index`` is the cell (pass 1: per-cell histograms) or the unit (pass 2: per-unit tables) of
    each response.
    """

    def __init__(self, n: int, row: np.ndarray, gated: GatedCodes, size: int):
        self.n, self.cell, self.codes, self.sizes, self.size = n, row, gated.codes, gated.sizes, size
        self.buffer = np.empty(min(size, max(n, 1)), dtype=np.intp)
        self.start = self.stop = 0
        self.offsets: dict[int, np.ndarray] = {}

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for start in range(0, self.n, self.size):
            self.start, self.stop = start, min(start + self.size, self.n)
            self.offsets = {}
            yield self.start, self.stop

    def key(self, pair: Pair) -> np.ndarray:
        """``row_index * K + code`` for the block (in a buffer reused by the next call)."""
        K = self.sizes[pair]
        if K not in self.offsets:
            self.offsets[K] = self.cell[self.start : self.stop] * K
        out = self.buffer[: self.stop - self.start]
        np.add(self.offsets[K], self.codes[pair][self.start : self.stop], out=out)
        return out

    def code(self, pair: Pair) -> np.ndarray:
        """The pair's codes for the block as indices (after :meth:`key`, which it overwrites)."""
        out = self.buffer[: self.stop - self.start]
        np.subtract(out, self.offsets[self.sizes[pair]], out=out)
        return out


# ----------------------------------------------------------------------------------------- pass 1
@dataclass(frozen=True, slots=True)
class Totals:
    """Pass 1: per-domain totals of every leaf (units, then the whole area) and per-cell histograms."""

    Y: np.ndarray  # (D, L): Σ w · score
    X: np.ndarray  # (D, L): Σ w · [valid]
    valid_n: np.ndarray  # (D, L): valid answers
    hists: Mapping[Pair, np.ndarray]  # (H, K): Σ w per cell and code
    scores: Mapping[int, LeafScores]  # per leaf
    any_valid: Mapping[int, np.ndarray]  # multi-item criteria: responses with a valid answer, per unit


@dataclass(frozen=True, slots=True)
class _Histograms:
    counts: dict[Pair, np.ndarray]  # (H·K,) responses per cell and code
    weighted: dict[Pair, np.ndarray]  # (H·K,) Σ w per cell and code; empty when w is constant in cells
    any_valid: dict[int, np.ndarray]  # (n,) per multi-item criterion


def weighted_totals(
    plan: Plan,
    items: Mapping[str, ItemColumn],
    gated: GatedCodes,
    cells: Cells,
    calibration: Calibration,
) -> Totals:
    """Pass 1: weighted totals of score and validity of every leaf, per unit and for the whole area.

    Parameters
    ----------
    plan
        The compiled tree.
    items
        The answer columns.
    gated
        The gated codes of every (item, gate path).
    cells
        Units and cells of the responses, and the design weights.
    calibration
        The final weights.

    Returns
    -------
    Totals
    """
    scores = {leaf.idx: leaf_scores(leaf, items[leaf.item], plan.scoring) for leaf in plan.leaves}
    counted = _histograms(plan, gated, cells, calibration, scores)
    U, H = cells.U, cells.H
    L = len(plan.leaves)
    D = U + 1  # every unit, then the whole area
    Y = np.zeros((D, L))
    X = np.zeros((D, L))
    valid_n = np.zeros((D, L))
    hists: dict[Pair, np.ndarray] = {}
    for pair, leaf_ids in gated.pairs.items():
        K = gated.sizes[pair]
        count = counted.counts.pop(pair).reshape(H, K).astype(float)
        if calibration.constant_in_cell:
            hist = count * cells.design_h[:, None]
        else:
            hist = counted.weighted.pop(pair).reshape(H, K)
        hists[pair] = hist
        for li in leaf_ids:
            s_lut, v_lut = scores[li].score, scores[li].valid
            for arr, per_cell in ((Y, hist @ s_lut), (X, hist @ v_lut), (valid_n, count @ v_lut)):
                arr[:U, li] = np.bincount(cells.cell_unit, weights=per_cell, minlength=U)
                arr[U, li] = per_cell.sum()
    any_valid = {c: np.bincount(cells.unit_row, weights=v, minlength=U) for c, v in counted.any_valid.items()}
    return Totals(Y, X, valid_n, hists, scores, any_valid)


def _histograms(
    plan: Plan,
    gated: GatedCodes,
    cells: Cells,
    calibration: Calibration,
    scores: Mapping[int, LeafScores],
) -> _Histograms:
    """Count (and weigh) the responses per cell and code of every pair, block by block."""
    n, H = cells.n, cells.H
    constant_in_cell, weight = calibration.constant_in_cell, calibration.weight
    multi = {nd.idx for nd in plan.criteria if len(nd.leaves) > 1}
    any_valid = {c: np.zeros(n, dtype=bool) for c in multi}
    counts_hk = {pair: np.zeros(H * K, dtype=np.int64) for pair, K in gated.sizes.items()}
    weighted_hk = {pair: np.zeros(H * K) for pair, K in gated.sizes.items()} if not constant_in_cell else {}
    blocks = _Blocks(n, cells.cell, gated, PASS1_BLOCK)
    for start, stop in blocks:
        for pair, leaf_ids in gated.pairs.items():
            key = blocks.key(pair)
            K = gated.sizes[pair]
            counts_hk[pair] += np.bincount(key, minlength=H * K)
            if not constant_in_cell:
                weighted_hk[pair] += np.bincount(key, weights=weight[start:stop], minlength=H * K)
            for li in leaf_ids:
                crit = plan.leaves[li].criterion
                if crit in any_valid:
                    any_valid[crit][start:stop] |= np.take(np.tile(scores[li].valid, H), key) > 0
    return _Histograms(counts_hk, weighted_hk, any_valid)


# -------------------------------------------------------------------------------- linearisation
@dataclass(frozen=True, slots=True)
class Linearised:
    """Tables of the linearised variable ``z`` by (unit, code) and by code, and its sums per cell."""

    unit_tables: Mapping[Pair, np.ndarray]  # (U·K,): z of the response's own unit's index
    area_tables: Mapping[Pair, np.ndarray]  # (K,): z of the whole area's index
    sum_unit: np.ndarray  # (H,): Σ w z per cell, for the own unit's index
    sum_area: np.ndarray  # (H,): the same for the area's index


def linearise(gated: GatedCodes, totals: Totals, tree: Tree, cells: Cells) -> Linearised:
    """Per pair, a table of ``z`` by (unit, code) for the own unit and by code for the area.

    Parameters
    ----------
    gated
        The gated codes.
    totals
        Pass 1's totals and histograms.
    tree
        The evaluated tree (its derivatives).
    cells
        Units and cells.

    Returns
    -------
    Linearised
        The per-cell sums of ``w z`` are known from the histograms, before touching responses again.
    """
    X, Y = totals.X, totals.Y
    U, H = cells.U, cells.H
    D = U + 1
    safe_x = np.where(X > 0, X, 1.0)
    slope = np.where(tree.leaf_derivative != 0, tree.leaf_derivative / safe_x, 0.0)
    ratio = np.where(X > 0, Y / safe_x, 0.0)
    unit_tables: dict[Pair, np.ndarray] = {}
    area_tables: dict[Pair, np.ndarray] = {}
    sum_unit = np.zeros(H)
    sum_area = np.zeros(H)
    for pair, leaf_ids in gated.pairs.items():
        K = gated.sizes[pair]
        table = np.zeros((D, K))
        for li in leaf_ids:
            s_lut, v_lut = totals.scores[li].score, totals.scores[li].valid
            table += slope[:, li, None] * (s_lut[None, :] - ratio[:, li, None] * v_lut[None, :])
        per_cell = table[cells.cell_unit]
        unit_tables[pair] = table[:U].ravel()  # keyed by unit × code: small enough to stay in cache
        area_tables[pair] = table[U].copy()  # keyed by code alone
        sum_unit += (totals.hists[pair] * per_cell).sum(axis=1)
        sum_area += totals.hists[pair] @ table[U]
    return Linearised(unit_tables, area_tables, sum_unit, sum_area)


# ----------------------------------------------------------------------------------------- pass 2
def variance(gated: GatedCodes, lin: Linearised, cells: Cells, calibration: Calibration) -> np.ndarray:
    """Pass 2: the variance of each unit's index and of the whole area's, on the 0-1 scale.

    Parameters
    ----------
    gated
        The gated codes.
    lin
        The tables of the linearised variable.
    cells
        Units, cells, design weights and finite population corrections.
    calibration
        The final weights and the constraints they were calibrated to.

    Returns
    -------
    numpy.ndarray
        Shape ``(U + 1,)``: every unit, then the whole area; never negative.
    """
    if calibration.constraints:
        var_unit, var_h_area = _calibrated_variance(gated, lin, cells, calibration)
    else:
        var_unit, var_h_area = _design_variance(gated, lin, cells)
    return np.maximum(np.append(var_unit, var_h_area.sum()), 0.0)


def _gather(
    gated: GatedCodes, lin: Linearised, cells: Cells
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yield each block's bounds and the linearised variables ``z`` of its responses (unit, area).

    The two arrays are buffers reused by the next block.
    """
    gathered = np.empty(PASS2_BLOCK)
    zu_block = np.empty(PASS2_BLOCK)
    za_block = np.empty(PASS2_BLOCK)
    blocks = _Blocks(cells.n, cells.unit_row, gated, PASS2_BLOCK)
    for start, stop in blocks:
        m = stop - start
        zu, za, g = zu_block[:m], za_block[:m], gathered[:m]
        zu.fill(0.0)
        za.fill(0.0)
        for pair in gated.pairs:
            key = blocks.key(pair)
            np.take(lin.unit_tables[pair], key, out=g)
            zu += g
            np.take(lin.area_tables[pair], blocks.code(pair), out=g)
            za += g
        yield start, stop, zu, za


def _design_variance(gated: GatedCodes, lin: Linearised, cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    """Weights constant within cells: centred sums of squares per cell in one pass, no ``z`` stored."""
    H, n_h, design_h = cells.H, cells.n_h, cells.design_h
    mean_unit = lin.sum_unit / n_h  # of a = w z, per cell
    mean_area = lin.sum_area / n_h
    dev_unit = np.zeros(H)
    dev_area = np.zeros(H)
    for start, stop, zu, za in _gather(gated, lin, cells):
        block_cells = cells.cell[start:stop]
        w = np.take(design_h, block_cells)
        zu *= w
        zu -= np.take(mean_unit, block_cells)
        np.multiply(zu, zu, out=zu)
        dev_unit += np.bincount(block_cells, weights=zu, minlength=H)
        za *= w
        za -= np.take(mean_area, block_cells)
        np.multiply(za, za, out=za)
        dev_area += np.bincount(block_cells, weights=za, minlength=H)
    var_unit = np.bincount(
        cells.cell_unit, weights=stratified(lin.sum_unit, dev_unit, n_h, cells.f_h), minlength=cells.U
    )
    return var_unit, stratified(lin.sum_area, dev_area, n_h, cells.f_h)


def _calibrated_variance(
    gated: GatedCodes, lin: Linearised, cells: Cells, calibration: Calibration
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated weights: the residuals of ``z`` after the projection on the constraints."""
    z_unit = np.zeros(cells.n)
    z_area = np.zeros(cells.n)
    for start, stop, zu, za in _gather(gated, lin, cells):
        z_unit[start:stop] = zu
        z_area[start:stop] = za
    constraints, design_weight, weight = calibration.constraints, cells.design_weight, calibration.weight
    if calibration.nested:
        z_unit = residualise_nested(z_unit, constraints, design_weight)
        z_area = residualise_nested(z_area, constraints, design_weight)
    if calibration.area:
        return _area_calibrated_variance(z_unit, z_area, calibration.area, cells, weight)
    z_unit *= weight
    z_area *= weight
    cell, n_h, f_h = cells.cell, cells.n_h, cells.f_h
    var_unit = np.bincount(cells.cell_unit, weights=cell_variance(z_unit, cell, n_h, f_h), minlength=cells.U)
    return var_unit, cell_variance(z_area, cell, n_h, f_h)


def _area_calibrated_variance(
    z_unit: np.ndarray,
    z_area: np.ndarray,
    constraints: list[Constraint],
    cells: Cells,
    weight: np.ndarray,
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
    design_weight, cell, cell_unit, unit_row = (
        cells.design_weight,
        cells.cell,
        cells.cell_unit,
        cells.unit_row,
    )
    n_h, f_h, U = cells.n_h, cells.f_h, cells.U
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
