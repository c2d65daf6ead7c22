"""The survey app's ``sipas`` subcommands: db, user, campaign, kiosk, export, serve and demo.

Every command works on the database of ``--database-url`` (or ``SIPAS_DATABASE_URL``), otherwise on
the SQLite file in the instance folder. User errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import csv
import getpass
import io
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, url_for
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from .errors import SurveyError
from .users import MIN_PASSWORD_LENGTH

# The form-level rules of analysis.integrity, spelt out: importing it here loads pandas for every command.
FORM_RULE_CODES = (
    "speeding",
    "straight_lining",
    "burst_kiosk",
    "burst_enumerator",
    "off_hours",
    "near_duplicate",
    "late_keying",
)
MAX_UNIT_FILE_BYTES = 5_000_000  # a --populations/--targets CSV: a few thousand units are ~100 KB
DATABASE_OPTION_HELP = (
    "Database URL (default: $SIPAS_DATABASE_URL, else the SQLite file in the instance folder)."
)


def database_option(func_: Callable) -> Callable:
    return click.option("--database-url", envvar="SIPAS_DATABASE_URL", help=DATABASE_OPTION_HELP)(func_)


def _make_app(database_url: str | None, *, serving: bool = False, **config: Any) -> Flask:
    """The app for a command; only ``serving`` apps (serve, demo) need a secret key of their own."""
    from .app import create_app

    overrides = dict(config)
    if database_url:
        overrides["DATABASE_URL"] = database_url
    try:
        return create_app(overrides or None, serving=serving)
    except SurveyError as exc:  # e.g. no secret key in production
        raise click.ClickException(str(exc)) from None
    except ArgumentError as exc:  # a malformed URL, or an unknown driver
        raise click.ClickException(f"địa chỉ cơ sở dữ liệu không hợp lệ: {exc}") from None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"không mở được cơ sở dữ liệu: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # a malformed URL is shown as given: nothing parsed, nothing hidden
        return url


def schema_revisions(app: Flask) -> tuple[str | None, str]:
    """The database's Alembic revision (None: not initialised) and the code's head revision."""
    from .db import alembic_config, engine

    script = ScriptDirectory.from_config(alembic_config(app.config["DATABASE_URL"]))
    with engine(app).connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, script.get_current_head()


@contextmanager
def app_session(database_url: str | None, **config: Any) -> Iterator[tuple[Flask, Session]]:
    """An app on an up-to-date database and a session that commits at the end; errors are one line."""
    from .db import session_scope

    app = _make_app(database_url, **config)
    try:
        try:
            current, head = schema_revisions(app)
        except SQLAlchemyError as exc:
            raise click.ClickException(
                f"không kết nối được cơ sở dữ liệu {safe_url(app.config['DATABASE_URL'])}: {_first_line(exc)}"
            ) from None
        if current != head:
            state = "chưa được khởi tạo" if current is None else f"ở phiên bản {current}, cần {head}"
            raise click.ClickException(
                f"cơ sở dữ liệu {safe_url(app.config['DATABASE_URL'])} {state}: "
                "chạy `sipas db upgrade` trước (run `sipas db upgrade` first)"
            )
        with app.app_context():
            try:
                with session_scope(app) as session:
                    yield app, session
            except SurveyError as exc:
                raise click.ClickException(str(exc)) from None
            except SQLAlchemyError as exc:
                raise click.ClickException(f"lỗi cơ sở dữ liệu: {_first_line(exc)}") from None
    finally:
        app.extensions["sipas.engine"].dispose()


def cli_audit(session: Session, action: str, detail: dict[str, Any]) -> None:
    """Record a setting changed from the command line in the audit log (who: the system account)."""
    from .users import audit

    try:
        os_user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers; the event matters more
        os_user = None
    audit(session, action, {**detail, "via": "cli", "os_user": os_user})


def _base_url(app: Flask, base_url: str | None, host: str = "127.0.0.1", port: int = 5000) -> str:
    return (base_url or app.config.get("PUBLIC_URL") or f"http://{host}:{port}").rstrip("/")


# -------------------------------------------------------------------------------------------- db
@click.group()
def db() -> None:
    """Cơ sở dữ liệu: tạo và nâng cấp lược đồ (database schema)."""


@db.command("upgrade")
@database_option
def db_upgrade(database_url: str | None) -> None:
    """Bring the database schema up to the latest version (Alembic)."""
    from .db import upgrade

    app = _make_app(database_url)
    url = app.config["DATABASE_URL"]
    app.extensions["sipas.engine"].dispose()
    try:
        upgrade(url)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"không nâng cấp được {safe_url(url)}: {_first_line(exc)}") from None
    current, head = schema_revisions(app)
    app.extensions["sipas.engine"].dispose()
    click.echo(f"Cơ sở dữ liệu đã ở phiên bản mới nhất ({current}) / database is at head: {safe_url(url)}")


@db.command("status")
@database_option
def db_status(database_url: str | None) -> None:
    """Show the database's schema version and whether it needs `sipas db upgrade`."""
    app = _make_app(database_url)
    try:
        current, head = schema_revisions(app)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"không kết nối được cơ sở dữ liệu: {_first_line(exc)}") from None
    finally:
        app.extensions["sipas.engine"].dispose()
    state = "mới nhất (up to date)" if current == head else "cần `sipas db upgrade` (needs upgrade)"
    click.echo(
        f"{safe_url(app.config['DATABASE_URL'])}: phiên bản {current or '—'}, bản mới nhất {head}: {state}"
    )


