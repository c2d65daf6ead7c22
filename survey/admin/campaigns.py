"""The campaign pages: the dashboard, creating a campaign with its targets, and one campaign's page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from questionnaires import (
    Questionnaire,
    QuestionnaireError,
    list_questionnaires,
    list_unit_lists,
    load_questionnaire,
    load_units,
)
from questionnaires.languages import missing_translations, translation_counts

from ..assignments import (
    NOT_ASSIGNED,
    NOT_ASSIGNED_CAMPAIGN,
    assigned_units,
    is_scoped,
    visible_campaign_ids,
)
from ..campaigns import (
    StatusChange,
    campaign_questionnaire,
    close_campaign,
    create_campaign,
    late_responses,
    open_campaign,
    progress,
    reopen_campaign,
)
from ..db import get_session
from ..dossiers import response_rates
from ..double_entry import waiting
from ..errors import CampaignError
from ..forms import select_choices
from ..kiosk_display import display_for
from ..kiosk_texts import language_choices
from ..models import Campaign, Kiosk, User
from ..users import audit, current_user, role_required
from . import bp
from .codes import campaign_codes_context
from .forms import (
    CampaignForm,
    CloseCampaignForm,
    ConfirmForm,
    DoubleEntrySettingForm,
    IntegerInput,
    KioskDisplayForm,
    KioskForm,
    ReopenCampaignForm,
    ReportForm,
)
from .shared import STATUS_LABELS, campaign_or_404

log = logging.getLogger(__name__)
# How many late forms the campaign page lists (the count is always the full one).
LATE_SHOWN = 50


def _questionnaire_choices() -> list[tuple[str, str]]:
    choices = []
    for qid in list_questionnaires():
        try:
            q = load_questionnaire(qid)
        except QuestionnaireError as exc:
            log.warning("questionnaire %s cannot be loaded: %s", qid, exc)
            continue
        choices.append((qid, f"{qid} (phiên bản {q.version}) — {q.title.vi}"))
    return choices


def _unit_list_choices() -> list[tuple[str, str]]:
    choices = []
    for uid in list_unit_lists():
        try:
            units = load_units(uid)
        except QuestionnaireError as exc:
            log.warning("unit list %s cannot be loaded: %s", uid, exc)
            continue
        choices.append((uid, f"{units.title} ({len(units)} đơn vị, từ {units.valid_from})"))
    return choices


@bp.route("/")
@role_required()
def dashboard():
    db = get_session()
    query = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())
    visible = visible_campaign_ids(db, current_user())  # an enumerator: only their assigned campaigns
    if visible is not None:
        query = query.where(Campaign.id.in_(sorted(visible)))
    rows = [(c, progress(db, c)) for c in db.scalars(query).all()]
    return render_template(
        "admin/dashboard.html",
        rows=rows,
        status_labels=STATUS_LABELS,
        not_assigned=NOT_ASSIGNED if visible is not None and not visible else None,
    )


def _campaign_form_class(unit_list_id: str | None):
    """CampaignForm plus one N and one target input per unit of the chosen unit list."""
    units = []
    if unit_list_id:
        try:
            units = list(load_units(unit_list_id).units)
        except QuestionnaireError:
            units = []
    fields: dict[str, Any] = {}
    for unit in units:
        fields[f"n__{unit.code}"] = IntegerInput(f"N — {unit.name}", render_kw={"inputmode": "numeric"})
        fields[f"t__{unit.code}"] = IntegerInput(
            f"Chỉ tiêu — {unit.name}", render_kw={"inputmode": "numeric"}
        )
    return type("CampaignCreateForm", (CampaignForm,), fields), units


@bp.route("/campaigns/new", methods=["GET", "POST"])
@role_required("analyst")
def campaign_new():
    unit_lists = _unit_list_choices()
    chosen = (
        request.form.get("unit_list")
        or request.args.get("unit_list")
        or (unit_lists[0][0] if unit_lists else None)
    )
    if chosen not in {c for c, _ in unit_lists}:
        chosen = unit_lists[0][0] if unit_lists else None
    form_class, units = _campaign_form_class(chosen)
    form = form_class()
    questionnaire_choices = _questionnaire_choices()
    form.questionnaire.choices = select_choices(questionnaire_choices)
    form.unit_list.choices = select_choices(unit_lists)
    if request.method == "GET":
        form.unit_list.data = chosen
        sipas = sorted(qid for qid, _ in questionnaire_choices if qid.startswith("sipas-"))
        if sipas:  # the newest SIPAS form is the usual choice
            form.questionnaire.data = sipas[-1]
    error = None
    reloading = "reload" in request.form
    if not reloading and form.validate_on_submit():
        populations = {
            u.code: form[f"n__{u.code}"].data for u in units if form[f"n__{u.code}"].data is not None
        }
        targets = {u.code: form[f"t__{u.code}"].data for u in units if form[f"t__{u.code}"].data is not None}
        db = get_session()
        try:
            campaign = create_campaign(
                db,
                name=form.name.data,
                questionnaire=form.questionnaire.data,
                unit_list=form.unit_list.data,
                period_start=form.period_start.data or None,
                period_end=form.period_end.data or None,
                populations=populations,
                targets=targets,
                margin_of_error=float(form.margin_of_error.data),
                created_by=current_user(),
                draft=bool(form.draft.data),
                double_entry=bool(form.double_entry.data),
            )
            audit(
                db,
                "campaign_created",
                {
                    "campaign_id": campaign.id,
                    "name": campaign.name,
                    "status": campaign.status,
                    "double_entry": campaign.double_entry,
                },
            )
            db.commit()
        except CampaignError as exc:
            db.rollback()
            error = str(exc)
        else:
            flash(
                f"Đã tạo đợt khảo sát “{campaign.name}”. Bước tiếp theo: tạo đường dẫn cho máy tính bảng.",
                "success",
            )
            return redirect(url_for(".campaign", campaign_id=campaign.id))
    unit_rows = [(u, form[f"n__{u.code}"], form[f"t__{u.code}"]) for u in units]
    status = 422 if (error or (request.method == "POST" and not reloading)) else 200
    return (
        render_template("admin/campaign_new.html", form=form, unit_rows=unit_rows, error=error),
        status,
    )


MISSING_SHOWN = 40  # items listed per language whose translation is missing


def language_rows(q: Questionnaire) -> list[dict[str, Any]]:
    """The campaign page's languages: per language its counts, and the items shown in Vietnamese."""
    names = dict((choice["code"], choice["name"]) for choice in language_choices(q))
    rows = []
    for lang, kinds in translation_counts(q).items():
        missing = missing_translations(q, lang) if lang != "vi" else []
        rows.append(
            {
                "code": lang,
                "name": names.get(lang, lang),
                "kinds": kinds,
                "missing": sum(c.missing for c in kinds.values()),
                "total": sum(c.total for c in kinds.values()),
                "items": missing[:MISSING_SHOWN],
                "more": max(0, len(missing) - MISSING_SHOWN),
            }
        )
    return rows


