"""Staff pages (/admin): login, campaigns with live progress, kiosk links and QR codes, paper-form entry,
downloads, and user management. Every route checks the role; every form carries a CSRF token.

One blueprint, ``admin``; its routes are in one module per concern (``auth``, ``campaigns``, ``kiosks``,
``entry``, ``downloads``, ``users``) and their forms beside them in ``forms``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, session
from sqlalchemy.exc import SQLAlchemyError

from ..users import current_user
from ..web import VIETNAM_TZ
from .shared import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.after_request
def _no_store(response: Response) -> Response:
    # Staff pages show personal and survey data: never kept in shared browser caches. A clip's
    # address holds its hash, so its own private, immutable caching stands.
    if "immutable" not in (response.headers.get("Cache-Control") or ""):
        response.headers["Cache-Control"] = "no-store"
    return response


def _flag_label(flag: str) -> str:
    """A unit result's flag in Vietnamese, as the report's notes column says it."""
    from analysis.results import FLAG_LABELS_VI  # here: only results pages load pandas

    return FLAG_LABELS_VI.get(flag, flag)


def _template_context() -> dict[str, Any]:
    staff = None
    if "user_id" in session:
        try:
            staff = current_user()
        except SQLAlchemyError:  # an error page while the database is down still renders
            staff = None
    return {"current_staff": staff, "role_labels": ROLE_LABELS, "now_local": lambda: datetime.now(VIETNAM_TZ)}


def init_app(app: Flask) -> None:
    """Register the staff pages and the names their templates use."""
    app.register_blueprint(bp)
    app.context_processor(_template_context)
    app.add_template_filter(_flag_label, "flag_label")


# The route modules add their views to bp, so they are imported once it exists.
from . import (  # noqa: E402, F401 - registers the routes
    audio,
    auth,
    campaigns,
    codes,
    dossiers,
    double_entry,
    downloads,
    entry,
    integrity,
    kiosks,
    responses,
    results,
    users,
)
