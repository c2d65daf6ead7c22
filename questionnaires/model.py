"""The questionnaire model: frozen dataclasses shared by every part of the toolkit.

A :class:`Questionnaire` holds its sections and questions, the choice lists they use, and the
:class:`Scoring` tree that says how answers become an index. Nothing here touches files, Flask or
pandas; loading lives in :mod:`questionnaires.loader`.

Answer values, as stored and as sent to the API, follow XLSForm/ODK:

* ``single``: the choice code (a string, e.g. ``"4"``);
* ``multiple``: a list of choice codes;
* ``integer`` / ``decimal``: a number;
* ``text`` / ``date``: a string (dates ISO ``YYYY-MM-DD``);
* ``note``: never answered;
* metadata types (``start``, ``end``, ``today``): filled by the device, not the respondent.

Choice codes are always strings in the model. A choice list whose codes are all integers
(``ChoiceList.is_numeric``) may be held as numbers in a responses table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType

from .expressions import Expression

# The standard XLSForm names of the languages the shipped questionnaires use. ISO 639-3: Cor is ``cua``
# (the Cua language, whose dialects include Kol/Kor/Cor), Hrê is ``hre``; Ca Dong, a branch of the Xơ
# Đăng people, is written ``sed`` (Sedang) and named by the questionnaire (README, "Ngôn ngữ").
LANGUAGE_NAMES = {
    "vi": "Tiếng Việt (vi)",
    "en": "English (en)",
    "cua": "Cor (cua)",
    "hre": "Hrê (hre)",
    "default": "",
}


@dataclass(frozen=True, init=False)
class Label:
    """A user-facing text in one or more languages, in the questionnaire's language order.

    ``texts`` holds ``(language, text)`` pairs; a language is a BCP-47 tag (``vi``, ``en``, ``hre``)
    or, for an XLSForm language written without a tag, its name as written (``Swahili``), or
    ``default`` for XLSForm's bare ``label`` column. ``Label("…", "…")`` is Vietnamese and English.
    """

    texts: tuple[tuple[str, str], ...]

    def __init__(
        self,
        vi: str | None = None,
        en: str | None = None,
        *,
        texts: Mapping[str, str | None] | Iterable[tuple[str, str | None]] | None = None,
    ):
        if texts is None:
            pairs = [("vi", vi), ("en", en)]
        else:
            pairs = list(texts.items()) if isinstance(texts, Mapping) else list(texts)
        object.__setattr__(self, "texts", tuple((lang, text) for lang, text in pairs if text))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang, _ in self.texts)

    def text(self, lang: str) -> str | None:
        """The text in exactly ``lang``, or None."""
        for key, value in self.texts:
            if key == lang:
                return value
        return None

    @property
    def vi(self) -> str:
        """The Vietnamese text, else the text in the questionnaire's first language that has one."""
        return self.text("vi") or (self.texts[0][1] if self.texts else "")

    @property
    def en(self) -> str | None:
        return self.text("en")

    def get(self, lang: str = "vi") -> str:
        """Return the text in ``lang``, falling back to Vietnamese (then the first language)."""
        return self.text(lang) or self.vi

    def has(self, lang: str) -> bool:
        return self.text(lang) is not None

    def as_dict(self) -> dict[str, str]:
        return dict(self.texts)

    def __str__(self) -> str:
        return self.vi


