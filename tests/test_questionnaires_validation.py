"""Every error code of the loader, each shown on a small definition written next to its assertion."""

from __future__ import annotations

import textwrap

import pytest

from questionnaires import ErrorCode, QuestionnaireError, WarningCode, from_data, load_file
from questionnaires.loader import DEFINITIONS_DIR, read_yaml

LIKERT = [{"code": k, "label": f"Mức {k}"} for k in range(1, 6)]


def minimal() -> dict:
    """A small valid definition; each test changes one thing."""
    return {
        "id": "thu",
        "version": "1",
        "title": "Phiếu thử",
        "choices": {"likert5": [dict(c) for c in LIKERT]},
        "sections": [
            {
                "code": "s1",
                "label": "Phần 1",
                "questions": [
                    {"code": "q1", "type": "single", "choices": "likert5", "label": "Câu 1"},
                    {"code": "q2", "type": "single", "choices": "likert5", "label": "Câu 2"},
                ],
            }
        ],
        "scoring": {
            "method": "share_satisfied",
            "index": {"code": "chi_so", "label": "Chỉ số", "criteria": ["q1", "q2"]},
        },
    }


def load_text(tmp_path, text: str, name: str = "thu.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_file(path)


def error_of(raw: dict) -> QuestionnaireError:
    with pytest.raises(QuestionnaireError) as info:
        from_data(raw, "thu.yaml")
    return info.value


def test_the_minimal_definition_is_valid():
    result = from_data(minimal())
    assert result.warnings == []
    assert result.questionnaire.item_codes == ("q1", "q2")


def test_every_message_opens_in_vietnamese_then_keeps_the_english_detail():
    phrases = [code.vi for code in ErrorCode]
    assert len(set(phrases)) == len(ErrorCode) and all(p.strip() for p in phrases)
    raw = minimal()
    raw["sections"][0]["questions"][1]["code"] = "q1"
    err = error_of(raw).problems[0]
    assert err.reason == "item code 'q1' is used twice (also at item q1)"
    assert str(err) == f"thu.yaml: item q1: mã bị trùng — {err.reason} [duplicate-item]"
    unknown = QuestionnaireError(ErrorCode.NOT_FOUND, "no questionnaire with id 'x'")
    assert str(unknown) == "không tìm thấy — no questionnaire with id 'x' [not-found]"


# ------------------------------------------------------------------------------------ invalid-file
def test_invalid_yaml_names_file_line_and_column(tmp_path):
    with pytest.raises(QuestionnaireError) as info:
        load_text(tmp_path, "id: thu\ntitle: {vi: Phiếu, en: Form\n")
    err = info.value
    assert err.code is ErrorCode.INVALID_FILE
    assert err.file.endswith("thu.yaml")
    assert err.where.startswith("line ")
    assert "not valid YAML" in str(err) and "\n" not in str(err)


def test_an_unquoted_flow_string_with_a_comma_breaks_the_yaml(tmp_path):
    # Why every flow-style string in the shipped files is quoted.
    with pytest.raises(QuestionnaireError) as info:
        load_text(
            tmp_path,
            """\
            id: thu
            version: "1"
            title: Phiếu
            sections:
              - {code: s1, label: {vi: Phần 1: chung}, questions: []}
            """,
        )
    assert info.value.code is ErrorCode.INVALID_FILE


def test_an_empty_file_and_a_missing_file(tmp_path):
    with pytest.raises(QuestionnaireError) as info:
        load_text(tmp_path, "")
    assert info.value.code is ErrorCode.INVALID_FILE and "empty" in str(info.value)
    with pytest.raises(QuestionnaireError) as info:
        load_file(tmp_path / "khong-co.yaml")
    assert info.value.code is ErrorCode.INVALID_FILE and "not found" in str(info.value)


def test_an_unsupported_file_type(tmp_path):
    path = tmp_path / "phieu.csv"
    path.write_text("type,name\n", encoding="utf-8")
    with pytest.raises(QuestionnaireError) as info:
        load_file(path)
    assert info.value.code is ErrorCode.INVALID_FILE
    assert ".csv" in str(info.value)


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "thu.yaml"
    path.write_bytes("title: Phiếu".encode("utf-16"))
    with pytest.raises(QuestionnaireError) as info:
        load_file(path)
    assert info.value.code is ErrorCode.INVALID_FILE


# ----------------------------------------------------------------------------------- missing-field
def test_missing_version():
    raw = minimal()
    del raw["version"]
    err = error_of(raw)
    assert err.code is ErrorCode.MISSING_FIELD
    assert "'version' is required" in str(err)


def test_a_section_without_questions():
    raw = minimal()
    raw["sections"].append({"code": "s2", "label": "Phần 2", "questions": []})
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.MISSING_FIELD, "section s2")