# ------------------------------------------------------------------------------------------ users
@click.group()
def user() -> None:
    """Tài khoản cán bộ (staff accounts): admin, analyst, enumerator."""


@user.command("create")
@click.option("--username", required=True, help="Tên đăng nhập (a-z, 0-9, . _ -).")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "analyst", "enumerator", "viewer"]),
    help="Vai trò (viewer: lãnh đạo, chỉ xem bảng kết quả).",
)
@click.option(
    "--password",
    help=f"Mật khẩu (≥ {MIN_PASSWORD_LENGTH} ký tự). Bỏ trống: nhập khi được hỏi, hoặc tạo ngẫu nhiên.",
)
@click.option("--full-name", help="Họ và tên.")
@database_option
def user_create(
    username: str, role: str, password: str | None, full_name: str | None, database_url: str | None
):
    """Create a staff account."""
    from .users import create_user, generate_password

    generated = False
    if password is None:
        if sys.stdin.isatty():
            password = click.prompt(
                f"Mật khẩu (≥ {MIN_PASSWORD_LENGTH} ký tự)", hide_input=True, confirmation_prompt=True
            )
        else:
            password, generated = generate_password(), True
    with app_session(database_url) as (_, session):
        account = create_user(session, username, password, role, full_name=full_name)
        cli_audit(session, "user_created", {"username": account.username, "role": account.role})
        username = account.username
    click.echo(f"Đã tạo tài khoản / created: {username} ({role})")
    if generated:
        click.echo(f"Mật khẩu / password: {password}")


@user.command("list")
@database_option
def user_list(database_url: str | None) -> None:
    """List staff accounts."""
    from .models import User

    with app_session(database_url) as (_, session):
        users = session.scalars(select(User).order_by(User.username)).all()
        for account in users:
            state = "" if account.active else " (đã khóa / inactive)"
            click.echo(f"{account.username}\t{account.role}\t{account.full_name or ''}{state}")
        if not users:
            click.echo("Chưa có tài khoản nào (no accounts yet): sipas user create --username … --role admin")


@user.command("assign")
@click.option("--username", required=True, help="Tên đăng nhập của điều tra viên.")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Mã số đợt khảo sát.")
@click.option(
    "--unit",
    "units",
    multiple=True,
    help="Mã xã, thị trấn (lặp lại cho nhiều đơn vị). Bỏ trống: mọi đơn vị của đợt khảo sát.",
)
@click.option("--none", "remove", is_flag=True, help="Thôi phân công đợt khảo sát này.")
@database_option
def user_assign(
    username: str, campaign_id: int, units: tuple[str, ...], remove: bool, database_url: str | None
) -> None:
    """Assign an enumerator to the units of a campaign (replacing their units there); audited."""
    from .assignments import assign
    from .models import Campaign, User

    if remove and units:
        raise click.UsageError("--none và --unit không dùng cùng nhau (--none and --unit exclude each other)")
    with app_session(database_url) as (_, session):
        account = session.scalars(select(User).where(func.lower(User.username) == username.strip().lower()))
        account = account.one_or_none()
        if account is None:
            raise click.ClickException(f"không có tài khoản {username!r} (no such account)")
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise click.ClickException(f"không có đợt khảo sát {campaign_id} (no such campaign)")
        wanted: list[str] | None = [] if remove else (list(units) if units else None)
        change = assign(session, account, campaign, wanted)
        cli_audit(session, "user_assigned", change.to_audit())
        name = account.username
    shown = ", ".join(change.after) if change.after else "không còn đơn vị nào (none)"
    click.echo(f"Đã phân công / assigned: {name}, đợt {campaign_id}: {shown}")


