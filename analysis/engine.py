"""The scoring engine: responses table -> weights -> index per unit and for the whole area, with SE and CI.

Every choice of method comes from the questionnaire's :class:`~questionnaires.model.Scoring`
(methodology §5–§7); nothing is a constant here.

Estimates
---------
Each criterion item ``ℓ`` of a unit gives a ratio of weighted totals over its valid answers::

    R_ℓ = Σ w·g_ℓ·s_ℓ(y) / Σ w·g_ℓ·[y valid]

with ``g_ℓ`` the product of the gates on the path to the criterion and ``s_ℓ`` the answer's score:
``[y ∈ positive]`` (share_satisfied), ``(y - min)/(max - min)`` (mean_score) or the option's fraction of
the criterion's points (points; a code missing from ``values`` is not valid). A criterion is the mean
of its items' ratios. A node is the weighted mean of its children (node ``weight``); under the points
method children are combined by their maximum points, so the index is the sum of points as a share of
the maximum, and a criterion's points are ``max_points × value`` (``points_total: asked``: the maxima
of the criteria with a value only, so the points are the sum of the criteria asked and answered). A
child with no valid answer is left out of its parent's mean (a criterion missing in a unit is flagged
and named in the warnings). The whole area pools the weighted totals of all units.

Respondent groups (``group_weights``): under ``group_weighting: criterion_means`` an item is read once
per weighted group (``g_ℓ`` includes the group) and its value is the group-weighted mean of the groups'
ratios; under ``respondents`` the weights are post-stratified per unit (:func:`analysis.design.calibrate`).
A question asked of some groups only gates its criteria to those groups (:mod:`analysis.gates`).

Uncertainty
-----------
The index is a smooth function of the weighted totals, so it is linearised through the tree (delta
method, the derivative of every mean with respect to its children, of every ratio with respect to its
totals); the variance of the linearised variable follows the stratified design with strata = cells
(:mod:`analysis.variance`). This equals R's ``svycontrast`` on ``svytotal`` of the item indicators for
``svydesign(ids = ~1, strata = ~cell, weights = ~w, fpc = ~N)`` (see ``tests/fixtures/analysis``).

Speed
-----
Answers are small integer codes; per cell and per answer code the weights are summed with
``np.bincount`` once per item, and the linearised variable is gathered from per-cell lookup tables. No
Python loop runs over responses or over units in the numerical part.

Stages
------
:func:`score` runs them in order, each a function returning a small frozen dataclass: input
(:class:`Inputs`), units and cells (:func:`analysis.design.cells`), calibration
(:func:`analysis.design.calibrate`), gates (:func:`analysis.gates.gated_codes`), pass 1
(:func:`analysis.passes.weighted_totals`), the tree (:func:`analysis.tree.evaluate`), linearised
variables (:func:`analysis.passes.linearise`), pass 2 (:func:`analysis.passes.variance`), sizes,
design effects and intervals (:class:`Intervals`), results (:mod:`analysis.assemble`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from questionnaires import (
    Expression,
    Questionnaire,
    QuestionnaireError,
    Role,
    Scoring,
    UnaskedStratum,
    load_questionnaire,
)

from . import design, passes, ranking
from .assemble import Estimates, assemble, previous_lookup, targets_of
from .data import GROUP, STRATUM, ItemColumn, ResponseData, bilingual, prepare_responses
from .design import Calibration, Cells, Frame
from .errors import ScoringError
from .gates import evaluate_gate, gated_codes
from .passes import Totals
from .results import IndexTable
from .tree import Plan, Tree, asked_groups, compile_plan, evaluate
from .variance import korn_graubard
from .weights import kish, kish_cells, kish_total


def score(
    questionnaire: Questionnaire | str,
    responses: pd.DataFrame,
    frame: pd.DataFrame | None = None,
    margins: pd.DataFrame | None = None,
    previous: IndexTable | pd.DataFrame | None = None,
    targets: Mapping[str, int] | None = None,
    unit_names: Mapping[str, str] | None = None,
    confidence: float = 0.95,
    *,
    units: Sequence[str] | None = None,
    min_n: int | None = None,
    margin_of_error: float = 0.05,
    rank_probability: bool = False,
    draws: int = 1000,
    seed: int = 20231,
    trim: tuple[float, float] | None = None,
    max_iterations: int = 1000,
    tolerance: float = 1e-10,
) -> IndexTable:
    """Score a responses table: index per unit and for the whole area, with SE, CI, rank and flags.

    Parameters
    ----------
    questionnaire
        The questionnaire (or its id); its ``scoring`` says how answers become the index.
    responses
        The responses table: ``response_id``, ``unit``, optional ``stratum`` and ``group``, then one
        column per item code (see :mod:`analysis.io`).
    frame
        Sampling frame: ``unit``, optional ``stratum``, ``population``. Gives design weights
        ``N_h/n_h`` and the finite population correction; without it every response weighs 1.
    margins
        Known totals ``variable, category, population`` (optional ``unit``): post-stratification for one
        variable, raking for several.
    previous
        Results of an earlier period: the change in index and in rank is reported.
    targets
        Target number of responses per unit; by default Slovin's ``N/(1 + N e²)`` from the frame.
    unit_names
        Display names of the units.
    confidence
        Coverage of the confidence intervals.
    units
        The units expected (a unit list): responses from another unit are an error, and a listed unit
        without responses is reported with ``no_data``.
    min_n
        Units with fewer responses are flagged ``small_sample``; default ``Scoring.min_n``.
    margin_of_error
        ``e`` in Slovin's formula.
    rank_probability
        Also estimate, by simulation from normal(index, se), the probability that a unit's true rank is
        within one place of its shown rank. The same simulation gives each unit's rank interval
        (``rank_low``–``rank_high``), computed anyway when at most ``ranking.AUTO_MAX_UNITS`` units are
        ranked; ``rank_group`` (units that cannot be told apart) is computed for at most
        ``ranking.GROUPS_MAX_UNITS``.
    draws, seed
        Simulation size and seed (fixed, so results repeat).
    trim
        Bounds on the calibration factor (calibrated / design weight), as R's ``calibrate(trim=)``.
    max_iterations, tolerance
        Raking convergence settings.

    Returns
    -------
    IndexTable

    Raises
    ------
    ScoringError
        For any input the engine cannot use; the message names file, rows, columns and items.
    """
    q = _questionnaire(questionnaire)
    scoring = _scoring(q, confidence)
    plan = compile_plan(scoring, asked_groups(q))
    warnings: list[str] = []
    inputs = read_inputs(q, plan, responses, frame)
    data = inputs.data
    cells = design.cells(
        data,
        inputs.frame,
        units,
        data.where(),
        warnings,
        unasked_cell=scoring.unasked_stratum is UnaskedStratum.UNIT_CELL,
    )
    calibration = design.calibrate(
        data,
        inputs.columns,
        cells,
        inputs.group_weights,
        margins,
        warnings,
        by_group=plan.by_group,
        trim=trim,
        max_iterations=max_iterations,
        tolerance=tolerance,
    )
    group = data.role_column(GROUP, GROUP) if plan.needs_group else None
    gated = gated_codes(plan, data.items, inputs.columns, cells.n, group, cells.unit_row, cells.U)
    totals = passes.weighted_totals(plan, data.items, gated, cells, calibration)
    tree = evaluate(plan, totals.Y, totals.X)
    linearised = passes.linearise(gated, totals, tree, cells)
    variance = passes.variance(gated, linearised, cells, calibration)
    not_asked = gated.not_asked
    del gated, linearised  # a gated item's codes are n entries each: not needed by the results
    intervals = interval_estimates(tree, variance, cells, calibration, confidence)
    estimates = _estimates(scoring, tree, totals, cells, intervals, rank_probability, draws, seed, confidence)
    min_n_value = scoring.min_n if min_n is None else int(min_n)
    unit_results, overall = assemble(
        plan,
        tree,
        cells.units,
        estimates,
        targets_of(targets, cells.units, cells.unit_population, margin_of_error),
        min_n_value,
        previous_lookup(previous),
        dict(unit_names or {}),
        warnings,
        not_asked,
    )
    return IndexTable(
        questionnaire=q.id,
        version=q.version,
        method=scoring.method.value,
        units=tuple(unit_results),
        overall=overall,
        warnings=tuple(warnings),
        weighting=calibration.weighting,
        ci_method="korn-graubard",
        confidence=confidence,
        labels=MappingProxyType({nd.node.code: nd.node.label.vi for nd in plan.nodes}),
        levels=MappingProxyType({nd.node.code: nd.node.level.value for nd in plan.nodes}),
        group_weighted=calibration.group_weighted,
        group_weighting=scoring.group_weighting.value if calibration.group_weighted else None,
        points_total=scoring.points_total.value if plan.points else None,
        unasked_stratum=UnaskedStratum.UNIT_CELL.value if cells.unasked_responses else None,
        decimals=scoring.decimals,
        min_n=min_n_value,
    )


def _questionnaire(ref: Questionnaire | str) -> Questionnaire:
    """The questionnaire itself, or the one of that id."""
    if isinstance(ref, Questionnaire):
        return ref
    try:
        return load_questionnaire(ref)
    except QuestionnaireError as exc:
        raise ScoringError(str(exc)) from None


def _scoring(q: Questionnaire, confidence: float) -> Scoring:
    """The questionnaire's scoring settings, once the call is known to be scorable."""
    if q.scoring is None:
        raise ScoringError(
            bilingual(
                f"phiếu {q.id} không có phần tính điểm (scoring)", f"questionnaire {q.id} has no scoring"
            )
        )
    if not 0 < confidence < 1:
        raise ScoringError(
            bilingual("mức tin cậy phải nằm giữa 0 và 1", "confidence must lie between 0 and 1")
        )
    return q.scoring


