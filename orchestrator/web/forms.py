"""Form posts validated by the same marshmallow schemas the API uses.

Errors come back as `{field path: [messages]}` so a template can show each beside its field.
"""
from __future__ import annotations

import json
from typing import Iterable, Mapping

from marshmallow import Schema, ValidationError

from orchestrator.api.problems import flatten_messages
from orchestrator.errors import ChorusError
from orchestrator.services.csv_import import cell_value

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


# Typed values in text inputs ---------------------------------------------------------------
# `2` is the number 2, `true` a boolean, `"2"` (quoted) the text "2", anything else text; so a
# value the API stored shows in an input and comes back unchanged.

def typed_value(text: str):
    text = (text or "").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, str):
            return value
    return cell_value(text)


def value_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if typed_value(value) != value else value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def list_value(text: str) -> list:
    return [typed_value(part) for part in (text or "").split(",") if part.strip()]


def list_text(values) -> str:
    return ", ".join(value_text(v) for v in values)


# Repeated rows (`prefix.0.part`, `prefix.1.part`, …) ---------------------------------------

def indexed_rows(form: Mapping, prefix: str) -> list[dict]:
    """The rows named `prefix.N.part` in N order, blank ones left out (clearing a row removes it)."""
    found: dict[int, dict] = {}
    start = prefix + "."
    for name, value in form.items():
        if not name.startswith(start):
            continue
        index, _, part = name[len(start):].partition(".")
        if index.isdigit() and part:
            found.setdefault(int(index), {})[part] = value
    return [row for _, row in sorted(found.items())
            if any(str(v).strip() for k, v in row.items() if k not in ("op", "unit", "per"))]


def flat_rows(prefix: str, rows: Iterable[dict]) -> dict:
    """Rows back into `prefix.N.part` form values, numbered from 0."""
    return {f"{prefix}.{n}.{part}": value for n, row in enumerate(rows) for part, value in row.items()}
