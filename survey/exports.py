"""Campaign exports: the responses table as CSV (UTF-8 with BOM) or XLSX (data + codebook).

The files are written by :mod:`reports.responses` (formula-like text neutralised in CSV, every text a
string cell in XLSX, constant memory); this module reads the campaign's responses, picks the format
and records who exported what in the audit log.
"""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import IO, TYPE_CHECKING

from flask import Response, send_file
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.io import neutralise
from reports.errors import ReportError
from reports.responses import write_responses_csv, write_responses_xlsx

from .campaigns import campaign_questionnaire
from .errors import SurveyError
from .models import Campaign, ResponseRevision, User
from .models import Response as StoredResponse
from .storage import campaign_frame
from .users import audit

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMATS",
    "REVISION_COLUMNS",
    "ExportError",
    "export_campaign",
    "export_filename",
    "export_response",
    "export_revisions",
    "format_of",
]

# The media types of the downloads. Werkzeug adds "; charset=utf-8" to a text/* type itself, so the
# CSV type names no charset here (naming it too sent "charset=utf-8; charset=utf-8").
FORMATS: dict[str, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportError(SurveyError):
    """An export that cannot be written (unknown format, a file that cannot be created)."""


def format_of(path: str | PathLike[str]) -> str:
    """The export format named by a file's extension (``.csv`` or ``.xlsx``)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ExportError(
            f"{path}: chỉ xuất được tệp .csv hoặc .xlsx (export to a .csv or .xlsx file, "
            f"not {'.' + suffix if suffix else 'no extension'})"
        )
    return suffix


def export_filename(campaign: Campaign, fmt: str) -> str:
    """A download name such as ``sipas-2017_dot-3_2024-05-02.xlsx`` (ASCII, safe in any browser)."""
    today = datetime.now(UTC).date().isoformat()
    return f"{campaign.questionnaire_id}_dot-{campaign.id}_{today}.{fmt}"


def export_campaign(
    session: Session,
    campaign: Campaign,
    out: str | PathLike[str] | IO[bytes],
    fmt: str | None = None,
    *,
    user: User | None = None,
    codebook: bool = True,
) -> int:
    """Write ``campaign``'s responses to ``out`` (a path or a binary stream); return the row count.

    ``fmt`` is ``"csv"`` or ``"xlsx"`` (default: from the file's extension). The export is recorded in
    the audit log (flushed; the caller commits). Raises :class:`ExportError`.
    """
    if fmt is None:
        if not isinstance(out, str | PathLike):
            raise ExportError("cần chỉ rõ định dạng csv hoặc xlsx (format required for a stream)")
        fmt = format_of(out)
    if fmt not in FORMATS:
        raise ExportError(f"định dạng {fmt!r} không được hỗ trợ; chọn csv hoặc xlsx (unknown format)")
    questionnaire = campaign_questionnaire(campaign)
    frame = campaign_frame(session.connection(), campaign.id, include_late=True)  # marked in "late"
    _add_paper_serials(session, campaign.id, frame)
    try:
        if fmt == "csv":
            write_responses_csv(questionnaire, frame, out)
        else:
            write_responses_xlsx(questionnaire, frame, out, codebook=codebook)
    except ReportError as exc:
        raise ExportError(str(exc)) from None
    except OSError as exc:
        raise ExportError(f"{out}: không ghi được tệp ({exc.strerror or exc})") from None
    audit(
        session,
        "export",
        {"campaign_id": campaign.id, "format": fmt, "rows": len(frame), "target": _target_name(out)},
        user=user,
    )
    return len(frame)


def _add_paper_serials(session: Session, campaign_id: int, frame: pd.DataFrame) -> None:
    """Add the ``paper_serial`` column (the số phiếu of paper forms) when any response has one."""
    rows = session.execute(
        select(StoredResponse.instance_id, StoredResponse.paper_serial).where(
            StoredResponse.campaign_id == campaign_id, StoredResponse.paper_serial.is_not(None)
        )
    )
    serials = {iid: serial for iid, serial in rows}
    if serials:
        frame["paper_serial"] = frame["response_id"].map(serials).astype(object)
        frame.loc[frame["paper_serial"].isna(), "paper_serial"] = None


def _target_name(out: str | PathLike[str] | IO[bytes]) -> str:
    return str(out) if isinstance(out, str | PathLike) else "download"


def export_response(session: Session, campaign: Campaign, fmt: str, *, user: User | None = None) -> Response:
    """A download of ``campaign``'s responses in ``fmt`` for a view; commits the audit event.

    The file is spooled to a temporary file (not held in memory) and deleted when sent.
    """
    if fmt not in FORMATS:
        raise ExportError(f"định dạng {fmt!r} không được hỗ trợ; chọn csv hoặc xlsx (unknown format)")
    handle = tempfile.TemporaryFile()
    try:
        export_campaign(session, campaign, handle, fmt, user=user)
        session.commit()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    response = send_file(
        handle,
        mimetype=FORMATS[fmt],
        as_attachment=True,
        download_name=export_filename(campaign, fmt),
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------------------- revision history
# One row per corrected item: which response, which revision, who, when, why, and old -> new.
REVISION_COLUMNS = (
    "response_id",
    "unit",
    "revision",
    "revised_at",
    "revised_by",
    "reason",
    "item",
    "old",
    "new",
)


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, list):  # a multiple choice, as in the responses table: codes joined by spaces
        return " ".join(str(v) for v in value)
    return neutralise(value)


def export_revisions(
    session: Session, campaign: Campaign, out: str | PathLike[str] | IO[bytes], *, user: User | None = None
) -> int:
    """Write ``campaign``'s correction history as CSV (UTF-8 with BOM); return the number of rows.

    Free text is neutralised as in the responses export. Audited as an export (flushed; the caller
    commits).
    """
    found = session.execute(
        select(StoredResponse.instance_id, StoredResponse.unit_code, ResponseRevision)
        .join(ResponseRevision, ResponseRevision.response_id == StoredResponse.id)
        .where(StoredResponse.campaign_id == campaign.id)
        .order_by(StoredResponse.id, ResponseRevision.number)
    ).all()
    lines = [
        (
            iid,
            unit,
            rev.number,
            _stamp(rev.created_at),
            rev.username or "",
            rev.reason,
            c["item"],
            c["old"],
            c["new"],
        )
        for iid, unit, rev in found
        for c in rev.changes
    ]
    try:
        if isinstance(out, str | PathLike):
            with open(out, "w", encoding="utf-8-sig", newline="") as handle:
                _write_revisions(handle, lines)
        else:
            handle = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
            try:
                _write_revisions(handle, lines)
                handle.flush()
            finally:
                handle.detach()  # the caller owns the binary stream
    except OSError as exc:
        raise ExportError(f"{out}: không ghi được tệp ({exc.strerror or exc})") from None
    audit(
        session,
        "export",
        {
            "campaign_id": campaign.id,
            "format": "csv",
            "kind": "revisions",
            "rows": len(lines),
            "target": _target_name(out),
        },
        user=user,
    )
    return len(lines)


def _stamp(stamp: datetime) -> str:
    if stamp.tzinfo is None:  # SQLite hands back naive datetimes; we store UTC
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat()


def _write_revisions(handle: IO[str], lines: list[tuple]) -> None:
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(REVISION_COLUMNS)
    for line in lines:
        writer.writerow([_cell(v) for v in line])
