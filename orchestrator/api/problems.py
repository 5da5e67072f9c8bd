"""RFC 9457 problem documents for every error the API answers.

`errors` is a flat list of `{"field": "contacts.3.email", "message": ...}` so a client can show
each message beside its field, whatever the nesting of the request body.

One status, one problem type: the title is the status's RFC 9110 name (422 is "Unprocessable
Content", whether webargs, a schema or a service refused the input), and `ProblemSchema` is
what the OpenAPI document says every error response carries.
"""
from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Response, json, request
from flask_smorest.utils import prepare_response
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import HTTPException

from orchestrator.errors import ChorusError

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://chorus.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
JSON_PREFIXES = ("/v1", "/webhooks", "/openapi", "/health", "/t/", "/inbox")
# RFC 9110's reason phrases, the same on every Python (before 3.13, 422 is "Unprocessable Entity").
TITLES = {status.value: status.phrase for status in HTTPStatus} | {
    413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable", 422: "Unprocessable Content"}


class ProblemFieldErrorSchema(Schema):
    field = fields.String(required=True, metadata={
        "description": "Where: a body path (`contacts.3.email`), `body`, or a query or path parameter."})
    message = fields.String(required=True)
    channel = fields.String(allow_none=True, metadata={"description": "Template errors: the channel."})
    line = fields.Integer(allow_none=True, metadata={"description": "Template errors: the line in the field."})
    code = fields.String(allow_none=True, metadata={"description": "Template errors: a stable code."})
    locale = fields.String(allow_none=True, metadata={"description": "Template errors: the locale override."})


class ProblemSchema(Schema):
    """An RFC 9457 problem document (`application/problem+json`)."""

    type = fields.String(required=True, metadata={
        "format": "uri", "example": PROBLEM_TYPE_BASE + "unprocessable-content"})
    title = fields.String(required=True, metadata={"example": "Unprocessable Content"})
    status = fields.Integer(required=True, metadata={"example": 422})
    detail = fields.String(metadata={"example": "The request has invalid fields: contacts.3.email"})
    errors = fields.List(fields.Nested(ProblemFieldErrorSchema), metadata={
        "description": "One entry per invalid field."})


class ProblemResponses:
    """Mixed into the flask-smorest `Api`: the error responses it documents (the `default` of
    every operation, the 422 of every `@blp.arguments`) are problem documents."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        for status in HTTPStatus:
            response = {"description": TITLES[status.value]}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem document (RFC 9457).", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def problem(status: int, title: str | None = None, detail: str | None = None, errors: list | None = None,
            headers: dict | None = None) -> Response:
    """A problem response. The title (and the type made from it) is the status's name in TITLES;
    `title` only names a status HTTP does not."""
    title = TITLES.get(status, title or "Error")
    body = {
        "type": PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_CONTENT_TYPE)
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
    # A list at a location is about the whole of it (webargs' "Invalid JSON body."): `body`.
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "headers", "view_args"}:
        merged: dict = {}
        for value in messages.values():
            if isinstance(value, dict):
                merged.update(value)
            elif isinstance(value, list):
                merged.setdefault("_schema", []).extend(value)
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
    return problem(error.code or 500, None, detail, errors, data.get("headers"))


def register(app) -> None:
    @app.errorhandler(ChorusError)
    def _chorus_error(error: ChorusError):
        return problem(error.status, error.title, error.detail, error.errors or None)

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError):
        errors = flatten_messages(error.messages)
        return problem(422, None, "The request has invalid fields: " + ", ".join(sorted({e["field"] for e in errors})),
                       errors)
