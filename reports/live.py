"""Figures of a campaign while it runs, beside the report's own (``reports.charts``): forms received
per day by source against the target, and one unit's index across campaigns.

Drawn like every figure of the reports: a ``Figure`` (never pyplot), the same fonts and colours,
returned as bytes by :func:`reports.charts.render` (``fmt="svg"`` for the web dashboard).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .charts import _RC, DISTRICT_COLOUR, UNIT_COLOUR, _figure, _wrap
from .structure import vn_number

__all__ = ["TrendPoint", "daily_figure", "trend_figure"]

# One colour per source of forms (survey.storage.SOURCES), in a fixed order.
SOURCE_COLOURS = {"kiosk": UNIT_COLOUR, "paper": "#E07B39", "api": "#6A9F3A", "import": "#8E6BB8"}


@dataclass(frozen=True)
class TrendPoint:
    """One campaign's result of a unit: its label (name or period), index and confidence interval."""

    label: str
    index: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    district: float | None = None  # the whole area's index in that campaign


def daily_figure(
    days: Sequence[dt.date],
    counts: Mapping[str, Sequence[int]],
    *,
    labels: Mapping[str, str] | None = None,
    target: int | None = None,
    title: str = "Phiếu nhận được theo ngày",
) -> Figure:
    """Stacked bars of forms per day by source, and the running total against the target."""
    with matplotlib.rc_context(_RC):
        figure = _figure(8.0, 3.4)
        ax = figure.add_subplot()
        x = np.arange(len(days))
        bottom = np.zeros(len(days))
        for source, values in counts.items():
            heights = np.asarray(values, dtype=float)
            if not heights.any():
                continue
            ax.bar(
                x,
                heights,
                bottom=bottom,
                color=SOURCE_COLOURS.get(source, "#888888"),
                label=(labels or {}).get(source, source),
                width=0.8,
            )
            bottom += heights
        ax.set_ylabel("Phiếu mỗi ngày")
        step = max(1, len(days) // 10)
        ax.set_xticks(x[::step], labels=[d.strftime("%d/%m") for d in days][::step], fontsize=7.5)
        ax.grid(axis="y", color="#DDDDDD", linewidth=0.6)
        ax.set_axisbelow(True)
        total = ax.twinx()
        running = np.cumsum(bottom)
        total.plot(x, running, color=DISTRICT_COLOUR, linewidth=1.6, label="Cộng dồn")
        if target:
            total.axhline(target, color="#B22222", linestyle="--", linewidth=1, label=f"Chỉ tiêu {target}")
            total.set_ylim(0, max(target, running.max() if len(running) else 0) * 1.08)
        total.set_ylabel("Cộng dồn")
        for axis in (ax, total):
            axis.spines["top"].set_visible(False)
        handles = ax.get_legend_handles_labels()[0] + total.get_legend_handles_labels()[0]
        names = ax.get_legend_handles_labels()[1] + total.get_legend_handles_labels()[1]
        if handles:
            ax.legend(handles, names, loc="upper left", fontsize=7.5, frameon=False, ncols=3)
        ax.set_title(_wrap(title, 80), loc="left")
    return figure


def trend_figure(points: Sequence[TrendPoint], *, title: str) -> Figure:
    """One unit's index in each campaign (oldest first) with its interval, and the district's."""
    with matplotlib.rc_context(_RC):
        figure = _figure(6.5, 3.0)
        ax = figure.add_subplot()
        x = np.arange(len(points))
        values = np.array([np.nan if p.index is None else p.index for p in points], dtype=float)
        low = np.array([0 if p.ci_low is None or p.index is None else p.index - p.ci_low for p in points])
        high = np.array([0 if p.ci_high is None or p.index is None else p.ci_high - p.index for p in points])
        ax.errorbar(x, values, yerr=[low, high], color=UNIT_COLOUR, marker="o", capsize=3, label="Đơn vị")
        district = np.array([np.nan if p.district is None else p.district for p in points], dtype=float)
        ax.plot(x, district, color=DISTRICT_COLOUR, linestyle="--", marker=".", label="Toàn huyện")
        for xx, p in zip(x, points, strict=True):
            if p.index is not None:
                ax.annotate(
                    vn_number(p.index), (xx, p.index), textcoords="offset points", xytext=(6, 4), fontsize=7.5
                )
        ax.set_xticks(x, labels=[_wrap(p.label, 18) for p in points], fontsize=7.5)
        ax.set_xlim(-0.5, len(points) - 0.5)
        finite = [v for v in (*values, *district) if np.isfinite(v)]
        floor = max(0.0, min(finite) - 10) if finite else 0.0
        ax.set_ylim(floor, 100)
        ax.set_ylabel("Chỉ số (%)")
        ax.grid(axis="y", color="#DDDDDD", linewidth=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(loc="lower left", fontsize=7.5, frameon=False, ncols=2)
        ax.set_title(_wrap(title, 70), loc="left")
    return figure
