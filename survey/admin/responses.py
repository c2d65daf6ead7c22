"""Response review pages: a campaign's responses (filtered, paged), one response with its history, review
states one at a time or in bulk (with a confirmation step), corrections that store a revision, and the
download of the correction history.

Admins and analysts see everything; enumerators see and correct only the paper forms they keyed in the
campaigns and units they are assigned (:mod:`survey.assignments`), and set no review state (see
:mod:`survey.review`). Every change is post/redirect/get and audited there.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for

from ..assignments import NOT_ASSIGNED_CAMPAIGN, assigned_units, is_scoped
from ..campaigns import campaign_questionnaire
from ..client import client_definition
from ..db import get_session
from ..exports import FORMATS, export_filename, export_revisions
from ..forms import NumberAnswerField, select_choices
from ..models import Campaign, Response
from ..review import (
    SOURCE_LABELS,
    STATE_LABELS,
    AccessDenied,
    InvalidCorrection,
    ResponseFilter,
    ResponseNotFound,
    ReviewError,
    current_answers,
    detail,
    find_response,
    latest_revision,
    list_responses,
    may_review,
    revise,
    set_state,
    set_states,
)
from ..users import current_user, role_required
from . import bp
from .entry import ENTRY_MESSAGES, entry_groups
from .forms import BulkReviewForm, ResponseFilterForm, ReviewForm, correction_form
from .integrity import FlagView, flag_view
from .shared import campaign_or_404

PER_PAGE = 50
# The bulk form shares a page with the filters: its own field names and ids ("bulk-state", …).
BULK_PREFIX = "bulk"


def _response_or_abort(ref: str) -> Response:
    """The response of the URL that the logged-in user may see: 404 when unknown, 403 when not theirs."""
    try:
        return find_response(get_session(), ref, current_user())
    except ResponseNotFound:
        abort(404)
    except AccessDenied:
        abort(403)


def _day(form_field: Any) -> date | None:
    if not form_field.data:
        return None
    try:
        return date.fromisoformat(form_field.data)
    except ValueError:
        form_field.errors = [*form_field.errors, "Ngày không hợp lệ (dạng năm-tháng-ngày)."]
        return None


def _filters(form: ResponseFilterForm) -> ResponseFilter | None:
    """The filters of the query string, or None (with the errors on the fields) when they make no sense."""
    form.validate()
    since, until = _day(form.since), _day(form.until)
    if since and until and since > until:
        form.until.errors = [*form.until.errors, "Ngày kết thúc phải sau ngày bắt đầu."]
    if any(f.errors for f in form):
        return None
    return ResponseFilter(
        unit=form.unit.data or None,
        source=form.source.data or None,
        state=form.state.data or None,
        since=since,
        until=until,
        text=(form.text.data or "").strip() or None,
    )


@bp.route("/campaigns/<int:campaign_id>/responses")
@role_required("enumerator", "analyst")
def responses(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    units = assigned_units(get_session(), current_user(), campaign)  # an enumerator: assigned units only
    if is_scoped(current_user()) and not units:
        abort(403, NOT_ASSIGNED_CAMPAIGN)
    form = ResponseFilterForm(request.args)
    form.unit.choices = select_choices([("", "Tất cả")] + [(u.unit_code, u.unit_name) for u in units])
    filters = _filters(form)
    # Integrity flags: for analysts and admins only (the office being graded must not see them).
    flags = flag_view(campaign, request.args.get("flag", "")) if may_review(current_user()) else FlagView()
    if filters is not None and flags.error is None and flags.ids is not None:
        filters = replace(filters, response_ids=flags.ids)
    elif flags.error and flags.chosen:
        filters = None
    page = request.args.get("page", 1, type=int) or 1
    result = None
    if filters is not None:
        try:
            result = list_responses(
                get_session(), campaign, filters, page=max(page, 1), per_page=PER_PAGE, user=current_user()
            )
        except ReviewError as exc:  # a source or state code that does not exist
            form.state.errors = [*form.state.errors, str(exc)]
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return (
        render_template(
            "admin/responses.html",
            campaign=campaign,
            form=form,
            result=result,
            query=query,
            bulk_form=BulkReviewForm(formdata=None, prefix=BULK_PREFIX),
            may_review=may_review(current_user()),
            state_labels=STATE_LABELS,
            source_labels=SOURCE_LABELS,
            flags=flags,
        ),
        200 if result is not None else 422,
    )


def _detail_page(response: Response, review_form: ReviewForm, status: int = 200):
    from ..integrity import paradata_pages  # loads pandas: only when a page needs it

    info = detail(get_session(), response, current_user())
    view = flag_view(info.campaign) if may_review(current_user()) else None  # flags: analysts only
    questionnaire = campaign_questionnaire(info.campaign)
    marked = set(response.blank_items or [])
    blank_lines = [(q.code, q.label.vi) for q in questionnaire.questions() if q.code in marked]
    return (
        render_template(
            "admin/responses_detail.html",
            info=info,
            response=response,
            campaign=info.campaign,
            review_form=review_form,
            may_review=may_review(current_user()),
            state_labels=STATE_LABELS,
            source_labels=SOURCE_LABELS,
            blank_lines=blank_lines,
            flags=view.by_response.get(response.instance_id, []) if view is not None else None,
            flags_error=view.error if view is not None else None,
            page_timings=paradata_pages(questionnaire, response.paradata),
        ),
        status,
    )


@bp.route("/responses/<response_ref>")
@role_required("enumerator", "analyst")
def response_detail(response_ref: str):
    response = _response_or_abort(response_ref)
    form = ReviewForm(formdata=None, state=response.review_state)
    return _detail_page(response, form)


@bp.route("/responses/<response_ref>/review", methods=["POST"])
@role_required("analyst")
def response_review(response_ref: str):
    db = get_session()
    response = _response_or_abort(response_ref)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            set_state(db, response, form.state.data, form.reason.data, user=current_user())
        except ReviewError as exc:
            db.rollback()
            form.reason.errors = [*form.reason.errors, str(exc)]
        else:
            flash(f"Đã chuyển phiếu sang trạng thái “{STATE_LABELS[form.state.data]}”.", "success")
            return redirect(url_for(".response_detail", response_ref=response.instance_id))
    flash("Chưa đổi trạng thái. Xin sửa mục được đánh dấu bên dưới.", "error")
    return _detail_page(response, form, 422)


def _form_data(form_class: type, answers: dict[str, Any]) -> dict[str, Any]:
    """The stored answers as the correction form's initial data (numbers as the text a clerk types)."""
    data: dict[str, Any] = {}
    probe = form_class.item_attrs
    for code, value in answers.items():
        attr = probe.get(code)
        if attr is None:
            continue
        unbound = getattr(form_class, attr)
        data[attr] = str(value) if issubclass(unbound.field_class, NumberAnswerField) else value
    return data


