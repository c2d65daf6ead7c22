"""``sipas responses``: list, show, review, exclude, restore and import responses from the command line.

ID is the response id that ``sipas export`` writes (the instance id, a UUID). Every change is audited
as done from the command line (``via: cli`` and the operating-system user), like the other commands.
"""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from .commands import _campaign, app_session, database_option
from .models import REVIEW_STATES
from .web import VIETNAM_TZ

__all__ = ["responses"]


def _via() -> dict[str, Any]:
    try:
        os_user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers; the event matters more
        os_user = None
    return {"via": "cli", "os_user": os_user}


def _local(stamp: datetime | None) -> str:
    return stamp.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M") if stamp is not None else "—"


def _day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"ngày phải có dạng YYYY-MM-DD, không phải {value!r}") from None


@click.group()
def responses() -> None:
    """Phiếu đã thu (stored responses): xem, sửa trạng thái, loại và khôi phục."""


@responses.command("list")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option("--unit", help="Mã đơn vị.")
@click.option(
    "--source", type=click.Choice(["kiosk", "phone", "api", "paper", "import"]), help="Nguồn phiếu."
)
@click.option("--state", type=click.Choice(REVIEW_STATES), help="Trạng thái duyệt.")
@click.option("--since", callback=_day, help="Từ ngày (YYYY-MM-DD, giờ Việt Nam).")
@click.option("--until", callback=_day, help="Đến ngày (YYYY-MM-DD, giờ Việt Nam).")
@click.option("--text", help="Tìm trong câu trả lời tự do (góp ý) và lý do duyệt.")
@click.option(
    "--page", default=1, show_default=True, type=click.IntRange(1), help="Trang (50 phiếu mỗi trang)."
)
@database_option
def responses_list(
    campaign_id: int,
    unit: str | None,
    source: str | None,
    state: str | None,
    since: date | None,
    until: date | None,
    text: str | None,
    page: int,
    database_url: str | None,
) -> None:
    """List a campaign's responses, newest first, with their review state."""
    from .review import SOURCE_LABELS, STATE_LABELS, ResponseFilter, list_responses

    filters = ResponseFilter(unit=unit, source=source, state=state, since=since, until=until, text=text)
    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        result = list_responses(session, found, filters, page=page)
        lines = [
            "\t".join(("Mã phiếu", "Đơn vị", "Nguồn", "Trạng thái", "Ngày trên phiếu / gửi", "Số lần sửa"))
        ]
        for row in result.rows:
            lines.append(
                "\t".join(
                    (
                        row.instance_id,
                        row.unit_code,
                        SOURCE_LABELS.get(row.source, row.source),
                        STATE_LABELS.get(row.state, row.state),
                        _local(row.submitted_at or row.received_at),
                        str(row.revisions),
                    )
                )
            )
        footer = (
            f"{result.total} phiếu, trang {result.page}/{result.pages} "
            f"({result.total} responses, page {result.page} of {result.pages})"
        )
    if len(lines) == 1:
        click.echo("Không có phiếu nào khớp điều kiện lọc (no matching responses).")
    else:
        click.echo("\n".join(lines))
    click.echo(footer)


