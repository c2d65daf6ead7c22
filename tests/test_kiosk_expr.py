"""The kiosk's JavaScript expression evaluator and skip logic agree with Python's, case by case.

Expressions: the same cases (hand-written edge cases plus a seeded random sample of expressions and
answers) are evaluated in Python and by static/kiosk/expr.js, and the typed results must be identical.
Skip logic: for every shipped questionnaire and for seeded random ones (sections with ``relevant``,
questions with ``relevant`` on earlier and later answers, respondent groups), over many random answer
sets, questionnaires.applicability and SipasExpr must keep and drop the same answers and ask the same
questions. Each check runs as one batch in headless Chromium (the browser the kiosk runs in) and, when
Node.js is installed, in Node.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import questionnaire as runtime_questionnaire

from questionnaires import (
    QuestionType,
    applicable,
    drop_inapplicable,
    from_data,
    list_questionnaires,
    load_questionnaire,
    offered_codes,
    parse_choice_filter,
    respondent_group,
    settle,
)
from questionnaires.expressions import ExpressionError, parse
from survey.client import client_definition

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


def _node(tmp_path, js: str, function: str, payload: Any) -> Any:
    """Run ``function(SipasExpr, payload)`` from ``js`` in one Node process; return its JSON result."""
    script = tmp_path / "run.js"
    script.write_text(
        js
        + f"var E = require({json.dumps(str(EXPR_JS))});\n"
        + "var input = require('fs').readFileSync(0, 'utf8');\n"
        + f"process.stdout.write(JSON.stringify({function}(E, JSON.parse(input))));\n",
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
    return json.loads(out.stdout)


def _browser(js: str, function: str, payload: Any) -> Any:
    """Run ``function(SipasExpr, payload)`` from ``js`` in one headless Chromium page."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content("<!doctype html><title>expr</title>")
            page.add_script_tag(path=str(EXPR_JS))
            page.add_script_tag(content=js)
            return page.evaluate(f"payload => {function}(window.SipasExpr, payload)", payload)
        finally:
            browser.close()


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


@needs_node
def test_node_evaluator_matches_python(tmp_path):
    payload, expected = _prepared(CASES)
    _compare(payload, expected, _node(tmp_path, JS_TYPED, "run", payload))


@pytest.mark.browser
def test_browser_evaluator_matches_python():
    payload, expected = _prepared(CASES)
    _compare(payload, expected, _browser(JS_TYPED, "run", payload))


# ------------------------------------------------------------------ skip logic: sections, groups, cascade
def _condition(rng: random.Random, code: str, qtype: str) -> str:
    """A random test of one item, as skip logic writes them."""
    ref = "${" + code + "}"
    if code == "nhom":
        return rng.choice([f"{ref} = 'dan'", f"{ref} != 'lanh_dao'", f"{ref} = ''"])
    options = {
        "single": [f"{ref} = 1", f"{ref} != 2", f"{ref} = ''", f"{ref} >= 2"],
        "multiple": [f"selected({ref}, '2')", f"count-selected({ref}) > 1", f"{ref} = ''"],
        "integer": [f"{ref} > 2", f"{ref} = 0", f"{ref} != ''"],
        "text": [f"{ref} != ''", f"string-length({ref}) > 1"],
        "start": [f"{ref} != ''"],
    }[qtype]
    return rng.choice(options)


def _relevant(rng: random.Random, refs: list[tuple[str, str]]) -> str:
    """One or two item tests, joined by and/or, sometimes negated."""
    text = _condition(rng, *rng.choice(refs))
    if rng.random() < 0.4:
        text = f"{text} {rng.choice(['and', 'or'])} {_condition(rng, *rng.choice(refs))}"
    return f"not({text})" if rng.random() < 0.15 else text


