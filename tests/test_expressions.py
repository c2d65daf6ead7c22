import math

import pytest

from questionnaires.expressions import ExpressionError, parse


@pytest.mark.parametrize(
    ("text", "answers", "current", "expected"),
    [
        ("${a} = 1", {"a": "1"}, None, True),
        ("${a} = 1", {"a": 1}, None, True),
        ("${a} = '1'", {"a": 1.0}, None, True),
        ("${a} != ''", {}, None, False),
        ("${a} != ''", {"a": "x"}, None, True),
        ("${a} = 1 and ${b} != ''", {"a": "1", "b": "y"}, None, True),
        ("${a} = 1 and ${b} != ''", {"a": "1"}, None, False),
        ("${a} = 2 or not(${b} = 'y')", {"a": "1", "b": "z"}, None, True),
        ("selected(${m}, 'tv')", {"m": ["radio", "tv"]}, None, True),
        ("selected(${m}, 'tv')", {"m": []}, None, False),
        ("count-selected(${m}) >= 2", {"m": ["a", "b"]}, None, True),
        (". >= 1 and . <= 20", {}, 7, True),
        (". >= 1 and . <= 20", {}, 21, False),
        (". >= 1", {}, "", False),  # an empty value is not a number: comparisons are false
        ("${n} + 2 * 3 = 10", {"n": 4}, None, True),
        ("(${n} + 2) * 3 = 18", {"n": 4}, None, True),
        ("-${n} < 0", {"n": 4}, None, True),
        ("${n} mod 2 = 1", {"n": 7}, None, True),
        ("string-length(${t}) <= 3", {"t": "Hà"}, None, True),
        ("if(${a} = 1, 'x', 'y') = 'y'", {"a": 2}, None, True),
        ("coalesce(${a}, ${b}) = 'z'", {"b": "z"}, None, True),
        ("true() and not(false())", {}, None, True),
    ],
)
def test_evaluate(text, answers, current, expected):
    assert parse(text).truthy(answers, current) is expected


def test_division_by_zero_is_nan_not_an_error():
    assert math.isnan(parse("1 div 0").evaluate({}))


def test_references_and_json_tree():
    e = parse("${a} = 1 and selected(${b}, 'x')")
    assert e.references == {"a", "b"}
    assert not e.uses_current
    assert e.to_json() == [
        "bin",
        "and",
        ["bin", "=", ["ref", "a"], ["num", 1.0]],
        ["call", "selected", [["ref", "b"], ["str", "x"]]],
    ]
    assert parse(". > 0").uses_current


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty expression"),
        ("${a} =", "unexpected 'end of expression'"),
        ("eval(1)", "unknown function 'eval'"),
        ("__import__('os')", "unknown function '__import__'"),
        ("not(1, 2)", "not() takes 1 argument(s), got 2"),
        ("${a} = 'x", "unexpected character"),
        ("(1 + 2", "expected ')'"),
        ("1 2", "unexpected '2'"),
    ],
)
def test_syntax_errors_name_the_problem(text, reason):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("text", "answers", "current", "expected"),
    [
        # = and != compare numerically when both sides are numbers, else as text
        ("${a} = '1.0'", {"a": "1"}, None, True),
        ("${a} != '01'", {"a": "1"}, None, False),
        ("${a} = 'abc'", {"a": "abc"}, None, True),
        ("${a} = 'Hà Nội'", {"a": "Hà Nội"}, None, True),
        ("${a} = 1", {"a": "một"}, None, False),
        # comparisons with a non-number are false both ways
        ("${a} < 5", {"a": "x"}, None, False),
        ("${a} >= 5", {"a": "x"}, None, False),
        ("${a} < 5", {}, None, False),
        # a multiple answer compares as its codes joined by spaces
        ("${m} = 'a b'", {"m": ["a", "b"]}, None, True),
        ("count-selected(${m}) = 2", {"m": "a b"}, None, True),
        ("count-selected(${m}) = 0", {}, None, True),
        ("selected(${m}, 1)", {"m": ["1", "2"]}, None, True),
        ("selected(${m}, 'a')", {"m": "ab"}, None, False),
        # precedence: and binds tighter than or; arithmetic before comparison
        ("1 = 2 and 1 = 1 or 2 = 2", {}, None, True),
        ("1 = 2 and (1 = 1 or 2 = 2)", {}, None, False),
        ("2 + 3 * 4 = 14", {}, None, True),
        ("10 - 4 - 3 = 3", {}, None, True),
        ("7 div 2 = 3.5", {}, None, True),
        ("-(2 + 3) = -5", {}, None, True),
        (".5 + .5 = 1", {}, None, True),
        ("\"x\" = 'x'", {}, None, True),
        # truthiness of values
        ("${a}", {"a": "0"}, None, True),  # a non-empty string is true, as in XPath
        ("${a}", {"a": 0}, None, False),
        ("${a}", {"a": []}, None, False),
        ("number('abc')", {}, None, False),  # NaN is false
        ("string(1.0) = '1'", {}, None, True),
        ("string-length(${m}) = 3", {"m": ["a", "b"]}, None, True),
        ("coalesce(${a}, ${b}, 'z') = 'z'", {}, None, True),
        ("if(${a} = 1, ${b}, 'y') = 'b'", {"a": "1", "b": "b"}, None, True),
        # names may contain dots and hyphens, like XLSForm's
        ("${cau-1.a} = 2", {"cau-1.a": 2}, None, True),
    ],
)
def test_evaluate_more(text, answers, current, expected):
    assert parse(text).truthy(answers, current) is expected


