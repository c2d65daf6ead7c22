"""What scoring counts and what it leaves out, and why (issue 11, point 5).

A stored campaign's responses table already leaves out rejected forms, late forms and paper forms whose
double entry has not agreed; the campaign's design counts them per unit. Integrity flags
(:mod:`analysis.integrity`) never leave a form out by themselves: only an explicit
``include_flagged=False`` (``--exclude-flagged``) does. :func:`scorable` applies that choice and keeps
everything a command has to say about it, and what the report's data-quality sheet shows: the counts
per unit (:meth:`Scorable.quality_table`) and each unit's index and rank without its flagged forms
(:meth:`Scorable.sensitivity`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from .integrity import FORM_RULES, RULE_LABELS_VI, IntegrityReport, IntegritySettings, check_integrity
from .integrity import sensitivity as integrity_sensitivity
from .results import IndexTable

__all__ = [
    "LEFT_OUT_REASONS",
    "SOURCE_COLUMNS",
    "Scorable",
    "flagged_line",
    "left_out_line",
    "scorable",
    "skipped_line",
]

# Why a form is not counted: reason -> (Vietnamese, English), in the order the line names them.
LEFT_OUT_REASONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "rejected": ("phiếu bị từ chối", "rejected"),
        "late": ("phiếu đến muộn", "late"),
        "double_entry": ("phiếu giấy chưa khớp hai lần nhập", "double entry not settled"),
        "flagged": ("phiếu bị đánh dấu", "flagged"),
    }
)
SOURCE_COLUMNS = ("kiosk", "phone", "api", "paper", "import")
# The counts a campaign's design carries per unit besides the sources (survey.design.QUALITY_COLUMNS).
_CAMPAIGN_REASONS = ("rejected", "late", "double_entry")


def left_out_line(counts: Mapping[str, int]) -> str:
    """One line saying how many forms were left out and why, Vietnamese then English.

    Parameters
    ----------
    counts
        Reason (a key of :data:`LEFT_OUT_REASONS`) -> number of forms.

    Returns
    -------
    str
        For example ``"đã loại 3 phiếu bị từ chối, 2 phiếu đến muộn (left out: 3 rejected, 2 late)"``.
    """
    parts = [(reason, int(counts[reason])) for reason in LEFT_OUT_REASONS if counts.get(reason)]
    if not parts:
        return "không loại phiếu nào (left out: none)"
    vi = ", ".join(f"{n} {LEFT_OUT_REASONS[reason][0]}" for reason, n in parts)
    en = ", ".join(f"{n} {LEFT_OUT_REASONS[reason][1]}" for reason, n in parts)
    return f"đã loại {vi} (left out: {en})"


def flagged_line(by_rule: Mapping[str, int]) -> str:
    """The flagged forms left out, by rule (a form may meet several rules), Vietnamese then English."""
    shown = [(rule, n) for rule, n in by_rule.items() if n]
    if not shown:
        return "không có phiếu nào bị đánh dấu (no form was flagged)"
    vi = "; ".join(f"{RULE_LABELS_VI.get(rule, rule)} ({rule}): {n}" for rule, n in shown)
    en = ", ".join(f"{rule} {n}" for rule, n in shown)
    return f"phiếu bị đánh dấu đã loại, theo luật: {vi} (flagged forms left out by rule: {en})"


def skipped_line(report: IntegrityReport) -> str | None:
    """The checks that did not run, each with its reason; None when every check ran."""
    if not report.skipped:
        return None
    listed = "; ".join(f"{s.rule}: {s.reason}" for s in report.skipped)
    return f"kiểm tra không chạy (checks skipped): {listed}"


@dataclass(frozen=True, eq=False)  # holds DataFrames
class Scorable:
    """The responses a command scores, what was left out and why, and the integrity report.

    Attributes
    ----------
    arguments
        The keyword arguments of :func:`analysis.score`; ``responses`` are those counted.
    responses
        Every scorable response, flagged forms included (the table the checks read).
    left_out
        Reason -> forms left out (:data:`LEFT_OUT_REASONS`); a campaign's counts, and ``flagged``
        when flagged forms were excluded. Empty for a file (nothing is known of what it lacks).
    flagged_by_rule
        Rule -> flagged forms left out (empty while flagged forms are kept).
    report
        The integrity checks' report, when they ran.
    include_flagged
        Whether flagged forms are counted (the default: flags never exclude by themselves).
    quality
        The campaign's counts per unit (``survey.design.QUALITY_COLUMNS``); None for a file.
    """

    arguments: dict[str, Any]
    responses: pd.DataFrame
    left_out: dict[str, int] = field(default_factory=dict)
    flagged_by_rule: dict[str, int] = field(default_factory=dict)
    report: IntegrityReport | None = None
    include_flagged: bool = True
    quality: pd.DataFrame | None = None

    @property
    def score_kwargs(self) -> dict[str, Any]:
        """The settings of :func:`analysis.score` besides the questionnaire and the responses."""
        return {k: v for k, v in self.arguments.items() if k not in ("questionnaire", "responses")}

    def messages(self) -> list[str]:
        """The lines a command prints: what was left out and, when flags excluded forms, by which rule."""
        lines = []
        if self.quality is not None or self.left_out:
            lines.append(left_out_line(self.left_out))
        if not self.include_flagged and self.report is not None:
            lines.append(flagged_line(self.flagged_by_rule))
            skipped = skipped_line(self.report)
            if skipped:
                lines.append(skipped)
        return lines

    def sensitivity(self, scored: IndexTable | None = None) -> pd.DataFrame | None:
        """Each unit's index and rank with and without its flagged forms (None: the checks did not run).

        ``scored`` is the command's own index table; while flagged forms are kept it is the score of
        every scorable response, so it is not computed a second time.

        Returns
        -------
        pandas.DataFrame or None
            :func:`analysis.sensitivity` of every scorable response, flagged ones included, scored with
            the same settings as the command.
        """
        if self.report is None:
            return None
        questionnaire = self.arguments["questionnaire"]
        full = scored if self.include_flagged else None  # without flagged forms it scored fewer
        return integrity_sensitivity(
            questionnaire, self.responses, self.report, scored=full, **self.score_kwargs
        )

    def quality_table(self) -> pd.DataFrame:
        """The counts per unit for the report's data-quality sheet.

        Returns
        -------
        pandas.DataFrame
            Indexed by unit (the campaign's units in order, else those of the table): ``received``,
            ``kiosk``, ``api``, ``paper``, ``import`` (when known), ``rejected``, ``late``, ``double_entry``
            (a campaign's, as far as the app keeps them), one column per form-level rule that ran
            (forms it flagged), ``flagged`` (forms flagged by any rule) and ``counted`` (forms in the
            index).
        """
        responses = self.responses
        if self.quality is not None:
            table = self.quality.drop(columns=[c for c in ("scored",) if c in self.quality.columns]).copy()
        else:
            units = pd.Index(pd.unique(responses["unit"].astype(str)), name="unit")
            table = pd.DataFrame(index=units)
            table["received"] = responses["unit"].astype(str).value_counts().reindex(units, fill_value=0)
            if "source" in responses.columns:
                for source in SOURCE_COLUMNS:
                    per = responses.loc[responses["source"] == source, "unit"].astype(str).value_counts()
                    table[source] = per.reindex(units, fill_value=0)
        table.index.name = "unit"
        counted = (
            self.arguments["responses"]["unit"].astype(str).value_counts().reindex(table.index, fill_value=0)
        )
        if self.report is not None:
            counts = self.report.counts
            for rule in [r for r in FORM_RULES if r in counts.columns] + ["flagged"]:
                table[rule] = counts[rule].reindex(table.index, fill_value=0)
        table["counted"] = counted
        return table.fillna(0).astype(int)


def scorable(
    arguments: Mapping[str, Any],
    *,
    quality: pd.DataFrame | None = None,
    integrity_settings: Mapping[str, Any] | IntegritySettings | None = None,
    include_flagged: bool = True,
    check: bool = False,
) -> Scorable:
    """Leave the flagged forms out when asked, and count what is left out and why.

    Parameters
    ----------
    arguments
        The keyword arguments of :func:`analysis.score` (``questionnaire``, ``responses``, …), as
        :func:`analysis.options.score_arguments` gives them.
    quality
        A stored campaign's counts per unit (``survey.design.CampaignDesign.quality``): its rejected,
        late and unsettled double-entry forms are what its responses table already leaves out.
    integrity_settings
        The campaign's check settings (stored plain data, read by
        :meth:`IntegritySettings.from_mapping`); the defaults otherwise.
    include_flagged
        False: leave out every form that a form-level check flags, before scoring.
    check
        Run the checks even while flagged forms are kept (for the report's data-quality sheet).

    Returns
    -------
    Scorable

    Raises
    ------
    ScoringError
        When the settings or the responses table cannot be read (the messages of scoring).
    """
    arguments = dict(arguments)
    responses = arguments["responses"]
    left_out: dict[str, int] = {}
    if quality is not None:
        left_out = {r: int(quality[r].sum()) for r in _CAMPAIGN_REASONS if r in quality.columns}
    report = None
    by_rule: dict[str, int] = {}
    if check or not include_flagged:
        if isinstance(integrity_settings, IntegritySettings):
            settings = integrity_settings
        elif integrity_settings:
            settings = IntegritySettings.from_mapping(integrity_settings)
        else:
            settings = IntegritySettings()
        previous = arguments.get("previous")
        score_kwargs = {
            k: v for k, v in arguments.items() if k not in ("questionnaire", "responses", "previous")
        }
        report = check_integrity(
            arguments["questionnaire"],
            responses,
            settings,
            previous=previous,
            **(score_kwargs if previous is not None else {}),
        )
    if report is not None and not include_flagged:
        flagged = report.flagged_ids()
        arguments["responses"] = responses.loc[~responses["response_id"].isin(set(flagged))]
        per_rule = report.flags.groupby("rule").size()
        by_rule = {rule: int(per_rule[rule]) for rule in FORM_RULES if rule in per_rule.index}
        left_out["flagged"] = len(flagged)
    return Scorable(
        arguments=arguments,
        responses=responses,
        left_out=left_out,
        flagged_by_rule=by_rule,
        report=report,
        include_flagged=include_flagged,
        quality=quality,
    )
