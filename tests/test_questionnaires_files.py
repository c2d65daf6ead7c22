"""questionnaires.files.atomic_write: the whole file or nothing, with the permissions asked for."""

from __future__ import annotations

import stat

import pytest

from questionnaires.files import atomic_write


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_through_a_temporary_file_with_the_same_suffix_and_returns_the_result(tmp_path):
    target = tmp_path / "phieu.xlsx"
    seen = []

    def write(tmp):
        seen.append(tmp)
        tmp.write_text("nội dung", encoding="utf-8")
        return 42

    assert atomic_write(target, write) == 42
    assert target.read_text(encoding="utf-8") == "nội dung"
    assert seen[0].parent == tmp_path and seen[0].suffix == ".xlsx" and seen[0] != target
    assert [p.name for p in tmp_path.iterdir()] == ["phieu.xlsx"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "bang.csv"
    target.write_text("cũ", encoding="utf-8")

    def write(tmp):
        tmp.write_text("nửa chừ", encoding="utf-8")
        raise RuntimeError("hỏng")

    with pytest.raises(RuntimeError, match="hỏng"):
        atomic_write(target, write)
    assert target.read_text(encoding="utf-8") == "cũ"
    assert [p.name for p in tmp_path.iterdir()] == ["bang.csv"]


def test_a_missing_folder_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "khong-co" / "x.yaml", lambda tmp: tmp.write_text("x"))


def test_private_files_are_the_owners_and_others_get_what_open_gives(tmp_path):
    atomic_write(tmp_path / "sao-luu.sqlite", lambda tmp: tmp.write_bytes(b"x"))
    assert _mode(tmp_path / "sao-luu.sqlite") == 0o600
    reference = tmp_path / "reference.yaml"
    reference.write_text("x")  # what a plain open(path, "w") gives under this umask
    atomic_write(tmp_path / "phieu.yaml", lambda tmp: tmp.write_text("x"), private=False)
    assert _mode(tmp_path / "phieu.yaml") == _mode(reference)
