"""Hostile files: whatever a user hands the questionnaire loader or the scoring readers, the answer is
the package's own error (``QuestionnaireError``, ``ScoringError``) with a message, never another
exception. Random bytes, random YAML, mutated real definitions, deep nesting, alias bombs, random
XLSX bytes and workbooks of random cells, garbage CSV/XLSX/Parquet. Property-based, derandomised."""

from __future__ import annotations

import copy
import io
import math
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from analysis import ScoringError, read_frame, read_previous, read_responses, score
from questionnaires import (
    Questionnaire,
    QuestionnaireError,
    from_data,
    load_file,
    load_questionnaire,
    load_units,
    to_dict,
)
from questionnaires.loader import definition_path

FILES = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
SIPAS_2017 = load_questionnaire("sipas-2017")
SIPAS_2017_DATA = yaml.safe_load(definition_path("sipas-2017").read_text(encoding="utf-8"))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "sipas-2017", "single", "likert5", "${x} = 1", ". >= 1", "1", "=cmd", "\x00"])
)
plain_data = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)


def _load(path: Path, loader=load_file):
    """Load ``path``; a QuestionnaireError is fine (and must say where), anything else fails the test."""
    try:
        return loader(path)
    except QuestionnaireError as exc:
        assert str(exc).strip()
        assert str(path) in str(exc) or exc.file is None or exc.file == str(path)
        return None


# ------------------------------------------------------------------------------ questionnaire files
@FILES
@given(raw=st.binary(max_size=2000))
def test_random_bytes_as_a_yaml_definition(tmp_path, raw):
    path = tmp_path / "phieu.yaml"
    path.write_bytes(raw)
    assert _load(path) is None


@FILES
@given(data=plain_data)
def test_random_yaml_as_a_definition_or_a_unit_list(tmp_path, data):
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert _load(path) is None
    assert _load(path, load_units) is None


def _paths(node, prefix=()):
    """Every path to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


SIPAS_PATHS = [p for p in _paths(SIPAS_2017_DATA) if p]


@st.composite
def mutated_definitions(draw):
    """The real sipas-2017 definition with a few values replaced, keys added or entries removed."""
    data = copy.deepcopy(SIPAS_2017_DATA)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(SIPAS_PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(plain_data)
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = draw(plain_data)
            else:
                parent.append(draw(plain_data))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this path
    return data


@FILES
@given(data=mutated_definitions())
def test_a_mutated_real_definition_loads_or_says_what_is_wrong(tmp_path, data):
    path = tmp_path / "sipas-sua.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    loaded = _load(path)
    if loaded is not None:
        # What loads must be a usable questionnaire that survives its own round trip.
        q = loaded.questionnaire
        assert isinstance(q, Questionnaire) and q.id
        assert to_dict(from_data(to_dict(q)).questionnaire) == to_dict(q)
    try:
        from_data(data)
    except QuestionnaireError:
        pass


@pytest.mark.parametrize(
    "text",
    [
        "id: x\nsections: " + "[" * 1500 + "]" * 1500,
        "id: x\ntitle: " + "{a: " * 1500 + "1" + "}" * 1500,
        "!!python/object/apply:os.system ['echo bị tấn công']",
        "!!binary AAAA",
        "id: &a [*a]",
        "a: 1\na: 2\n",
        "\t- tab indented",
        "id: x\n" + "".join(f"k{i}: v\n" for i in range(3000)),
        "\ufeffid: sipas\nversion: 1\n",
        "---\nid: a\n---\nid: b\n",
    ],
    ids=[
        "deep-lists",
        "deep-maps",
        "python-tag",
        "binary-tag",
        "self-alias",
        "duplicate-key",
        "tabs",
        "many-keys",
        "bom",
        "two-docs",
    ],
)
def test_hostile_yaml_definitions_are_questionnaire_errors(tmp_path, text):
    path = tmp_path / "phieu.yaml"
    path.write_text(text, encoding="utf-8")
    assert _load(path) is None
    assert _load(path, load_units) is None


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A YAML list whose last entry refers, through 9 levels of 9 aliases, to 387 million strings."""
    parts = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        parts.append(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "[" + ", ".join(parts) + "]"


@pytest.mark.parametrize("where", ["sections", "choices", "title", "index", "units"])
def test_a_yaml_alias_bomb_is_refused_without_being_expanded(tmp_path, where):
    bomb = _alias_bomb()
    head = "id: x\nversion: '1'\ntitle: {vi: x}\n"
    if where == "index":
        text = head + f"scoring: {{method: share_satisfied, index: {bomb}}}\n"
    elif where == "choices":
        text = head + f"choices: {{likert: {bomb}}}\n"
    elif where == "title":
        text = f"id: x\nversion: '1'\ntitle: {{vi: {bomb}}}\n"
    else:
        text = head + f"{where}: {bomb}\n"
    path = tmp_path / "bomb.yaml"
    path.write_text(text, encoding="utf-8")
    assert _load(path) is None
    assert _load(path, load_units) is None


@FILES
@given(raw=st.binary(max_size=3000))
def test_random_bytes_as_an_xlsx_definition(tmp_path, raw):
    path = tmp_path / "phieu.xlsx"
    path.write_bytes(raw)
    assert _load(path) is None


def _cell(value):
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


@FILES
@given(
    sheets=st.dictionaries(
        st.sampled_from(["survey", "choices", "settings", "groups", "scoring", "khác"]),
        st.lists(
            st.lists(scalars.filter(lambda v: not isinstance(v, float) or math.isfinite(v)), max_size=6),
            max_size=8,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_workbooks_of_random_cells_are_questionnaire_errors(tmp_path, sheets):
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            cells = ["" if v is None else v for v in row]
            # openpyxl itself refuses control characters in cells; a workbook cannot carry them.
            sheet.append([_cell(c) for c in cells])
    path = tmp_path / "phieu.xlsx"
    workbook.save(path)
    loaded = _load(path)
    if loaded is not None:
        assert isinstance(loaded.questionnaire, Questionnaire)


def test_a_zip_that_is_not_a_workbook_and_a_workbook_with_broken_xml(tmp_path):
    path = tmp_path / "phieu.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "xin chào")
    assert _load(path) is None
    good = io.BytesIO()
    workbook = openpyxl.Workbook()
    workbook.active.title = "survey"
    workbook.active.append(["type", "name", "label"])
    workbook.save(good)
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good.getvalue())) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                data = data[: len(data) // 2]  # cut in the middle of the XML
            target.writestr(item, data)
    path.write_bytes(broken.getvalue())
    assert _load(path) is None


# --------------------------------------------------------------------------------- scoring readers
def _read(path: Path, reader):
    try:
        result = reader(path)
    except ScoringError as exc:
        assert str(exc).strip() and path.name in str(exc)
        return None
    return result


def _responses(path: Path):
    return read_responses(path, SIPAS_2017)


READERS = {"read_responses": _responses, "read_frame": read_frame, "read_previous": read_previous}


@FILES
@given(raw=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".xlsx", ".parquet", ".txt", ""]))
def test_random_bytes_to_the_scoring_readers(tmp_path, raw, suffix):
    path = tmp_path / f"du-lieu{suffix}"
    path.write_bytes(raw)
    for reader in READERS.values():
        result = _read(path, reader)
        assert result is None or isinstance(result, pd.DataFrame) or hasattr(result, "units")


cell_values = (
    st.none()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=12)
    | st.sampled_from(["1", "4", "5", "tra-xuan", "ho_tich", "", "=1+1", "-", "NA", "n/a", "∞"])
)
COLUMN_NAMES = [
    "response_id",
    "unit",
    "stratum",
    "group",
    "population",
    "index",
    "rank",
    "tiep_can_1",
    "linh_vuc",
    "gop_y",
]


