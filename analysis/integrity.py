"""Integrity checks: point people to forms that may not be what they seem (issue 11, point 4).

The office being graded often runs its own survey, so forms filled by staff, in bursts or by one hand
are the known threat to a ranking's credibility (methodology §8). Each check here looks at what is
already stored (answers, timestamps, source) and at optional paradata (``kiosk``, ``enumerator``,
``received_at``) and says, per form, which rule it meets and the evidence, in Vietnamese first with the
English in brackets. **A flag never excludes a form**: people decide, and the decision is audited
elsewhere. :func:`sensitivity` shows how each unit's index and rank would move without the flagged
forms, so leadership sees which ranks depend on doubtful forms.

Rules
-----
``speeding``
    Completion time (``submitted_at - started_at``) below a fraction of the campaign's (or the unit's)
    median completion time.
``straight_lining``
    Every valid answer to the Likert items (``appearance: likert``) is the same code.
``burst_kiosk``, ``burst_enumerator``
    At least *K* forms from one kiosk (or one enumerator) within *M* minutes.
``off_hours``
    Submitted outside the configured office hours (Vietnam time).
``near_duplicate``
    Two forms of the same unit whose answers to the scored items differ in at most *D* items.
``late_keying``
    A paper form keyed (``received_at``) long after the date written on it (``submitted_at``).
``unit_jump`` (unit level)
    A unit whose index moved by more than *J* points against its previous result.

Every threshold is a field of :class:`IntegritySettings`; the defaults are **local choices** (no
decision of the Ministry fixes them), each with its reason written beside it, so that a district can
change them as a campaign setting. A check whose columns are absent, or that is turned off, is listed in
:attr:`IntegrityReport.skipped` with the reason.

Speed
-----
Every check is vectorised: sorting and ``searchsorted`` for bursts, 64-bit Zobrist hashes of the
answer vectors for near-duplicates (candidate pairs are then compared exactly), integer arithmetic on
epoch milliseconds for clock times. Evidence text is written only for the flagged forms.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from questionnaires import Questionnaire

from .data import ResponseData, bilingual, prepare_responses, text_codes
from .errors import ScoringError
from .results import IndexTable

# ----------------------------------------------------------------------------------------- rules
SPEEDING = "speeding"
STRAIGHT_LINING = "straight_lining"
BURST_KIOSK = "burst_kiosk"
BURST_ENUMERATOR = "burst_enumerator"
OFF_HOURS = "off_hours"
NEAR_DUPLICATE = "near_duplicate"
LATE_KEYING = "late_keying"
UNIT_JUMP = "unit_jump"

FORM_RULES = (
    SPEEDING,
    STRAIGHT_LINING,
    BURST_KIOSK,
    BURST_ENUMERATOR,
    OFF_HOURS,
    NEAR_DUPLICATE,
    LATE_KEYING,
)
UNIT_RULES = (UNIT_JUMP,)
RULES = (*FORM_RULES, *UNIT_RULES)

RULE_LABELS_VI: Mapping[str, str] = MappingProxyType(
    {
        SPEEDING: "Trả lời quá nhanh",
        STRAIGHT_LINING: "Chọn một mức cho mọi câu",
        BURST_KIOSK: "Nhiều phiếu dồn dập từ một máy",
        BURST_ENUMERATOR: "Nhiều phiếu dồn dập từ một người nhập",
        OFF_HOURS: "Nộp ngoài giờ làm việc",
        NEAR_DUPLICATE: "Phiếu gần trùng nhau",
        LATE_KEYING: "Phiếu giấy nhập muộn",
        UNIT_JUMP: "Chỉ số thay đổi đột ngột",
    }
)

FLAG_COLUMNS = ("response_id", "unit", "rule", "evidence")
UNIT_FLAG_COLUMNS = ("unit", "rule", "evidence")

WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_MS_PER_DAY = 86_400_000
_MS_PER_MINUTE = 60_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_ZOBRIST_SEED = 20_240_511  # fixed: the same table gives the same hashes in every run
_MAX_DIFFERENCES = 2  # C(m, D) hash passes: D = 2 on 30 items is 435 passes, still about a second


# -------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class IntegritySettings:
    """Which checks run and their thresholds; every default is a local choice, with its reason.

    Store it with the campaign as :meth:`to_dict` and read it back with :meth:`from_mapping`.
    """

    # --- speeding ---------------------------------------------------------------------------------
    speeding: bool = True
    # 1/3 of the median: a reader who skims still needs about half the usual time; a third is far
    # enough below that an honest fast reader rarely reaches it (on log-normal times with the spread
    # of a kiosk form, sd of log ≈ 0.4, it is 2.7 sd below the median: about 3 forms in 1,000).
    speeding_fraction: float = 1 / 3
    # "campaign": one median for the whole campaign. A unit whose staff fill many forms quickly pulls
    # its own median down and would hide itself under "unit"; "unit" suits campaigns whose units use
    # very different devices or forms.
    speeding_reference: str = "campaign"
    # A median of fewer forms moves too much from one form to the next to be a yardstick (with 30 forms
    # the sample median's own spread is about a fifth of the spread of the times); under "unit", a unit
    # with fewer forms is compared with the campaign's median instead.
    speeding_min_forms: int = 30
    # Paper forms have no start time (their submitted_at is the date written on the paper), so their
    # "duration" would be keying time: only forms filled on a device are timed.
    speeding_sources: tuple[str, ...] = ("kiosk", "phone", "api")

    # --- straight-lining --------------------------------------------------------------------------
    straight_lining: bool = True
    # At least 10 valid Likert answers: on a short battery a respondent who is simply satisfied
    # honestly answers "5" throughout; over 10 or more items (sipas-2017 asks 18 to everyone, 22 with
    # feedback) identical answers are rarer and worth a look. Flags still catch honest enthusiasts: this
    # rule points people to forms, it does not judge them.
    straight_lining_min_items: int = 10

    # --- bursts -------------------------------------------------------------------------------------
    burst_kiosk: bool = True
    burst_enumerator: bool = True
    # 5 forms within 10 minutes from one kiosk: a counter serves people one at a time and a respondent
    # needs several minutes per form (the median is around 3-5 minutes), so one tablet rarely takes more
    # than 2-3 forms in 10 minutes; 5 is well beyond that.
    burst_forms: int = 5
    burst_minutes: float = 10.0
    # The time of a form is its submitted_at. Paper forms are left out by default: their submitted_at is
    # only the date written on the paper, and their keying time (received_at) says how fast a clerk
    # types a pile of forms, not how they were filled. Add "paper" to look at keying bursts anyway
    # (their received_at is then used).
    burst_sources: tuple[str, ...] = ("kiosk", "api")

    # --- office hours -------------------------------------------------------------------------------
    off_hours: bool = True
    # (weekday 0 = Monday … 6 = Sunday, opening "HH:MM", closing "HH:MM") in local time. Default
    # Monday-Friday 07:00-17:30: a one-stop counter's working day with half an hour of margin at each
    # end (provinces set their own hours and some open on Saturday morning; add e.g. (5, "07:00",
    # "11:30") then). This is a local choice, not an official rule.
    office_hours: tuple[tuple[int, str, str], ...] = tuple((d, "07:00", "17:30") for d in range(5))
    holidays: tuple[str, ...] = ()  # ISO dates (local) when the counter is closed, e.g. Tết
    utc_offset_hours: float = 7.0  # Vietnam (UTC+7, no daylight saving time)
    # As for bursts: a paper form's submitted_at is midnight of the date on the paper, not a time.
    off_hours_sources: tuple[str, ...] = ("kiosk", "api")

    # --- near-duplicates ----------------------------------------------------------------------------
    near_duplicate: bool = True
    # 0 = identical answers to every scored item. Satisfaction answers cluster on 4 and 5, so honest
    # pairs that differ in one item are common in a unit of a hundred forms; an exact copy is the mark
    # of a form keyed twice or copied. Raise to 1 (or 2, the most allowed) to look for copies with an
    # answer changed.
    near_duplicate_max_differences: int = 0
    # Both forms must have at least 10 valid answers among the scored items: two short forms (a
    # respondent who stopped early) agree by chance too easily.
    near_duplicate_min_answered: int = 10
    # A form with one code throughout is already a straight-liner; in a satisfied unit many honest
    # "all 5" forms would otherwise pair with one another and drown the real copies.
    near_duplicate_skip_constant: bool = True

    # --- paper keyed far from its date --------------------------------------------------------------
    late_keying: bool = True
    # 14 days: paper forms are normally collected and keyed within the week or two of a campaign;
    # forms keyed much later may have been written after the fact. A local choice.
    late_keying_days: float = 14.0

    # --- unit jump ----------------------------------------------------------------------------------
    unit_jump: bool = True
    # 15 points: the national SIPAS moved at most about 5.4 points a year (2019-2023). A commune sample
    # of ~100 forms at 80% has a standard error of about 4 points, so the change between two periods
    # has one of about 5.7; 15 points is about 2.6 of those, rarely reached by chance alone.
    unit_jump_points: float = 15.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ScoringError("; ".join(problems))

    def problems(self) -> list[str]:
        """Every setting out of range, as bilingual messages naming the setting."""
        out: list[str] = []

        def need(ok: bool, name: str, vi: str, en: str) -> None:
            if not ok:
                out.append(bilingual(f"cài đặt {name}: {vi}", f"setting {name}: {en}"))

        need(0 < self.speeding_fraction < 1, "speeding_fraction", "phải ở giữa 0 và 1", "must lie in (0, 1)")
        need(
            self.speeding_reference in ("campaign", "unit"),
            "speeding_reference",
            "chỉ nhận 'campaign' hoặc 'unit'",
            "must be 'campaign' or 'unit'",
        )
        need(self.speeding_min_forms >= 1, "speeding_min_forms", "phải ≥ 1", "must be ≥ 1")
        need(self.straight_lining_min_items >= 2, "straight_lining_min_items", "phải ≥ 2", "must be ≥ 2")
        need(self.burst_forms >= 2, "burst_forms", "phải ≥ 2", "must be ≥ 2")
        need(self.burst_minutes > 0, "burst_minutes", "phải > 0", "must be > 0")
        need(
            0 <= self.near_duplicate_max_differences <= _MAX_DIFFERENCES,
            "near_duplicate_max_differences",
            f"phải từ 0 đến {_MAX_DIFFERENCES}",
            f"must be 0 to {_MAX_DIFFERENCES}",
        )
        need(self.near_duplicate_min_answered >= 1, "near_duplicate_min_answered", "phải ≥ 1", "must be ≥ 1")
        need(self.late_keying_days >= 0, "late_keying_days", "phải ≥ 0", "must be ≥ 0")
        need(self.unit_jump_points > 0, "unit_jump_points", "phải > 0", "must be > 0")
        need(-12 <= self.utc_offset_hours <= 14, "utc_offset_hours", "phải từ -12 đến 14", "must be -12..14")
        for entry in self.office_hours:
            try:
                day, start, end = entry
                ok = int(day) in range(7) and _minutes(start) <= _minutes(end)
            except (TypeError, ValueError):
                ok = False
            need(
                ok,
                "office_hours",
                f"mục {entry!r} phải là (thứ 0-6, 'HH:MM' mở, 'HH:MM' đóng)",
                f"entry {entry!r} must be (weekday 0-6, 'HH:MM' open, 'HH:MM' close)",
            )
        for day in self.holidays:
            try:
                date.fromisoformat(str(day))
            except ValueError:
                need(False, "holidays", f"ngày {day!r} không đúng dạng YYYY-MM-DD", f"{day!r} is not ISO")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists for tuples) for a campaign's stored settings."""
        d = asdict(self)
        for key, value in d.items():
            if isinstance(value, tuple):
                d[key] = [list(v) if isinstance(v, tuple) else v for v in value]
        return d

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> IntegritySettings:
        """Settings from stored plain data (as :meth:`to_dict` writes it); unknown names are an error."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ScoringError(
                bilingual(
                    f"cài đặt kiểm tra không có: {', '.join(unknown)}",
                    f"unknown integrity settings: {', '.join(unknown)}",
                )
            )
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "office_hours":
                value = tuple(tuple(v) for v in value)
            elif key.endswith("_sources") or key == "holidays":
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    def enabled(self, rule: str) -> bool:
        """Whether ``rule`` is turned on."""
        return bool(getattr(self, rule))


def _minutes(hhmm: str) -> int:
    """Minutes after midnight of ``"HH:MM"`` (``"24:00"`` allowed for the end of the day)."""
    hours, _, minutes = str(hhmm).partition(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60 and h * 60 + m <= 24 * 60):
        raise ValueError(hhmm)
    return h * 60 + m


# ---------------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class SkippedCheck:
    """A check that did not run, and why (bilingual)."""

    rule: str
    reason: str


def _empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True, eq=False)  # holds DataFrames: compare their contents, not the reports
class IntegrityReport:
    """What the checks found. Flags point to forms; they never exclude one by themselves.

    Attributes
    ----------
    flags
        One row per (form, rule): ``response_id``, ``unit``, ``rule``, ``evidence``; sorted by unit,
        response id and rule.
    unit_flags
        Unit-level flags (``unit_jump``): ``unit``, ``rule``, ``evidence``.
    counts
        Per unit (index): ``forms``, one column per form-level rule that ran (forms flagged by it),
        ``flagged`` (forms flagged by any rule) and, when that check ran, ``unit_jump`` (0 or 1).
    checks_run
        The rules that ran.
    skipped
        The rules that did not run, each with the reason.
    notes
        Remarks on the input (e.g. timestamps that could not be read).
    settings
        The settings used.
    """

    flags: pd.DataFrame
    unit_flags: pd.DataFrame
    counts: pd.DataFrame
    checks_run: tuple[str, ...]
    skipped: tuple[SkippedCheck, ...]
    notes: tuple[str, ...] = ()
    settings: IntegritySettings = field(default_factory=IntegritySettings)

    def flagged_ids(self, rules: Iterable[str] | None = None) -> tuple[Any, ...]:
        """The response ids flagged by any of ``rules`` (default: every form-level rule), sorted."""
        flags = self.flags
        if rules is not None:
            wanted = set(rules)
            unknown = wanted - set(RULES)
            if unknown:
                raise ScoringError(
                    bilingual(f"không có luật {', '.join(sorted(unknown))}", "unknown integrity rule(s)")
                )
            flags = flags.loc[flags["rule"].isin(wanted)]
        ids = pd.unique(flags["response_id"])
        return tuple(sorted(ids, key=str))

    def skipped_rules(self) -> tuple[str, ...]:
        """The codes of the rules that did not run."""
        return tuple(s.rule for s in self.skipped)


# ----------------------------------------------------------------------------------------- input
@dataclass(frozen=True)
class _Input:
    """The responses as arrays the checks read."""

    n: int
    ids: np.ndarray  # raw response ids (object)
    unit: np.ndarray  # int codes into units
    units: list[str]
    data: ResponseData
    columns: frozenset[str]
    frame: pd.DataFrame
    source: np.ndarray | None  # str or None per form

    def sources_mask(self, sources: Sequence[str]) -> np.ndarray:
        """Forms whose source is one of ``sources``.

        Without a ``source`` column every form is taken as filled on a device: a table of paper forms
        needs its ``source`` column for the time-based checks to leave them out.
        """
        if self.source is None:
            return np.ones(self.n, dtype=bool)
        return np.isin(self.source, list(sources))


def _read(questionnaire: Questionnaire, responses: pd.DataFrame) -> _Input:
    """Encode the answers as the scoring does (same checks, same messages) and read the metadata."""
    questions = {q.code for q in questionnaire.questions()}
    keep = [c for c in responses.columns if c in ("response_id", "unit") or c in questions]
    data = prepare_responses(questionnaire, responses[keep])
    source = None
    if "source" in responses.columns:
        codes, labels = text_codes(responses["source"])
        lut = np.array([*labels, None], dtype=object)
        source = lut[codes]  # -1 (blank) lands on None
    return _Input(
        n=data.n,
        ids=responses["response_id"].to_numpy(dtype=object),
        unit=data.unit,
        units=data.units,
        data=data,
        columns=frozenset(str(c) for c in responses.columns),
        frame=responses,
        source=source,
    )


def _epoch_ms(series: pd.Series, name: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch milliseconds of a timestamp column, and which forms have one."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        stamps = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(series.dtype):
        stamps = series  # naive: the app stores UTC
    else:
        stamps = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None)
        unreadable = int((stamps.isna() & series.notna()).sum())
        if unreadable:
            notes.append(
                bilingual(
                    f"{unreadable} phiếu có {name} không đọc được, coi như để trống",
                    f"{unreadable} forms have an unreadable {name}, taken as blank",
                )
            )
    present = stamps.notna().to_numpy()
    ms = stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[ms]").astype(np.int64)
    return ms, present


# ------------------------------------------------------------------------------------ formatting
def _fraction(value: float) -> str:
    f = Fraction(value).limit_denominator(12)
    if abs(float(f) - value) < 1e-9 and f.numerator == 1:
        return f"1/{f.denominator}"
    return f"{value * 100:g}%"


def _local(ms: int, offset_ms: int) -> pd.Timestamp:
    return pd.Timestamp(int(ms) + offset_ms, unit="ms")


def _clock(ts: pd.Timestamp) -> str:
    return ts.strftime("%H:%M")


def _day(ts: pd.Timestamp) -> str:
    return ts.strftime("%d/%m/%Y")


def _stamps(ms: np.ndarray, offset_ms: int, pattern: str) -> list[str]:
    """Local times of many epoch milliseconds as text, in one vectorised call."""
    return list(pd.to_datetime(np.asarray(ms, dtype=np.int64) + offset_ms, unit="ms").strftime(pattern))


def _number(value: float) -> str:
    return f"{value:.2f}"


# ---------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class _Found:
    rule: str
    rows: np.ndarray  # positions of flagged forms
    evidence: list[str]


class _Skip(Exception):
    """A check cannot run; ``reason`` says why."""

    def __init__(self, vi: str, en: str):
        super().__init__(bilingual(vi, en))
        self.reason = bilingual(vi, en)


def _require(inp: _Input, *columns: str) -> None:
    for name in columns:
        if name not in inp.columns:
            raise _Skip(f"bảng phiếu không có cột {name}", f"the responses table has no {name} column")
        if not inp.frame[name].notna().any():
            raise _Skip(f"cột {name} không có giá trị nào", f"the {name} column is empty")


def _check_speeding(inp: _Input, s: IntegritySettings, notes: list[str]) -> _Found:
    """Forms completed in less than ``speeding_fraction`` of the median completion time."""
    _require(inp, "started_at", "submitted_at")
    start, has_start = _epoch_ms(inp.frame["started_at"], "started_at", notes)
    end, has_end = _epoch_ms(inp.frame["submitted_at"], "submitted_at", notes)
    seconds = (end - start) / 1000.0
    # A non-positive duration is a clock problem, not a fast respondent: left out of medians and flags.
    timed = has_start & has_end & inp.sources_mask(s.speeding_sources) & (seconds > 0)
    count = int(timed.sum())
    if count < s.speeding_min_forms:
        raise _Skip(
            f"chỉ {count} phiếu có đủ thời điểm bắt đầu và nộp, cần ít nhất {s.speeding_min_forms}",
            f"only {count} forms have both timestamps; at least {s.speeding_min_forms} are needed",
        )
    campaign = float(np.median(seconds[timed]))
    reference = np.full(inp.n, campaign)
    own = np.zeros(inp.n, dtype=bool)
    if s.speeding_reference == "unit":
        frame = pd.DataFrame({"unit": inp.unit[timed], "seconds": seconds[timed]})
        stats = frame.groupby("unit")["seconds"].agg(["median", "size"])
        good = stats.loc[stats["size"] >= s.speeding_min_forms, "median"]
        lut = np.full(len(inp.units), np.nan)
        lut[good.index.to_numpy(dtype=np.intp)] = good.to_numpy()
        unit_median = lut[inp.unit]
        own = ~np.isnan(unit_median)
        reference = np.where(own, unit_median, campaign)
    hit = timed & (seconds < s.speeding_fraction * reference)
    rows = np.flatnonzero(hit)
    share = _fraction(s.speeding_fraction)
    evidence = [
        bilingual(
            f"thời gian trả lời {seconds[i]:.0f} giây, dưới {share} trung vị {reference[i]:.0f} giây "
            f"{'của xã' if own[i] else 'của đợt'}",
            f"completion time {seconds[i]:.0f} s, below {share} of the "
            f"{'unit' if own[i] else 'campaign'} median {reference[i]:.0f} s",
        )
        for i in rows
    ]
    return _Found(SPEEDING, rows, evidence)


def _likert_items(questionnaire: Questionnaire, inp: _Input) -> list[str]:
    return [
        q.code
        for q in questionnaire.questions()
        if q.has_appearance("likert") and q.code in inp.data.items and inp.data.items[q.code].kind == "choice"
    ]


def _scored_items(questionnaire: Questionnaire, inp: _Input) -> list[str]:
    if questionnaire.scoring is None:
        return _likert_items(questionnaire, inp)
    codes = dict.fromkeys(i for c in questionnaire.scoring.criteria for i in c.items)
    return [c for c in codes if c in inp.data.items and inp.data.items[c].kind == "choice"]


def _code_matrix(
    questionnaire: Questionnaire, inp: _Input, items: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Answers as ids into one vocabulary of code texts (-1 = blank), and which answers are valid.

    Different items may use different choice lists, so positions are mapped to the code texts first.
    """
    valid_codes = set(questionnaire.scoring.valid) if questionnaire.scoring is not None else None
    vocab: dict[str, int] = {}
    ids = np.empty((inp.n, len(items)), dtype=np.int16)
    valid = np.empty((inp.n, len(items)), dtype=bool)
    for j, code in enumerate(items):
        column = inp.data.items[code]
        texts = column.texts
        lut = np.array([vocab.setdefault(t, len(vocab)) for t in texts] + [-1], dtype=np.int16)
        ok = np.array([valid_codes is None or t in valid_codes for t in texts] + [False])
        ids[:, j] = lut[column.codes]
        valid[:, j] = ok[column.codes]
    return ids, valid, list(vocab)