@bp.route("/responses/<response_ref>/edit", methods=["GET", "POST"])
@role_required("enumerator", "analyst")
def response_edit(response_ref: str):
    db = get_session()
    response = _response_or_abort(response_ref)
    campaign = db.get(Campaign, response.campaign_id)
    questionnaire = campaign_questionnaire(campaign)
    form_class = correction_form(questionnaire)
    if request.method == "POST":
        form = form_class()
    else:
        form = form_class(formdata=None, data=_form_data(form_class, current_answers(response)))
        form.correction_base.data = str(latest_revision(db, response))
        form.entry_blank.data = list(response.blank_items or [])
    # Where, when and which serial are not corrected here.
    paper = response.source == "paper"  # only a paper form has items marked blank
    hidden = ("entry_unit", "entry_date", "entry_serial", "entry_instance_id")
    for name in hidden if paper else (*hidden, "entry_blank"):
        del form[name]
    leftover: list[str] = []
    if form.validate_on_submit():
        try:
            base = form.correction_base.data
            revision = revise(
                db,
                response,
                form.answers(),
                form.correction_reason.data,
                user=current_user(),
                based_on=int(base) if base and base.isdigit() else None,
                blank=form.blank_items() if paper else None,
            )
        except InvalidCorrection as exc:
            db.rollback()
            leftover = form.apply_errors(exc.errors, ENTRY_MESSAGES)
        except ReviewError as exc:
            db.rollback()
            leftover = [str(exc)]
        else:
            flash(
                f"Đã lưu bản sửa số {revision.number} ({len(revision.changes)} câu thay đổi). "
                "Câu trả lời gốc vẫn được giữ.",
                "success",
            )
            return redirect(url_for(".response_detail", response_ref=response.instance_id))
    status = 200
    if request.method == "POST":
        status = 422
        flash("Bản sửa chưa được lưu. Xin sửa các mục được đánh dấu bên dưới.", "error")
    return (
        render_template(
            "admin/responses_edit.html",
            campaign=campaign,
            response=response,
            questionnaire=questionnaire,
            form=form,
            leftover=leftover,
            groups=entry_groups(questionnaire),
            client_definition=client_definition(questionnaire),
        ),
        status,
    )


