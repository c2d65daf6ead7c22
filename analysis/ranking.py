"""Ranks: competition ranking at the published precision, and the probability of a rank by simulation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def rank_probability_array(
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