# -------------------------------------------------------------------------------------- campaigns
def read_unit_numbers(
    path: Path, what: str, units: set[str] | frozenset[str] = frozenset()
) -> dict[str, int]:
    """Read ``unit,number`` rows from a CSV file; errors name file, row and column.

    The first row is a header when its number is not a number and its first cell is not one of
    ``units`` (so ``tra-xuan,nhiều`` on line 1 is an error, not a header). Numbers follow
    :mod:`questionnaires.numbers` (``1.234``, ``1 234``; ASCII digits only) and lie between 0 and
    :data:`survey.campaigns.MAX_UNIT_NUMBER`; the file is at most :data:`MAX_UNIT_FILE_BYTES`.
    """
    from questionnaires.numbers import NumberFormatError, format_count, parse_count

    from .campaigns import MAX_UNIT_NUMBER

    try:
        size = path.stat().st_size
        if size > MAX_UNIT_FILE_BYTES:
            raise click.ClickException(
                f"{path}: tệp lớn {format_count(size)} byte, quá giới hạn {format_count(MAX_UNIT_FILE_BYTES)}"
                f" byte (file larger than the limit of {MAX_UNIT_FILE_BYTES} bytes)"
            )
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: không đọc được tệp ({exc})") from None
    sample = text[:2048]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    numbers: dict[str, int] = {}
    column = "cột 2"
    for lineno, row in enumerate(csv.reader(text.splitlines(), dialect), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) < 2:
            raise click.ClickException(f"{path}, dòng {lineno}: cần hai cột: mã đơn vị, {what}")
        unit = cells[0]
        try:
            value = parse_count(cells[1], MAX_UNIT_NUMBER)
        except NumberFormatError as exc:
            if lineno == 1 and unit not in units and not _looks_like_number(cells[1]):
                column = f"cột 2 ({cells[1]})" if cells[1] else column
                continue  # the header row
            raise click.ClickException(
                f"{path}, dòng {lineno}, {column}: {what} của đơn vị {unit!r} phải là số nguyên "
                f"từ 0 đến {format_count(MAX_UNIT_NUMBER)}: {exc}"
            ) from None
        if unit in numbers:
            raise click.ClickException(f"{path}, dòng {lineno}: đơn vị {unit!r} xuất hiện hai lần")
        numbers[unit] = value
    if not numbers:
        raise click.ClickException(f"{path}: tệp không có dòng dữ liệu nào")
    return numbers


def _looks_like_number(text: str) -> bool:
    """Whether a cell holds digits of any script (so a first row with one is data, not a header)."""
    return any(c.isdigit() for c in text)


@click.group()
def campaign() -> None:
    """Đợt khảo sát (campaigns): tạo, liệt kê, tiến độ, mở, đóng, mở lại."""


@campaign.command("create")
@click.option(
    "--questionnaire", required=True, help="Mã phiếu (sipas-2017, sipas-2023, …) hoặc đường dẫn tệp."
)
@click.option(
    "--units", "unit_list", required=True, help="Danh sách đơn vị (tra-bong-2023) hoặc đường dẫn tệp."
)
@click.option("--name", required=True, help="Tên đợt khảo sát.")
@click.option("--period-start", help="Ngày bắt đầu YYYY-MM-DD.")
@click.option("--period-end", help="Ngày kết thúc YYYY-MM-DD.")
@click.option(
    "--populations",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV: mã đơn vị, số người được phục vụ N (chỉ tiêu tính theo n = N/(1+N·e²)).",
)
@click.option(
    "--targets", type=click.Path(dir_okay=False, path_type=Path), help="CSV: mã đơn vị, chỉ tiêu số phiếu."
)
@click.option(
    "--margin", default=0.05, show_default=True, type=float, help="Sai số e trong công thức Slovin."
)
@click.option(
    "--draft", is_flag=True, help="Tạo dạng bản nháp: chưa thu phiếu cho đến `sipas campaign open`."
)
@click.option(
    "--double-entry",
    is_flag=True,
    help="Nhập phiếu giấy hai lần: mỗi số phiếu do hai người nhập, chỉ tính khi hai lần khớp.",
)
@database_option
def campaign_create(
    questionnaire: str,
    unit_list: str,
    name: str,
    period_start: str | None,
    period_end: str | None,
    populations: Path | None,
    targets: Path | None,
    margin: float,
    draft: bool,
    double_entry: bool,
    database_url: str | None,
) -> None:
    """Create a campaign: a questionnaire (frozen now), a period, units with targets; open unless --draft."""
    from questionnaires import QuestionnaireError, load_units

    from .campaigns import create_campaign

    try:
        known = frozenset(load_units(unit_list).codes)
    except QuestionnaireError as exc:
        raise click.ClickException(f"không đọc được danh sách đơn vị: {exc}") from None
    population_numbers = (
        read_unit_numbers(populations, "số người được phục vụ N", known) if populations else None
    )
    target_numbers = read_unit_numbers(targets, "chỉ tiêu", known) if targets else None
    with app_session(database_url) as (_, session):
        created = create_campaign(
            session,
            name=name,
            questionnaire=questionnaire,
            unit_list=unit_list,
            period_start=period_start,
            period_end=period_end,
            populations=population_numbers,
            targets=target_numbers,
            margin_of_error=margin,
            draft=draft,
            double_entry=double_entry,
        )
        cli_audit(
            session,
            "campaign_created",
            {
                "campaign_id": created.id,
                "name": created.name,
                "status": created.status,
                "double_entry": created.double_entry,
            },
        )
        total = sum(u.target or 0 for u in created.units)
        summary = (
            f"Đã tạo đợt khảo sát #{created.id} / created campaign {created.id}: {created.name} "
            f"({created.questionnaire_id} {created.questionnaire_version}), {len(created.units)} đơn vị"
            + (f", tổng chỉ tiêu {total} phiếu" if total else "")
            + (" — bản nháp, chưa thu phiếu (draft)" if draft else "")
            + (" — nhập phiếu giấy hai lần (double entry)" if double_entry else "")
        )
    click.echo(summary)


