"""The staff pages' forms: login, confirmation buttons, accounts, campaigns and kiosk links."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional, Regexp

from ..forms import DateAnswerField, select_choices
from ..users import MIN_PASSWORD_LENGTH

__all__ = [
    "CampaignForm",
    "ConfirmForm",
    "IntegerInput",
    "KioskForm",
    "LoginForm",
    "PasswordResetForm",
    "UserCreateForm",
    "VietDecimalField",
]

_REQUIRED = "Trường này bắt buộc."
_PASSWORD_LENGTH = Length(min=MIN_PASSWORD_LENGTH, max=256, message=f"Ít nhất {MIN_PASSWORD_LENGTH} ký tự.")


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
        validators=[DataRequired(_REQUIRED), _PASSWORD_LENGTH],
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
        validators=[DataRequired(_REQUIRED), _PASSWORD_LENGTH],
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
