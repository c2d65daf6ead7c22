"""Real XLSForms by other projects (../shared/xlsform-corpus, see its SOURCES.md) come in without loss.

Each form either imports with every question, choice, relevant, constraint, required, hint and label that
pyxform's own JSON of the same file has, and goes XLSForm -> YAML -> XLSForm to the same XForm as pyxform
makes of the original, or is refused with messages naming what is unsupported and where.

Then every column and setting pyxform knows is walked: each is carried, kept verbatim or refused, and when
the form loads, the workbook written back gives pyxform's XForm of the original.

One normalisation is documented and tested: a form without a version gets version "1" (with a warning),
so its XForm carries ``version="1"``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import openpyxl
import pytest
import yaml
from pyxform import aliases
from pyxform.errors import PyXFormError
from pyxform.question import MultipleChoiceQuestion, Option
from pyxform.survey import Survey
from pyxform.xls2json import parse_file_to_json
from pyxform.xls2xform import convert

from questionnaires import (
    ErrorCode,
    QuestionnaireError,
    QuestionType,
    WarningCode,
    dump_yaml,
    from_data,
    load_file,
)
from questionnaires.xlsform import write_xlsform

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "xlsform-corpus"
FORMS = sorted(p for p in CORPUS.glob("*.xls*")) if CORPUS.is_dir() else []
# The outcome of each corpus form, as the README states it: these import, the others are refused.
IMPORTED = {
    "odk_xlsform_offline_pyxform-clean.xlsx",
    "ona_choice_filter.xlsx",
    "ona_multi_lingual_form.xlsx",
    "pyxform_choice_filter_test.xlsx",
    "pyxform_field-list.xlsx",
}
PYXFORM_TYPES = {
    QuestionType.SINGLE: "select one",
    QuestionType.MULTIPLE: "select all that apply",
}


def xform(path: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert(xlsform=str(path), validate=False, pretty_print=True).xform


def without_version(text: str) -> str:
    """The documented normalisation: the version attribute a form without a version is given."""
    return re.sub(r' version="1"', "", text, count=1)


def pyxform_json(path: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_file_to_json(str(path), warnings=[])


def test_the_corpus_is_there():
    assert len(FORMS) == 20, f"expected the 20 forms of {CORPUS}"


@pytest.mark.parametrize("path", FORMS, ids=[p.name for p in FORMS])
def test_each_corpus_form_imports_whole_or_is_refused_with_reasons(path, tmp_path):
    try:
        result = load_file(path)
    except QuestionnaireError as exc:
        assert path.name not in IMPORTED, str(exc)
        assert exc.problems, "a refusal lists its problems"
        for problem in exc.problems:
            assert problem.file == str(path)
            # Every problem says where: the sheet and row (and the column where one is to blame).
            assert problem.where and re.match(
                r"(survey|choices|settings|entities|osm) (row \d+|sheet)", problem.where
            )
            assert problem.reason
        # Something named as unsupported or unknown is among the reasons (never a vague failure).
        assert {p.code for p in exc.problems} & {
            ErrorCode.UNSUPPORTED,
            ErrorCode.UNKNOWN_TYPE,
            ErrorCode.INVALID_FILE,
            ErrorCode.MISSING_FIELD,
        }
        return
    assert path.name in IMPORTED
    q = result.questionnaire
    _same_as_pyxform_json(q, pyxform_json(path))
    # XLSForm -> YAML text -> model -> XLSForm gives pyxform's XForm of the original.
    again = from_data(yaml.safe_load(dump_yaml(q))).questionnaire
    assert again == q
    out = write_xlsform(again, tmp_path / path.name.replace(".xls", ".xlsx").replace(".xlsxx", ".xlsx"))
    original, written = xform(path), xform(out)
    if "version" not in str(pyxform_json(path).get("version", "")):
        assert any(w.code is WarningCode.DEFAULTED and "version" in w.message for w in result.warnings)
        written = without_version(written)
    assert written == original


def test_the_readme_states_the_corpus_outcome():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"{len(IMPORTED)} of the {len(FORMS)} forms" in readme


def _labels(label, q) -> dict | str | None:
    """A model label the way pyxform's JSON has it: text alone without translations, else by language name."""
    if label is None or not label.texts:
        return None
    named = {(q.language_name(code) or "default"): text for code, text in label.texts}
    if set(named) == {"default"}:
        return named["default"]
    return named


def _pyxform_label(value, default_language: str):
    if isinstance(value, dict) and set(value) == {"default"} and default_language == "default":
        return value["default"]
    return value


