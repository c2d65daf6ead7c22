"""WTForms forms: a form class built from a Questionnaire (paper-form entry), and the admin forms.

:func:`questionnaire_form` works like wtforms-sqlalchemy's ``model_form``: a registry maps each
question type to a field factory, and the class is made with ``type(name, (base,), fields)``. The
fields only collect what was typed; the server-side rules (required, relevance, constraints, codes)
are :func:`survey.validation.validate_answers`, the same that judges kiosk and API submissions, and
its per-item errors are attached back to the fields with :meth:`QuestionnaireForm.apply_errors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import (
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget, TextInput
from wtforms.widgets import DateInput as DateWidget

from questionnaires import Question, Questionnaire, QuestionType

try:
    from wtforms import SelectChoice
except ImportError:  # WTForms < 3.3 takes (value, label) pairs
    SelectChoice = None

__all__ = [
    "CONVERTERS",
    "NoteField",
    "MultiCheckboxField",
    "QuestionnaireForm",
    "converts",
    "paper_entry_form",
    "questionnaire_form",
    "select_choices",
]

# ------------------------------------------------------------------------------------------- fields


def select_choices(pairs: Iterable[tuple[str, str]]) -> list[Any]:
    """Choices for a select, radio or checkbox field from ``(value, label)`` pairs."""
    if SelectChoice is None:
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]


class NoteField(Field):
    """A note of the questionnaire: text shown to the person, never an answer."""

    def __init__(self, label: str | None = None, **kwargs: Any):
        kwargs.setdefault("render_kw", {})
        super().__init__(label, **kwargs)

    def __call__(self, **kwargs: Any) -> Markup:
        return Markup('<p class="note" id="{}">{}</p>').format(self.id, self.label.text)

    def process(self, formdata, data=None, extra_filters=None):  # noqa: ANN001 - WTForms' signature
        self.data = None
        self.raw_data = []
        self.process_errors = []


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes (a ``multiple`` question)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AnswerTextField(StringField):
    """What was typed, stripped; conversion and checking belong to validate_answers."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = valuelist[0].strip() if valuelist else ""


class NumberAnswerField(AnswerTextField):
    """A number typed as text; a decimal comma (Vietnamese usage: 2,5) is read as a point."""

    widget = TextInput()

    def __init__(self, label: str | None = None, *, decimal: bool = False, **kwargs: Any):
        render_kw = {"inputmode": "decimal" if decimal else "numeric", "autocomplete": "off"}
        render_kw.update(kwargs.pop("render_kw", None) or {})
        super().__init__(label, render_kw=render_kw, **kwargs)
        self.decimal = decimal

    def answer(self) -> str | None:
        text = (self.data or "").replace(" ", "").replace("\u00a0", "")
        if self.decimal and text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        return text or None


class DateAnswerField(AnswerTextField):
    widget = DateWidget()


# ------------------------------------------------------------------------------------- the builder

Converter = Callable[[Question, Questionnaire], Any]  # returns an unbound field, or None to skip
CONVERTERS: dict[QuestionType, Converter] = {}


def converts(*types: QuestionType) -> Callable[[Converter], Converter]:
    """Register a field factory for question types (the registry ``questionnaire_form`` uses)."""

    def register(func: Converter) -> Converter:
        for qtype in types:
            CONVERTERS[qtype] = func
        return func

    return register


def _common(question: Question) -> dict[str, Any]:
    return {
        "label": question.label.vi,
        "description": question.hint.vi if question.hint else "",
        "validators": [Optional()],
    }


def _choices(question: Question, questionnaire: Questionnaire) -> list[Any]:
    choice_list = questionnaire.choice_list(question)
    if choice_list is None:
        return []
    return select_choices((c.code, c.label.vi) for c in choice_list.choices)


@converts(QuestionType.SINGLE)
def _single(question: Question, questionnaire: Questionnaire) -> Any:
    return RadioField(choices=_choices(question, questionnaire), validate_choice=False, **_common(question))


@converts(QuestionType.MULTIPLE)
def _multiple(question: Question, questionnaire: Questionnaire) -> Any:
    return MultiCheckboxField(
        choices=_choices(question, questionnaire), validate_choice=False, coerce=str, **_common(question)
    )


@converts(QuestionType.INTEGER)
def _integer(question: Question, questionnaire: Questionnaire) -> Any:
    return NumberAnswerField(decimal=False, **_common(question))


@converts(QuestionType.DECIMAL)
def _decimal(question: Question, questionnaire: Questionnaire) -> Any:
    return NumberAnswerField(decimal=True, **_common(question))


