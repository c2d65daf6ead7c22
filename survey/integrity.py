"""A campaign's integrity checks (issue 11, point 4): its settings, and the flags on its stored forms.

:mod:`analysis.integrity` does the checking on a responses table; this module is where the app meets
it. A campaign stores only the settings changed from the documented defaults
(``Campaign.integrity_settings``, ``{name: value}``); :func:`change_settings` checks a change (a value
out of range is a :class:`SettingError` naming the setting, in Vietnamese) and returns what changed for
the audit log. :func:`campaign_flags` reads the campaign's scorable forms (as scoring reads them) with
their paradata (kiosk, enumerator, received time) and runs the checks; the result is kept per process
until a form, a review state, a correction or a setting changes.

**A flag never excludes a form.** People decide through the review states (:mod:`survey.review`), and
that decision is audited there.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from fractions import Fraction
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from analysis.errors import ScoringError
from analysis.integrity import (
    FLAG_COLUMNS,
    FORM_RULES,
    RULE_LABELS_VI,
    RULES,
    UNIT_FLAG_COLUMNS,
    IntegrityReport,
    IntegritySettings,
    SkippedCheck,
    check_integrity,
)

from .errors import SurveyError
from .kiosk_display import KIOSK_DISPLAY_KEY, stored_checks
from .models import Campaign, Response, ResponseRevision

__all__ = [
    "DEFAULTS",
    "FORM_RULES",
    "GROUP_LABELS",
    "RULE_LABELS_VI",
    "SETTINGS",
    "CampaignFlags",
    "FlagLine",
    "PageTiming",
    "SettingError",
    "SettingInfo",
    "SettingsChange",
    "campaign_flags",
    "change_settings",
    "format_value",
    "parse_assignments",
    "paradata_pages",
    "parse_value",
    "response_flags",
    "settings_for",
]

DEFAULTS = IntegritySettings()
SOURCES = ("kiosk", "phone", "api", "paper", "import")
WEEKDAYS = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")  # 0 = Monday (Thứ Hai) … 6 = Sunday (Chủ nhật)
_TRUE = {"1", "true", "yes", "on", "bật", "bat", "có", "co"}
_FALSE = {"0", "false", "no", "off", "tắt", "tat", "không", "khong"}
RESET_WORDS = {"default", "mặc định", "mac dinh"}


class SettingError(SurveyError):
    """An integrity setting that cannot be used; ``name`` is the setting (None: the whole change)."""

    def __init__(self, message: str, name: str | None = None, problems: Mapping[str, str] | None = None):
        super().__init__(message)
        self.name = name
        self.problems = dict(problems or ({name: message} if name else {}))


@dataclass(frozen=True)
class SettingInfo:
    """How one setting is shown: its check, Vietnamese label, kind of value and the default's reason."""

    name: str
    rule: str
    label: str
    kind: str  # bool | int | float | choice | sources | hours | dates
    reason: str


def _info(name: str, rule: str, label: str, kind: str, reason: str) -> SettingInfo:
    return SettingInfo(name, rule, label, kind, reason)


