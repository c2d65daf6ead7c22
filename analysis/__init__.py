"""Scoring: responses table -> weights -> index table with SE, CI and rank. Pure pandas/scipy, no Flask."""

from .engine import score
from .errors import ScoringError
from .integrity import IntegrityReport, IntegritySettings, SkippedCheck, check_integrity, sensitivity
from .io import read_frame, read_margins, read_previous, read_responses
from .ranking import competition_ranks
from .results import IndexTable, UnitResult

__all__ = [
    "IntegrityReport",
    "IntegritySettings",
    "SkippedCheck",
    "check_integrity",
    "sensitivity",
    "IndexTable",
    "ScoringError",
    "UnitResult",
    "competition_ranks",
    "read_frame",
    "read_margins",
    "read_previous",
    "read_responses",
    "score",
]