@converts(QuestionType.TEXT)
def _text(question: Question, questionnaire: Questionnaire) -> Any:
    return TextAreaField(render_kw={"rows": 3, "maxlength": 4000}, **_common(question))


@converts(QuestionType.DATE)
def _date(question: Question, questionnaire: Questionnaire) -> Any:
    return DateAnswerField(**_common(question))


@converts(QuestionType.NOTE)
def _note(question: Question, questionnaire: Questionnaire) -> Any:
    return NoteField(question.label.vi)


@converts(QuestionType.START, QuestionType.END, QuestionType.TODAY)
def _metadata(question: Question, questionnaire: Questionnaire) -> None:
    return None  # filled by the device, never typed in


class QuestionnaireForm(FlaskForm):
    """Base of the generated forms: knows its questionnaire and maps fields back to item codes."""

    questionnaire: Questionnaire
    item_attrs: Mapping[str, str]  # item code -> form attribute

    def item_field(self, code: str) -> Field | None:
        """The field of an item code (None for metadata, which has no field)."""
        attr = self.item_attrs.get(code)
        return self[attr] if attr else None

    def answers(self) -> dict[str, Any]:
        """The answers typed, keyed by item code, in the API's value types; unanswered items absent."""
        out: dict[str, Any] = {}
        for question in self.questionnaire.questions():
            field = self.item_field(question.code)
            if field is None or isinstance(field, NoteField):
                continue
            if isinstance(field, NumberAnswerField):
                value: Any = field.answer()
            elif isinstance(field, MultiCheckboxField):
                value = [str(v) for v in (field.data or []) if str(v).strip()]
            else:
                value = field.data
                if isinstance(value, str):
                    value = value.strip()
            if value not in (None, "", []):
                out[question.code] = value
        return out

    def apply_errors(self, errors: Iterable[Any], messages: Mapping[str, str] | None = None) -> list[str]:
        """Attach per-item errors (``ItemError``) to their fields; return the ones that fit no field."""
        leftover: list[str] = []
        for error in errors:
            field = self.item_field(error.item) if error.item else None
            text = (messages or {}).get(error.code) or error.message
            if field is None:
                leftover.append(error.message)
            elif text not in field.errors:
                field.errors = [*field.errors, text] if isinstance(field.errors, list) else [text]
        return leftover


def _reserved(base: type) -> set[str]:
    return {name for name in dir(base)} | {"csrf_token", "meta"}


def questionnaire_form(
    questionnaire: Questionnaire,
    *,
    base: type[QuestionnaireForm] = QuestionnaireForm,
    converters: Mapping[QuestionType, Converter] | None = None,
    name: str | None = None,
) -> type[QuestionnaireForm]:
    """Build a form class with one field per question (metadata skipped), in questionnaire order.

    Fields are named by item code; a code that would shadow an attribute of ``base`` (``data``,
    ``errors``, a field of ``base``…) is named ``item__<code>`` instead — see ``item_attrs``.
    """
    registry = {**CONVERTERS, **(converters or {})}
    reserved = _reserved(base)
    fields: dict[str, Any] = {}
    attrs: dict[str, str] = {}
    for question in questionnaire.questions():
        try:
            converter = registry[question.type]
        except KeyError:
            raise ValueError(f"no form field for question type {question.type!r} ({question.code})") from None
        unbound = converter(question, questionnaire)
        if unbound is None:
            continue
        attr = question.code
        if attr in reserved or attr.startswith("_"):
            attr = f"item__{question.code}"
        fields[attr] = unbound
        attrs[question.code] = attr
    fields["questionnaire"] = questionnaire
    fields["item_attrs"] = attrs
    class_name = name or re.sub(r"\W", "_", f"{questionnaire.id}_{questionnaire.version}_Form")
    return type(class_name, (base,), fields)


# ------------------------------------------------------------------------------ paper data entry


class PaperEntryBase(QuestionnaireForm):
    """What the enumerator adds to a paper form's answers: the unit, the date on the paper, the id."""

    entry_unit = SelectField("Đơn vị (xã, thị trấn)", validators=[InputRequired("Chọn đơn vị.")])
    entry_date = DateAnswerField(
        "Ngày ghi trên phiếu",
        description="Không bắt buộc. Để trống nếu phiếu không ghi ngày.",
        validators=[Optional()],
    )
    # A fresh UUID per blank form: a double click or a resent POST stores the form once.
    entry_instance_id = HiddenField()


def paper_entry_form(questionnaire: Questionnaire) -> type[QuestionnaireForm]:
    """The data-entry form for paper questionnaires: the unit and date, then every question."""
    return questionnaire_form(questionnaire, base=PaperEntryBase, name=f"PaperEntry_{questionnaire.id}")


