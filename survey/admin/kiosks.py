"""Kiosk links: creating one (shown once, with its QR code) and revoking it."""

from __future__ import annotations

import segno
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from ..campaigns import create_kiosk, kiosk_url, revoke_kiosk
from ..db import get_session
from ..errors import CampaignError
from ..forms import select_choices
from ..kiosk_display import set_display
from ..models import Kiosk
from ..users import audit, current_user, role_required
from . import bp
from .forms import ConfirmForm, KioskDisplayForm, KioskForm
from .shared import campaign_or_404


def _base_url() -> str:
    return current_app.config.get("PUBLIC_URL") or request.url_root


def _qr_svg(url: str) -> Markup:
    """The kiosk address as an inline SVG QR code (segno writes attributes only, never style=)."""
    qr = segno.make(url, error="m")
    # Our own generated markup (the address is encoded in the path data, not written as text).
    return Markup(qr.svg_inline(omitsize=True, border=4, light="#fff", svgclass="qr", title="Mã QR"))


@bp.route("/campaigns/<int:campaign_id>/kiosks", methods=["POST"])
@role_required("analyst")
def kiosk_create(campaign_id: int):
    db = get_session()
    c = campaign_or_404(campaign_id)
    form = KioskForm()
    form.unit.choices = select_choices((u.unit_code, u.unit_name) for u in c.units)
    if not form.validate_on_submit():
        flash("Chưa tạo được đường dẫn: " + "; ".join(m for ms in form.errors.values() for m in ms), "error")
        return redirect(url_for(".campaign", campaign_id=c.id, _anchor="kiosks"))
    try:
        kiosk, token = create_kiosk(db, c, form.unit.data, form.counter.data, created_by=current_user())
        audit(db, "kiosk_created", {"campaign_id": c.id, "kiosk_id": kiosk.id, "unit": kiosk.unit_code})
        db.commit()
    except CampaignError as exc:
        db.rollback()
        flash(f"Chưa tạo được đường dẫn: {exc}", "error")
        return redirect(url_for(".campaign", campaign_id=c.id, _anchor="kiosks"))
    url = kiosk_url(token, _base_url())
    unit_name = next((u.unit_name for u in c.units if u.unit_code == kiosk.unit_code), kiosk.unit_code)
    response = current_app.make_response(
        render_template(
            "admin/kiosk_created.html", campaign=c, kiosk=kiosk, unit_name=unit_name, url=url, qr=_qr_svg(url)
        )
    )
    response.status_code = 201
    return response


@bp.route("/campaigns/<int:campaign_id>/kiosks/<int:kiosk_id>/revoke", methods=["POST"])
@role_required("analyst")
def kiosk_revoke(campaign_id: int, kiosk_id: int):
    db = get_session()
    c = campaign_or_404(campaign_id)
    kiosk = db.get(Kiosk, kiosk_id)
    if kiosk is None or kiosk.campaign_id != c.id:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        revoke_kiosk(db, kiosk)
        audit(db, "kiosk_revoked", {"campaign_id": c.id, "kiosk_id": kiosk.id, "unit": kiosk.unit_code})
        db.commit()
        flash(
            f"Đã thu hồi đường dẫn {kiosk.token_hint}…: máy tính bảng dùng đường dẫn này "
            "không gửi phiếu được nữa.",
            "success",
        )
    return redirect(url_for(".campaign", campaign_id=c.id, _anchor="kiosks"))


@bp.post("/campaigns/<int:campaign_id>/kiosk-display")
@role_required("analyst")
def kiosk_display(campaign_id: int):
    """One question per screen, Likert scales as faces: the campaign's kiosk display (audited)."""
    c = campaign_or_404(campaign_id)
    form = KioskDisplayForm()
    if not form.validate_on_submit():
        problem = "; ".join(form.idle_seconds.errors) or "trang đã hết hạn, xin thử lại"
        flash(f"Chưa đổi cách hiển thị trên máy tính bảng: {problem}.", "error")
        return redirect(url_for(".campaign", campaign_id=c.id, _anchor="kiosk-display"))
    db = get_session()
    changes = set_display(
        db,
        c,
        one_question=bool(form.one_question.data),
        likert_faces=bool(form.likert_faces.data),
        idle_seconds=form.idle_seconds.data,
        user=current_user(),
    )
    db.commit()
    if changes:
        flash(
            "Đã lưu cách hiển thị. Máy tính bảng áp dụng khi tải lại trang "
            "(khi mở lại đường dẫn hoặc có mạng trở lại).",
            "success",
        )
    return redirect(url_for(".campaign", campaign_id=c.id, _anchor="kiosk-display"))
