"""``gunicorn wsgi:app`` on a free loopback port, as in production, for the fault and multi-host tests."""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without its SIPAS_* settings, plus the database, a key and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPAS_")}
    env |= {"SIPAS_DATABASE_URL": database_url, "SIPAS_SECRET_KEY": secrets.token_urlsafe(32)}
    return env | {f"SIPAS_{name}": value for name, value in settings.items()}


class Gunicorn:
    """One gunicorn (gthread workers) in a process group of its own; restartable on the same port."""

    def __init__(self, env: Mapping[str, str], workdir: Path, workers: int = 2, threads: int = 4):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gunicorn-{self.port}.log"
        self.env = dict(env) | {
            "SIPAS_INSTANCE_PATH": str(workdir / f"instance-{self.port}"),
            "PYTHONPATH": str(ROOT),
        }
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--graceful-timeout",
            "5",
            "wsgi:app",
        ]
        self.process: subprocess.Popen | None = None

    def launch(self) -> None:
        """Start the process without waiting for it (several hosts can then boot side by side)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        """Wait until /healthz answers 200; fail with the end of the log if it does not within 30 s."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_text()[-3000:]
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.1)
        raise AssertionError("gunicorn did not answer /healthz:\n" + self.log_text()[-3000:])

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: no cleanup, no goodbye."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")