@campaign.command("list")
@database_option
def campaign_list(database_url: str | None) -> None:
    """List campaigns with their number of responses."""
    from .models import Campaign, Response

    with app_session(database_url) as (_, session):
        counts = dict(
            session.execute(
                select(Response.campaign_id, func.count(Response.id)).group_by(Response.campaign_id)
            ).all()
        )
        campaigns = session.scalars(select(Campaign).order_by(Campaign.id)).all()
        if not campaigns:
            click.echo("Chưa có đợt khảo sát nào (no campaigns yet): sipas campaign create …")
        for c in campaigns:
            period = f"{c.period_start or '?'} → {c.period_end or '?'}"
            click.echo(
                f"{c.id}\t{c.name}\t{c.questionnaire_id} {c.questionnaire_version}\t{period}\t{c.status}\t"
                f"{counts.get(c.id, 0)} phiếu"
            )


@campaign.command("progress")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@database_option
def campaign_progress(campaign_id: int, database_url: str | None) -> None:
    """Show responses per unit against target."""
    from .campaigns import progress

    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        result = progress(session, found)
        for u in result:
            target = u.target if u.target is not None else "—"
            percent = f"{u.percent:.1f}%" if u.percent is not None else ""
            frame = ""
            if u.from_dossiers:  # the case files' N and target, the typed ones beside them
                typed = "—" if u.typed_population is None else u.typed_population
                typed_target = "—" if u.typed_target is None else u.typed_target
                frame = f"\tN={u.population} theo hồ sơ (nhập tay: N={typed}, chỉ tiêu {typed_target})"
            click.echo(f"{u.unit_code}\t{u.unit_name}\t{u.responses}/{target}\t{percent}{frame}")
        totals = result.totals
        click.echo(f"Tổng / total\t{totals['responses']}/{totals['target'] or '—'}")


@campaign.command("open")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@database_option
def campaign_open(campaign_id: int, database_url: str | None) -> None:
    """Open a draft campaign: kiosks, phones and paper entry start taking forms."""
    from .campaigns import open_campaign

    _change_status(database_url, campaign_id, lambda session, found: open_campaign(session, found))


@campaign.command("close")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option("--reason", help="Lý do đóng (không bắt buộc).")
@database_option
def campaign_close(campaign_id: int, reason: str | None, database_url: str | None) -> None:
    """Close an open campaign: new forms are refused; tablet forms filled before now are kept as late."""
    from .campaigns import close_campaign

    _change_status(
        database_url, campaign_id, lambda session, found: close_campaign(session, found, reason=reason)
    )


@campaign.command("reopen")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option("--reason", help="Lý do mở lại (bắt buộc).")
@database_option
def campaign_reopen(campaign_id: int, reason: str | None, database_url: str | None) -> None:
    """Open a closed campaign again; --reason is required and recorded."""
    from .campaigns import reopen_campaign

    _change_status(
        database_url, campaign_id, lambda session, found: reopen_campaign(session, found, None, reason)
    )


