"""Writing files whole or not at all, for every package that writes one (definitions, tables, reports)."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

__all__ = ["atomic_write"]


def atomic_write(path: str | Path, write: Callable[[Path], T], *, private: bool = True) -> T:
    """Call ``write`` on a temporary file beside ``path``, then move it into place; return its result.

    The temporary file is in the same folder (so the final rename is atomic) and keeps the suffix of
    ``path`` (so that writers that look at it, such as xlsxwriter, behave). If ``write`` or the rename
    fails, the temporary file is removed and ``path`` is left as it was: never a half-written file.
    The folder must exist. A ``private`` file is readable by its owner only (mode 0600, for copies of
    responses); otherwise it gets the permissions a plain ``open(path, "w")`` would give it.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    prefix, suffix = f".{path.stem}-", path.suffix or ".tmp"
    if private:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        temporary = Path(name)
    else:
        # mkstemp always makes 0600; os.open lets the umask decide, as open() does.
        temporary = folder / f"{prefix}{secrets.token_hex(8)}{suffix}"
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(handle)
    try:
        result = write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return result