@bp.route("/campaigns/<int:campaign_id>")
@role_required("enumerator", "analyst")
def campaign(campaign_id: int):
    c = campaign_or_404(campaign_id)
    if is_scoped(current_user()) and not assigned_units(get_session(), current_user(), c):
        abort(403, NOT_ASSIGNED_CAMPAIGN)  # an enumerator not assigned to this campaign
    return _campaign_page(c)


def _campaign_page(
    c: Campaign,
    close_form: CloseCampaignForm | None = None,
    reopen_form: ReopenCampaignForm | None = None,
    status: int = 200,
):
    """Render one campaign's page (``status`` 422 with the lifecycle form that was refused)."""
    db = get_session()
    q = campaign_questionnaire(c)
    late_count, late = late_responses(db, c, limit=LATE_SHOWN)
    kiosks = db.scalars(
        select(Kiosk).where(Kiosk.campaign_id == c.id).order_by(Kiosk.created_at, Kiosk.id)
    ).all()
    display = display_for(c)
    kiosk_form = KioskForm()
    kiosk_form.unit.choices = select_choices((u.unit_code, u.unit_name) for u in c.units)
    return render_template(
        "admin/campaign.html",
        campaign=c,
        questionnaire=q,
        progress=progress(db, c),
        kiosks=kiosks,
        unit_names={u.unit_code: u.unit_name for u in c.units},
        kiosk_form=kiosk_form,
        confirm_form=ConfirmForm(),
        close_form=close_form or CloseCampaignForm(formdata=None),
        reopen_form=reopen_form or ReopenCampaignForm(formdata=None),
        late_count=late_count,
        late=late,
        late_shown=LATE_SHOWN,
        keyings=waiting(db, c),
        double_entry_form=DoubleEntrySettingForm(formdata=None, double_entry=not c.double_entry),
        display=display,
        display_form=KioskDisplayForm(
            formdata=None, one_question=display.one_question,
            likert_faces=display.likert_faces,
            idle_seconds=display.idle_seconds,
        ),
        status_labels=STATUS_LABELS,
        poll_seconds=current_app.config["PROGRESS_POLL_SECONDS"],
        languages=language_rows(q),
        report_form=_report_form(c),
        report_jobs=_report_jobs(c),
        **campaign_codes_context(c),
        # Response rates per unit × field: for analysts (an enumerator's page stays as it was).
        rates=_rates(db, c) if current_user().role in ("admin", "analyst") else [],
    ), status


