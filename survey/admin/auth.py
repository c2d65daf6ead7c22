"""Logging in and out of the staff pages."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from ..db import get_session
from ..security import safe_redirect_target
from ..users import audit, authenticate, current_user, login_user, logout_everywhere, logout_user
from . import bp
from .forms import LoginForm


def _safe_next(target: str | None) -> str:
    """The page to go to after login: ``next`` when it is a path on this site, else the dashboard."""
    return safe_redirect_target(target) or url_for(".dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user() is not None:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = authenticate(get_session(), form.username.data, form.password.data)
        if user is not None:
            login_user(user)
            flash(f"Xin chào {user.full_name or user.username}.", "success")
            return redirect(_safe_next(request.args.get("next")))
        error = (
            "Tên đăng nhập hoặc mật khẩu không đúng, hoặc tài khoản đang tạm khóa vì nhập sai nhiều lần. "
            "Xin thử lại, hoặc liên hệ quản trị viên."
        )
    status = 401 if error else 200
    return render_template("admin/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout():
    user = current_user()
    if user is not None:
        audit(get_session(), "logout", {"username": user.username}, user=user)
        get_session().commit()
    logout_user()
    flash("Bạn đã đăng xuất.", "info")
    return redirect(url_for(".login"))


@bp.route("/logout/everywhere", methods=["POST"])
def logout_all():
    """End every session of the logged-in user, on every device and host."""
    user = current_user()
    if user is not None:
        db = get_session()
        ended = logout_everywhere(db, user)
        audit(db, "logout_everywhere", {"username": user.username, "sessions": ended}, user=user)
        db.commit()
    logout_user()
    flash("Bạn đã đăng xuất khỏi mọi thiết bị.", "info")
    return redirect(url_for(".login"))
