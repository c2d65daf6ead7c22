"""The sampling design: frame, units and cells, and the calibration of the weights (margins, group weights).

Turns the user's frame and margins tables into populations per cell and :class:`Constraint` objects,
checking them against the responses; every problem is a :class:`~analysis.errors.ScoringError` naming
the rows, units and categories concerned. :func:`cells` and :func:`calibrate` are the engine's stages
"units and cells" and "calibration".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from questionnaires.numbers import NumberFormatError, parse_number

from .data import GROUP, STRATUM, ItemColumn, ResponseData, bilingual, canonical_text, number_text, text_codes
from .errors import ScoringError
from .variance import fpc_factor
from .weights import Constraint, rake, trim_weights


@dataclass(frozen=True, slots=True)
class Frame:
    """A checked sampling frame: the population of each (unit, stratum) and the frame's unit order."""

    populations: Mapping[tuple[str, str | None], float]  # stratum None when the frame is by unit
    by_stratum: bool
    units: list[str]


def sampling_frame(frame: pd.DataFrame) -> Frame:
    """Check a frame table (``unit``, optional ``stratum``, ``population``) and index its populations."""
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
        populations = np.array([_to_float(v) for v in raw_population.tolist()], dtype=float)
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
    return Frame(cells, by_stratum, order)


def _to_float(value: object) -> float:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_):
        return float(value)
    text = canonical_text(value)
    if text is None:
        return math.nan
    try:  # the rules of the file readers (analysis.io), for a table handed to score() directly
        return parse_number(text)
    except NumberFormatError:
        return math.nan


@dataclass(frozen=True, slots=True)
class Cells:
    """Units and cells (unit × stratum) of the responses, with design weights and population corrections."""

    units: list[str]  # the unit order: unit list, then frame, then responses
    unit_row: np.ndarray  # (n,): unit of each response, a position in ``units``
    cell: np.ndarray  # (n,): cell of each response
    cell_unit: np.ndarray  # (H,): unit of each cell
    n_h: np.ndarray  # (H,): responses per cell, as floats
    n_unit: np.ndarray  # (U,): responses per unit
    population_h: np.ndarray | None  # (H,): people served per cell; None without a frame
    unit_population: np.ndarray | None  # (U,): people served per unit; None without a frame
    design_h: np.ndarray  # (H,): design weight N_h / n_h (1 without a frame)
    f_h: np.ndarray  # (H,): finite population correction 1 - n_h / N_h
    design_weight: np.ndarray  # (n,): design weight of each response
    unasked_responses: int = 0  # responses weighted as their unit's cell of those not asked the stratum

    @property
    def n(self) -> int:
        return len(self.unit_row)

    @property
    def U(self) -> int:
        return len(self.units)

    @property
    def H(self) -> int:
        return len(self.n_h)