def test_logical_operators_short_circuit():
    # the right side is not evaluated when the left decides (an unknown value would be '' anyway,
    # but a division by zero must not matter either)
    assert parse("1 = 1 or 1 div 0 = 1").truthy({}) is True
    assert parse("1 = 2 and 1 div 0 = 1").truthy({}) is False


def test_arithmetic_on_text_is_nan_and_mod_by_zero_is_nan():
    assert math.isnan(parse("${a} + 1").evaluate({"a": "x"}))
    assert math.isnan(parse("-${a}").evaluate({"a": "x"}))
    assert math.isnan(parse("5 mod 0").evaluate({}))
    assert parse("7 mod 3").evaluate({}) == 1.0


def test_expressions_compare_by_text_and_strip_whitespace():
    assert parse("  ${a} = 1 ") == parse("${a} = 1")
    assert parse("${a} = 1").text == "${a} = 1"
    assert parse("${a}=1") != parse("${a} = 1")
    assert hash(parse("${a} = 1")) == hash(parse("${a} = 1 "))
    assert str(parse("${a} = 1")) == "${a} = 1"


def test_the_tree_is_immutable_and_json_is_a_copy():
    e = parse("${a} = 1")
    tree = e.to_json()
    tree[1] = "!="
    assert e.to_json()[1] == "="
    assert e.truthy({"a": "1"})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("${a} # 1", "unexpected character '#'"),
        ("and(1)", "unexpected 'and'"),
        ("coalesce(1)", "coalesce() takes 2 or more argument(s), got 1"),
        ("if(1, 2)", "if() takes 3 argument(s), got 2"),
        ("true(1)", "true() takes 0 argument(s), got 1"),
        ("selected(${m} 'a')", "expected ')'"),
        ("${}", "unexpected character '$'"),
        ("${1a} = 1", "unexpected character '$'"),
        (")", "unexpected ')'"),
        ("1 +", "unexpected 'end of expression'"),
    ],
)
def test_more_syntax_errors(text, reason):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert reason in str(info.value)
    assert 0 <= info.value.position <= len(text)


def test_an_error_points_at_the_offending_character():
    with pytest.raises(ExpressionError) as info:
        parse("${a} = 1 and ${b} # 2")
    assert info.value.position == 18
    assert "at character 19" in str(info.value)


def test_parse_refuses_non_text():
    with pytest.raises(ExpressionError):
        parse(42)  # type: ignore[arg-type]
