"""The WTForms form built from a questionnaire: one field per question type, answers back as the API's."""

from __future__ import annotations

import pytest
from flask import Flask
from runtime_helpers import questionnaire as runtime_questionnaire
from werkzeug.datastructures import MultiDict
from wtforms import RadioField, StringField, TextAreaField

from questionnaires import QuestionType, from_data, load_questionnaire
from survey.errors import ItemError
from survey.forms import (
    CONVERTERS,
    DateAnswerField,
    MultiCheckboxField,
    NoteField,
    NumberAnswerField,
    paper_entry_form,
    questionnaire_form,
)
from survey.validation import validate_answers

EVERY_TYPE = {
    "id": "moi-loai",
    "version": "1",
    "title": "Phiếu có mọi loại câu hỏi",
    "choices": {
        "likert5": [{"code": k, "label": label} for k, label in enumerate(
            ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"], start=1)],
        "kenh": [{"code": "tv", "label": "Truyền hình"}, {"code": "loa", "label": "Loa phát thanh"},
                 {"code": "mang", "label": "Mạng xã hội"}],
    },
    "sections": [
        {
            "code": "s1",
            "label": "Phần một",
            "questions": [
                {"code": "bat_dau", "type": "start"},
                {"code": "hom_nay", "type": "today"},
                {"code": "loi_dan", "type": "note", "label": "Xin đọc kỹ trước khi trả lời."},
                {"code": "hai_long", "type": "single", "choices": "likert5",
                 "label": "Ông/Bà hài lòng không?", "hint": "Chọn một mức.", "required": True},
                {"code": "kenh", "type": "multiple", "choices": "kenh", "label": "Kênh thông tin"},
                {"code": "so_lan", "type": "integer", "label": "Số lần đi lại",
                 "constraint": ". >= 1 and . <= 20", "constraint_message": "Từ 1 đến 20 lần."},
                {"code": "so_gio", "type": "decimal", "label": "Số giờ chờ"},
                {"code": "gop_y", "type": "text", "label": "Góp ý"},
                {"code": "ngay", "type": "date", "label": "Ngày nộp hồ sơ"},
                {"code": "data", "type": "text", "label": "Một mã trùng thuộc tính của Form"},
                {"code": "ket_thuc", "type": "end"},
            ],
        }
    ],
    "scoring": {"method": "share_satisfied",
                "index": {"code": "i", "label": "Chỉ số", "criteria": ["hai_long"]}},
}  # fmt: skip
Q = from_data(EVERY_TYPE).questionnaire


@pytest.fixture
def ctx():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", WTF_CSRF_ENABLED=False)
    with app.test_request_context(method="POST"):
        yield app


def test_the_registry_covers_every_question_type():
    assert set(CONVERTERS) == set(QuestionType)


def test_every_question_type_maps_to_its_field(ctx):
    form = questionnaire_form(Q)(formdata=None)
    kinds = {code: type(form.item_field(code)) for code in Q.item_codes if form.item_field(code) is not None}
    assert kinds == {
        "loi_dan": NoteField,
        "hai_long": RadioField,
        "kenh": MultiCheckboxField,
        "so_lan": NumberAnswerField,
        "so_gio": NumberAnswerField,
        "gop_y": TextAreaField,
        "ngay": DateAnswerField,
        "data": TextAreaField,
    }
    # Metadata is filled by the device, never typed in.
    assert form.item_field("bat_dau") is None and form.item_field("ket_thuc") is None
    assert form.item_field("hom_nay") is None
    single = form.item_field("hai_long")
    assert single.label.text == "Ông/Bà hài lòng không?" and single.description == "Chọn một mức."
    assert [(c.value, c.label) for c in single.choices] == [
        ("1", "Rất không hài lòng"),
        ("2", "Không hài lòng"),
        ("3", "Bình thường"),
        ("4", "Hài lòng"),
        ("5", "Rất hài lòng"),
    ]
    assert [c.value for c in form.item_field("kenh").choices] == ["tv", "loa", "mang"]
    assert form.item_field("so_lan").decimal is False and form.item_field("so_gio").decimal is True
    assert 'inputmode="numeric"' in form.item_field("so_lan")()
    assert 'inputmode="decimal"' in form.item_field("so_gio")()
    assert 'type="date"' in form.item_field("ngay")()
    assert 'type="checkbox"' in form.item_field("kenh")()
    note = form.item_field("loi_dan")()
    assert "Xin đọc kỹ trước khi trả lời." in note and "<input" not in note
    # A code that would shadow Form.data gets an attribute (and input name) of its own.
    assert form.item_attrs["data"] == "item__data"
    assert form.item_field("data").name == "item__data"
    assert isinstance(form.data, dict)


def test_answers_come_back_as_the_api_takes_them(ctx):
    formdata = MultiDict(
        [
            ("hai_long", "4"),
            ("kenh", "mang"),
            ("kenh", "tv"),
            ("so_lan", " 3 "),
            ("so_gio", "1,5"),  # a Vietnamese decimal comma
            ("gop_y", "  Cán bộ tận tình <3  "),
            ("ngay", "2024-05-02"),
            ("item__data", ""),
            ("loi_dan", "ignored"),
        ]
    )
    form = questionnaire_form(Q)(formdata=formdata)
    answers = form.answers()
    assert answers == {
        "hai_long": "4",
        "kenh": ["mang", "tv"],
        "so_lan": "3",
        "so_gio": "1.5",
        "gop_y": "Cán bộ tận tình <3",
        "ngay": "2024-05-02",
    }
    clean, errors = validate_answers(Q, answers)
    assert errors == []
    assert clean == {
        "hai_long": "4",
        "kenh": ["tv", "mang"],
        "so_lan": 3,
        "so_gio": 1.5,
        "gop_y": "Cán bộ tận tình <3",
        "ngay": "2024-05-02",
    }


def test_blank_fields_are_unanswered(ctx):
    form = questionnaire_form(Q)(formdata=MultiDict([("so_lan", "  "), ("gop_y", "")]))
    assert form.answers() == {}


def test_validation_errors_land_next_to_their_fields(ctx):
    form = questionnaire_form(Q)(formdata=MultiDict([("so_lan", "25"), ("so_gio", "hai")]))
    _, errors = validate_answers(Q, form.answers())
    leftover = form.apply_errors(
        [*errors, ItemError(None, "malformed", "Phiếu hỏng.")], {"required": "Bắt buộc."}
    )
    assert form.item_field("hai_long").errors == ["Bắt buộc."]
    assert form.item_field("so_lan").errors == ["Từ 1 đến 20 lần."]
    assert form.item_field("so_gio").errors == ["Câu 'so_gio' cần một số."]
    assert not form.item_field("gop_y").errors
    assert leftover == ["Phiếu hỏng."]
    # What was typed stays in the inputs.
    assert 'value="25"' in form.item_field("so_lan")()


def test_a_converter_can_be_replaced(ctx):
    form = questionnaire_form(Q, converters={QuestionType.TEXT: lambda q, _: StringField(q.label.vi)})(
        formdata=None
    )
    assert isinstance(form.item_field("gop_y"), StringField)
    assert not isinstance(form.item_field("gop_y"), TextAreaField)


@pytest.mark.parametrize("qid", ["sipas-2017", "sipas-2023", "par-xa-2023"])
def test_shipped_questionnaires_build_a_paper_entry_form(ctx, qid):
    q = load_questionnaire(qid)
    form = paper_entry_form(q)(formdata=None)
    for question in q.questions():
        field = form.item_field(question.code)
        if question.type.is_metadata:
            assert field is None
        else:
            assert field is not None and field.label.text == question.label.vi
    assert {"entry_unit", "entry_date", "entry_instance_id"} <= set(form._fields)


# ------------------------------------------------------------- calculates and defaults on the paper page
def test_a_calculate_has_no_field_and_is_computed_on_save(ctx):
    q = runtime_questionnaire(
        {
            "id": "tinh-toan",
            "version": "1",
            "title": "Phiếu có câu tính toán và giá trị mặc định",
            "choices": {
                "likert5": EVERY_TYPE["choices"]["likert5"],
                "kenh": EVERY_TYPE["choices"]["kenh"],
            },
            "sections": [
                {
                    "code": "s1",
                    "label": "Phần một",
                    "questions": [
                        {"code": "c1", "type": "single", "choices": "likert5", "label": "Câu 1",
                         "default": "3"},
                        {"code": "c2", "type": "single", "choices": "likert5", "label": "Câu 2"},
                        {"code": "kenh", "type": "multiple", "choices": "kenh", "label": "Kênh",
                         "default": "tv mang"},
                        {"code": "so_lan", "type": "integer", "label": "Số lần", "default": "1"},
                        {"code": "gop_y", "type": "text", "label": "Góp ý", "default": "Không có"},
                        {"code": "diem", "type": "calculate", "calculation": "(${c1} + ${c2}) div 2"},
                    ],
                }
            ],
        }
    )  # fmt: skip
    blank = paper_entry_form(q)(formdata=None)
    assert blank.item_field("diem") is None and "diem" not in blank.item_attrs
    # The defaults are on the blank form…
    assert blank.item_field("c1").data == "3"
    assert [opt.data for opt in blank.item_field("c1") if opt.checked] == ["3"]
    assert blank.item_field("kenh").data == ["tv", "mang"]
    assert blank.item_field("so_lan").data == "1" and 'value="1"' in blank.item_field("so_lan")()
    assert blank.item_field("gop_y").data == "Không có"
    # …and what the clerk posts replaces them; the calculate is computed when the form is saved.
    posted = paper_entry_form(q)(formdata=MultiDict([("c1", "4"), ("c2", "5"), ("so_lan", "2")]))
    answers = posted.answers()
    assert answers == {"c1": "4", "c2": "5", "so_lan": "2"}
    kept, errors = validate_answers(q, {**answers, "diem": "1"})
    assert errors == [] and kept["diem"] == "4.5"
    # A posted form without an item (a radio left alone, an input disabled) has no answer for it.
    assert paper_entry_form(q)(formdata=MultiDict([("c2", "1")])).answers() == {"c2": "1"}
