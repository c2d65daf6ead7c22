"""The shape of an index table as reports show it: fields, elements, criteria in tree order, labelled."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from analysis.results import IndexTable, UnitResult
from questionnaires import Level, Questionnaire, ScoreNode


@dataclass(frozen=True)
class Element:
    code: str
    label: str
    number: int  # 1-based position among all elements, as printed in reports ("1.", "2." ...)
    criteria: tuple[str, ...]


@dataclass(frozen=True)
class Field:
    code: str
    label: str
    elements: tuple[str, ...]


@dataclass(frozen=True)
class Structure:
    """Fields, elements and criteria of a scoring tree, in tree order, with Vietnamese labels."""

    index_code: str
    index_label: str
    fields: tuple[Field, ...]
    elements: tuple[Element, ...]
    labels: Mapping[str, str]
    short: Mapping[str, str]  # criterion code -> "1.1", element code -> "1"
    # criterion code -> a short name cut from its own label (:func:`short_names`), for charts' axes
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def criteria(self) -> tuple[str, ...]:
        return tuple(c for e in self.elements for c in e.criteria)

    def label(self, code: str) -> str:
        return self.labels.get(code, code)

    @classmethod
    def build(cls, table: IndexTable, questionnaire: Questionnaire | None = None) -> Structure:
        """Read the tree from the questionnaire when given (and it matches), else from the table itself."""
        if questionnaire is not None and questionnaire.scoring is not None:
            return cls._from_tree(questionnaire.scoring.tree, table)
        return cls._from_table(table)

    @classmethod
    def _from_tree(cls, tree: ScoreNode, table: IndexTable) -> Structure:
        labels = {n.code: nfc(n.label.vi) for n in tree.walk()}
        labels.update({k: nfc(v) for k, v in table.labels.items()})
        fields: list[Field] = []
        elements: list[Element] = []

        def add_elements(nodes: tuple[ScoreNode, ...]) -> list[str]:
            codes = []
            for node in nodes:
                if node.level is Level.ELEMENT:
                    elements.append(
                        Element(
                            node.code,
                            labels[node.code],
                            len(elements) + 1,
                            tuple(c.code for c in node.criteria),
                        )
                    )
                    codes.append(node.code)
                elif node.level is Level.CRITERION:
                    # A criterion straight under the index or a field: show it as its own element.
                    elements.append(Element(node.code, labels[node.code], len(elements) + 1, (node.code,)))
                    codes.append(node.code)
            return codes

        for child in tree.children:
            if child.level is Level.FIELD:
                fields.append(Field(child.code, labels[child.code], tuple(add_elements(child.children))))
            else:
                add_elements((child,))
        return cls(
            tree.code,
            labels[tree.code],
            tuple(fields),
            tuple(elements),
            labels,
            _short(elements),
            short_names(labels, [c for e in elements for c in e.criteria]),
        )

    @classmethod
    def _from_table(cls, table: IndexTable) -> Structure:
        labels = {k: nfc(v) for k, v in table.labels.items()}
        everyone = (*table.units, table.overall)
        levels = dict(table.levels)
        index_code = next((k for k, v in levels.items() if v == Level.INDEX.value), "index")
        field_codes = _ordered(levels, Level.FIELD, [u.fields for u in everyone])
        element_codes = _ordered(levels, Level.ELEMENT, [u.elements for u in everyone])
        criterion_codes = _ordered(levels, Level.CRITERION, [u.criteria for u in everyone])
        # Without the tree, a criterion belongs to the element its code starts with (tiep_can_1 -> tiep_can).
        elements = []
        for number, code in enumerate(element_codes, start=1):
            mine = tuple(c for c in criterion_codes if c.startswith(code + "_"))
            elements.append(Element(code, labels.get(code, code), number, mine))
        assigned = {c for e in elements for c in e.criteria}
        rest = tuple(c for c in criterion_codes if c not in assigned)
        if rest:
            elements.append(Element("khac", "Tiêu chí khác", len(elements) + 1, rest))
        fields = tuple(Field(f, labels.get(f, f), ()) for f in field_codes)
        return cls(
            index_code,
            labels.get(index_code, "Chỉ số"),
            fields,
            tuple(elements),
            labels,
            _short(elements),
            short_names(labels, [c for e in elements for c in e.criteria]),
        )


def _ordered(levels: Mapping[str, str], level: Level, mappings: list[Mapping[str, object]]) -> list[str]:
    codes = [k for k, v in levels.items() if v == level.value]
    for mapping in mappings:
        codes += [k for k in mapping if k not in codes]
    return codes


def _short(elements: list[Element]) -> dict[str, str]:
    short: dict[str, str] = {}
    for e in elements:
        short[e.code] = str(e.number)
        for k, c in enumerate(e.criteria, start=1):
            short[c] = f"{e.number}.{k}"
    return short


SHORT_NAME_CHARS = 30


def short_name(label: str, width: int = SHORT_NAME_CHARS, tail: int = 2) -> str:
    """Shorten a label by a fixed rule that only removes words, never adds any.

    A bracketed aside is dropped; a label still longer than ``width`` characters keeps its first words
    (up to about 60% of ``width``), "…", and its last ``tail`` words: "Trang thiết bị phục vụ người
    dân, tổ chức hiện đại" -> "Trang thiết bị phục vụ … hiện đại".
    """
    text = " ".join(re.sub(r"\s*\([^()]*\)", "", nfc(label)).split()) or nfc(label).strip()
    if len(text) <= width:
        return text
    words = text.split()
    end = words[-tail:] if tail < len(words) else words[-1:]
    rest = words[: len(words) - len(end)]
    head: list[str] = []
    budget = max(width - len(" ".join(end)) - 2, int(width * 0.6))
    for word in rest:
        if len(" ".join([*head, word])) > budget:
            break
        head.append(word)
    if not head:
        head = rest[:1]
    return " ".join(head).rstrip(",;:") + " … " + " ".join(end)


def short_names(labels: Mapping[str, str], codes: Sequence[str]) -> dict[str, str]:
    """Short names of ``codes`` (:func:`short_name`), each distinct: a clash keeps more final words."""
    names: dict[str, str] = {}
    for code in codes:
        label = labels.get(code, code)
        others = [labels.get(c, c) for c in codes if c != code]
        for tail in range(2, 8):
            name = short_name(label, tail=tail)
            if all(short_name(o, tail=tail) != name for o in others) or name == nfc(label):
                break
        names[code] = name
    return names


def nfc(text: str) -> str:
    """Compose Vietnamese diacritics (NFC): fonts and Excel show composed letters reliably."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def display_name(unit: UnitResult, unit_names: Mapping[str, str] | None = None) -> str:
    """The unit's display name: the unit list's, else the table's, else its code."""
    name = (unit_names or {}).get(unit.unit) or unit.name or unit.unit
    return nfc(str(name))


def vn_number(value: float | None, decimals: int = 2) -> str:
    """Format a number the Vietnamese way (dot thousands, comma decimal), '—' when missing."""
    if value is None or value != value:  # None or NaN
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")
