"""The campaign pages: the dashboard, creating a campaign with its targets, and one campaign's page."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from questionnaires import (
    QuestionnaireError,
    list_questionnaires,
    list_unit_lists,
    load_questionnaire,
    load_units,
)

from ..campaigns import campaign_questionnaire, create_campaign, progress
from ..db import get_session
from ..errors import CampaignError
from ..forms import select_choices
from ..models import Campaign, Kiosk
from ..users import audit, current_user, role_required
from . import bp
from .forms import CampaignForm, ConfirmForm, IntegerInput, KioskForm
from .shared import STATUS_LABELS, campaign_or_404

log = logging.getLogger(__name__)


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
    campaigns = db.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())).all()
    rows = [(c, progress(db, c)) for c in campaigns]
    return render_template("admin/dashboard.html", rows=rows, status_labels=STATUS_LABELS)


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
            )
            audit(db, "campaign_created", {"campaign_id": campaign.id, "name": campaign.name})
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


@bp.route("/campaigns/<int:campaign_id>")
@role_required()
def campaign(campaign_id: int):
    db = get_session()
    c = campaign_or_404(campaign_id)
    q = campaign_questionnaire(c)
    kiosks = db.scalars(
        select(Kiosk).where(Kiosk.campaign_id == c.id).order_by(Kiosk.created_at, Kiosk.id)
    ).all()
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
        status_labels=STATUS_LABELS,
        poll_seconds=current_app.config["PROGRESS_POLL_SECONDS"],
    )