def _report_jobs(c: Campaign) -> list:
    """The current analyst's latest reports of this campaign, as their status endpoint shows them."""
    from ..jobs import job_view, user_jobs

    user = current_user()
    if user is None or user.role not in ("admin", "analyst"):
        return []
    stale = float(current_app.config["REPORT_JOB_STALE_SECONDS"])
    return [
        (job, job_view(job, stale_seconds=stale, file_url=url_for(".report_job_file", job_id=job.id)))
        for job in user_jobs(get_session(), user, c.id)
    ]


def _report_form(c: Campaign) -> ReportForm:
    from .downloads import previous_choices

    form = ReportForm(formdata=None)
    form.previous.choices = previous_choices(c)
    return form


def _rates(db: Session, c: Campaign) -> list:
    """Response rates per unit × field, when there is a denominator (case files or answer codes)."""
    rows = response_rates(db, c)
    return rows if any(r.cases is not None or r.codes for r in rows) else []


@bp.post("/campaigns/<int:campaign_id>/open")
@role_required("analyst")
def campaign_open(campaign_id: int):
    c = campaign_or_404(campaign_id)
    if not ConfirmForm().validate_on_submit():
        return _campaign_page(c, status=422)
    return _transition(
        c, lambda db, user: open_campaign(db, c, user), "Đã mở đợt khảo sát: bắt đầu thu phiếu."
    )


@bp.post("/campaigns/<int:campaign_id>/close")
@role_required("analyst")
def campaign_close(campaign_id: int):
    c = campaign_or_404(campaign_id)
    form = CloseCampaignForm()
    if not form.validate_on_submit():
        flash("Chưa đóng đợt khảo sát. Xin sửa mục được đánh dấu.", "error")
        return _campaign_page(c, close_form=form, status=422)
    return _transition(
        c,
        lambda db, user: close_campaign(db, c, user, form.reason.data),
        "Đã đóng đợt khảo sát: máy tính bảng, điện thoại và phiếu giấy không còn được nhận "
        "(phiếu đã điền trên máy trước lúc đóng vẫn được giữ, đánh dấu “đến muộn”).",
    )


@bp.post("/campaigns/<int:campaign_id>/reopen")
@role_required("analyst")
def campaign_reopen(campaign_id: int):
    c = campaign_or_404(campaign_id)
    form = ReopenCampaignForm()
    if not form.validate_on_submit():
        flash("Chưa mở lại đợt khảo sát. Xin sửa mục được đánh dấu.", "error")
        return _campaign_page(c, reopen_form=form, status=422)
    return _transition(
        c,
        lambda db, user: reopen_campaign(db, c, user, form.reason.data),
        "Đã mở lại đợt khảo sát: tiếp tục thu phiếu.",
    )


def _transition(c: Campaign, change: Callable[[Session, User | None], StatusChange], done: str):
    """Apply one lifecycle change with its audit event in one transaction; flash the outcome."""
    db = get_session()
    try:
        made = change(db, current_user())
        audit(db, made.action, made.to_audit())
        db.commit()
    except CampaignError as exc:
        db.rollback()
        flash(f"Không thực hiện được: {exc}", "error")
    else:
        flash(done, "success")
    return redirect(url_for(".campaign", campaign_id=c.id))
