"""XLSForm in and out: round trips, pyxform acceptance, and errors that name the sheet and row."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyxform import xls2xform

from questionnaires import (
    ErrorCode,
    QuestionnaireError,
    QuestionType,
    Role,
    WarningCode,
    from_data,
    list_questionnaires,
    load_file,
    load_questionnaire,
    to_dict,
)
from questionnaires.xlsform import read_xlsform, write_xlsform

SHIPPED = list_questionnaires()
VI = "label::Tiếng Việt (vi)"
EN = "label::English (en)"
XF = "{http://www.w3.org/2002/xforms}"


def workbook(tmp_path, name="phieu.xlsx", **sheets: list[list]) -> str:
    """Write the given sheets (lists of rows, header first) as an .xlsx file."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    path = tmp_path / name
    wb.save(path)
    return str(path)


# The bare label columns of these forms are Vietnamese: settings say so, as XLSForm does.
SETTINGS = [
    ["form_title", "form_id", "version", "default_language"],
    ["Phiếu thử", "thu", "1", "Tiếng Việt (vi)"],
]
LIKERT = [["list_name", "name", "label"]] + [["likert5", k, f"Mức {k}"] for k in range(1, 6)]


def load_error(path) -> QuestionnaireError:
    with pytest.raises(QuestionnaireError) as info:
        load_file(path)
    return info.value


# ------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("qid", SHIPPED)
def test_yaml_to_xlsform_to_yaml_gives_an_equal_model(qid, tmp_path):
    q = load_questionnaire(qid)
    path = write_xlsform(q, tmp_path / f"{qid}.xlsx")
    result = load_file(path)
    assert result.questionnaire == q
    assert result.warnings == []
    assert to_dict(result.questionnaire) == to_dict(q)
    assert [p.name for p in tmp_path.iterdir()] == [f"{qid}.xlsx"]  # no temporary file left behind


@pytest.mark.parametrize("qid", SHIPPED)
def test_pyxform_accepts_the_written_form(qid, tmp_path):
    q = load_questionnaire(qid)
    path = write_xlsform(q, tmp_path / f"{qid}.xlsx")
    warnings: list[str] = []
    result = xls2xform.convert(str(path), warnings=warnings)
    assert warnings == []
    root = ET.fromstring(result.xform)
    instance = root.find(f".//{XF}instance/{XF}data")
    assert instance.get("id") == q.id
    assert instance.get("version") == q.version
    binds = {b.get("nodeset").rsplit("/", 1)[-1]: b for b in root.iter(f"{XF}bind")}
    for question in q.questions():
        bind = binds[question.code]
        assert (bind.get("required") == "true()") is question.required
        assert ("relevant" in bind.attrib) is (question.relevant is not None)
        if question.type.is_metadata:
            assert bind.get("{http://openrosa.org/javarosa}preloadParams") == question.type.value
    translations = {t.get("lang"): t for t in root.iter(f"{XF}translation")}
    assert set(translations) == {"Tiếng Việt (vi)", "English (en)"}
    texts = {v.text for v in translations["Tiếng Việt (vi)"].iter(f"{XF}value")}
    first = next(qn for qn in q.questions() if qn.type.is_answerable)
    assert first.label.vi in texts


def test_the_written_workbook_has_the_documented_sheets_and_columns(tmp_path):
    path = write_xlsform(load_questionnaire("par-xa-2023"), tmp_path / "par.xlsx")
    wb = openpyxl.load_workbook(path)
    try:
        assert wb.sheetnames == ["survey", "choices", "settings", "groups", "scoring"]
        survey = [c.value for c in wb["survey"][1]]
        assert survey[:4] == ["type", "name", VI, EN]
        assert {"required", "relevant", "sipas_role", "sipas_groups"} <= set(survey)
        rows = [[c.value for c in r] for r in wb["survey"].iter_rows(min_row=2)]
        nhom = next(r for r in rows if r[1] == "nhom")
        assert nhom[0] == "select_one nhom"
        assert nhom[survey.index("sipas_role")] == "group"
        settings = {h.value: v.value for h, v in zip(wb["settings"][1], wb["settings"][2], strict=True)}
        assert settings["form_id"] == "par-xa-2023"
        assert settings["default_language"] == "Tiếng Việt (vi)"
        scoring = [c.value for c in wb["scoring"][1]]
        index_row = {h: c.value for h, c in zip(scoring, wb["scoring"][2], strict=True)}
        assert index_row["level"] == "index"
        assert index_row["method"] == "points"
        assert index_row["values"] == "A=1 B=0.6 C=0.2 D=0"
        assert index_row["group_weights"] == "lanh_dao=0.5 nguoi_dan=0.5"
        sipas = next(r for r in wb["scoring"].iter_rows(min_row=2, values_only=True) if r[1] == "sipas_xa")
        assert sipas[scoring.index("items")] == "hl_1 hl_2 hl_3 hl_4 hl_5"
        assert sipas[scoring.index("parent")] == "hai_long"
        assert sipas[scoring.index("method")] == "share_satisfied"
        assert sipas[scoring.index("max_points")] == 2
    finally:
        wb.close()