def _random_questionnaire(rng: random.Random, number: int):
    """A small valid questionnaire: 1-4 sections, relevant on sections and questions, 0-3 groups."""
    groups = rng.choice([[], ["dan"], ["dan", "lanh_dao"], ["dan", "lanh_dao", "doanh_nghiep"]])
    choices: dict[str, list] = {"abc": [{"code": c, "label": c} for c in ("1", "2", "3")]}
    types = ["single"] * 4 + ["multiple", "integer", "text", "note", "start"]
    sections = []
    for si in range(rng.randint(1, 4)):
        section_groups = (
            rng.sample(groups, rng.randint(1, len(groups))) if groups and rng.random() < 0.3 else []
        )
        questions = []
        for qi in range(rng.randint(1, 4)):
            qtype = rng.choice(types)
            q: dict[str, Any] = {"code": f"q{si}_{qi}", "type": qtype, "label": f"Câu {si}.{qi}"}
            if qtype in ("single", "multiple"):
                q["choices"] = "abc"
            pool = section_groups or groups
            if pool and qtype not in ("note", "start") and rng.random() < 0.3:
                q["groups"] = rng.sample(pool, rng.randint(1, len(pool)))
            questions.append(q)
        sections.append(
            {"code": f"s{si}", "label": f"Phần {si}", "groups": section_groups, "questions": questions}
        )
    if groups:
        choices["nhom"] = [{"code": g, "label": g} for g in groups]
        group_question = {
            "code": "nhom",
            "type": "single",
            "choices": "nhom",
            "label": "Nhóm",
            "role": "group",
        }
        sections[0]["questions"].insert(rng.randint(0, len(sections[0]["questions"])), group_question)
    items = [(q["code"], q["type"]) for s in sections for q in s["questions"]]
    readable = [(code, qtype) for code, qtype in items if qtype != "note"]
    seen: list[tuple[str, str]] = []
    for s in sections:
        if seen and rng.random() < 0.4:
            s["relevant"] = _relevant(rng, seen)  # an earlier answer
        for q in s["questions"]:
            others = [r for r in (seen if rng.random() < 0.8 else readable) if r[0] != q["code"]]
            if others and q["type"] != "start" and rng.random() < 0.5:
                q["relevant"] = _relevant(rng, others)
            if q["type"] != "note":
                seen.append((q["code"], q["type"]))
    raw = {
        "id": f"sinh-{number}",
        "version": "1",
        "title": f"Phiếu sinh {number}",
        "choices": choices,
        "sections": sections,
    }
    if groups:
        raw["groups"] = [{"code": g, "label": g} for g in groups]
    return from_data(raw).questionnaire


def _random_answers(questionnaire, rng: random.Random) -> dict[str, Any]:
    """Answers to about three items in four, of the types validation stores."""
    answers: dict[str, Any] = {}
    for q in questionnaire.questions():
        if q.type is QuestionType.NOTE or rng.random() < 0.25:
            continue
        choice_list = questionnaire.choice_list(q)
        if q.type is QuestionType.SINGLE:
            answers[q.code] = rng.choice(choice_list.codes)
        elif q.type is QuestionType.MULTIPLE:
            answers[q.code] = rng.sample(list(choice_list.codes), rng.randint(1, len(choice_list.codes)))
        elif q.type is QuestionType.INTEGER:
            answers[q.code] = rng.randint(0, 4)
        elif q.type is QuestionType.DECIMAL:
            answers[q.code] = rng.choice([0.5, 2.0, 3.25])
        elif q.type in (QuestionType.DATE, QuestionType.TODAY):
            answers[q.code] = "2024-05-02"
        elif q.type in (QuestionType.START, QuestionType.END):
            answers[q.code] = "2024-05-02T08:00:00+07:00"
        else:
            answers[q.code] = rng.choice(["x", "Hà Nội", "1"])
    return answers


def _skip_cases(seed: int = 20240) -> tuple[list, list[tuple[Any, dict, str | None]]]:
    """The questionnaires (shipped, then generated) and the (questionnaire, answers, given group) cases."""
    rng = random.Random(seed)
    shipped = [load_questionnaire(ident) for ident in list_questionnaires()]
    generated = [_random_questionnaire(rng, n) for n in range(80)]
    cases = []
    for questionnaire, count in [(q, 300) for q in shipped] + [(q, 25) for q in generated]:
        declared = [g.code for g in questionnaire.groups]
        for _ in range(count):
            given = rng.choice(declared) if declared and rng.random() < 0.2 else None
            cases.append((questionnaire, _random_answers(questionnaire, rng), given))
    return shipped + generated, cases