def cells(
    data: ResponseData,
    frame: Frame | None,
    units: Sequence[str] | None,
    where: str,
    warnings: list[str],
    unasked_cell: bool = False,
) -> Cells:
    """Order the units, number the cells that have responses and give each response its design weight.

    Parameters
    ----------
    data
        The checked responses.
    frame
        The sampling frame, if any: cells are unit × stratum when it is by stratum, else units.
    units
        The unit list, if any.
    where
        The responses' source, for messages.
    warnings
        Receives the frame's warnings (frame units or strata without responses).
    unasked_cell
        ``unasked_stratum: unit_cell``: the responses of a unit with a blank stratum (not asked) form one
        more cell of that unit, sampled at the unit's own rate (see :func:`populations`).

    Returns
    -------
    Cells

    Raises
    ------
    ScoringError
        For units outside the unit list or the frame, cells without a population, ``n_h > N_h``.
    """
    order = unit_order(units, frame, data, where)
    U = len(order)
    unit_pos = {u: i for i, u in enumerate(order)}
    unit_of_code = np.array([unit_pos[u] for u in data.units], dtype=np.intp)
    unit_row = np.take(unit_of_code, data.unit.astype(np.intp))
    by_stratum = frame is not None and frame.by_stratum
    if by_stratum:
        assert data.stratum is not None and data.strata is not None
        S = len(data.strata) + (1 if unasked_cell else 0)
        key = unit_row * S
        key += np.where(data.stratum < 0, S - 1, data.stratum) if unasked_cell else data.stratum
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
    n_h = counts[present].astype(float)
    population_h: np.ndarray | None = None
    unit_population: np.ndarray | None = None
    if frame is not None:
        population_h, unit_population = populations(
            frame, order, cell_unit, present % S, data, n_h, where, warnings
        )
    design_h = population_h / n_h if population_h is not None else np.ones(H)
    return Cells(
        units=order,
        unit_row=unit_row,
        cell=cell,
        cell_unit=cell_unit,
        n_h=n_h,
        n_unit=np.bincount(unit_row, minlength=U),
        population_h=population_h,
        unit_population=unit_population,
        design_h=design_h,
        f_h=fpc_factor(n_h, population_h),
        design_weight=np.take(design_h, cell),
        unasked_responses=int((data.stratum < 0).sum()) if by_stratum and unasked_cell else 0,
    )


def unit_order(units: Sequence[str] | None, frame: Frame | None, data: ResponseData, where: str) -> list[str]:
    """The units in report order: the unit list, then the frame's other units, then the responses'."""
    order: list[str] = []
    frame_order = frame.units if frame is not None else []
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
    if frame is not None:
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