def _check_straight_lining(questionnaire: Questionnaire, inp: _Input, s: IntegritySettings) -> _Found:
    """Forms whose valid Likert answers (at least ``straight_lining_min_items``) are all one code."""
    items = _likert_items(questionnaire, inp)
    if len(items) < s.straight_lining_min_items:
        raise _Skip(
            f"bảng chỉ có {len(items)} câu Likert, ít hơn {s.straight_lining_min_items}",
            f"the table has {len(items)} Likert items, fewer than {s.straight_lining_min_items}",
        )
    ids, valid, vocab = _code_matrix(questionnaire, inp, items)
    answered = valid.sum(axis=1)
    big = np.iinfo(np.int16).max
    low = np.where(valid, ids, big).min(axis=1)
    high = np.where(valid, ids, -1).max(axis=1)
    rows = np.flatnonzero((answered >= s.straight_lining_min_items) & (low == high))
    labels = _choice_labels(questionnaire, items)
    evidence = []
    for i in rows:
        code = vocab[int(low[i])]
        label = labels.get(code)
        shown = f"{code} ({label})" if label else code
        evidence.append(
            bilingual(
                f"cả {answered[i]} câu Likert đã trả lời đều chọn {shown}",
                f"all {answered[i]} Likert items answered give code {code}",
            )
        )
    return _Found(STRAIGHT_LINING, rows, evidence)