def _skip_python(questionnaire, answers: dict, given: str | None) -> dict:
    """What questionnaires.applicability says of one case, shaped as SKIP_JS returns it."""
    kept, dropped = drop_inapplicable(questionnaire, answers, given)
    group = respondent_group(questionnaire, kept, given)
    before = respondent_group(questionnaire, answers, given)
    pairs = [(s, q) for s in questionnaire.sections for q in s.questions]
    return {
        "kept": kept,
        "dropped": list(dropped),
        "group": group,
        "asked": [applicable(s, q, kept, group) for s, q in pairs],
        "askedBefore": [applicable(s, q, answers, before) for s, q in pairs],
    }


SKIP_JS = """
function skip(E, batch) {
  return batch.cases.map(function (c) {
    var d = batch.definitions[c.definition];
    var result = E.dropInapplicable(d, c.answers, c.group);
    var group = E.respondentGroup(d, result.kept, c.group);
    var before = E.respondentGroup(d, c.answers, c.group);
    var asked = [];
    var askedBefore = [];
    d.sections.forEach(function (s) {
      s.questions.forEach(function (q) {
        asked.push(E.applicable(s, q, result.kept, group));
        askedBefore.push(E.applicable(s, q, c.answers, before));
      });
    });
    return {
      kept: result.kept, dropped: result.dropped, group: group, asked: asked, askedBefore: askedBefore
    };
  });
}
"""


def _skip_batch() -> tuple[dict, list[dict], list]:
    """The batch for SKIP_JS (definitions as the kiosk receives them), Python's answers, and the cases."""
    questionnaires, cases = _skip_cases()
    index = {id(q): i for i, q in enumerate(questionnaires)}
    batch = {
        "definitions": [client_definition(q) for q in questionnaires],
        "cases": [{"definition": index[id(q)], "answers": a, "group": g} for q, a, g in cases],
    }
    return batch, [_skip_python(*case) for case in cases], cases


def _compare_skip(cases, expected, got) -> None:
    mismatches = [
        f"{q.id} answers={answers!r} group={given!r}: python {want} js {have}"
        for (q, answers, given), want, have in zip(cases, expected, got, strict=True)
        if want != have
    ]
    assert not mismatches, "\n".join(mismatches[:10])


def test_the_skip_logic_cases_cover_the_rules():
    _, expected, cases = _skip_batch()
    assert {q.id for q, _, _ in cases} >= set(list_questionnaires())
    assert len({q.id for q, _, _ in cases}) == 3 + 80
    seen = {"nothing dropped": 0, "cascade": 0, "group": 0, "section": 0, "group question": 0, "given": 0}
    for (q, answers, given), want in zip(cases, expected, strict=True):
        group = respondent_group(q, answers, given)
        first_pass = {
            question.code
            for s in q.sections
            for question in s.questions
            if question.code in answers
            and question.type.is_answerable
            and not applicable(s, question, answers, group)
        }
        dropped = [
            (s, question) for s in q.sections for question in s.questions if question.code in want["dropped"]
        ]
        seen["nothing dropped"] += not dropped
        seen["cascade"] += set(want["dropped"]) > first_pass  # a later pass drops more
        seen["group"] += any(
            groups and group not in groups
            for s, question in dropped
            for groups in (s.groups, question.groups)
        )
        seen["section"] += any(s.relevant is not None and not s.relevant.truthy(answers) for s, _ in dropped)
        seen["group question"] += "nhom" in want["dropped"] and want["group"] != group
        seen["given"] += given is not None
    assert len(cases) > 2500
    assert min(seen.values()) >= 100, seen


@needs_node
def test_node_skip_logic_matches_python(tmp_path):
    batch, expected, cases = _skip_batch()
    _compare_skip(cases, expected, _node(tmp_path, SKIP_JS, "skip", batch))


