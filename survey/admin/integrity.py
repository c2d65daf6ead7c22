"""Integrity-check pages: a campaign's check settings (on/off, thresholds, defaults and their reasons) and
"Kiểm tra chất lượng", the flags by rule with their evidence and links to the forms.

For analysts and admins only: the office being graded must not see which of its forms are flagged. A
flag never excludes a form: people decide on the response pages through the review states, audited there.
Changing a setting is post/redirect/get, one transaction and one audit event.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, StringField

from ..db import get_session
from ..models import Campaign, Response
from ..review import STATE_LABELS
from ..users import audit, role_required
from . import bp
from .shared import campaign_or_404

# Flags shown per rule on the page; the rest are one click away in the filtered list of responses.
SHOWN_PER_RULE = 200


def _settings_form_class() -> type[FlaskForm]:
    """A form with one field per integrity setting: a checkbox for on/off, text for the rest."""
    from ..integrity import SETTINGS

    attrs: dict[str, Any] = {}
    for name, info in SETTINGS.items():
        if info.kind == "bool":
            attrs[name] = BooleanField(info.label)
        else:
            attrs[name] = StringField(info.label, render_kw={"autocomplete": "off", "spellcheck": "false"})
    return type("IntegritySettingsForm", (FlaskForm,), attrs)


_FORM_CLASS: list[type[FlaskForm]] = []


def settings_form(**kwargs: Any) -> FlaskForm:
    """The settings form (its class is built once, on first use)."""
    if not _FORM_CLASS:
        _FORM_CLASS.append(_settings_form_class())
    return _FORM_CLASS[0](**kwargs)


def _groups() -> list[tuple[str, str, list[str]]]:
    """(group code, label, setting names) in the order of the settings."""
    from ..integrity import GROUP_LABELS, SETTINGS

    groups: dict[str, list[str]] = {}
    for name, info in SETTINGS.items():
        groups.setdefault(info.rule, []).append(name)
    return [(code, GROUP_LABELS.get(code, code), names) for code, names in groups.items()]


@bp.route("/campaigns/<int:campaign_id>/integrity/settings", methods=["GET", "POST"])
@role_required("analyst")
def integrity_settings(campaign_id: int):
    from ..integrity import DEFAULTS, SETTINGS, SettingError, change_settings, format_value, settings_for

    db = get_session()
    campaign = campaign_or_404(campaign_id)
    current = settings_for(campaign)
    status = 200
    if request.method == "POST":
        form = settings_form()
        if form.validate_on_submit():
            if request.form.get("reset"):
                values: dict[str, Any] = dict.fromkeys(SETTINGS, "default")
            else:
                values = {name: form[name].data for name in SETTINGS}
            try:
                made = change_settings(campaign, values)
            except SettingError as exc:
                db.rollback()
                for name, message in exc.problems.items():
                    if name in SETTINGS:
                        form[name].errors = [*form[name].errors, message]
                flash(f"Chưa lưu cài đặt. {exc}", "error")
                status = 422
            else:
                if made.changes:
                    audit(db, made.action, made.to_audit())
                    db.commit()
                    flash(f"Đã lưu {len(made.changes)} thay đổi cài đặt kiểm tra chất lượng.", "success")
                else:
                    flash("Không có cài đặt nào thay đổi.", "info")
                return redirect(url_for(".integrity_settings", campaign_id=campaign.id))
        else:
            flash("Chưa lưu cài đặt: phiên làm việc đã hết hạn, xin gửi lại.", "error")
            status = 422
    else:
        data = {
            name: getattr(current, name)
            if SETTINGS[name].kind == "bool"
            else format_value(name, getattr(current, name))
            for name in SETTINGS
        }
        form = settings_form(formdata=None, data=data)
    defaults = {name: format_value(name, getattr(DEFAULTS, name)) for name in SETTINGS}
    changed = {name for name in SETTINGS if getattr(current, name) != getattr(DEFAULTS, name)}
    return (
        render_template(
            "admin/integrity_settings.html",
            campaign=campaign,
            form=form,
            groups=_groups(),
            settings=SETTINGS,
            defaults=defaults,
            changed=changed,
        ),
        status,
    )


def _states(campaign: Campaign, ids: set[str]) -> dict[str, str]:
    """Review state per response id, for the flagged forms."""
    if not ids:
        return {}
    rows = get_session().execute(
        select(Response.instance_id, Response.review_state).where(
            Response.campaign_id == campaign.id, Response.instance_id.in_(sorted(ids))
        )
    )
    return dict(rows.all())


@bp.route("/campaigns/<int:campaign_id>/integrity")
@role_required("analyst")
def integrity(campaign_id: int):
    from ..integrity import FORM_RULES, RULE_LABELS_VI, SETTINGS, campaign_flags

    campaign = campaign_or_404(campaign_id)
    result = campaign_flags(get_session(), campaign)
    by_rule = result.by_rule()
    shown = {rule: lines[:SHOWN_PER_RULE] for rule, lines in by_rule.items()}
    states = _states(campaign, {line.response_id for lines in shown.values() for line in lines})
    report = result.report
    counts = report.counts.reset_index().to_dict("records")
    return render_template(
        "admin/integrity.html",
        campaign=campaign,
        result=result,
        report=report,
        by_rule=by_rule,
        shown=shown,
        states=states,
        counts=counts,
        count_rules=[r for r in FORM_RULES if r in report.counts.columns],
        unit_names={u.unit_code: u.unit_name for u in campaign.units},
        rule_labels=RULE_LABELS_VI,
        state_labels=STATE_LABELS,
        flagged=len(result.flagged_ids()),
        settings=SETTINGS,
    )


# -------------------------------------------------------------- what the response pages show of flags
@dataclass(frozen=True)
class FlagView:
    """Flags for the response list and detail pages: per form, the chosen filter, its choices, an error."""

    by_response: dict[str, list[Any]] = field(default_factory=dict)
    ids: frozenset[str] | None = None  # the forms the flag filter keeps; None: no flag filter
    chosen: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    error: str | None = None


def flag_view(campaign: Campaign, flag: str = "") -> FlagView:
    """The flags of ``campaign`` and the filter ``flag`` ("" none, "any", "none" or a rule code)."""
    from ..errors import SurveyError
    from ..integrity import FORM_RULES, RULE_LABELS_VI, campaign_flags

    choices = (
        ("", "Tất cả"),
        ("any", "Có cờ (bất kỳ)"),
        ("none", "Không có cờ"),
        *((rule, RULE_LABELS_VI[rule]) for rule in FORM_RULES),
    )
    flag = (flag or "").strip()
    try:
        result = campaign_flags(get_session(), campaign)
    except SurveyError as exc:
        return FlagView(chosen=flag, choices=choices, error=f"Không chạy được kiểm tra chất lượng: {exc}")
    view = FlagView(result.by_response(), None, flag, choices)
    if not flag:
        return view
    if flag not in dict(choices):
        known = ", ".join(code for code, _ in choices if code)
        return replace(view, error=f"Cờ “{flag}” không có; chọn một trong: {known}.", ids=frozenset())
    if flag == "none":
        flagged = result.flagged_ids()
        everyone = get_session().scalars(
            select(Response.instance_id).where(Response.campaign_id == campaign.id)
        )
        return replace(view, ids=frozenset(i for i in everyone if i not in flagged))
    return replace(view, ids=result.flagged_ids(None if flag == "any" else flag))