def _same_as_pyxform_json(q, js: dict) -> None:
    """Every question, choice, relevant, constraint, required, hint and label of pyxform's JSON is in q."""
    default = js.get("default_language", "default")
    expected: list[tuple] = []

    def walk(children, group):
        for el in children:
            if el.get("name") == "meta" and el.get("type") == "group":
                continue
            if el["type"] == "group":
                expected.append(("group", el["name"], _pyxform_label(el.get("label"), default), group))
                walk(el.get("children", []), el["name"])
                continue
            bind = el.get("bind", {})
            choices = [(c["name"], _pyxform_label(c.get("label"), default)) for c in el.get("choices", [])]
            expected.append(
                (
                    el["type"],
                    el["name"],
                    _pyxform_label(el.get("label"), default),
                    group,
                    _pyxform_label(el.get("hint"), default),
                    bind.get("relevant"),
                    bind.get("constraint"),
                    str(bind.get("required", "")).lower() in ("yes", "true", "true()"),
                    choices,
                )
            )

    walk(js["children"], None)
    found: list[tuple] = []
    for section in q.sections:
        if section.wrapped:
            found.append(("group", section.code, _labels(section.label, q), None))
        group = section.code if section.wrapped else None
        for question in section.questions:
            choice_list = q.choice_list(question)
            found.append(
                (
                    PYXFORM_TYPES.get(question.type, question.type.value),
                    question.code,
                    _labels(question.label, q),
                    group,
                    _labels(question.hint, q),
                    question.relevant.text if question.relevant else None,
                    question.constraint.text if question.constraint else None,
                    question.required,
                    [(c.code, _labels(c.label, q)) for c in choice_list.choices] if choice_list else [],
                )
            )
    assert found == expected


# ----------------------------------------------------------------------- every column pyxform knows
def _workbook(path: Path, survey: list[list], choices: list[list] | None = None, settings=None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "survey"
    for row in survey:
        ws.append(row)
    ws = wb.create_sheet("choices")
    for row in choices or [["list_name", "name", "label"], ["yn", "1", "Có"], ["yn", "2", "Không"]]:
        ws.append(row)
    ws = wb.create_sheet("settings")
    for row in settings or [["form_title", "form_id", "version"], ["Phiếu", "phieu", "3"]]:
        ws.append(row)
    wb.save(path)
    return path


VALUES = {
    "required": "yes",
    "relevant": "1 = 1",
    "relevance": "1 = 1",
    "constraint": ". != '9'",
    "calculation": "1 + 1",
    "calculate": "1 + 1",
    "choice_filter": "name != '9'",
    "appearance": "minimal",
    "read_only": "yes",
    "readonly": "yes",
    "default": "1",
    "repeat_count": "2",
    "count": "2",
    "jr:count": "2",
    "parameters": "randomize=true",
    "trigger": "${q}",
    "image": "a.png",
    "big-image": "b.png",
    "audio": "a.mp3",
    "video": "a.mp4",
    "autoplay": "audio",
    "rows": "3",
}


def _outcome(path: Path, tmp_path: Path, column: str) -> str:
    """Load ``path``: 'refused' (a message names the column) or 'kept' (the written workbook gives the
    original's XForm); pyxform's own refusal of the original is 'pyxform refuses'."""
    try:
        original = xform(path)
    except (PyXFormError, ValueError, KeyError, TypeError, AttributeError):
        original = None
    try:
        q = load_file(path).questionnaire
    except QuestionnaireError as exc:
        return "refused" if column in str(exc) or original is None else f"refused without naming it: {exc}"
    if original is None:
        return "pyxform refuses"
    out = write_xlsform(q, tmp_path / "again.xlsx")
    written = xform(out)
    assert written == original, column
    return "kept"


SURVEY_COLUMNS = sorted(
    {*aliases.survey_header, *MultipleChoiceQuestion.get_slot_names()}
    - {"type", "name", "label", "children", "choices", "parent", "extra_data", "sms_field", "command", "tag"}
)


@pytest.mark.parametrize("column", SURVEY_COLUMNS)
def test_every_survey_column_is_carried_kept_or_refused(column, tmp_path):
    value = VALUES.get(column, "x")
    path = _workbook(
        tmp_path / "f.xlsx",
        [["type", "name", "label", column], ["select_one yn", "q", "Câu", value], ["text", "t", "Ghi", None]],
    )
    outcome = _outcome(path, tmp_path, column)
    assert outcome in ("kept", "refused", "pyxform refuses"), outcome


SETTINGS_COLUMNS = sorted(
    {*aliases.settings_header, *Survey.get_slot_names()}
    - {"form_title", "form_id", "version", "title", "id_string", "children", "name", "type", "parent"}
)


@pytest.mark.parametrize("column", SETTINGS_COLUMNS)
def test_every_setting_is_carried_kept_or_refused(column, tmp_path):
    value = {"default_language": "Tiếng Việt (vi)", "style": "pages", "instance_name": "concat('a', ${q})"}
    path = _workbook(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["select_one yn", "q", "Câu"]],
        settings=[
            ["form_title", "form_id", "version", column],
            ["Phiếu", "phieu", "3", value.get(column, "x")],
        ],
    )
    outcome = _outcome(path, tmp_path, column)
    assert outcome in ("kept", "refused", "pyxform refuses"), outcome


