"""Paper-form entry: an enumerator types in a paper questionnaire, checked like a kiosk submission."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for

from questionnaires import Questionnaire

from ..assignments import NOT_ASSIGNED_CAMPAIGN, NOT_ASSIGNED_UNIT, assigned_units, is_scoped
from ..campaigns import CampaignNotOpen, accepts_responses, campaign_questionnaire, refusal
from ..client import client_definition
from ..db import get_session
from ..double_entry import key_paper_form
from ..errors import DuplicateConflict, ValidationFailed
from ..forms import paper_entry_form, select_choices
from ..models import Campaign, CampaignUnit
from ..storage import save_response
from ..users import current_user, role_required
from ..validation import EARLIEST_TIMESTAMP
from ..web import VIETNAM_TZ
from . import bp
from .shared import campaign_or_404

# What a paper-entry field shows for an error code, when the item's own wording is better kept short.
ENTRY_MESSAGES = {
    "required": "Câu bắt buộc: chưa được nhập. Nếu trên phiếu câu này bị bỏ trống hoặc không đọc được, "
    "đánh dấu “Để trống / không đọc được”."
}
# Errors of the submission fields that belong to a field of the entry form (not to an item).
_FIELD_OF = {"unit": "entry_unit", "submitted_at": "entry_date", "paper_serial": "entry_serial"}
# Said after the refusal of a campaign that does not take forms: the clerk's typing is still there.
KEPT = " Phiếu chưa được lưu; nội dung đã nhập vẫn còn trên trang."
# The number of forms keyed in this login session (shown on the page, for the clerk's own tally).
KEYED_COUNT = "entry_keyed_count"


def _vn_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=VIETNAM_TZ).astimezone(UTC)


@bp.route("/campaigns/<int:campaign_id>/entry", methods=["GET", "POST"])
@role_required("enumerator", "analyst")
def entry(campaign_id: int):
    db = get_session()
    c = campaign_or_404(campaign_id)
    units = _entry_units(c)
    if request.method == "GET" and not accepts_responses(c):
        flash(f"Không nhập được phiếu giấy: {refusal(c)[1]}", "error")
        return redirect(url_for(".campaign", campaign_id=c.id))
    q = campaign_questionnaire(c)
    form = paper_entry_form(q)()
    form.entry_unit.choices = select_choices(
        [("", "— Chọn xã, thị trấn —")] + [(u.unit_code, u.unit_name) for u in units]
    )
    if request.method == "GET":
        form.entry_instance_id.data = str(uuid.uuid4())
        if request.args.get("unit") in {u.unit_code for u in units}:
            form.entry_unit.data = request.args["unit"]
    leftover: list[str] = []
    closed = not accepts_responses(c)  # a POST to a campaign closed since the page was opened
    unassigned = _unassigned(c, form, units)
    if closed:
        leftover = [refusal(c)[1] + KEPT]
    elif unassigned:
        leftover = [unassigned + KEPT]
    elif form.validate_on_submit():
        submitted_at = _paper_date(form)
        if not form.entry_date.errors:
            fields = {
                "campaign": c,
                "unit_code": form.entry_unit.data,
                "instance_id": form.entry_instance_id.data or "",
                "answers": form.answers(),
                "questionnaire_id": c.questionnaire_id,
                "version": c.questionnaire_version,
                "started_at": None,
                "submitted_at": submitted_at,
                "source": "paper",
                "entered_by": current_user(),
                "paper_serial": form.entry_serial.data,
                "blank_items": form.blank_items(),
            }
            try:
                if c.double_entry:
                    keyed = key_paper_form(db, **fields)
                    response, created = keyed.response, keyed.created
                else:
                    keyed = None
                    response, created = save_response(db, **fields)
            except ValidationFailed as exc:
                db.rollback()
                for err in exc.errors:
                    name = _FIELD_OF.get(err.item or "")
                    if name is not None:
                        form[name].errors = [*form[name].errors, err.message]
                items = [e for e in exc.errors if e.item not in _FIELD_OF]
                leftover = form.apply_errors(items, ENTRY_MESSAGES)
            except CampaignNotOpen as exc:  # closed while the form was being keyed: the typing stays
                db.rollback()
                closed = True
                leftover = [exc.message + KEPT]
            except DuplicateConflict:
                db.rollback()
                leftover = [
                    "Phiếu này đã được lưu trước đó với nội dung khác, nên lần gửi này không được lưu. "
                    "Mở một phiếu trống mới để nhập tiếp."
                ]
            else:
                unit_code = form.entry_unit.data
                unit_name = next((u.unit_name for u in c.units if u.unit_code == unit_code), "")
                session_count = _count_keyed(created)
                if keyed is not None:
                    flash(f"{keyed.message} ({unit_name}; {session_count}).", keyed.category)
                    return redirect(url_for(".entry", campaign_id=c.id, unit=unit_code))
                if created:
                    flash(
                        f"Đã lưu phiếu cho {unit_name} ({session_count}). Có thể nhập phiếu tiếp theo.",
                        "success",
                    )
                else:
                    flash("Phiếu này đã được lưu trước đó; không lưu thêm lần nữa.", "warning")
                return redirect(url_for(".entry", campaign_id=c.id, unit=response.unit_code))
    status = 200
    if unassigned and not closed:
        status = 403  # the assignment refuses the form: the page says so and keeps the typing
        flash("Phiếu chưa được lưu: bạn chưa được phân công nhập phiếu cho đơn vị này.", "error")
    elif closed:
        status = 409  # the campaign's state refuses the form (403 would say the role does)
        flash("Phiếu chưa được lưu: đợt khảo sát không còn nhận phiếu.", "error")
    elif request.method == "POST":
        status = 422
        flash("Phiếu chưa được lưu. Xin sửa các mục được đánh dấu bên dưới.", "error")
    return (
        render_template(
            "admin/entry.html",
            campaign=c,
            questionnaire=q,
            form=form,
            leftover=leftover,
            groups=entry_groups(q),
            client_definition=client_definition(q),
            keyed_count=session.get(KEYED_COUNT, 0),
        ),
        status,
    )


def _entry_units(c: Campaign) -> list[CampaignUnit]:
    """The units of ``c`` this user may key (an enumerator: assigned ones); 403 for a GET with none."""
    units = assigned_units(get_session(), current_user(), c)
    if request.method == "GET" and not units and is_scoped(current_user()):
        abort(403, NOT_ASSIGNED_CAMPAIGN)
    return units


def _unassigned(c: Campaign, form: Any, units: list[CampaignUnit]) -> str | None:
    """Why a posted form's unit is refused to this enumerator (not assigned to them), or None."""
    if request.method != "POST" or not is_scoped(current_user()):
        return None
    if not units:
        return NOT_ASSIGNED_CAMPAIGN
    # No unit chosen, or one the campaign does not have, is the form's own error, not a refusal.
    posted = form.entry_unit.data
    theirs = {u.unit_code for u in units}
    return NOT_ASSIGNED_UNIT if posted in {u.unit_code for u in c.units} - theirs else None