@campaign.command("integrity")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option("--rule", type=click.Choice(FORM_RULE_CODES), help="Chỉ in cờ của một phép kiểm tra.")
@database_option
def campaign_integrity(campaign_id: int, rule: str | None, database_url: str | None) -> None:
    """Print the integrity flags of a campaign's forms: response id, unit, rule and evidence."""
    from .integrity import campaign_flags

    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        result = campaign_flags(session, found)
        lines = [f"Kiểm tra chất lượng — đợt #{found.id} ({found.name})"]
        lines += ["\t".join(("Mã phiếu", "Đơn vị", "Cờ", "Bằng chứng"))]
        shown = [line for line in result.lines if rule is None or line.rule == rule]
        lines += [f"{f.response_id}\t{f.unit}\t{f.rule}\t{f.evidence}" for f in shown]
        report = result.report
        for unit, row_rule, evidence in report.unit_flags.itertuples(index=False, name=None):
            lines.append(f"—\t{unit}\t{row_rule}\t{evidence}")
        flagged = len({f.response_id for f in shown})
        lines.append(
            f"{flagged} phiếu có cờ trên {int(report.counts['forms'].sum())} phiếu được tính "
            f"({flagged} flagged forms). Cờ không tự loại phiếu: người xem xét quyết định bằng "
            "`sipas responses review|exclude` (flags never exclude a form by themselves)."
        )
        lines += [f"Không chạy {s.rule}: {s.reason}" for s in report.skipped]
        lines += [f"Ghi chú: {note}" for note in report.notes]
    click.echo("\n".join(lines))


@campaign.command("settings")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option(
    "--integrity",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Đổi một cài đặt kiểm tra chất lượng (lặp lại được); VALUE 'default' trả về mặc định. "
    "Không có: in các cài đặt hiện tại.",
)
@click.option(
    "--idle-seconds",
    "idle_seconds",
    default=None,
    metavar="N|default",
    help="Máy tính bảng: xoá phiếu không ai chạm vào sau N giây (30–600); 'default': mặc định của máy chủ.",
)
@click.option(
    "--one-question/--sections",
    "one_question",
    default=None,
    help="Máy tính bảng: mỗi màn hình một câu hỏi, hoặc mỗi trang một phần (mặc định).",
)
@click.option(
    "--faces/--no-faces",
    "likert_faces",
    default=None,
    help="Máy tính bảng: thang đo hài lòng (Likert được tính điểm) bằng hình mặt người.",
)
@database_option
def campaign_settings(
    campaign_id: int,
    assignments: tuple[str, ...],
    one_question: bool | None,
    likert_faces: bool | None,
    idle_seconds: str | None,
    database_url: str | None,
) -> None:
    """Show or change a campaign's integrity-check settings and kiosk display (every change is audited)."""
    from .integrity import DEFAULTS, SETTINGS, SettingError, change_settings, format_value, parse_assignments
    from .integrity import settings_for as integrity_settings
    from .kiosk_display import AUDIT_ACTION, display_for, set_display

    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        lines: list[str] = []
        if one_question is not None or likert_faces is not None or idle_seconds is not None:
            current_display = display_for(found)
            idle: Any = ...
            if idle_seconds is not None:
                text = idle_seconds.strip().lower()
                if text != "default" and not text.isdigit():
                    raise click.BadParameter("N giây (30–600) hoặc 'default'", param_hint="--idle-seconds")
                idle = None if text == "default" else int(text)
            try:
                shown = set_display(
                    session,
                    found,
                    one_question=current_display.one_question if one_question is None else one_question,
                    likert_faces=current_display.likert_faces if likert_faces is None else likert_faces,
                    idle_seconds=idle,
                    user=None,
                    audited=False,
                )
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
            if shown:
                cli_audit(session, AUDIT_ACTION, {"campaign_id": found.id, "changes": shown})
            lines.append(f"Đã đổi {len(shown)} cách hiển thị (changed {len(shown)} kiosk display settings).")
        if assignments:
            try:
                made = change_settings(found, parse_assignments(assignments))
            except SettingError as exc:
                raise click.ClickException(str(exc)) from None
            if made.changes:
                cli_audit(session, made.action, made.to_audit())
            lines.append(f"Đã đổi {len(made.changes)} cài đặt (changed {len(made.changes)} settings).")
        current = integrity_settings(found)
        for name in SETTINGS:
            value = getattr(current, name)
            mark = (
                ""
                if value == getattr(DEFAULTS, name)
                else "\t(đã đổi; mặc định " + format_value(name, getattr(DEFAULTS, name)) + ")"
            )
            lines.append(f"{name} = {format_value(name, value)}{mark}")
        display = display_for(found)
        lines.append(
            f"kiosk: {'one question per screen' if display.one_question else 'one section per page'}"
        )
        lines.append(f"kiosk: Likert faces {'on' if display.likert_faces else 'off'}")
        idle_text = f"{display.idle_seconds} s" if display.idle_seconds else "server's KIOSK_IDLE_SECONDS"
        lines.append(f"kiosk: idle timeout {idle_text}")
    click.echo("\n".join(lines))