# ------------------------------------------------------------------------------------------ input
@dataclass(frozen=True, slots=True)
class Inputs:
    """The checked inputs: the responses as arrays, the frame, and the columns gates and margins read."""

    data: ResponseData
    frame: Frame | None
    columns: Mapping[str, ItemColumn]  # answer columns, and role items standing in for stratum/group
    group_weights: Mapping[str, float]  # Scoring.group_weights (empty: none)


def read_inputs(q: Questionnaire, plan: Plan, responses: pd.DataFrame, frame: pd.DataFrame | None) -> Inputs:
    """Check the frame and the responses against the questionnaire, and encode the responses.

    Parameters
    ----------
    q
        The questionnaire.
    plan
        Its compiled scoring tree (which items are scored and which gates read).
    responses
        The responses table.
    frame
        The sampling frame table, if any.

    Returns
    -------
    Inputs

    Raises
    ------
    ScoringError
        Listing every problem of the frame, or else of the responses.
    """
    checked_frame = design.sampling_frame(frame) if frame is not None else None
    columns = {str(c).strip() for c in responses.columns} if isinstance(responses, pd.DataFrame) else set()
    # A gate may name the role item of the stratum or group; without that column the table's is read.
    role_alias = {}
    for role, meta in ((Role.STRATUM, STRATUM), (Role.GROUP, GROUP)):
        item = q.role_item(role)
        if item is not None and item.code not in columns and meta in columns:
            role_alias[item.code] = meta
    by_stratum = checked_frame is not None and checked_frame.by_stratum
    unasked = by_stratum and plan.scoring.unasked_stratum is UnaskedStratum.UNIT_CELL
    asked_when = _stratum_asked_when(q) if unasked else []
    references = plan.gate_references() | {r for e in asked_when for r in e.references}
    needed = [*plan.items(), *sorted(r for r in references if r not in role_alias)]
    group_weights = {g: float(w) for g, w in plan.scoring.group_weights.items()}
    data = prepare_responses(
        q,
        responses,
        needed_items=needed,
        stratum_required=by_stratum,
        blank_stratum_allowed=unasked,
        group_required=bool(group_weights) or plan.needs_group,
    )
    item_columns = dict(data.items)
    for code, meta in role_alias.items():
        column = data.role_column(meta, code)
        if column is not None:
            item_columns[code] = column
    if unasked:
        _check_unasked_strata(q, data, item_columns, asked_when)
    return Inputs(data, checked_frame, item_columns, group_weights)


