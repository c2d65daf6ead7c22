"""Staff pages (/admin): login, campaigns with live progress, kiosk links and QR codes, paper-form entry,
downloads, and user management. Every route checks the role; every form carries a CSRF token."""

from __future__ import annotations

import io
import logging
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

import segno
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from questionnaires import (
    QuestionnaireError,
    list_questionnaires,
    list_unit_lists,
    load_questionnaire,
    load_units,
)

from .campaigns import (
    campaign_questionnaire,
    create_campaign,
    create_kiosk,
    kiosk_url,
    progress,
    revoke_kiosk,
)
from .client import client_definition
from .db import get_session
from .errors import CampaignError, DuplicateConflict, UserError, ValidationFailed
from .forms import (
    CampaignForm,
    ConfirmForm,
    IntegerInput,
    KioskForm,
    LoginForm,
    PasswordResetForm,
    UserCreateForm,
    paper_entry_form,
    select_choices,
)
from .models import ROLES, Campaign, FrameCell, Kiosk, User
from .storage import save_response
from .users import (
    audit,
    authenticate,
    create_user,
    current_user,
    login_user,
    logout_user,
    role_required,
    set_password,
)
from .web import VIETNAM_TZ

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {"admin": "Quản trị", "analyst": "Chuyên viên phân tích", "enumerator": "Điều tra viên"}
STATUS_LABELS = {"active": "Đang thu phiếu", "closed": "Đã kết thúc"}
# What a paper-entry field shows for an error code, when the item's own wording is better kept short.
ENTRY_MESSAGES = {"required": "Câu bắt buộc: chưa được nhập."}
PROGRESS_POLL_SECONDS = 15


# --------------------------------------------------------------------------------------- helpers


def _campaign_or_404(campaign_id: int) -> Campaign:
    campaign = get_session().get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host) may be a redirect target after login."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target:
        return target
    return url_for(".dashboard")


def _base_url() -> str:
    return current_app.config.get("PUBLIC_URL") or request.url_root


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


def _report_builder():
    """The scoring engine and the report workbook with their user-error types, when installed."""
    try:
        from analysis import ScoringError, score
        from reports.errors import ReportError
        from reports.workbook import build_report
    except ImportError:
        return None
    return score, build_report, (ScoringError, ReportError)


def _qr_svg(url: str) -> Markup:
    """The kiosk address as an inline SVG QR code (segno writes attributes only, never style=)."""
    qr = segno.make(url, error="m")
    # Our own generated markup (the address is encoded in the path data, not written as text).
    return Markup(qr.svg_inline(omitsize=True, border=4, light="#fff", svgclass="qr", title="Mã QR"))


def _vn_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=VIETNAM_TZ).astimezone(UTC)


# ------------------------------------------------------------------------------------ login/logout


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


# ------------------------------------------------------------------------------------- campaigns


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
    c = _campaign_or_404(campaign_id)
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
        report_available=_report_builder() is not None,
        poll_seconds=current_app.config.get("PROGRESS_POLL_SECONDS", PROGRESS_POLL_SECONDS),
    )


# ---------------------------------------------------------------------------------------- kiosks


@bp.route("/campaigns/<int:campaign_id>/kiosks", methods=["POST"])
@role_required("analyst")
def kiosk_create(campaign_id: int):
    db = get_session()
    c = _campaign_or_404(campaign_id)
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
    c = _campaign_or_404(campaign_id)
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


# ------------------------------------------------------------------------------------ paper entry