@pytest.mark.browser
def test_browser_skip_logic_matches_python():
    batch, expected, cases = _skip_batch()
    _compare_skip(cases, expected, _browser(SKIP_JS, "skip", batch))


# ------------------------------------------- functions for calculations, choice filters, the clock
NOW_TEXT = "2024-05-02T08:30:01.123+07:00"  # the clock both evaluators are given

# (expression, answers, current, choice row or None: a choice filter when given)
FUNCTION_CASES: list[tuple[str, dict[str, Any], Any, dict[str, str] | None]] = [
    ("concat(${ho}, ' ', ${ten})", {"ho": "Nguyễn", "ten": "Lan"}, None, None),
    ("concat(1 div 3, true(), ${m}, ${x})", {"m": ["a", "b"]}, None, None),
    ("concat('𝟘', 2.50)", {}, None, None),
    ("round(2.5)", {}, None, None),
    ("round(-2.5)", {}, None, None),
    ("round(-0.4)", {}, None, None),
    ("round(2.675, 2)", {}, None, None),
    ("round(1.005, 2)", {}, None, None),
    ("round(0.285, 2)", {}, None, None),
    ("round(1234.5678, -2)", {}, None, None),
    ("round(1234.5678, 20)", {}, None, None),
    ("round(1234.5678, -20)", {}, None, None),
    ("round(${x}, 3)", {"x": 4503599627370497.0}, None, None),
    ("round(${x}, 1.9)", {"x": "1.26"}, None, None),
    ("round(${x})", {"x": "x"}, None, None),
    ("round(1, ${x})", {"x": ""}, None, None),
    ("string(round(${x}, 2))", {"x": 0.1 + 0.2}, None, None),
    ("int(-3.9)", {}, None, None),
    ("int(-0.5)", {}, None, None),
    ("string(int(-0.5))", {}, None, None),
    ("int('1e3')", {}, None, None),
    ("floor(-1.5)", {}, None, None),
    ("ceiling(-0.5)", {}, None, None),
    ("abs(-0)", {}, None, None),
    ("min(3, ${a}, 2)", {"a": "1"}, None, None),
    ("min(3, ${a}, 2)", {}, None, None),
    ("max(0, -0)", {}, None, None),
    ("max(${m})", {"m": ["7"]}, None, None),
    ("selected-at(${m}, 1)", {"m": "tv  loa"}, None, None),
    ("selected-at(${m}, 0.5)", {"m": ["tv", "loa"]}, None, None),
    ("selected-at(${m}, '1')", {"m": ["tv", "loa"]}, None, None),
    ("contains(${t}, '')", {"t": ""}, None, None),
    ("contains(${t}, 'Nội')", {"t": "Hà Nội"}, None, None),
    ("starts-with(12.5, 12)", {}, None, None),
    ("ends-with(${m}, 'b')", {"m": ["a", "b"]}, None, None),
    ("substr('Hà Nội', 3)", {}, None, None),
    ("substr('Ha\u0300 Nội', 0, 3)", {}, None, None),  # decomposed: code points, not letters
    ("substr('𝟘𝟙𝟚', 1, 2)", {}, None, None),  # astral characters count once each
    ("substr('abc', 2.9, 1 div 0)", {}, None, None),
    ("substr('abc', 'x')", {}, None, None),
    ("regex(${sdt}, '^0[0-9]{9}$')", {"sdt": "0912345678"}, None, None),
    ("regex(${sdt}, '^\\d+$')", {"sdt": "٣٣"}, None, None),
    ("regex(${t}, '^[A-Za-zÀ-ỹ ]+$')", {"t": "Hà Nội"}, None, None),
    ("regex(${t}, '^.$')", {"t": "𝟘"}, None, None),
    ("regex(${t}, '\\w+@\\w+')", {"t": "ai@xa.vn"}, None, None),
    ("regex('x', '(')", {}, None, None),
    ("regex('x', '[')", {}, None, None),
    ("boolean(${m})", {"m": []}, None, None),
    ("boolean('false')", {}, None, None),
    ("once(${m})", {"m": ["a"]}, None, None),
    ("today()", {}, None, None),
    ("now()", {}, None, None),
    ("today() = '2024-05-02'", {}, None, None),
    ("concat(today(), 'T')", {}, None, None),
    # choice filters
    ("tinh = ${tinh}", {"tinh": "qng"}, None, {"name": "tb", "tinh": "qng"}),
    ("tinh = ${tinh}", {"tinh": "qnm"}, None, {"name": "tb", "tinh": "qng"}),
    ("tinh = ${tinh}", {}, None, {"name": "tb"}),
    ("tinh = ${tinh} and huyen = ${huyen}", {"tinh": "qng", "huyen": "tb"}, None,
     {"name": "x", "tinh": "qng", "huyen": "tb"}),
    ("name != 'khac' and cap <= ${cap}", {"cap": "2"}, None, {"name": "a", "cap": "10"}),
    ("selected(${kenh}, name)", {"kenh": ["tv", "loa"]}, None, {"name": "loa"}),
    ("starts-with(name, ${tien_to})", {"tien_to": "tra"}, None, {"name": "tra-xuan"}),
    ("round = 1", {}, None, {"name": "x", "round": "1"}),
]  # fmt: skip


