"""A small, safe expression language for ``relevant``, ``required`` and ``constraint``.

It is the XLSForm subset that survey definitions need, parsed into a tree and evaluated by walking it
(never ``eval``)::

    ${q8_thu_tuc} = '1' and ${age} >= 18
    not(selected(${kenh}, 'internet')) or count-selected(${kenh}) > 1
    . >= 0 and . <= 120          (``.`` is the question's own value, in constraints)

Grammar, loosest first: ``or``; ``and``; ``= !=``; ``< <= > >=``; ``+ -``; ``* div mod``; unary ``-``;
primaries: ``${name}``, ``.``, numbers, 'strings' or "strings", ``( … )`` and function calls.
Functions (the XLSForm/ODK XPath names): ``not``, ``selected``, ``count-selected``, ``selected-at``,
``string-length``, ``if``, ``number``, ``string``, ``boolean``, ``true``, ``false``, ``coalesce``,
``concat``, ``contains``, ``starts-with``, ``ends-with``, ``substr``, ``regex``, ``round``, ``int``,
``floor``, ``ceiling``, ``abs``, ``min``, ``max``, ``today``, ``now`` and ``once``.

A *choice filter* (XLSForm ``choice_filter``, parsed by :func:`parse_choice_filter`) may also name the
columns of the choice being filtered by their bare name: ``province = ${province}``, ``name != 'khac'``
(``name`` is the choice's code). :attr:`Expression.choice_columns` lists them; ``evaluate(…, choice=row)``
gives their values. :func:`parse` refuses bare names.

Semantics (shared with the kiosk's JavaScript evaluator, which walks :meth:`Expression.to_json`):

* an unanswered item is the empty string ``''``; a multiple-choice answer (a list) compares as its
  codes joined by spaces;
* ``=`` and ``!=`` compare numerically when both sides are numbers or numeric strings, else as text;
* ``< <= > >=`` compare numerically, and are false when either side is not a number;
* arithmetic on a non-number gives NaN; truthiness: false, 0, NaN, ``''`` and ``[]`` are false;
* text functions count characters as code points; ``substr(s, start[, end])`` is 0-based with ``end``
  excluded, as ODK's; ``selected-at(v, i)`` is the 0-based ``i``-th code (``''`` past the end);
* ``round(x[, digits])`` rounds halves up (``floor(x·10^d + 0.5) / 10^d``), ``int(x)`` truncates toward
  zero; ``min`` and ``max`` take any number of values and are NaN when one of them is not a number;
* ``regex(v, pattern)`` is true when the pattern matches somewhere in ``v`` (anchor it with ``^…$``);
  ``\\d``, ``\\w`` and ``\\b`` are ASCII, as in the browser; an invalid pattern matches nothing;
* ``today()`` is the local date ``YYYY-MM-DD`` and ``now()`` the local time
  ``YYYY-MM-DDTHH:MM:SS.mmm+07:00`` (text, so they compare equal or not but are not ordered);
  ``evaluate(…, now=…)`` fixes the clock; ``once(x)`` is ``x`` (a form is computed once per submission).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = ["Expression", "ExpressionError", "parse", "parse_choice_filter", "FUNCTIONS", "format_now"]


class ExpressionError(ValueError):
    """A syntax error in an expression; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, text: str, position: int):
        super().__init__(f"{message} at character {position + 1} of {text!r}")
        self.reason = message
        self.text = text
        self.position = position


# name -> (min args, max args); None = unlimited
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "not": (1, 1),
    "selected": (2, 2),
    "count-selected": (1, 1),
    "string-length": (1, 1),
    "if": (3, 3),
    "number": (1, 1),
    "string": (1, 1),
    "true": (0, 0),
    "false": (0, 0),
    "coalesce": (2, None),
    "selected-at": (2, 2),
    "boolean": (1, 1),
    "concat": (1, None),
    "contains": (2, 2),
    "starts-with": (2, 2),
    "ends-with": (2, 2),
    "substr": (2, 3),
    "regex": (2, 2),
    "round": (1, 2),
    "int": (1, 1),
    "floor": (1, 1),
    "ceiling": (1, 1),
    "abs": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "today": (0, 0),
    "now": (0, 0),
    "once": (1, 1),
}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<ref>\$\{(?P<refname>[A-Za-z_][A-Za-z0-9_.-]*)\})
  | (?P<num>\d+(?:\.\d+)?|\.\d+)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,)
  | (?P<dot>\.)
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)

