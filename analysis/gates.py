"""Gates: which responses count for each criterion item, folded into the item's codes.

A gate is an expression of the questionnaire's language on a node of the tree; it applies to every
criterion below. :func:`evaluate_gate` judges it once per distinct combination of the answers it
reads, never per response; :func:`gated_codes` gives every (item, gate path, respondent groups) its
own code column in which responses outside the gates carry an extra 'not counted' code.

A question asked of some respondent groups only (its own or its section's ``groups``) gates its
criteria the same way: the answers of the other groups do not count, and are counted per unit in
:attr:`GatedCodes.not_asked` so that the results report them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from questionnaires.expressions import Expression

from .data import ItemColumn
from .tree import Pair, Plan


def evaluate_gate(expr: Expression, columns: Mapping[str, ItemColumn], n: int) -> np.ndarray:
    """Evaluate a gate for every response, once per distinct combination of the answers it reads.

    Parameters
    ----------
    expr
        The gate.
    columns
        Answer columns by item code (role items included); every reference of ``expr`` is one.
    n
        Number of responses.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the responses that pass.
    """
    refs = sorted(expr.references)
    if not refs:
        return np.full(n, bool(expr.truthy({})))
    cols = [columns[r] for r in refs]
    radices = [c.blank + 1 for c in cols]
    total = math.prod(radices)
    if len(cols) == 1 and total <= 256:
        return _few_answers(expr, refs[0], cols[0], n)
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


def _few_answers(expr: Expression, ref: str, column: ItemColumn, n: int) -> np.ndarray:
    """A gate on one column with few possible answers: judge each one, then compare codes."""
    codes = column.codes
    outcome = [_gate_outcome(expr, [ref], [v]) for v in column.gate_values()]
    hits = [v for v, o in enumerate(outcome) if o]
    misses = [v for v, o in enumerate(outcome) if not o]
    if not hits or not misses:
        return np.full(n, bool(hits))
    invert = len(hits) > len(misses)
    mask = np.zeros(n, dtype=bool)
    for v in misses if invert else hits:
        mask |= codes == v
    return ~mask if invert else mask


def _gate_outcome(expr: Expression, refs: Sequence[str], values: Sequence[Any]) -> bool:
    """The gate for one combination of answers (None = not answered, as the kiosk sees it)."""
    answers = {ref: value for ref, value in zip(refs, values, strict=True) if value is not None}
    return bool(expr.truthy(answers))


@dataclass(frozen=True, slots=True)
class GatedCodes:
    """Per (item, gate path, groups): the leaves it feeds, its codes and its number of codes ``K``."""

    pairs: Mapping[Pair, list[int]]
    codes: Mapping[Pair, np.ndarray]  # blank = ``K - 2``, not counted (outside a gate) = ``K - 1``
    sizes: Mapping[Pair, int]
    # item -> (group -> answers per unit) given by respondents of a group the question is not asked of
    not_asked: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)


def gated_codes(
    plan: Plan,
    items: Mapping[str, ItemColumn],
    columns: Mapping[str, ItemColumn],
    n: int,
    group: ItemColumn | None = None,
    unit_row: np.ndarray | None = None,
    U: int = 0,
) -> GatedCodes:
    """Evaluate every gate once and fold the gates of each path into the codes of its items.

    Parameters
    ----------
    plan
        The compiled tree.
    items
        The scored answer columns.
    columns
        The columns gates may read (answer columns and role items).
    n
        Number of responses.
    group
        Each response's respondent group (needed when :attr:`Plan.needs_group`).
    unit_row, U
        Each response's unit and the number of units, to count answers of groups not asked.

    Returns
    -------
    GatedCodes
    """
    masks: dict[int, np.ndarray] = {}
    for nd in plan.nodes:
        if nd.node.gate is not None:
            masks[nd.idx] = evaluate_gate(nd.node.gate, columns, n)
    group_masks: dict[tuple[str, ...], np.ndarray] = {}
    pairs = plan.pairs()
    codes_of: dict[Pair, np.ndarray] = {}
    sizes: dict[Pair, int] = {}
    for item, path, groups in pairs:
        column = items[item]
        codes = column.codes
        mask = None
        if path:
            mask = masks[path[0]]
            for g in path[1:]:
                mask = mask & masks[g]
        if groups:
            if groups not in group_masks:
                group_masks[groups] = _in_groups(group, groups, n)
            mask = group_masks[groups] if mask is None else mask & group_masks[groups]
        if mask is not None:
            # responses outside the gates move to the extra 'not counted' code
            codes = np.where(mask, codes, column.blank + 1).astype(codes.dtype, copy=False)
        codes_of[(item, path, groups)] = codes
        sizes[(item, path, groups)] = column.blank + 2
    not_asked = {} if group is None or unit_row is None else _not_asked(plan, items, group, unit_row, U)
    return GatedCodes(pairs, codes_of, sizes, not_asked)


def _in_groups(group: ItemColumn | None, groups: tuple[str, ...], n: int) -> np.ndarray:
    """Which responses belong to one of ``groups``."""
    if group is None:
        return np.ones(n, dtype=bool)
    wanted = [i for i, g in enumerate(group.texts) if g in groups]
    return np.isin(group.codes, wanted)


def _not_asked(
    plan: Plan, items: Mapping[str, ItemColumn], group: ItemColumn, unit_row: np.ndarray, U: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per scored item asked of some groups only: answers per unit given by each group not asked."""
    out: dict[str, dict[str, np.ndarray]] = {}
    scored = set(plan.items())
    for item, asked in plan.asked.items():
        if item not in scored:
            continue
        column = items[item]
        answered = column.codes < column.blank
        per_group: dict[str, np.ndarray] = {}
        for g, name in enumerate(group.texts):
            if name in asked:
                continue
            hit = answered & (group.codes == g)
            if hit.any():
                per_group[name] = np.bincount(unit_row[hit], minlength=U)
        if per_group:
            out[item] = per_group
    return out