def test_no_scoring_index():
    raw = minimal()
    del raw["scoring"]["index"]
    assert error_of(raw).code is ErrorCode.MISSING_FIELD


# --------------------------------------------------------------------------------------- bad-value
def test_a_misspelt_key_is_refused_with_a_suggestion():
    raw = minimal()
    raw["sections"][0]["questions"][1]["relevnt"] = "${q1} = 1"
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.BAD_VALUE, "item q2")
    assert "unknown key 'relevnt'; did you mean 'relevant'?" in str(err)


def test_a_label_in_an_unknown_language():
    raw = minimal()
    raw["sections"][0]["label"] = {"vi": "Phần 1", "fr": "Partie 1"}
    err = error_of(raw)
    assert err.code is ErrorCode.BAD_VALUE and "fr" in str(err)


def test_two_questions_with_the_same_role():
    raw = minimal()
    raw["choices"]["linh_vuc"] = [{"code": "dat_dai", "label": "Đất đai"}]
    raw["sections"][0]["questions"] += [
        {"code": "lv1", "type": "single", "choices": "linh_vuc", "label": "Lĩnh vực", "role": "stratum"},
        {"code": "lv2", "type": "single", "choices": "linh_vuc", "label": "Lĩnh vực", "role": "stratum"},
    ]
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.BAD_VALUE, "item lv2")
    assert "'lv1'" in str(err)


def test_a_required_note_and_a_role_on_a_text_question():
    raw = minimal()
    raw["sections"][0]["questions"].append({"code": "n", "type": "note", "label": "Lưu ý", "required": True})
    assert error_of(raw).code is ErrorCode.BAD_VALUE
    raw = minimal()
    raw["sections"][0]["questions"].append({"code": "t", "type": "text", "label": "Ghi", "role": "stratum"})
    assert "must be single choice" in str(error_of(raw))


def test_a_form_without_vietnamese_loads_with_a_warning_and_shows_its_first_language():
    raw = minimal()
    raw["languages"] = ["en"]
    raw["title"] = "Test form"
    for section in raw["sections"]:
        section["label"] = {"en": "Part"}
        for question in section["questions"]:
            question["label"] = {"en": "Question"}
    for items in raw["choices"].values():
        for choice in items:
            choice["label"] = {"en": "Option"}
    raw["scoring"]["index"]["label"] = {"en": "Index"}
    result = from_data(raw)
    assert [w.code for w in result.warnings] == [WarningCode.NO_VIETNAMESE]
    q = result.questionnaire
    assert q.languages == ("en",) and q.title.vi == "Test form" and q.title.text("vi") is None


def test_a_label_in_a_language_the_form_does_not_list():
    raw = minimal()
    raw["sections"][0]["label"] = {"vi": "Phần", "fr": "Partie"}
    err = error_of(raw)
    assert err.code is ErrorCode.BAD_VALUE and "unknown language(s) ['fr']" in str(err)


# ------------------------------------------------------------------------------------ unknown-type
def test_an_unknown_question_type():
    raw = minimal()
    raw["sections"][0]["questions"].append({"code": "gps", "type": "geopoint", "label": "Vị trí"})
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.UNKNOWN_TYPE, "item gps")
    assert "'geopoint'" in str(err) and "single" in str(err)


