"""Errors the shell raises on purpose; the API turns each into a 4xx problem document."""
from __future__ import annotations


class ChorusError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[dict] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(ChorusError):
    status = 404
    title = "Not found"


class Conflict(ChorusError):
    status = 409
    title = "Conflict"


class InvalidInput(ChorusError):
    """Input that is well-formed but breaks a rule (a field error found past the schema)."""

    status = 422
    title = "Unprocessable content"

    @classmethod
    def field(cls, field: str, message: str) -> "InvalidInput":
        return cls(message, [{"field": field, "message": message}])
