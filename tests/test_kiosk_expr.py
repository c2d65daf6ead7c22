"""The kiosk's JavaScript expression evaluator agrees with questionnaires.expressions, case by case.

The same cases (hand-written edge cases plus a seeded random sample of expressions and answers) are
evaluated in Python and by static/kiosk/expr.js — in headless Chromium (the browser the kiosk runs in)
and, when Node.js is installed, in Node — and the typed results must be identical.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from questionnaires.expressions import ExpressionError, parse

EXPR_JS = Path(__file__).resolve().parents[1] / "survey" / "static" / "kiosk" / "expr.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# (expression, answers, current value of ".")
HAND_CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("${a} = 1", {"a": "1"}, None),
    ("${a} = 1", {"a": 1}, None),
    ("${a} = '1'", {"a": 1.0}, None),
    ("${a} = '01'", {"a": "1"}, None),  # both numeric: compared as numbers
    ("${a} = 'x'", {"a": "x"}, None),
    ("${a} != ''", {}, None),
    ("${a} != ''", {"a": "x"}, None),
    ("${a}", {}, None),
    ("${a}", {"a": ["x", "y"]}, None),
    ("${m} = 'a b'", {"m": ["a", "b"]}, None),
    ("${m} = 2", {"m": ["2"]}, None),
    ("${m} = ''", {"m": []}, None),
    ("${m} and true()", {"m": []}, None),
    ("selected(${m}, 'tv')", {"m": ["radio", "tv"]}, None),
    ("selected(${m}, 'tv')", {"m": "radio tv"}, None),
    ("selected(${m}, 'tv')", {"m": []}, None),
    ("selected(${m}, 1)", {"m": ["1", "2"]}, None),
    ("count-selected(${m})", {"m": ["a", "b", "c"]}, None),
    ("count-selected(${m})", {"m": "a  b"}, None),
    ("count-selected(${m})", {}, None),
    (". >= 1 and . <= 20", {}, 7),
    (". >= 1 and . <= 20", {}, 21),
    (". >= 1", {}, ""),
    (". >= 1", {}, " 3 "),
    (". >= 1", {}, "\u00a03\u2003"),  # Python's strip() removes these spaces
    (". >= 1", {}, "\ufeff3"),  # ...but not a byte-order mark
    (". >= 1", {}, "\x1c3"),
    (". = 3", {}, "٣"),  # Arabic-Indic digit three: a number for Python's float()
    (". = 12", {}, "१२"),  # Devanagari
    (". = 1.5", {}, "1.5"),
    (". = 1", {}, "1."),
    (". = 0.5", {}, ".5"),
    (". = -0.5", {}, "-.5"),
    (". = '-'", {}, "-"),
    (". = '.'", {}, "."),
    (". = 1", {}, "+1"),
    (". = 100", {}, "1e2"),
    (". > 0", {}, "0x1"),
    (". > 0", {}, True),
    (". = 1", {}, True),
    (". = 'true'", {}, True),
    ("${n} + 2 * 3", {"n": 4}, None),
    ("(${n} + 2) * 3", {"n": 4}, None),
    ("-${n}", {"n": 4}, None),
    ("-${n}", {"n": "x"}, None),
    ("${n} mod 2", {"n": 7}, None),
    ("-7 mod 3", {}, None),
    ("7.5 mod -2", {}, None),
    ("1 div 0", {}, None),
    ("0 div 0", {}, None),
    ("1 mod 0", {}, None),
    ("1 div 3", {}, None),
    ("string(1 div 3)", {}, None),
    ("string(0.1 + 0.2)", {}, None),
    ("string(0.00001)", {}, None),
    ("string(0.0001)", {}, None),
    ("string(0.000123)", {}, None),
    ("string(10000000000000000)", {}, None),
    ("string(123456789012345678)", {}, None),
    ("string(1234567890123456.5)", {}, None),
    ("string(123456789012345.6)", {}, None),
    ("string(2.5)", {}, None),
    ("string(-2.5 * 2)", {}, None),
    ("string(0 - 0)", {}, None),
    ("string(-0)", {}, None),
    ("string(1 div 0)", {}, None),
    ("string(${x})", {"x": 1e308}, None),
    ("string(${x} * 10)", {"x": 1e308}, None),
    ("string(-${x} * 10)", {"x": 1e308}, None),
    ("string(${x})", {"x": 5e-324}, None),
    ("string(${x})", {"x": 1.7976931348623157e308}, None),
    ("string(${m})", {"m": ["1", "2"]}, None),
    ("string(true())", {}, None),
    ("string(${a})", {}, None),
    ("number('12')", {}, None),
    ("number('1 2')", {}, None),
    ("number(true())", {}, None),
    ("number(${m})", {"m": ["7"]}, None),
    ("string-length(${t})", {"t": "Hà Nội"}, None),
    ("string-length(${t})", {"t": "Ha\u0300"}, None),  # decomposed: 3 code points
    ("string-length(${t})", {"t": "𝟘𝟙"}, None),  # astral characters count once each
    ("string-length(12.50)", {}, None),
    ("if(${a} = 1, 'x', 'y')", {"a": 2}, None),
    ("if(${a}, ${a}, 0)", {"a": "0"}, None),
    ("coalesce(${a}, ${b})", {"b": "z"}, None),
    ("coalesce(${a}, ${b}, 3)", {}, None),
    ("coalesce(${m}, 'none')", {"m": []}, None),
    ("true() and not(false())", {}, None),
    ("not(0)", {}, None),
    ("not('0')", {}, None),
    ("not(0 div 0)", {}, None),
    ("not(${m})", {"m": []}, None),
    ("'abc' < 'abd'", {}, None),
    ("'2' < '10'", {}, None),
    ("'b' = 'B'", {}, None),
    ("0 div 0 = 0 div 0", {}, None),  # NaN = NaN compares as text "NaN"
    ("0 div 0 != 'NaN'", {}, None),
    ("1 div 0 = 'inf'", {}, None),
    ("${a} = 1 or ${a} = 2 and ${b} = 3", {"a": "2", "b": "4"}, None),
    ("1 < 2 = 1", {}, None),
    ("1 + 1 = 2 = true()", {}, None),
    ("${da_gop_y} = 1", {"da_gop_y": "1"}, None),
    ("${da_gop_y} = 1", {"da_gop_y": "2"}, None),
    ("${da_thuc_hien_tthc} = 1 and ${da_gop_y} = 1", {"da_thuc_hien_tthc": "1"}, None),
    ("${nhom} = 'lanh_dao'", {"nhom": "lanh_dao"}, None),
]


def _random_cases(seed: int, count: int) -> list[tuple[str, dict[str, Any], Any]]:
    """Random well-formed expressions over random answers (strings, numbers, lists, blanks)."""
    rng = random.Random(seed)
    values: list[Any] = [
        "", "0", "1", "2", "5", "-3", "1.5", " 4 ", "x", "Hà", "1 2", "NaN", "inf", "٣",
        0, 1, 2.5, -1, 1e-05, 1e16, True, False, ["1"], ["1", "2"], [], ["x", "y", "z"],
    ]  # fmt: skip
    names = ["a", "b", "c", "m"]
    binops = ["or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod"]

    def atom(depth: int) -> str:
        pick = rng.random()
        if pick < 0.35:
            return "${" + rng.choice(names) + "}"
        if pick < 0.45:
            return "."
        if pick < 0.6:
            return rng.choice(["0", "1", "2", "3", "0.5", "10", "1.25"])
        if pick < 0.72:
            return "'" + rng.choice(["", "1", "x", "a b", "2", "Hà"]) + "'"
        return call(depth)

    def call(depth: int) -> str:
        name = rng.choice(
            ["not", "selected", "count-selected", "string-length", "if", "number", "string", "coalesce"]
        )
        arity = {"selected": 2, "if": 3, "coalesce": rng.randint(2, 3)}.get(name, 1)
        return f"{name}(" + ", ".join(expr(depth + 1) for _ in range(arity)) + ")"

    def expr(depth: int = 0) -> str:
        if depth >= 3 or rng.random() < 0.3:
            return atom(depth)
        if rng.random() < 0.1:
            return "-" + atom(depth)
        text = f"{expr(depth + 1)} {rng.choice(binops)} {expr(depth + 1)}"
        return f"({text})" if rng.random() < 0.5 else text

    cases = []
    while len(cases) < count:
        text = expr()
        answers = {n: rng.choice(values) for n in names if rng.random() < 0.8}
        cases.append((text, answers, rng.choice(values)))
    return cases


def _typed(value: Any) -> Any:
    """A Python result as a JSON value that keeps its type (bool vs number) and NaN/infinities."""
    if value is None:
        return ["null"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, (int, float)):
        if math.isnan(value):
            return ["nan"]
        if math.isinf(value):
            return ["inf", 1 if value > 0 else -1]
        return ["num", float(value)]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, (list, tuple)):
        return ["list", [_typed(v) for v in value]]
    raise TypeError(type(value))


JS_TYPED = """
function typed(v) {
  if (v === null || v === undefined) return ["null"];
  if (typeof v === "boolean") return ["bool", v];
  if (typeof v === "number") {
    if (Number.isNaN(v)) return ["nan"];
    if (!Number.isFinite(v)) return ["inf", v > 0 ? 1 : -1];
    return ["num", v];
  }
  if (typeof v === "string") return ["str", v];
  if (Array.isArray(v)) return ["list", v.map(typed)];
  return ["other", String(v)];
}
function run(E, cases) {
  return cases.map(function (c) {
    try { return typed(E.evaluate(c.tree, c.answers, c.current)); }
    catch (e) { return ["error", String(e)]; }
  });
}
"""


def _prepared(cases) -> tuple[list[dict], list[Any]]:
    """Cases as JSON for the browser, with Python's typed results (cases Python rejects are dropped)."""
    payload, expected = [], []
    for text, answers, current in cases:
        try:
            tree = parse(text)
            result = tree.evaluate(answers, current)
        except (ExpressionError, ValueError):
            # Parse errors cannot reach the browser; math.fmod raises on infinities (no JS analogue).
            continue
        payload.append({"text": text, "tree": tree.to_json(), "answers": answers, "current": current})
        expected.append(_typed(result))
    return payload, expected