# ---------------------------------------------------------------------------------- duplicate-item
def test_a_duplicate_item_names_both_places(tmp_path):
    with pytest.raises(QuestionnaireError) as info:
        load_text(
            tmp_path,
            """\
            id: thu
            version: "1"
            title: Phiếu
            sections:
              - code: s1
                label: Phần 1
                questions:
                  - {code: tuoi, type: integer, label: "Tuổi"}
              - code: s2
                label: Phần 2
                questions:
                  - {code: tuoi, type: text, label: "Tuổi, lần nữa"}
            """,
        )
    err = info.value
    assert err.code is ErrorCode.DUPLICATE_ITEM
    assert "'tuoi' is used twice" in str(err)
    assert err.file.endswith("thu.yaml")


def test_an_item_named_like_an_earlier_section():
    raw = minimal()
    raw["sections"].append(
        {"code": "s2", "label": "Phần 2", "questions": [{"code": "s1", "type": "text", "label": "Ghi"}]}
    )
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.DUPLICATE_ITEM, "item s1")


def test_a_section_named_like_an_earlier_item():
    raw = minimal()
    raw["sections"].append(
        {"code": "q1", "label": "Phần 2", "questions": [{"code": "ghi", "type": "text", "label": "Ghi"}]}
    )
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.DUPLICATE_ITEM, "section q1")
    assert "also an item code" in str(err)


def test_two_sections_and_two_groups_with_one_code():
    raw = minimal()
    raw["sections"].append(
        {"code": "s1", "label": "Lại", "questions": [{"code": "ghi", "type": "text", "label": "Ghi"}]}
    )
    assert error_of(raw).code is ErrorCode.DUPLICATE_ITEM
    raw = minimal()
    raw["groups"] = [{"code": "dan", "label": "Dân"}, {"code": "dan", "label": "Dân"}]
    assert error_of(raw).code is ErrorCode.DUPLICATE_ITEM


# ---------------------------------------------------------------------------------------- bad-code
@pytest.mark.parametrize("code", ["1cau", "cau-1", "câu_1", "cau 1"])
def test_item_codes_must_be_names(code):
    raw = minimal()
    raw["sections"][0]["questions"][0]["code"] = code
    raw["scoring"]["index"]["criteria"] = ["q2"]
    err = error_of(raw)
    assert err.code is ErrorCode.BAD_CODE
    assert repr(code) in str(err)


def test_the_id_and_criterion_codes_must_be_names():
    raw = minimal()
    raw["id"] = "Thu Nghiem"
    assert error_of(raw).code is ErrorCode.BAD_CODE
    raw = minimal()
    raw["scoring"]["index"]["criteria"] = [{"code": "tiêu chí", "items": ["q1", "q2"]}]
    assert error_of(raw).code is ErrorCode.BAD_CODE


# ------------------------------------------------------------------------------- unknown-choice-list
def test_an_unknown_choice_list():
    raw = minimal()
    raw["sections"][0]["questions"][1]["choices"] = "likert7"
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.UNKNOWN_CHOICE_LIST, "item q2")
    assert "'likert7'" in str(err)


# -------------------------------------------------------------------------------- duplicate-choice
def test_a_choice_code_repeated_in_a_list():
    raw = minimal()
    raw["choices"]["likert5"].append({"code": 5, "label": "Lại 5"})
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.DUPLICATE_CHOICE, "choice list likert5, choice 5")


# ---------------------------------------------------------------------------------- missing-vi-label
def test_a_missing_vietnamese_label(tmp_path):
    with pytest.raises(QuestionnaireError) as info:
        load_text(
            tmp_path,
            """\
            id: thu
            version: "1"
            title: Phiếu
            languages: [vi, en]
            sections:
              - code: s1
                label: {vi: "Phần 1", en: "Part 1"}
                questions:
                  - {code: tuoi, type: integer, label: {en: "Age"}}
            """,
        )
    err = info.value
    assert (err.code, err.where) == (ErrorCode.MISSING_LABEL, "item tuoi")
    assert "Vietnamese label" in str(err)


