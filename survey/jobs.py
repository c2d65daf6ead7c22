"""Ranked reports built in the background, so that a long report never holds a web worker.

A request records a :class:`~survey.models.ReportJob` (``queued``) and hands it to a small, bounded
thread pool of the process (``REPORT_WORKERS``, default 2: several analysts at once queue rather than
take every worker of gunicorn's ``gthread`` pool); the worker marks it ``running``, reports its progress
in the row as it goes, and stores the finished workbook in the row (``done``) or a Vietnamese message
(``failed``). The row is the only state: the progress page polls it through any worker or host, and the
file is served from it. A job still ``queued`` or ``running`` whose row has not moved for
``REPORT_JOB_STALE_SECONDS`` died with its process (a restart): it is shown as failed, to be started
again. No broker (Redis, RabbitMQ) is needed.
"""

from __future__ import annotations

import io
import logging
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .errors import SurveyError
from .models import Campaign, ReportJob, User
from .web import VIETNAM_TZ

log = logging.getLogger(__name__)

__all__ = [
    "STALE_MESSAGE",
    "JobView",
    "job_view",
    "purge_jobs",
    "start_report_job",
]

EXECUTOR_KEY = "sipas.report_executor"
STALE_MESSAGE = (
    "Việc lập báo cáo đã dừng giữa chừng (máy chủ được khởi động lại). Xin bấm lập báo cáo lần nữa."
)
FAILED_PREFIX = "Chưa lập được báo cáo: "
UNEXPECTED_MESSAGE = (
    "Chưa lập được báo cáo do lỗi hệ thống. Lỗi đã được ghi lại; xin thử lại sau hoặc báo quản trị viên."
)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(stamp: datetime | None) -> datetime | None:
    if stamp is not None and stamp.tzinfo is None:  # SQLite gives naive UTC datetimes back
        return stamp.replace(tzinfo=UTC)
    return stamp


def executor(app: Flask) -> ThreadPoolExecutor:
    """The app's report pool, made on first use (a forked gunicorn worker makes its own)."""
    pool = app.extensions.get(EXECUTOR_KEY)
    if pool is None:
        workers = max(1, int(app.config.get("REPORT_WORKERS", 2)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sipas-report")
        app.extensions[EXECUTOR_KEY] = pool
    return pool


def purge_jobs(session: Session, hours: float) -> int:
    """Delete the jobs (and their files) older than ``hours``."""
    cutoff = _now() - timedelta(hours=hours)
    return int(session.execute(delete(ReportJob).where(ReportJob.created_at < cutoff)).rowcount or 0)


def start_report_job(
    session: Session, campaign: Campaign, user: User | None, previous_campaign_id: int | None = None
) -> tuple[ReportJob, Future]:
    """Record a queued report job of ``campaign`` for ``user``, commit, and hand it to the pool."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    purge_jobs(session, float(app.config.get("REPORT_JOB_KEEP_HOURS", 24)))
    job = ReportJob(
        id=secrets.token_urlsafe(24),
        campaign_id=campaign.id,
        previous_campaign_id=previous_campaign_id,
        user_id=user.id if user is not None else None,
        state="queued",
        progress=0.0,
        stage="Đang chờ đến lượt",
        created_at=_now(),
        updated_at=_now(),
    )
    session.add(job)
    session.commit()
    future = executor(app).submit(run_report_job, app, job.id)
    return job, future


def _set(app: Flask, job_id: str, **values) -> None:
    engine = app.extensions["sipas.engine"]
    with engine.begin() as connection:
        connection.execute(
            update(ReportJob).where(ReportJob.id == job_id).values(updated_at=_now(), **values)
        )


def run_report_job(app: Flask, job_id: str) -> None:
    """Build the job's report and store it, or the reason it failed; never raises."""
    from analysis.options import SCORING_ERRORS
    from reports.errors import ReportError

    from .results import build_campaign_report

    engine = app.extensions["sipas.engine"]
    try:
        with Session(engine) as session:
            job = session.get(ReportJob, job_id)
            if job is None:
                return
            campaign_id, previous_id = job.campaign_id, job.previous_campaign_id
            campaign = session.get(Campaign, campaign_id)
            questionnaire_id = campaign.questionnaire_id if campaign is not None else "?"
        _set(app, job_id, state="running", started_at=_now(), progress=0.02, stage="Bắt đầu")

        def step(fraction: float, label: str) -> None:
            _set(app, job_id, progress=round(float(fraction), 3), stage=label)

        buffer = io.BytesIO()
        with app.app_context():
            summary = build_campaign_report(
                engine, campaign_id, buffer, previous_campaign_id=previous_id, step=step
            )
        data = buffer.getvalue()
        stamp = datetime.now(VIETNAM_TZ).strftime("%Y%m%d-%H%M")
        _set(
            app,
            job_id,
            state="done",
            progress=1.0,
            stage="Xong",
            finished_at=_now(),
            content=data,
            size=len(data),
            filename=f"bao-cao_{questionnaire_id}_dot-{campaign_id}_{stamp}.xlsx",
        )
        log.info("report job %s done: %s", job_id, summary)
    except (*SCORING_ERRORS, ReportError, SurveyError) as exc:
        _fail(app, job_id, FAILED_PREFIX + str(exc))
    except Exception:  # a bug or a lost database: logged, and the page says so plainly
        log.exception("report job %s failed", job_id)
        _fail(app, job_id, UNEXPECTED_MESSAGE)


def _fail(app: Flask, job_id: str, message: str) -> None:
    try:
        _set(app, job_id, state="failed", finished_at=_now(), message=message, stage=None)
    except Exception:
        log.exception("report job %s: could not record its failure", job_id)


class JobView(dict):
    """A job as its status endpoint answers it (JSON-ready)."""


def job_view(job: ReportJob, *, stale_seconds: float, file_url: str | None) -> JobView:
    """The job's state for the page and the status endpoint; a job gone quiet too long has failed."""
    state, message = job.state, job.message
    updated = _aware(job.updated_at) or _now()
    if state in ("queued", "running") and (_now() - updated).total_seconds() > stale_seconds:
        state, message = "failed", STALE_MESSAGE
    return JobView(
        id=job.id,
        state=state,
        progress=round(100 * (job.progress or 0.0)) if state != "done" else 100,
        stage=job.stage if state in ("queued", "running") else None,
        message=message if state == "failed" else None,
        file_url=file_url if state == "done" else None,
        filename=job.filename if state == "done" else None,
        size=job.size if state == "done" else None,
    )


def user_jobs(session: Session, user: User, campaign_id: int, limit: int = 5) -> list[ReportJob]:
    """The user's latest report jobs of a campaign, newest first."""
    return list(
        session.scalars(
            select(ReportJob)
            .where(ReportJob.user_id == user.id, ReportJob.campaign_id == campaign_id)
            .order_by(ReportJob.created_at.desc())
            .limit(limit)
        )
    )
