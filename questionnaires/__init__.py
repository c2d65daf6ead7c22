"""Questionnaire definitions as data: the model, the expression language and the loaders.

This package imports nothing else of the toolkit; every other package reads questionnaires through it.
"""

from .applicability import applicable, drop_inapplicable, respondent_group, section_applicable
from .errors import ErrorCode, LoadWarning, QuestionnaireError, WarningCode
from .expressions import Expression, ExpressionError, parse, parse_choice_filter
from .loader import (
    LoadResult,
    dump_yaml,
    from_data,
    list_questionnaires,
    list_unit_lists,
    load_file,
    load_questionnaire,
    load_units,
    to_dict,
)
from .model import (
    Choice,
    ChoiceList,
    Label,
    Level,
    Method,
    Question,
    Questionnaire,
    QuestionType,
    RespondentGroup,
    Role,
    ScoreNode,
    Scoring,
    Section,
    Unit,
    UnitList,
)
from .runtime import (
    calculate,
    choice_row,
    default_answer,
    offered_choices,
    offered_codes,
    settle,
    stored_value,
)
from .xlsform import read_xlsform, write_xlsform

__all__ = [
    "Choice",
    "ChoiceList",
    "ErrorCode",
    "Expression",
    "ExpressionError",
    "Label",
    "Level",
    "LoadResult",
    "LoadWarning",
    "Method",
    "Question",
    "QuestionType",
    "Questionnaire",
    "QuestionnaireError",
    "RespondentGroup",
    "Role",
    "ScoreNode",
    "Scoring",
    "Section",
    "Unit",
    "UnitList",
    "WarningCode",
    "applicable",
    "calculate",
    "choice_row",
    "default_answer",
    "drop_inapplicable",
    "dump_yaml",
    "from_data",
    "list_questionnaires",
    "list_unit_lists",
    "load_file",
    "load_questionnaire",
    "load_units",
    "offered_choices",
    "offered_codes",
    "parse",
    "parse_choice_filter",
    "read_xlsform",
    "respondent_group",
    "section_applicable",
    "settle",
    "stored_value",
    "to_dict",
    "write_xlsform",
]
