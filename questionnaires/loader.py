"""Load questionnaires and unit lists in three stages: read -> validate/normalise -> build.

* **read** (:mod:`questionnaires.read`) turns a file into plain data (dicts and lists) without judging
  it: YAML there, XLSForm ``.xlsx`` in :mod:`questionnaires.xlsform`. Entries read from a sheet carry
  ``_where`` (``"survey row 12"``) so that later messages can point at the row.
* **validate** (:mod:`questionnaires.validate`) checks that plain data and returns it normalised
  (labels as ``{"vi", "en"}``, defaults filled in), plus the warnings it collected.
* **build** (:mod:`questionnaires.build`) turns normalised data into the frozen dataclasses of
  :mod:`questionnaires.model`.

This module composes them and finds definitions by id; :mod:`questionnaires.dump` runs the way back.
Every problem a user can cause raises :class:`~questionnaires.errors.QuestionnaireError`, whose
message names the file, the item and what is wrong.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import build
from .dump import dump_yaml, to_dict
from .errors import ErrorCode, LoadWarning, QuestionnaireError
from .model import Questionnaire, Unit, UnitList
from .read import DEFINITION_SUFFIXES, read, read_yaml
from .validate import Context, validate
from .validate.context import CODE_RE

__all__ = [
    "CODE_RE",
    "DEFINITIONS_DIR",
    "EXTRA_PATH_ENV",
    "PACKAGE_DIR",
    "UNITS_DIR",
    "UNIT_CODE_RE",
    "LoadResult",
    "build",
    "definition_path",
    "dump_yaml",
    "from_data",
    "list_questionnaires",
    "list_unit_lists",
    "load_file",
    "load_questionnaire",
    "load_units",
    "read",
    "read_yaml",
    "search_path",
    "to_dict",
    "units_path",
    "validate",
]

PACKAGE_DIR = Path(__file__).resolve().parent
DEFINITIONS_DIR = PACKAGE_DIR / "definitions"
UNITS_DIR = PACKAGE_DIR / "units"
EXTRA_PATH_ENV = "SIPAS_QUESTIONNAIRE_PATH"  # extra folders of definitions, os.pathsep-separated

UNIT_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass
class LoadResult:
    """A loaded questionnaire with the warnings its definition raised."""

    questionnaire: Questionnaire
    warnings: list[LoadWarning] = field(default_factory=list)


# ------------------------------------------------------------------------------------ questionnaires
def from_data(raw: Any, file: str | None = None, base_dir: str | Path | None = None) -> LoadResult:
    """Validate and build from plain data (e.g. a snapshot kept in the database); with ``base_dir``, the
    audio files the definition names must be there."""
    data, warnings = validate(raw, file, base_dir)
    return LoadResult(build(data), warnings)


def load_file(path: str | Path) -> LoadResult:
    """Load a definition file (.yaml or .xlsx) through all three stages."""
    path = Path(path)
    return from_data(read(path), str(path), path.parent)


def search_path() -> list[Path]:
    """Folders searched for definitions by id: $SIPAS_QUESTIONNAIRE_PATH first, then the shipped ones."""
    extra = [Path(p) for p in os.environ.get(EXTRA_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, DEFINITIONS_DIR]


def definition_path(ref: str | Path) -> Path:
    """Resolve a questionnaire id or a file path to a file."""
    path = Path(ref)
    if path.suffix.lower() in DEFINITION_SUFFIXES or path.exists():
        return path
    for folder in search_path():
        for suffix in DEFINITION_SUFFIXES:
            candidate = folder / f"{ref}{suffix}"
            if candidate.exists():
                return candidate
    known = ", ".join(list_questionnaires()) or "none"
    raise QuestionnaireError(ErrorCode.NOT_FOUND, f"no questionnaire with id {str(ref)!r} (known: {known})")


def load_questionnaire(ref: str | Path) -> Questionnaire:
    """Load a questionnaire by shipped id (``sipas-2017``) or by path."""
    return load_file(definition_path(ref)).questionnaire


def list_questionnaires() -> list[str]:
    """Return the ids of the definitions found on the search path, sorted."""
    ids: set[str] = set()
    for folder in search_path():
        if folder.is_dir():
            for p in folder.iterdir():
                if p.suffix.lower() in DEFINITION_SUFFIXES:
                    ids.add(p.stem)
    return sorted(ids)


# --------------------------------------------------------------------------------------- unit lists
def units_path(ref: str | Path) -> Path:
    """Resolve a unit-list id or a file path to a file."""
    path = Path(ref)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return path
    candidate = UNITS_DIR / f"{ref}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(list_unit_lists()) or "none"
    raise QuestionnaireError(ErrorCode.NOT_FOUND, f"no unit list with id {str(ref)!r} (known: {known})")


def list_unit_lists() -> list[str]:
    """Return the ids of the shipped unit lists, sorted."""
    return sorted(p.stem for p in UNITS_DIR.glob("*.yaml"))


def load_units(ref: str | Path) -> UnitList:
    """Load a dated unit list (``units/tra-bong-2023``) by id or path."""
    path = units_path(ref)
    ctx = Context(str(path))
    raw = ctx.mapping(read_yaml(path), "top level")
    where = "top level"
    if hasattr(raw.get("valid_from"), "isoformat"):  # YAML reads an unquoted date as a date
        raw["valid_from"] = raw["valid_from"].isoformat()
    uid = ctx.text(raw, "id", where)
    title = ctx.text(raw, "title", where)
    valid_from = ctx.text(raw, "valid_from", where)
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", str(valid_from)):
        raise ctx.fail(ErrorCode.BAD_VALUE, "valid_from must be an ISO date YYYY-MM-DD", where)
    raw_units = ctx.seq(raw.get("units"), where, "units")
    if not raw_units:
        raise ctx.fail(ErrorCode.MISSING_FIELD, "'units' is required and must not be empty", where)
    return UnitList(
        id=uid,
        title=title,
        valid_from=str(valid_from),
        units=_units(ctx, raw_units),
        source=ctx.text(raw, "source", where, False),
    )


def _units(ctx: Context, raw_units: list) -> tuple[Unit, ...]:
    """Return the units of a list, each code valid and used once."""
    units = []
    seen: set[str] = set()
    for i, u in enumerate(raw_units):
        uw = f"units[{i}]"
        u = ctx.mapping(u, uw)
        code = ctx.text(u, "code", uw)
        uw = f"unit {code}"
        if not UNIT_CODE_RE.match(code):
            raise ctx.fail(
                ErrorCode.BAD_CODE, f"unit code {code!r} must be lower-case letters, digits, - or _", uw
            )
        if code in seen:
            raise ctx.fail(ErrorCode.DUPLICATE_ITEM, f"unit code {code!r} appears twice", uw)
        seen.add(code)
        units.append(
            Unit(
                code=code, name=ctx.text(u, "name", uw), kind=ctx.text(u, "kind", uw, required=False) or "xa"
            )
        )
    return tuple(units)