def _random_function_cases(seed: int, count: int) -> list[tuple[str, dict[str, Any], Any, dict | None]]:
    """Random expressions over the functions of calculations (and choice columns), over random values."""
    rng = random.Random(seed)
    values: list[Any] = [
        "", "0", "1", "2.5", "-0.5", "1.005", "2.675", " 4 ", "x", "Hà Nội", "𝟘𝟙", "a b", "٣", "qng",
        0, 1, -1, 2.5, -2.5, 0.5, 1e-05, 1e16, 4503599627370497.0, True, False, ["1"], ["a", "b"], [],
    ]  # fmt: skip
    names = ["a", "b", "c", "m"]
    patterns = ["'^[0-9]+$'", "'a'", "'^.{2}$'", "'\\\\d'", "'[À-ỹ]'", "'^(a|b) ?b?$'", "'('", "'^$'"]
    functions = {
        "concat": (1, 3), "round": (1, 2), "int": (1, 1), "floor": (1, 1), "ceiling": (1, 1),
        "abs": (1, 1), "min": (1, 3), "max": (1, 3), "selected-at": (2, 2), "contains": (2, 2),
        "starts-with": (2, 2), "ends-with": (2, 2), "substr": (2, 3), "boolean": (1, 1), "once": (1, 1),
        "today": (0, 0), "now": (0, 0), "string-length": (1, 1), "coalesce": (2, 2), "number": (1, 1),
    }  # fmt: skip
    binops = ["and", "or", "=", "!=", "<", ">=", "+", "-", "*", "div", "mod"]

    def atom(depth: int, columns: bool) -> str:
        pick = rng.random()
        if pick < 0.3:
            return "${" + rng.choice(names) + "}"
        if columns and pick < 0.4:
            return rng.choice(["name", "tinh", "cap"])
        if pick < 0.55:
            return rng.choice(["0", "1", "2", "0.5", "2.5", "10", "1.005", "3"])
        if pick < 0.65:
            return "'" + rng.choice(["", "1", "a", "a b", "Hà", "𝟘", "-2.5"]) + "'"
        if pick < 0.7:
            return f"regex({expr(depth + 1, columns)}, {rng.choice(patterns)})"
        return call(depth, columns)

    def call(depth: int, columns: bool) -> str:
        name = rng.choice(sorted(functions))
        lo, hi = functions[name]
        return f"{name}(" + ", ".join(expr(depth + 1, columns) for _ in range(rng.randint(lo, hi))) + ")"

    def expr(depth: int = 0, columns: bool = False) -> str:
        if depth >= 3 or rng.random() < 0.35:
            return atom(depth, columns)
        if rng.random() < 0.5:
            return call(depth, columns)
        return f"({expr(depth + 1, columns)} {rng.choice(binops)} {expr(depth + 1, columns)})"

    cases: list[tuple[str, dict[str, Any], Any, dict | None]] = []
    while len(cases) < count:
        columns = rng.random() < 0.25
        text = expr(columns=columns)
        answers = {n: rng.choice(values) for n in names if rng.random() < 0.8}
        row = (
            {"name": rng.choice(["qng", "1", "a"]), "tinh": rng.choice(["qng", "", "1"])} if columns else None
        )
        if row is not None and rng.random() < 0.7:
            row["cap"] = rng.choice(["1", "2.5", "x"])
        cases.append((text, answers, rng.choice(values), row))
    return cases


