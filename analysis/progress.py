"""A progress bar on the terminal for the commands that can take a while (score, report, plot, export).

The bar appears only when the work has lasted more than ``delay`` seconds (2 by default), only on a
terminal (standard error is a TTY), and goes away when the work ends; piped or redirected output, cron
jobs and tests see nothing. ``SIPAS_PROGRESS=1`` forces it on (a terminal the check does not see),
``SIPAS_PROGRESS=0`` off; ``SIPAS_PROGRESS_DELAY`` sets the delay in seconds. A thread redraws it a few
times a second, so a long stage still shows the time going by.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import IO

import click

__all__ = ["Progress", "progress_enabled"]

DELAY = 2.0
REFRESH = 0.25
_ON = ("1", "yes", "true", "always", "on")
_OFF = ("0", "no", "false", "never", "off")


def progress_enabled(stream: IO[str] | None = None) -> bool:
    """Whether to draw a bar: ``SIPAS_PROGRESS`` when set, else whether ``stream`` is a terminal."""
    setting = os.environ.get("SIPAS_PROGRESS", "").strip().lower()
    if setting in _ON:
        return True
    if setting in _OFF:
        return False
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _delay() -> float:
    try:
        return max(0.0, float(os.environ.get("SIPAS_PROGRESS_DELAY", DELAY)))
    except ValueError:
        return DELAY


class Progress:
    """Stages of one command's work, drawn as ``label [####----] 40 %  12 s`` on standard error.

    Use as a context manager; :meth:`step` names the stage starting now and how far the work is (0-1).
    """

    def __init__(self, label: str, *, enabled: bool | None = None, delay: float | None = None):
        self.label = label
        self.enabled = progress_enabled() if enabled is None else enabled
        self.delay = _delay() if delay is None else delay
        self.stage = ""
        self.fraction = 0.0
        self.shown = False
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        self._start = time.monotonic()
        if self.enabled:
            if self.delay <= 0:
                self.shown = True
                self._draw()
            self._thread = threading.Thread(target=self._run, name="sipas-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self.shown:
                if kind is None:
                    self.fraction, self.stage = 1.0, "xong"
                self._draw(final=True)

    def step(self, stage: str, fraction: float) -> None:
        """The stage starting now, and the share of the work done before it."""
        with self._lock:
            self.stage = stage
            self.fraction = min(1.0, max(self.fraction, float(fraction)))
            if self.shown:
                self._draw()

    def _run(self) -> None:
        while not self._stop.wait(REFRESH):
            with self._lock:
                if time.monotonic() - self._start >= self.delay:
                    self.shown = True
                    self._draw()

    def _draw(self, final: bool = False) -> None:
        width = shutil.get_terminal_size((80, 20)).columns
        seconds = int(time.monotonic() - self._start)
        tail = f" {round(self.fraction * 100):3d} %  {seconds} s  {self.stage}"
        bar_width = max(10, min(30, width - len(self.label) - len(tail) - 4))
        filled = round(bar_width * self.fraction)
        line = f"{self.label} [{'#' * filled}{'-' * (bar_width - filled)}]{tail}"
        click.echo("\r" + line[: max(1, width - 1)].ljust(width - 1), nl=final, err=True)