_WORD_OPS = {"and", "or", "div", "mod"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # ref, num, str, op, dot, name, end
    value: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExpressionError(f"unexpected character {text[pos]!r}", text, pos)
        kind = m.lastgroup
        if kind == "refname":  # pragma: no cover - the outer group wins
            kind = "ref"
        if kind == "ref":
            toks.append(_Tok("ref", m.group("refname"), pos))
        elif kind == "str":
            toks.append(_Tok("str", m.group("str")[1:-1], pos))
        elif kind == "name" and m.group("name") in _WORD_OPS:
            toks.append(_Tok("op", m.group("name"), pos))
        elif kind != "ws":
            toks.append(_Tok(kind, m.group(kind), pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


_BINARY_LEVELS: tuple[tuple[str, ...], ...] = (
    ("or",),
    ("and",),
    ("=", "!="),
    ("<", "<=", ">", ">="),
    ("+", "-"),
    ("*", "div", "mod"),
)


class _Parser:
    def __init__(self, text: str, *, columns: bool = False):
        self.text = text
        self.columns = columns  # bare names are the choice's columns (choice filters)
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str, value: str | None = None) -> _Tok:
        tok = self.take()
        if tok.kind != kind or (value is not None and tok.value != value):
            want = value or kind
            got = tok.value or "end of expression"
            raise ExpressionError(f"expected {want!r}, found {got!r}", self.text, tok.pos)
        return tok

    def parse(self) -> list:
        if self.peek().kind == "end":
            raise ExpressionError("empty expression", self.text, 0)
        node = self.binary(0)
        tok = self.peek()
        if tok.kind != "end":
            raise ExpressionError(f"unexpected {tok.value!r}", self.text, tok.pos)
        return node

    def binary(self, level: int) -> list:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek().kind == "op" and self.peek().value in _BINARY_LEVELS[level]:
            op = self.take().value
            right = self.binary(level + 1)
            left = ["bin", op, left, right]
        return left

    def unary(self) -> list:
        if self.peek().kind == "op" and self.peek().value == "-":
            self.take()
            return ["neg", self.unary()]
        return self.primary()

    def primary(self) -> list:
        tok = self.take()
        if tok.kind == "ref":
            return ["ref", tok.value]
        if tok.kind == "dot":
            return ["cur"]
        if tok.kind == "num":
            return ["num", float(tok.value)]
        if tok.kind == "str":
            return ["str", tok.value]
        if tok.kind == "op" and tok.value == "(":
            inner = self.binary(0)
            self.expect("op", ")")
            return inner
        if tok.kind == "name":
            following = self.peek()
            if not (following.kind == "op" and following.value == "("):
                if self.columns:
                    return ["col", tok.value]
                raise ExpressionError(
                    f"unknown name {tok.value!r} (an answer is written ${{{tok.value}}})", self.text, tok.pos
                )
            if tok.value not in FUNCTIONS:
                raise ExpressionError(f"unknown function {tok.value!r}", self.text, tok.pos)
            self.expect("op", "(")
            args: list = []
            if not (self.peek().kind == "op" and self.peek().value == ")"):
                args.append(self.binary(0))
                while self.peek().kind == "op" and self.peek().value == ",":
                    self.take()
                    args.append(self.binary(0))
            self.expect("op", ")")
            lo, hi = FUNCTIONS[tok.value]
            if len(args) < lo or (hi is not None and len(args) > hi):
                raise ExpressionError(
                    f"{tok.value}() takes {lo if lo == hi else f'{lo} or more'} argument(s), got {len(args)}",
                    self.text,
                    tok.pos,
                )
            return ["call", tok.value, args]
        got = tok.value or "end of expression"
        raise ExpressionError(f"unexpected {got!r}", self.text, tok.pos)


def parse(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`; raise :class:`ExpressionError` on bad syntax."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be text", str(text), 0)
    return Expression(text=text.strip(), tree=_freeze(_Parser(text.strip()).parse()))


def parse_choice_filter(text: str) -> Expression:
    """Parse an XLSForm ``choice_filter``: like :func:`parse`, and bare names are the choice's columns."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be text", str(text), 0)
    return Expression(text=text.strip(), tree=_freeze(_Parser(text.strip(), columns=True).parse()))


def _freeze(node: Any) -> Any:
    if isinstance(node, list):
        return tuple(_freeze(x) for x in node)
    return node


def _thaw(node: Any) -> Any:
    if isinstance(node, tuple):
        return [_thaw(x) for x in node]
    return node


@dataclass(frozen=True)
class Expression:
    """A parsed expression. Equal when their source text is equal."""

    text: str
    tree: tuple = field(compare=False, repr=False)

    @property
    def references(self) -> frozenset[str]:
        """The item codes the expression reads (``${name}``)."""
        out: set[str] = set()

        def visit(node: Any) -> None:
            if isinstance(node, tuple):
                if node and node[0] == "ref":
                    out.add(node[1])
                else:
                    for child in node:
                        visit(child)

        visit(self.tree)
        return frozenset(out)

    @property
    def uses_current(self) -> bool:
        """Whether the expression reads ``.`` (the question's own value)."""

        def visit(node: Any) -> bool:
            if not isinstance(node, tuple):
                return False
            return node == ("cur",) or any(visit(child) for child in node)

        return visit(self.tree)

    @property
    def choice_columns(self) -> frozenset[str]:
        """The choice columns a choice filter reads by bare name (``name`` is the choice's code)."""
        out: set[str] = set()

        def visit(node: Any) -> None:
            if isinstance(node, tuple):
                if node and node[0] == "col":
                    out.add(node[1])
                else:
                    for child in node:
                        visit(child)

        visit(self.tree)
        return frozenset(out)

    def to_json(self) -> list:
        """The syntax tree as nested JSON lists, for the browser-side evaluator."""
        return _thaw(self.tree)

    def evaluate(
        self,
        answers: Mapping[str, Any],
        current: Any = None,
        *,
        choice: Mapping[str, Any] | None = None,
        now: datetime | str | None = None,
    ) -> Any:
        """Evaluate against ``answers`` (item code -> value); ``current`` is the value of ``.``.

        ``choice`` is the row of the choice a choice filter is tested on (column -> value, ``name`` =
        the code); ``now`` fixes what ``now()`` and ``today()`` return (an aware datetime, or the text
        of :func:`format_now`); by default the local clock is read when they are called.
        """
        return _eval(self.tree, _Env(answers, current, choice or {}, now))

    def truthy(
        self,
        answers: Mapping[str, Any],
        current: Any = None,
        *,
        choice: Mapping[str, Any] | None = None,
        now: datetime | str | None = None,
    ) -> bool:
        return truthy(self.evaluate(answers, current, choice=choice, now=now))

    def __str__(self) -> str:
        return self.text


def _norm(value: Any) -> Any:
    """An answer as the language sees it: None -> '', list -> space-joined codes."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return value


def to_number(value: Any) -> float:
    """Coerce to a number; NaN when the value is not numeric."""
    value = _norm(value)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        s = value.strip()
        if s and re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)", s):
            return float(s)
    return math.nan


def to_text(value: Any) -> str:
    value = _norm(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer():
            return str(int(value))
    return str(value)


def truthy(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return len(value) > 0
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0 and not math.isnan(value)
    return value != ""


def _codes(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [to_text(v) for v in value]
    return [c for c in to_text(value).split(" ") if c]


@dataclass(frozen=True)
class _Env:
    """What an evaluation reads besides the tree: the answers, ``.``, the choice's row and the clock."""

    answers: Mapping[str, Any]
    current: Any
    choice: Mapping[str, Any]
    now: datetime | str | None


def _eval(node: tuple, env: _Env) -> Any:
    """Return the value of a syntax-tree node, dispatching on its kind."""
    return _NODES[node[0]](node, env)


def _eval_neg(node: tuple, env: _Env) -> float:
    return -to_number(_eval(node[1], env))


def _eval_bin(node: tuple, env: _Env) -> Any:
    op = node[1]
    # ``and`` and ``or`` stop early: the right side is not evaluated when the left decides.
    if op == "and":
        return truthy(_eval(node[2], env)) and truthy(_eval(node[3], env))
    if op == "or":
        return truthy(_eval(node[2], env)) or truthy(_eval(node[3], env))
    return _BINARY[op](_eval(node[2], env), _eval(node[3], env))


def _eval_call(node: tuple, env: _Env) -> Any:
    name, args = node[1], node[2]
    if name == "if":  # only the branch taken is evaluated
        cond = truthy(_eval(args[0], env))
        return _eval(args[1] if cond else args[2], env)
    if name in _CLOCK:
        return _CLOCK[name](env.now)
    return _CALLS[name](*(_eval(a, env) for a in args))


def _eval_col(node: tuple, env: _Env) -> Any:
    value = env.choice.get(node[1])
    return "" if value is None else value


_NODES: dict[str, Callable[[tuple, _Env], Any]] = {
    "ref": lambda node, env: env.answers.get(node[1]),
    "cur": lambda node, env: env.current,
    "col": _eval_col,
    "num": lambda node, env: node[1],
    "str": lambda node, env: node[1],
    "neg": _eval_neg,
    "bin": _eval_bin,
    "call": _eval_call,
}


def _equal(left: Any, right: Any) -> bool:
    """Compare numerically when both sides are numbers, else as text."""
    ln, rn = to_number(left), to_number(right)
    if not math.isnan(ln) and not math.isnan(rn):
        return ln == rn
    return to_text(left) == to_text(right)


def _ordered(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    """Return a comparison of numbers that is false when either side is not a number."""

    def ordered(left: Any, right: Any) -> bool:
        ln, rn = to_number(left), to_number(right)
        if math.isnan(ln) or math.isnan(rn):
            return False
        return compare(ln, rn)

    return ordered


def _arithmetic(apply: Callable[[float, float], float]) -> Callable[[Any, Any], float]:
    """Return an arithmetic operator on the sides as numbers (NaN for a non-number)."""
    return lambda left, right: apply(to_number(left), to_number(right))


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "=": _equal,
    "!=": lambda left, right: not _equal(left, right),
    "<": _ordered(operator.lt),
    "<=": _ordered(operator.le),
    ">": _ordered(operator.gt),
    ">=": _ordered(operator.ge),
    "+": _arithmetic(operator.add),
    "-": _arithmetic(operator.sub),
    "*": _arithmetic(operator.mul),
    "div": _arithmetic(lambda ln, rn: math.nan if rn == 0 else ln / rn),
    "mod": _arithmetic(lambda ln, rn: math.nan if rn == 0 else math.fmod(ln, rn)),
}


def _coalesce(*values: Any) -> Any:
    """Return the first value that is not empty, else ''."""
    return next((v for v in values if to_text(v) != ""), "")


def _chars(value: Any) -> list[str]:
    return list(to_text(value))


_ABSENT = object()  # an argument not written (a missing answer evaluates to None)


def _substr(value: Any, start: Any, end: Any = _ABSENT) -> str:
    """ODK's substr: code points from 0-based ``start`` up to ``end`` excluded (negative = from 0)."""
    chars = _chars(value)
    lo = _index(start, len(chars))
    hi = len(chars) if end is _ABSENT else _index(end, len(chars))
    return "".join(chars[lo:hi]) if lo < hi else ""


def _index(value: Any, size: int) -> int:
    """A position clamped to 0…size (truncated toward zero; NaN is 0)."""
    n = to_number(value)
    if math.isnan(n):
        return 0
    return int(min(max(n, 0.0), float(size)))


def _selected_at(value: Any, index: Any) -> str:
    codes = _codes(value)
    n = to_number(index)
    if math.isnan(n) or n < 0 or n >= len(codes) or not n.is_integer():
        return ""
    return codes[int(n)]


def _round(value: Any, digits: Any = 0.0) -> float:
    """Round halves up, to ``digits`` decimals (negative: tens, hundreds…), as ODK's round."""
    x, d = to_number(value), to_number(digits)
    if math.isnan(d):
        return math.nan
    if not math.isfinite(x):
        return x
    d = float(math.trunc(max(min(d, 15.0), -15.0)))  # powers of ten up to 1e15 are exact floats
    if d >= 0:
        if abs(x) >= 2.0**52:  # already a whole number, and x * 10^d could lose it
            return x
        scale = 10.0**d
        return math.floor(x * scale + 0.5) / scale
    scale = 10.0**-d
    return math.floor(x / scale + 0.5) * scale


def _int(value: Any) -> float:
    x = to_number(value)
    return float(math.trunc(x)) if math.isfinite(x) else x


def _rounding(apply: Callable[[float], float]) -> Callable[[Any], float]:
    """Return a rounding function of a number (NaN and infinities pass through)."""

    def rounding(value: Any) -> float:
        x = to_number(value)
        return float(apply(x)) if math.isfinite(x) else x

    return rounding


def _extreme(pick: Callable[[float, float], bool]) -> Callable[..., float]:
    """Return min or max over any number of values: NaN when one of them is not a number."""

    def extreme(*values: Any) -> float:
        best = math.nan
        for i, value in enumerate(values):
            x = to_number(value)
            if math.isnan(x):
                return math.nan
            if i == 0 or pick(x, best):
                best = x
        return best

    return extreme


def _regex(value: Any, pattern: Any) -> bool:
    try:
        compiled = re.compile(to_text(pattern), re.ASCII)
    except (re.error, OverflowError, RecursionError):
        return False
    return compiled.search(to_text(value)) is not None


def format_now(moment: datetime | str | None = None) -> str:
    """The text of ``now()``: ISO 8601 local time to the millisecond with its UTC offset."""
    if isinstance(moment, str):
        return moment
    if moment is None:
        moment = datetime.now().astimezone()
    elif moment.tzinfo is None:
        moment = moment.astimezone()
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        + f".{moment.microsecond // 1000:03d}{sign}{hours:02d}:{mins:02d}"
    )


# Functions of the clock, given the evaluation's ``now`` (None: read the clock).
_CLOCK: dict[str, Callable[[datetime | str | None], str]] = {
    "now": format_now,
    "today": lambda now: format_now(now)[:10],
}

_CALLS: dict[str, Callable[..., Any]] = {
    "not": lambda value: not truthy(value),
    "selected": lambda value, code: to_text(code) in _codes(value),
    "count-selected": lambda value: float(len(_codes(value))),
    "string-length": lambda value: float(len(to_text(value))),
    "number": to_number,
    "string": to_text,
    "true": lambda: True,
    "false": lambda: False,
    "coalesce": _coalesce,
    "selected-at": _selected_at,
    "boolean": truthy,
    "concat": lambda *values: "".join(to_text(v) for v in values),
    "contains": lambda text, part: to_text(part) in to_text(text),
    "starts-with": lambda text, part: to_text(text).startswith(to_text(part)),
    "ends-with": lambda text, part: to_text(text).endswith(to_text(part)),
    "substr": _substr,
    "regex": _regex,
    "round": _round,
    "int": _int,
    "floor": _rounding(math.floor),
    "ceiling": _rounding(math.ceil),
    "abs": lambda value: abs(to_number(value)),
    "min": _extreme(operator.lt),
    "max": _extreme(operator.gt),
    "once": lambda value: value,
}
