"""Ranks: competition ranking at the published precision, their uncertainty by simulation, and groups
of units that cannot be told apart (pairwise tests, Holm's correction, compact letter display)."""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

# Up to this many ranked units, rank intervals are computed for every scoring (a district's communes, a
# province's districts); above it they come with ``rank_probability`` only (the simulation's cost).
AUTO_MAX_UNITS = 1000
# Groups are computed up to this many ranked units (the letter display's cost grows fast beyond).
GROUPS_MAX_UNITS = 100
# Letters of the groups, in order; more groups than letters: no groups (see ``rank_groups``).
GROUP_LETTERS = string.ascii_lowercase + string.ascii_uppercase


def competition_rank_array(values: np.ndarray, decimals: int) -> np.ndarray:
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
    return [r or None for r in competition_rank_array(array, decimals).tolist()]


@dataclass(frozen=True)
class RankSimulation:
    """Per unit (0 / NaN where the unit has no rank)."""

    probability: np.ndarray  # P(simulated rank within shown rank ± 1)
    low: np.ndarray  # the rank interval: order statistics of the simulated ranks (int, 0 = none)
    high: np.ndarray


def _order_statistic(q: float, draws: int) -> int:
    """0-based position of the ``q`` quantile among ``draws`` sorted values (inverse of the CDF)."""
    return min(draws - 1, max(0, math.ceil(q * draws - 1e-9) - 1))


def simulate_ranks(
    index: np.ndarray, se: np.ndarray, ranks: np.ndarray, draws: int, seed: int, confidence: float = 0.95
) -> RankSimulation:
    """Ranks of ``draws`` draws of normal(index, se), with a fixed seed.

    ``probability``: the share of draws in which a unit's rank is within its shown rank ± 1.
    ``low``/``high``: the rank interval at ``confidence``, the ⌈α/2·draws⌉-th and ⌈(1 − α/2)·draws⌉-th
    smallest of the unit's simulated ranks (α = 1 − confidence). Simulated ranks are 1..m without ties
    (m = ranked units); a unit with se 0 is drawn at its index.
    """
    n = len(index)
    probability = np.full(n, np.nan)
    low = np.zeros(n, dtype=int)
    high = np.zeros(n, dtype=int)
    scored = np.flatnonzero(ranks > 0)
    m = len(scored)
    if m == 0 or draws <= 0:
        return RankSimulation(probability, low, high)
    mean = index[scored]
    sd = np.nan_to_num(se[scored])
    shown = ranks[scored].astype(float)
    rng = np.random.default_rng(seed)
    hits = np.zeros(m)
    simulated_all = np.empty((draws, m), dtype=np.int32)
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
        simulated_all[done : done + size] = simulated
        done += size
    probability[scored] = hits / draws
    alpha = 1.0 - confidence
    k_low, k_high = _order_statistic(alpha / 2, draws), _order_statistic(1 - alpha / 2, draws)
    ordered = np.partition(simulated_all, sorted({k_low, k_high}), axis=0)
    low[scored] = ordered[k_low]
    high[scored] = ordered[k_high]
    return RankSimulation(probability, low, high)


def rank_probability_array(
    index: np.ndarray, se: np.ndarray, ranks: np.ndarray, draws: int, seed: int
) -> np.ndarray:
    """P(true rank within shown rank ± 1), by simulation from normal(index, se) with a fixed seed."""
    return simulate_ranks(index, se, ranks, draws, seed).probability


def holm_adjust(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as ``p``)."""
    k = len(p)
    if k == 0:
        return p.astype(float)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (k - np.arange(k)) * p[order])
    adjusted = np.empty(k)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def pairwise_differences(
    index: np.ndarray, se: np.ndarray, decimals: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``i < j``: two-sided p-value of z = (I_i − I_j) / √(se_i² + se_j²), Holm-adjusted.

    Indices are compared at the published precision (two units shown alike are never told apart);
    a difference with both SEs 0 is certain (p = 0), no difference has p = 1.
    """
    m = len(index)
    i, j = np.triu_indices(m, k=1)
    value = np.round(index, decimals)
    diff = np.abs(value[i] - value[j])
    sd = np.sqrt(np.nan_to_num(se[i]) ** 2 + np.nan_to_num(se[j]) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(diff == 0, 0.0, np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0), np.inf))
    p = 2.0 * norm.sf(z)
    return i, j, holm_adjust(p)


def letter_display(m: int, different: Sequence[tuple[int, int]]) -> list[str] | None:
    """Compact letter display (Piepho 2004, insert and absorb) of ``m`` units in rank order.

    Units that share a letter are not significantly different; every pair in ``different`` shares none.
    Letters are given in the order of each group's best-ranked unit ("a" for the group of the first),
    groups with the same best unit by their next units.
    ``None`` when more groups are needed than ``GROUP_LETTERS`` has.
    """
    if m == 0:
        return []
    groups: list[int] = [(1 << m) - 1]  # bit u = unit u
    for a, b in different:
        both = (1 << a) | (1 << b)
        if not any(g & both == both for g in groups):
            continue
        split: list[int] = []
        for g in groups:
            if g & both == both:
                split += [g & ~(1 << a), g & ~(1 << b)]
            else:
                split.append(g)
        unique = sorted(set(split), key=lambda g: -g.bit_count())
        kept: list[int] = []
        for g in unique:  # absorb: a group inside another (larger or equal) one is dropped
            if not any(g | k == k for k in kept):
                kept.append(g)
        groups = kept
    if len(groups) > len(GROUP_LETTERS):
        return None
    # By the group's units in rank order: the group of the best-ranked unit first, then the next …
    groups.sort(key=lambda g: [u for u in range(m) if g >> u & 1])
    return ["".join(GROUP_LETTERS[n] for n, g in enumerate(groups) if g >> u & 1) for u in range(m)]


def rank_groups(
    index: np.ndarray, se: np.ndarray, ranks: np.ndarray, decimals: int, confidence: float = 0.95
) -> list[str | None]:
    """Letters per unit: units sharing a letter cannot be told apart at level α = 1 − confidence.

    Pairwise z-tests of the index differences with the linearised SEs, Holm's correction over all pairs,
    then the compact letter display. Units without a rank get ``None``; so does every unit when more than
    ``GROUPS_MAX_UNITS`` are ranked or the letters run out.
    """
    out: list[str | None] = [None] * len(index)
    scored = np.flatnonzero(ranks > 0)
    if len(scored) == 0 or len(scored) > GROUPS_MAX_UNITS:
        return out
    order = scored[np.lexsort((scored, -np.round(index[scored], decimals)))]
    i, j, adjusted = pairwise_differences(index[order], se[order], decimals)
    alpha = 1.0 - confidence
    different = [(int(a), int(b)) for a, b, p in zip(i, j, adjusted, strict=True) if p <= alpha]
    letters = letter_display(len(order), different)
    if letters is None:
        return out
    for position, unit in enumerate(order.tolist()):
        out[unit] = letters[position]
    return out
