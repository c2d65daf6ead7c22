"""Responses not asked the stratum question (``unasked_stratum``): by hand and computed independently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import ScoringError, score
from questionnaires import UnaskedStratum, from_data, load_questionnaire, read_xlsform, to_dict, write_xlsform

LIKERT = [{"code": i, "label": {"vi": f"Mức {i}"}} for i in range(1, 6)]
YES_NO = [{"code": 1, "label": {"vi": "Có"}}, {"code": 2, "label": {"vi": "Không"}}]
FIELDS = [{"code": "dat_dai", "label": {"vi": "Đất đai"}}, {"code": "ho_tich", "label": {"vi": "Hộ tịch"}}]


def questionnaire(rule: str | None = "unit_cell"):
    """y is asked of everyone; the field lv and z only of those who did a procedure (lam = 1)."""
    scoring = {
        "method": "share_satisfied",
        "min_n": 1,
        "index": {
            "code": "chi_so",
            "label": {"vi": "Chỉ số"},
            "elements": [
                {"code": "A", "label": {"vi": "Chính sách"}, "criteria": ["y"]},
                {"code": "B", "label": {"vi": "Dịch vụ"}, "gate": "${lam} = 1", "criteria": ["z"]},
            ],
        },
    }
    if rule is not None:
        scoring["unasked_stratum"] = rule
    return from_data(
        {
            "id": "strata",
            "version": "1",
            "title": {"vi": "Phiếu có câu lĩnh vực sau câu trải nghiệm"},
            "choices": {"likert5": LIKERT, "co_khong": YES_NO, "linh_vuc": FIELDS},
            "sections": [
                {
                    "code": "s",
                    "label": {"vi": "Câu hỏi"},
                    "questions": [
                        {"code": "y", "type": "single", "choices": "likert5", "label": {"vi": "Chính sách"}},
                        {
                            "code": "lam",
                            "type": "single",
                            "choices": "co_khong",
                            "label": {"vi": "Đã làm TTHC?"},
                        },
                        {
                            "code": "lv",
                            "type": "single",
                            "choices": "linh_vuc",
                            "role": "stratum",
                            "relevant": "${lam} = 1",
                            "label": {"vi": "Lĩnh vực"},
                        },
                        {
                            "code": "z",
                            "type": "single",
                            "choices": "likert5",
                            "relevant": "${lam} = 1",
                            "label": {"vi": "Dịch vụ"},
                        },
                    ],
                }
            ],
            "scoring": scoring,
        }
    ).questionnaire


def responses() -> pd.DataFrame:
    # u: dat_dai 2 (N 300), ho_tich 4 (N 100), 3 not asked the field; v: ho_tich 2 (N 10), 1 not asked
    rows = [
        ("u", "1", "dat_dai", 5, 5),
        ("u", "1", "dat_dai", 5, 4),
        ("u", "1", "ho_tich", 1, 1),
        ("u", "1", "ho_tich", 1, 1),
        ("u", "1", "ho_tich", 5, 1),
        ("u", "1", "ho_tich", 1, 5),
        ("u", "2", None, 5, None),
        ("u", "2", None, 1, None),
        ("u", "2", None, 5, None),
        ("v", "1", "ho_tich", 4, 2),
        ("v", "1", "ho_tich", 2, 4),
        ("v", "2", None, 4, None),
    ]
    return pd.DataFrame(
        {
            "response_id": [f"r{i}" for i in range(len(rows))],
            "unit": [r[0] for r in rows],
            "lam": [r[1] for r in rows],
            "lv": [r[2] for r in rows],
            "y": [r[3] for r in rows],
            "z": [r[4] for r in rows],
        }
    )


FRAME = pd.DataFrame(
    {"unit": ["u", "u", "v"], "stratum": ["dat_dai", "ho_tich", "ho_tich"], "population": [300, 100, 10]}
)


def test_unasked_cell_by_hand():
    t = score(questionnaire(), responses(), FRAME)
    u = t.unit("u")
    # The 3 not asked weigh u's mean design weight (300 + 100) / 6 = 66.67: their cell's N is 200.
    # A (y, everyone): (150·2 + 25·1 + 66.67·2) / (300 + 100 + 200) = 458.33 / 600
    # B (z, gated to lam = 1): (150·2 + 25·1) / 400
    a, b = 100 * (300 + 25 + 400 / 3) / 600, 100 * 325 / 400
    assert u.elements["A"] == pytest.approx(a, abs=1e-9)
    assert u.elements["B"] == pytest.approx(b, abs=1e-9)
    assert u.index == pytest.approx((a + b) / 2, abs=1e-9)
    assert u.population == 400  # the people not asked are not in the frame's population served
    assert u.n == 9
    assert any("unit_cell" in w for w in t.warnings)


def _independent_se(df: pd.DataFrame, frame: pd.DataFrame, unit: str) -> float:
    """Linearised SE of the mean of two ratio elements, stratified with fpc, straight from the formulas."""
    d = df[df.unit == unit].copy()
    d["cell"] = d.lv.fillna("(không hỏi)")
    pops = {r.stratum: r.population for r in frame[frame.unit == unit].itertuples()}
    asked = d[d.lv.notna()]
    rate = sum(pops.values()) / len(asked)
    n_h = d.cell.value_counts()
    N_h = {c: pops.get(c, n_h[c] * rate) for c in n_h.index}
    d["w"] = [N_h[c] / n_h[c] for c in d.cell]
    z = np.zeros(len(d))
    for item, gate in (("y", np.ones(len(d), dtype=bool)), ("z", (d.lam == "1").to_numpy())):
        v = pd.to_numeric(d[item]).to_numpy()
        x = gate & ~np.isnan(v)
        yv = x & (v >= 4)
        X = (d.w * x).sum()
        R = (d.w * yv).sum() / X
        z += d.w.to_numpy() * (yv.astype(float) - R * x) / X / 2
    var = 0.0
    for c, idx in d.groupby("cell").indices.items():
        zc = z[idx]
        n = len(zc)
        if n > 1:
            var += (1 - n / N_h[c]) * n / (n - 1) * ((zc - zc.mean()) ** 2).sum()
        else:  # a lonely cell: centred at the domain's mean of z, which is 0 (R's lonely.psu "adjust")
            var += (1 - 1 / N_h[c]) * zc[0] ** 2
    return 100 * var**0.5


def test_unasked_cell_standard_error_independently():
    df = responses()
    t = score(questionnaire(), df, FRAME)
    for unit in ("u", "v"):
        assert t.unit(unit).se == pytest.approx(_independent_se(df, FRAME, unit), rel=1e-9)


def test_blank_stratum_where_it_was_asked_is_an_error():
    df = responses()
    df.loc[2, "lv"] = None  # r2 did a procedure (lam = 1), so lv was asked
    with pytest.raises(ScoringError, match=r"lv.*r2|r2.*lv"):
        score(questionnaire(), df, FRAME)


def test_unit_with_no_stratum_at_all_is_an_error():
    df = responses()
    df = df[~((df.unit == "v") & (df.lam == "1"))]
    with pytest.raises(ScoringError, match="v"):
        score(questionnaire(), df, FRAME)


def test_refuse_is_the_default_and_keeps_the_old_error():
    assert questionnaire(None).scoring.unasked_stratum is UnaskedStratum.REFUSE
    with pytest.raises(ScoringError, match="stratum để trống"):
        score(questionnaire("refuse"), responses(), FRAME)


def test_without_a_frame_by_stratum_the_rule_changes_nothing():
    df = responses()
    unit_frame = pd.DataFrame({"unit": ["u", "v"], "population": [400, 10]})
    assert score(questionnaire(), df, unit_frame).unit("u").index == pytest.approx(
        score(questionnaire("refuse"), df, unit_frame).unit("u").index
    )


def test_setting_round_trips_and_sipas_2023_uses_it(tmp_path):
    q = questionnaire()
    assert from_data(to_dict(q)).questionnaire == q
    path = tmp_path / "strata.xlsx"
    write_xlsform(q, path)
    assert from_data(read_xlsform(path)).questionnaire.scoring.unasked_stratum is UnaskedStratum.UNIT_CELL
    with pytest.raises(Exception, match="unasked_stratum"):
        data = to_dict(q)
        data["scoring"]["unasked_stratum"] = "bo_qua"
        from_data(data)
    s23 = load_questionnaire("sipas-2023")
    assert s23.scoring.unasked_stratum is UnaskedStratum.UNIT_CELL
    assert s23.question("linh_vuc").relevant.text == "${da_thuc_hien_tthc} = 1"
    codes = [qq.code for qq in s23.questions()]
    assert codes.index("da_thuc_hien_tthc") < codes.index("linh_vuc")


def test_shipped_sipas_2023_scores_with_a_frame_by_field_and_says_so(tmp_path):
    import io

    import openpyxl

    from reports.synthetic import synthetic_responses
    from reports.workbook import build_report

    q = load_questionnaire("sipas-2023")
    units = ["xa-a", "xa-b", "xa-c"]
    df = synthetic_responses(q, units, 40, seed=7)
    not_asked = df["da_thuc_hien_tthc"].astype("str") == "2"
    assert not_asked.any() and df.loc[not_asked, "stratum"].isna().all()
    assert df.loc[~not_asked, "stratum"].notna().all()
    fields = [c.code for c in q.choice_list(q.question("linh_vuc")).choices]
    frame = pd.DataFrame(
        [(u, f, 50 + 10 * i + j) for i, u in enumerate(units) for j, f in enumerate(fields)],
        columns=["unit", "stratum", "population"],
    )
    t = score(q, df, frame)
    assert t.unasked_stratum == "unit_cell"
    for i, u in enumerate(units):
        r = t.unit(u)
        assert r.n == 40 and r.index is not None
        assert r.population == sum(50 + 10 * i + j for j in range(len(fields)))
    with pytest.raises(ScoringError, match="stratum để trống"):
        data = to_dict(q)
        data["scoring"]["unasked_stratum"] = "refuse"
        score(from_data(data).questionnaire, df, frame)
    buffer = io.BytesIO()
    build_report(t, q, buffer, pictures=False)
    method = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))["Phương pháp"]
    text = " ".join(str(c.value) for row in method.iter_rows() for c in row if c.value)
    assert "unasked_stratum = unit_cell" in text and "không phải quy định" in text