def _change_status(database_url: str | None, campaign_id: int, change: Callable[[Session, Any], Any]) -> None:
    """Apply one lifecycle change and its audit event in one transaction; print the new state."""
    from .campaigns import STATUS_LABELS

    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        made = change(session, found)
        cli_audit(session, made.action, made.to_audit())
        line = f"Đợt khảo sát #{found.id} ({found.name}): {STATUS_LABELS[made.new]} ({made.old} → {made.new})"
    click.echo(line)


def _campaign(session: Session, campaign_id: int):
    from .models import Campaign

    found = session.get(Campaign, campaign_id)
    if found is None:
        raise click.ClickException(
            f"không có đợt khảo sát số {campaign_id} (no campaign {campaign_id}; see `sipas campaign list`)"
        )
    return found


# ----------------------------------------------------------------------------------------- kiosks
@click.group()
def kiosk() -> None:
    """Đường dẫn máy trạm (kiosk links) cho máy tính bảng tại Bộ phận Một cửa."""


@kiosk.command("create")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option("--unit", "unit_codes", multiple=True, help="Mã đơn vị (lặp lại cho nhiều đơn vị).")
@click.option("--all-units", is_flag=True, help="Một đường dẫn cho mỗi đơn vị của đợt khảo sát.")
@click.option("--counter", help="Tên quầy / máy (ví dụ 'Quầy 1').")
@click.option("--base-url", help="Địa chỉ gốc của máy chủ (mặc định: PUBLIC_URL hoặc http://127.0.0.1:5000).")
@database_option
def kiosk_create(
    campaign_id: int,
    unit_codes: tuple[str, ...],
    all_units: bool,
    counter: str | None,
    base_url: str | None,
    database_url: str | None,
) -> None:
    """Create kiosk links and print them (the token is shown only now)."""
    from .campaigns import create_kiosk, kiosk_url

    if not unit_codes and not all_units:
        raise click.ClickException("cần --unit MÃ hoặc --all-units")
    lines = []
    with app_session(database_url) as (app, session):
        found = _campaign(session, campaign_id)
        codes = [u.unit_code for u in found.units] if all_units else list(unit_codes)
        names = {u.unit_code: u.unit_name for u in found.units}
        base = _base_url(app, base_url)
        for code in codes:
            created, token = create_kiosk(session, found, code, counter=counter)
            cli_audit(
                session, "kiosk_created", {"campaign_id": found.id, "kiosk_id": created.id, "unit": code}
            )
            lines.append((created, code, names.get(code, ""), kiosk_url(token, base)))
        session.flush()
        rows = [f"{k.id}\t{code}\t{name}\t{url}" for k, code, name, url in lines]
    for row in rows:
        click.echo(row)


@kiosk.command("list")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@database_option
def kiosk_list(campaign_id: int, database_url: str | None) -> None:
    """List a campaign's kiosk links (token hints only; tokens are never stored)."""
    from .models import Kiosk

    with app_session(database_url) as (_, session):
        _campaign(session, campaign_id)
        for k in session.scalars(select(Kiosk).where(Kiosk.campaign_id == campaign_id).order_by(Kiosk.id)):
            state = "thu hồi / revoked" if k.revoked_at else "hoạt động / active"
            seen = k.last_seen_at.isoformat() if k.last_seen_at else "—"
            click.echo(f"{k.id}\t{k.unit_code}\t{k.counter or ''}\t{k.token_hint}…\t{state}\t{seen}")


@kiosk.command("revoke")
@click.option("--id", "kiosk_id", type=int, help="Số máy trạm (xem `sipas kiosk list`).")
@click.option("--token", help="Hoặc: mã trong đường dẫn /k/<mã>.")
@database_option
def kiosk_revoke(kiosk_id: int | None, token: str | None, database_url: str | None) -> None:
    """Revoke a kiosk link: its tablet can no longer open the form or submit."""
    from .campaigns import hash_token, revoke_kiosk
    from .models import Kiosk

    if (kiosk_id is None) == (token is None):
        raise click.ClickException("cần đúng một trong hai: --id hoặc --token")
    with app_session(database_url) as (_, session):
        if kiosk_id is not None:
            found = session.get(Kiosk, kiosk_id)
        else:
            token = token.rsplit("/k/", 1)[-1].strip()
            found = session.scalars(select(Kiosk).where(Kiosk.token_hash == hash_token(token))).one_or_none()
        if found is None:
            raise click.ClickException("không tìm thấy máy trạm này (no such kiosk)")
        revoke_kiosk(session, found)
        cli_audit(
            session,
            "kiosk_revoked",
            {"campaign_id": found.campaign_id, "kiosk_id": found.id, "unit": found.unit_code},
        )
        message = f"Đã thu hồi máy trạm #{found.id} ({found.unit_code}, {found.token_hint}…) / revoked"
    click.echo(message)


