"""WTForms forms built from a Questionnaire: the questionnaire -> form builder and the paper-entry form.

:func:`questionnaire_form` works like wtforms-sqlalchemy's ``model_form``: a registry maps each
question type to a field factory, and the class is made with ``type(name, (base,), fields)``. The
fields only collect what was typed; the server-side rules (required, relevance, constraints, codes)
are :func:`survey.validation.validate_answers`, the same that judges kiosk and API submissions, and
its per-item errors are attached back to the fields with :meth:`QuestionnaireForm.apply_errors`.
The staff pages' own forms (login, accounts, campaigns) are in ``survey.admin.forms``.
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
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget, TextInput
from wtforms.widgets import DateInput as DateWidget

from questionnaires import Question, Questionnaire, QuestionType, default_answer

try:
    from wtforms import SelectChoice
except ImportError:  # WTForms < 3.3 takes (value, label) pairs
    SelectChoice = None

__all__ = [
    "CONVERTERS",
    "DateAnswerField",
    "NoteField",
    "MultiCheckboxField",
    "QuestionnaireForm",
    "BlankMarksField",
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

    def process(self, formdata, data=None, extra_filters=None):
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
    common = {
        "label": question.label.vi,
        "description": question.hint.vi if question.hint else "",
        "validators": [Optional()],
    }
    default = default_answer(question)
    if default is not None:  # shown on a blank form; what is posted replaces it
        common["default"] = default if question.type.has_choices else str(default)
    return common


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


@converts(QuestionType.CALCULATE)
def _calculate(question: Question, questionnaire: Questionnaire) -> None:
    return None  # computed from the answers when the form is saved (survey.validation), never typed in


class QuestionnaireForm(FlaskForm):
    """Base of the generated forms: knows its questionnaire and maps fields back to item codes."""

    questionnaire: Questionnaire
    item_attrs: Mapping[str, str]  # item code -> form attribute

    def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
        """Fill the fields; a default is shown on a blank form only, never read into a posted one.

        A posted form that lacks an item (a radio left untouched, an input disabled by the skip logic)
        has no answer for it, whatever its default.
        """
        super().process(formdata, obj, data=data, extra_filters=extra_filters, **kwargs)
        posted = self.meta.wrap_formdata(self, formdata)
        if posted is None:
            return
        for attr in self.item_attrs.values():
            field = self[attr]
            if field.default is not None and field.name not in posted:
                field.data = [] if isinstance(field, SelectMultipleField) else None

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
    """Build a form class with one field per question (metadata and calculates skipped), in order.

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


class BlankMarksField(SelectMultipleField):
    """The items marked "để trống / không đọc được" on a paper form (one checkbox per item, in the items)."""

    def pre_validate(self, form: Any) -> None:
        pass  # the item codes are checked by survey.validation.check_blank_items

    def marked(self, code: str) -> bool:
        """Whether the item ``code`` is marked blank."""
        return code in (self.data or [])


class PaperEntryBase(QuestionnaireForm):
    """What the enumerator adds to a paper form's answers: the unit, the date, the serial, the blank marks."""

    entry_unit = SelectField("Đơn vị (xã, thị trấn)", validators=[InputRequired("Chọn đơn vị.")])
    entry_date = DateAnswerField(
        "Ngày ghi trên phiếu",
        description="Không bắt buộc. Để trống nếu phiếu không ghi ngày.",
        validators=[Optional()],
    )
    entry_serial = StringField(
        "Số phiếu",
        description="Số in hoặc ghi trên phiếu giấy (không bắt buộc); không trùng trong cùng một đơn vị.",
        validators=[Optional()],
        render_kw={"autocomplete": "off", "maxlength": 32, "spellcheck": "false"},
    )
    # Items marked blank or illegible: missing answers that still satisfy "required" (paper only).
    entry_blank = BlankMarksField(coerce=str, choices=[], validate_choice=False)
    # A fresh UUID per blank form: a double click or a resent POST stores the form once.
    entry_instance_id = HiddenField()

    def blank_items(self) -> list[str]:
        """The item codes marked blank or illegible, as ticked."""
        return [str(code) for code in (self.entry_blank.data or []) if str(code).strip()]


def paper_entry_form(questionnaire: Questionnaire) -> type[QuestionnaireForm]:
    """The data-entry form for paper questionnaires: the unit and date, then every question."""
    return questionnaire_form(questionnaire, base=PaperEntryBase, name=f"PaperEntry_{questionnaire.id}")
