"""Answer codes ("mỗi hồ sơ một phiếu") on the staff pages: the setting, issuing codes, printing a day's
slips (A6 or 80 mm receipt paper, each with a QR code of the phone form) and the counter poster (A4)."""

from __future__ import annotations

from datetime import date

import segno
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import select

from ..assignments import assigned_units, is_scoped
from ..codes import CodeError, case_codes, code_counts, code_keys, issue_codes
from ..db import get_session
from ..models import AnswerCode
from ..users import audit, current_user, role_required
from . import bp
from .forms import AnswerCodesSettingForm, ConfirmForm
from .shared import campaign_or_404

SLIP_FORMATS = {"a6": "A6 (105 × 148 mm)", "receipt": "Giấy in hóa đơn 80 mm"}
MAX_SLIPS = 1000  # one page of slips; a larger day is printed unit by unit


def _base_url() -> str:
    return (current_app.config.get("PUBLIC_URL") or request.url_root).rstrip("/")


def qr_svg(url: str, title: str = "Mã QR") -> Markup:
    """An address as an inline SVG QR code (segno writes attributes only, never style=)."""
    qr = segno.make(url, error="m")
    # Our own generated markup: the address is encoded in the path data, never written as text.
    return Markup(qr.svg_inline(omitsize=True, border=4, light="#fff", svgclass="qr", title=title))


def phone_url(campaign_id: int, code: str | None = None, unit: str | None = None) -> str:
    """The phone form's address; a code goes in the fragment, which browsers never send to the server."""
    path = url_for("kiosk.phone_page", campaign_id=campaign_id, unit_code=unit)
    return _base_url() + path + (f"#{code}" if code else "")


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, description="Ngày phải có dạng YYYY-MM-DD.")


def _units_of_user(campaign) -> set[str] | None:
    """The units whose slips and posters the user may print (None: all)."""
    user = current_user()
    if not is_scoped(user):
        return None
    return {u.unit_code for u in assigned_units(get_session(), user, campaign)}


@bp.post("/campaigns/<int:campaign_id>/codes/setting")
@role_required("analyst")
def codes_setting(campaign_id: int):
    c = campaign_or_404(campaign_id)
    form = AnswerCodesSettingForm()
    if not form.validate_on_submit():
        flash("Chưa đổi cài đặt mã phiếu: trang đã hết hạn, xin thử lại.", "error")
        return redirect(url_for(".campaign", campaign_id=c.id, _anchor="answer-codes"))
    db = get_session()
    wanted = bool(form.answer_codes.data)
    if wanted != c.answer_codes:
        c.answer_codes = wanted
        audit(db, "answer_codes_setting", {"campaign_id": c.id, "answer_codes": wanted})
        db.commit()
        flash(
            "Đã bật “mỗi hồ sơ một phiếu”: phiếu trên máy tính bảng và điện thoại cần mã phiếu chưa dùng."
            if wanted
            else "Đã tắt “mỗi hồ sơ một phiếu”.",
            "success",
        )
    return redirect(url_for(".campaign", campaign_id=c.id, _anchor="answer-codes"))


@bp.post("/campaigns/<int:campaign_id>/codes/issue")
@role_required("analyst")
def codes_issue(campaign_id: int):
    c = campaign_or_404(campaign_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("Chưa cấp mã: trang đã hết hạn, xin thử lại.", "error")
        return redirect(url_for(".campaign", campaign_id=c.id, _anchor="answer-codes"))
    day = _day(request.form.get("date"))
    db = get_session()
    try:
        result = issue_codes(db, c, code_keys(), day)
    except CodeError as exc:
        db.rollback()
        flash(f"Chưa cấp được mã: {exc.message}", "error")
        return redirect(url_for(".campaign", campaign_id=c.id, _anchor="answer-codes"))
    audit(
        db,
        "answer_codes_issued",
        {"campaign_id": c.id, "date": day.isoformat() if day else None, "issued": result.issued},
    )
    db.commit()
    text = f"Đã cấp {result.issued} mã mới cho {result.cases} hồ sơ"
    text += f" nhận ngày {day:%d/%m/%Y}" if day else ""
    text += f"; {result.already} mã đã cấp từ trước." if result.already else "."
    if result.skipped:
        text += f" {len(result.skipped)} hồ sơ thuộc đơn vị ngoài đợt khảo sát, không được cấp mã."
    flash(text, "success")
    if day is not None:
        return redirect(url_for(".code_slips", campaign_id=c.id, date=day.isoformat()))
    return redirect(url_for(".campaign", campaign_id=c.id, _anchor="answer-codes"))


@bp.route("/campaigns/<int:campaign_id>/codes/slips")
@role_required("analyst", "enumerator")
def code_slips(campaign_id: int):
    """A day's slips, one per case file, ready to print (A6 or 80 mm)."""
    c = campaign_or_404(campaign_id)
    day = _day(request.args.get("date")) or date.today()
    size = request.args.get("format", "a6")
    if size not in SLIP_FORMATS:
        size = "a6"
    allowed = _units_of_user(c)
    unit = request.args.get("unit") or None
    db = get_session()
    try:
        keys = code_keys()
    except CodeError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".campaign", campaign_id=c.id, _anchor="answer-codes"))
    cases = [
        case
        for case in case_codes(db, c, keys, day)
        if (allowed is None or case.unit_code in allowed) and (unit is None or case.unit_code == unit)
    ]
    issued = set(db.scalars(select(AnswerCode.code_hash).where(AnswerCode.campaign_id == c.id)))
    slips, not_issued = [], 0
    for case in cases:
        if keys.hash_of(c.id, case.code) not in issued:
            not_issued += 1
            continue
        url = phone_url(c.id, case.code)
        slips.append({"case": case, "url": url, "qr": qr_svg(url, f"Mã QR phiếu {case.shown}")})
    shown = slips[:MAX_SLIPS]
    return render_template(
        "admin/code_slips.html",
        campaign=c,
        day=day,
        size=size,
        sizes=SLIP_FORMATS,
        unit=unit,
        units=[u for u in c.units if allowed is None or u.unit_code in allowed],
        slips=shown,
        more=len(slips) - len(shown),
        not_issued=not_issued,
        issue_form=ConfirmForm(),
        may_issue=current_user().role in ("admin", "analyst"),
    )


@bp.route("/campaigns/<int:campaign_id>/codes/poster")
@role_required("analyst", "enumerator")
def code_poster(campaign_id: int):
    """The A4 counter poster: a QR code of the phone form (of one unit, for a campaign without codes)."""
    c = campaign_or_404(campaign_id)
    allowed = _units_of_user(c)
    units = [u for u in c.units if allowed is None or u.unit_code in allowed]
    unit_code = request.args.get("unit") or None
    unit = next((u for u in units if u.unit_code == unit_code), None)
    if unit_code is not None and unit is None:
        abort(404)
    if unit is None and not c.answer_codes:
        if not units:
            abort(403)
        unit = units[0]
    url = phone_url(c.id, unit=unit.unit_code if unit is not None else None)
    return render_template(
        "admin/code_poster.html",
        campaign=c,
        unit=unit,
        units=units,
        url=url,
        qr=qr_svg(url, "Mã QR phiếu khảo sát trên điện thoại"),
    )


def campaign_codes_context(campaign) -> dict:
    """What the campaign page shows of answer codes."""
    return {
        "answer_code_counts": code_counts(get_session(), campaign),
        "answer_codes_form": AnswerCodesSettingForm(formdata=None, answer_codes=not campaign.answer_codes),
        "issue_codes_form": ConfirmForm(formdata=None),
    }