def test_text_that_looks_like_a_formula_is_written_as_text(tmp_path):
    raw = to_dict(load_questionnaire("sipas-2017"))
    raw["sections"][-1]["questions"][0]["label"] = {"vi": '=HYPERLINK("http://x","Bấm")', "en": "+1"}
    q = from_data(raw).questionnaire
    path = write_xlsform(q, tmp_path / "f.xlsx")
    wb = openpyxl.load_workbook(path)
    try:
        cell = next(r[2] for r in wb["survey"].iter_rows(min_row=2) if r[1].value == "gop_y")
        assert cell.data_type == "s"
        assert cell.value.startswith("=HYPERLINK")
    finally:
        wb.close()
    assert load_file(path).questionnaire == q


def test_writing_into_a_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(QuestionnaireError) as info:
        write_xlsform(load_questionnaire("sipas-2017"), tmp_path / "khong-co" / "f.xlsx")
    assert info.value.code is ErrorCode.INVALID_FILE
    assert list(tmp_path.iterdir()) == []


def test_writing_over_an_existing_file_replaces_it(tmp_path):
    target = tmp_path / "f.xlsx"
    target.write_text("cũ", encoding="utf-8")
    write_xlsform(load_questionnaire("sipas-2023"), target)
    assert load_file(target).questionnaire.id == "sipas-2023"
    assert [p.name for p in tmp_path.iterdir()] == ["f.xlsx"]


# ------------------------------------------------------------------------------ hand-written forms
def test_a_hand_written_xlsform_is_read(tmp_path):
    path = workbook(
        tmp_path,
        survey=[
            ["type", "name", "label", "label::English (en)", "required", "relevant", "constraint"],
            ["start", "bat_dau"],
            ["begin group", "chung", "Thông tin chung", "General"],
            ["select_one  gioi", "gioi_tinh", "Giới tính", "Sex", "yes"],
            ["integer", "tuoi", "Tuổi", "Age", "TRUE", None, ". >= 15 and . <= 100"],
            ["end group"],
            ["select_one likert5", "hai_long", "Ông/Bà có hài lòng?", "Satisfied?", None, "${tuoi} >= 18"],
            ["end", "ket_thuc"],
        ],
        choices=[["list_name", "name", "label", "label::English (en)"], ["gioi", 1, "Nam", "Male"]]
        + [["gioi", 2.0, "Nữ", "Female"]]
        + [r + [f"Level {r[1]}"] for r in LIKERT[1:]],
        settings=[
            ["form_title", "form_id", "version", "default_language"],
            ["Phiếu thử", "thu", 2024, "Tiếng Việt (vi)"],
        ],
    )
    data = read_xlsform(path)
    assert data["sections"][0]["questions"][0]["_where"] == "survey row 2"
    result = load_file(path)
    q = result.questionnaire
    assert (q.id, q.version, q.title.vi) == ("thu", "2024", "Phiếu thử")
    # The bare label column is in the default language, as pyxform reads it.
    assert q.languages == ("vi", "en") and q.default_language == "vi"
    # Questions outside any group stay outside (no invented group): the kiosk shows them as pages.
    assert [(s.code, s.wrapped) for s in q.sections] == [
        ("_ngoai_nhom_1", False),
        ("chung", True),
        ("_ngoai_nhom_3", False),
    ]
    assert [qn.code for qn in q.sections[0].questions] == ["bat_dau"]
    assert [qn.code for qn in q.sections[1].questions] == ["gioi_tinh", "tuoi"]
    assert [qn.code for qn in q.sections[2].questions] == ["hai_long", "ket_thuc"]
    assert q.sections[1].appearance is None  # the group had none
    assert q.choice_lists["gioi"].codes == ("1", "2")
    assert q.question("gioi_tinh").label.en == "Sex"
    assert q.question("tuoi").required and q.question("tuoi").type is QuestionType.INTEGER
    assert q.question("tuoi").constraint.truthy({}, 40)
    assert not q.question("hai_long").relevant.truthy({"tuoi": 16})
    assert q.scoring is None


