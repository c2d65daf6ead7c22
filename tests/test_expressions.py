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
