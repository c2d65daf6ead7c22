"""Downloads for analysts: the responses as CSV or Excel, and the district's ranked report, built in
the background (a progress page polls the job; the file goes to the user who asked for it)."""

from __future__ import annotations

import io
from datetime import datetime

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from sqlalchemy import select

from ..db import engine, get_session
from ..errors import CampaignError
from ..forms import select_choices
from ..jobs import job_view, start_report_job
from ..models import Campaign, ReportJob
from ..results import build_campaign_report
from ..users import audit, current_user, role_required
from ..web import VIETNAM_TZ
from . import bp
from .forms import ReportForm
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


def previous_choices(c: Campaign) -> list:
    """The campaigns a report of ``c`` may be compared with: every other one, same questionnaire first."""
    others = (
        get_session()
        .scalars(
            select(Campaign)
            .where(Campaign.id != c.id)
            .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        )
        .all()
    )
    others = sorted(others, key=lambda o: o.questionnaire_id != c.questionnaire_id)  # stable: newest first
    return select_choices(
        [("", "Không so sánh")] + [(str(o.id), f"{o.name} (#{o.id}, {o.questionnaire_id})") for o in others]
    )


def _previous_id(c: Campaign, value: str | None) -> int | None:
    """The previous campaign asked for (a query or form value), None for none; 404 for an unknown one."""
    if not value:
        return None
    if not value.isdigit() or int(value) == c.id or get_session().get(Campaign, int(value)) is None:
        abort(404)
    return int(value)


@bp.route("/campaigns/<int:campaign_id>/report.xlsx")
@role_required("analyst")
def report(campaign_id: int):
    """Score the campaign as `sipas report --campaign` does, and send the ranked report at once.

    For scripts and small campaigns; the campaign page builds it in the background (report_start).
    ``?previous=<campaign id>`` compares it with that campaign's results.
    """
    from analysis.options import SCORING_ERRORS
    from reports.errors import ReportError

    c = campaign_or_404(campaign_id)
    previous_id = _previous_id(c, request.args.get("previous"))
    buffer = io.BytesIO()
    try:
        summary = build_campaign_report(engine(), c.id, buffer, previous_campaign_id=previous_id)
    except (*SCORING_ERRORS, ReportError, CampaignError) as exc:
        flash(f"Chưa lập được báo cáo: {exc}", "error")
        return redirect(url_for(".campaign", campaign_id=c.id))
    db = get_session()
    audit(db, "report", summary)
    db.commit()
    buffer.seek(0)
    stamp = datetime.now(VIETNAM_TZ).strftime("%Y%m%d-%H%M")
    return _xlsx(buffer, f"bao-cao_{c.questionnaire_id}_dot-{c.id}_{stamp}.xlsx")


def _xlsx(data, filename: str):
    response = send_file(data, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=filename, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/campaigns/<int:campaign_id>/report")
@role_required("analyst")
def report_start(campaign_id: int):
    """Start building the ranked report in the background; show its progress page."""
    c = campaign_or_404(campaign_id)
    form = ReportForm()
    form.previous.choices = previous_choices(c)
    if not form.validate_on_submit():
        flash("Chưa lập được báo cáo: đợt khảo sát kỳ trước không hợp lệ.", "error")
        return redirect(url_for(".campaign", campaign_id=c.id))
    previous_id = _previous_id(c, form.previous.data)
    db = get_session()
    job, _ = start_report_job(db, c, current_user(), previous_id)
    return redirect(url_for(".report_job", job_id=job.id))


def _own_job(job_id: str) -> ReportJob:
    """The job of the URL when it is the current user's (an admin may open any); 404 otherwise."""
    job = get_session().get(ReportJob, job_id)
    user = current_user()
    if job is None or user is None or (job.user_id != user.id and user.role != "admin"):
        abort(404)
    return job


def _view(job: ReportJob):
    return job_view(
        job,
        stale_seconds=float(current_app.config["REPORT_JOB_STALE_SECONDS"]),
        file_url=url_for(".report_job_file", job_id=job.id),
    )


@bp.route("/reports/<job_id>")
@role_required("analyst")
def report_job(job_id: str):
    """The progress page of a report being built: a bar, what it is doing, the link when ready."""
    job = _own_job(job_id)
    c = campaign_or_404(job.campaign_id)
    previous = get_session().get(Campaign, job.previous_campaign_id) if job.previous_campaign_id else None
    return render_template(
        "admin/report_job.html",
        job=_view(job),
        campaign=c,
        previous=previous,
        poll_seconds=current_app.config["REPORT_POLL_SECONDS"],
    )


@bp.route("/reports/<job_id>/status")
@role_required("analyst")
def report_job_status(job_id: str):
    """The job's state as JSON, for the progress page to poll."""
    return jsonify(_view(_own_job(job_id)))


@bp.route("/reports/<job_id>/file")
@role_required("analyst")
def report_job_file(job_id: str):
    """The finished workbook, to the user who asked for it (and admins)."""
    job = _own_job(job_id)
    if job.state != "done" or job.content is None:
        abort(404)
    db = get_session()
    audit(
        db,
        "report",
        {"campaign_id": job.campaign_id, "previous_campaign_id": job.previous_campaign_id, "job": job.id},
    )
    db.commit()
    return _xlsx(io.BytesIO(job.content), job.filename or "bao-cao.xlsx")