def test_a_form_without_settings_takes_its_id_from_the_file_name(tmp_path):
    path = workbook(
        tmp_path,
        name="phieu-xa.xlsx",
        survey=[["type", "name", "label"], ["text", "y_kien", "Ý kiến"]],
        settings=[["form_title", "version"], ["Phiếu", "1"]],
    )
    assert load_file(path).questionnaire.id == "phieu-xa"


# ------------------------------------------------------------------------------ errors name the row
def test_a_text_file_named_xlsx(tmp_path):
    path = tmp_path / "phieu.xlsx"
    path.write_text("type,name,label\ntext,a,A\n", encoding="utf-8")
    err = load_error(path)
    assert err.code is ErrorCode.INVALID_FILE
    assert "not a readable Excel .xlsx or .xls workbook" in str(err)
    assert "\n" not in str(err)


def test_a_workbook_without_a_survey_sheet(tmp_path):
    path = workbook(tmp_path, choices=LIKERT, settings=SETTINGS)
    err = load_error(path)
    assert err.code is ErrorCode.INVALID_FILE
    assert "no 'survey' sheet (sheets found: choices, settings)" in str(err)


def test_a_survey_sheet_without_a_type_column(tmp_path):
    path = workbook(tmp_path, survey=[["kieu", "name"], ["text", "a"]], settings=SETTINGS)
    err = load_error(path)
    assert (err.code, err.where) == (ErrorCode.MISSING_FIELD, "survey sheet")


def test_a_missing_version_and_title_get_defaults_with_warnings(tmp_path):
    path = workbook(
        tmp_path,
        survey=[["type", "name", "label"], ["text", "a", "A"]],
        settings=[["form_id"], ["thu"]],
    )
    result = load_file(path)
    assert (result.questionnaire.version, result.questionnaire.title.vi) == ("1", "thu")
    defaulted = [w for w in result.warnings if w.code is WarningCode.DEFAULTED]
    assert [w.where for w in defaulted] == ["settings row 2", "settings row 2"]
    assert "version '1'" in str(defaulted[0]) and "title is the form's id" in str(defaulted[1])


def test_a_duplicate_item_names_the_survey_row(tmp_path):
    path = workbook(
        tmp_path,
        survey=[
            ["type", "name", "label"],
            ["begin_group", "s1", "Phần 1"],
            ["text", "ghi_chu", "Ghi chú"],
            ["text", "ghi_chu", "Ghi chú nữa"],
            ["end_group"],
        ],
        settings=SETTINGS,
    )
    err = load_error(path)
    assert (err.code, err.where) == (ErrorCode.DUPLICATE_ITEM, "survey row 4")
    assert str(err) == (
        f"{path}: survey row 4: mã bị trùng — item code 'ghi_chu' is used twice (also at survey row 3) "
        "[duplicate-item]"
    )