class QuestionType(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    INTEGER = "integer"
    DECIMAL = "decimal"
    TEXT = "text"
    DATE = "date"
    NOTE = "note"
    # Metadata: filled by the device, never shown as a question.
    START = "start"
    END = "end"
    TODAY = "today"
    # Computed from other answers by its ``calculation``; stored, never shown as a question.
    CALCULATE = "calculate"

    @property
    def is_metadata(self) -> bool:
        return self in (QuestionType.START, QuestionType.END, QuestionType.TODAY)

    @property
    def is_computed(self) -> bool:
        return self is QuestionType.CALCULATE

    @property
    def has_choices(self) -> bool:
        return self in (QuestionType.SINGLE, QuestionType.MULTIPLE)

    @property
    def is_answerable(self) -> bool:
        """True for questions a respondent answers (not notes, not metadata)."""
        return not self.is_metadata and self not in (QuestionType.NOTE, QuestionType.CALCULATE)


class Role(StrEnum):
    """What a question's answer means to the survey design, beyond being an answer."""

    STRATUM = "stratum"  # the answer is the response's stratum (e.g. procedure field)
    GROUP = "group"  # the answer is the respondent group (e.g. leader / citizen)


def _no_extra() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Choice:
    code: str
    label: Label
    # Other columns of the choice's row, kept verbatim: properties a ``choice_filter`` reads
    # (``state``, ``county``) and presentational columns (``image``), keyed by their header.
    extra: Mapping[str, str] = field(default_factory=_no_extra)
    audio: Mapping[str, str] = field(default_factory=_no_extra)  # language -> audio file (see Question)


@dataclass(frozen=True)
class ChoiceList:
    name: str
    choices: tuple[Choice, ...]
    file: str | None = None  # XLSForm select_one_from_file: the CSV/XML file the choices were read from

    @cached_property  # asked for every answer the server validates; the list never changes
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.choices)

    @property
    def is_numeric(self) -> bool:
        """True when every code is an integer literal (``"1"``, ``"-2"``)."""
        return bool(self.choices) and all(_is_int_literal(c.code) for c in self.choices)

    def label_of(self, code: str) -> Label | None:
        for c in self.choices:
            if c.code == code:
                return c.label
        return None


@dataclass(frozen=True)
class Question:
    """One item of the questionnaire. ``code`` is the item code used everywhere (storage, scoring)."""

    code: str
    type: QuestionType
    label: Label
    hint: Label | None = None
    choices: str | None = None  # name of a ChoiceList, for single/multiple
    required: bool = False
    required_if: Expression | None = None  # conditional requirement (XLSForm allows an expression)
    relevant: Expression | None = None  # skip logic: shown and stored only when true
    constraint: Expression | None = None  # ``.`` is the question's own value
    constraint_message: Label | None = None
    # e.g. "likert": consecutive likert rows render as one grid; "faces": a scale drawn as faces (kiosk).
    # Several words may be given, space-separated (``appearances``).
    appearance: str | None = None
    role: Role | None = None
    groups: tuple[str, ...] = ()  # respondent groups asked this question; empty = all
    calculation: Expression | None = None  # calculate questions: the value stored
    default: str | None = None  # the answer filled in before the respondent changes it
    choice_filter: Expression | None = None  # offers only the choices for which it is true
    guidance_hint: Label | None = None  # guidance for enumerators and printed forms
    required_message: Label | None = None  # shown when a required question is left empty
    read_only: bool = False
    # XLSForm columns the kiosk does not use (images, ``rows``, ``bind::*`` …), kept verbatim by header so
    # that a workbook read and written again keeps them.
    extra: Mapping[str, str] = field(default_factory=_no_extra)
    # The spoken question per language (XLSForm ``media::audio::<language>``): a file name relative to
    # the definition's folder, as ODK Collect finds its media beside the form.
    audio: Mapping[str, str] = field(default_factory=_no_extra)

    @property
    def appearances(self) -> tuple[str, ...]:
        """The words of ``appearance`` (XLSForm allows several, space-separated: ``"likert faces"``)."""
        return tuple(self.appearance.split()) if self.appearance else ()

    def has_appearance(self, name: str) -> bool:
        return name in self.appearances

    def is_required(self, answers: Mapping[str, object]) -> bool:
        """Whether this question must be answered, given the other answers."""
        if self.required:
            return True
        if self.required_if is not None:
            return self.required_if.truthy(answers)
        return False


@dataclass(frozen=True)
class Section:
    """A page of the kiosk form (an XLSForm group)."""

    code: str
    label: Label
    questions: tuple[Question, ...]
    relevant: Expression | None = None
    groups: tuple[str, ...] = ()  # respondent groups shown this section; empty = all
    intro: Label | None = None
    appearance: str | None = "field-list"
    # False for questions that stand outside any group in an XLSForm: the kiosk shows them as a page,
    # but the workbook written back keeps them at the top level (their data paths do not move).
    wrapped: bool = True
    extra: Mapping[str, str] = field(default_factory=_no_extra)
    audio: Mapping[str, str] = field(default_factory=_no_extra)  # the page's title and introduction, spoken