def test_a_missing_title_and_an_empty_choice_label():
    raw = minimal()
    raw["title"] = "  "
    assert error_of(raw).code is ErrorCode.MISSING_LABEL
    raw = minimal()
    raw["choices"]["likert5"][0]["label"] = ""
    assert error_of(raw).code is ErrorCode.MISSING_LABEL


# ---------------------------------------------------------------------------------- bad-expression
@pytest.mark.parametrize(
    ("key", "text", "fragment"),
    [
        ("relevant", "${q1} = ", "relevant: unexpected 'end of expression'"),
        ("relevant", "eval(${q1})", "unknown function 'eval'"),
        ("constraint", ". >> 2", "constraint"),
        ("required", "${q1} = 'x", "required"),
        ("relevant", "${q2} = 1", "refers to the item itself"),
        ("relevant", ". = 1", "cannot use '.'"),
    ],
)
def test_bad_expressions(key, text, fragment):
    raw = minimal()
    raw["sections"][0]["questions"][1][key] = text
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.BAD_EXPRESSION, "item q2")
    assert fragment in str(err)


def test_an_expression_that_reads_a_note():
    raw = minimal()
    raw["sections"][0]["questions"].insert(0, {"code": "luu_y", "type": "note", "label": "Lưu ý"})
    raw["sections"][0]["questions"][2]["relevant"] = "${luu_y} = 1"
    assert "a note that has no value" in str(error_of(raw))


def test_a_bad_gate_expression():
    raw = minimal()
    raw["scoring"]["index"] = {
        "code": "chi_so",
        "label": "Chỉ số",
        "elements": [{"code": "e1", "label": "Yếu tố", "gate": "${q1} =", "criteria": ["q1", "q2"]}],
    }
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.BAD_EXPRESSION, "scoring element e1")
    assert str(err).startswith("thu.yaml: scoring element e1: biểu thức không hợp lệ — gate:")


# ------------------------------------------------------------------------------- unknown-reference
@pytest.mark.parametrize("key", ["relevant", "constraint", "required"])
def test_an_expression_naming_an_unknown_item(key):
    raw = minimal()
    raw["sections"][0]["questions"][1][key] = "${q9} = 1"
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.UNKNOWN_REFERENCE, "item q2")
    assert f"{key if key != 'required' else 'required_if'} refers to unknown item ${{q9}}" in str(err)


def test_a_forward_reference_is_allowed_but_a_section_relevant_must_name_real_items():
    raw = minimal()
    raw["sections"][0]["questions"][0]["relevant"] = "${q2} != ''"
    assert from_data(raw).questionnaire.question("q1").relevant.references == {"q2"}
    raw = minimal()
    raw["sections"][0]["relevant"] = "${khong_co} = 1"
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.UNKNOWN_REFERENCE, "section s1")


def test_a_gate_naming_an_unknown_item():
    raw = minimal()
    raw["scoring"]["index"]["gate"] = None
    raw["scoring"]["index"] = {
        "code": "chi_so",
        "label": "Chỉ số",
        "fields": [
            {
                "code": "dich_vu",
                "label": "Dịch vụ",
                "gate": "${da_thuc_hien} = 1",
                "elements": [{"code": "e1", "label": "Yếu tố", "criteria": ["q1"]}],
            }
        ],
    }
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.UNKNOWN_REFERENCE, "scoring field dich_vu")


# ----------------------------------------------------------------------------------- unknown-group
def with_groups() -> dict:
    raw = minimal()
    raw["groups"] = [{"code": "lanh_dao", "label": "Lãnh đạo"}, {"code": "nguoi_dan", "label": "Người dân"}]
    raw["choices"]["nhom"] = [
        {"code": "lanh_dao", "label": "Lãnh đạo"},
        {"code": "nguoi_dan", "label": "Dân"},
    ]
    raw["sections"][0]["questions"].insert(
        0, {"code": "nhom", "type": "single", "choices": "nhom", "role": "group", "label": "Nhóm"}
    )
    return raw