@pytest.mark.parametrize(
    ("row", "code", "column", "fragment"),
    [
        (["select_one likert7", "q", "Câu"], ErrorCode.UNKNOWN_CHOICE_LIST, None, "'likert7'"),
        (["select_one", "q", "Câu"], ErrorCode.BAD_VALUE, "type", "needs one choice list name"),
        (["calculate", "q", "Câu"], ErrorCode.MISSING_FIELD, None, "needs a calculation"),
        (
            ["geopoint", "q", "Câu"],
            ErrorCode.UNKNOWN_TYPE,
            "type",
            "'geopoint' is not supported by the kiosk",
        ),
        (["text", "q", None, "Question"], ErrorCode.MISSING_LABEL, None, "Vietnamese label"),
        (["text", None, "Câu"], ErrorCode.MISSING_FIELD, "name", "name column is empty"),
        ([None, "q", "Câu"], ErrorCode.MISSING_FIELD, "type", "type column is empty"),
        (["text", "q", "Câu", None, "${khong_co} = 1"], ErrorCode.UNKNOWN_REFERENCE, None, "${khong_co}"),
        (["text", "q", "Câu", None, "${q1} ="], ErrorCode.BAD_EXPRESSION, None, "relevant"),
        (["text", "q", "Câu", None, None, "1 + 1"], ErrorCode.UNSUPPORTED, None, "a calculation on a text"),
        (["begin_group", "g", "Nhóm"], ErrorCode.UNSUPPORTED, "type", "nested groups are not supported"),
        (["begin repeat", "r", "Lặp"], ErrorCode.UNSUPPORTED, "type", "repeats are not supported"),
        (["select_one likert5 or_other", "q", "Câu"], ErrorCode.UNSUPPORTED, "type", "or_other"),
        (["end_group"], ErrorCode.BAD_VALUE, None, None),
    ],
)
def test_survey_errors_name_the_row(tmp_path, row, code, column, fragment):
    header = ["type", "name", "label", "label::English (en)", "relevant", "calculation"]
    path = workbook(
        tmp_path,
        survey=[
            header,
            ["begin_group", "s1", "Phần 1", "Part 1"],
            ["select_one likert5", "q1", "Câu 1", "Question 1"],
            row,
            ["end_group"],
        ],
        choices=LIKERT,
        settings=SETTINGS,
    )
    err = load_error(path)
    assert err.code is code
    if row != ["end_group"]:
        assert err.where == "survey row 4" + (f", column {column!r}" if column else "")
    if fragment:
        assert fragment in str(err)


def test_every_problem_is_reported_at_once_with_sheet_row_and_column(tmp_path):
    path = workbook(
        tmp_path,
        survey=[
            ["type", "name", "label", "relevant"],
            ["geopoint", "vi_tri", "Vị trí"],
            ["text", "a", "A", "${khong_co} = 1"],
            ["select_one khong_co", "b", "B"],
            ["image", "anh", "Ảnh"],
            ["text", "c", "C", "${vi_tri} != ''"],  # refers to a refused row: not reported again
        ],
        settings=SETTINGS,
    )
    err = load_error(path)
    assert [(p.code, p.where) for p in err.problems] == [
        (ErrorCode.UNKNOWN_TYPE, "survey row 2, column 'type'"),
        (ErrorCode.UNKNOWN_TYPE, "survey row 5, column 'type'"),
        (ErrorCode.UNKNOWN_CHOICE_LIST, "survey row 4"),
        (ErrorCode.UNKNOWN_REFERENCE, "survey row 3"),
    ]
    assert str(err).startswith("4 lỗi (4 problems):\n")


def test_a_group_that_is_never_closed(tmp_path):
    path = workbook(
        tmp_path,
        survey=[
            ["type", "name", "label"],
            ["text", "a", "A"],
            ["begin_group", "s", "Phần"],
            ["text", "b", "B"],
        ],
        settings=SETTINGS,
    )
    err = load_error(path)
    assert (err.code, err.where) == (ErrorCode.BAD_VALUE, "survey row 3")
    assert "no matching end_group" in str(err)


def test_any_language_is_read_by_its_tag_or_its_name(tmp_path):
    path = workbook(
        tmp_path,
        survey=[
            ["type", "name", "label::Français (fr)", "label::Hrê (hre)", "label::Swahili"],
            ["text", "a", "Question", "Câu (hre)", "Swali"],
        ],
        settings=[["form_id", "version", "form_title"], ["thu", "1", "Titre"]],
    )
    q = load_file(path).questionnaire
    assert q.languages == ("fr", "hre", "Swahili")
    assert q.question("a").label.texts == (("fr", "Question"), ("hre", "Câu (hre)"), ("Swahili", "Swali"))
    assert q.language_name("fr") == "Français (fr)" and q.language_name("Swahili") == "Swahili"


def test_a_duplicate_choice_names_the_choices_row(tmp_path):
    path = workbook(
        tmp_path,
        survey=[["type", "name", "label"], ["select_one likert5", "q1", "Câu 1"]],
        choices=[*LIKERT, ["likert5", 3, "Lại 3"]],
        settings=SETTINGS,
    )
    err = load_error(path)
    assert (err.code, err.where) == (ErrorCode.DUPLICATE_CHOICE, "choices row 7")


SCORING_HEADER = ["level", "code", "parent", "items", "label", "method", "values", "max_points"]


