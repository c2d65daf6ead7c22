"""The shipped definitions and unit lists: they load cleanly and say what methodology.md says."""

from __future__ import annotations

import pytest

from questionnaires import (
    ErrorCode,
    Level,
    Method,
    QuestionnaireError,
    QuestionType,
    Role,
    dump_yaml,
    from_data,
    list_questionnaires,
    list_unit_lists,
    load_file,
    load_questionnaire,
    load_units,
    to_dict,
)
from questionnaires.loader import DEFINITIONS_DIR, read_yaml

SHIPPED = ["par-xa-2023", "sipas-2017", "sipas-2023"]


def test_the_shipped_definitions_are_listed():
    assert list_questionnaires() == SHIPPED


@pytest.mark.parametrize("qid", SHIPPED)
def test_each_shipped_definition_loads_without_warnings(qid):
    result = load_file(DEFINITIONS_DIR / f"{qid}.yaml")
    assert result.warnings == []
    q = result.questionnaire
    assert q.id == qid
    # Vietnamese and English; the Trà Bồng forms also offer Cor, Hrê and Ca Dong, with no text yet.
    minority = ("cua", "hre", "sed") if qid != "sipas-2017" else ()
    assert q.languages == ("vi", "en", *minority)
    # Every user-facing text is bilingual, and no minority-language text is made up.
    labels = [q.title, *(s.label for s in q.sections), *(g.label for g in q.groups)]
    labels += [qn.label for qn in q.questions() if not qn.type.is_metadata]
    labels += [c.label for cl in q.choice_lists.values() for c in cl.choices]
    labels += [n.label for n in q.scoring.tree.walk()]
    assert all(lb.vi.strip() and lb.en and lb.en.strip() for lb in labels)
    assert all(lb.languages in (("vi", "en"), ("vi",)) for lb in labels)


@pytest.mark.parametrize("qid", SHIPPED)
def test_every_scored_item_exists_and_is_a_choice_question(qid):
    q = load_questionnaire(qid)
    codes = set(q.item_codes)
    for criterion in q.scoring.criteria:
        assert criterion.items
        for item in criterion.items:
            assert item in codes
            question = q.question(item)
            assert question.type is QuestionType.SINGLE
            assert set(q.choice_list(question).codes) & set(q.scoring.valid)
    for node in q.scoring.tree.walk():
        if node.gate is not None:
            assert node.gate.references <= codes


@pytest.mark.parametrize("qid", SHIPPED)
def test_dict_and_yaml_round_trips_give_an_equal_model(qid, tmp_path):
    q = load_questionnaire(qid)
    assert from_data(to_dict(q)).questionnaire == q
    path = tmp_path / f"{qid}.yaml"
    path.write_text(dump_yaml(q), encoding="utf-8")
    again = load_file(path)
    assert again.questionnaire == q
    assert again.warnings == []
    assert "Ông/Bà" in path.read_text(encoding="utf-8")  # Vietnamese kept as is, not escaped


# ----------------------------------------------------------------------------------------- sipas-2017
def test_sipas_2017_has_22_criteria_in_5_elements():
    q = load_questionnaire("sipas-2017")
    sc = q.scoring
    assert sc.method is Method.SHARE_SATISFIED
    assert sc.tree.code == "sipas"
    elements = sc.tree.children
    assert [e.level for e in elements] == [Level.ELEMENT] * 5
    assert {e.code: [c.code for c in e.children] for e in elements} == {
        "tiep_can": [f"tiep_can_{k}" for k in range(1, 5)],
        "thu_tuc": [f"thu_tuc_{k}" for k in range(1, 6)],
        "cong_chuc": [f"cong_chuc_{k}" for k in range(1, 7)],
        "ket_qua": [f"ket_qua_{k}" for k in range(1, 4)],
        "phan_anh": [f"phan_anh_{k}" for k in range(1, 5)],
    }
    assert len(sc.criteria) == 22
    assert sc.valid == ("1", "2", "3", "4", "5")
    assert sc.positive == ("4", "5")


# ----------------------------------------------------------------------------------------- sipas-2023
SIPAS_2023_TREE = {
    "chinh_sach": {
        "giai_trinh": ["giai_trinh_1", "giai_trinh_2"],
        "tham_gia": ["tham_gia_1", "tham_gia_2"],
        "chat_luong": [f"chat_luong_{k}" for k in range(1, 10)],
        "tac_dong": ["tac_dong_1", "tac_dong_2"],
    },
    "dich_vu": {
        "tiep_can": [f"tiep_can_{k}" for k in range(1, 5)],
        "thu_tuc": [f"thu_tuc_{k}" for k in range(1, 5)],
        "cong_chuc": [f"cong_chuc_{k}" for k in range(1, 6)],
        "ket_qua": [f"ket_qua_{k}" for k in range(1, 4)],
        "phan_anh": [f"phan_anh_{k}" for k in range(1, 4)],
    },
}


