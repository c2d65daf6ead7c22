"""Blueprint registration: each part of the app registers itself here."""

from __future__ import annotations

import importlib

from flask import Flask

# Modules with a ``init_app(app)`` function, registered in this order.
PARTS = ("survey.web", "survey.api", "survey.kiosk", "survey.admin")


def register(app: Flask) -> None:
    for name in PARTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        module.init_app(app)
