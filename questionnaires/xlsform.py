"""XLSForm in and out.

:func:`read_xlsform` (in :mod:`questionnaires.xlsform_read`) reads ``.xlsx`` and ``.xls`` workbooks as
pyxform reads them. :func:`write_xlsform` writes a questionnaire back as a workbook that pyxform/ODK
accept and that reads back to an equal model: every language as ``label::<name>`` (the bare ``label``
column for XLSForm's default language), the columns the model carries, this toolkit's ``sipas_*``
columns and sheets, and the columns and settings kept verbatim (``extra``, ``settings``).

Sheets and columns
------------------
``survey``
    ``type``, ``name``, ``label::<language>``, ``hint::…``, ``guidance_hint::…``, ``required``,
    ``required_message::…``, ``relevant``, ``constraint``, ``constraint_message::…``, ``calculation``,
    ``default``, ``choice_filter``, ``read_only``, ``appearance``; ours, which ODK ignores:
    ``sipas_role`` (``stratum``/``group``), ``sipas_groups`` (respondent groups, space-separated),
    ``sipas_intro::…`` (a section's introduction); ``media::audio::<language>`` (the spoken prompt, a
    file beside the workbook, as ODK Collect plays it) where there is one; then the columns kept verbatim.
``choices``
    ``list_name``, ``name``, ``label::…``, ``media::audio::…``, then the other columns (choice-filter
    properties, images).
``settings``
    ``form_title``, ``form_id``, ``version``, ``default_language``; ours: ``sipas_title::…`` (the title in
    other languages), ``source``, ``description::…``, ``languages``; then the settings kept verbatim.
``groups`` (ours)
    ``code``, ``label::…``: the respondent groups.
``scoring`` (ours)
    one row per node of the scoring tree, depth first: ``level`` (index/field/element/criterion),
    ``code``, ``parent``, ``items`` (space-separated), ``label::…``, ``weight``, ``gate``,
    ``max_points``, ``method``, ``values`` (``A=1 B=0.6``). The ``index`` row also holds the scoring
    settings: ``method`` and ``values`` are the defaults, and ``valid``, ``positive``, ``scale``,
    ``group_weights`` (``lanh_dao=0.5 nguoi_dan=0.5``), ``group_weighting`` (``criterion_means`` or
    ``respondents``), ``points_total`` (``asked`` or ``scaled``),
    ``unasked_stratum`` (``refuse`` or ``unit_cell``), ``decimals``, ``min_n``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import ErrorCode, QuestionnaireError
from .files import atomic_write
from .model import LANGUAGE_NAMES, Label, Question, Questionnaire, QuestionType, ScoreNode
from .xlsform_read import (
    MAX_SHEET_ROWS,
    MAX_XLSFORM_BYTES,
    MAX_XLSFORM_UNPACKED_BYTES,
    XLSFORM_SUFFIXES,
    read_xlsform,
)

__all__ = [
    "LANGUAGE_NAMES",
    "MAX_SHEET_ROWS",
    "MAX_XLSFORM_BYTES",
    "MAX_XLSFORM_UNPACKED_BYTES",
    "XLSFORM_SUFFIXES",
    "read_xlsform",
    "write_xlsform",
]


# ============================================================================================= write
def _number(value: float) -> str:
    """A number as short exact text: 1.0 -> "1", 0.6 -> "0.6"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _pairs(mapping: Any) -> str:
    return " ".join(f"{k}={_number(v)}" for k, v in mapping.items())


class _Table:
    """Rows for one sheet, keyed by column name; the header is the union of columns in a fixed order,
    then the columns kept verbatim, in the order first met."""

    def __init__(self, name: str, columns: Iterable[str]):
        self.name = name
        self.columns = list(columns)
        self.rows: list[dict[str, Any]] = []

    def add(self, **values: Any) -> None:
        self.add_row(values)

    def add_row(self, values: dict[str, Any], extra: Any = None) -> None:
        row = {k: v for k, v in values.items() if v not in (None, "")}
        for header, value in (extra or {}).items():
            if header not in self.columns:
                self.columns.append(header)
            row[header] = value
        self.rows.append(row)


class _Languages:
    """The label columns of one questionnaire: ``label::English (en)``, or bare ``label`` for ``default``."""

    def __init__(self, q: Questionnaire):
        self.codes = list(q.languages)
        self.names = {code: q.language_name(code) for code in self.codes}

    def column(self, base: str, code: str) -> str:
        name = self.names.get(code, code)
        return f"{base}::{name}" if name else base

    def columns(self, base: str) -> list[str]:
        return [self.column(base, code) for code in self.codes]

    def audio(self, files: Any) -> dict[str, str]:
        """The spoken prompts' columns: ``media::audio::<language name>`` (bare for the default language)."""
        return {self.column("media::audio", lang): file for lang, file in files.items()}

    def values(self, base: str, label: Label | None) -> dict[str, str]:
        if label is None:
            return {}
        return {self.column(base, lang): text for lang, text in label.texts}