@dataclass(frozen=True)
class RespondentGroup:
    code: str
    label: Label


class Method(StrEnum):
    SHARE_SATISFIED = "share_satisfied"  # % of valid answers in the positive set
    MEAN_SCORE = "mean_score"  # mean answer rescaled to 0-100
    POINTS = "points"  # each option worth a fraction of the criterion's max points


class GroupWeighting(StrEnum):
    """How ``group_weights`` combine the respondent groups (methodology §7)."""

    # A criterion's value in a unit is the group_weights-weighted mean of each group's (weighted) mean,
    # over the groups with valid answers to it (weights renormalised over those groups).
    CRITERION_MEANS = "criterion_means"
    # Each unit's respondents are post-stratified so the groups present hold their shares of its weight.
    RESPONDENTS = "respondents"


class PointsTotal(StrEnum):
    """What the points method reports as a unit's points (methodology §7)."""

    # The sum of the points of the criteria asked and answered, beside the sum of their max_points; the
    # index is that sum as a share of that maximum.
    ASKED = "asked"
    # The full maximum times the index, each node keeping its full maximum in its parent's mean (the
    # reading before 2026: a node with missing criteria is extrapolated to its full points).
    SCALED = "scaled"


class UnaskedStratum(StrEnum):
    """What scoring does with a response whose stratum question was not asked (methodology §6).

    A frame by stratum (unit × procedure field) gives each cell its population. A form may ask the
    stratum question only of some respondents (sipas-2023 asks the procedure field only after Câu 8 says
    the person did a procedure); those without it belong to no frame cell. This is a local choice, not an
    official rule, so it is a setting of the questionnaire and the method sheet says which was used.
    """

    # A blank stratum is an error, whatever the reason (the reading before 2026).
    REFUSE = "refuse"
    # The unit's responses whose stratum question was not asked form one more cell of that unit, whose
    # population is taken to be sampled at the unit's own rate: N = n × (frame population of the unit's
    # cells with responses / their responses), so each weighs the unit's mean design weight. A blank
    # stratum where the question *was* asked is still an error.
    UNIT_CELL = "unit_cell"


class Level(StrEnum):
    INDEX = "index"
    FIELD = "field"
    ELEMENT = "element"
    CRITERION = "criterion"


