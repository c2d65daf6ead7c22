"""The staff pages' forms: login, confirmation buttons, accounts, campaigns, kiosk links, response review."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from questionnaires import Questionnaire

from ..forms import DateAnswerField, paper_entry_form, select_choices
from ..review import SOURCE_LABELS, STATE_LABELS
from ..users import MIN_PASSWORD_LENGTH

__all__ = [
    "AllocationForm",
    "DossierConfirmForm",
    "DossierUploadForm",
    "BulkReviewForm",
    "CampaignForm",
    "CloseCampaignForm",
    "ConfirmForm",
    "DoubleEntrySettingForm",
    "IntegerInput",
    "KioskForm",
    "ResolveKeyingsForm",
    "LoginForm",
    "PasswordResetForm",
    "ReopenCampaignForm",
    "ReportForm",
    "ResponseFilterForm",
    "ReviewForm",
    "UserCreateForm",
    "VietDecimalField",
    "correction_form",
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


class ReportForm(FlaskForm):
    """Start a ranked report, optionally compared with another campaign (the previous period)."""

    previous = SelectField(
        "So sánh với đợt khảo sát kỳ trước",
        choices=select_choices([("", "Không so sánh")]),
        validate_choice=True,
        description="Bảng xếp hạng có thêm chỉ số, thứ hạng kỳ trước và mức thay đổi của từng đơn vị.",
    )


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
                ("viewer", "Lãnh đạo — chỉ xem kết quả (không xem phiếu, không tải dữ liệu)"),
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
    draft = BooleanField(
        "Lưu dạng bản nháp",
        description="Chưa thu phiếu cho đến khi bấm “Mở đợt khảo sát”. Bỏ trống: thu phiếu ngay.",
    )
    double_entry = BooleanField(
        "Nhập phiếu giấy hai lần",
        description="Mỗi phiếu giấy (theo số phiếu) do hai người khác nhau nhập; phiếu chỉ được tính khi "
        "hai lần nhập khớp nhau hoặc người duyệt đã đối chiếu.",
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


# ------------------------------------------------------------------------------- response review
REVIEW_STATE_CHOICES = tuple(STATE_LABELS.items())
SOURCE_CHOICES = tuple(SOURCE_LABELS.items())


class ResponseFilterForm(FlaskForm):
    """The filters above a list of responses (a GET form: it changes nothing, so no CSRF token)."""

    class Meta:
        csrf = False

    # validate_choice=False: survey.review checks the codes and says what is wrong in Vietnamese.
    unit = SelectField("Đơn vị", validators=[Optional()], validate_choice=False)
    source = SelectField(
        "Nguồn phiếu",
        choices=select_choices((("", "Tất cả"), *SOURCE_CHOICES)),
        validators=[Optional()],
        validate_choice=False,
    )
    state = SelectField(
        "Trạng thái",
        choices=select_choices((("", "Tất cả"), *REVIEW_STATE_CHOICES)),
        validators=[Optional()],
        validate_choice=False,
    )
    since = DateAnswerField("Từ ngày", validators=[Optional()])
    until = DateAnswerField("Đến ngày", validators=[Optional()])
    text = StringField(
        "Tìm trong góp ý",
        validators=[Optional(), Length(max=200, message="Tối đa 200 ký tự.")],
        render_kw={"placeholder": "Ví dụ: phòng chờ"},
    )


class ReviewForm(FlaskForm):
    """A review state and its reason (required to reject a response)."""

    state = SelectField(
        "Trạng thái duyệt",
        choices=select_choices(REVIEW_STATE_CHOICES),
        validators=[InputRequired(_REQUIRED)],
    )
    reason = TextAreaField(
        "Lý do",
        description="Bắt buộc khi loại phiếu; sẽ được ghi vào nhật ký.",
        # No Optional(): it would stop the chain before validate_reason sees an empty reason.
        validators=[Length(max=2000, message="Tối đa 2000 ký tự.")],
        render_kw={"rows": 2},
    )

    def validate_reason(self, field: TextAreaField) -> None:
        if self.state.data == "rejected" and not (field.data or "").strip():
            raise ValidationError("Cần ghi lý do khi loại phiếu.")


class BulkReviewForm(ReviewForm):
    """The same choice for several responses; sent twice, the second time with ``confirmed``."""

    confirmed = HiddenField()


def correction_form(questionnaire: Questionnaire) -> type[FlaskForm]:
    """The paper-entry form of ``questionnaire`` plus the reason for the correction (required)."""
    base = paper_entry_form(questionnaire)
    reason = TextAreaField(
        "Lý do sửa",
        description="Ví dụ: đối chiếu lại với phiếu giấy, nhập nhầm câu 5. Lý do được ghi vào lịch sử sửa.",
        validators=[DataRequired("Cần ghi lý do sửa phiếu."), Length(max=2000, message="Tối đa 2000 ký tự.")],
        render_kw={"rows": 2},
    )
    # The revision the page showed: a correction made meanwhile by someone else is not overwritten.
    fields = {"correction_reason": reason, "correction_base": HiddenField()}
    return type(f"Correction_{questionnaire.id}", (base,), fields)


# ------------------------------------------------------------------------------ campaign lifecycle
_REASON_LENGTH = Length(max=2000, message="Tối đa 2000 ký tự.")


class CloseCampaignForm(FlaskForm):
    """Close a campaign: an optional reason, kept on the campaign and in the audit log."""

    reason = TextAreaField(
        "Lý do đóng (không bắt buộc)",
        validators=[Optional(), _REASON_LENGTH],
        render_kw={"rows": 2, "placeholder": "Ví dụ: đã đủ chỉ tiêu, hết kỳ đánh giá"},
    )


class ReopenCampaignForm(FlaskForm):
    """Reopen a closed campaign: the reason is required."""

    reason = TextAreaField(
        "Lý do mở lại",
        validators=[DataRequired("Cần ghi lý do mở lại đợt khảo sát."), _REASON_LENGTH],
        render_kw={"rows": 2, "placeholder": "Ví dụ: xã Trà Giang chưa đủ phiếu, gia hạn một tuần"},
    )


class DoubleEntrySettingForm(FlaskForm):
    """Turn double entry of paper forms on or off for a campaign."""

    double_entry = BooleanField("Nhập phiếu giấy hai lần")


class KioskDisplayForm(FlaskForm):
    """How the campaign's tablets show the questionnaire (survey.kiosk_display)."""

    one_question = BooleanField(
        "Mỗi màn hình một câu hỏi",
        description="Cho người đọc chậm: mỗi câu là một màn hình, với nút “Quay lại” và “Tiếp tục”. "
        "Tắt: mỗi phần của phiếu là một trang.",
    )
    likert_faces = BooleanField(
        "Thang đo hài lòng bằng hình mặt người",
        description="Các câu hỏi hài lòng (thang Likert được tính điểm) hiện thành các khuôn mặt "
        "từ buồn đến vui, chữ ghi dưới mỗi mặt. Mã câu trả lời lưu và cách tính điểm không đổi.",
    )
    idle_seconds = IntegerField(
        "Xoá phiếu bỏ dở sau (giây)",
        validators=[Optional(), NumberRange(30, 600, message="Từ 30 đến 600 giây.")],
        description="Phiếu không ai chạm vào trong thời gian này bị xoá (15 giây cuối có đếm ngược), "
        "để người sau không thấy câu trả lời của người trước. Để trống: mặc định của máy chủ (75 giây).",
    )


