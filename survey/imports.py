"""Import a file of responses into a campaign: a KoboToolbox or ODK Central export, or our own table.

The file is read as scoring reads it (:mod:`analysis.exports`: group prefixes, system columns, labels,
instance ids), then every row is checked as a submission is (:func:`survey.storage.build_response`:
questionnaire, unit of the campaign, required answers, constraints, skip logic) before anything is
stored. Rows are stored with ``source = "import"``, and only when no row is refused, unless the
caller keeps going past refused rows (``sipas responses import --skip-refused``).

Idempotent on the instance id: a row whose instance id is already stored in this campaign with the
same content is "already there" (nothing is written); with other content, or in another campaign, it
is refused, as the API refuses such a copy. The device's start and end are the response's
``started_at``/``submitted_at`` (part of its content), the collecting server's submission time its
``received_at``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.data import canonical_text
from analysis.errors import ScoringError
from analysis.exports import ExportTable, convert_export, is_text_column
from analysis.io import RESPONSE_SHEETS, read_table
from questionnaires import Questionnaire, QuestionType

from .errors import DuplicateConflict, SurveyError, ValidationFailed
from .models import Campaign, Response
from .storage import build_response, store_response

__all__ = ["IMPORT_SOURCE", "ImportResult", "RefusedRow", "import_responses", "read_import"]

IMPORT_SOURCE = "import"
_LOOKUP_CHUNK = 500  # instance ids per query when looking for stored copies


class ImportFailed(SurveyError):
    """A file that cannot be imported at all (unreadable, unknown columns, no unit, campaign closed)."""


@dataclass(frozen=True)
class RefusedRow:
    """A row of the file that is not stored, and why (Vietnamese, then English)."""

    row: int
    instance_id: str | None
    reason: str

    def line(self, path: str | Path) -> str:
        rid = f" (mã phiếu {self.instance_id})" if self.instance_id else ""
        return f"{path}: dòng {self.row}{rid}: {self.reason}"


@dataclass
class ImportResult:
    """What an import did: rows read, stored, already there, refused (with their reasons)."""

    path: str
    tool: str
    read: int = 0
    stored: int = 0
    already: int = 0
    refused: list[RefusedRow] = field(default_factory=list)
    written: bool = False  # False: rows were refused and nothing was stored

    def summary(self) -> str:
        return (
            f"{self.path}: đọc {self.read} phiếu, lưu mới {self.stored}, đã có sẵn {self.already}, "
            f"bị từ chối {len(self.refused)} (read {self.read}, stored {self.stored}, already there "
            f"{self.already}, refused {len(self.refused)})"
        )


def read_import(
    path: str | Path, questionnaire: Questionnaire, *, unit_column: str | None, unit: str | None
) -> ExportTable:
    """Read the file as :func:`analysis.read_responses` does, keeping the problems of single cells."""
    try:
        df = read_table(path, "responses", lambda name: is_text_column(name, unit_column), RESPONSE_SHEETS)
        export = convert_export(df, questionnaire, unit_column=unit_column, unit=unit, where=f"{path}: ")
    except ScoringError as exc:
        raise ImportFailed(str(exc)) from None
    missing = [c for c in ("response_id", "unit") if c not in export.table.columns]
    if missing:
        raise ImportFailed(
            f"{path}: thiếu cột bắt buộc {', '.join(missing)}; tệp không có cột unit cần --unit-column "
            f"TÊN_CỘT hoặc --unit MÃ (missing required column(s) {', '.join(missing)}; without a unit "
            "column pass --unit-column NAME or --unit CODE)"
        )
    return export


def import_responses(
    session: Session,
    campaign: Campaign,
    path: str | Path,
    *,
    unit_column: str | None = None,
    unit: str | None = None,
    skip_refused: bool = False,
    via: Mapping[str, Any] | None = None,
) -> ImportResult:
    """Check every row of ``path`` and store the campaign's new responses; return the counts.

    Nothing is stored when a row is refused, unless ``skip_refused``. Raises :class:`ImportFailed`
    for a campaign that does not take forms (a draft, or closed) and for a file that cannot be read
    at all. The import is audited.
    """
    from .campaigns import CampaignNotOpen, accepts_responses, campaign_questionnaire
    from .users import audit

    if not accepts_responses(campaign):
        closed = CampaignNotOpen(campaign)  # as a kiosk, phone or paper form is refused
        raise ImportFailed(
            f"{path}: {closed.message} ({closed.message_en}); không lưu phiếu nào (nothing stored)"
        )
    questionnaire = campaign_questionnaire(campaign)
    export = read_import(path, questionnaire, unit_column=unit_column, unit=unit)
    table = export.table
    result = ImportResult(path=str(path), tool=export.tool, read=len(table))
    bad = _cell_problems(export)
    headers = {code: header for header, code in export.columns.items()}  # item code -> header in the file
    stored = _stored(session, [r for r in table["response_id"].tolist() if isinstance(r, str)])
    pending: list[Response] = []
    seen: dict[str, tuple[int, str]] = {}  # instance id -> (row, content hash) of the file
    for row, record in zip(table.index.tolist(), table.to_dict("records"), strict=True):
        iid = record.get("response_id")
        iid = iid if isinstance(iid, str) else None
        if row in bad:
            result.refused.append(RefusedRow(row, iid, "; ".join(bad[row])))
            continue
        try:
            response = _build(session, campaign, questionnaire, record)
        except ValidationFailed as exc:
            reason = "; ".join(_item_error(e, headers, export.id_columns) for e in exc.errors[:5])
            result.refused.append(RefusedRow(row, iid, reason))
            continue
        iid = response.instance_id
        verdict = _compare(response, seen.get(iid), stored.get(iid), campaign)
        if verdict not in ("new", "already"):
            verdict = f"cột {', '.join(export.id_columns)}: {verdict}"
        if verdict == "new":
            seen[iid] = (row, response.content_hash)
            pending.append(response)
        elif verdict == "already":
            result.already += 1
        else:
            result.refused.append(RefusedRow(row, iid, verdict))
    if result.refused and not skip_refused:
        session.rollback()
        return result
    for response in pending:
        try:
            _, created = store_response(session, response)
        except DuplicateConflict as exc:  # stored by someone else since the check above
            result.refused.append(RefusedRow(seen[response.instance_id][0], response.instance_id, str(exc)))
            continue
        if created:
            result.stored += 1
        else:
            result.already += 1
    result.written = True
    result.refused.sort(key=lambda r: r.row)
    audit(
        session,
        "responses_imported",
        {
            "campaign_id": campaign.id,
            "file": Path(path).name,
            "tool": export.tool,
            "read": result.read,
            "stored": result.stored,
            "already": result.already,
            "refused": len(result.refused),
            **dict(via or {}),
        },
    )
    session.commit()
    return result


def _item_error(error: Any, headers: Mapping[str, str], id_columns: Sequence[str]) -> str:
    """A submission error of one row, naming the column of the file it comes from."""
    item = error.item
    if item == "instance_id":
        where = f"cột {', '.join(id_columns)}: "
    elif item in headers and headers[item] != item:
        where = f"cột {headers[item]} (câu {item}): "
    elif item:
        where = f"cột {item}: "
    else:
        where = ""
    return f"{where}{error.message} ({error.message_en})"


def _cell_problems(export: ExportTable) -> dict[int, list[str]]:
    """Row -> what cannot be read in it (unknown labels, blank instance id or unit)."""
    bad: dict[int, list[str]] = {}
    for problem in export.problems:
        bad.setdefault(problem.row, []).append(f"cột {problem.column}: {problem.vi} ({problem.en})")
    return bad


def _stored(session: Session, ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Instance id -> (campaign id, content hash) of those already stored (ids as the file gives them)."""
    from .storage import normalise_instance_id

    wanted: set[str] = set()
    for iid in ids:
        try:
            wanted.add(normalise_instance_id(iid))
        except ValueError:
            continue  # refused by build_response, with its own message
    found: dict[str, tuple[int, str]] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        chunk = ordered[start : start + _LOOKUP_CHUNK]
        rows = session.execute(
            select(Response.instance_id, Response.campaign_id, Response.content_hash).where(
                Response.instance_id.in_(chunk)
            )
        )
        for iid, campaign_id, digest in rows:
            found[iid] = (campaign_id, digest)
    return found