def test_sipas_2023_item_codes_by_field_and_element():
    q = load_questionnaire("sipas-2023")
    sc = q.scoring
    assert sc.method is Method.SHARE_SATISFIED
    assert sc.tree.code == "sipas"
    tree = {f.code: {e.code: [c.code for c in e.children] for e in f.children} for f in sc.tree.children}
    assert tree == SIPAS_2023_TREE
    assert [n.level for n in sc.tree.children] == [Level.FIELD, Level.FIELD]
    assert len(sc.criteria) == 34
    for criterion in sc.criteria:
        assert criterion.items == (criterion.code,)
        assert q.choice_list(q.question(criterion.code)).codes == ("1", "2", "3", "4", "5")


def test_sipas_2023_policy_groups_follow_the_2023_order():
    q = load_questionnaire("sipas-2023")
    groups = [
        "phát triển kinh tế - xã hội",
        "khám, chữa bệnh",
        "giáo dục phổ thông",
        "trật tự, an toàn xã hội",
        "giao thông đường bộ",
        "điện sinh hoạt",
        "nước sinh hoạt",
        "an sinh xã hội",
        "cải cách hành chính nhà nước",
    ]
    for k, name in enumerate(groups, start=1):
        assert name in q.question(f"chat_luong_{k}").label.vi
        assert name in q.question(f"quan_tam_{k}").label.vi
    interest = q.choice_list(q.question("quan_tam_1"))
    assert [c.label.vi for c in interest.choices] == ["Không quan tâm", "Quan tâm một chút", "Rất quan tâm"]


def test_sipas_2023_question_8_gates_the_service_field():
    q = load_questionnaire("sipas-2023")
    did, feedback = q.question("da_thuc_hien_tthc"), q.question("da_gop_y")
    assert [c.label.vi for c in q.choice_list(did).choices] == ["Đã từng / Có", "Chưa từng / Không có"]
    assert q.section_of("da_thuc_hien_tthc").label.vi.startswith("Câu 8")
    dich_vu = q.scoring.node("dich_vu")
    assert dich_vu.gate.references == {"da_thuc_hien_tthc"}
    assert q.scoring.node("phan_anh").gate.references == {"da_gop_y"}
    assert q.scoring.node("chinh_sach").gate is None

    never = {"da_thuc_hien_tthc": "2"}
    did_only = {"da_thuc_hien_tthc": "1", "da_gop_y": "2"}
    both = {"da_thuc_hien_tthc": "1", "da_gop_y": "1"}
    for element in dich_vu.children:
        for criterion in element.children:
            relevant = q.question(criterion.code).relevant
            assert relevant is not None
            assert not relevant.truthy(never)
            assert relevant.truthy(both)
            assert relevant.truthy(did_only) is (element.code != "phan_anh")
    for criterion in q.scoring.node("chinh_sach").criteria:
        assert q.question(criterion.code).relevant is None
    assert not feedback.relevant.truthy(never)
    assert dich_vu.gate.truthy(did_only) and not dich_vu.gate.truthy(never)


def test_sipas_2023_other_questions():
    q = load_questionnaire("sipas-2023")
    assert q.role_item(Role.STRATUM).code == "linh_vuc"
    # The procedure field is asked only of those who did a procedure (Câu 8 says yes)
    assert q.section_of("linh_vuc").code == "cau_8"
    assert q.question("linh_vuc").relevant.text == "${da_thuc_hien_tthc} = 1"
    for code in ("gioi_tinh", "do_tuoi", "dan_toc", "trinh_do", "nghe_nghiep"):
        assert q.section_of(code).code == "phan_a"
    assert q.question("kenh_tiep_nhan").type is QuestionType.MULTIPLE
    assert q.question("kenh_mong_muon").type is QuestionType.MULTIPLE
    submit = q.choice_list(q.question("hinh_thuc_nop_nhan"))
    assert [c.label.vi for c in submit.choices] == ["Trực tiếp", "Trực tuyến", "Cả hai hình thức"]
    expectations = [
        qn for qn in q.section_of("mong_doi_thu_tuc").questions if qn.code.startswith("mong_doi_")
    ]
    assert len(expectations) == 9
    assert [c.label.vi for c in q.choice_list(expectations[0]).choices] == ["Rất nhiều", "Nhiều", "Ít"]
    assert q.question("y_kien_khac").type is QuestionType.TEXT
    assert [qn.type for qn in q.questions() if qn.type.is_metadata] == [QuestionType.START, QuestionType.END]


