"""Form posts validated by the same marshmallow schemas the API uses.

Errors come back as `{field path: [messages]}` so a template can show each beside its field.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from marshmallow import Schema, ValidationError

from orchestrator.api.problems import flatten_messages
from orchestrator.errors import ChorusError

FieldErrors = dict[str, list[str]]


def field_errors(pairs: Iterable[dict]) -> FieldErrors:
    errors: FieldErrors = {}
    for pair in pairs:
        errors.setdefault(pair["field"], []).append(pair["message"])
    return errors


def errors_of(error: ValidationError | ChorusError) -> FieldErrors:
    if isinstance(error, ValidationError):
        return field_errors(flatten_messages(error.messages))
    return field_errors(error.errors or [{"field": "form", "message": error.detail}])


def form_values(form: Mapping[str, str], names: Iterable[str]) -> dict:
    """The named fields that were filled in; a blank input means "not given", as in JSON."""
    values = {}
    for name in names:
        raw = form.get(name)
        if raw is not None and raw.strip() != "":
            values[name] = raw.strip() if name != "password" else raw
    return values


def load_form(schema: Schema, form: Mapping[str, str], names: Iterable[str],
              extra: Mapping | None = None) -> tuple[dict | None, FieldErrors]:
    data = form_values(form, names)
    data.update(extra or {})
    try:
        return schema.load(data), {}
    except ValidationError as error:
        return None, errors_of(error)