def _choice_labels(questionnaire: Questionnaire, items: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for code in items:
        choices = questionnaire.choice_list(questionnaire.question(code))
        for choice in choices.choices if choices is not None else ():
            labels.setdefault(choice.code, choice.label.vi)
    return labels


def _burst(inp: _Input, s: IntegritySettings, column: str, rule: str, notes: list[str]) -> _Found:
    """Forms in a window of ``burst_minutes`` holding at least ``burst_forms`` forms of one device."""
    _require(inp, column, "submitted_at")
    when, has_when = _epoch_ms(inp.frame["submitted_at"], "submitted_at", notes)
    if inp.source is not None and "paper" in s.burst_sources:
        # A paper form's submitted_at is only a date: its keying time stands in, or it is left out.
        paper = inp.source == "paper"
        if "received_at" in inp.columns:
            keyed, has_keyed = _epoch_ms(inp.frame["received_at"], "received_at", notes)
            when = np.where(paper, keyed, when)
            has_when = np.where(paper, has_keyed, has_when)
        else:
            has_when = has_when & ~paper
    device, devices = text_codes(inp.frame[column])
    eligible = np.flatnonzero(has_when & (device >= 0) & inp.sources_mask(s.burst_sources))
    if len(eligible) == 0:
        return _Found(rule, np.empty(0, dtype=np.intp), [])
    order = eligible[np.lexsort((when[eligible], device[eligible]))]
    t = when[order]
    d = device[order].astype(np.int64)
    window = int(round(s.burst_minutes * _MS_PER_MINUTE))
    # One sorted line for all devices: each device's times shifted past the previous device's window.
    span = int(t.max() - t.min()) + window + 1
    key = (t - t.min()) + d * span
    end = np.searchsorted(key, key + window, side="right")
    start_hit = (end - np.arange(len(key))) >= s.burst_forms
    cover = np.zeros(len(key) + 1, dtype=np.int64)
    np.add.at(cover, np.flatnonzero(start_hit), 1)
    np.add.at(cover, end[start_hit], -1)
    inside = np.cumsum(cover[:-1]) > 0
    if not inside.any():
        return _Found(rule, np.empty(0, dtype=np.intp), [])
    # A cluster: a run of covered forms of one device.
    new = inside & ~np.concatenate(([False], inside[:-1] & (d[1:] == d[:-1])))
    cluster = np.cumsum(new) - 1
    at = np.flatnonzero(inside)
    ids = cluster[at]
    first = np.full(ids.max() + 1, np.iinfo(np.int64).max)
    last = np.full(ids.max() + 1, np.iinfo(np.int64).min)
    np.minimum.at(first, ids, t[at])
    np.maximum.at(last, ids, t[at])
    size = np.bincount(ids)
    offset = int(round(s.utc_offset_hours * 3_600_000))
    what_vi, what_en = ("máy", "kiosk") if column == "kiosk" else ("người nhập", "enumerator")
    texts = []
    for c in range(len(size)):
        a, b = _local(first[c], offset), _local(last[c], offset)
        minutes = math.ceil((last[c] - first[c]) / _MS_PER_MINUTE)
        when_vi = f"{_clock(a)}–{_clock(b)} ngày {_day(a)}"
        when_en = f"{_clock(a)}–{_clock(b)} on {_day(a)}"
        if _day(a) != _day(b):
            when_vi = f"{_clock(a)} {_day(a)} – {_clock(b)} {_day(b)}"
            when_en = when_vi
        name = devices[d[at[np.searchsorted(ids, c)]]]
        texts.append(
            bilingual(
                f"{size[c]} phiếu từ {what_vi} {name} trong {minutes} phút ({when_vi}, giờ địa phương); "
                f"ngưỡng: từ {s.burst_forms} phiếu trong {s.burst_minutes:g} phút",
                f"{size[c]} forms from {what_en} {name} within {minutes} min ({when_en}, local time); "
                f"threshold: {s.burst_forms} forms within {s.burst_minutes:g} min",
            )
        )
    rows = order[at]
    evidence = [texts[c] for c in ids]
    back = np.argsort(rows, kind="stable")
    return _Found(rule, rows[back], [evidence[k] for k in back])


def _check_off_hours(inp: _Input, s: IntegritySettings, notes: list[str]) -> _Found:
    """Forms submitted outside ``office_hours`` or on a holiday (local time)."""
    _require(inp, "submitted_at")
    when, has_when = _epoch_ms(inp.frame["submitted_at"], "submitted_at", notes)
    offset = int(round(s.utc_offset_hours * 3_600_000))
    local = when + offset
    day = np.floor_divide(local, _MS_PER_DAY)
    weekday = (day + _EPOCH_WEEKDAY) % 7
    minute = np.floor_divide(local - day * _MS_PER_DAY, _MS_PER_MINUTE)
    open_ = np.zeros(inp.n, dtype=bool)
    for wd, start, end in s.office_hours:
        open_ |= (weekday == int(wd)) & (minute >= _minutes(start)) & (minute <= _minutes(end))
    if s.holidays:
        epoch = date(1970, 1, 1)
        closed = np.array([(date.fromisoformat(str(h)) - epoch).days for h in s.holidays], dtype=np.int64)
        open_ &= ~np.isin(day, closed)
    rows = np.flatnonzero(has_when & inp.sources_mask(s.off_hours_sources) & ~open_)
    hours_vi, hours_en = _hours_text(s)
    holidays = set(s.holidays)
    clocks = _stamps(when[rows], offset, "%H:%M")
    days = _stamps(when[rows], offset, "%d/%m/%Y")
    isos = _stamps(when[rows], offset, "%Y-%m-%d") if holidays else [""] * len(rows)
    evidence = []
    for k, i in enumerate(rows):
        wd = int(weekday[i])
        holiday = isos[k] in holidays
        evidence.append(
            bilingual(
                f"nộp lúc {clocks[k]} {WEEKDAYS_VI[wd]} {days[k]} giờ địa phương, "
                + ("ngày nghỉ lễ" if holiday else f"ngoài giờ làm việc ({hours_vi})"),
                f"submitted {clocks[k]} {WEEKDAYS_EN[wd]} {days[k]} local time, "
                + ("a holiday" if holiday else f"outside office hours ({hours_en})"),
            )
        )
    return _Found(OFF_HOURS, rows, evidence)


def _hours_text(s: IntegritySettings) -> tuple[str, str]:
    if not s.office_hours:
        return "không có giờ làm việc nào", "no office hours set"
    vi = ", ".join(f"{WEEKDAYS_VI[int(d)]} {a}–{b}" for d, a, b in s.office_hours)
    en = ", ".join(f"{WEEKDAYS_EN[int(d)]} {a}–{b}" for d, a, b in s.office_hours)
    return vi, en


def _check_near_duplicates(questionnaire: Questionnaire, inp: _Input, s: IntegritySettings) -> _Found:
    """Pairs of forms in one unit whose scored answers differ in at most ``near_duplicate_max_differences``.

    Each answer vector gets a 64-bit Zobrist hash (a sum of random numbers per item and code, plus one
    per unit); leaving out the terms of *D* items gives a hash that two vectors differing only there
    share. Candidate pairs are then compared exactly, so a hash collision cannot raise a flag.
    """
    items = _scored_items(questionnaire, inp)
    need = s.near_duplicate_min_answered
    if len(items) < need:
        raise _Skip(
            f"bảng chỉ có {len(items)} câu tính điểm, ít hơn {need}",
            f"the table has {len(items)} scored items, fewer than {need}",
        )
    ids, valid, _ = _code_matrix(questionnaire, inp, items)
    eligible = valid.sum(axis=1) >= need
    if s.near_duplicate_skip_constant:
        answered = ids >= 0
        big = np.iinfo(np.int16).max
        constant = np.where(answered, ids, big).min(axis=1) == np.where(answered, ids, -1).max(axis=1)
        eligible &= ~constant
    rows = np.flatnonzero(eligible)
    m = len(items)
    vocab_size = int(ids.max(initial=0)) + 2
    rng = np.random.default_rng(_ZOBRIST_SEED)
    top = np.iinfo(np.int64).max
    table = rng.integers(0, top, size=(m, vocab_size), dtype=np.int64).astype(np.uint64)
    unit_table = rng.integers(0, top, size=len(inp.units), dtype=np.int64).astype(np.uint64)
    codes = ids[rows].astype(np.intp)
    codes[codes < 0] = vocab_size - 1  # blank is a value of its own
    terms = table[np.arange(m)[None, :], codes]
    with np.errstate(over="ignore"):
        full = unit_table[inp.unit[rows]] + terms.sum(axis=1, dtype=np.uint64)
    partner = np.full(len(rows), -1, dtype=np.intp)
    for combo in itertools.combinations(range(m), s.near_duplicate_max_differences):
        key = full.copy()
        with np.errstate(over="ignore"):
            for j in combo:
                key -= terms[:, j]
        shared = np.flatnonzero(pd.Series(key).duplicated(keep=False).to_numpy())
        if len(shared) == 0:
            continue
        mate = _first_partner(key[shared])
        wanted = (mate >= 0) & (partner[shared] < 0)
        cand, other = shared[wanted], shared[mate[wanted]]
        # Compare exactly: same unit, at most D differing items (a hash collision raises no flag).
        same = inp.unit[rows[cand]] == inp.unit[rows[other]]
        diff = (codes[cand] != codes[other]).sum(axis=1)
        ok = same & (diff <= s.near_duplicate_max_differences)
        partner[cand[ok]] = other[ok]
    hit = np.flatnonzero(partner >= 0)
    evidence = []
    for k in hit:
        other = partner[k]
        differing = [items[j] for j in np.flatnonzero(codes[k] != codes[other])]
        other_id = inp.ids[rows[other]]
        if differing:
            evidence.append(
                bilingual(
                    f"giống phiếu {other_id}, chỉ khác {len(differing)}/{m} câu tính điểm: "
                    + ", ".join(differing),
                    f"same as form {other_id} except {len(differing)} of {m} scored items",
                )
            )
        else:
            evidence.append(
                bilingual(
                    f"trùng câu trả lời với phiếu {other_id} ở cả {m} câu tính điểm",
                    f"same answers as form {other_id} on all {m} scored items",
                )
            )
    return _Found(NEAR_DUPLICATE, rows[hit], evidence)


def _first_partner(key: np.ndarray) -> np.ndarray:
    """For each entry, another entry with the same key (the group's first, or its second), else -1."""
    order = np.argsort(key, kind="stable")
    k = key[order]
    start = np.concatenate(([True], k[1:] != k[:-1]))
    group = np.cumsum(start) - 1
    size = np.bincount(group)
    sorted_pos = np.arange(len(k))
    group_first_pos = np.flatnonzero(start)[group]
    mate_pos = np.where(sorted_pos == group_first_pos, group_first_pos + 1, group_first_pos)
    out = np.full(len(key), -1, dtype=np.intp)
    multi = size[group] >= 2
    out[order[multi]] = order[mate_pos[multi]]
    return out


def _check_late_keying(inp: _Input, s: IntegritySettings, notes: list[str]) -> _Found:
    """Paper forms keyed more than ``late_keying_days`` after the date written on them."""
    _require(inp, "source", "received_at", "submitted_at")
    written, has_written = _epoch_ms(inp.frame["submitted_at"], "submitted_at", notes)
    keyed, has_keyed = _epoch_ms(inp.frame["received_at"], "received_at", notes)
    paper = inp.source == "paper"
    if not paper.any():
        raise _Skip("không có phiếu giấy nào", "there are no paper forms")
    days = (keyed - written) / _MS_PER_DAY
    rows = np.flatnonzero(paper & has_written & has_keyed & (days > s.late_keying_days))
    offset = int(round(s.utc_offset_hours * 3_600_000))
    dated = _stamps(written[rows], offset, "%d/%m/%Y")
    entered = _stamps(keyed[rows], offset, "%d/%m/%Y")
    evidence = [
        bilingual(
            f"phiếu giấy ghi ngày {dated[k]}, nhập ngày {entered[k]}: sau {days[i]:.0f} ngày, "
            f"quá {s.late_keying_days:g} ngày",
            f"paper form dated {dated[k]}, keyed {entered[k]}: {days[i]:.0f} days later, "
            f"more than {s.late_keying_days:g}",
        )
        for k, i in enumerate(rows)
    ]
    return _Found(LATE_KEYING, rows, evidence)


def _previous_index(previous: IndexTable | pd.DataFrame) -> dict[str, float]:
    if isinstance(previous, IndexTable):
        return {u.unit: float(u.index) for u in previous.units if u.index is not None}
    if isinstance(previous, pd.DataFrame) and {"unit", "index"} <= set(previous.columns):
        index = pd.to_numeric(previous["index"], errors="coerce")
        unit = previous["unit"].astype(str).str.strip()
        ok = index.notna() & previous["unit"].notna()
        return dict(zip(unit[ok], index[ok].astype(float), strict=True))
    raise ScoringError(
        bilingual(
            "kết quả kỳ trước cần là IndexTable hoặc bảng có cột unit và index",
            "previous results must be an IndexTable or a table with columns unit and index",
        )
    )


def _check_unit_jump(
    current: IndexTable, previous: IndexTable | pd.DataFrame, s: IntegritySettings
) -> pd.DataFrame:
    """Units whose index moved by more than ``unit_jump_points`` against the previous result."""
    before = _previous_index(previous)
    rows = []
    for u in current.units:
        old = before.get(u.unit)
        if u.index is None or old is None:
            continue
        change = u.index - old
        if abs(change) > s.unit_jump_points:
            up = change > 0
            rows.append(
                {
                    "unit": u.unit,
                    "rule": UNIT_JUMP,
                    "evidence": bilingual(
                        f"chỉ số {_number(u.index)} so với {_number(old)} kỳ trước: "
                        f"{'tăng' if up else 'giảm'} {_number(abs(change))} điểm, "
                        f"quá {s.unit_jump_points:g} điểm",
                        f"index {_number(u.index)} against {_number(old)} previously: "
                        f"{'up' if up else 'down'} {_number(abs(change))} points, more than "
                        f"{s.unit_jump_points:g}",
                    ),
                }
            )
    return pd.DataFrame(rows, columns=list(UNIT_FLAG_COLUMNS)) if rows else _empty_frame(UNIT_FLAG_COLUMNS)


# ------------------------------------------------------------------------------------------ main
def check_integrity(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    settings: IntegritySettings | None = None,
    *,
    previous: IndexTable | pd.DataFrame | None = None,
    current: IndexTable | None = None,
    **score_kwargs: Any,
) -> IntegrityReport:
    """Run every integrity check that is turned on and whose columns exist.

    Parameters
    ----------
    questionnaire
        The questionnaire the responses answer.
    responses
        The responses table as :func:`survey.storage` builds it (``response_id``, ``unit``, the items,
        ``source``, ``started_at``, ``submitted_at``), optionally with paradata ``kiosk``,
        ``enumerator`` and ``received_at`` (UTC).
    settings
        Which checks run and their thresholds; :class:`IntegritySettings` defaults otherwise.
    previous
        The previous period's results (:func:`analysis.read_previous`, or a table with ``unit`` and
        ``index``), for ``unit_jump``.
    current
        This period's results, when already scored; otherwise, with ``previous`` given, the responses
        are scored with ``score_kwargs`` (the same keyword arguments as :func:`analysis.score`).

    Returns
    -------
    IntegrityReport

    Raises
    ------
    ScoringError
        When the responses table cannot be read against the questionnaire (the same checks and
        messages as scoring).
    """
    s = settings if settings is not None else IntegritySettings()
    inp = _read(questionnaire, responses)
    notes: list[str] = []
    found: list[_Found] = []
    skipped: list[SkippedCheck] = []
    run: list[str] = []
    checks = {
        SPEEDING: lambda: _check_speeding(inp, s, notes),
        STRAIGHT_LINING: lambda: _check_straight_lining(questionnaire, inp, s),
        BURST_KIOSK: lambda: _burst(inp, s, "kiosk", BURST_KIOSK, notes),
        BURST_ENUMERATOR: lambda: _burst(inp, s, "enumerator", BURST_ENUMERATOR, notes),
        OFF_HOURS: lambda: _check_off_hours(inp, s, notes),
        NEAR_DUPLICATE: lambda: _check_near_duplicates(questionnaire, inp, s),
        LATE_KEYING: lambda: _check_late_keying(inp, s, notes),
    }
    off = bilingual("tắt trong cài đặt", "turned off in the settings")
    for rule, check in checks.items():
        if not s.enabled(rule):
            skipped.append(SkippedCheck(rule, off))
            continue
        try:
            found.append(check())
        except _Skip as skip:
            skipped.append(SkippedCheck(rule, skip.reason))
        else:
            run.append(rule)
    unit_flags = _empty_frame(UNIT_FLAG_COLUMNS)
    if not s.unit_jump:
        skipped.append(SkippedCheck(UNIT_JUMP, off))
    elif previous is None:
        skipped.append(
            SkippedCheck(
                UNIT_JUMP,
                bilingual("không có kết quả kỳ trước", "no previous results were given"),
            )
        )
    else:
        if current is None:
            from . import score  # at call time: the package is loaded; only this rule needs scoring

            current = score(questionnaire, responses, **score_kwargs)
        unit_flags = _check_unit_jump(current, previous, s)
        run.append(UNIT_JUMP)
    flags = _flags_frame(inp, found)
    counts = _counts(inp, flags, unit_flags, run)
    return IntegrityReport(
        flags, unit_flags, counts, tuple(run), tuple(skipped), tuple(dict.fromkeys(notes)), s
    )


def _flags_frame(inp: _Input, found: Sequence[_Found]) -> pd.DataFrame:
    if not any(len(f.rows) for f in found):
        return _empty_frame(FLAG_COLUMNS)
    rows = np.concatenate([f.rows for f in found]).astype(np.intp)
    units = np.array(inp.units, dtype=object)
    frame = pd.DataFrame(
        {
            "response_id": inp.ids[rows],
            "unit": units[inp.unit[rows]],
            "rule": np.concatenate([np.full(len(f.rows), f.rule, dtype=object) for f in found]),
            "evidence": [e for f in found for e in f.evidence],
            "_row": rows,
            "_order": np.concatenate([np.full(len(f.rows), RULES.index(f.rule)) for f in found]),
        }
    )
    frame = frame.sort_values(["unit", "_row", "_order"], kind="stable").drop(columns=["_row", "_order"])
    return frame.reset_index(drop=True)


def _counts(inp: _Input, flags: pd.DataFrame, unit_flags: pd.DataFrame, run: Sequence[str]) -> pd.DataFrame:
    units = pd.Index(inp.units, name="unit")
    counts = pd.DataFrame({"forms": np.bincount(inp.unit, minlength=len(inp.units))}, index=units)
    for rule in (r for r in FORM_RULES if r in run):
        per = flags.loc[flags["rule"] == rule].groupby("unit").size()
        counts[rule] = per.reindex(units, fill_value=0).astype(int).to_numpy()
    per_any = flags.drop_duplicates(["response_id"]).groupby("unit").size()
    counts["flagged"] = per_any.reindex(units, fill_value=0).astype(int).to_numpy()
    if UNIT_JUMP in run:
        counts[UNIT_JUMP] = units.isin(unit_flags["unit"]).astype(int)
    return counts


# ----------------------------------------------------------------------------------- sensitivity
def sensitivity(
    questionnaire: Questionnaire,
    responses: pd.DataFrame,
    report: IntegrityReport,
    *,
    rules: Iterable[str] | None = None,
    scored: IndexTable | None = None,
    **score_kwargs: Any,
) -> pd.DataFrame:
    """Each unit's index and rank with and without the flagged forms.

    Parameters
    ----------
    questionnaire, responses
        As given to :func:`check_integrity`.
    report
        Its report.
    rules
        The rules whose flags count (default: every form-level rule).
    scored
        :func:`analysis.score` of ``responses`` with ``score_kwargs``, when the caller has it already;
        scored here otherwise.
    **score_kwargs
        Passed to both runs of :func:`analysis.score` (frame, margins, units, min_n …).

    Returns
    -------
    pandas.DataFrame
        One row per unit, in rank order: ``unit``, ``n``, ``flagged`` (forms left out), ``index``,
        ``rank``, ``index_without``, ``rank_without``, ``index_change`` (without - with) and
        ``rank_change`` (rank without - rank: positive = the unit would fall without its flagged forms).
        A unit with every form flagged has no index without them (NaN).
    """
    from . import score  # at call time, so this module can be imported by the package itself

    flagged = set(report.flagged_ids(rules))
    full = scored if scored is not None else score(questionnaire, responses, **score_kwargs)
    keep = ~responses["response_id"].isin(flagged)
    without = score(questionnaire, responses.loc[keep], **score_kwargs) if keep.any() else None
    after = {u.unit: u for u in without.units} if without is not None else {}
    counts = report.flags.drop_duplicates("response_id")
    if rules is not None:
        counts = report.flags.loc[report.flags["rule"].isin(set(rules))].drop_duplicates("response_id")
    per_unit = counts.groupby("unit").size().to_dict()
    rows = []
    for u in full.units:
        other = after.get(u.unit)
        index_without = other.index if other is not None else None
        rank_without = other.rank if other is not None else None
        rows.append(
            {
                "unit": u.unit,
                "n": u.n,
                "flagged": int(per_unit.get(u.unit, 0)),
                "index": _nan(u.index),
                "rank": u.rank,
                "index_without": _nan(index_without),
                "rank_without": rank_without,
                "index_change": _nan(index_without) - _nan(u.index),
                "rank_change": (rank_without - u.rank) if rank_without and u.rank else None,
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("rank", "rank_without", "rank_change"):
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    return frame


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