@pytest.mark.parametrize(
    ("rows", "code", "where", "fragment"),
    [
        ([["criterion", None, None, "q1 q9", None]], ErrorCode.SCORING_UNKNOWN_ITEM, "scoring row 3", "'q9'"),
        ([["criterion", None, "e9", "q1"]], ErrorCode.BAD_SCORING, "scoring row 3", "parent 'e9'"),
        ([["yeu_to", "e1", None, None, "E"]], ErrorCode.BAD_SCORING, "scoring row 3", "'yeu_to'"),
        ([["index", "lai", None, None, "Lại"]], ErrorCode.BAD_SCORING, "scoring row 3", "only one row"),
        (
            [["element", "e1", None, None, "E"], ["criterion", None, "e1", "q1", None, None, "A=1 B"]],
            ErrorCode.BAD_SCORING,
            "scoring row 4",
            "code=number pairs",
        ),
        (
            [["element", "e1", None, None, "E"], ["criterion", None, None, "q1"]],
            ErrorCode.BAD_SCORING,
            "scoring row 2",
            "exactly one of",
        ),
    ],
)
def test_scoring_errors_name_the_row(tmp_path, rows, code, where, fragment):
    path = workbook(
        tmp_path,
        survey=[["type", "name", "label"], ["select_one likert5", "q1", "Câu 1"]],
        choices=LIKERT,
        settings=SETTINGS,
        scoring=[SCORING_HEADER, ["index", "chi_so", None, None, "Chỉ số", "share_satisfied"], *rows],
    )
    err = load_error(path)
    assert (err.code, err.where) == (code, where)
    assert fragment in str(err)


def test_a_scoring_sheet_is_read(tmp_path):
    path = workbook(
        tmp_path,
        survey=[
            ["type", "name", "label", "sipas_role", "sipas_groups"],
            ["select_one nhom", "nhom", "Nhóm", "group"],
            ["select_one abcd", "q1", "Câu 1", None, "dan"],
        ],
        choices=[["list_name", "name", "label"], ["nhom", "dan", "Dân"], ["nhom", "can_bo", "Cán bộ"]]
        + [["abcd", c, c] for c in "ABCD"],
        settings=SETTINGS,
        groups=[["code", "label"], ["dan", "Người dân"], ["can_bo", "Cán bộ"]],
        scoring=[
            [*SCORING_HEADER, "valid", "positive", "group_weights", "min_n"],
            [
                "index",
                "diem",
                None,
                None,
                "Điểm",
                "points",
                "A=1 B=0.5 C=0.25 D=0",
                None,
                "A B C D",
                "",
                "dan=2",
            ]
            + [10],
            ["criterion", None, None, "q1", None, None, None, 3],
        ],
    )
    q = load_file(path).questionnaire
    assert [g.code for g in q.groups] == ["dan", "can_bo"]
    assert q.role_item(Role.GROUP).code == "nhom"
    assert q.question("q1").groups == ("dan",)
    sc = q.scoring
    assert dict(sc.values) == {"A": 1.0, "B": 0.5, "C": 0.25, "D": 0.0}
    assert dict(sc.group_weights) == {"dan": 2.0}
    assert sc.valid == ("A", "B", "C", "D") and sc.min_n == 10
    assert sc.criteria[0].max_points == 3.0
    assert sc.criteria[0].label.vi == "Câu 1"  # defaults to the item's label


_TEXT = st.text(
    alphabet=st.one_of(
        # A no-break space reads as a space, as pyxform reads cells.
        st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn"), blacklist_characters="\xa0"),
        st.sampled_from("ăâđêôơưĂÂĐÊÔƠƯàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ\n=+-@"),
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and s)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=_TEXT, label=_TEXT, choice=_TEXT, hint=_TEXT)
def test_any_text_survives_the_round_trip(tmp_path, title, label, choice, hint):
    raw = to_dict(load_questionnaire("sipas-2017"))
    raw["title"] = {"vi": title, "en": label}
    question = raw["sections"][0]["questions"][2]
    question["label"] = {"vi": label, "en": title}
    question["hint"] = {"vi": hint, "en": hint}
    raw["choices"]["gioi_tinh"][0]["label"] = {"vi": choice, "en": choice}
    q = from_data(raw).questionnaire
    path = write_xlsform(q, tmp_path / "h.xlsx")
    assert load_file(path).questionnaire == q