@responses.command("show")
@click.argument("response_id")
@database_option
def responses_show(response_id: str, database_url: str | None) -> None:
    """Show one response: metadata, every answer with its label, revisions and review history."""
    from .review import SOURCE_LABELS, STATE_LABELS, detail, find_response

    with app_session(database_url) as (_, session):
        info = detail(session, find_response(session, response_id))
        r = info.response
        duration = info.duration
        out = [
            f"Phiếu / response {r.instance_id}",
            f"  Đợt khảo sát:     #{info.campaign.id} {info.campaign.name}",
            f"  Đơn vị:           {info.unit_name} ({r.unit_code})",
            f"  Nguồn:            {SOURCE_LABELS.get(r.source, r.source)}"
            + (f", quầy {info.counter}" if info.counter else "")
            + (f", người nhập {info.entered_by}" if info.entered_by else ""),
            f"  Phiếu:            {r.questionnaire_id} phiên bản {r.questionnaire_version}",
            f"  Bắt đầu / gửi:    {_local(_aware(r.started_at))} → {_local(_aware(r.submitted_at))}"
            + (
                f" ({int(duration.total_seconds() // 60)} phút {int(duration.total_seconds() % 60)} giây)"
                if duration is not None
                else ""
            ),
            f"  Máy chủ nhận:     {_local(_aware(r.received_at))}",
            f"  Trạng thái:       {STATE_LABELS.get(r.review_state, r.review_state)}"
            + (f" — {r.review_reason}" if r.review_reason else "")
            + (
                f" ({info.reviewed_by or 'dòng lệnh'}, {_local(_aware(r.reviewed_at))})"
                if r.reviewed_at
                else ""
            ),
            "",
            "Câu trả lời (answers):",
        ]
        for line in info.answers:
            value = line.value_label or "(để trống)"
            was = f"   [ban đầu: {line.original_label or '(để trống)'}]" if line.changed else ""
            out.append(f"  {line.code}\t{value}{was}\t{line.label}")
        out.append("")
        out.append(f"Lịch sử sửa (revisions): {len(info.revisions) or 'chưa sửa lần nào'}")
        for rev in info.revisions:
            changed = ", ".join(f"{c['item']}: {c['old']} → {c['new']}" for c in rev.changes)
            out.append(
                f"  #{rev.number}\t{_local(_aware(rev.created_at))}\t{rev.username or 'dòng lệnh'}\t"
                f"{rev.reason}\t{changed}"
            )
        out.append(f"Lịch sử duyệt (review history): {len(info.history) or 'chưa có'}")
        for event in info.history:
            d = event.detail or {}
            out.append(
                f"  {_local(_aware(event.at))}\t{event.username or d.get('os_user') or 'dòng lệnh'}\t"
                f"{event.action}\t{d.get('from', '')} → {d.get('state', '')}\t{d.get('reason') or ''}"
            )
    click.echo("\n".join(out))


def _aware(stamp: datetime | None) -> datetime | None:
    if stamp is not None and stamp.tzinfo is None:  # SQLite hands back naive datetimes; we store UTC
        return stamp.replace(tzinfo=UTC)
    return stamp


@responses.command("review")
@click.argument("response_id")
@click.option("--state", required=True, type=click.Choice(REVIEW_STATES), help="Trạng thái mới.")
@click.option("--reason", help="Lý do (bắt buộc khi loại phiếu: rejected).")
@database_option
def responses_review(response_id: str, state: str, reason: str | None, database_url: str | None) -> None:
    """Set a response's review state (received, has_issues, approved, rejected)."""
    from .review import STATE_LABELS, find_response, set_state

    with app_session(database_url) as (_, session):
        found = find_response(session, response_id)
        set_state(session, found, state, reason, via=_via())
        iid = found.instance_id
    click.echo(f"Phiếu {iid}: {STATE_LABELS[state]} / review state set to {state}")


@responses.command("exclude")
@click.argument("response_id")
@click.option("--reason", required=True, help="Lý do loại phiếu (bắt buộc).")
@database_option
def responses_exclude(response_id: str, reason: str, database_url: str | None) -> None:
    """Reject a response with a reason: it is kept, but no longer scored or exported."""
    from .review import exclude, find_response

    with app_session(database_url) as (_, session):
        found = find_response(session, response_id)
        exclude(session, found, reason, via=_via())
        iid = found.instance_id
    click.echo(f"Đã loại phiếu {iid} khỏi tính điểm / excluded from scoring")


@responses.command("restore")
@click.argument("response_id")
@click.option("--reason", help="Lý do khôi phục (không bắt buộc).")
@database_option
def responses_restore(response_id: str, reason: str | None, database_url: str | None) -> None:
    """Bring a rejected response back into scoring."""
    from .review import find_response, restore

    with app_session(database_url) as (_, session):
        found = find_response(session, response_id)
        restore(session, found, reason, via=_via())
        iid = found.instance_id
    click.echo(f"Đã khôi phục phiếu {iid}: tính điểm trở lại / restored")