def _prepared_functions(cases) -> tuple[list[dict], list[Any]]:
    """As _prepared, with the fixed clock and the choice's row (choice filters are parsed as such)."""
    payload, expected = [], []
    for text, answers, current, row in cases:
        tree = (parse_choice_filter if row is not None else parse)(text)
        try:
            result = tree.evaluate(answers, current, choice=row, now=NOW_TEXT)
        except ValueError:  # math.fmod on infinities (no JS analogue), as in _prepared
            continue
        env = {"now": NOW_TEXT, "choice": row} if row is not None else {"now": NOW_TEXT}
        payload.append(
            {"text": text, "tree": tree.to_json(), "answers": answers, "current": current, "env": env}
        )
        expected.append(_typed(result))
    return payload, expected


FUNCTION_CASE_LIST = FUNCTION_CASES + _random_function_cases(seed=20241, count=1500)

JS_TYPED_ENV = JS_TYPED.replace(
    "E.evaluate(c.tree, c.answers, c.current)", "E.evaluate(c.tree, c.answers, c.current, c.env)"
)


def test_the_function_cases_cover_the_new_functions():
    payload, expected = _prepared_functions(FUNCTION_CASE_LIST)
    assert len(payload) > 1400
    used = json.dumps([c["tree"] for c in payload])
    new = ("concat", "round", "int", "floor", "ceiling", "abs", "min", "max", "selected-at", "contains",
           "starts-with", "ends-with", "substr", "regex", "boolean", "once", "today", "now")  # fmt: skip
    for name in new:
        assert f'"{name}"' in used, name
    assert used.count('"col"') > 100
    kinds = {tuple(e[:1]) for e in expected}
    assert {("str",), ("num",), ("bool",), ("nan",)} <= kinds
    # Not all trivial: texts, non-integers and regex hits both ways.
    assert sum(1 for e in expected if e[0] == "str" and e[1] not in ("", "NaN")) > 200
    assert sum(1 for e in expected if e == ["bool", True]) > 100


@needs_node
def test_node_functions_match_python(tmp_path):
    payload, expected = _prepared_functions(FUNCTION_CASE_LIST)
    _compare(payload, expected, _node(tmp_path, JS_TYPED_ENV, "run", payload))


@pytest.mark.browser
def test_browser_functions_match_python():
    payload, expected = _prepared_functions(FUNCTION_CASE_LIST)
    _compare(payload, expected, _browser(JS_TYPED_ENV, "run", payload))


@needs_node
def test_node_clock_is_the_devices_when_not_given(tmp_path):
    out = _node(
        tmp_path, "function clock(E) { return [E.formatNow(), E.formatNow(new Date(0))]; }\n", "clock", None
    )
    now, epoch = out
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}", now)
    assert re.fullmatch(r"19(69|70)-\d{2}-\d{2}T\d{2}:\d{2}:00\.000[+-]\d{2}:\d{2}", epoch)


