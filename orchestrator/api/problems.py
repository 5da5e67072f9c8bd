"""RFC 9457 problem documents for every error the API answers.

`errors` is a flat list of `{"field": "contacts.3.email", "message": ...}` so a client can show
each message beside its field, whatever the nesting of the request body.
"""
from __future__ import annotations

import logging

from flask import Response, json, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from orchestrator.errors import ChorusError

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://chorus.dev/problems/"
JSON_PREFIXES = ("/v1", "/webhooks", "/openapi", "/health", "/t/", "/inbox")


def problem(status: int, title: str, detail: str | None = None, errors: list | None = None,
            headers: dict | None = None) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_messages(messages, prefix: str = "") -> list[dict]:
    """Turn marshmallow's nested error dict into field-path/message pairs."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix or "body"
            out.extend(flatten_messages(value, path))
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            out.extend({"field": prefix or "body", "message": m} for m in messages)
        else:
            for item in messages:
                out.extend(flatten_messages(item, prefix))
    else:
        out.append({"field": prefix or "body", "message": str(messages)})
    return out


def _strip_location(messages):
    # webargs nests errors under the location ("json", "query"); the field path is what matters.
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "headers", "view_args"}:
        merged: dict = {}
        for value in messages.values():
            if isinstance(value, dict):
                merged.update(value)
        return merged
    return messages


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == "application/json"


def http_exception_problem(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    errors = None
    messages = data.get("errors") or data.get("messages")
    if messages:
        errors = flatten_messages(_strip_location(messages))
    detail = data.get("message") or error.description
    if error.code == 422 and errors:
        detail = "The request has invalid fields: " + ", ".join(sorted({e["field"] for e in errors}))
    if error.code == 413:
        detail = "The request body is larger than this server accepts."
    return problem(error.code or 500, error.name, detail, errors, data.get("headers"))


def register(app) -> None:
    @app.errorhandler(ChorusError)
    def _chorus_error(error: ChorusError):
        return problem(error.status, error.title, error.detail, error.errors or None)

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError):
        errors = flatten_messages(error.messages)
        return problem(422, "Unprocessable Content",
                       "The request has invalid fields: " + ", ".join(sorted({e["field"] for e in errors})),
                       errors)
