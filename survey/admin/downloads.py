"""Downloads for analysts: the responses as CSV or Excel, and the district's ranked report."""

from __future__ import annotations

import io
from datetime import datetime

from flask import flash, redirect, send_file, url_for

from ..db import engine, get_session
from ..design import read_design
from ..models import Campaign
from ..users import audit, current_user, role_required
from ..web import VIETNAM_TZ
from . import bp
from .shared import campaign_or_404

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _export(campaign: Campaign, fmt: str):
    from ..exports import ExportError, export_response

    try:
        return export_response(get_session(), campaign, fmt, user=current_user())
    except ExportError as exc:
        get_session().rollback()
        flash(f"Chưa xuất được dữ liệu: {exc}", "error")
        return redirect(url_for(".campaign", campaign_id=campaign.id))


@bp.route("/campaigns/<int:campaign_id>/responses.csv")
@role_required("analyst")
def export_csv(campaign_id: int):
    return _export(campaign_or_404(campaign_id), "csv")


@bp.route("/campaigns/<int:campaign_id>/responses.xlsx")
@role_required("analyst")
def export_xlsx(campaign_id: int):
    return _export(campaign_or_404(campaign_id), "xlsx")


@bp.route("/campaigns/<int:campaign_id>/report.xlsx")
@role_required("analyst")
def report(campaign_id: int):
    """Score the campaign as `sipas score --campaign` does, and send the ranked report workbook."""
    # Imported here: workers that only store responses never load pandas, scipy and xlsxwriter.
    from analysis import score
    from analysis.options import SCORING_ERRORS, ScoringOptions, score_arguments
    from analysis.quality import scorable
    from reports.errors import ReportError
    from reports.quality import quality_arguments
    from reports.workbook import build_report

    c = campaign_or_404(campaign_id)
    design = read_design(engine(), c.id)
    buffer = io.BytesIO()
    try:
        # As `sipas report --campaign`: flagged forms counted, the checks run for the quality sheet.
        scoring = scorable(
            score_arguments(ScoringOptions(campaign=c.id), design),
            quality=design.quality,
            integrity_settings=design.integrity_settings,
            check=True,
        )
        arguments = scoring.arguments
        table = score(**arguments)
        build_report(
            table,
            design.questionnaire,
            buffer,
            unit_names=arguments["unit_names"],
            responses=design.responses,
            title=design.name,
            period=design.period,
            status=design.status,
            response_rates=design.response_rates,
            frame_note=design.frame_note,
            **quality_arguments(scoring, table),
        )
    except (*SCORING_ERRORS, ReportError) as exc:
        flash(f"Chưa lập được báo cáo: {exc}", "error")
        return redirect(url_for(".campaign", campaign_id=c.id))
    db = get_session()
    audit(db, "report", {"campaign_id": c.id, "rows": len(design.responses), "left_out": scoring.left_out})
    db.commit()
    buffer.seek(0)
    stamp = datetime.now(VIETNAM_TZ).strftime("%Y%m%d-%H%M")
    response = send_file(
        buffer,
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=f"bao-cao_{c.questionnaire_id}_dot-{c.id}_{stamp}.xlsx",
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
