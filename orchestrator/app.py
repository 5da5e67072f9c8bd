"""The Flask application factory."""
from __future__ import annotations

import importlib
import pkgutil
from datetime import timedelta
from pathlib import Path

from flask import Flask, jsonify
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text

from orchestrator import config as config_table
from orchestrator.api import parsing, problems
from orchestrator.broker import setup_broker
from orchestrator.db import db
from orchestrator.logs import configure_logging

csrf = CSRFProtect()


class ChorusApi(problems.ProblemResponses, Api):
    def handle_http_exception(self, error):
        if problems.wants_json():
            return problems.http_exception_problem(error)
        return error


def _discover(package_name: str, attribute: str) -> list:
    package = importlib.import_module(package_name)
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package_name}.{info.name}")
        if hasattr(module, attribute):
            found.append(getattr(module, attribute))
    return found


def _prepare_sqlite_path(url: str) -> None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_app(config: dict | None = None) -> Flask:
    app = Flask("orchestrator")
    app.json = parsing.JSONProvider(app)
    app.config.update(config_table.from_environ())
    app.config.update(config or {})
    app.config["BROKER"] = config_table.resolve_broker(app.config)
    config_table.check_secret_key(app.config)
    app.config.update(
        API_TITLE="Chorus",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "security": [{"BearerAuth": []}],
            "components": {"securitySchemes": {"BearerAuth": {"type": "http", "scheme": "bearer"}}},
            "info": {"description": "Omnichannel messaging: contacts, events, templates, campaigns, messages."},
        },
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Send the session cookie only when the session changed. Re-sending it on every
        # response lets a slow background request (the htmx preview) land after a form post
        # and overwrite its cookie, losing the flash the post set. The lifetime then counts
        # from sign-in (CHORUS_SESSION_HOURS), not from the last click.
        SESSION_REFRESH_EACH_REQUEST=False,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["SESSION_HOURS"]),
        JSON_SORT_KEYS=False,
    )
    configure_logging(app)
    _prepare_sqlite_path(app.config["DATABASE_URL"])
    db.init_app(app)

    api = ChorusApi(app)
    for blueprint in _discover("orchestrator.api", "blp"):
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)
    problems.register(app)

    # Provider webhooks and the in-app client API: plain Flask blueprints, no CSRF (signed instead).
    for blueprint in _discover("orchestrator.webhooks", "bp"):
        app.register_blueprint(blueprint)
        csrf.exempt(blueprint)
    # The marketers' UI: sessions, CSRF on every form.
    for blueprint in _discover("orchestrator.web", "bp"):
        app.register_blueprint(blueprint)
    csrf.init_app(app)

    setup_broker(app)

    @app.get("/health")
    def health():
        db.session.execute(text("SELECT 1"))
        return jsonify(status="ok", broker=app.config["BROKER"])

    return app
