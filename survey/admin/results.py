"""The results dashboard, for analysts and leadership (the ``viewer`` role): the ranking with its
confidence intervals and groups, one unit's drill-down, and the collection's progress, refreshed while
the campaign runs. Scores and counts only: no form, no free text, no export of raw data.

The pages carry the numbers; each figure is its own request (``…/figures/<name>.svg``), drawn by the
reports' matplotlib code once per data version, so the numbers show at once and figures follow.
"""

from __future__ import annotations

from flask import Response, abort, current_app, jsonify, render_template

from ..db import engine
from ..results import data_version
from ..review import SOURCE_LABELS
from ..users import role_required
from . import bp
from .shared import STATUS_LABELS, campaign_or_404

RESULT_ROLES = ("analyst", "viewer")  # and admins
# An SVG of matplotlib has inline styles and never a script; it is shown as an image.
SVG_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
)
CAMPAIGN_FIGURES = ("ranking", "daily")
UNIT_FIGURES = ("profile", "trend")


def _results(campaign_id: int):
    """The campaign and its results, or the scoring error to show in their place."""
    from analysis.options import SCORING_ERRORS

    from ..results import campaign_results

    c = campaign_or_404(campaign_id)
    try:
        return c, campaign_results(engine(), c.id), None
    except SCORING_ERRORS as exc:
        return c, None, str(exc)


def _svg(data: bytes) -> Response:
    response = Response(data, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_POLICY
    return response


@bp.route("/campaigns/<int:campaign_id>/results")
@role_required(*RESULT_ROLES)
def results(campaign_id: int):
    from ..dashboard import daily_progress, field_progress, unit_rows

    c, found, error = _results(campaign_id)
    context = {
        "campaign": c,
        "status_labels": STATUS_LABELS,
        "error": error,
        "refresh_seconds": current_app.config["RESULTS_REFRESH_SECONDS"],
        "source_labels": SOURCE_LABELS,
    }
    if found is not None:
        index_code = next((k for k, v in found.table.levels.items() if v == "index"), "")
        context |= {
            "index_label": found.table.labels.get(index_code) or "Chỉ số",
            "results": found,
            "table": found.table,
            "rows": unit_rows(found),
            "daily": daily_progress(found),
            "fields": field_progress(found),
        }
    return render_template("admin/results.html", **context)


@bp.route("/campaigns/<int:campaign_id>/results/figures/<name>.svg")
@role_required(*RESULT_ROLES)
def results_figure(campaign_id: int, name: str):
    """One figure of the dashboard: the report's ranking (CI whiskers, groups), or forms per day."""
    from reports.charts import ranking_figure
    from reports.live import daily_figure

    from ..dashboard import daily_progress, figure_svg

    if name not in CAMPAIGN_FIGURES:
        abort(404)
    c, found, _ = _results(campaign_id)
    if found is None:
        abort(404)
    if name == "ranking":
        names = found.scoring.arguments.get("unit_names") or {}
        return _svg(
            figure_svg(
                ("ranking", c.id, found.version), lambda: ranking_figure(found.table, names, title=c.name)
            )
        )
    daily = daily_progress(found)
    if not daily.days:
        abort(404)
    return _svg(
        figure_svg(
            ("daily", c.id, found.version),
            lambda: daily_figure(daily.days, daily.counts, labels=SOURCE_LABELS, target=daily.target),
        )
    )


@bp.route("/campaigns/<int:campaign_id>/results/version")
@role_required(*RESULT_ROLES)
def results_version(campaign_id: int):
    """The campaign's data version: the dashboard reloads its content when it changes."""
    c = campaign_or_404(campaign_id)
    return jsonify(version=data_version(engine(), c.id), status=c.status)


def _unit(campaign_id: int, unit_code: str):
    c, found, _ = _results(campaign_id)
    if found is None:
        abort(404)
    try:
        result = found.table.unit(unit_code)
    except KeyError:
        abort(404)
    names = found.scoring.arguments.get("unit_names") or {}
    return c, found, result, names.get(unit_code) or result.name or unit_code


@bp.route("/campaigns/<int:campaign_id>/results/units/<unit_code>")
@role_required(*RESULT_ROLES)
def results_unit(campaign_id: int, unit_code: str):
    from reports.structure import Structure

    from ..dashboard import comments_count, trend

    c, found, result, name = _unit(campaign_id, unit_code)
    return render_template(
        "admin/results_unit.html",
        campaign=c,
        table=found.table,
        version=found.version,
        result=result,
        name=name,
        structure=Structure.build(found.table, found.design.questionnaire),
        comments=comments_count(found, unit_code),
        points=trend(engine(), c, unit_code),
        status_labels=STATUS_LABELS,
    )


@bp.route("/campaigns/<int:campaign_id>/results/units/<unit_code>/<name>.svg")
@role_required(*RESULT_ROLES)
def results_unit_figure(campaign_id: int, unit_code: str, name: str):
    """One unit's figure: its elements against the district, or its index across campaigns."""
    from reports.charts import unit_profile_figure
    from reports.live import TrendPoint, trend_figure

    from ..dashboard import figure_svg, trend
    from ..results import campaign_results

    if name not in UNIT_FIGURES:
        abort(404)
    c, found, _, title = _unit(campaign_id, unit_code)
    if name == "profile":
        names = found.scoring.arguments.get("unit_names") or {}
        return _svg(
            figure_svg(
                ("profile", c.id, unit_code, found.version),
                lambda: unit_profile_figure(
                    found.table, unit_code, names, questionnaire=found.design.questionnaire
                ),
            )
        )
    points = trend(engine(), c, unit_code)
    if len(points) < 2:
        abort(404)
    versions = tuple((other.id, campaign_results(engine(), other.id).version) for other, _, _ in points)
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
    return _svg(
        figure_svg(
            ("trend", c.id, unit_code, versions),
            lambda: trend_figure(trend_points, title=f"Chỉ số qua các đợt — {title}"),
        )
    )
