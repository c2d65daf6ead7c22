import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from questionnaires import parse_choice_filter
from questionnaires.expressions import ExpressionError, format_now, parse


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


# ------------------------------------------------------------ functions for calculations and constraints
NOW = datetime(2024, 5, 2, 8, 30, 1, 123456, tzinfo=timezone(timedelta(hours=7)))


@pytest.mark.parametrize(
    ("text", "answers", "expected"),
    [
        ("concat(${ho}, ' ', ${ten})", {"ho": "Nguyễn", "ten": "Lan"}, "Nguyễn Lan"),
        ("concat('Câu ', 3, ': ', 2.5)", {}, "Câu 3: 2.5"),
        ("concat(${m})", {"m": ["a", "b"]}, "a b"),
        ("concat(${thieu}, 'x')", {}, "x"),
        ("round(2.5)", {}, 3.0),
        ("round(-2.5)", {}, -2.0),  # halves go up, as ODK's
        ("round(2.675, 2)", {}, 2.68),
        ("round(1.005, 2)", {}, 1.0),  # 1.005 is 1.00499… as a float
        ("round(1234.5, -2)", {}, 1200.0),
        ("round(${diem} div 3, 1)", {"diem": "10"}, 3.3),
        ("int(3.9)", {}, 3.0),
        ("int(-3.9)", {}, -3.0),  # toward zero
        ("int('12')", {}, 12.0),
        ("floor(-1.5)", {}, -2.0),
        ("ceiling(1.2)", {}, 2.0),
        ("abs(-4)", {}, 4.0),
        ("min(3, ${a}, 2)", {"a": "1"}, 1.0),
        ("max(3, ${a}, 2)", {"a": "7"}, 7.0),
        ("max(5)", {}, 5.0),
        ("selected-at(${m}, 0)", {"m": ["tv", "loa"]}, "tv"),
        ("selected-at(${m}, 1)", {"m": "tv loa"}, "loa"),
        ("selected-at(${m}, 2)", {"m": ["tv", "loa"]}, ""),
        ("selected-at(${m}, -1)", {"m": ["tv", "loa"]}, ""),
        ("contains(${t}, 'Nội')", {"t": "Hà Nội"}, True),
        ("contains(${t}, 'nội')", {"t": "Hà Nội"}, False),
        ("starts-with(${sdt}, '09')", {"sdt": "0912345678"}, True),
        ("ends-with(${sdt}, '78')", {"sdt": "0912345678"}, True),
        ("substr('Hà Nội', 3)", {}, "Nội"),
        ("substr('Hà Nội', 0, 2)", {}, "Hà"),
        ("substr('Hà Nội', 4, 2)", {}, ""),
        ("substr('abc', -5, 99)", {}, "abc"),
        ("regex(${sdt}, '^0[0-9]{9}$')", {"sdt": "0912345678"}, True),
        ("regex(${sdt}, '^0[0-9]{9}$')", {"sdt": "091234567"}, False),
        ("regex(${t}, 'Nội')", {"t": "Hà Nội"}, True),  # found anywhere
        ("regex(${t}, '^\\d+$')", {"t": "٣"}, False),  # \d is ASCII, as in the browser
        ("regex('x', '(')", {}, False),  # an invalid pattern matches nothing
        ("boolean('')", {}, False),
        ("boolean('0')", {}, True),
        ("boolean(0)", {}, False),
        ("once(${a})", {"a": "x"}, "x"),
        ("today()", {}, "2024-05-02"),
        ("now()", {}, "2024-05-02T08:30:01.123+07:00"),
        ("once(now())", {}, "2024-05-02T08:30:01.123+07:00"),
    ],
)
def test_functions(text, answers, expected):
    assert parse(text).evaluate(answers, now=NOW) == expected


def test_rounding_keeps_nan_and_infinities():
    assert math.isnan(parse("round('x')").evaluate({}))
    assert math.isnan(parse("round(1.5, 'x')").evaluate({}))
    assert math.isnan(parse("int(${a})").evaluate({}))
    assert math.isnan(parse("min(1, '')").evaluate({}))
    assert parse("round(${x})").evaluate({"x": math.inf}) == math.inf
    assert parse("floor(${x})").evaluate({"x": -math.inf}) == -math.inf
    assert parse("round(${x}, 2)").evaluate({"x": 1e300}) == 1e300


def test_the_clock_is_read_when_not_given_and_can_be_fixed_as_text():
    today = parse("today()").evaluate({})
    assert today == format_now()[:10] and len(today) == 10
    assert parse("now()").evaluate({}, now="2024-01-01T00:00:00.000+07:00") == "2024-01-01T00:00:00.000+07:00"
    assert format_now(datetime(2024, 1, 1, 23, 59, tzinfo=UTC)) == "2024-01-01T23:59:00.000+00:00"
    west = timezone(timedelta(hours=-3, minutes=-30))
    assert format_now(datetime(2024, 1, 1, tzinfo=west)).endswith("-03:30")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("round()", "round() takes 1 or more argument(s), got 0"),
        ("round(1, 2, 3)", "round() takes 1 or more argument(s), got 3"),
        ("substr('a')", "substr() takes 2 or more argument(s), got 1"),
        ("today(1)", "today() takes 0 argument(s), got 1"),
        ("min()", "min() takes 1 or more argument(s), got 0"),
        ("jr:choice-name(${a}, '${a}')", "unexpected character ':'"),
        ("${a} = tinh", "unknown name 'tinh' (an answer is written ${tinh})"),
        ("name", "unknown name 'name'"),
    ],
)
def test_function_arity_and_bare_names_are_refused(text, reason):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert reason in str(info.value)


# --------------------------------------------------------------------------------------- choice filters
def test_a_choice_filter_reads_the_choice_by_bare_names():
    e = parse_choice_filter("tinh = ${tinh} and name != 'khac'")
    assert e.choice_columns == {"tinh", "name"}
    assert e.references == {"tinh"}
    assert e.to_json() == [
        "bin",
        "and",
        ["bin", "=", ["col", "tinh"], ["ref", "tinh"]],
        ["bin", "!=", ["col", "name"], ["str", "khac"]],
    ]
    assert e.truthy({"tinh": "qng"}, choice={"name": "tb", "tinh": "qng"})
    assert not e.truthy({"tinh": "qnm"}, choice={"name": "tb", "tinh": "qng"})
    assert not e.truthy({"tinh": "qng"}, choice={"name": "khac", "tinh": "qng"})
    # A column the choice lacks is empty, as an unanswered item.
    assert parse_choice_filter("huyen = ''").truthy({}, choice={"name": "x"})
    assert parse("${a} = 1").choice_columns == frozenset()


@pytest.mark.parametrize(
    "text",
    [
        "county=${county} and cf=${cf}",
        "state=${state}",
        "selected(${kenh}, name)",
        "starts-with(name, ${tien_to})",
        "if(${tat_ca} = 1, true(), nhom = ${nhom})",
    ],
)
def test_choice_filters_in_xlsform_style_parse(text):
    e = parse_choice_filter(text)
    assert e.choice_columns and e.references
    assert e.text == text
    with pytest.raises(ExpressionError):
        parse(text)


def test_a_function_name_is_a_column_unless_called():
    e = parse_choice_filter("round = ${r} and not(min = 1)")
    assert e.choice_columns == {"round", "min"}
    assert e.truthy({"r": "2"}, choice={"round": "2", "min": "0"})
    with pytest.raises(ExpressionError, match="unknown function 'tinh'"):
        parse_choice_filter("tinh(1) = 2")
