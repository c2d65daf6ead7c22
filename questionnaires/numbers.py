"""Numbers typed by people into files: ASCII digits with the Vietnamese thousands and decimal habits.

Python's ``int()`` and ``float()`` accept every Unicode digit (``"١٢٠"`` is 120, ``"²"`` passes
``str.isdigit``), underscores (``"1_000"``), ``"inf"`` and ``"nan"``. A file reader that hands a cell to
them reads a hostile or mistyped file silently. :func:`parse_number` accepts only:

* ASCII digits, with an optional leading ``-`` (so that a range check can say "must be >= 0"):
  ``"1234"``, ``"-5"``;
* thousands grouped the Vietnamese way, by ``.`` or by a space (also a no-break space), one kind per
  number, groups of three after a first group of one to three digits that does not start with 0:
  ``"1.234"``, ``"1 234"``, ``"12.345.678"``;
* a decimal comma, after either: ``"0,05"``, ``"1.234,5"``;
* a decimal point where it cannot be a thousands separator (files written by programs):
  ``"1234.5"``, ``"0.125"``, ``"1.5"``. ``"1.234"`` is always one thousand two hundred and
  thirty-four.

Everything else (other digits, exponents, ``inf``, ``1,234.5``, ``1.23.4``) is a :class:`NumberFormatError`
whose message says what is accepted; readers add the file, row and column. Files the toolkit wrote
itself (previous results) are read by :func:`parse_written_number`, the programs' form with a decimal
point, still ASCII only.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = [
    "ACCEPTED_FORMS",
    "NumberFormatError",
    "describe_text",
    "format_count",
    "parse_count",
    "parse_number",
    "parse_written_number",
]

ACCEPTED_FORMS = "1234, 1.234, 1 234, 1.234,5, 0,05"

_SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space (what spreadsheets write)
_GROUPED_DOT = r"[1-9][0-9]{0,2}(?:\.[0-9]{3})+"
_GROUPED_SPACE = rf"[1-9][0-9]{{0,2}}(?:[{_SPACES}][0-9]{{3}})+"
_VIETNAMESE = re.compile(rf"(-?)([0-9]+|{_GROUPED_DOT}|{_GROUPED_SPACE})(?:,([0-9]+))?", re.ASCII)
_POINT = re.compile(r"(-?)([0-9]+)\.([0-9]+)", re.ASCII)
_WRITTEN = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)


class NumberFormatError(ValueError):
    """A text that is not a number in an accepted form; the message is Vietnamese with English."""


def describe_text(text: str) -> str:
    """The text as a message shows it, with non-ASCII characters spelt out (``'١' U+0661``)."""
    shown = repr(text)
    odd = sorted({c for c in text if not c.isascii() and c not in _SPACES})
    if odd:
        shown += " (" + ", ".join(f"{c!r} U+{ord(c):04X}" for c in odd[:5]) + ")"
    return shown


def format_count(number: int) -> str:
    """A whole number with Vietnamese thousands dots: ``10000000`` -> ``"10.000.000"``."""
    return f"{number:_}".replace("_", ".")


def _decimal(text: str) -> Decimal:
    """The exact value of a text in one of the accepted forms; NumberFormatError otherwise."""
    s = text.strip(_SPACES + "\t")
    match = _VIETNAMESE.fullmatch(s)
    if match:
        sign, whole, fraction = match.groups()
        digits = re.sub(rf"[.{_SPACES}]", "", whole)
        return Decimal(f"{sign}{digits}.{fraction or '0'}")
    match = _POINT.fullmatch(s)
    if match:  # not a thousands grouping, or _VIETNAMESE would have matched
        sign, whole, fraction = match.groups()
        return Decimal(f"{sign}{whole}.{fraction}")
    if any(c.isdigit() and not c.isascii() for c in s) or any(c in "¹²³" for c in s):
        reason = "chỉ dùng chữ số 0-9 (not a number: only the digits 0-9)"
    else:
        reason = f"dạng được nhận {ACCEPTED_FORMS} (not a number; accepted forms {ACCEPTED_FORMS})"
    raise NumberFormatError(f"{describe_text(text)} không phải là số: {reason}")


def parse_number(text: str) -> float:
    """The number a person meant by ``text`` (see the module); NumberFormatError when it is not one."""
    return float(_decimal(text))


def parse_count(text: str, maximum: int) -> int:
    """A whole number from 0 to ``maximum``; NumberFormatError naming the limit otherwise."""
    value = _decimal(text)
    if value != value.to_integral_value():
        raise NumberFormatError(f"{describe_text(text)} không phải số nguyên (not a whole number)")
    if value < 0:
        raise NumberFormatError(f"{describe_text(text)} phải ≥ 0 (must be >= 0)")
    if value > maximum:
        limit = format_count(maximum)
        raise NumberFormatError(
            f"{describe_text(text)} lớn hơn giới hạn {limit} (larger than the limit {limit})"
        )
    return int(value)


def parse_written_number(text: str) -> float:
    """A finite number as programs write it (``1234.5``, ``-0.5``, ``1e-05``), ASCII digits only.

    For files this toolkit wrote itself (previous results), where ``65.432`` is a decimal, not a
    thousands grouping. NumberFormatError otherwise.
    """
    s = text.strip()
    if _WRITTEN.fullmatch(s):
        value = float(s)
        if value not in (float("inf"), float("-inf")):
            return value
    raise NumberFormatError(
        f"{describe_text(text)} không phải là số hữu hạn viết bằng chữ số 0-9 "
        "(not a finite number in the digits 0-9, such as 65.4 or 1e-05)"
    )