def _stratum_asked_when(q: Questionnaire) -> list[Expression]:
    """The conditions under which the stratum question is asked: its section's and its own ``relevant``."""
    item = q.role_item(Role.STRATUM)
    if item is None:
        return []
    section = q.section_of(item.code)
    return [e for e in (section.relevant, item.relevant) if e is not None]


def _check_unasked_strata(
    q: Questionnaire, data: ResponseData, columns: Mapping[str, ItemColumn], asked_when: list[Expression]
) -> None:
    """Under ``unasked_stratum: unit_cell`` a stratum may be blank only where its question was not asked."""
    assert data.stratum is not None
    blank = data.stratum < 0
    if not blank.any():
        return
    asked = np.ones(data.n, dtype=bool)
    for expr in asked_when:
        asked &= evaluate_gate(expr, columns, data.n)
    bad = np.flatnonzero(blank & asked)
    if len(bad):
        item = q.role_item(Role.STRATUM)
        name = item.code if item is not None else STRATUM
        raise ScoringError(
            data.where()
            + bilingual(
                f"stratum để trống dù câu hỏi {name} được hỏi", f"blank stratum although {name} was asked"
            )
            + ": "
            + data.rows.describe(bad)
        )


# ---------------------------------------------------------------------- sizes, design effects, CIs
@dataclass(frozen=True, slots=True)
class Intervals:
    """Per domain (units, then the whole area), on the 0-1 scale: sizes, design effects and intervals."""

    n: np.ndarray  # responses
    df: np.ndarray  # design degrees of freedom: responses minus cells
    n_eff: np.ndarray  # Kish effective sample size
    deff: np.ndarray  # Kish design effect
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    lonely_units: set[int]  # units with a cell of one response (and a finite population correction)