def test_groups_are_valid_when_declared():
    raw = with_groups()
    raw["sections"][0]["questions"][1]["groups"] = ["lanh_dao"]
    raw["scoring"]["group_weights"] = {"lanh_dao": 1, "nguoi_dan": 2}
    q = from_data(raw).questionnaire
    assert q.question("q1").groups == ("lanh_dao",)
    assert dict(q.scoring.group_weights) == {"lanh_dao": 1.0, "nguoi_dan": 2.0}


def test_an_undeclared_group_on_a_question_a_weight_and_a_group_option():
    raw = with_groups()
    raw["sections"][0]["questions"][1]["groups"] = "can_bo"
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.UNKNOWN_GROUP, "item q1")
    raw = with_groups()
    raw["scoring"]["group_weights"] = {"can_bo": 1}
    assert error_of(raw).code is ErrorCode.UNKNOWN_GROUP
    raw = with_groups()
    raw["choices"]["nhom"].append({"code": "khach", "label": "Khách"})
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.UNKNOWN_GROUP, "item nhom")


def test_groups_used_without_a_group_question():
    raw = with_groups()
    raw["sections"][0]["questions"][0]["role"] = None
    raw["sections"][0]["groups"] = ["nguoi_dan"]
    err = error_of(raw)
    assert err.code is ErrorCode.UNKNOWN_GROUP and "role 'group'" in str(err)


def test_a_question_cannot_widen_its_sections_groups():
    raw = with_groups()
    raw["sections"].append(
        {
            "code": "s2",
            "label": "Phần 2",
            "groups": ["nguoi_dan"],
            "questions": [{"code": "g", "type": "text", "label": "Ghi", "groups": ["lanh_dao"]}],
        }
    )
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.UNKNOWN_GROUP, "item g")


# ---------------------------------------------------------------------------- scoring-unknown-item
def test_scoring_refers_to_a_missing_item():
    raw = minimal()
    raw["scoring"]["index"]["criteria"] = ["q1", "q3"]
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.SCORING_UNKNOWN_ITEM, "scoring criterion q3")
    assert "'q3'" in str(err)


# ------------------------------------------------------------------------------------- bad-scoring
def points(**criterion) -> dict:
    raw = minimal()
    raw["choices"]["abcd"] = [{"code": c, "label": c} for c in ("A", "B", "C", "D", "KB")]
    raw["sections"][0]["questions"] = [{"code": "q1", "type": "single", "choices": "abcd", "label": "Câu 1"}]
    raw["scoring"] = {
        "method": "points",
        "valid": ["A", "B", "C", "D"],
        "values": {"A": 1, "B": 0.6, "C": 0.2, "D": 0},
        "index": {
            "code": "diem",
            "label": "Điểm",
            "criteria": [{"item": "q1", "max_points": 2, **criterion}],
        },
    }
    return raw


def test_the_points_method_is_valid_with_values_and_max_points():
    q = from_data(points()).questionnaire
    assert q.scoring.criteria[0].max_points == 2.0
    assert dict(q.scoring.values) == {"A": 1.0, "B": 0.6, "C": 0.2, "D": 0.0}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda r: r["scoring"].update(method="median"), "unknown method 'median'"),
        (lambda r: r["scoring"].update(values={}), "needs option 'values'"),
        (lambda r: r["scoring"]["index"]["criteria"][0].pop("max_points"), "max_points on every criterion"),
        (lambda r: r["scoring"].update(values={"A": 1, "B": 0.6, "C": 0.2}), "D of item 'q1' have no value"),
        (lambda r: r["scoring"].update(values={"A": 1.5, "B": 1, "C": 0, "D": 0}), "fraction in [0, 1]"),
        (lambda r: r["scoring"].update(valid=["1", "2"]), "no option of item 'q1'"),
        (lambda r: r["scoring"].update(method="share_satisfied"), "'positive' code must also be 'valid'"),
        (lambda r: r["scoring"].update(valid=[]), "'valid' must list at least one answer code"),
        (lambda r: r["scoring"].update(decimals="hai"), "'decimals' must be a whole number"),
        (lambda r: r["scoring"].update(scale=[5, 1]), "'scale' must be [min, max]"),
        (lambda r: r["scoring"]["index"].update(gate="${q1} = 'A'"), "the index cannot have a gate"),
        (lambda r: r["scoring"]["index"]["criteria"][0].update(weight=-1), "weight must be a number >= 0"),
        (lambda r: r["scoring"]["index"].update(elements=[]), "exactly one of"),
        (lambda r: r["scoring"]["index"]["criteria"].append("q1"), "node code 'q1' is used twice"),
        (lambda r: r["scoring"]["index"].update(criteria=[]), "'criteria' is empty"),
    ],
)
def test_bad_scoring(change, fragment):
    raw = points()
    change(raw)
    err = error_of(raw)
    assert err.code is ErrorCode.BAD_SCORING, err
    assert fragment in str(err)