# ------------------------------------------------ calculates and choice filters: settle and offered choices
def _random_runtime_questionnaire(rng: random.Random, number: int):
    """A small questionnaire with cascading selects, calculates (earlier, later, chained) and relevance."""
    choices: dict[str, list] = {
        "tinh": [{"code": c, "label": c} for c in ("qng", "qnm")],
        "huyen": [
            {"code": code, "label": code, "extra": {"tinh": tinh}}
            for code, tinh in (("tb", "qng"), ("st", "qng"), ("tg", "qnm"), ("dl", "qnm"))
        ],
        "abc": [
            {"code": c, "label": c, "extra": {"cap": str(i), "nhom": rng.choice(["x", "y"])}}
            for i, c in enumerate(("1", "2", "3", "4"))
        ],
    }
    items: list[tuple[str, str]] = []  # (code, kind) of the questions so far
    sections = []
    n = 0
    for si in range(rng.randint(1, 3)):
        questions = []
        for _ in range(rng.randint(2, 5)):
            n += 1
            code = f"q{n}"
            kind = rng.choice(["single", "single", "multiple", "integer", "text", "calculate", "calculate"])
            q: dict[str, Any] = {"code": code, "type": kind, "label": code}
            if kind in ("single", "multiple"):
                q["choices"] = rng.choice(["tinh", "huyen", "abc", "abc"])
                earlier = [c for c, k in items if k in ("single", "calculate", "integer")]
                if q["choices"] == "huyen" and rng.random() < 0.8:
                    tinh = [c for c, k in items if k == "single"]
                    ref = rng.choice(tinh or earlier or ["nothing"])
                    q["choice_filter"] = f"tinh = ${{{ref}}}"
                elif q["choices"] == "abc" and earlier and rng.random() < 0.6:
                    ref = rng.choice(earlier)
                    q["choice_filter"] = rng.choice(
                        [f"cap <= ${{{ref}}}", f"nhom = 'x' or name = ${{{ref}}}", f"name != ${{{ref}}}"]
                    )
            if kind == "calculate":
                refs = [c for c, _ in items] or ["none"]
                a, b = rng.choice(refs), rng.choice(refs)
                later = f"q{n + rng.randint(1, 3)}"
                q["calculation"] = rng.choice(
                    [
                        f"${{{a}}} + ${{{b}}}", f"concat(${{{a}}}, '-', ${{{b}}})",
                        f"round(${{{a}}} div 3, 1)",
                        f"if(${{{a}}} = 1, 'mot', ${{{b}}})", f"max(${{{a}}}, ${{{b}}}, 2)",
                        f"count-selected(${{{a}}})", f"selected-at(${{{a}}}, 0)", f"${{{a}}} > 1",
                        "once(today())", f"substr(${{{a}}}, 0, 2)", f"coalesce(${{{later}}}, 'sau')",
                        f"string-length(${{{a}}}) * 2", f"int(${{{a}}}) mod 2 = 0",
                    ]
                )  # fmt: skip
            elif items and rng.random() < 0.3:
                ref = rng.choice([c for c, _ in items])
                q["relevant"] = rng.choice([f"${{{ref}}} != ''", f"${{{ref}}} > 1", f"${{{ref}}} != 'qnm'"])
            questions.append(q)
            items.append((code, kind))
        section: dict[str, Any] = {"code": f"s{si}", "label": f"Phần {si}", "questions": questions}
        calcs = [c for c, k in items if k == "calculate" and c not in {q["code"] for q in questions}]
        if calcs and rng.random() < 0.5:
            section["relevant"] = f"${{{rng.choice(calcs)}}} != ''"
        sections.append(section)
    # The loader refuses a reference to an item that does not exist: one drawn past the last question
    # (or with no question before it) reads a literal instead.
    known = {c for c, _ in items}
    for section in sections:
        for q in section["questions"]:
            for key in ("calculation", "choice_filter"):
                if key in q:
                    q[key] = re.sub(
                        r"\$\{([^}]*)\}", lambda m: m.group(0) if m.group(1) in known else "'qng'", q[key]
                    )
    raw = {
        "id": f"tinh-{number}",
        "version": "1",
        "title": f"Phiếu {number}",
        "choices": choices,
        "sections": sections,
    }
    return runtime_questionnaire(raw)


def _random_runtime_answers(questionnaire, rng: random.Random) -> dict[str, Any]:
    """Random answers (some not offered, some calculates sent by the device)."""
    answers: dict[str, Any] = {}
    for q in questionnaire.questions():
        if rng.random() < 0.2:
            continue
        choice_list = questionnaire.choice_list(q)
        if q.type is QuestionType.SINGLE:
            answers[q.code] = rng.choice(choice_list.codes)
        elif q.type is QuestionType.MULTIPLE:
            answers[q.code] = rng.sample(
                list(choice_list.codes), rng.randint(1, min(3, len(choice_list.codes)))
            )
        elif q.type is QuestionType.INTEGER:
            answers[q.code] = rng.randint(0, 4)
        elif q.type is QuestionType.TEXT:
            answers[q.code] = rng.choice(["x", "Hà Nội", "12", "𝟘𝟙"])
        elif q.type is QuestionType.CALCULATE and rng.random() < 0.3:
            answers[q.code] = "từ máy"
    return answers