def _compare(
    response: Response,
    earlier: tuple[int, str] | None,
    stored: tuple[int, str] | None,
    campaign: Campaign,
) -> str:
    """``new``, ``already``, or why the row is refused (its instance id names another response)."""
    iid = response.instance_id
    if stored is not None:
        campaign_id, digest = stored
        if campaign_id != campaign.id:
            return (
                f"mã phiếu {iid} đã được lưu ở đợt khảo sát số {campaign_id} "
                f"(instance id {iid} is already stored in another campaign, {campaign_id})"
            )
        if digest != response.content_hash:
            return (
                f"mã phiếu {iid} đã được lưu với nội dung khác (instance id {iid} is already stored with "
                "different content)"
            )
        return "already"
    if earlier is not None:
        row, digest = earlier
        if digest != response.content_hash:
            return (
                f"mã phiếu {iid} trùng với dòng {row} nhưng khác nội dung "
                f"(instance id {iid} is also on row {row}, with different content)"
            )
        return "already"
    return "new"


def _build(
    session: Session, campaign: Campaign, questionnaire: Questionnaire, record: Mapping[str, Any]
) -> Response:
    """Check one row as a submission and return the unsaved response (ValidationFailed otherwise)."""
    answers = _answers(questionnaire, record)
    response = build_response(
        session,
        campaign=campaign,
        unit_code=str(record["unit"]),
        instance_id=record["response_id"],
        answers=answers,
        questionnaire_id=campaign.questionnaire_id,
        version=campaign.questionnaire_version,
        started_at=_stamp(record.get("started_at")),
        submitted_at=_stamp(record.get("submitted_at")),
        stratum=canonical_text(record.get("stratum")),
        group=canonical_text(record.get("group")),
        source=IMPORT_SOURCE,
    )
    received = _stamp(record.get("received_at"))
    if isinstance(received, datetime):
        response.received_at = received  # when the collecting server received it (not in the content)
    return response


def _stamp(value: Any) -> datetime | str | None:
    """A time of the table: a timestamp as an aware datetime, ISO text as is, blanks None."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().astimezone(UTC)
    if isinstance(value, datetime):
        return value
    return canonical_text(value)


def _answers(questionnaire: Questionnaire, record: Mapping[str, Any]) -> dict[str, Any]:
    """The answers of one row as a submission sends them (codes as text, multiple choice as a list)."""
    answers: dict[str, Any] = {}
    for q in questionnaire.questions():
        if not (q.type.is_answerable or q.type.is_metadata) or q.code not in record:
            continue
        value = record[q.code]
        if isinstance(value, pd.Timestamp | datetime):
            value = value.isoformat()
        if q.type in (QuestionType.INTEGER, QuestionType.DECIMAL) and not isinstance(value, str):
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                continue
            answers[q.code] = value.item() if hasattr(value, "item") else value
            continue
        text = canonical_text(value)
        if text is None:
            continue
        answers[q.code] = text.split() if q.type is QuestionType.MULTIPLE else text
    return answers
