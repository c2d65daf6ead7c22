"""analysis.integrity: hand-worked rules, skipped checks, a seeded campaign with planted forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import score
from analysis.errors import ScoringError
from analysis.integrity import (
    BURST_ENUMERATOR,
    BURST_KIOSK,
    FORM_RULES,
    LATE_KEYING,
    NEAR_DUPLICATE,
    OFF_HOURS,
    RULES,
    SPEEDING,
    STRAIGHT_LINING,
    UNIT_JUMP,
    IntegritySettings,
    check_integrity,
    sensitivity,
)
from questionnaires import load_questionnaire
from reports.synthetic import synthetic_responses

Q = load_questionnaire("sipas-2017")
LIKERT = [q.code for q in Q.questions() if q.appearance == "likert"]
ALWAYS = [c for c in LIKERT if not c.startswith("phan_anh")]  # asked of everyone (18 items)
VN = pd.Timedelta(hours=7)


def local(text: str) -> pd.Timestamp:
    """A Vietnam wall-clock time as a UTC timestamp."""
    return pd.Timestamp(text, tz="UTC") - VN


# ----------------------------------------------------------------------------- small frames
def small(rows: list[dict]) -> pd.DataFrame:
    """A hand-written responses table: every form answers the 18 always-asked items (default 4/5 mix)."""
    records = []
    for i, row in enumerate(rows):
        mix = np.random.default_rng(i).integers(4, 6, len(ALWAYS))  # differs from row to row
        answers = {code: str(mix[j]) for j, code in enumerate(ALWAYS)}
        answers["da_gop_y"] = "2"
        answers.update(dict.fromkeys((c for c in LIKERT if c not in ALWAYS), None))
        answers.update(row.pop("answers", {}))
        records.append({"response_id": f"F{i + 1}", "unit": row.pop("unit", "U1"), **answers, **row})
    frame = pd.DataFrame(records)
    for name in ("started_at", "submitted_at", "received_at"):
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def kiosk_form(start: str, seconds: float, **extra) -> dict:
    begin = local(start)
    return {
        "source": "kiosk",
        "started_at": begin,
        "submitted_at": begin + pd.Timedelta(seconds=seconds),
        **extra,
    }


def rules_of(report) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule, rid in zip(report.flags["rule"], report.flags["response_id"], strict=True):
        out.setdefault(rule, set()).add(rid)
    return out


def test_speeding_hand_worked():
    # Durations 300, 240, 180, 200, 50 s: the median is 200 s; a third of it is 66.7 s -> F5 only.
    frame = small([kiosk_form("2024-05-06 09:00", s) for s in (300, 240, 180, 200, 50)])
    report = check_integrity(Q, frame, IntegritySettings(speeding_min_forms=5))
    assert rules_of(report).get(SPEEDING) == {"F5"}
    evidence = report.flags.loc[report.flags["rule"] == SPEEDING, "evidence"].item()
    assert evidence == (
        "thời gian trả lời 50 giây, dưới 1/3 trung vị 200 giây của đợt "
        "(completion time 50 s, below 1/3 of the campaign median 200 s)"
    )
    # Too few timed forms for a median: skipped, with the reason.
    report = check_integrity(Q, frame)
    assert SPEEDING in report.skipped_rules()
    assert "5" in dict((s.rule, s.reason) for s in report.skipped)[SPEEDING]


def test_speeding_against_the_unit_median():
    fast_unit = [kiosk_form("2024-05-06 09:00", s, unit="U2") for s in (60, 70, 80, 20)]
    slow_unit = [kiosk_form("2024-05-06 09:00", s, unit="U1") for s in (600, 610, 620, 100)]
    frame = small(slow_unit + fast_unit)
    by_unit = check_integrity(Q, frame, IntegritySettings(speeding_min_forms=4, speeding_reference="unit"))
    # U1 median 605 -> 100 s is fast there; U2 median 65 -> only 20 s is fast there.
    assert rules_of(by_unit)[SPEEDING] == {"F4", "F8"}
    assert "của xã" in by_unit.flags.loc[by_unit.flags["rule"] == SPEEDING, "evidence"].iloc[0]
    overall = check_integrity(Q, frame, IntegritySettings(speeding_min_forms=4))
    # Campaign median 90 s -> a third is 30 s: only the 20 s form.
    assert rules_of(overall)[SPEEDING] == {"F8"}


def test_straight_lining_hand_worked():
    all5 = dict.fromkeys(ALWAYS, "5")
    nine = {**dict.fromkeys(ALWAYS, pd.NA), **dict.fromkeys(ALWAYS[:9], "3")}
    one_off = {**dict.fromkeys(ALWAYS, "5"), ALWAYS[4]: "4"}
    frame = small([{"answers": all5}, {"answers": nine}, {"answers": one_off}, {}, {}])
    report = check_integrity(Q, frame)
    assert rules_of(report)[STRAIGHT_LINING] == {"F1"}  # F2: only 9 answered; F3: one 4
    evidence = report.flags.loc[report.flags["rule"] == STRAIGHT_LINING, "evidence"].item()
    assert evidence.startswith("cả 18 câu Likert đã trả lời đều chọn 5 (Rất hài lòng)")
    loose = check_integrity(Q, frame, IntegritySettings(straight_lining_min_items=9))
    assert rules_of(loose)[STRAIGHT_LINING] == {"F1", "F2"}


def test_burst_hand_worked():
    # Kiosk K1: five forms 09:00-09:08 (within 10 minutes) -> a burst; K2: five forms 15 minutes apart.
    forms = [kiosk_form(f"2024-05-06 09:0{2 * i}", 100, kiosk="K1") for i in range(5)]
    forms += [kiosk_form(f"2024-05-06 1{i}:00", 100, kiosk="K2", unit="U2") for i in range(5)]
    frame = small(forms)
    report = check_integrity(Q, frame)
    assert rules_of(report)[BURST_KIOSK] == {"F1", "F2", "F3", "F4", "F5"}
    evidence = report.flags.loc[report.flags["rule"] == BURST_KIOSK, "evidence"].iloc[0]
    assert evidence.startswith("5 phiếu từ máy K1 trong 8 phút (09:01–09:09 ngày 06/05/2024, giờ địa phương)")
    strict = check_integrity(Q, frame, IntegritySettings(burst_forms=6))
    assert BURST_KIOSK not in rules_of(strict)
    assert BURST_KIOSK in strict.checks_run


def test_enumerator_burst_uses_keying_time_only_when_paper_is_asked_for():
    day = local("2024-05-06 00:00")
    forms = [
        {
            "source": "paper",
            "submitted_at": day,
            "received_at": day + pd.Timedelta(days=1, minutes=i),
            "enumerator": "nv01",
        }
        for i in range(6)
    ]
    frame = small(forms)
    default = check_integrity(Q, frame)
    assert BURST_ENUMERATOR in default.checks_run and BURST_ENUMERATOR not in rules_of(default)
    keyed = check_integrity(Q, frame, IntegritySettings(burst_sources=("kiosk", "api", "paper")))
    assert rules_of(keyed)[BURST_ENUMERATOR] == {f"F{i}" for i in range(1, 7)}
    assert "người nhập nv01" in keyed.flags["evidence"].iloc[0]
    # Without received_at a paper form has no time of its own: it is left out, not bunched at midnight.
    unkeyed = check_integrity(
        Q, frame.drop(columns="received_at"), IntegritySettings(burst_sources=("kiosk", "api", "paper"))
    )
    assert BURST_ENUMERATOR not in rules_of(unkeyed)


def test_off_hours_hand_worked():
    frame = small(
        [
            kiosk_form("2024-05-06 06:50", 100),  # Monday 06:51:40: before 07:00
            kiosk_form("2024-05-06 09:00", 100),  # Monday morning: open
            kiosk_form("2024-05-06 17:28", 100),  # 17:29:40: open until 17:30
            kiosk_form("2024-05-11 09:00", 100),  # Saturday
            kiosk_form("2024-05-07 21:00", 100),  # Tuesday evening
        ]
    )
    report = check_integrity(Q, frame)
    assert rules_of(report)[OFF_HOURS] == {"F1", "F4", "F5"}
    sat = report.flags.loc[(report.flags["rule"] == OFF_HOURS) & (report.flags["response_id"] == "F4")]
    assert sat["evidence"].item().startswith("nộp lúc 09:01 Thứ Bảy 11/05/2024 giờ địa phương")
    saturday = IntegritySettings(
        office_hours=(*IntegritySettings().office_hours, (5, "07:00", "11:30")), holidays=("2024-05-06",)
    )
    report = check_integrity(Q, frame, saturday)
    assert rules_of(report)[OFF_HOURS] == {"F1", "F2", "F3", "F5"}  # Monday became a holiday
    assert "ngày nghỉ lễ" in report.flags["evidence"].iloc[1]


def test_near_duplicates_hand_worked():
    base = {code: "45"[(j * 7) % 3 == 0] for j, code in enumerate(ALWAYS)}
    changed = {**base, ALWAYS[2]: "3"}
    other = {code: "34"[(j * 5) % 2] for j, code in enumerate(ALWAYS)}
    frame = small(
        [
            {"answers": base},
            {"answers": dict(base)},
            {"answers": changed},
            {"answers": dict(base), "unit": "U2"},  # same answers, another unit: not a duplicate
            {"answers": other},
        ]
    )
    report = check_integrity(Q, frame)
    assert rules_of(report)[NEAR_DUPLICATE] == {"F1", "F2"}
    text = report.flags.loc[report.flags["response_id"] == "F1", "evidence"].item()
    assert text.startswith("trùng câu trả lời với phiếu F2 ở cả 22 câu tính điểm")
    one = check_integrity(Q, frame, IntegritySettings(near_duplicate_max_differences=1))
    assert rules_of(one)[NEAR_DUPLICATE] == {"F1", "F2", "F3"}
    text = one.flags.loc[one.flags["response_id"] == "F3", "evidence"].item()
    assert f"chỉ khác 1/22 câu tính điểm: {ALWAYS[2]}" in text


def test_near_duplicates_leave_straight_liners_to_their_own_rule():
    all5 = dict.fromkeys(ALWAYS, "5")
    frame = small([{"answers": all5}, {"answers": dict(all5)}, {}, {}, {}])
    report = check_integrity(Q, frame)
    assert rules_of(report)[STRAIGHT_LINING] == {"F1", "F2"}
    assert NEAR_DUPLICATE not in rules_of(report)
    both = check_integrity(Q, frame, IntegritySettings(near_duplicate_skip_constant=False))
    assert rules_of(both)[NEAR_DUPLICATE] == {"F1", "F2"}


@pytest.mark.parametrize("differences", [0, 1, 2])
def test_near_duplicates_agree_with_comparing_every_pair(differences):
    """The hashed search finds exactly the forms a brute-force comparison of all pairs finds."""
    rng = np.random.default_rng(differences)
    n, used = 180, ALWAYS[:12]
    codes = rng.integers(4, 6, size=(n, len(used)))
    codes[:, 0] = np.where(rng.random(n) < 0.1, 3, codes[:, 0])
    units = rng.choice(["U1", "U2", "U3"], n)
    frame = small(
        [
            {
                "unit": str(units[i]),
                "answers": {
                    **dict.fromkeys(ALWAYS, None),
                    **dict(zip(used, map(str, codes[i]), strict=True)),
                },
            }
            for i in range(n)
        ]
    )
    settings = IntegritySettings(near_duplicate_max_differences=differences)
    found = rules_of(check_integrity(Q, frame, settings)).get(NEAR_DUPLICATE, set())
    constant = codes.min(axis=1) == codes.max(axis=1)
    distance = (codes[:, None, :] != codes[None, :, :]).sum(axis=2)
    close = (distance <= differences) & (units[:, None] == units[None, :]) & ~np.eye(n, dtype=bool)
    close &= ~constant[:, None] & ~constant[None, :]
    expected = {f"F{i + 1}" for i in np.flatnonzero(close.any(axis=1))}
    assert found == expected
    assert differences == 0 or len(expected) > 4  # the case is not trivial


def test_late_keying_hand_worked():
    day = local("2024-05-06 00:00")
    forms = [
        {"source": "paper", "submitted_at": day, "received_at": day + pd.Timedelta(days=d)}
        for d in (1, 3, 14, 20)
    ]
    forms.append(kiosk_form("2024-05-06 09:00", 200, received_at=local("2024-06-30 09:00")))
    report = check_integrity(Q, pd.concat([small(forms)], ignore_index=True))
    assert rules_of(report)[LATE_KEYING] == {"F4"}  # the kiosk form is not paper; 14 days is not above 14
    evidence = report.flags.loc[report.flags["rule"] == LATE_KEYING, "evidence"].item()
    assert evidence.startswith("phiếu giấy ghi ngày 06/05/2024, nhập ngày 26/05/2024: sau 20 ngày")


def test_unit_jump_hand_worked():
    frame = small([{"unit": u} for u in ("U1", "U1", "U2", "U2", "U3")])
    current = score(Q, frame)
    previous = pd.DataFrame({"unit": ["U1", "U2"], "index": [current.unit("U1").index - 20, 90.0]})
    previous.loc[1, "index"] = current.unit("U2").index + 5
    report = check_integrity(Q, frame, previous=previous)
    assert report.unit_flags["unit"].tolist() == ["U1"]
    assert "tăng 20.00 điểm, quá 15 điểm" in report.unit_flags["evidence"].item()
    assert report.counts.loc["U1", UNIT_JUMP] == 1 and report.counts.loc["U2", UNIT_JUMP] == 0
    # The same with an IndexTable already scored.
    again = check_integrity(Q, frame, previous=previous, current=current)
    pd.testing.assert_frame_equal(again.unit_flags, report.unit_flags)
    assert report.flagged_ids() == ()  # a unit flag names no form
    # A previous IndexTable (as analysis.read_previous returns it): U1 was scored on all-2 answers.
    before = frame.copy()
    before.loc[before["unit"] == "U1", ALWAYS] = "2"
    table = check_integrity(Q, frame, previous=score(Q, before), current=current)
    assert table.unit_flags["unit"].tolist() == ["U1"]
    with pytest.raises(ScoringError, match="unit và index"):
        check_integrity(Q, frame, previous=pd.DataFrame({"unit": ["U1"]}), current=current)


def test_skipped_checks_name_the_missing_columns():
    frame = small([{}, {}, {}])  # the answers only: no source, no timestamps, no paradata
    report = check_integrity(Q, frame)
    reasons = {s.rule: s.reason for s in report.skipped}
    assert set(report.checks_run) == {STRAIGHT_LINING, NEAR_DUPLICATE}
    assert set(reasons) == set(RULES) - set(report.checks_run)
    assert "không có cột started_at" in reasons[SPEEDING]
    assert "(the responses table has no kiosk column)" in reasons[BURST_KIOSK]
    assert "enumerator" in reasons[BURST_ENUMERATOR]
    assert "received_at" in reasons[LATE_KEYING] or "source" in reasons[LATE_KEYING]
    assert reasons[UNIT_JUMP] == "không có kết quả kỳ trước (no previous results were given)"
    # An empty paradata column is skipped too, and a check turned off says so.
    frame["kiosk"] = None
    off = check_integrity(Q, frame, IntegritySettings(straight_lining=False))
    reasons = {s.rule: s.reason for s in off.skipped}
    assert reasons[BURST_KIOSK] == "cột kiosk không có giá trị nào (the kiosk column is empty)"
    assert reasons[STRAIGHT_LINING] == "tắt trong cài đặt (turned off in the settings)"
    assert list(off.counts.columns) == ["forms", NEAR_DUPLICATE, "flagged"]


def test_timestamps_as_text_are_read_and_unreadable_ones_noted():
    frame = small([{"source": "kiosk"} for _ in range(3)])
    frame["submitted_at"] = ["2024-05-06T20:00:00+07:00", "2024-05-06T09:00:00Z", "hôm qua"]
    report = check_integrity(Q, frame)
    assert rules_of(report)[OFF_HOURS] == {"F1"}  # 20:00 local; 09:00 UTC is 16:00 local
    assert report.notes == (
        "1 phiếu có submitted_at không đọc được, coi như để trống "
        "(1 forms have an unreadable submitted_at, taken as blank)",
    )


def test_settings_are_checked_and_round_trip():
    s = IntegritySettings(
        speeding_fraction=0.25, office_hours=((0, "08:00", "17:00"),), holidays=("2025-01-29",)
    )
    assert IntegritySettings.from_mapping(s.to_dict()) == s
    with pytest.raises(ScoringError, match="speeding_fraction"):
        IntegritySettings(speeding_fraction=1.5)
    with pytest.raises(ScoringError, match="office_hours"):
        IntegritySettings(office_hours=((7, "08:00", "17:00"),))
    with pytest.raises(ScoringError, match="near_duplicate_max_differences"):
        IntegritySettings(near_duplicate_max_differences=3)
    with pytest.raises(ScoringError, match="speding"):
        IntegritySettings.from_mapping({"speding": True})


def test_unknown_rule_in_flagged_ids_is_an_error():
    report = check_integrity(Q, small([{}, {}]))
    with pytest.raises(ScoringError):
        report.flagged_ids(["nope"])


# ---------------------------------------------------------------------------- seeded campaign
UNITS = [f"X{i:02d}" for i in range(16)]
FIRST_DAY = pd.Timestamp("2024-05-06")  # a Monday
WORKING_DAYS = [
    FIRST_DAY + pd.Timedelta(days=d) for d in range(21) if (FIRST_DAY + pd.Timedelta(days=d)).weekday() < 5
]


def _honest_times(rng: np.random.Generator, n: int) -> tuple[pd.Series, pd.Series]:
    """Start and submit times inside office hours over three weeks; durations log-normal around 4 min."""
    days = np.array(WORKING_DAYS, dtype="datetime64[ns]")[rng.integers(0, len(WORKING_DAYS), n)]
    minute = rng.uniform(7 * 60 + 15, 16 * 60 + 45, n)
    start_local = pd.Series(days) + pd.to_timedelta(minute, unit="min")
    seconds = np.clip(rng.lognormal(np.log(240), 0.4, n), 60, 1500)
    start = (start_local - VN).dt.tz_localize("UTC")
    return start, start + pd.to_timedelta(seconds, unit="s")


def _blank_feedback(frame: pd.DataFrame) -> None:
    frame["da_gop_y"] = "2"
    for code in LIKERT:
        if code.startswith("phan_anh"):
            frame[code] = pd.NA


def seeded_campaign(seed: int = 7) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """16 units × 60 honest forms plus planted bad ones; returns the table and the planted ids by kind."""
    rng = np.random.default_rng(seed)
    honest = synthetic_responses(Q, UNITS, 60, seed=seed, comment_rate=0.0)
    honest = honest.astype({c: object for c in honest.columns if c != "response_id"})
    n = len(honest)
    honest["source"] = "kiosk"
    honest["kiosk"] = "K-" + honest["unit"].astype(str)
    honest["started_at"], honest["submitted_at"] = _honest_times(rng, n)
    # Units X12 and X13 also key 15 paper forms each, 1-5 days after their date, by enumerator nv-X.
    paper = synthetic_responses(Q, ["X12", "X13"], 15, seed=seed + 1, comment_rate=0.0).astype(object)
    paper["response_id"] = ["P" + str(i) for i in range(len(paper))]
    paper["source"] = "paper"
    paper["enumerator"] = "nv-" + paper["unit"].astype(str)
    dates = np.array(WORKING_DAYS, dtype="datetime64[ns]")[rng.integers(0, len(WORKING_DAYS), len(paper))]
    paper["submitted_at"] = (pd.Series(dates) - VN).dt.tz_localize("UTC")
    paper["received_at"] = paper["submitted_at"] + pd.to_timedelta(rng.uniform(1, 5, len(paper)), unit="D")
    paper["started_at"] = pd.NaT

    planted: dict[str, set[str]] = {}
    extra = []

    def new_forms(kind: str, unit: str, k: int) -> pd.DataFrame:
        forms = synthetic_responses(Q, [unit], k, seed=seed + len(extra) + 10, comment_rate=0.0).astype(
            object
        )
        forms["response_id"] = [f"{kind}-{i}" for i in range(k)]
        forms["source"] = "kiosk"
        forms["kiosk"] = "K-" + unit
        forms["started_at"], forms["submitted_at"] = _honest_times(rng, k)
        planted[kind] = set(forms["response_id"])
        extra.append(forms)
        return forms

    # A staff-filled burst: 8 forms from X01's kiosk in 6 minutes, every Likert answer 5.
    burst = new_forms("burst", "X01", 8)
    _blank_feedback(burst)
    burst[ALWAYS] = "5"
    begin = local("2024-05-08 10:00") + pd.to_timedelta(np.arange(8) * 45 + 5, unit="s")
    burst["started_at"] = begin - pd.Timedelta(seconds=40)
    burst["submitted_at"] = begin
    # Speeders in X03: 20-40 s.
    speed = new_forms("speeder", "X03", 6)
    speed["submitted_at"] = speed["started_at"] + pd.to_timedelta(rng.uniform(20, 40, 6), unit="s")
    # Straight-liners in X05: three all 5, two all 4.
    straight = new_forms("straight", "X05", 5)
    _blank_feedback(straight)
    straight[ALWAYS] = "5"
    straight.loc[straight.index[3:], ALWAYS] = "4"
    # A near-duplicate pair in X07: a new form copying an honest form's answers.
    copy = new_forms("duplicate", "X07", 1)
    original = honest.loc[honest["unit"] == "X07"].iloc[[4]]
    answered = list(Q.item_codes[1:-1])  # every item but the start and end metadata
    copy[answered] = original[answered].to_numpy()
    planted["duplicate"].add(original["response_id"].item())
    # Off-hours in X09: Tuesday evening and Sunday morning.
    late = new_forms("off_hours", "X09", 3)
    for i, when in enumerate(("2024-05-07 20:30", "2024-05-12 09:15", "2024-05-14 05:40")):
        late.loc[late.index[i], "started_at"] = local(when) - pd.Timedelta(minutes=4)
        late.loc[late.index[i], "submitted_at"] = local(when)
    # Paper forms of X12 keyed a month after their date.
    keyed = paper.iloc[:4].copy()
    paper = paper.iloc[4:]
    keyed["response_id"] = [f"late_keying-{i}" for i in range(4)]
    keyed["received_at"] = keyed["submitted_at"] + pd.Timedelta(days=30)
    planted["late_keying"] = set(keyed["response_id"])
    extra.append(keyed)

    frame = pd.concat([honest, paper, *extra], ignore_index=True)
    frame["response_id"] = frame["response_id"].astype(str)
    for column in ("started_at", "submitted_at", "received_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame, planted


INTENDED = {  # the planted kind -> the rule meant to find it
    "burst": BURST_KIOSK,
    "speeder": SPEEDING,
    "straight": STRAIGHT_LINING,
    "duplicate": NEAR_DUPLICATE,
    "off_hours": OFF_HOURS,
    "late_keying": LATE_KEYING,
}
# Lower bounds on precision, from the seeded campaign (the figures are printed); a speeding flag is
# wrong about 3 times in 1,000 honest forms with the log-normal spread used (sd of log 0.4).
PRECISION_AT_LEAST = {SPEEDING: 0.8, BURST_KIOSK: 0.85}


@pytest.fixture(scope="module")
def campaign():
    frame, planted = seeded_campaign()
    return frame, planted, check_integrity(Q, frame)


def test_seeded_campaign_recall_and_precision(campaign):
    frame, planted, report = campaign
    bad = set().union(*planted.values())
    found = rules_of(report)
    lines = []
    for kind, rule in INTENDED.items():
        recall = len(planted[kind] & found.get(rule, set())) / len(planted[kind])
        lines.append(f"recall {kind:<12} by {rule:<16} {recall:.2f} ({len(planted[kind])} planted)")
        assert recall == 1.0, kind
    for rule in FORM_RULES:
        flagged = found.get(rule, set())
        if not flagged:
            continue
        precision = len(flagged & bad) / len(flagged)
        lines.append(
            f"precision {rule:<16} {precision:.3f} ({len(flagged)} flagged, {len(flagged - bad)} honest)"
        )
        assert precision >= PRECISION_AT_LEAST.get(rule, 0.9), rule
    overall = set(report.flagged_ids())
    lines.append(
        f"overall: {len(overall & bad)}/{len(bad)} planted flagged, {len(overall - bad)} of "
        f"{len(frame) - len(bad)} honest forms flagged; precision {len(overall & bad) / len(overall):.3f}"
    )
    print("\n" + "\n".join(lines))
    assert overall >= bad
    assert set(report.checks_run) == set(FORM_RULES)
    assert report.counts["forms"].sum() == len(frame)
    assert report.counts.loc["X01", BURST_KIOSK] >= 8


def test_sensitivity_moves_exactly_the_units_with_flagged_forms(campaign):
    frame, planted, report = campaign
    table = sensitivity(Q, frame, report).set_index("unit")
    flagged_units = set(report.flags["unit"])
    planted_units = set(frame.loc[frame["response_id"].isin(set().union(*planted.values())), "unit"])
    changed = set(table.index[table["index"] != table["index_without"]])
    print(
        f"\nplanted units {sorted(planted_units)}; flagged units {sorted(flagged_units)}; "
        f"changed {sorted(changed)}"
    )
    assert planted_units <= flagged_units
    assert changed == flagged_units
    untouched = table.loc[~table.index.isin(flagged_units)]
    assert (untouched["index"] == untouched["index_without"]).all()  # exactly, not approximately
    assert (untouched["flagged"] == 0).all()
    assert table.loc["X01", "index_change"] < 0  # eight "all 5" forms were lifting X01
    assert table["n"].sum() == len(frame)
    # The same as scoring the table without the flagged forms directly.
    direct = score(Q, frame.loc[~frame["response_id"].isin(report.flagged_ids())])
    assert table.loc["X05", "index_without"] == direct.unit("X05").index
    # A caller that scored every form already hands its table over and gets the same answer.
    reused = sensitivity(Q, frame, report, scored=score(Q, frame)).set_index("unit")
    pd.testing.assert_frame_equal(reused, table)


def test_sensitivity_of_chosen_rules_only(campaign):
    frame, planted, report = campaign
    table = sensitivity(Q, frame, report, rules=[LATE_KEYING]).set_index("unit")
    assert set(table.index[table["flagged"] > 0]) == {"X12"}
    assert set(table.index[table["index"] != table["index_without"]]) <= {"X12"}
