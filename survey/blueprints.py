"""Blueprint registration: each part of the app registers itself here."""

from __future__ import annotations

import importlib

from flask import Flask

# Modules with a ``init_app(app)`` function, registered in this order; each must import.
PARTS = ("survey.web", "survey.api", "survey.kiosk", "survey.admin")


def register(app: Flask) -> None:
    """Import every part and let it register its blueprint, routes and hooks on ``app``."""
    for name in PARTS:
        importlib.import_module(name).init_app(app)
