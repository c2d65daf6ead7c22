"""Write one set of responses as the files KoboToolbox and ODK Central export (for tests).

The layouts follow the tools' documented exports: Kobo "XML values and headers" (``group/question``,
``meta/instanceID``, ``_uuid``, ``_submission_time`` …, ``;`` separated) and "labels" (question and
choice labels, data on the first sheet of an XLSX workbook), and ODK Central's CSV
(``group-question``, ``KEY``, ``SubmissionDate``, ``meta-instanceID`` …).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd

from questionnaires import Questionnaire

KOBO_TRAILER = (
    "_id",
    "_uuid",
    "_submission_time",
    "_validation_status",
    "_notes",
    "_status",
    "_submitted_by",
    "__version__",
    "_tags",
    "_index",
)
ODK_TRAILER = (
    "SubmitterID",
    "SubmitterName",
    "AttachmentsPresent",
    "AttachmentsExpected",
    "Status",
    "ReviewState",
    "DeviceID",
    "Edits",
    "FormVersion",
)


def with_instance_ids(responses: pd.DataFrame) -> pd.DataFrame:
    """The responses with UUIDs as response ids (as every Kobo/ODK submission has) and plain text cells."""
    out = responses.copy()
    out["response_id"] = [str(uuid.UUID(int=i + 1)) for i in range(len(out))]
    for column in out.columns:
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def _items(questionnaire: Questionnaire, responses: pd.DataFrame):
    for section in questionnaire.sections:
        for q in section.questions:
            if q.type.is_answerable and q.code in responses.columns:
                yield section, q


def _times(n: int) -> list[str]:
    return [f"2024-05-{1 + i % 28:02d}T0{1 + i % 8}:{i % 60:02d}:00" for i in range(n)]


def kobo_xml_csv(questionnaire: Questionnaire, responses: pd.DataFrame, path: Path) -> Path:
    """A Kobo CSV export, XML values and headers, groups separated by ``/``, fields by ``;``."""
    n = len(responses)
    data: dict[str, list] = {
        "start": ["2024-05-01T08:00:00.000+07:00"] * n,
        "end": ["2024-05-01T08:05:00.000+07:00"] * n,
        "thong_tin/don_vi": list(responses["unit"]),
    }
    for section, q in _items(questionnaire, responses):
        data[f"{section.code}/{q.code}"] = list(responses[q.code])
    ids = list(responses["response_id"])
    data["meta/instanceID"] = [f"uuid:{i}" for i in ids]
    data["formhub/uuid"] = ["0f1e2d3c"] * n
    data["_id"] = list(range(1000, 1000 + n))
    data["_uuid"] = ids
    data["_submission_time"] = _times(n)
    for column in KOBO_TRAILER[3:]:
        data[column] = [""] * n
    data["_index"] = list(range(1, n + 1))
    pd.DataFrame(data).to_csv(path, sep=";", index=False)
    return path


def kobo_labels_xlsx(
    questionnaire: Questionnaire, responses: pd.DataFrame, path: Path, language: str = "vi"
) -> Path:
    """A Kobo XLSX export with labels: headers ``Section label/Question label``, answers as labels."""
    n = len(responses)
    data: dict[str, list] = {"Đơn vị": list(responses["unit"])}
    for section, q in _items(questionnaire, responses):
        header = f"{section.label.get(language)}/{q.label.get(language)}"
        choices = questionnaire.choice_list(q)
        values = list(responses[q.code])
        if choices is not None:
            values = [
                None if v is None else choices.label_of(str(v)).get(language)  # type: ignore[union-attr]
                for v in values
            ]
        data[header] = values
    ids = list(responses["response_id"])
    data["meta/instanceID"] = [f"uuid:{i}" for i in ids]
    data["_id"] = list(range(1, n + 1))
    data["_uuid"] = ids
    data["_submission_time"] = _times(n)
    data["_index"] = list(range(1, n + 1))
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        pd.DataFrame(data).to_excel(book, sheet_name="SIPAS Kobo", index=False)
        pd.DataFrame({"note": ["a second sheet, as Kobo writes for repeat groups"]}).to_excel(
            book, sheet_name="repeat", index=False
        )
    return path


def odk_csv(questionnaire: Questionnaire, responses: pd.DataFrame, path: Path) -> Path:
    """An ODK Central CSV export: ``SubmissionDate``, ``group-question``, ``meta-instanceID``, ``KEY``."""
    n = len(responses)
    data: dict[str, list] = {
        "SubmissionDate": [t + ".000Z" for t in _times(n)],
        "thong_tin-unit": list(responses["unit"]),
    }
    for section, q in _items(questionnaire, responses):
        data[f"{section.code}-{q.code}"] = list(responses[q.code])
    ids = list(responses["response_id"])
    data["meta-instanceID"] = [f"uuid:{i}" for i in ids]
    data["KEY"] = [f"uuid:{i}" for i in ids]
    for column in ODK_TRAILER:
        data[column] = [""] * n
    pd.DataFrame(data).to_csv(path, index=False)
    return path