class AnswerCodesSettingForm(FlaskForm):
    """Turn "mỗi hồ sơ một phiếu" (one-time answer codes) on or off for a campaign."""

    answer_codes = BooleanField("Mỗi hồ sơ một phiếu")


class ResolveKeyingsForm(FlaskForm):
    """Resolve two differing keyings of a serial: the choices per item come with the page, the reason here."""

    reason = TextAreaField(
        "Lý do đối chiếu",
        validators=[DataRequired("Cần ghi lý do đối chiếu (ví dụ: đã xem lại phiếu giấy)."), _REASON_LENGTH],
        render_kw={"rows": 2, "placeholder": "Ví dụ: đã xem lại phiếu giấy số 0012"},
    )


class DossierUploadForm(FlaskForm):
    """Upload a one-stop system's export of case files, with its mapping file when the columns differ."""

    file = FileField(
        "Tệp xuất từ hệ thống một cửa (CSV hoặc Excel .xlsx)",
        validators=[FileRequired("Chọn tệp hồ sơ.")],
        render_kw={"accept": ".csv,.xlsx,text/csv"},
    )
    mapping = FileField(
        "Tệp ánh xạ (YAML, không bắt buộc)",
        description="Tên cột, tên đơn vị, thủ tục → lĩnh vực, dạng ngày; "
        "mẫu: docs/dossier-mapping.example.yaml",
        render_kw={"accept": ".yaml,.yml"},
    )


class DossierConfirmForm(FlaskForm):
    """Import the good rows of an upload whose problems were shown."""

    upload = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{16,64}$")])


class AllocationForm(FlaskForm):
    """How targets come from the case files (Campaign.field_allocation)."""

    allocation = SelectField("Chỉ tiêu", validators=[DataRequired(_REQUIRED)])
