"""Double entry of paper forms: the campaign setting, and the side-by-side page that resolves two keyings.

Analysts and admins only. Each pair shows, per differing item, both keyed values; the reviewer picks
one per item and gives a reason; the form then counts (survey.double_entry.resolve, audited).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ..campaigns import campaign_questionnaire
from ..db import get_session
from ..double_entry import (
    BLANK_LABEL,
    DoubleEntryError,
    find_pair,
    keyed_values,
    pairs_to_resolve,
    pending_keyings,
    resolve,
    set_double_entry,
)
from ..errors import ValidationFailed
from ..models import Campaign
from ..users import current_user, role_required
from . import bp
from .forms import DoubleEntrySettingForm, ResolveKeyingsForm
from .shared import campaign_or_404


@bp.post("/campaigns/<int:campaign_id>/double-entry/setting")
@role_required("analyst")
def double_entry_setting(campaign_id: int):
    c = campaign_or_404(campaign_id)
    form = DoubleEntrySettingForm()
    if not form.validate_on_submit():
        flash("Chưa đổi cách nhập phiếu giấy: trang đã hết hạn, xin thử lại.", "error")
        return redirect(url_for(".campaign", campaign_id=c.id))
    db = get_session()
    try:
        changed = set_double_entry(db, c, bool(form.double_entry.data), user=current_user())
        db.commit()
    except DoubleEntryError as exc:
        db.rollback()
        flash(f"Không thực hiện được: {exc}", "error")
    else:
        if changed:
            flash(
                "Đã bật nhập phiếu giấy hai lần: mỗi số phiếu cần hai người nhập khớp nhau."
                if c.double_entry
                else "Đã tắt nhập phiếu giấy hai lần.",
                "success",
            )
    return redirect(url_for(".campaign", campaign_id=c.id))


def _shown(value: Any, item: str, questionnaire: Any) -> str:
    """A keyed value as the reviewer reads it: the code with its label, or the blank mark."""
    if value is None:
        return "(không nhập)"
    if value == "__blank__":
        return BLANK_LABEL
    question = next((q for q in questionnaire.questions() if q.code == item), None)
    choice_list = questionnaire.choice_list(question) if question is not None else None
    values = value if isinstance(value, list) else [value]
    labels = {c.code: c.label.vi for c in choice_list.choices} if choice_list else {}
    return "; ".join(f"{v} — {labels[v]}" if v in labels else str(v) for v in values)


def _rows(pair: Any, questionnaire: Any) -> list[dict[str, Any]]:
    """Per differing item: its code and label and the two values as shown."""
    first, second = keyed_values(pair.first), keyed_values(pair.second)
    labels = {q.code: q.label.vi for q in questionnaire.questions()}
    labels.update({"submitted_at": "Ngày ghi trên phiếu", "stratum": "Lĩnh vực (tầng)"})
    return [
        {
            "item": item,
            "label": labels.get(item, item),
            "first": _shown(first.get(item), item, questionnaire),
            "second": _shown(second.get(item), item, questionnaire),
        }
        for item in pair.items
    ]


def _page(c: Campaign, forms: dict[int, ResolveKeyingsForm] | None = None, status: int = 200):
    db = get_session()
    questionnaire = campaign_questionnaire(c)
    pairs = pairs_to_resolve(db, c)
    forms = forms or {}
    return (
        render_template(
            "admin/double_entry.html",
            campaign=c,
            pairs=[
                (
                    pair,
                    _rows(pair, questionnaire),
                    forms.get(pair.first.id) or ResolveKeyingsForm(formdata=None),
                )
                for pair in pairs
            ],
            unit_names={u.unit_code: u.unit_name for u in c.units},
            pending=pending_keyings(db, c),
            # The choices of the pair whose resolution was refused stay as they were made.
            chosen={pair_id: request.form for pair_id in forms},
        ),
        status,
    )


@bp.get("/campaigns/<int:campaign_id>/double-entry")
@role_required("analyst")
def double_entry(campaign_id: int):
    return _page(campaign_or_404(campaign_id))


@bp.post("/campaigns/<int:campaign_id>/double-entry/<int:keying_id>")
@role_required("analyst")
def double_entry_resolve(campaign_id: int, keying_id: int):
    c = campaign_or_404(campaign_id)
    db = get_session()
    pair = find_pair(db, c, keying_id)
    if pair is None:
        flash("Cặp phiếu này không còn chờ đối chiếu (có thể người khác vừa đối chiếu).", "warning")
        return redirect(url_for(".double_entry", campaign_id=c.id))
    form = ResolveKeyingsForm()
    if form.validate_on_submit():
        choices = {item: request.form.get(f"choice__{item}", "") for item in pair.items}
        try:
            response = resolve(db, c, pair, choices, form.reason.data, user=current_user())
        except DoubleEntryError as exc:
            db.rollback()
            form.reason.errors = [*form.reason.errors, str(exc)]
        except ValidationFailed as exc:
            db.rollback()
            form.reason.errors = [
                *form.reason.errors,
                "Phiếu sau khi chọn chưa hợp lệ: " + " ".join(e.message for e in exc.errors),
            ]
        else:
            flash(
                f"Đã đối chiếu phiếu số {response.paper_serial}: phiếu đã được tính.",
                "success",
            )
            return redirect(url_for(".double_entry", campaign_id=c.id))
    flash("Chưa đối chiếu được. Xin sửa mục được đánh dấu bên dưới.", "error")
    return _page(c, {pair.first.id: form}, 422)