@bp.route("/campaigns/<int:campaign_id>/entry", methods=["GET", "POST"])
@role_required("enumerator", "analyst")
def entry(campaign_id: int):
    db = get_session()
    c = _campaign_or_404(campaign_id)
    q = campaign_questionnaire(c)
    form = paper_entry_form(q)()
    form.entry_unit.choices = select_choices(
        [("", "— Chọn xã, thị trấn —")] + [(u.unit_code, u.unit_name) for u in c.units]
    )
    if request.method == "GET":
        form.entry_instance_id.data = str(uuid.uuid4())
        if request.args.get("unit") in {u.unit_code for u in c.units}:
            form.entry_unit.data = request.args["unit"]
    leftover: list[str] = []
    if form.validate_on_submit():
        submitted_at = None
        if form.entry_date.data:
            try:
                day = date.fromisoformat(form.entry_date.data)
            except ValueError:
                form.entry_date.errors = ["Ngày không hợp lệ."]
            else:
                if day > datetime.now(VIETNAM_TZ).date():
                    form.entry_date.errors = ["Ngày trên phiếu không thể ở tương lai."]
                else:
                    submitted_at = _vn_midnight(day)
        if not form.entry_date.errors:
            try:
                response, created = save_response(
                    db,
                    campaign=c,
                    unit_code=form.entry_unit.data,
                    instance_id=form.entry_instance_id.data or "",
                    answers=form.answers(),
                    questionnaire_id=c.questionnaire_id,
                    version=c.questionnaire_version,
                    started_at=None,
                    submitted_at=submitted_at,
                    source="paper",
                    entered_by=current_user(),
                )
            except ValidationFailed as exc:
                db.rollback()
                for err in exc.errors:
                    if err.item == "unit":
                        form.entry_unit.errors = [*form.entry_unit.errors, err.message]
                    elif err.item == "submitted_at":
                        form.entry_date.errors = [*form.entry_date.errors, err.message]
                leftover = form.apply_errors(
                    [e for e in exc.errors if e.item not in ("unit", "submitted_at")], ENTRY_MESSAGES
                )
            except DuplicateConflict:
                db.rollback()
                leftover = [
                    "Phiếu này đã được lưu trước đó với nội dung khác, nên lần gửi này không được lưu. "
                    "Mở một phiếu trống mới để nhập tiếp."
                ]
            else:
                unit_name = next((u.unit_name for u in c.units if u.unit_code == response.unit_code), "")
                if created:
                    flash(f"Đã lưu phiếu cho {unit_name}. Có thể nhập phiếu tiếp theo.", "success")
                else:
                    flash("Phiếu này đã được lưu trước đó; không lưu thêm lần nữa.", "warning")
                return redirect(url_for(".entry", campaign_id=c.id, unit=response.unit_code))
    status = 200
    if request.method == "POST":
        status = 422
        flash("Phiếu chưa được lưu. Xin sửa các mục được đánh dấu bên dưới.", "error")
    return (
        render_template(
            "admin/entry.html",
            campaign=c,
            questionnaire=q,
            form=form,
            leftover=leftover,
            groups=_entry_groups(q),
            client_definition=client_definition(q),
        ),
        status,
    )


def _entry_groups(q) -> list[tuple[Any, list[tuple[str, list]]]]:
    """Sections with their questions in runs: consecutive Likert rows sharing a choice list form a grid."""
    out = []
    for section in q.sections:
        runs: list[tuple[str, list]] = []
        for question in section.questions:
            if question.type.is_metadata:
                continue
            likert = question.appearance == "likert" and question.choices
            if likert and runs and runs[-1][0] == "likert" and runs[-1][1][-1].choices == question.choices:
                runs[-1][1].append(question)
            else:
                runs.append(("likert" if likert else "single", [question]))
        out.append((section, runs))
    return out


# -------------------------------------------------------------------------------------- downloads


def _export(campaign: Campaign, fmt: str):
    from .exports import ExportError, export_response

    try:
        return export_response(get_session(), campaign, fmt, user=current_user())
    except ExportError as exc:
        get_session().rollback()
        flash(f"Chưa xuất được dữ liệu: {exc}", "error")
        return redirect(url_for(".campaign", campaign_id=campaign.id))


@bp.route("/campaigns/<int:campaign_id>/responses.csv")
@role_required("analyst")
def export_csv(campaign_id: int):
    return _export(_campaign_or_404(campaign_id), "csv")


@bp.route("/campaigns/<int:campaign_id>/responses.xlsx")
@role_required("analyst")
def export_xlsx(campaign_id: int):
    return _export(_campaign_or_404(campaign_id), "xlsx")


# ----------------------------------------------------------------------------- the district report
# Filled in when the installation has the scoring engine (analysis.score) and the report workbook
# (reports.workbook.build_report): the campaign's responses -> index table -> ranked Excel report.