@st.composite
def garbage_tables(draw):
    columns = draw(
        st.lists(st.sampled_from(COLUMN_NAMES) | st.text(min_size=1, max_size=8), min_size=1, max_size=6)
    )
    rows = draw(st.integers(0, 6))
    return [columns] + [[draw(cell_values) for _ in columns] for _ in range(rows)]


def _write(table, path: Path) -> None:
    header, *rows = table
    if path.suffix == ".csv":
        frame = pd.DataFrame(rows, columns=range(len(header)))
        text = ",".join(f'"{h}"' for h in header) + "\n" + frame.to_csv(index=False, header=False)
        path.write_text(text, encoding="utf-8")
    elif path.suffix == ".xlsx":
        workbook = openpyxl.Workbook()
        for row in (header, *rows):
            workbook.active.append(
                [ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in row]
            )
        workbook.save(path)
    else:
        names = [f"{h}" for h in header]
        frame = pd.DataFrame(rows, columns=range(len(header))).astype(str)
        if len(set(names)) == len(names):
            frame.columns = names
        frame.columns = [str(c) for c in frame.columns]
        frame.to_parquet(path)


@FILES
@given(table=garbage_tables(), suffix=st.sampled_from([".csv", ".xlsx", ".parquet"]))
def test_garbage_tables_to_the_scoring_readers_and_the_engine(tmp_path, table, suffix):
    path = tmp_path / f"bang{suffix}"
    _write(table, path)
    responses = _read(path, _responses)
    frame = _read(path, read_frame)
    _read(path, read_previous)
    if responses is not None:
        # Whatever the reader let through, scoring either works or says what is wrong.
        try:
            score(SIPAS_2017, responses, frame=frame)
        except ScoringError as exc:
            assert str(exc).strip()


def test_missing_and_directory_paths_are_scoring_errors(tmp_path):
    for reader in READERS.values():
        assert _read(tmp_path / "khong-co.csv", reader) is None
        folder = tmp_path / "thu-muc.csv"
        folder.mkdir(exist_ok=True)
        assert _read(folder, reader) is None
