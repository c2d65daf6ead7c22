"""Shared pieces of the browser tests: Chromium, a live server that can really go away, tapping a form.

``LiveServer`` serves the app on 127.0.0.1 in a thread. ``stop()`` closes the listening socket AND
every open connection (Chromium keeps connections alive, and a handler thread would go on answering on
them), so a stopped server is as gone as a cut cable; ``start()`` brings it back on the same port,
i.e. the same origin, with the same service worker and IndexedDB. ``hold_posts()`` makes the server
keep each ``POST /api/v1/responses`` waiting until the test lets it through, so a test can kill a tab
while its answer is in flight.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from survey.db import session_scope
from survey.models import Response

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TABLET = {"viewport": {"width": 800, "height": 1280}, "has_touch": True, "is_mobile": True}
SUBMIT_PATH = "/api/v1/responses"


def playwright_api() -> Any:
    """Playwright's sync API; skips the test when Playwright or Chromium is not installed."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    return sync_api


@contextmanager
def chromium(extra_args: tuple[str, ...] = ()) -> Iterator[Any]:
    """Headless Chromium from the OS package (skips the test when it is not installed)."""
    with playwright_api().sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


class LiveServer:
    """The app on a local port, stoppable and restartable on that same port."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.host = host
        self.port = port
        self.posts: list[str | None] = []  # instance ids of the submissions that reached the server
        self.requests: list[str] = []  # "METHOD /path" of every request that reached the server
        self.in_flight = threading.Event()  # a held submission is waiting
        self._hold = False
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------------------------- WSGI
    def _wsgi(self, environ, start_response):
        with self._lock:
            self.requests.append(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')}")
        if environ["REQUEST_METHOD"] == "POST" and environ.get("PATH_INFO") == SUBMIT_PATH:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            try:
                instance_id = json.loads(body).get("instance_id")
            except (ValueError, AttributeError):
                instance_id = None
            with self._lock:
                self.posts.append(instance_id)
                hold = self._hold
            if hold:
                self.in_flight.set()
                self._release.wait(timeout=30)
        return self.app(environ, start_response)

    def hold_posts(self) -> None:
        """Keep every submission waiting (before the app sees it) until :meth:`release_posts`."""
        with self._lock:
            self._hold = True
        self._release.clear()
        self.in_flight.clear()

    def release_posts(self) -> None:
        with self._lock:
            self._hold = False
        self._release.set()

    # ----------------------------------------------------------------------------- lifecycle
    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LiveServer:
        server = make_server(self.host, self.port, self._wsgi, threaded=True)
        accept = server.get_request

        def tracked():
            conn, address = accept()
            with self._lock:
                self._connections.add(conn)
            return conn, address

        server.get_request = tracked
        # Request threads are joined on stop (server_close), so that none still holds a database
        # connection when the test's app and engine are thrown away.
        server.daemon_threads = False
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering: no listening socket, and every open connection cut."""
        if self._server is None:
            return
        self._server.shutdown()
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client
            conn.close()
        self._server.server_close()  # closes the listening socket and joins the request threads
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.release_posts()
        self.stop()


# ---------------------------------------------------------------------------------------- the data
def stored(app) -> list[Response]:
    with app.app_context(), session_scope(app) as session:
        return list(session.scalars(select(Response).order_by(Response.id)))


def wait_for(
    condition: Callable[[], Any],
    timeout: float = 20.0,
    what: str = "",
    page: Any = None,
    interval: float = 0.1,
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds.

    With ``page``, the pauses are Playwright waits: the sync API delivers events (route handlers,
    dialogs) only while a Playwright call is running, so a test that intercepts requests needs it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        if page is not None:
            page.wait_for_timeout(interval * 1000)
        else:
            time.sleep(interval)


# --------------------------------------------------------------------------------- filling sipas-2017
PROFILE = {"linh_vuc": "ho_tich", "gioi_tinh": "2", "do_tuoi": "3", "nghe_nghiep": "4"}
LIKERT = {
    "tiep_can_1": "4", "tiep_can_2": "5", "tiep_can_3": "3", "tiep_can_4": "4",
    "thu_tuc_1": "5", "thu_tuc_2": "4", "thu_tuc_3": "4", "thu_tuc_4": "2", "thu_tuc_5": "1",
    "cong_chuc_1": "5", "cong_chuc_2": "5", "cong_chuc_3": "4", "cong_chuc_4": "4", "cong_chuc_5": "3",
    "cong_chuc_6": "5", "ket_qua_1": "4", "ket_qua_2": "4", "ket_qua_3": "5",
}  # fmt: skip


def tap_answers(page, answers: dict[str, str]) -> None:
    for code, value in answers.items():
        page.tap(f'label[for="q-{code}-{value}"]')


def fill_sipas_2017(page, n: int) -> dict[str, Any]:
    """Fill one whole sipas-2017 form (the n-th of a test) from the welcome screen to the review.

    Returns the answers the respondent gave (metadata excluded), to compare with the stored row.
    """
    page.tap("#k-start")
    page.wait_for_selector('[data-code="linh_vuc"]')
    likert = {code: str((int(value) + n) % 5 + 1) for code, value in LIKERT.items()}
    tap_answers(page, PROFILE)
    page.fill("#q-so_lan_di_lai", str(n % 20 + 1))
    page.tap("#k-next")
    for prefix, expect in (
        ("tiep_can", '[data-code="thu_tuc_1"]'),
        ("thu_tuc", '[data-code="cong_chuc_1"]'),
        ("cong_chuc", '[data-code="ket_qua_1"]'),
        ("ket_qua", '[data-code="da_gop_y"]'),
    ):
        page.wait_for_selector(f'[data-code="{prefix}_1"]')
        tap_answers(page, {k: v for k, v in likert.items() if k.startswith(prefix)})
        page.tap("#k-next")
        page.wait_for_selector(expect)
    tap_answers(page, {"da_gop_y": "2"})  # no feedback given: the feedback criteria are not asked
    page.tap("#k-next")
    page.wait_for_selector("#q-gop_y")
    comment = f"Phiếu số {n}: cán bộ nhiệt tình, nên có thêm ghế chờ."
    page.fill("#q-gop_y", comment)
    page.tap("#k-next")
    page.wait_for_selector("#k-submit")
    return {**PROFILE, "so_lan_di_lai": n % 20 + 1, **likert, "da_gop_y": "2", "gop_y": comment}


def submit_and_thank(page) -> None:
    """Tap "Gửi phiếu", see the thank-you screen, and come back to a fresh welcome screen."""
    page.tap("#k-submit")
    page.wait_for_selector("#k-thanks")
    page.tap(".thanks .btn")  # "Mở phiếu mới ngay"
    page.wait_for_selector("#k-start")