# ----------------------------------------------------------------------------------------- export
@click.command("export")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Tệp .csv hoặc .xlsx."
)
@database_option
def export(campaign_id: int, out: Path, database_url: str | None) -> None:
    """Export a campaign's responses (CSV UTF-8 with BOM, or XLSX with a codebook sheet)."""
    from .exports import export_campaign, format_of

    try:
        fmt = format_of(out)
    except SurveyError as exc:
        raise click.ClickException(str(exc)) from None
    if not out.parent.exists():
        raise click.ClickException(f"{out.parent}: thư mục không tồn tại (folder does not exist)")
    from analysis.progress import Progress

    with Progress("sipas export") as bar, app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        bar.step("đọc phiếu và ghi tệp", 0.1)
        rows = export_campaign(session, found, out, fmt)
    click.echo(f"Đã xuất {rows} phiếu vào {out} / exported {rows} responses")


# ------------------------------------------------------------------------------------------ serve
@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@database_option
def serve(host: str, port: int, database_url: str | None) -> None:
    """Run the development server (for production: gunicorn wsgi:app)."""
    app = _make_app(database_url, serving=True, ENV="development")
    try:
        current, head = schema_revisions(app)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"không kết nối được cơ sở dữ liệu: {_first_line(exc)}") from None
    finally:
        app.extensions["sipas.engine"].dispose()  # the server opens its own connections
    if current != head:
        raise click.ClickException("cơ sở dữ liệu chưa ở phiên bản mới nhất: chạy `sipas db upgrade` trước")
    click.echo(f"Máy chủ thử nghiệm / development server: http://{host}:{port}/  (Ctrl+C để dừng)")
    _run(app, host, port)


