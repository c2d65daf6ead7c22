"""The languages a respondent can answer in, and how complete each language's texts are.

A questionnaire's ``languages`` are the keys of its labels. The kiosk offers a respondent the ones
that are BCP-47 language tags (``vi``, ``en``, ``hre``), Vietnamese first and always: an XLSForm
language written as a bare name (``Swahili``) or XLSForm's ``default`` column is not offered. A text
missing in the chosen language falls back to Vietnamese (:meth:`Label.get`), and
:func:`translation_counts` counts, per language, the texts present and the texts that fall back.

Nothing here invents a translation: a language listed without texts shows the Vietnamese throughout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .model import Label, Questionnaire

# A BCP-47 tag as used here: a 2–3 letter language subtag, optional script / region / variant subtags,
# and an optional private-use part (``x-…``); or a private-use tag alone (``x-cadong``).
_SUBTAG = r"(?:-(?:[A-Za-z]{4}|[A-Za-z]{2}|[0-9]{3}|[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))"
_TAG = re.compile(rf"^(?:[a-z]{{2,3}}{_SUBTAG}*(?:-x(?:-[A-Za-z0-9]{{1,8}})+)?|x(?:-[A-Za-z0-9]{{1,8}})+)$")

# The kinds of text :func:`translation_counts` counts, with their Vietnamese and English names.
KINDS = {
    "questions": ("câu hỏi", "questions"),
    "choices": ("lựa chọn", "choices"),
    "hints": ("gợi ý", "hints"),
}


def is_language_tag(code: str) -> bool:
    """Whether ``code`` is a BCP-47 language tag (``vi``, ``hre``, ``sed-x-cadong``), not a bare name."""
    return bool(_TAG.match(code)) and code != "default"


def respondent_languages(q: Questionnaire) -> tuple[str, ...]:
    """The languages a respondent may choose: Vietnamese first, then the form's other language tags."""
    others = [code for code in q.languages if code != "vi" and is_language_tag(code)]
    return ("vi", *others)


@dataclass(frozen=True)
class Coverage:
    """How many texts of one kind a language has (``present``) and how many fall back (``missing``)."""

    present: int = 0
    missing: int = 0

    @property
    def total(self) -> int:
        return self.present + self.missing


def _texts(q: Questionnaire) -> Iterator[tuple[str, Label]]:
    """Every respondent-facing text of ``q`` with its kind: question labels, choice labels, hints."""
    used_lists: list[str] = []
    for question in q.questions():
        if question.type.is_metadata or question.type.is_computed:
            continue
        yield "questions", question.label
        if question.hint is not None:
            yield "hints", question.hint
        if question.choices and question.choices not in used_lists:
            used_lists.append(question.choices)
    for name in used_lists:
        choice_list = q.choice_lists.get(name)
        for choice in choice_list.choices if choice_list is not None else ():
            yield "choices", choice.label


def translation_counts(q: Questionnaire) -> dict[str, dict[str, Coverage]]:
    """Per respondent language, per kind (questions, choices, hints): texts present and missing.

    A text counts as present in Vietnamese when it has a Vietnamese text; in another language when it
    has a text of its own in that language (a missing one is shown in Vietnamese on the kiosk).
    """
    counts: dict[str, dict[str, list[int]]] = {
        lang: {kind: [0, 0] for kind in KINDS} for lang in respondent_languages(q)
    }
    for kind, label in _texts(q):
        for lang, kinds in counts.items():
            kinds[kind][0 if label.has(lang) else 1] += 1
    return {
        lang: {kind: Coverage(present, missing) for kind, (present, missing) in kinds.items()}
        for lang, kinds in counts.items()
    }


def missing_translations(q: Questionnaire, lang: str) -> list[str]:
    """Where ``lang`` falls back to Vietnamese: ``question code`` / ``list.choice`` / ``code (hint)``."""
    out: list[str] = []
    seen_lists: list[str] = []
    for question in q.questions():
        if question.type.is_metadata or question.type.is_computed:
            continue
        if not question.label.has(lang):
            out.append(question.code)
        if question.hint is not None and not question.hint.has(lang):
            out.append(f"{question.code} (hint)")
        if question.choices and question.choices not in seen_lists:
            seen_lists.append(question.choices)
            choice_list = q.choice_lists.get(question.choices)
            for choice in choice_list.choices if choice_list is not None else ():
                if not choice.label.has(lang):
                    out.append(f"{question.choices}.{choice.code}")
    return out
