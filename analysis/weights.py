"""Weights: design weights per cell, calibration to margins (post-stratification, raking), Kish summaries.

The sampling design (methodology §6) is a stratified sample: cell ``h`` = unit × stratum, ``n_h``
responses out of ``N_h`` people served. Each response weighs ``w = N_h / n_h`` (``w = 1`` without a
frame) and the finite population correction is ``1 - n_h / N_h``.

Calibration adjusts the weights so that weighted totals match known totals (*constraints*):

* raking margins (a table ``variable, category, population``): one constraint per variable; a single
  variable is post-stratification, several are raked by iterative proportional fitting (IPF);
* respondent-group weights (``Scoring.group_weights``): within each unit, groups get the set shares of
  the unit's total weight. This is post-stratification to the cells unit × group, so its variance is
  treated the same way.

The variance of a calibrated estimator uses the residuals of the linearised variable after a weighted
least-squares projection on the constraint indicators, weighted by the pre-calibration weights: exactly
what R's ``survey`` does for ``postStratify`` and ``calibrate(calfun = "raking")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import bilingual
from .errors import ScoringError


@dataclass
class Constraint:
    """Known totals over the categories of one factor of the responses.

    Attributes
    ----------
    name
        What the constraint is, for messages (``"gioi_tinh"``, ``"group_weights"``).
    factor
        Category of each response, ``0 .. size - 1``.
    targets
        Known total of each category.
    nested
        True when every category lies inside one unit (per-unit margins, group weights).
    """

    name: str
    factor: np.ndarray
    targets: np.ndarray
    nested: bool

    @property
    def size(self) -> int:
        return len(self.targets)


def kish(weights: np.ndarray, domain: np.ndarray, n_domains: int) -> tuple[np.ndarray, np.ndarray]:
    """Kish effective sample size and design effect of the weights, per domain.

    Parameters
    ----------
    weights
        Final weight of each response.
    domain
        Domain (unit) of each response.
    n_domains
        Number of domains.

    Returns
    -------
    n_eff, deff : numpy.ndarray
        ``(Σw)² / Σw²`` and ``n / n_eff`` per domain; NaN where a domain has no weight.
    """
    n = np.bincount(domain, minlength=n_domains).astype(float)
    s1 = np.bincount(domain, weights=weights, minlength=n_domains)
    s2 = np.bincount(domain, weights=weights * weights, minlength=n_domains)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(s2 > 0, s1 * s1 / np.where(s2 > 0, s2, 1.0), np.nan)
        deff = np.where(n_eff > 0, n / np.where(n_eff > 0, n_eff, 1.0), np.nan)
    return n_eff, deff


def kish_total(weights: np.ndarray) -> tuple[float, float]:
    """Kish effective sample size and design effect over all responses."""
    s1 = float(weights.sum())
    s2 = float((weights * weights).sum())
    if s2 <= 0:
        return float("nan"), float("nan")
    n_eff = s1 * s1 / s2
    return n_eff, len(weights) / n_eff


def kish_cells(
    design_h: np.ndarray, n_h: np.ndarray, cell_unit: np.ndarray, U: int
) -> tuple[np.ndarray, np.ndarray]:
    """Kish effective sample size and design effect per unit, then overall, from per-cell weights.

    Parameters
    ----------
    design_h
        The weight of every response of each cell (weights constant within cells).
    n_h
        Responses per cell.
    cell_unit
        Unit of each cell.
    U
        Number of units.

    Returns
    -------
    n_eff, deff : numpy.ndarray
        Shape ``(U + 1,)``: every unit, then the whole area; NaN where there is no weight.
    """
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


def rake(
    weights: np.ndarray,
    constraints: list[Constraint],
    max_iterations: int = 1000,
    tolerance: float = 1e-10,
) -> tuple[np.ndarray, int]:
    """Calibrate ``weights`` to the constraints by iterative proportional fitting.

    One constraint is post-stratification and is met after one pass. Several are cycled until every
    category total is within ``tolerance`` (relative to the constraint's grand total) of its target.

    Parameters
    ----------
    weights
        Weights before calibration (design weights).
    constraints
        The totals to meet.
    max_iterations
        Passes over all constraints before giving up.
    tolerance
        Largest relative gap accepted.

    Returns
    -------
    weights : numpy.ndarray
        The calibrated weights.
    iterations : int
        Passes used.

    Raises
    ------
    ScoringError
        When IPF has not converged after ``max_iterations`` passes (inconsistent margins).
    """
    w = weights.astype(np.float64, copy=True)
    if not constraints:
        return w, 0
    worst = np.inf
    for iteration in range(1, max_iterations + 1):
        for c in constraints:
            totals = np.bincount(c.factor, weights=w, minlength=c.size)
            ratio = np.divide(c.targets, totals, out=np.zeros_like(totals), where=totals > 0)
            w *= ratio[c.factor]
        worst = 0.0
        for c in constraints:
            totals = np.bincount(c.factor, weights=w, minlength=c.size)
            scale = max(float(np.abs(c.targets).sum()), 1e-300)
            worst = max(worst, float(np.max(np.abs(totals - c.targets))) / scale)
        if worst <= tolerance:
            return w, iteration
    raise ScoringError(
        f"hiệu chỉnh trọng số (raking) không hội tụ sau {max_iterations} vòng, sai lệch tương đối lớn nhất "
        f"{worst:.3g}: kiểm tra các biên có cùng tổng và không mâu thuẫn "
        "(raking did not converge; check that "
        "the margins add up to the same totals and do not contradict each other)"
    )


def trim_weights(
    calibrated: np.ndarray, design: np.ndarray, bounds: tuple[float, float]
) -> tuple[np.ndarray, int]:
    """Keep calibration factors ``g = calibrated / design`` within ``bounds``, as R's ``calibrate(trim=)``.

    Factors outside the bounds are set to the bound; the weight removed (or added) is spread over the
    untrimmed responses by adding a constant to their factors, so the total weight is kept. The margins
    then hold only approximately.

    Returns
    -------
    weights : numpy.ndarray
    trimmed : int
        How many responses were trimmed.
    """
    lo, hi = bounds
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(design > 0, calibrated / np.where(design > 0, design, 1.0), 1.0)
    new = np.clip(g, lo, hi)
    outside = (g < lo) | (g > hi)
    count = int(outside.sum())
    if count:
        removed = float(((g - new) * design).sum())
        rest = float(design[~outside].sum())
        if rest <= 0:
            raise ScoringError(
                bilingual(
                    "mọi trọng số đều nằm ngoài giới hạn cắt", "every weight is outside the trimming bounds"
                )
            )
        new[~outside] += removed / rest
    return new * design, count


def residualise_nested(
    z: np.ndarray,
    constraints: list[Constraint],
    design: np.ndarray,
    max_iterations: int = 1000,
    tolerance: float = 1e-13,
) -> np.ndarray:
    """Residuals of ``z`` after projection on the constraint indicators, weighted by ``design``.

    Each column of ``z`` is projected separately; several constraints are handled by alternating
    projections (backfitting), which converge to the weighted least-squares projection on all of them.

    Parameters
    ----------
    z
        Linearised variables, shape ``(n,)`` or ``(n, k)``.
    constraints
        The calibration constraints.
    design
        Pre-calibration weights.

    Returns
    -------
    numpy.ndarray
        ``z`` minus its projection.
    """
    e = np.array(z, dtype=np.float64, copy=True)
    two_d = e.ndim == 2
    cols = e.shape[1] if two_d else 1
    sizes = [np.bincount(c.factor, weights=design, minlength=c.size) for c in constraints]
    for _ in range(max_iterations if len(constraints) > 1 else 1):
        moved = 0.0
        for c, size in zip(constraints, sizes, strict=True):
            for j in range(cols):
                col = e[:, j] if two_d else e
                sums = np.bincount(c.factor, weights=design * col, minlength=c.size)
                means = np.divide(sums, size, out=np.zeros_like(sums), where=size > 0)
                col -= means[c.factor]
                moved = max(moved, float(np.max(np.abs(means))) if len(means) else 0.0)
        if len(constraints) == 1:
            break
        scale = max(float(np.max(np.abs(e))) if e.size else 0.0, 1e-300)
        if moved <= tolerance * scale:
            break
    return e


@dataclass
class AreaProjection:
    """The weighted least-squares projection on area-wide constraint indicators (dense, small)."""

    offsets: list[int]
    p: int
    pinv: np.ndarray  # pseudo-inverse of X'DX

    @classmethod
    def build(cls, constraints: list[Constraint], design: np.ndarray) -> AreaProjection:
        offsets = []
        p = 0
        for c in constraints:
            offsets.append(p)
            p += c.size
        gram = np.zeros((p, p))
        for a, ca in enumerate(constraints):
            for b, cb in enumerate(constraints):
                if b < a:
                    continue
                block = np.bincount(
                    ca.factor.astype(np.int64) * cb.size + cb.factor,
                    weights=design,
                    minlength=ca.size * cb.size,
                ).reshape(ca.size, cb.size)
                gram[offsets[a] : offsets[a] + ca.size, offsets[b] : offsets[b] + cb.size] = block
                gram[offsets[b] : offsets[b] + cb.size, offsets[a] : offsets[a] + ca.size] = block.T
        return cls(offsets, p, np.linalg.pinv(gram, rcond=1e-12, hermitian=True))

    def fitted(
        self, constraints: list[Constraint], beta: np.ndarray, rows_beta: np.ndarray | None = None
    ) -> np.ndarray:
        """``x_i' beta`` for every response; ``beta`` is ``(p,)``, or ``(D, p)`` per ``rows_beta`` domain."""
        out = None
        for c, off in zip(constraints, self.offsets, strict=True):
            if rows_beta is None:
                part = beta[off + c.factor]
            else:
                part = beta[rows_beta, off + c.factor]
            out = part if out is None else out + part
        assert out is not None
        return out

    def cross(
        self, constraints: list[Constraint], values: np.ndarray, domain: np.ndarray, n_domains: int
    ) -> np.ndarray:
        """``X' diag(values)`` summed within each domain: shape ``(n_domains, p)``."""
        out = np.zeros((n_domains, self.p))
        for c, off in zip(constraints, self.offsets, strict=True):
            block = np.bincount(
                domain.astype(np.int64) * c.size + c.factor, weights=values, minlength=n_domains * c.size
            ).reshape(n_domains, c.size)
            out[:, off : off + c.size] = block
        return out
