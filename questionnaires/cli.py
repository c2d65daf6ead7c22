"""``sipas questionnaires``: list, show, validate and convert questionnaire definitions."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any

import click

from .errors import QuestionnaireError
from .files import atomic_write
from .languages import KINDS, translation_counts
from .loader import (
    definition_path,
    dump_yaml,
    list_questionnaires,
    list_unit_lists,
    load_file,
    load_units,
    units_path,
)
from .model import Label, Question, Questionnaire, ScoreNode, Scoring
from .xlsform import write_xlsform

_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".xlsx": "xlsform"}


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a QuestionnaireError into a one-line click error (exit 1, no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except QuestionnaireError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group(name="questionnaires")
def questionnaires() -> None:
    """Bộ câu hỏi khảo sát — questionnaire definitions: list, show, validate, convert."""


# --------------------------------------------------------------------------------------------- list
@questionnaires.command(name="list")
def list_command() -> None:
    """Liệt kê các bộ câu hỏi — list the questionnaires found (shipped and $SIPAS_QUESTIONNAIRE_PATH)."""
    ids = list_questionnaires()
    if not ids:
        click.echo("Không có bộ câu hỏi nào — no questionnaires found.")
        return
    rows = [("ID", "Phiên bản", "Câu hỏi", "Tiêu chí", "Tên", "Tệp")]
    problems = []
    for qid in ids:
        try:
            path = definition_path(qid)
            q = load_file(path).questionnaire
        except QuestionnaireError as exc:
            problems.append(str(exc))
            rows.append((qid, "?", "?", "?", "(lỗi — error, see below)", ""))
            continue
        criteria = len(q.scoring.criteria) if q.scoring else 0
        rows.append(
            (q.id, q.version, str(_answerable(q)), str(criteria), _shorten(q.title.vi, 60), str(path))
        )
    for line in _table(rows, right=(2, 3)):
        click.echo(line)
    for problem in problems:
        click.echo(f"Lỗi — error: {problem}", err=True)


def _answerable(q: Questionnaire) -> int:
    return sum(1 for qn in q.questions() if qn.type.is_answerable)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _table(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> Iterator[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        yield "  ".join(cells).rstrip()


# --------------------------------------------------------------------------------------------- show
@questionnaires.command(name="show")
@click.argument("ref", metavar="ID_OR_PATH")
@click.option(
    "--lang",
    type=click.Choice(["vi", "en"]),
    default="vi",
    show_default=True,
    help="Ngôn ngữ nhãn — label language.",
)
@click.option(
    "--languages",
    "languages",
    is_flag=True,
    help="Đếm bản dịch theo ngôn ngữ (có / thiếu, hiện tiếng Việt thay) — count, per language, the "
    "question, choice and hint texts present and missing (shown in Vietnamese instead).",
)
@_user_errors
def show_command(ref: str, lang: str, languages: bool) -> None:
    """Xem cấu trúc bộ câu hỏi — show sections, questions and the scoring tree."""
    path = definition_path(ref)
    result = load_file(path)
    lines = language_lines(result.questionnaire) if languages else describe(result.questionnaire, lang)
    for line in lines:
        click.echo(line)
    for warning in result.warnings:
        click.echo(f"Cảnh báo — warning: {warning}")


def language_lines(q: Questionnaire) -> Iterator[str]:
    """Yield, per respondent language, the texts it has and those that fall back to Vietnamese."""
    counts = translation_counts(q)
    yield f"{q.id} {q.version} — bản dịch theo ngôn ngữ (translations per language)"
    yield "có = có bản dịch, thiếu = hiện tiếng Việt thay (present / missing: shown in Vietnamese)"
    header = ("ngôn ngữ", *(f"{vi} có/thiếu" for vi, _ in KINDS.values()))
    rows = [header]
    for code, kinds in counts.items():
        name = q.language_name(code) or code
        cells = [f"{kinds[kind].present}/{kinds[kind].missing}" for kind in KINDS]
        rows.append((name if code in name else f"{name} ({code})", *cells))
    yield from _table(rows, right=tuple(range(1, len(header))))
    for code in counts:
        missing = sum(c.missing for c in counts[code].values())
        total = sum(c.total for c in counts[code].values())
        if code != "vi" and total and missing == total:
            yield f"{code}: chưa có bản dịch nào (no translation yet): the kiosk shows Vietnamese throughout"


def describe(q: Questionnaire, lang: str = "vi") -> Iterator[str]:
    """Yield a readable outline of ``q``: header, sections with their questions, the scoring tree."""

    def text(label: Label | None) -> str:
        return label.get(lang) if label else ""

    yield f"{q.id} {q.version} — {text(q.title)}"
    if q.source:
        yield f"Nguồn — source: {q.source}"
    yield f"Ngôn ngữ — languages: {', '.join(q.languages)}"
    if q.groups:
        yield "Nhóm đối tượng — respondent groups: " + "; ".join(
            f"{g.code} ({text(g.label)})" for g in q.groups
        )
    n_items = _answerable(q)
    yield f"{len(q.sections)} phần (sections), {n_items} câu hỏi (answerable items)"
    yield ""
    for section in q.sections:
        extra = []
        if section.groups:
            extra.append(f"groups: {' '.join(section.groups)}")
        if section.relevant:
            extra.append(f"relevant: {section.relevant.text}")
        yield f"[{section.code}] {text(section.label)}" + (f"  ({'; '.join(extra)})" if extra else "")
        width = max(len(qn.code) for qn in section.questions)
        for question in section.questions:
            yield "  " + _question_line(q, question, width, text, lang)
    if q.scoring is not None:
        yield ""
        yield from _scoring_lines(q.scoring, text)


def _question_line(q: Questionnaire, question: Question, width: int, text: Callable, lang: str) -> str:
    kind = question.type.value
    choice_list = q.choice_list(question)
    if choice_list is not None:
        kind += f" {choice_list.name}({'/'.join(choice_list.codes)})"
    flags = []
    if question.required:
        flags.append("required" if lang == "en" else "bắt buộc")
    elif question.required_if is not None:
        flags.append(f"{'required if' if lang == 'en' else 'bắt buộc nếu'} {question.required_if.text}")
    if question.relevant is not None:
        flags.append(f"relevant: {question.relevant.text}")
    if question.role is not None:
        flags.append(f"role: {question.role.value}")
    if question.groups:
        flags.append(f"groups: {' '.join(question.groups)}")
    label = "" if question.type.is_metadata else text(question.label)
    line = f"{question.code.ljust(width)}  {kind}"
    if label:
        line += f" — {label}"
    if flags:
        line += f"  [{'; '.join(flags)}]"
    return line


def _scoring_lines(scoring: Scoring, text: Callable) -> Iterator[str]:
    settings = [f"method {scoring.method.value}", f"valid {' '.join(scoring.valid)}"]
    if scoring.method.value == "share_satisfied" or any(
        c.method is not None and c.method.value == "share_satisfied" for c in scoring.criteria
    ):
        settings.append(f"positive {' '.join(scoring.positive)}")
    if scoring.values:
        settings.append("values " + " ".join(f"{k}={v:g}" for k, v in scoring.values.items()))
    if scoring.group_weights:
        settings.append("group weights " + " ".join(f"{k}={v:g}" for k, v in scoring.group_weights.items()))
    settings.append(f"min_n {scoring.min_n}")
    yield f"Chấm điểm — scoring: {', '.join(settings)}"
    yield f"{len(scoring.criteria)} tiêu chí (criteria)"

    def visit(node: ScoreNode, depth: int) -> Iterator[str]:
        parts = [f"{'  ' * depth}{node.level.value} {node.code} — {text(node.label)}"]
        if node.level.value == "criterion" and node.items != (node.code,):
            parts.append(f"items: {' '.join(node.items)}")
        if node.weight != 1.0:
            parts.append(f"weight {node.weight:g}")
        if node.max_points is not None:
            parts.append(f"max {node.max_points:g}")
        if node.method is not None:
            parts.append(f"method {node.method.value}")
        if node.gate is not None:
            parts.append(f"gate: {node.gate.text}")
        yield parts[0] + (f"  [{'; '.join(parts[1:])}]" if len(parts) > 1 else "")
        for child in node.children:
            yield from visit(child, depth + 1)

    yield from visit(scoring.tree, 0)


# ----------------------------------------------------------------------------------------- validate
@questionnaires.command(name="validate")
@click.argument("path", metavar="PATH")
@_user_errors
def validate_command(path: str) -> None:
    """Kiểm tra một tệp định nghĩa (.yaml, .xlsx, .xls) — validate a definition file."""
    file = definition_path(path)
    result = load_file(file)
    q = result.questionnaire
    criteria = len(q.scoring.criteria) if q.scoring else 0
    click.echo(
        f"OK: {file} — {q.id} {q.version}, {_answerable(q)} câu hỏi (items), {criteria} tiêu chí (criteria)"
    )
    for warning in result.warnings:
        click.echo(f"Cảnh báo — warning: {warning}")


# ------------------------------------------------------------------------------------------ convert
@questionnaires.command(name="convert")
@click.argument("source", metavar="IN")
@click.argument("target", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", "-f", is_flag=True, help="Ghi đè OUT nếu đã có — overwrite OUT if it exists.")
@_user_errors
def convert_command(source: str, target: Path, force: bool) -> None:
    """Chuyển đổi YAML <-> XLSForm theo phần mở rộng tệp — convert by file extension (.yaml/.yml/.xlsx).

    IN may also be the id of a shipped questionnaire (e.g. sipas-2023).
    """
    kind = _FORMATS.get(target.suffix.lower())
    if kind is None:
        raise click.ClickException(
            f"{target}: unsupported output type {target.suffix or '(none)'}; use .yaml or .xlsx"
        )
    file = definition_path(source)
    if target.exists() and not force:
        raise click.ClickException(f"{target}: file exists; use --force to overwrite it")
    if target.exists() and target.resolve() == Path(file).resolve():
        raise click.ClickException(f"{target}: the output would overwrite the input")
    result = load_file(file)
    if kind == "xlsform":
        write_xlsform(result.questionnaire, target)
    else:
        _write_text(target, dump_yaml(result.questionnaire))
    copied = _copy_audio(result.questionnaire, Path(file).parent, target.parent)
    for warning in result.warnings:
        click.echo(f"Cảnh báo — warning: {warning}")
    if copied:
        click.echo(f"Đã chép {copied} tệp âm thanh — copied {copied} audio file(s) beside {target.name}")
    click.echo(f"Đã ghi — written: {target}")


def _copy_audio(q: Questionnaire, source: Path, target: Path) -> int:
    """Copy the audio files the definition names to the same relative paths beside the output, where no
    file of that name is there yet (the output's paths must still find them)."""
    if source.resolve() == target.resolve():
        return 0
    copied = 0
    for _, _, name in sorted(set(q.audio_files())):
        destination = target / name
        if destination.exists():
            continue
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, destination)
        except OSError as exc:
            raise click.ClickException(
                f"{destination}: cannot copy the audio file: {exc.strerror or exc}"
            ) from None
        copied += 1
    return copied


def _write_text(path: Path, text: str) -> None:
    """Write UTF-8 text to ``path`` whole or not at all."""
    try:
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), private=False)
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot write file: {exc.strerror or exc}") from None


# -------------------------------------------------------------------------------------------- units
@questionnaires.command(name="units")
@click.argument("ref", metavar="[ID_OR_PATH]", required=False)
@_user_errors
def units_command(ref: str | None) -> None:
    """Danh sách đơn vị — list the unit lists, or the units of one list."""
    if ref is None:
        for uid in list_unit_lists():
            units = load_units(uid)
            click.echo(f"{units.id}  {len(units)} đơn vị (units), từ {units.valid_from} — {units.title}")
        return
    units = load_units(units_path(ref))
    click.echo(f"{units.id} — {units.title} (từ {units.valid_from}, {len(units)} đơn vị)")
    width = max(len(u.code) for u in units)
    for unit in units:
        click.echo(f"  {unit.code.ljust(width)}  {unit.name}")
