"""Logging in and out of the staff pages."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from ..db import get_session
from ..users import audit, authenticate, current_user, login_user, logout_user
from . import bp
from .forms import LoginForm


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host) may be a redirect target after login."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target:
        return target
    return url_for(".dashboard")


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