_ON = "Bật hoặc tắt cả phép kiểm tra này."
# The reasons are those written beside the defaults in analysis.integrity, in Vietnamese.
SETTINGS: Mapping[str, SettingInfo] = OrderedDict(
    (i.name, i)
    for i in (
        _info("speeding", "speeding", "Kiểm tra trả lời quá nhanh", "bool", _ON),
        _info(
            "speeding_fraction",
            "speeding",
            "Ngưỡng: phần của trung vị thời gian",
            "float",
            "1/3 trung vị: người đọc lướt vẫn cần khoảng một nửa thời gian thường; một phần ba đủ xa để "
            "người đọc nhanh trung thực hiếm khi chạm tới (khoảng 3 phiếu trên 1.000).",
        ),
        _info(
            "speeding_reference",
            "speeding",
            "So với trung vị của",
            "choice",
            "'campaign' (cả đợt): xã có cán bộ điền nhanh nhiều phiếu sẽ kéo trung vị của chính mình "
            "xuống và tự che giấu nếu so theo xã; 'unit' hợp với đợt mà các xã dùng máy hoặc phiếu "
            "rất khác nhau.",
        ),
        _info(
            "speeding_min_forms",
            "speeding",
            "Số phiếu tối thiểu để tính trung vị",
            "int",
            "30 phiếu: trung vị của ít phiếu hơn thay đổi quá nhiều từ phiếu này sang phiếu khác "
            "để làm thước đo.",
        ),
        _info(
            "speeding_sources",
            "speeding",
            "Nguồn phiếu được tính giờ",
            "sources",
            "Chỉ phiếu điền trên máy (kiosk, api): phiếu giấy không có giờ bắt đầu, ngày trên phiếu "
            "không phải thời gian trả lời.",
        ),
        _info("straight_lining", "straight_lining", "Kiểm tra chọn một mức cho mọi câu", "bool", _ON),
        _info(
            "straight_lining_min_items",
            "straight_lining",
            "Số câu Likert tối thiểu",
            "int",
            "10 câu: với ít câu, người hài lòng trả lời “5” cho mọi câu là chuyện bình thường; từ 10 câu "
            "trở lên thì hiếm hơn và đáng xem lại. Cờ chỉ để xem lại, không kết luận.",
        ),
        _info("burst_kiosk", "burst_kiosk", "Kiểm tra phiếu dồn dập từ một máy", "bool", _ON),
        _info(
            "burst_enumerator", "burst_enumerator", "Kiểm tra phiếu dồn dập từ một người nhập", "bool", _ON
        ),
        _info(
            "burst_forms",
            "burst",
            "Số phiếu tạo thành một đợt dồn",
            "int",
            "5 phiếu trong 10 phút: quầy phục vụ lần lượt từng người và mỗi phiếu mất vài phút (trung vị "
            "khoảng 3–5 phút), nên một máy hiếm khi nhận quá 2–3 phiếu trong 10 phút.",
        ),
        _info("burst_minutes", "burst", "Trong khoảng (phút)", "float", "Xem số phiếu ở trên."),
        _info(
            "burst_sources",
            "burst",
            "Nguồn phiếu được xét",
            "sources",
            "Mặc định không xét phiếu giấy: ngày trên phiếu không phải giờ điền, và giờ nhập chỉ cho biết "
            "cán bộ gõ nhanh một xấp phiếu. Thêm 'paper' để xét cả giờ nhập phiếu giấy.",
        ),
        _info("off_hours", "off_hours", "Kiểm tra nộp ngoài giờ làm việc", "bool", _ON),
        _info(
            "office_hours",
            "off_hours",
            "Giờ làm việc (giờ địa phương)",
            "hours",
            "Thứ Hai–Thứ Sáu 07:00–17:30: ngày làm việc của Bộ phận Một cửa, thêm nửa giờ mỗi đầu. Tỉnh "
            "có thể đặt giờ riêng, ví dụ thêm “T7 07:00-11:30” nếu mở sáng thứ Bảy. Đây là lựa chọn "
            "của địa phương.",
        ),
        _info(
            "holidays", "off_hours", "Ngày nghỉ (YYYY-MM-DD)", "dates", "Những ngày quầy đóng cửa, ví dụ Tết."
        ),
        _info(
            "utc_offset_hours",
            "off_hours",
            "Múi giờ (giờ so với UTC)",
            "float",
            "Việt Nam: UTC+7, không có giờ mùa hè.",
        ),
        _info(
            "off_hours_sources",
            "off_hours",
            "Nguồn phiếu được xét",
            "sources",
            "Như trên: phiếu giấy chỉ có ngày, không có giờ.",
        ),
        _info("near_duplicate", "near_duplicate", "Kiểm tra phiếu gần trùng nhau", "bool", _ON),
        _info(
            "near_duplicate_max_differences",
            "near_duplicate",
            "Số câu khác nhau tối đa (0–2)",
            "int",
            "0 = trùng hẳn: câu trả lời hài lòng dồn vào 4 và 5, nên hai phiếu trung thực khác nhau một câu "
            "là chuyện thường; phiếu giống hệt là dấu hiệu nhập hai lần hoặc chép lại.",
        ),
        _info(
            "near_duplicate_min_answered",
            "near_duplicate",
            "Số câu đã trả lời tối thiểu",
            "int",
            "10 câu: hai phiếu ngắn (người trả lời dừng sớm) dễ trùng nhau do tình cờ.",
        ),
        _info(
            "near_duplicate_skip_constant",
            "near_duplicate",
            "Bỏ qua phiếu chọn một mức cho mọi câu",
            "bool",
            "Phiếu như vậy đã bị cờ “chọn một mức”; ở xã hài lòng, nhiều phiếu “toàn 5” trung thực sẽ ghép "
            "cặp với nhau và che mất các bản chép thật.",
        ),
        _info("late_keying", "late_keying", "Kiểm tra phiếu giấy nhập muộn", "bool", _ON),
        _info(
            "late_keying_days",
            "late_keying",
            "Số ngày tối đa từ ngày trên phiếu đến lúc nhập",
            "float",
            "14 ngày: phiếu giấy thường được thu và nhập trong một, hai tuần của đợt; nhập muộn hơn nhiều "
            "có thể là phiếu viết sau.",
        ),
        _info("unit_jump", "unit_jump", "Kiểm tra chỉ số thay đổi đột ngột", "bool", _ON),
        _info(
            "unit_jump_points",
            "unit_jump",
            "Mức thay đổi (điểm) so với kỳ trước",
            "float",
            "15 điểm: SIPAS cả nước mỗi năm đổi nhiều nhất khoảng 5,4 điểm (2019–2023); với khoảng 100 phiếu "
            "mỗi xã, chênh lệch giữa hai kỳ có sai số chuẩn khoảng 5,7 điểm, 15 điểm hiếm khi do tình cờ.",
        ),
    )
)
GROUP_LABELS = {**RULE_LABELS_VI, "burst": "Ngưỡng chung cho hai phép kiểm tra phiếu dồn dập"}
assert set(SETTINGS) == {f.name for f in fields(IntegritySettings)}, "every setting needs a label"