@dataclass(frozen=True)
class ScoreNode:
    """A node of the scoring tree: index -> [fields ->] elements -> criteria.

    A criterion scores ``items`` (usually one item code; several are averaged). ``gate`` is an
    expression over the respondent's answers: a response counts for this node and everything below it
    only when the gate is true (e.g. Câu 8 says the respondent did an administrative procedure).
    """

    code: str
    level: Level
    label: Label
    weight: float = 1.0
    children: tuple[ScoreNode, ...] = ()
    items: tuple[str, ...] = ()  # criteria only
    gate: Expression | None = None
    max_points: float | None = None  # points method
    method: Method | None = None  # overrides the scoring method for this criterion
    values: Mapping[str, float] | None = None  # points: option code -> fraction of max points

    def walk(self) -> Iterator[ScoreNode]:
        """Yield this node and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def criteria(self) -> tuple[ScoreNode, ...]:
        return tuple(n for n in self.walk() if n.level is Level.CRITERION)


@dataclass(frozen=True)
class Scoring:
    """How answers become an index (methodology §5, §7); every step is a setting."""

    method: Method
    tree: ScoreNode  # the root, level INDEX
    valid: tuple[str, ...] = ("1", "2", "3", "4", "5")  # valid answer codes; others leave the denominator
    positive: tuple[str, ...] = ("4", "5")  # share_satisfied: codes that count as satisfied
    scale: tuple[float, float] = (1.0, 5.0)  # mean_score: (min, max) mapped to (0, 100)
    values: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # points default
    group_weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    group_weighting: GroupWeighting = GroupWeighting.CRITERION_MEANS  # how group_weights apply
    points_total: PointsTotal = PointsTotal.ASKED  # points method: what a unit's points are
    unasked_stratum: UnaskedStratum = UnaskedStratum.REFUSE  # responses not asked the stratum question
    decimals: int = 2  # for display only
    min_n: int = 30  # units with fewer responses are flagged

    @property
    def criteria(self) -> tuple[ScoreNode, ...]:
        return self.tree.criteria

    def node(self, code: str) -> ScoreNode:
        for n in self.tree.walk():
            if n.code == code:
                return n
        raise KeyError(code)

    def levels(self) -> tuple[Level, ...]:
        """The levels present in the tree, root first."""
        seen: list[Level] = []
        for n in self.tree.walk():
            if n.level not in seen:
                seen.append(n.level)
        return tuple(sorted(seen, key=list(Level).index))


@dataclass(frozen=True)
class Questionnaire:
    id: str
    version: str
    title: Label
    sections: tuple[Section, ...]
    choice_lists: Mapping[str, ChoiceList]
    languages: tuple[str, ...] = ("vi",)  # language codes, the keys of every Label's texts
    groups: tuple[RespondentGroup, ...] = ()
    scoring: Scoring | None = None
    source: str | None = None  # the decision or plan the questionnaire implements
    description: Label | None = None
    # How XLSForm columns name each language (``en`` -> ``English (en)``); a language missing here has
    # the standard name of LANGUAGE_NAMES, and ``default`` is XLSForm's bare ``label`` column.
    language_names: Mapping[str, str] = field(default_factory=_no_extra)
    default_language: str | None = None  # XLSForm settings default_language (a language code)
    # XLSForm settings the toolkit does not use (instance_name, style, …), kept verbatim.
    settings: Mapping[str, str] = field(default_factory=_no_extra)

    def language_name(self, code: str) -> str:
        """How an XLSForm column names language ``code`` (empty for the bare ``label`` column)."""
        if code in self.language_names:
            return self.language_names[code]
        return LANGUAGE_NAMES.get(code, code)

    def questions(self) -> Iterator[Question]:
        for section in self.sections:
            yield from section.questions

    @property
    def item_codes(self) -> tuple[str, ...]:
        return tuple(q.code for q in self.questions())

    def question(self, code: str) -> Question:
        for q in self.questions():
            if q.code == code:
                return q
        raise KeyError(code)

    def section_of(self, code: str) -> Section:
        for s in self.sections:
            if any(q.code == code for q in s.questions):
                return s
        raise KeyError(code)

    def choice_list(self, question: Question) -> ChoiceList | None:
        return self.choice_lists.get(question.choices) if question.choices else None

    def audio_files(self) -> Iterator[tuple[str, str, str]]:
        """Every audio file the definition names: ``(prompt key, language, file)``; see :func:`prompt_key`."""
        for section in self.sections:
            for lang, file in section.audio.items():
                yield prompt_key("section", section.code), lang, file
            for question in section.questions:
                for lang, file in question.audio.items():
                    yield prompt_key("question", question.code), lang, file
        for choice_list in self.choice_lists.values():
            for choice in choice_list.choices:
                for lang, file in choice.audio.items():
                    yield prompt_key("choice", choice_list.name, choice.code), lang, file

    def role_item(self, role: Role) -> Question | None:
        """The question whose answer gives the response's stratum or respondent group, if any."""
        for q in self.questions():
            if q.role is role:
                return q
        return None


@dataclass(frozen=True)
class Unit:
    """An administrative unit surveyed (a commune or town)."""

    code: str
    name: str  # full name, e.g. "Thị trấn Trà Xuân"
    kind: str = "xa"  # "xa", "thi_tran", "phuong"


@dataclass(frozen=True)
class UnitList:
    """A dated list of units (lists change with mergers, so each list carries its date)."""

    id: str
    title: str
    valid_from: str  # ISO date
    units: tuple[Unit, ...]
    source: str | None = None

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units)

    def __len__(self) -> int:
        return len(self.units)

    def get(self, code: str) -> Unit:
        for u in self.units:
            if u.code == code:
                return u
        raise KeyError(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(u.code for u in self.units)


def prompt_key(kind: str, *codes: str) -> str:
    """The key of a spoken prompt: ``q:<item>``, ``c:<list>:<choice>``, ``s:<section>``, ``m:<message>``."""
    prefix = {"question": "q", "choice": "c", "section": "s", "message": "m"}[kind]
    return ":".join((prefix, *codes))


def _is_int_literal(text: str) -> bool:
    s = text[1:] if text[:1] == "-" else text
    return s.isdigit() and s.isascii()