def _run(app: Flask, host: str, port: int) -> None:
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)
    except OSError as exc:
        raise click.ClickException(f"không mở được cổng {host}:{port}: {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------------------- demo
ALL_INTERFACES = ("0.0.0.0", "::", "")

LAN_HTTPS_NOTE = """\
Máy tính bảng mở trang qua http://<địa chỉ LAN> (không phải HTTPS) thì:
  - điền và gửi phiếu bình thường khi có mạng, giữ phiếu khi mạng chập chờn nếu trang còn mở;
  - KHÔNG có chế độ ngoại tuyến: trình duyệt chỉ cho service worker chạy trên HTTPS (hoặc trên chính
    máy chủ, 127.0.0.1), nên mất mạng thì không mở lại được trang;
  - bảng điều khiển cán bộ bị khoá: trình duyệt chỉ kiểm tra mã PIN (Web Crypto) trên HTTPS.
Để có HTTPS trên mạng nội bộ: Caddy với "tls internal", hoặc mkcert + nginx, và cài chứng chỉ gốc (CA)
lên máy tính bảng — từng bước trong docs/deployment.md (mục 1, 4 và 5).
Tablets on plain http://<LAN address> work online but have no offline mode and no staff panel (browsers
allow service workers and Web Crypto only on HTTPS); docs/deployment.md shows how to serve HTTPS."""


def _lan_address() -> str:
    """This machine's address on the LAN (the interface of its default route); 127.0.0.1 if none.

    Connecting a UDP socket sends nothing: it only makes the system pick the outgoing interface.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def _qr_text(url: str) -> str:
    """A QR code of ``url`` drawn with block characters, for scanning off the terminal."""
    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True)
    return out.getvalue()


@click.command("demo")
@click.option(
    "--sample-responses",
    default=40,
    show_default=True,
    type=click.IntRange(0, 5000),
    help="Số phiếu mẫu (tổng hợp) cho mỗi xã; hai xã cố ý ít phiếu hơn (tối đa 12, dưới ngưỡng mẫu 30).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="0.0.0.0: mở cho máy tính bảng trong mạng LAN (in đường dẫn theo địa chỉ LAN của máy và mã QR).",
)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--base-url", help="Địa chỉ in trong đường dẫn máy trạm (mặc định http://HOST:PORT).")
@click.option("--no-serve", is_flag=True, help="Chỉ tạo dữ liệu, không chạy máy chủ.")
@click.option(
    "--database-url", help="Mặc định: tệp SQLite trong thư mục instance (không dùng SIPAS_DATABASE_URL)."
)
def demo(
    sample_responses: int,
    host: str,
    port: int,
    base_url: str | None,
    no_serve: bool,
    database_url: str | None,
) -> None:
    """Set up a demonstration (SQLite, demo campaign for Trà Bồng, admin, kiosk links) and start it."""
    from .app import create_app
    from .db import session_scope, upgrade
    from .demo import STAFF_PIN_FILE, demo_staff_pin, set_up_demo

    # Never the production database by accident: only an explicit --database-url replaces the
    # instance SQLite file (SIPAS_DATABASE_URL is ignored here).
    probe = create_app({"ENV": "development"})
    url = database_url or "sqlite:///" + str(Path(probe.instance_path) / "sipas.sqlite")
    probe.extensions["sipas.engine"].dispose()
    app = _make_app(url, serving=True, ENV="development")
    try:
        upgrade(url)
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"không tạo được cơ sở dữ liệu {safe_url(url)}: {_first_line(exc)}"
        ) from None
    lan = host in ALL_INTERFACES
    base = _base_url(app, base_url, _lan_address() if lan else host, port)
    with app.app_context():
        try:
            with session_scope(app) as session:
                setup = set_up_demo(
                    session, instance_path=app.instance_path, base_url=base, sample_responses=sample_responses
                )
        except SurveyError as exc:
            raise click.ClickException(str(exc)) from None
        with app.test_request_context(base_url=base):
            admin_url = url_for("admin.login", _external=True)

    # The staff panel on the tablets is behind a PIN: the one configured (SIPAS_KIOSK_STAFF_PIN), else
    # the demo's own, kept in the instance folder.
    configured = app.config.get("KIOSK_STAFF_PIN")
    pin = configured or demo_staff_pin(app.instance_path)
    app.config["KIOSK_STAFF_PIN"] = pin
    pin_source = "SIPAS_KIOSK_STAFF_PIN" if configured else str(Path(app.instance_path) / STAFF_PIN_FILE)
    first_unit = next(iter(setup.kiosk_urls))
    lines = [
        "",
        "SIPAS toolkit — bản trình diễn (demo; mọi số liệu là giả định / all data are synthetic)",
        f"  Cơ sở dữ liệu / database:   {safe_url(url)}",
        f"  Đợt khảo sát / campaign:    #{setup.campaign_id} "
        f"(sipas-2017, {len(setup.kiosk_urls)} xã, thị trấn)",
        f"  Phiếu mẫu / sample responses: {setup.responses_total} (thêm mới {setup.responses_added})",
        *(
            [
                "  Xã cố ý ít phiếu (mẫu nhỏ, dưới ngưỡng 30; deliberately thin): "
                + ", ".join(f"{setup.unit_names[code]} ({n})" for code, n in setup.thin_units.items())
            ]
            if setup.thin_units
            else []
        ),
        f"  Trang quản trị / admin:     {admin_url}",
        f"  Tài khoản / username:       {setup.admin_username}",
        f"  Mật khẩu / password:        {setup.admin_password}   (mới mỗi lần chạy / new on every run)",
        f"  Máy trạm / kiosk ({setup.unit_names[first_unit]}): {setup.kiosk_urls[first_unit]}",
        f"  Tất cả đường dẫn máy trạm / all kiosk links: {setup.kiosk_file}",
        f"  Mã PIN cán bộ trên máy trạm / kiosk staff PIN: {pin}   ({pin_source})",
        f"  Xuất dữ liệu / export:      sipas export --campaign {setup.campaign_id} --out demo.xlsx",
        "",
    ]
    click.echo("\n".join(lines))
    if lan:
        kiosk = setup.kiosk_urls[first_unit]
        click.echo(
            f"Quét mã bằng máy tính bảng / scan with a tablet — {setup.unit_names[first_unit]}: {kiosk}"
        )
        click.echo(_qr_text(kiosk))
        if not base.startswith("https://"):
            click.echo(LAN_HTTPS_NOTE + "\n")
    if no_serve:
        app.extensions["sipas.engine"].dispose()
        return
    where = f"{base}/ (mọi giao diện mạng / all interfaces)" if lan else f"http://{host}:{port}/"
    click.echo(f"Máy chủ thử nghiệm / development server on {where}  (Ctrl+C để dừng)")
    _run(app, host, port)
