"""Design-based variance and confidence intervals.

Variance of a total over a stratified sample without replacement (strata = cells), as R's
``survey::svyrecvar`` computes it::

    V = Σ_h (1 - n_h/N_h) · n_h/(n_h - 1) · Σ_{i∈h} (a_i - ā_h)²,      a_i = w_i · z_i

where ``z`` is the linearised variable of the estimate. A cell with a single response ("lonely PSU")
is handled as R's ``options(survey.lonely.psu = "adjust")``: it contributes ``(1 - n_h/N_h) · a_i²``,
its deviation from the overall mean, which is zero for the centred linearised variables used here.
A cell fully enumerated (``n_h = N_h``) contributes nothing.

Confidence intervals on a proportion ``p`` (an index / 100) follow Korn and Graubard (1998), as R's
``svyciprop(method = "beta")``: the effective sample size ``p(1 - p)/var`` is multiplied by
``(t_{α/2, n-1} / t_{α/2, df})²`` and the Clopper–Pearson interval is taken at that size, so the
interval stays inside [0, 1]. When the variance is zero (every answer satisfied, or none), the Kish
effective sample size of the weights takes its place, so that an index of 100% still gets an
informative interval (100% from 30 equal-weight responses: [88.43%, 100%]).
"""

from __future__ import annotations

import numpy as np
from scipy import special

# A variance below this (on the 0-1 scale) is rounding noise of a variance that is exactly zero.
ZERO_VARIANCE = 1e-24


def fpc_factor(n_h: np.ndarray, population: np.ndarray | None) -> np.ndarray:
    """The finite population correction ``1 - n_h/N_h`` per cell (1 without a frame); R's 1e-7 floor."""
    if population is None:
        return np.ones(len(n_h))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(population > 0, (population - n_h) / np.where(population > 0, population, 1.0), 0.0)
    return np.where(f < 1e-7, 0.0, f)


def cell_variance(a: np.ndarray, cell: np.ndarray, n_h: np.ndarray, f_h: np.ndarray) -> np.ndarray:
    """Each cell's contribution to the variance of ``Σ a``.

    Parameters
    ----------
    a
        Weighted linearised values ``w_i z_i``, shape ``(n,)``.
    cell
        Cell of each response.
    n_h, f_h
        Responses and finite population correction per cell.

    Returns
    -------
    numpy.ndarray
        Shape ``(H,)``.
    """
    n_cells = len(n_h)
    s1 = np.bincount(cell, weights=a, minlength=n_cells)
    mean = s1 / np.maximum(n_h, 1)
    dev = a - mean[cell]
    s2 = np.bincount(cell, weights=dev * dev, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = f_h * n_h / np.where(n_h > 1, n_h - 1, 1) * s2
    lonely = f_h * s1 * s1  # one response: its value, not centred ("adjust")
    return np.where(n_h > 1, scaled, np.where(n_h == 1, lonely, 0.0))


def korn_graubard(
    p: np.ndarray,
    var: np.ndarray,
    n: np.ndarray,
    df: np.ndarray,
    n_kish: np.ndarray,
    census: np.ndarray,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Korn–Graubard confidence limits for proportions, vectorised.

    Parameters
    ----------
    p
        Estimates on the 0-1 scale (NaN where there is none).
    var
        Their variances.
    n
        Responses behind each estimate.
    df
        Design degrees of freedom (responses minus cells).
    n_kish
        Kish effective sample size, used when the variance is zero.
    census
        True where every cell was fully enumerated: the estimate is exact and its interval is a point.
    confidence
        Coverage, e.g. 0.95.

    Returns
    -------
    low, high : numpy.ndarray
        Limits on the 0-1 scale, always with ``low <= p <= high``.
    """
    alpha = 1.0 - confidence
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    df = np.asarray(df, dtype=float)
    # quantiles from scipy.special (the t and beta inverses), which loads far faster than scipy.stats
    ratio = special.stdtrit(np.maximum(n - 1, 1), alpha / 2) / special.stdtrit(np.maximum(df, 1), alpha / 2)
    zero = ~(var > ZERO_VARIANCE)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(zero, n_kish, p * (1 - p) / np.where(zero, 1.0, var)) * ratio**2
        x = n_eff * p
        low = np.where(x > 0, special.betaincinv(x, n_eff - x + 1, alpha / 2), 0.0)
        high = np.where(x < n_eff, special.betaincinv(x + 1, n_eff - x, 1 - alpha / 2), 1.0)
    low = np.where(np.isnan(low) & ~np.isnan(p), p, low)
    high = np.where(np.isnan(high) & ~np.isnan(p), p, high)
    low = np.where(census, p, np.minimum(low, p))
    high = np.where(census, p, np.maximum(high, p))
    return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


def slovin(population: float, margin_of_error: float = 0.05) -> int:
    """Slovin's sample size ``N / (1 + N e²)``, rounded up (Quyết định 1383/QĐ-BNV)."""
    if not population or population <= 0:
        return 0
    return int(np.ceil(population / (1.0 + population * margin_of_error**2) - 1e-9))


def stratified(sums: np.ndarray, squares: np.ndarray, n_h: np.ndarray, f_h: np.ndarray) -> np.ndarray:
    """Cell contributions from per-cell sums ``Σ a`` and centred squares ``Σ (a - ā_h)²``.

    The same formula as :func:`cell_variance`, for callers that accumulate the sums themselves.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = f_h * n_h / np.where(n_h > 1, n_h - 1, 1) * squares
    return np.where(n_h > 1, scaled, np.where(n_h == 1, f_h * sums * sums, 0.0))