def write_xlsform(questionnaire: Questionnaire, path: str | Path) -> Path:
    """Write ``questionnaire`` as an XLSForm workbook; the file appears whole or not at all.

    Choice lists read from a file (``select_one_from_file``) are written as that file beside the
    workbook when no file of that name is there yet.
    """
    path = Path(path)
    langs = _Languages(questionnaire)
    tables = [_survey(questionnaire, langs), _choices(questionnaire, langs), _settings(questionnaire, langs)]
    if questionnaire.groups:
        tables.append(_groups(questionnaire, langs))
    if questionnaire.scoring is not None:
        tables.append(_scoring(questionnaire, langs))
    _write_tables(tables, path)
    _write_choice_files(questionnaire, langs, path.parent)
    return path


_SURVEY_COLUMNS = (
    "type", "name", "label", "hint", "guidance_hint", "required", "required_message", "relevant",
    "constraint", "constraint_message", "calculation", "default", "choice_filter", "read_only", "appearance",
    "sipas_role",
    "sipas_groups", "sipas_intro",
)  # fmt: skip
_TRANSLATED = ("label", "hint", "guidance_hint", "required_message", "constraint_message", "sipas_intro")


def _question_type(q: Questionnaire, question: Question) -> str:
    if not question.type.has_choices:
        return question.type.value
    choice_list = q.choice_lists.get(str(question.choices))
    one = question.type is QuestionType.SINGLE
    if choice_list is not None and choice_list.file:
        return ("select_one_from_file " if one else "select_multiple_from_file ") + choice_list.file
    return ("select_one " if one else "select_multiple ") + str(question.choices)


def _required(question: Question) -> str | None:
    if question.required:
        return "yes"
    if question.required_if is not None:
        return question.required_if.text
    return None


def _survey(q: Questionnaire, langs: _Languages) -> _Table:
    columns: list[str] = []
    for name in _SURVEY_COLUMNS:
        columns.extend(langs.columns(name) if name in _TRANSLATED else [name])
    table = _Table("survey", columns)
    for section in q.sections:
        if section.wrapped:
            table.add_row(
                {
                    "type": "begin_group",
                    "name": section.code,
                    **langs.values("label", section.label),
                    "relevant": section.relevant.text if section.relevant else None,
                    "appearance": section.appearance,
                    "sipas_groups": " ".join(section.groups),
                    **langs.values("sipas_intro", section.intro),
                },
                {**langs.audio(section.audio), **section.extra},
            )
        for question in section.questions:
            table.add_row(
                {
                    "type": _question_type(q, question),
                    "name": question.code,
                    **langs.values("label", question.label),
                    **langs.values("hint", question.hint),
                    **langs.values("guidance_hint", question.guidance_hint),
                    "required": _required(question),
                    **langs.values("required_message", question.required_message),
                    "relevant": question.relevant.text if question.relevant else None,
                    "constraint": question.constraint.text if question.constraint else None,
                    **langs.values("constraint_message", question.constraint_message),
                    "calculation": question.calculation.text if question.calculation else None,
                    "default": question.default,
                    "choice_filter": question.choice_filter.text if question.choice_filter else None,
                    "read_only": "yes" if question.read_only else None,
                    "appearance": question.appearance,
                    "sipas_role": question.role.value if question.role else None,
                    "sipas_groups": " ".join(question.groups),
                },
                {**langs.audio(question.audio), **question.extra},
            )
        if section.wrapped:
            table.add(type="end_group", name=section.code)
    return table


def _choices(q: Questionnaire, langs: _Languages) -> _Table:
    table = _Table("choices", ["list_name", "name", *langs.columns("label")])
    for name, choice_list in q.choice_lists.items():
        if choice_list.file:
            continue  # read from its own file (select_one_from_file)
        for choice in choice_list.choices:
            table.add_row(
                {"list_name": name, "name": choice.code, **langs.values("label", choice.label)},
                {**langs.audio(choice.audio), **choice.extra},
            )
    return table


def _write_choice_files(q: Questionnaire, langs: _Languages, folder: Path) -> None:
    """Write each list read from a file back as that CSV beside the workbook, unless one is there."""
    for choice_list in q.choice_lists.values():
        if not choice_list.file:
            continue
        target = folder / choice_list.file
        if target.exists():
            continue
        extra = list(dict.fromkeys(k for c in choice_list.choices for k in c.extra))
        header = ["name", *langs.columns("label"), *extra]

        def write(tmp: Path, choice_list: Any = choice_list, header: list[str] = header) -> None:
            with tmp.open("w", encoding="utf-8", newline="") as f:
                writer = csv.DictWriter(f, header)
                writer.writeheader()
                for c in choice_list.choices:
                    writer.writerow({"name": c.code, **langs.values("label", c.label), **c.extra})

        try:
            atomic_write(target, write, private=False)
        except OSError as exc:
            raise QuestionnaireError(
                ErrorCode.INVALID_FILE, f"cannot write file: {exc}", str(target)
            ) from None


