"""The scoring tree: compiled from a questionnaire's scoring, then evaluated per domain with derivatives.

:func:`compile_plan` flattens :class:`~questionnaires.model.ScoreNode` into numbered nodes (parents
before children) and leaves (one per criterion item); :func:`leaf_scores` gives the score and validity
of every answer code of a leaf; :func:`evaluate` computes every node's value from the leaves' weighted
totals and the derivative of the index with respect to every leaf ratio (the delta method).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from questionnaires import GroupWeighting, Level, Method, PointsTotal, Questionnaire, ScoreNode, Scoring

from .data import ItemColumn, bilingual, number_text
from .errors import ScoringError

# A pair is one item read under one path of gates by the responses of some respondent groups (empty:
# every group); a leaf belongs to exactly one pair.
Pair = tuple[str, tuple[int, ...], tuple[str, ...]]


@dataclass
class Node:
    """One node of the tree; ``idx`` is its position in :attr:`Plan.nodes`."""

    idx: int
    node: ScoreNode
    parent: int | None
    children: list[int] = field(default_factory=list)  # non-leaf children (node indices)
    leaves: list[int] = field(default_factory=list)  # criteria: their items (leaf indices)
    slots: list[list[int]] = field(default_factory=list)  # criteria: the leaves of each item
    combine: float = 1.0  # weight in the parent's mean
    points: float | None = None  # maximum points (points method)
    gates: tuple[int, ...] = ()  # nodes whose gate applies here: ancestors and self


@dataclass(frozen=True, slots=True)
class Leaf:
    """One item of one criterion, read from the responses of ``groups``, scored by ``method``.

    Under ``group_weighting: criterion_means`` an item has one leaf per weighted group (``weight`` =
    the group's weight); otherwise one leaf of weight 1 read from the groups asked the question.
    """

    idx: int
    criterion: int
    item: str
    method: Method
    values: Mapping[str, float] | None  # points: option code -> fraction
    groups: tuple[str, ...] = ()  # the respondent groups whose answers count; empty = every group
    slot: int = 0  # the item's position in its criterion
    weight: float = 1.0  # weight among the leaves of the same item


@dataclass(frozen=True, slots=True)
class Plan:
    """The tree in pre-order (root first) and its leaves."""

    scoring: Scoring
    nodes: list[Node]
    leaves: list[Leaf]
    points: bool
    asked: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # item -> groups asked (restricted)
    by_group: bool = False  # criterion means by respondent group (group_weighting: criterion_means)

    @property
    def points_asked(self) -> bool:
        """Points are summed over the criteria asked and answered (``points_total: asked``)."""
        return self.points and self.scoring.points_total is PointsTotal.ASKED

    @property
    def needs_group(self) -> bool:
        """Whether scoring reads each response's respondent group."""
        return self.by_group or any(leaf.groups for leaf in self.leaves)

    @property
    def criteria(self) -> list[Node]:
        return [n for n in self.nodes if n.node.level is Level.CRITERION]

    def items(self) -> list[str]:
        return list(dict.fromkeys(leaf.item for leaf in self.leaves))

    def gate_references(self) -> set[str]:
        refs: set[str] = set()
        for n in self.nodes:
            if n.node.gate is not None:
                refs |= set(n.node.gate.references)
        return refs

    def pairs(self) -> dict[Pair, list[int]]:
        """The leaves of each (item, gate path): they share one column of gated codes."""
        pairs: dict[Pair, list[int]] = {}
        for leaf in self.leaves:
            pairs.setdefault((leaf.item, self.nodes[leaf.criterion].gates, leaf.groups), []).append(leaf.idx)
        return pairs


def asked_groups(q: Questionnaire) -> dict[str, tuple[str, ...]]:
    """The respondent groups asked each question that is not asked of everyone.

    A question's own ``groups`` and its section's both apply (a question of a section shown to the
    leaders alone is asked of the leaders alone).
    """
    declared = tuple(g.code for g in q.groups)
    out: dict[str, tuple[str, ...]] = {}
    for section in q.sections:
        for question in section.questions:
            allowed = set(declared) if declared else None
            for groups in (section.groups, question.groups):
                if groups:
                    allowed = set(groups) if allowed is None else allowed & set(groups)
            if allowed is not None and declared and allowed != set(declared):
                out[question.code] = tuple(g for g in declared if g in allowed)
    return out


def compile_plan(scoring: Scoring, asked: Mapping[str, tuple[str, ...]] | None = None) -> Plan:
    """Number the nodes and leaves of ``scoring``'s tree and fix each node's weight in its parent.

    Parameters
    ----------
    scoring
        The questionnaire's scoring settings.
    asked
        The groups asked each question that is not asked of every group (:func:`asked_groups`): the
        answers of other groups do not count for its criteria.

    Returns
    -------
    Plan

    Raises
    ------
    ScoringError
        When the points method meets a criterion without ``max_points``.
    """
    points = scoring.method is Method.POINTS
    asked = dict(asked or {})
    by_group = bool(scoring.group_weights) and scoring.group_weighting is GroupWeighting.CRITERION_MEANS
    nodes: list[Node] = []
    leaves: list[Leaf] = []

    def visit(sn: ScoreNode, parent: int | None, gates: tuple[int, ...]) -> int:
        idx = len(nodes)
        n = Node(idx, sn, parent)
        nodes.append(n)
        if sn.gate is not None:
            gates = (*gates, idx)
        n.gates = gates
        if sn.level is Level.CRITERION:
            method = sn.method or scoring.method
            values = sn.values or scoring.values if method is Method.POINTS else None
            for slot, item in enumerate(sn.items):
                groups = asked.get(item, ())
                if by_group:
                    # one leaf per weighted group asked the question: the criterion's value is the
                    # weighted mean of the groups' means
                    parts = [
                        ((g,), float(w))
                        for g, w in scoring.group_weights.items()
                        if float(w) > 0 and (not groups or g in groups)
                    ]
                else:
                    parts = [(groups, 1.0)]
                ids = []
                for leaf_groups, weight in parts:
                    leaves.append(Leaf(len(leaves), idx, item, method, values, leaf_groups, slot, weight))
                    ids.append(len(leaves) - 1)
                n.leaves.extend(ids)
                n.slots.append(ids)
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
    return Plan(scoring, nodes, leaves, points, asked, by_group)


@dataclass(frozen=True, slots=True)
class LeafScores:
    """Score and validity of each code of a leaf's column (then 'no answer', then 'not counted')."""

    score: np.ndarray
    valid: np.ndarray


def leaf_scores(leaf: Leaf, column: ItemColumn, scoring: Scoring) -> LeafScores:
    """Score every code of ``column`` by the leaf's method.

    Parameters
    ----------
    leaf
        The leaf (its method and, for points, its option values).
    column
        The leaf's answer column.
    scoring
        The scoring settings (valid and positive codes, the scale).

    Returns
    -------
    LeafScores
        Arrays of ``len(column.texts) + 2`` entries; the last two (blank, not counted) are zero.

    Raises
    ------
    ScoringError
        For mean_score, when a valid code is not a number or lies outside the scale.
    """
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
            if t in valid:
                v[i] = 1.0
                s[i] = (_scale_value(column.code, t, lo, hi) - lo) / (hi - lo)
    else:
        values = leaf.values or {}
        for i, t in enumerate(texts):
            if t in values:
                v[i] = 1.0
                s[i] = float(values[t])
    return LeafScores(s, v)


def _scale_value(item: str, text: str, lo: float, hi: float) -> float:
    """The number of a valid code on the mean-score scale."""
    try:
        x = float(text)
    except ValueError:
        raise ScoringError(
            bilingual(
                f"câu {item}: mã hợp lệ {text!r} không phải là số nên không tính được điểm trung bình",
                f"item {item}: valid code {text!r} is not a number, so it has no mean score",
            )
        ) from None
    if not lo <= x <= hi:
        raise ScoringError(
            bilingual(
                f"câu {item}: mã hợp lệ {text} nằm ngoài thang [{number_text(lo)}, {number_text(hi)}]",
                f"item {item}: valid code {text} lies outside the scale",
            )
        )
    return x


@dataclass(frozen=True, slots=True)
class Tree:
    """The tree evaluated for every domain (units, then the whole area)."""

    value: np.ndarray  # (D, nodes): node values on the 0-1 scale, NaN where not computable
    leaf_derivative: np.ndarray  # (D, L): d index / d leaf ratio
    maximum: np.ndarray | None = None  # points: (D, nodes) the points a node is scored out of


def evaluate(plan: Plan, Y: np.ndarray, X: np.ndarray) -> Tree:
    """Evaluate every node from the leaves' totals, and the index's derivatives.

    A criterion is the mean of its items over the items with a valid answer; an item read by group
    (``criterion_means``) is the weighted mean of its groups' ratios over the groups with a valid answer
    (weights renormalised over them). A node above is the weighted mean of its children with a value:
    by ``weight``, by maximum points, or under ``points_total: asked`` by the maximum points of the
    criteria below it that have a value, so that the index is the sum of those criteria's points over
    the sum of their maxima.

    Parameters
    ----------
    plan
        The compiled tree.
    Y, X
        Weighted totals of score and of validity, shape ``(D, L)``: a leaf's ratio is ``Y / X``.

    Returns
    -------
    Tree
    """
    D, L = Y.shape
    N = len(plan.nodes)
    leaf_ok = X > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(leaf_ok, Y / np.where(leaf_ok, X, 1.0), np.nan)
    weight = np.array([leaf.weight for leaf in plan.leaves])
    value = np.full((D, N), np.nan)
    ok = np.zeros((D, N), dtype=bool)
    den = np.zeros((D, N))
    asked = plan.points_asked
    maximum = np.zeros((D, N)) if asked else None
    slot_den: dict[int, np.ndarray] = {}  # leaf -> Σ weights of its item's leaves with a value
    for nd in reversed(plan.nodes):  # children before parents
        num = np.zeros(D)
        d = np.zeros(D)
        if nd.leaves:
            for slot in nd.slots:
                if len(slot) == 1 and weight[slot[0]] == 1.0:
                    li = slot[0]
                    num += np.where(leaf_ok[:, li], ratio[:, li], 0.0)
                    d += leaf_ok[:, li]
                    slot_den[li] = np.ones(D)
                    continue
                a = np.zeros(D)
                s = np.zeros(D)
                for li in slot:
                    a += np.where(leaf_ok[:, li], weight[li], 0.0)
                    s += np.where(leaf_ok[:, li], weight[li] * np.nan_to_num(ratio[:, li]), 0.0)
                has = a > 0
                num += np.where(has, s / np.where(has, a, 1.0), 0.0)
                d += has
                for li in slot:
                    slot_den[li] = a
        else:
            for c in nd.children:
                cw = maximum[:, c] if maximum is not None else plan.nodes[c].combine
                num += np.where(ok[:, c], cw * np.nan_to_num(value[:, c]), 0.0)
                d += np.where(ok[:, c], cw, 0.0)
        den[:, nd.idx] = d
        ok[:, nd.idx] = d > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            value[:, nd.idx] = np.where(d > 0, num / np.where(d > 0, d, 1.0), np.nan)
        if maximum is not None:
            # the points this node is scored out of: its criteria that have a value
            maximum[:, nd.idx] = np.where(ok[:, nd.idx], nd.points or 0.0, 0.0) if nd.leaves else d
    deriv = np.zeros((D, N))
    leaf_deriv = np.zeros((D, L))
    deriv[:, 0] = ok[:, 0].astype(float)
    for nd in plan.nodes:  # parents before children
        d = den[:, nd.idx]
        safe = np.where(d > 0, d, 1.0)
        if nd.leaves:
            for li in nd.leaves:
                a = slot_den[li]
                share = weight[li] / np.where(a > 0, a, 1.0)
                leaf_deriv[:, li] = np.where(leaf_ok[:, li] & (d > 0), deriv[:, nd.idx] * share / safe, 0.0)
        else:
            for c in nd.children:
                cw = maximum[:, c] if maximum is not None else plan.nodes[c].combine
                deriv[:, c] = np.where(ok[:, c] & (d > 0), deriv[:, nd.idx] * cw / safe, 0.0)
    if maximum is None and plan.points:
        maximum = np.broadcast_to(np.array([nd.points or 0.0 for nd in plan.nodes]), (D, N))
    return Tree(value, leaf_deriv, maximum)
