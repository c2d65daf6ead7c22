"""The survey app: kiosk, admin and API over a SQL database."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `sipas score` and other commands do not load Flask and the database.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'survey' has no attribute {name!r}")