def _count_keyed(created: bool) -> str:
    """Count a form keyed in this login session; return the running count as the page says it."""
    if created:
        session[KEYED_COUNT] = session.get(KEYED_COUNT, 0) + 1
    return f"đã nhập {session.get(KEYED_COUNT, 0)} phiếu trong phiên này"


def _paper_date(form: Any) -> datetime | None:
    """Return the date on the paper form as Vietnamese midnight in UTC; set the field's error when bad."""
    if not form.entry_date.data:
        return None
    try:
        day = date.fromisoformat(form.entry_date.data)
    except ValueError:
        form.entry_date.errors = ["Ngày không hợp lệ."]
        return None
    if day > datetime.now(VIETNAM_TZ).date():
        form.entry_date.errors = ["Ngày trên phiếu không thể ở tương lai."]
        return None
    if day < EARLIEST_TIMESTAMP.date():  # year 1 would overflow, and no form of ours is that old
        form.entry_date.errors = [f"Ngày trên phiếu phải từ {EARLIEST_TIMESTAMP.date():%d/%m/%Y} trở đi."]
        return None
    return _vn_midnight(day)


def entry_groups(q: Questionnaire) -> list[tuple[Any, list[tuple[str, list]]]]:
    """Sections with their questions in runs: consecutive Likert rows sharing a choice list form a grid."""
    out = []
    for section in q.sections:
        runs: list[tuple[str, list]] = []
        for question in section.questions:
            if question.type.is_metadata or question.type.is_computed:
                continue  # filled by the device or computed on save: nothing to key in
            likert = question.has_appearance("likert") and question.choices
            if likert and runs and runs[-1][0] == "likert" and runs[-1][1][-1].choices == question.choices:
                runs[-1][1].append(question)
            else:
                runs.append(("likert" if likert else "single", [question]))
        out.append((section, runs))
    return out
