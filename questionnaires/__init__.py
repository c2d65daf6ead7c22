"""Questionnaire definitions as data: the model, the expression language and the loaders.

This package imports nothing else of the toolkit; every other package reads questionnaires through it.
"""

from .applicability import applicable, drop_inapplicable, respondent_group, section_applicable
from .errors import ErrorCode, LoadWarning, QuestionnaireError, WarningCode
from .expressions import Expression, ExpressionError, parse
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
    GroupWeighting,
    Label,
    Level,
    Method,
    PointsTotal,
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
from .xlsform import read_xlsform, write_xlsform

__all__ = [
    "Choice",
    "ChoiceList",
    "ErrorCode",
    "Expression",
    "ExpressionError",
    "GroupWeighting",
    "Label",
    "Level",
    "LoadResult",
    "LoadWarning",
    "Method",
    "PointsTotal",
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
    "drop_inapplicable",
    "dump_yaml",
    "from_data",
    "list_questionnaires",
    "list_unit_lists",
    "load_file",
    "load_questionnaire",
    "load_units",
    "parse",
    "read_xlsform",
    "respondent_group",
    "section_applicable",
    "to_dict",
    "write_xlsform",
]