CASES = HAND_CASES + _random_cases(seed=20231, count=1500)


def _compare(payload, expected, got) -> None:
    mismatches = [
        (case["text"], case["answers"], case["current"], want, have)
        for case, want, have in zip(payload, expected, got, strict=True)
        if want != have
    ]
    assert not mismatches, "\n".join(
        f"{text!r} answers={answers!r} current={current!r}: python {want} js {have}"
        for text, answers, current, want, have in mismatches[:20]
    )


def test_the_cases_cover_the_language():
    payload, _ = _prepared(CASES)
    assert len(payload) > 1200
    used = json.dumps([c["tree"] for c in payload])
    for name in ("not", "selected", "count-selected", "string-length", "if", "number", "string", "coalesce"):
        assert f'"{name}"' in used
    for op in ("or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod"):
        assert f'"{op}"' in used


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_node_evaluator_matches_python(tmp_path):
    payload, expected = _prepared(CASES)
    script = tmp_path / "run.js"
    script.write_text(
        JS_TYPED
        + f"var E = require({json.dumps(str(EXPR_JS))});\n"
        + "var input = require('fs').readFileSync(0, 'utf8');\n"
        + "process.stdout.write(JSON.stringify(run(E, JSON.parse(input))));\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [shutil.which("node"), str(script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    _compare(payload, expected, json.loads(out.stdout))


@pytest.mark.browser
def test_browser_evaluator_matches_python():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    payload, expected = _prepared(CASES)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content("<!doctype html><title>expr</title>")
            page.add_script_tag(path=str(EXPR_JS))
            page.add_script_tag(content=JS_TYPED)
            got = page.evaluate("cases => run(window.SipasExpr, cases)", payload)
        finally:
            browser.close()
    _compare(payload, expected, got)