@bp.route("/campaigns/<int:campaign_id>/report.xlsx")
@role_required("analyst")
def report(campaign_id: int):
    c = _campaign_or_404(campaign_id)
    builder = _report_builder()
    if builder is None:
        return render_template(
            "errors/error.html",
            status=404,
            title="Chưa có báo cáo",
            text="Phiên bản này chưa có chức năng lập báo cáo huyện. "
            "Xin tải dữ liệu CSV/Excel để tính chỉ số.",
        ), 404
    score, build_report, user_errors = builder
    from .storage import responses_frame

    db = get_session()
    q = campaign_questionnaire(c)
    responses = responses_frame(c.id)
    unit_names = {u.unit_code: u.unit_name for u in c.units}
    targets = {u.unit_code: u.target for u in c.units if u.target is not None}
    period = " – ".join(p for p in (c.period_start, c.period_end) if p) or None
    buffer = io.BytesIO()
    try:
        table = score(
            q,
            responses,
            frame=_sampling_frame(c),
            targets=targets or None,
            unit_names=unit_names,
            units=[u.unit_code for u in c.units],
            margin_of_error=c.margin_of_error,
        )
        build_report(
            table, q, buffer, unit_names=unit_names, responses=responses, title=c.name, period=period
        )
    except user_errors as exc:
        flash(f"Chưa lập được báo cáo: {exc}", "error")
        return redirect(url_for(".campaign", campaign_id=c.id))
    audit(db, "report", {"campaign_id": c.id, "rows": len(responses)})
    db.commit()
    buffer.seek(0)
    stamp = datetime.now(VIETNAM_TZ).strftime("%Y%m%d-%H%M")
    response = send_file(
        buffer,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"bao-cao_{c.questionnaire_id}_dot-{c.id}_{stamp}.xlsx",
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _sampling_frame(campaign: Campaign):
    """The sampling frame for weighting: the frame cells, else N per unit when every unit has one."""
    import pandas as pd

    cells = get_session().scalars(select(FrameCell).where(FrameCell.campaign_id == campaign.id)).all()
    if cells:
        return pd.DataFrame(
            {
                "unit": [c.unit_code for c in cells],
                "stratum": [c.stratum or None for c in cells],
                "population": [c.population for c in cells],
            }
        )
    if campaign.units and all(u.population is not None for u in campaign.units):
        return pd.DataFrame(
            {
                "unit": [u.unit_code for u in campaign.units],
                "population": [u.population for u in campaign.units],
            }
        )
    return None


# ------------------------------------------------------------------------------------------ users


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
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "admin/users.html",
            form=form,
            accounts=accounts,
            error=error,
            confirm_form=ConfirmForm(),
            roles=ROLES,
        ),
        status,
    )


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@role_required("admin")
def user_active(user_id: int):
    db = get_session()
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        me = current_user()
        make_active = request.form.get("active") == "1"
        if not make_active and me is not None and user.id == me.id:
            flash("Không thể tự khóa tài khoản đang đăng nhập.", "error")
            return redirect(url_for(".users"))
        user.active = make_active
        if make_active:
            user.failed_logins = 0
            user.locked_until = None
        audit(db, "user_activated" if make_active else "user_deactivated", {"username": user.username})
        db.commit()
        flash(f"Đã {'mở lại' if make_active else 'khóa'} tài khoản {user.username}.", "success")
    return redirect(url_for(".users"))


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@role_required("admin")
def user_password(user_id: int):
    db = get_session()
    user = db.get(User, user_id)
    if user is None:
        abort(404)
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


# -------------------------------------------------------------------------------------------- app


@bp.after_request
def _no_store(response):
    # Staff pages show personal and survey data: never kept in shared browser caches.
    response.headers["Cache-Control"] = "no-store"
    return response


def _template_context() -> dict[str, Any]:
    staff = None
    if "user_id" in session:
        try:
            staff = current_user()
        except SQLAlchemyError:  # an error page while the database is down still renders
            staff = None
    return {"current_staff": staff, "role_labels": ROLE_LABELS, "now_local": lambda: datetime.now(VIETNAM_TZ)}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(_template_context)