CHOICE_COLUMNS = sorted(
    {*aliases.list_header, *Option.get_slot_names()} - {"list_name", "list name", "name", "label"}
)


@pytest.mark.parametrize("column", [*CHOICE_COLUMNS, "state"])
def test_every_choice_column_is_carried_kept_or_refused(column, tmp_path):
    value = VALUES.get(column, "x")
    path = _workbook(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["select_one yn", "q", "Câu"]],
        choices=[
            ["list_name", "name", "label", column],
            ["yn", "1", "Có", value],
            ["yn", "2", "Không", value],
        ],
    )
    outcome = _outcome(path, tmp_path, column)
    assert outcome in ("kept", "refused", "pyxform refuses"), outcome


def test_pass_through_columns_and_settings_are_kept_in_the_model(tmp_path):
    path = _workbook(
        tmp_path / "f.xlsx",
        [
            ["type", "name", "label", "image", "bind::odk:length", "guidance_hint", "notes"],
            ["begin_group", "g", "Nhóm", None, None, None, None],
            ["text", "q", "Câu", "a.png", "1", "Hỏi chậm", "ghi chú"],
            ["end_group", None, None, None, None, None, None],
        ],
        settings=[
            ["form_title", "form_id", "version", "instance_name", "style"],
            ["P", "p", "1", "${q}", "pages"],
        ],
    )
    result = load_file(path)
    q = result.questionnaire
    question = q.question("q")
    assert dict(question.extra) == {"media::image": "a.png", "bind::odk:length": "1", "notes": "ghi chú"}
    assert question.guidance_hint.vi == "Hỏi chậm"
    assert dict(q.settings) == {"instance_name": "${q}", "style": "pages"}
    assert q.sections[0].appearance is None  # no field-list invented
    warned = [w for w in result.warnings if w.code is WarningCode.PASSED_THROUGH]
    assert len(warned) == 1 and "bind::odk:length" in str(warned[0])
    assert xform(write_xlsform(q, tmp_path / "again.xlsx")) == xform(path)


# ------------------------------------------------------------------------------- aliases and quirks
def test_aliases_pyxform_accepts_read_the_same(tmp_path):
    plain = _workbook(
        tmp_path / "plain.xlsx",
        [
            ["type", "name", "label::English (en)", "relevant", "constraint", "required"],
            ["select_one yn", "a", "A", None, None, "yes"],
            ["integer", "b", "B", "${a} = '1'", ". < 26", None],
        ],
        choices=[["list_name", "name", "label::English (en)"], ["yn", "1", "Có"], ["yn", "2", "Không"]],
        settings=[["form_title", "form_id", "version"], ["T", "t", "1"]],
    )
    aliased = _workbook(
        tmp_path / "aliased.xlsx",
        [
            ["type", "name", "label:English (en)", "bind:relevant", "bind:constraint", "bind:required"],
            ["select one from yn", "a", "A", None, None, "TRUE"],
            ["int", "b", "B", "${a} = ‘1’", ". < 26", None],
        ],
        choices=[["list name", "name", "label:English (en)"], ["yn", "1", "Có"], ["yn", "2", "Không"]],
        settings=[["title", "id_string", "version"], ["T", "t", "1"]],
    )
    a, b = load_file(plain), load_file(aliased)
    assert a.questionnaire.question("b").constraint.text == ". < 26"
    assert b.questionnaire == a.questionnaire
    curly = [w for w in b.warnings if w.code is WarningCode.CURLY_QUOTES]
    assert [w.where for w in curly] == ["survey row 3, column 'bind:relevant'"]


