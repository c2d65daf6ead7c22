"""The sampling design: frame, units and cells, and the calibration constraints (margins, group weights).

Turns the user's frame and margins tables into populations per cell and :class:`Constraint` objects,
checking them against the responses; every problem is a :class:`~analysis.errors.ScoringError` naming
the rows, units and categories concerned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .data import GROUP, STRATUM, ItemColumn, ResponseData, bilingual, canonical_text, number_text, text_codes
from .errors import ScoringError
from .weights import Constraint


def frame_cells(frame: pd.DataFrame) -> tuple[dict[tuple[str, str | None], float], bool, list[str]]:
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


def unit_order(
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


def populations(
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


def margin_constraints(
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
