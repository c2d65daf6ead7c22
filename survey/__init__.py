"""The survey app: kiosk, admin and API over a SQL database."""

from .app import create_app

__all__ = ["create_app"]
