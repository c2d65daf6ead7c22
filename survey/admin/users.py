"""Account management (admins only): creating accounts, locking and unlocking them, new passwords, and
assigning enumerators to the campaigns and units they key (survey.assignments)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import IntegerField
from wtforms.validators import InputRequired

from ..assignments import AssignmentError, assign, assignments_of
from ..db import get_session
from ..errors import UserError
from ..forms import MultiCheckboxField
from ..models import ROLES, Assignment, Campaign, StaffSession, User
from ..sessions import end_user_sessions
from ..users import audit, create_user, current_user, role_required, set_active, set_password
from . import bp
from .forms import ConfirmForm, PasswordResetForm, UserCreateForm
from .shared import ROLE_LABELS, STATUS_LABELS


def account_or_404(user_id: int) -> User:
    """Return the account of the URL, or answer 404."""
    account = get_session().get(User, user_id)
    if account is None:
        abort(404)
    return account


class AssignmentForm(FlaskForm):
    """The units of one campaign an enumerator is assigned (none ticked: not assigned to it)."""

    campaign_id = IntegerField(validators=[InputRequired("Chưa chọn đợt khảo sát.")])
    # The codes are checked against the campaign by survey.assignments.assign (with a "did you mean").
    units = MultiCheckboxField(validate_choice=False)


@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users():
    db = get_session()
    form = UserCreateForm()
    error = None
    if form.validate_on_submit():
        try:
            user = create_user(
                db, form.username.data, form.password.data, form.role.data, form.full_name.data
            )
            audit(db, "user_created", {"username": user.username, "role": user.role})
            db.commit()
        except UserError as exc:
            db.rollback()
            error = str(exc)
        else:
            flash(f"Đã tạo tài khoản {user.username} ({ROLE_LABELS[user.role]}).", "success")
            return redirect(url_for(".users"))
    accounts = db.scalars(select(User).order_by(User.active.desc(), User.username)).all()
    sessions = dict(
        db.execute(
            select(StaffSession.user_id, func.count())
            .where(StaffSession.expires_at > datetime.now(UTC))
            .group_by(StaffSession.user_id)
        ).all()
    )
    assigned = {
        user_id: (campaigns, units)
        for user_id, campaigns, units in db.execute(
            select(
                Assignment.user_id, func.count(func.distinct(Assignment.campaign_id)), func.count()
            ).group_by(Assignment.user_id)
        ).all()
    }
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "admin/users.html",
            form=form,
            accounts=accounts,
            error=error,
            confirm_form=ConfirmForm(),
            roles=ROLES,
            sessions=sessions,
            assigned=assigned,
        ),
        status,
    )


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@role_required("admin")
def user_active(user_id: int):
    db = get_session()
    user = account_or_404(user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        me = current_user()
        make_active = request.form.get("active") == "1"
        if not make_active and me is not None and user.id == me.id:
            flash("Không thể tự khóa tài khoản đang đăng nhập.", "error")
            return redirect(url_for(".users"))
        set_active(db, user, make_active)
        audit(db, "user_activated" if make_active else "user_deactivated", {"username": user.username})
        db.commit()
        flash(f"Đã {'mở lại' if make_active else 'khóa'} tài khoản {user.username}.", "success")
    return redirect(url_for(".users"))


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@role_required("admin")
def user_password(user_id: int):
    db = get_session()
    user = account_or_404(user_id)
    form = PasswordResetForm()
    error = None
    if form.validate_on_submit():
        try:
            set_password(db, user, form.password.data)
            audit(db, "password_reset", {"username": user.username})
            db.commit()
        except UserError as exc:
            db.rollback()
            error = str(exc)
        else:
            flash(f"Đã đặt mật khẩu mới cho {user.username}.", "success")
            return redirect(url_for(".users"))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/user_password.html", form=form, account=user, error=error), status


@bp.route("/users/<int:user_id>/sessions/end", methods=["POST"])
@role_required("admin")
def user_sessions_end(user_id: int):
    """End every session of an account ("Đăng xuất khỏi mọi thiết bị"), on every host."""
    db = get_session()
    user = account_or_404(user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        ended = end_user_sessions(db, user.id)
        audit(db, "sessions_ended", {"username": user.username, "sessions": ended})
        db.commit()
        flash(f"Đã đăng xuất {user.username} khỏi mọi thiết bị ({ended} phiên).", "success")
    return redirect(url_for(".users"))


@bp.route("/users/<int:user_id>/assignments", methods=["GET", "POST"])
@role_required("admin")
def user_assignments(user_id: int):
    """Assign an enumerator to the units of each campaign they key ("Phân công"); audited."""
    db = get_session()
    account = account_or_404(user_id)
    form = AssignmentForm()
    error = None
    if request.method == "POST":
        campaign = db.get(Campaign, form.campaign_id.data) if form.validate_on_submit() else None
        if campaign is None:
            error = "Chưa lưu phân công: không có đợt khảo sát này (hoặc trang đã cũ, xin tải lại)."
        else:
            try:
                change = assign(db, account, campaign, form.units.data or [], by=current_user())
                audit(db, "user_assigned", change.to_audit())
                db.commit()
            except AssignmentError as exc:
                db.rollback()
                error = f"Chưa lưu phân công: {exc}"
            else:
                units = len(change.after)
                flash(
                    f"Đã lưu phân công của {account.username} cho “{campaign.name}”: "
                    + (f"{units} đơn vị." if units else "không còn đơn vị nào."),
                    "success",
                )
                return redirect(url_for(".user_assignments", user_id=account.id))
    campaigns = db.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())).all()
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "admin/user_assignments.html",
            account=account,
            campaigns=campaigns,
            current=assignments_of(db, account),
            error=error,
            status_labels=STATUS_LABELS,
        ),
        status,
    )