@bp.route("/campaigns/<int:campaign_id>/responses/bulk", methods=["POST"])
@role_required("analyst")
def responses_bulk(campaign_id: int):
    db = get_session()
    campaign = campaign_or_404(campaign_id)
    refs = list(dict.fromkeys(request.form.getlist("ids")))
    back = request.form.get("back") or ""
    if not back.startswith(f"/admin/campaigns/{campaign.id}/responses"):
        back = url_for(".responses", campaign_id=campaign.id)
    chosen: list[Response] = []
    for ref in refs:
        try:
            found = find_response(db, ref, current_user())
        except (ResponseNotFound, AccessDenied):
            abort(404)
        if found.campaign_id != campaign.id:
            abort(404)
        chosen.append(found)
    if not chosen:
        flash("Chưa chọn phiếu nào. Đánh dấu các phiếu cần đổi trạng thái trước.", "warning")
        return redirect(back)
    form = BulkReviewForm(prefix=BULK_PREFIX)
    status = 200
    if form.validate_on_submit():
        if form.confirmed.data == "1":
            try:
                count = set_states(db, chosen, form.state.data, form.reason.data, user=current_user())
            except ReviewError as exc:
                db.rollback()
                form.reason.errors = [*form.reason.errors, str(exc)]
                status = 422
            else:
                flash(
                    f"Đã chuyển {count} phiếu sang trạng thái “{STATE_LABELS[form.state.data]}”.", "success"
                )
                return redirect(back)
    else:
        status = 422
    form.confirmed.data = "1"
    return (
        render_template(
            "admin/responses_confirm.html",
            campaign=campaign,
            chosen=chosen,
            form=form,
            back=back,
            unit_names={u.unit_code: u.unit_name for u in campaign.units},
            state_labels=STATE_LABELS,
            source_labels=SOURCE_LABELS,
        ),
        status,
    )


@bp.route("/campaigns/<int:campaign_id>/responses/revisions.csv")
@role_required("analyst")
def responses_revisions(campaign_id: int):
    db = get_session()
    campaign = campaign_or_404(campaign_id)
    handle = tempfile.TemporaryFile()
    try:
        export_revisions(db, campaign, handle, user=current_user())
        db.commit()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    name = export_filename(campaign, "csv").replace(".csv", "_lich-su-sua.csv")
    reply = send_file(handle, mimetype=FORMATS["csv"], as_attachment=True, download_name=name, max_age=0)
    reply.headers["Cache-Control"] = "no-store"
    return reply