def populations(
    frame: Frame,
    unit_order: list[str],
    cell_unit: np.ndarray,
    cell_stratum: np.ndarray,
    data: ResponseData,
    n_h: np.ndarray,
    where: str,
    warnings: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The population of every cell and unit; warn of frame units and strata without responses."""
    frame_cells, by_stratum = frame.populations, frame.by_stratum
    H = len(n_h)
    population = np.zeros(H)
    missing: list[str] = []
    over: list[str] = []
    seen: set[tuple[str, str | None]] = set()
    n_strata = len(data.strata) if by_stratum and data.strata is not None else 0
    unasked = by_stratum & (cell_stratum >= n_strata) if by_stratum else np.zeros(H, dtype=bool)
    for h in range(H):
        if unasked[h]:
            continue
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
    if unasked.any():
        _unasked_populations(population, unasked, cell_unit, n_h, unit_order, warnings)
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


def _unasked_populations(
    population: np.ndarray,
    unasked: np.ndarray,
    cell_unit: np.ndarray,
    n_h: np.ndarray,
    unit_order: list[str],
    warnings: list[str],
) -> None:
    """Give each unit's cell of responses not asked the stratum question a population (in place).

    The cell is taken to be sampled at the unit's own rate: ``N = n × ΣN / Σn`` over the unit's cells
    with a stratum, so its responses weigh the unit's mean design weight and its finite population
    correction is the unit's. These people are not in the frame (they did no procedure), so they are not
    added to the unit's population served. A unit whose responses all lack a stratum has no rate: error.
    """
    U = len(unit_order)
    real = ~unasked
    N_unit = np.bincount(cell_unit[real], weights=population[real], minlength=U)
    n_unit = np.bincount(cell_unit[real], weights=n_h[real], minlength=U)
    orphan = []
    for h in np.flatnonzero(unasked).tolist():
        u = int(cell_unit[h])
        if n_unit[u] == 0:
            orphan.append(f"{unit_order[u]} ({int(n_h[h])})")
            continue
        population[h] = n_h[h] * N_unit[u] / n_unit[u]
    if orphan:
        raise ScoringError(
            bilingual(
                "đơn vị không có phiếu nào có lĩnh vực (stratum) nên không tính được trọng số cho phiếu "
                f"không được hỏi lĩnh vực: {', '.join(orphan[:10])}",
                "units where no response has a stratum: the responses not asked it cannot be weighted",
            )
        )
    total = int(n_h[unasked].sum())
    warnings.append(
        bilingual(
            f"{total} phiếu không được hỏi lĩnh vực (stratum) được tính như một ô riêng của mỗi đơn vị, "
            "với trọng số bình quân của đơn vị (unasked_stratum = unit_cell)",
            f"{total} responses not asked the stratum form one more cell per unit, weighted at the unit's "
            "mean design weight",
        )
    )


@dataclass(frozen=True, slots=True)
class Calibration:
    """The final weight of every response and the constraints it was calibrated to."""

    weight: np.ndarray  # (n,): the design weight when there are no constraints
    constraints: list[Constraint]
    nested: list[Constraint]  # categories inside one unit: group weights, per-unit margins
    area: list[Constraint]  # area-wide margins
    weighting: str  # none | design | poststratified | raked
    group_weighted: bool

    @property
    def constant_in_cell(self) -> bool:
        """Whether every response of a cell has the same weight (no calibration)."""
        return not self.constraints


def calibrate(
    data: ResponseData,
    columns: Mapping[str, ItemColumn],
    cells: Cells,
    group_weights: Mapping[str, float],
    margins: pd.DataFrame | None,
    warnings: list[str],
    *,
    by_group: bool = False,
    trim: tuple[float, float] | None,
    max_iterations: int,
    tolerance: float,
) -> Calibration:
    """Calibrate the design weights to the group weights and the margins (raking, then trimming).

    Parameters
    ----------
    data
        The checked responses.
    columns
        Answer columns by item code, role items included (margin variables).
    cells
        Units, cells and design weights.
    group_weights
        ``Scoring.group_weights`` (empty: none).
    margins
        The margins table, if any.
    warnings
        Receives warnings on groups missing in a unit and on trimmed weights.
    by_group
        ``group_weighting: criterion_means``: the group weights apply to each criterion's group means
        (:mod:`analysis.tree`), not to the weights; the groups are checked and warned about all the same.
    trim
        Bounds on the calibration factor, if any.
    max_iterations, tolerance
        Raking convergence settings.

    Returns
    -------
    Calibration

    Raises
    ------
    ScoringError
        For unusable margins or group weights, area-wide margins combined with nested constraints, or
        raking that does not converge.
    """
    constraints: list[Constraint] = []
    weighting = "design" if cells.population_h is not None else "none"
    group_weighted = False
    if group_weights:
        c = group_constraint(
            group_weights,
            data,
            cells.unit_row,
            cells.U,
            cells.units,
            cells.design_weight,
            data.where(),
            warnings,
        )
        if c is not None:
            if not by_group:
                constraints.append(c)
            group_weighted = True
    margin_list: list[Constraint] = []
    if margins is not None:
        margin_list = margin_constraints(
            margins, data, columns, cells.unit_row, cells.units, cells.design_weight
        )
        constraints.extend(margin_list)
        weighting = "poststratified" if len({c.name for c in margin_list}) == 1 else "raked"
    nested = [c for c in constraints if c.nested]
    area = [c for c in constraints if not c.nested]
    if nested and area:
        raise ScoringError(
            bilingual(
                "không kết hợp được biên cho toàn vùng với trọng số nhóm hoặc biên theo từng đơn vị",
                "area-wide margins cannot be combined with group_weights or per-unit margins",
            )
        )
    if not constraints:
        return Calibration(cells.design_weight, constraints, nested, area, weighting, group_weighted)
    weight, _ = rake(cells.design_weight, constraints, max_iterations, tolerance)
    if trim is not None and margin_list:
        weight, trimmed = trim_weights(weight, cells.design_weight, trim)
        if trimmed:
            warnings.append(
                bilingual(
                    f"{trimmed} trọng số bị cắt về giới hạn {trim}; các biên chỉ còn đúng gần đúng",
                    f"{trimmed} weights were trimmed to {trim}; the margins now hold approximately",
                )
            )
    return Calibration(weight, constraints, nested, area, weighting, group_weighted)


def group_constraint(
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


@dataclass(frozen=True, slots=True)
class _MarginRow:
    row: int  # as the user sees it
    category: str
    unit: int  # position in the unit order; -1 for area-wide margins
    population: float


def margin_constraints(
    margins: pd.DataFrame,
    data: ResponseData,
    item_columns: Mapping[str, ItemColumn],
    unit_row: np.ndarray,
    unit_order: list[str],
    design: np.ndarray,
) -> list[Constraint]:
    """One constraint per variable of a margins table, checked against the responses.

    Parameters
    ----------
    margins
        ``variable, category, population`` and optionally ``unit`` (see :mod:`analysis.io`).
    data
        The checked responses.
    item_columns
        Answer columns by item code, role items included.
    unit_row
        Unit of each response (position in ``unit_order``).
    unit_order
        The units in report order.
    design
        Design weight of each response.

    Returns
    -------
    list of Constraint

    Raises
    ------
    ScoringError
        For bad rows, unusable variables, categories with responses but no total (or the reverse),
        and variables whose totals differ.
    """
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
    rows_by_var = _margin_rows(margins, cols, {u: i for i, u in enumerate(unit_order)}, where)
    constraints = [
        _margin_constraint(variable, rows, data, item_columns, unit_row, unit_order, per_unit, where)
        for variable, rows in rows_by_var.items()
    ]
    _check_margin_totals(constraints, unit_row, len(unit_order), unit_order, per_unit, where)
    return constraints


def _margin_rows(
    margins: pd.DataFrame, cols: Mapping[str, pd.Series], unit_pos: Mapping[str, int], where: str
) -> dict[str, list[_MarginRow]]:
    """The rows of a margins table by variable; every bad row named in one error."""
    per_unit = "unit" in cols
    numbered = bool(margins.attrs.get("row_numbers"))
    rows_by_var: dict[str, list[_MarginRow]] = {}
    problems: list[str] = []
    for pos in range(len(margins)):
        row = int(margins.index[pos]) if numbered else pos + 1
        variable = canonical_text(cols["variable"].iat[pos])
        category = canonical_text(cols["category"].iat[pos])
        population = _to_float(cols["population"].iat[pos])
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
        if per_unit and (unit is None or unit not in unit_pos):
            problems.append(
                bilingual(
                    f"dòng {row}: đơn vị {unit!r} không có trong dữ liệu",
                    f"row {row}: unknown unit {unit!r}",
                )
            )
            continue
        u = unit_pos[unit] if per_unit and unit is not None else -1
        rows_by_var.setdefault(variable, []).append(_MarginRow(row, category, u, population))
    if problems:
        raise ScoringError(where + "; ".join(problems[:10]))
    return rows_by_var


def _margin_column(
    part: str, data: ResponseData, item_columns: Mapping[str, ItemColumn], where: str
) -> ItemColumn:
    """The single-choice column (an item, ``stratum`` or ``group``) of one part of a margin variable."""
    column = item_columns.get(part)
    if column is None and part in (STRATUM, GROUP):
        column = data.role_column(part, part)
    if column is None or column.kind == "multiple":
        raise ScoringError(
            where
            + bilingual(
                f"biến biên {part!r} không phải là cột một lựa chọn, stratum hay group của bảng phiếu",
                f"margin variable {part!r} is not a single-choice column, stratum or group of the responses",
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
    return column


def _margin_constraint(
    variable: str,
    rows: list[_MarginRow],
    data: ResponseData,
    item_columns: Mapping[str, ItemColumn],
    unit_row: np.ndarray,
    unit_order: list[str],
    per_unit: bool,
    where: str,
) -> Constraint:
    """The constraint of one margin variable (a cross of ``:``-joined parts), per unit or area-wide."""
    parts = variable.split(":")
    part_cols = [_margin_column(part, data, item_columns, where) for part in parts]
    sizes = [c.blank for c in part_cols]
    n_cat = math.prod(sizes)
    key = np.zeros(data.n, dtype=np.int64)
    stride = 1
    for c, size in zip(part_cols, sizes, strict=True):
        key += c.codes.astype(np.int64) * stride
        stride *= size
    if per_unit:
        key = unit_row.astype(np.int64) * n_cat + key
        space = len(unit_order) * n_cat
    else:
        space = n_cat
    lookups = [{t: i for i, t in enumerate(c.texts)} for c in part_cols]
    targets = np.full(space, np.nan)
    for margin in rows:
        code = _category_code(variable, margin, lookups, sizes, where)
        if code is None:
            continue
        slot = (margin.unit * n_cat + code) if per_unit else code
        if not np.isnan(targets[slot]):
            raise ScoringError(
                where
                + bilingual(
                    f"dòng {margin.row}: {variable} = {margin.category} bị lặp",
                    f"row {margin.row}: duplicated margin",
                )
            )
        targets[slot] = margin.population
    sample = np.bincount(key, minlength=space)

    def label(slot: int) -> str:
        return _margin_label(slot, per_unit, n_cat, part_cols, sizes, unit_order)

    _check_margin_sample(variable, sample, targets, label, where)
    used = np.flatnonzero(sample > 0)
    compact = np.full(space, -1, dtype=np.int64)
    compact[used] = np.arange(len(used))
    return Constraint(variable, compact[key], targets[used], nested=per_unit)


def _category_code(
    variable: str, margin: _MarginRow, lookups: list[dict[str, int]], sizes: list[int], where: str
) -> int | None:
    """The combined code of a margin row's category; None for a category no response has."""
    pieces = margin.category.split(":")
    if len(pieces) != len(lookups):
        raise ScoringError(
            where
            + bilingual(
                f"dòng {margin.row}: category {margin.category!r} phải có {len(lookups)} phần nối bằng ':'",
                f"row {margin.row}: the category needs {len(lookups)} parts joined by ':'",
            )
        )
    code = 0
    stride = 1
    for piece, lookup, size in zip(pieces, lookups, sizes, strict=True):
        idx = lookup.get(piece)
        if idx is None:
            alt = canonical_text(piece)
            idx = lookup.get(alt) if alt is not None else None
        if idx is None:
            if margin.population > 0:
                raise ScoringError(
                    where
                    + bilingual(
                        f"dòng {margin.row}: {variable} = {margin.category} có population "
                        f"{number_text(margin.population)} nhưng "
                        "không có phiếu nào; hãy gộp nhóm này với nhóm bên cạnh",
                        "a margin category has a population but no responses; merge it with a neighbour",
                    )
                )
            return None
        code += idx * stride
        stride *= size
    return code


def _check_margin_sample(
    variable: str, sample: np.ndarray, targets: np.ndarray, label: Callable[[int], str], where: str
) -> None:
    """Every category with responses has a total > 0, and every total > 0 has responses."""
    absent = np.flatnonzero((sample > 0) & np.isnan(targets))
    if len(absent):
        shown = [label(int(s)) for s in absent[:5]]
        raise ScoringError(
            where
            + bilingual(
                f"có phiếu với {variable} = {', '.join(shown)} nhưng bảng biên không cho population",
                "responses fall in margin categories that the margins do not give",
            )
        )
    empty = np.flatnonzero((sample == 0) & (np.nan_to_num(targets) > 0))
    if len(empty):
        shown = [label(int(s)) for s in empty[:5]]
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
        shown = [label(int(s)) for s in zero[:5]]
        raise ScoringError(
            where
            + bilingual(
                f"{variable} = {', '.join(shown)} có phiếu nhưng population bằng 0",
                "margin categories with responses have population 0",
            )
        )


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
