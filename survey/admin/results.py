"""The results dashboard, for analysts and leadership (the ``viewer`` role): the ranking with its
confidence intervals and groups, one unit's drill-down, and the collection's progress, refreshed while
the campaign runs. Scores and counts only: no form, no free text, no export of raw data."""

from __future__ import annotations

from flask import abort, current_app, jsonify, render_template

from ..db import engine
from ..results import data_version
from ..review import SOURCE_LABELS
from ..users import role_required
from . import bp
from .shared import STATUS_LABELS, campaign_or_404

RESULT_ROLES = ("analyst", "viewer")  # and admins


def _results(campaign_id: int):
    """The campaign and its results, or the scoring error to show in their place."""
    from analysis.options import SCORING_ERRORS

    from ..results import campaign_results

    c = campaign_or_404(campaign_id)
    try:
        return c, campaign_results(engine(), c.id), None
    except SCORING_ERRORS as exc:
        return c, None, str(exc)


@bp.route("/campaigns/<int:campaign_id>/results")
@role_required(*RESULT_ROLES)
def results(campaign_id: int):
    from reports.charts import ranking_figure
    from reports.live import daily_figure

    from ..dashboard import daily_progress, field_progress, svg_uri, unit_rows

    c, found, error = _results(campaign_id)
    context = {
        "campaign": c,
        "status_labels": STATUS_LABELS,
        "error": error,
        "refresh_seconds": current_app.config["RESULTS_REFRESH_SECONDS"],
        "source_labels": SOURCE_LABELS,
    }
    if found is not None:
        names = found.scoring.arguments.get("unit_names") or {}
        daily = daily_progress(found)
        index_code = next((k for k, v in found.table.levels.items() if v == "index"), "")
        context |= {
            "index_label": found.table.labels.get(index_code) or "Chỉ số",
            "results": found,
            "table": found.table,
            "rows": unit_rows(found),
            "daily": daily,
            "fields": field_progress(found),
            "ranking_svg": svg_uri(
                ("ranking", c.id, found.version), lambda: ranking_figure(found.table, names, title=c.name)
            ),
            "daily_svg": svg_uri(
                ("daily", c.id, found.version),
                lambda: daily_figure(daily.days, daily.counts, labels=SOURCE_LABELS, target=daily.target),
            )
            if daily.days
            else None,
        }
    return render_template("admin/results.html", **context)


@bp.route("/campaigns/<int:campaign_id>/results/version")
@role_required(*RESULT_ROLES)
def results_version(campaign_id: int):
    """The campaign's data version: the dashboard reloads its content when it changes."""
    c = campaign_or_404(campaign_id)
    return jsonify(version=data_version(engine(), c.id), status=c.status)


@bp.route("/campaigns/<int:campaign_id>/results/units/<unit_code>")
@role_required(*RESULT_ROLES)
def results_unit(campaign_id: int, unit_code: str):
    from reports.charts import unit_profile_figure
    from reports.live import TrendPoint, trend_figure
    from reports.structure import Structure

    from ..dashboard import comments_count, svg_uri, trend

    c, found, error = _results(campaign_id)
    if found is None:
        abort(404)
    try:
        result = found.table.unit(unit_code)
    except KeyError:
        abort(404)
    names = found.scoring.arguments.get("unit_names") or {}
    name = names.get(unit_code) or result.name or unit_code
    structure = Structure.build(found.table, found.design.questionnaire)
    points = trend(engine(), c, unit_code)
    trend_svg = None
    if len(points) > 1:
        trend_points = [
            TrendPoint(
                label=other.name,
                index=mine.index if mine is not None else None,
                ci_low=mine.ci_low if mine is not None else None,
                ci_high=mine.ci_high if mine is not None else None,
                district=overall.index,
            )
            for other, mine, overall in points
        ]
        key = ("trend", c.id, unit_code, tuple((o.id, r.version) for o, r in _versions(points)))
        trend_svg = svg_uri(key, lambda: trend_figure(trend_points, title=f"Chỉ số qua các đợt — {name}"))
    profile_svg = svg_uri(
        ("profile", c.id, unit_code, found.version),
        lambda: unit_profile_figure(found.table, unit_code, names, questionnaire=found.design.questionnaire),
    )
    return render_template(
        "admin/results_unit.html",
        campaign=c,
        table=found.table,
        result=result,
        name=name,
        structure=structure,
        comments=comments_count(found, unit_code),
        points=points,
        trend_svg=trend_svg,
        profile_svg=profile_svg,
        status_labels=STATUS_LABELS,
    )


def _versions(points):
    from ..results import campaign_results

    return [(other, campaign_results(engine(), other.id)) for other, _, _ in points]