# ------------------------------------------------------------------------------------------ values
def _number(name: str, text: str, kind: str) -> float:
    cleaned = text.strip().replace(",", ".")
    try:
        value = float(Fraction(cleaned)) if "/" in cleaned else float(cleaned)
    except (ValueError, ZeroDivisionError):
        raise SettingError(
            f"Cài đặt {SETTINGS[name].label} ({name}): “{text}” không phải là số.", name
        ) from None
    if kind == "int":
        if value != int(value):
            raise SettingError(f"Cài đặt {SETTINGS[name].label} ({name}): cần một số nguyên.", name)
        return int(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise SettingError(f"Cài đặt {SETTINGS[name].label} ({name}): cần một số hữu hạn.", name)
    return value


def _words(text: str) -> list[str]:
    return [w for w in text.replace(";", ",").replace(" ", ",").split(",") if w]


def _day_index(name: str, text: str) -> int:
    upper = text.strip().upper()
    if upper in WEEKDAYS:
        return WEEKDAYS.index(upper)
    if upper.isdigit() and int(upper) < 7:
        return int(upper)
    raise SettingError(
        f"Cài đặt {SETTINGS[name].label} ({name}): ngày “{text}” không hợp lệ; dùng T2…T7, CN hoặc 0–6.", name
    )


def _hours(name: str, text: str) -> tuple[tuple[int, str, str], ...]:
    """Office hours from "T2-T6 07:00-17:30; T7 07:00-11:30" (days T2…CN or 0 = Monday … 6)."""
    out: list[tuple[int, str, str]] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        days, _, span = part.partition(" ")
        start, _, end = span.strip().partition("-")
        if not start or not end:
            raise SettingError(
                f"Cài đặt {SETTINGS[name].label} ({name}): “{part}” phải có dạng “T2-T6 07:00-17:30”.", name
            )
        first, _, last = days.partition("-")
        lo = _day_index(name, first)
        hi = _day_index(name, last) if last else lo
        out.extend((d, start.strip(), end.strip()) for d in range(lo, hi + 1))
    return tuple(out)


def parse_value(name: str, value: Any) -> Any:
    """Return the setting ``name`` read from text (or from a value of its own type); SettingError if not."""
    info = SETTINGS.get(name)
    if info is None:
        raise SettingError(
            f"Không có cài đặt kiểm tra “{name}”; các cài đặt: {', '.join(SETTINGS)} (unknown setting).", name
        )
    if not isinstance(value, str):
        return value
    text = value.strip()
    if info.kind == "bool":
        word = text.casefold()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise SettingError(
            f"Cài đặt {info.label} ({name}): dùng bật/tắt (on/off), không phải “{text}”.", name
        )
    if info.kind in ("int", "float"):
        return _number(name, text, info.kind)
    if info.kind == "choice":
        return text
    if info.kind == "sources":
        chosen = tuple(dict.fromkeys(_words(text.lower())))
        wrong = [s for s in chosen if s not in SOURCES]
        if wrong or not chosen:
            raise SettingError(
                f"Cài đặt {info.label} ({name}): chọn trong {', '.join(SOURCES)}"
                + (f", không có “{', '.join(wrong)}”." if wrong else "."),
                name,
            )
        return chosen
    if info.kind == "dates":
        days = tuple(_words(text))
        for day in days:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise SettingError(
                    f"Cài đặt {info.label} ({name}): ngày “{day}” phải có dạng YYYY-MM-DD.", name
                ) from None
        return days
    return _hours(name, text)


def format_value(name: str, value: Any) -> str:
    """The setting as the text that :func:`parse_value` reads back."""
    kind = SETTINGS[name].kind
    if kind == "bool":
        return "bật" if value else "tắt"
    if kind == "float":
        f = Fraction(float(value)).limit_denominator(12)
        if f.denominator > 1 and abs(float(f) - float(value)) < 1e-9:
            return f"{f.numerator}/{f.denominator}"
        return f"{float(value):g}"
    if kind in ("sources", "dates"):
        return ", ".join(str(v) for v in value)
    if kind == "hours":
        return _format_hours(value)
    return str(value)


def _format_hours(value: Sequence[Sequence[Any]]) -> str:
    """Office hours as "T2-T6 07:00-17:30; T7 07:00-11:30": consecutive days with one span joined."""
    runs: list[list[Any]] = []  # [first day, last day, start, end]
    for day, start, end in value:
        last = runs[-1] if runs else None
        if last is not None and last[1] == int(day) - 1 and (last[2], last[3]) == (start, end):
            last[1] = int(day)
        else:
            runs.append([int(day), int(day), start, end])
    return "; ".join(
        f"{WEEKDAYS[a]}{'' if a == b else '-' + WEEKDAYS[b]} {start}-{end}" for a, b, start, end in runs
    )


def _plain(value: Any) -> Any:
    """A setting's value as stored JSON (lists for tuples)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def settings_for(campaign: Campaign) -> IntegritySettings:
    """The campaign's integrity settings: its stored changes over the documented defaults."""
    try:
        return IntegritySettings.from_mapping(stored_checks(campaign.integrity_settings))
    except (ScoringError, TypeError, ValueError) as exc:
        raise SurveyError(
            f"cài đặt kiểm tra chất lượng của đợt {campaign.id} không đọc được: {exc} "
            "(the stored integrity settings cannot be read)"
        ) from None


@dataclass(frozen=True)
class SettingsChange:
    """What one change of a campaign's integrity settings did, for the audit log."""

    campaign_id: int
    changes: dict[str, tuple[Any, Any]]  # name -> (old, new), as stored JSON
    action: str = "integrity_settings_changed"

    def to_audit(self) -> dict[str, Any]:
        """The audit detail: the campaign and old -> new per setting."""
        return {
            "campaign_id": self.campaign_id,
            "changes": {k: {"old": old, "new": new} for k, (old, new) in self.changes.items()},
        }


def _problem_names(problems: Sequence[str]) -> dict[str, str]:
    """Map each message of :meth:`IntegritySettings.problems` to the setting it names."""
    out: dict[str, str] = {}
    for message in problems:
        head = message.removeprefix("cài đặt ").split(":", 1)[0].strip()
        name = head if head in SETTINGS else ""
        vi = message.split(" (setting ", 1)[0]
        label = f"Cài đặt {SETTINGS[name].label} ({name})" if name else "Cài đặt"
        text = f"{label}: {vi.split(':', 1)[1].strip()}." if name else vi
        out[name] = f"{out[name]} {text}" if name in out else text
    return out


def change_settings(campaign: Campaign, values: Mapping[str, Any]) -> SettingsChange:
    """Apply ``values`` (name -> value, text, or blank/"default") to the campaign; the caller audits, commits.

    Raises :class:`SettingError` (nothing changed) naming every setting that is unknown or out of range.
    """
    current = settings_for(campaign)
    wanted: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, value in values.items():
        try:
            # A blank value or "default" ("mặc định") returns the setting to its documented default.
            blank = value is None or (isinstance(value, str) and not value.strip())
            if blank or (isinstance(value, str) and value.strip().casefold() in RESET_WORDS):
                parse_value(name, getattr(DEFAULTS, name, None))  # unknown names still fail here
                wanted[name] = getattr(DEFAULTS, name)
            else:
                wanted[name] = parse_value(name, value)
        except SettingError as exc:
            problems[exc.name or name] = str(exc)
    # The range checks run on every value that could be read, so one answer lists every problem.
    merged = {f.name: getattr(current, f.name) for f in fields(IntegritySettings)} | wanted
    try:
        IntegritySettings(**merged)
    except ScoringError:
        ranges = _problem_names(_unchecked(merged).problems())
        problems = {**{k: v for k, v in ranges.items() if k not in problems}, **problems}
    except TypeError as exc:
        problems.setdefault("", f"Cài đặt không hợp lệ: {exc}")
    if problems:
        ordered = {name: problems[name] for name in (*SETTINGS, *problems) if name in problems}
        raise SettingError(" ".join(ordered.values()), next(iter(ordered)) or None, ordered)
    new = IntegritySettings(**merged)
    stored = {
        f.name: _plain(getattr(new, f.name))
        for f in fields(IntegritySettings)
        if getattr(new, f.name) != getattr(DEFAULTS, f.name)
    }
    old_stored = stored_checks(campaign.integrity_settings)
    changes = {
        name: (_plain(getattr(current, name)), _plain(getattr(new, name)))
        for name in SETTINGS
        if getattr(current, name) != getattr(new, name)
    }
    if stored != old_stored:
        kept = {k: v for k, v in (campaign.integrity_settings or {}).items() if k == KIOSK_DISPLAY_KEY}
        campaign.integrity_settings = {**stored, **kept} or None
    return SettingsChange(campaign.id, changes)


def _unchecked(values: Mapping[str, Any]) -> IntegritySettings:
    """Settings built without their range check, only to list every problem at once."""
    made = object.__new__(IntegritySettings)
    for name, value in values.items():
        object.__setattr__(made, name, value)
    return made


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """``["KEY=VALUE", …]`` as a mapping; SettingError for a pair without "=" or a setting given twice."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SettingError(
                f"“{pair}” phải có dạng TÊN=GIÁ_TRỊ, ví dụ burst_forms=6 (expected KEY=VALUE)."
            )
        if name in out:
            raise SettingError(f"Cài đặt {name} được cho hai lần (given twice).", name)
        out[name] = value
    return out


# ------------------------------------------------------------------------------------------- flags
@dataclass(frozen=True)
class FlagLine:
    """One flag on one form: the rule, its Vietnamese label and the evidence."""

    response_id: str
    unit: str
    rule: str
    label: str
    evidence: str


@dataclass(frozen=True, eq=False)
class CampaignFlags:
    """A campaign's integrity report and its flags by form."""

    campaign_id: int
    report: IntegrityReport
    lines: tuple[FlagLine, ...]

    def by_response(self) -> dict[str, list[FlagLine]]:
        """Flags per response id, in the report's order."""
        out: dict[str, list[FlagLine]] = {}
        for line in self.lines:
            out.setdefault(line.response_id, []).append(line)
        return out

    def by_rule(self) -> dict[str, list[FlagLine]]:
        """Flags per rule, every form-level rule that ran (possibly with none)."""
        out: dict[str, list[FlagLine]] = {r: [] for r in FORM_RULES if r in self.report.checks_run}
        for line in self.lines:
            out.setdefault(line.rule, []).append(line)
        return out

    def flagged_ids(self, rule: str | None = None) -> frozenset[str]:
        """The ids of the forms flagged (by ``rule``, or by any rule)."""
        return frozenset(line.response_id for line in self.lines if rule is None or line.rule == rule)


_CACHE: OrderedDict[tuple[Any, ...], CampaignFlags] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _fingerprint(session: Session, campaign: Campaign) -> tuple[Any, ...]:
    """What the flags depend on: the scorable forms, their corrections and the settings."""
    forms = session.execute(
        select(
            func.count(Response.id),
            func.max(Response.id),
            func.sum(Response.id),
            func.max(Response.received_at),
        ).where(
            Response.campaign_id == campaign.id, Response.review_state != "rejected", Response.late.is_(False)
        )
    ).one()
    revision = session.scalar(
        select(func.max(ResponseRevision.id))
        .join(Response, Response.id == ResponseRevision.response_id)
        .where(Response.campaign_id == campaign.id)
    )
    bind = session.get_bind()
    settings = json.dumps(stored_checks(campaign.integrity_settings), sort_keys=True)
    return (
        str(bind.engine.url),
        id(bind.engine),
        campaign.id,
        campaign.created_at,
        *forms,
        revision,
        settings,
    )


def _nothing_yet(settings: IntegritySettings) -> IntegrityReport:
    """The report of a campaign without scorable forms: every check skipped, with the reason."""
    reason = "chưa có phiếu nào được tính điểm (no scorable forms yet)"
    return IntegrityReport(
        flags=pd.DataFrame({c: pd.Series(dtype=object) for c in FLAG_COLUMNS}),
        unit_flags=pd.DataFrame({c: pd.Series(dtype=object) for c in UNIT_FLAG_COLUMNS}),
        counts=pd.DataFrame({"forms": pd.Series(dtype=int), "flagged": pd.Series(dtype=int)}).rename_axis(
            "unit"
        ),
        checks_run=(),
        skipped=tuple(SkippedCheck(rule, reason) for rule in RULES),
        settings=settings,
    )


def campaign_flags(session: Session, campaign: Campaign) -> CampaignFlags:
    """Run the campaign's integrity checks on its scorable forms (kept until something they read changes)."""
    from .campaigns import campaign_questionnaire
    from .storage import campaign_frame

    key = _fingerprint(session, campaign)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    settings = settings_for(campaign)
    bind: Engine | Connection = session.get_bind()
    frame = campaign_frame(bind, campaign.id)  # with its paradata: kiosk, enumerator, received_at
    questionnaire = campaign_questionnaire(campaign)
    try:
        report = check_integrity(questionnaire, frame, settings) if len(frame) else _nothing_yet(settings)
    except ScoringError as exc:
        raise SurveyError(f"không chạy được kiểm tra chất lượng: {exc} (integrity checks failed)") from None
    lines = tuple(
        FlagLine(str(rid), str(unit), str(rule), RULE_LABELS_VI.get(rule, rule), str(evidence))
        for rid, unit, rule, evidence in report.flags[["response_id", "unit", "rule", "evidence"]].itertuples(
            index=False, name=None
        )
    )
    result = CampaignFlags(campaign.id, report, lines)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def response_flags(session: Session, response: Response) -> list[FlagLine]:
    """The flags on one response (none for a rejected or late form: the checks read scorable forms)."""
    campaign = session.get(Campaign, response.campaign_id)
    return campaign_flags(session, campaign).by_response().get(response.instance_id, [])


# ---------------------------------------------------------------------------------------- paradata
@dataclass(frozen=True)
class PageTiming:
    """One page of a kiosk form as the tablet timed it."""

    label: str
    seconds: float
    taps: int
    visits: int


def paradata_pages(questionnaire: Any, paradata: Mapping[str, Any] | None) -> list[PageTiming]:
    """The kiosk's per-page timings with the pages' Vietnamese titles (the review page last)."""
    if not paradata:
        return []
    sections = list(questionnaire.sections)
    out = []
    for entry in paradata.get("pages", []):
        index = int(entry.get("page", -1))
        label = sections[index].label.vi if 0 <= index < len(sections) else f"Trang {index + 1}"
        out.append(
            PageTiming(
                label, entry.get("ms", 0) / 1000, int(entry.get("taps", 0)), int(entry.get("visits", 0))
            )
        )
    review = paradata.get("review")
    if review:
        out.append(
            PageTiming(
                "Xem lại trước khi gửi",
                review.get("ms", 0) / 1000,
                int(review.get("taps", 0)),
                int(review.get("visits", 0)),
            )
        )
    return out