def _settings(q: Questionnaire, langs: _Languages) -> _Table:
    default = q.default_language
    title_lang = default if default and q.title.has(default) else q.title.texts[0][0]
    others = [lang for lang, _ in q.title.texts if lang != title_lang]
    table = _Table(
        "settings",
        [
            "form_title",
            "form_id",
            "version",
            "default_language",
            *(langs.column("sipas_title", lang) for lang in others),
            "source",
            *langs.columns("description"),
        ],
    )
    table.add_row(
        {
            "form_title": q.title.text(title_lang),
            "form_id": q.id,
            "version": q.version,
            # (a default language whose columns are bare keeps its name in the verbatim settings)
            "default_language": langs.names.get(default) if default else None,
            **{langs.column("sipas_title", lang): q.title.text(lang) for lang in others},
            "source": q.source,
            **langs.values("description", q.description),
        },
        q.settings,
    )
    return table


def _groups(q: Questionnaire, langs: _Languages) -> _Table:
    table = _Table("groups", ["code", *langs.columns("label")])
    for group in q.groups:
        table.add_row({"code": group.code, **langs.values("label", group.label)})
    return table


def _scoring(q: Questionnaire, langs: _Languages) -> _Table:
    scoring = q.scoring
    assert scoring is not None
    table = _Table(
        "scoring",
        [
            "level",
            "code",
            "parent",
            "items",
            *langs.columns("label"),
            "weight",
            "gate",
            "max_points",
            "method",
            "values",
            "valid",
            "positive",
            "scale",
            "group_weights",
            "group_weighting",
            "points_total",
            "unasked_stratum",
            "decimals",
            "min_n",
        ],
    )

    def visit(node: ScoreNode, parent: ScoreNode | None) -> Iterator[dict[str, Any]]:
        row: dict[str, Any] = {
            "level": node.level.value,
            "code": node.code,
            "parent": parent.code if parent is not None and parent is not scoring.tree else None,
            "items": " ".join(node.items),
            **langs.values("label", node.label),
            "weight": node.weight,
            "gate": node.gate.text if node.gate else None,
            "max_points": node.max_points,
            "method": node.method.value if node.method else None,
            "values": _pairs(node.values) if node.values else None,
        }
        if parent is None:
            row.update(
                method=scoring.method.value,
                values=_pairs(scoring.values) if scoring.values else None,
                valid=" ".join(scoring.valid),
                positive=" ".join(scoring.positive),
                scale=" ".join(_number(x) for x in scoring.scale),
                group_weights=_pairs(scoring.group_weights) if scoring.group_weights else None,
                group_weighting=scoring.group_weighting.value,
                points_total=scoring.points_total.value,
                unasked_stratum=scoring.unasked_stratum.value,
                decimals=scoring.decimals,
                min_n=scoring.min_n,
            )
        yield row
        for child in node.children:
            yield from visit(child, node)

    for row in visit(scoring.tree, None):
        table.add_row(row)
    return table


def _write_tables(tables: list[_Table], path: Path) -> None:
    """Write the tables as the sheets of a workbook at ``path``, whole or not at all."""
    import xlsxwriter.exceptions

    file = str(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise QuestionnaireError(ErrorCode.INVALID_FILE, f"folder {str(folder)!r} does not exist", file)
    try:
        atomic_write(path, lambda tmp: _write_workbook(tables, tmp, file), private=False)
    except (OSError, xlsxwriter.exceptions.FileCreateError) as exc:
        raise QuestionnaireError(ErrorCode.INVALID_FILE, f"cannot write file: {exc}", file) from None


def _write_workbook(tables: list[_Table], tmp: Path, file: str) -> None:
    """Write the tables into a new workbook at ``tmp``, checking every XlsxWriter status."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False})
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7"})
    for table in tables:
        sheet = workbook.add_worksheet(table.name)
        for col, name in enumerate(table.columns):
            sheet.write_string(0, col, name, bold)
            sheet.set_column(col, col, 40 if "::" in name else 16)
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(table.rows, start=1):
            unknown = set(row) - set(table.columns)
            assert not unknown, unknown  # a column missing from the header is a bug here
            for col, name in enumerate(table.columns):
                value = row.get(name)
                if value is None:
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    status = sheet.write_number(r, col, value)
                else:
                    # Always text: a label starting with "=" must never become a formula.
                    status = sheet.write_string(r, col, str(value))
                if status < 0:
                    raise QuestionnaireError(
                        ErrorCode.BAD_VALUE,
                        f"cannot write column {name!r} (XlsxWriter status {status}; text too long?)",
                        file,
                        f"{table.name} row {r + 1}",
                    )
    workbook.close()