# ------------------------------------------------------------------------------------ admin forms

_REQUIRED = "Trường này bắt buộc."


class LoginForm(FlaskForm):
    username = StringField(
        "Tên đăng nhập",
        validators=[DataRequired(_REQUIRED), Length(max=64)],
        render_kw={
            "autocomplete": "username",
            "autocapitalize": "none",
            "spellcheck": "false",
            "autofocus": True,
        },
    )
    password = PasswordField(
        "Mật khẩu",
        validators=[DataRequired(_REQUIRED), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class ConfirmForm(FlaskForm):
    """An empty form: only the CSRF token, for action buttons (log out, revoke, deactivate)."""


class UserCreateForm(FlaskForm):
    username = StringField(
        "Tên đăng nhập",
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
        validators=[
            DataRequired(_REQUIRED),
            Length(min=3, max=64, message="Từ 3 đến 64 ký tự."),
            Regexp(r"^[A-Za-z0-9_.-]+$", message="Chỉ dùng chữ không dấu, số và . _ -"),
        ],
    )
    full_name = StringField("Họ và tên", validators=[Optional(), Length(max=200)])
    role = SelectField(
        "Vai trò",
        choices=select_choices(
            [
                ("enumerator", "Điều tra viên (nhập phiếu giấy)"),
                ("analyst", "Chuyên viên phân tích (đợt khảo sát, tải dữ liệu)"),
                ("admin", "Quản trị (toàn quyền)"),
            ]
        ),
        default="enumerator",
    )
    password = PasswordField(
        "Mật khẩu",
        validators=[DataRequired(_REQUIRED), Length(min=10, max=256, message="Ít nhất 10 ký tự.")],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Nhập lại mật khẩu",
        validators=[DataRequired(_REQUIRED), EqualTo("password", "Hai mật khẩu không khớp.")],
        render_kw={"autocomplete": "new-password"},
    )


class PasswordResetForm(FlaskForm):
    password = PasswordField(
        "Mật khẩu mới",
        validators=[DataRequired(_REQUIRED), Length(min=10, max=256, message="Ít nhất 10 ký tự.")],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Nhập lại mật khẩu mới",
        validators=[DataRequired(_REQUIRED), EqualTo("password", "Hai mật khẩu không khớp.")],
        render_kw={"autocomplete": "new-password"},
    )


class VietDecimalField(StringField):
    """A decimal number typed the Vietnamese way (0,05) or with a point (0.05); shown with a comma."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        text = valuelist[0].strip().replace(" ", "")
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        if not re.fullmatch(r"\d+(\.\d+)?|\.\d+", text):
            raise ValueError("Nhập một số, ví dụ 0,05.")
        self.data = float(text)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data:g}".replace(".", ",")


class CampaignForm(FlaskForm):
    name = StringField(
        "Tên đợt khảo sát",
        validators=[DataRequired(_REQUIRED), Length(max=200)],
        render_kw={"placeholder": "Ví dụ: Khảo sát SIPAS năm 2024 — huyện Trà Bồng"},
    )
    questionnaire = SelectField("Phiếu khảo sát", validators=[InputRequired(_REQUIRED)])
    unit_list = SelectField("Danh sách đơn vị", validators=[InputRequired(_REQUIRED)])
    period_start = DateAnswerField("Từ ngày", validators=[Optional()])
    period_end = DateAnswerField("Đến ngày", validators=[Optional()])
    margin_of_error = VietDecimalField(
        "Sai số cho phép e",
        default=0.05,
        description="Cỡ mẫu mỗi đơn vị n = N / (1 + N·e²); thường dùng e = 0,05.",
        validators=[
            InputRequired(_REQUIRED),
            NumberRange(min=0.001, max=0.5, message="e phải trong khoảng 0,001 đến 0,5."),
        ],
        render_kw={"inputmode": "decimal"},
    )


class KioskForm(FlaskForm):
    unit = SelectField("Đơn vị", validators=[InputRequired(_REQUIRED)])
    counter = StringField(
        "Quầy / máy (không bắt buộc)",
        validators=[Optional(), Length(max=100)],
        render_kw={"placeholder": "Ví dụ: Quầy 1"},
    )


class IntegerInput(IntegerField):
    """An optional whole number >= 0, with a Vietnamese message; "1.200" (thousands dot) reads 1200."""

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        text = valuelist[0].strip().replace(".", "").replace(" ", "").replace("\u00a0", "")
        if not (text.isascii() and text.isdigit()):
            self.data = None
            raise ValueError("Nhập một số nguyên không âm.")
        self.data = int(text)