def test_a_text_item_cannot_be_scored():
    raw = minimal()
    raw["sections"][0]["questions"].append({"code": "ghi", "type": "text", "label": "Ghi"})
    raw["scoring"]["index"]["criteria"].append("ghi")
    err = error_of(raw)
    assert (err.code, err.where) == (ErrorCode.BAD_SCORING, "scoring criterion ghi")


def test_a_criterion_cannot_contain_an_element():
    raw = minimal()
    raw["scoring"]["index"] = {
        "code": "chi_so",
        "label": "Chỉ số",
        "criteria": [{"item": "q1", "elements": [{"code": "e", "label": "E", "criteria": ["q2"]}]}],
    }
    assert error_of(raw).code is ErrorCode.BAD_VALUE  # 'elements' is not a criterion key


def test_an_element_cannot_contain_a_field():
    raw = minimal()
    raw["scoring"]["index"] = {
        "code": "chi_so",
        "label": "Chỉ số",
        "elements": [
            {"code": "e", "label": "E", "fields": [{"code": "f", "label": "F", "criteria": ["q1"]}]}
        ],
    }
    err = error_of(raw)
    assert err.code is ErrorCode.BAD_SCORING and "cannot contain fields" in str(err)


# --------------------------------------------------------------------------------------- warnings
def test_warnings_are_collected_not_printed(capsys):
    raw = minimal()
    raw["languages"] = ["vi", "en"]
    raw["title"] = {"vi": "Phiếu thử", "en": "Test form"}
    raw["choices"]["khong_dung"] = [{"code": 1, "label": {"vi": "Một", "en": "One"}}]
    raw["sections"][0]["questions"].append(
        {"code": "q3", "type": "single", "choices": "likert5", "label": {"vi": "Câu 3", "en": "Q3"}}
    )
    result = from_data(raw, "thu.yaml")
    codes = [w.code for w in result.warnings]
    assert codes.count(WarningCode.MISSING_EN_LABEL) == 9  # section, q1, q2, 5 choices, index
    assert WarningCode.UNUSED_CHOICE_LIST in codes
    unscored = [w for w in result.warnings if w.code is WarningCode.UNSCORED_LIKERT]
    assert [w.where for w in unscored] == ["item q3"]
    assert str(unscored[0]).startswith("thu.yaml: item q3: ")
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_a_vietnamese_only_definition_has_no_english_warnings():
    assert from_data(minimal()).warnings == []


# ------------------------------------------------------------------------------ shipped definitions
@pytest.mark.parametrize("qid", ["sipas-2017", "sipas-2023", "par-xa-2023"])
def test_breaking_a_shipped_definition_is_caught(qid):
    raw = read_yaml(DEFINITIONS_DIR / f"{qid}.yaml")
    first = raw["scoring"]["index"]
    while "criteria" not in first:
        first = (first.get("fields") or first.get("elements"))[0]
    crit = first["criteria"][0]
    missing = "khong_ton_tai"
    if isinstance(crit, str):
        first["criteria"][0] = missing
    else:
        crit.pop("items", None)
        crit["item"] = missing
    err = error_of(raw)
    assert err.code is ErrorCode.SCORING_UNKNOWN_ITEM