def test_an_xls_workbook_is_read_like_an_xlsx(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    sheets = {
        "survey": [
            ["type", "name", "label"],
            ["select_one yn", "q", "Câu hỏi"],
            ["text", "y_kien", "Ý kiến"],
        ],
        "choices": [["list_name", "name", "label"], ["yn", "1", "Có"], ["yn", "2", "Không"]],
        "settings": [
            ["form_title", "form_id", "version", "default_language"],
            ["Phiếu", "p", "2", "Tiếng Việt (vi)"],
        ],
    }
    for name, rows in sheets.items():
        ws = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                ws.write(r, c, value)
    path = tmp_path / "phieu.xls"
    book.save(str(path))
    q = load_file(path).questionnaire
    assert (q.id, q.version, q.languages) == ("p", "2", ("vi",))
    assert q.question("q").label.vi == "Câu hỏi" and q.choice_lists["yn"].codes == ("1", "2")


def test_a_label_showing_an_unknown_name_is_an_error(tmp_path):
    path = _workbook(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["text", "ten", "Tên"], ["note", "n", "Chào ${ten}, ${khong_co}"]],
    )
    with pytest.raises(QuestionnaireError) as info:
        load_file(path)
    assert info.value.code is ErrorCode.UNKNOWN_REFERENCE and info.value.where == "survey row 3"
    assert "${khong_co}" in str(info.value)


def test_choices_from_a_file_beside_the_workbook(tmp_path):
    (tmp_path / "xa.csv").write_text(
        "name,label,huyen\ntra-xuan,Thị trấn Trà Xuân,tb\ntra-son,Xã Trà Sơn,tb\n"
    )
    path = _workbook(
        tmp_path / "f.xlsx",
        [["type", "name", "label"], ["select_one_from_file xa.csv", "xa", "Xã"]],
    )
    q = load_file(path).questionnaire
    cl = q.choice_list(q.question("xa"))
    assert cl.file == "xa.csv" and cl.codes == ("tra-xuan", "tra-son")
    assert cl.choices[0].label.vi == "Thị trấn Trà Xuân" and dict(cl.choices[0].extra) == {"huyen": "tb"}
    out = tmp_path / "out"
    out.mkdir()
    written = write_xlsform(q, out / "f.xlsx")
    assert (out / "xa.csv").exists() and load_file(written).questionnaire == q
    assert xform(written) == xform(path)
    (tmp_path / "xa.csv").unlink()
    with pytest.raises(QuestionnaireError) as info:
        load_file(path)
    assert "xa.csv" in str(info.value) and info.value.where == "survey row 2, column 'type'"


# ------------------------------------------------------------------- an imported form runs end to end
@pytest.mark.db
def test_an_imported_multilingual_form_runs_a_campaign(app, client, make_campaign, tmp_path):
    """A real form with no Vietnamese, a group and top-level questions: frozen in a campaign, served to
    the kiosk in its languages, answered, stored as sent and exported."""
    from conftest import submission
    from sqlalchemy import select

    from survey.db import session_scope
    from survey.exports import export_campaign
    from survey.models import Campaign, Response

    path = CORPUS / "ona_multi_lingual_form.xlsx"
    q = load_file(path).questionnaire
    campaign_id, tokens = make_campaign(path)
    definition = client.get(f"/api/v1/kiosk/{tokens['tra-xuan']}/definition").get_json()["questionnaire"]
    assert definition["languages"] == ["English", "Swahili", "French"]
    first = definition["sections"][0]["questions"][0]
    assert first["label"]["Swahili"] == "Jina la muulizwaji" and first["label"]["vi"] == "Name of respondent"
    answers = {"resp_name": "Amina", "age": 34, "sex_resp": "2", "Fruits": ["apple", "mango"]}
    body = submission(q, tokens["tra-xuan"], answers, unit="tra-xuan")
    reply = client.post("/api/v1/responses", json=body)
    assert reply.status_code == 201, reply.get_json()
    with app.app_context(), session_scope() as session:
        row = session.scalars(select(Response).where(Response.instance_id == body["instance_id"])).one()
        assert row.answers == {"resp_name": "Amina", "age": 34, "sex_resp": "2", "Fruits": ["apple", "mango"]}
        out = tmp_path / "du-lieu.xlsx"
        assert export_campaign(session, session.get(Campaign, campaign_id), out) == 1
    sheet = openpyxl.load_workbook(out, read_only=True).worksheets[0]
    rows = [[c for c in r] for r in sheet.iter_rows(values_only=True)]
    header, values = rows[0], dict(zip(rows[0], rows[1], strict=False))
    assert {"resp_name", "age", "sex_resp", "Fruits"} <= set(header)
    assert (values["resp_name"], values["sex_resp"], values["age"]) == ("Amina", 2, 34)