def interval_estimates(
    tree: Tree, variance: np.ndarray, cells: Cells, calibration: Calibration, confidence: float
) -> Intervals:
    """Sizes, Kish design effects and Korn–Graubard intervals of every domain's index.

    Parameters
    ----------
    tree
        The evaluated tree (the index is its root).
    variance
        The variance of each domain's index.
    cells
        Units and cells.
    calibration
        The final weights.
    confidence
        Coverage of the intervals.

    Returns
    -------
    Intervals
    """
    U, n_h, f_h, cell_unit = cells.U, cells.n_h, cells.f_h, cells.cell_unit
    n_dom = np.append(cells.n_unit, cells.n).astype(float)
    cells_dom = np.append(np.bincount(cell_unit, minlength=U), cells.H).astype(float)
    df_dom = n_dom - cells_dom
    if calibration.constant_in_cell:
        n_eff, deff = kish_cells(cells.design_h, n_h, cell_unit, U)
    else:
        n_eff_u, deff_u = kish(calibration.weight, cells.unit_row, U)
        n_eff_all, deff_all = kish_total(calibration.weight)
        n_eff = np.append(n_eff_u, n_eff_all)
        deff = np.append(deff_u, deff_all)
    census_h = f_h == 0
    not_census = np.bincount(cell_unit, weights=(~census_h).astype(float), minlength=U)
    census = np.append((not_census == 0) & (cells.n_unit > 0), bool(census_h.all()))
    low, high = korn_graubard(tree.value[:, 0], variance, n_dom, df_dom, n_eff, census, confidence)
    lonely_units = set(cell_unit[(n_h == 1) & (f_h > 0)].tolist())
    return Intervals(n_dom, df_dom, n_eff, deff, np.sqrt(variance), low, high, lonely_units)


# ---------------------------------------------------------------------------------------- results
def _estimates(
    scoring: Scoring,
    tree: Tree,
    totals: Totals,
    cells: Cells,
    intervals: Intervals,
    rank_probability: bool,
    draws: int,
    seed: int,
    confidence: float,
) -> Estimates:
    """Every domain's estimates on the percentage scale, with the units' ranks."""
    U = cells.U
    index = tree.value[:, 0] * 100.0
    ranks = ranking.competition_rank_array(index[:U], scoring.decimals)
    se = intervals.se[:U] * 100.0
    simulation = (
        _simulate_by_code(cells.units, index[:U], se, ranks, draws, seed, confidence)
        if rank_probability or int((ranks > 0).sum()) <= ranking.AUTO_MAX_UNITS
        else None
    )
    groups = ranking.rank_groups(index[:U], se, ranks, scoring.decimals, confidence)
    return Estimates(
        index=index,
        se=intervals.se * 100.0,
        low=intervals.low * 100.0,
        high=intervals.high * 100.0,
        n=intervals.n,
        df=intervals.df,
        deff=intervals.deff,
        n_eff=intervals.n_eff,
        ranks=ranks,
        rank_probability=simulation.probability if simulation is not None and rank_probability else None,
        rank_low=simulation.low if simulation is not None else None,
        rank_high=simulation.high if simulation is not None else None,
        rank_groups=groups,
        valid_n=totals.valid_n,
        any_valid=totals.any_valid,
        population=cells.unit_population,
        lonely_units=intervals.lonely_units,
    )


def _simulate_by_code(
    codes: Sequence[str],
    index: np.ndarray,
    se: np.ndarray,
    ranks: np.ndarray,
    draws: int,
    seed: int,
    confidence: float,
) -> ranking.RankSimulation:
    """The rank simulation with the units in the order of their codes, so that the draws (and the
    intervals) do not depend on the order of a unit list."""
    order = np.array(sorted(range(len(codes)), key=lambda u: str(codes[u])), dtype=int)
    sim = ranking.simulate_ranks(index[order], se[order], ranks[order], draws, seed, confidence)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return ranking.RankSimulation(sim.probability[back], sim.low[back], sim.high[back])