RUNTIME_JS = """
function runtime(E, batch) {
  return batch.cases.map(function (c) {
    var d = batch.definitions[c.definition];
    var env = { now: batch.now };
    var settled = E.settle(d, c.answers, null, env);
    var offered = {};
    d.sections.forEach(function (s) {
      s.questions.forEach(function (q) {
        if (q.choice_filter) {
          offered[q.code] = E.offeredChoices(d, q, settled.kept).map(function (x) { return x.code; });
        }
      });
    });
    var pruned = E.prune(d, c.answers, null, env);
    return { kept: settled.kept, dropped: settled.dropped, offered: offered, pruned: pruned.kept };
  });
}
"""


def _runtime_batch():
    rng = random.Random(20242)
    forms = [_random_runtime_questionnaire(rng, n) for n in range(60)]
    cases = [(i, _random_runtime_answers(q, rng)) for i, q in enumerate(forms) for _ in range(20)]
    batch = {
        "now": NOW_TEXT,
        "definitions": [client_definition(q) for q in forms],
        "cases": [{"definition": i, "answers": a} for i, a in cases],
    }
    expected = []
    for i, answers in cases:
        q = forms[i]
        kept, dropped = settle(q, answers, now=NOW_TEXT)
        offered = {
            question.code: list(offered_codes(q, question, kept))
            for question in q.questions()
            if question.choice_filter is not None
        }
        expected.append({"kept": kept, "dropped": list(dropped), "offered": offered})
    return forms, cases, batch, expected


def _check_runtime(forms, cases, expected, got) -> None:
    mismatches = []
    for (i, answers), want, have in zip(cases, expected, got, strict=True):
        pruned = have.pop("pruned")
        if want != have:
            mismatches.append(f"{forms[i].id} answers={answers!r}: python {want} js {have}")
            continue
        # The kiosk's prune: settled, and every choice it keeps is offered.
        q = forms[i]
        assert settle(q, pruned, now=NOW_TEXT)[0] == pruned, answers
        for question in q.questions():
            if question.choice_filter is not None and question.code in pruned:
                value = pruned[question.code]
                offered = offered_codes(q, question, pruned)
                assert all(code in offered for code in (value if isinstance(value, list) else [value]))
    assert not mismatches, "\n".join(mismatches[:10])


def test_the_runtime_cases_cover_the_rules():
    forms, cases, _, expected = _runtime_batch()
    seen = {"calculated": 0, "dropped": 0, "not offered": 0, "forward": 0, "filtered": 0}
    for (i, _), want in zip(cases, expected, strict=True):
        q = forms[i]
        calcs = [x.code for x in q.questions() if x.type is QuestionType.CALCULATE]
        seen["calculated"] += any(c in want["kept"] for c in calcs)
        seen["dropped"] += bool(want["dropped"])
        seen["filtered"] += any(want["offered"].values())
        seen["not offered"] += any(
            code in want["kept"] and any(v not in offered for v in np_list(want["kept"][code]))
            for code, offered in want["offered"].items()
        )
        seen["forward"] += any(want["kept"].get(c) == "sau" for c in calcs)
    assert min(seen.values()) >= 30, seen


def np_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


@needs_node
def test_node_runtime_matches_python(tmp_path):
    forms, cases, batch, expected = _runtime_batch()
    _check_runtime(forms, cases, expected, _node(tmp_path, RUNTIME_JS, "runtime", batch))


@pytest.mark.browser
def test_browser_runtime_matches_python():
    forms, cases, batch, expected = _runtime_batch()
    _check_runtime(forms, cases, expected, _browser(RUNTIME_JS, "runtime", batch))
