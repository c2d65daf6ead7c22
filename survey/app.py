"""The application factory."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from . import db, errors, security
from .config import Defaults


def create_app(test_config: Mapping[str, Any] | None = None, *, serving: bool = True) -> Flask:
    """Create the survey app: config layered defaults -> instance -> SIPAS_* env -> test_config.

    In production (``ENV=production``, the default) an app that serves requests needs ``SECRET_KEY``
    (``SIPAS_SECRET_KEY``) and raises :class:`~survey.security.ConfigurationError` without one;
    development (``sipas serve``, ``sipas demo``) keeps a generated key in the instance folder.
    ``serving=False`` is for commands and scripts that only use the database: they get a random key
    that lives as long as the process, since nothing they sign is ever checked.
    """
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("SIPAS_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
    )
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("SIPAS")
    if test_config is not None:
        app.config.from_mapping(test_config)

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "sipas.sqlite")
    if not serving:
        app.config["SECRET_KEY"] = app.config.get("SECRET_KEY") or secrets.token_urlsafe(48)
    elif not app.config.get("SECRET_KEY") and app.config.get("ENV") != "production":
        app.config["SECRET_KEY"] = _secret_key(app)
    security.check_secret_key(app.config, app.instance_path)

    db.init_app(app)
    errors.init_app(app)
    security.init_app(app)

    from . import blueprints

    blueprints.register(app)
    return app


def _secret_key(app: Flask) -> str:
    """Read the instance's secret key, creating it (0600) on first start; never a built-in default."""
    path = Path(app.instance_path) / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another worker may have created the file a moment ago and not written it yet.
        for _ in range(50):
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty: delete it, or set SIPAS_SECRET_KEY") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        key = secrets.token_urlsafe(48)
        fh.write(key)
    return key