# ---------------------------------------------------------------------------------------- par-xa-2023
def test_par_xa_is_a_template_with_two_respondent_groups():
    q = load_questionnaire("par-xa-2023")
    text = (DEFINITIONS_DIR / "par-xa-2023.yaml").read_text(encoding="utf-8")
    assert "TEMPLATE" in text.split("id: par-xa-2023")[0]
    assert "MẪU" in q.description.vi and "TEMPLATE" in q.description.en
    assert [g.code for g in q.groups] == ["lanh_dao", "nguoi_dan"]
    group_item = q.role_item(Role.GROUP)
    assert q.choice_list(group_item).codes == ("lanh_dao", "nguoi_dan")
    answerable = [qn for qn in q.questions() if qn.type.is_answerable]
    assert 20 <= len(answerable) <= 35
    # Sections of one group are also hidden by skip logic, so ODK shows the same form.
    for section in q.sections:
        if section.groups:
            assert section.relevant.truthy({"nhom": section.groups[0]})
            other = ({"lanh_dao", "nguoi_dan"} - set(section.groups)).pop()
            assert not section.relevant.truthy({"nhom": other})


def test_par_xa_scoring_is_points_with_a_commune_sipas_criterion():
    q = load_questionnaire("par-xa-2023")
    sc = q.scoring
    assert sc.method is Method.POINTS
    assert dict(sc.values) == {"A": 1.0, "B": 0.6, "C": 0.2, "D": 0.0}
    assert "KB" not in sc.valid
    assert set(sc.group_weights) == {"lanh_dao", "nguoi_dan"}
    assert [e.code for e in sc.tree.children] == [
        "chi_dao",
        "van_ban",
        "thu_tuc_hc",
        "bo_may",
        "cong_chuc_xa",
        "tai_chinh",
        "chinh_quyen_so",
        "hai_long",
    ]
    for criterion in sc.criteria:
        assert criterion.max_points and criterion.max_points > 0
    assert sum(c.max_points for c in sc.criteria) == pytest.approx(20.0)
    sipas = sc.node("sipas_xa")
    assert sipas.method is Method.SHARE_SATISFIED
    assert sipas.items == ("hl_1", "hl_2", "hl_3", "hl_4", "hl_5")
    assert all(q.question(i).choices == "likert5" for i in sipas.items)
    assert all(q.section_of(i).groups == ("nguoi_dan",) for i in sipas.items)
    for criterion in sc.criteria:
        if criterion is not sipas:
            assert q.choice_list(q.question(criterion.items[0])).codes == ("A", "B", "C", "D", "KB")


# ----------------------------------------------------------------------------------------- lookup
def test_load_by_id_and_by_path_agree():
    assert load_questionnaire("sipas-2023") == load_questionnaire(DEFINITIONS_DIR / "sipas-2023.yaml")


def test_an_unknown_id_is_not_found_and_names_the_known_ones():
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaire("sipas-1999")
    assert info.value.code is ErrorCode.NOT_FOUND
    assert "sipas-2017" in str(info.value)


def test_extra_definition_folders_come_first(tmp_path, monkeypatch):
    raw = read_yaml(DEFINITIONS_DIR / "sipas-2017.yaml")
    raw["id"] = "huyen-2024"
    raw["version"] = "2024.1"
    (tmp_path / "huyen-2024.yaml").write_text(dump_yaml(from_data(raw).questionnaire), encoding="utf-8")
    monkeypatch.setenv("SIPAS_QUESTIONNAIRE_PATH", str(tmp_path))
    assert "huyen-2024" in list_questionnaires()
    assert load_questionnaire("huyen-2024").version == "2024.1"


# ----------------------------------------------------------------------------------------- units
TRA_BONG = [
    "Thị trấn Trà Xuân",
    "Xã Trà Giang",
    "Xã Trà Thủy",
    "Xã Trà Hiệp",
    "Xã Trà Bình",
    "Xã Trà Phú",
    "Xã Trà Lâm",
    "Xã Trà Tân",
    "Xã Trà Sơn",
    "Xã Trà Bùi",
    "Xã Trà Thanh",
    "Xã Trà Phong",
    "Xã Trà Xinh",
    "Xã Sơn Trà",
    "Xã Hương Trà",
    "Xã Trà Tây",
]


def test_tra_bong_has_16_units_with_unique_codes():
    units = load_units("tra-bong-2023")
    assert list_unit_lists() == ["tra-bong-2023"]
    assert len(units) == 16
    assert len(set(units.codes)) == 16
    assert [u.name for u in units] == TRA_BONG
    assert units.get("tra-xuan").kind == "thi_tran"
    assert [u.kind for u in units].count("xa") == 15
    assert units.valid_from == "2023-01-01"


def test_a_unit_list_with_a_repeated_code_is_refused(tmp_path):
    path = tmp_path / "u.yaml"
    path.write_text(
        """
id: u
title: Thử
valid_from: 2023-01-01
units:
  - {code: tra-xuan, name: Thị trấn Trà Xuân}
  - {code: tra-xuan, name: Xã Trà Giang}
""",
        encoding="utf-8",
    )
    with pytest.raises(QuestionnaireError) as info:
        load_units(path)
    assert info.value.code is ErrorCode.DUPLICATE_ITEM
    assert info.value.where == "unit tra-xuan"