@responses.command("history")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Tệp .csv (UTF-8)."
)
@database_option
def responses_history(campaign_id: int, out: Path, database_url: str | None) -> None:
    """Export a campaign's correction history: one row per corrected item (old -> new, who, when, why)."""
    from .exports import export_revisions

    if out.suffix.lower() != ".csv":
        raise click.ClickException(f"{out}: lịch sử sửa được xuất ra tệp .csv (export to a .csv file)")
    if not out.parent.exists():
        raise click.ClickException(f"{out.parent}: thư mục không tồn tại (folder does not exist)")
    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        rows = export_revisions(session, found, out)
    click.echo(f"Đã xuất {rows} dòng lịch sử sửa vào {out} / exported {rows} corrected items")


@responses.command("import")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát (campaign id).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--unit-column",
    metavar="TÊN_CỘT",
    help="Cột chứa mã đơn vị, là mã câu hỏi hoặc tiêu đề cột, khi tệp không có cột unit "
    "(the column holding the unit code: an item code or a header).",
)
@click.option(
    "--unit",
    metavar="MÃ",
    help="Một mã đơn vị cho mọi phiếu trong tệp (one unit code for every response of the file).",
)
@click.option(
    "--skip-refused",
    is_flag=True,
    help="Vẫn lưu các dòng hợp lệ khi có dòng bị từ chối; mặc định không lưu gì cả (store the valid rows "
    "even when some are refused; by default a file with a refused row stores nothing).",
)
@database_option
def responses_import(
    campaign_id: int,
    file: Path,
    unit_column: str | None,
    unit: str | None,
    skip_refused: bool,
    database_url: str | None,
) -> None:
    """Nhập phiếu từ tệp xuất của KoboToolbox hoặc ODK Central vào một đợt khảo sát.

    \b
    Import responses from a KoboToolbox export (CSV or XLSX, "XML values" or "labels") or an ODK
    Central CSV export, or a responses table of our own layout (response_id, unit, item codes).
    Tiền tố nhóm (nhom/cau, nhom-cau, nhom.cau) được bỏ; cột hệ thống (_uuid, KEY, SubmissionDate …)
    được bỏ qua; nhãn lựa chọn được đổi về mã; mã phiếu lấy từ meta/instanceID, KEY hoặc _uuid.
    Group prefixes are stripped, system columns skipped, choice labels mapped back to codes, and the
    instance id (meta/instanceID, KEY or _uuid) is the response id.

    \b
    Mỗi dòng được kiểm tra như một phiếu gửi lên; có dòng bị từ chối thì không lưu gì cả (trừ khi
    dùng --skip-refused). Nhập lại cùng tệp không lưu thêm gì. Phiếu nhập có nguồn "import".
    Every row is checked as a submission is; one refused row stores nothing (unless --skip-refused).
    Importing the same file again stores nothing new. Imported responses have the source "import".
    """
    from .imports import import_responses

    if unit_column and unit:
        raise click.UsageError("chỉ dùng một trong --unit-column và --unit (give --unit-column or --unit)")
    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        result = import_responses(
            session, found, file, unit_column=unit_column, unit=unit, skip_refused=skip_refused, via=_via()
        )
    for refused in result.refused[:50]:
        click.echo(refused.line(file), err=True)
    if len(result.refused) > 50:
        more = len(result.refused) - 50
        click.echo(f"… và {more} dòng khác (and {more} more)", err=True)
    click.echo(result.summary())
    if result.stored == 0 and result.already == result.read and result.read:
        click.echo("Mọi phiếu trong tệp đã có sẵn: không lưu thêm gì (every response was already stored).")
    if result.refused and not result.written:
        raise click.ClickException(
            f"{file}: {len(result.refused)} dòng bị từ chối nên không lưu phiếu nào; sửa tệp, hoặc dùng "
            f"--skip-refused để lưu các dòng hợp lệ ({len(result.refused)} rows refused, nothing stored; "
            "fix the file or pass --skip-refused)"
        )
