"""How the API reads a request before its schemas do: the JSON body and the path.

* JSON: Flask's `request.get_json` and webargs (flask-smorest's `@blp.arguments`) read bodies
  with the same rules, and a body nested too deep for Python's parser is a 400 like any other
  body that is not JSON, never a RecursionError's 500. `NaN` and `Infinity` do parse: the field
  they sit in refuses them with a 422 naming it (orchestrator.schemas.fields).
* Path: ids are `<{ID}:name>`, bounded to a BIGINT, so a longer number is a 404 and not an
  overflow; a path parameter holding a NUL character is a 404 too, since no stored key has one
  (and the database would refuse to look for it).
"""
from __future__ import annotations

import json

from flask import request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from orchestrator.api.problems import problem
from orchestrator.schemas.fields import MAX_ID, text_problem

ID = f"int(min=1, max={MAX_ID})"
TOO_DEEP = "The JSON body is nested too deeply."


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a too-deep body read as invalid JSON (Flask answers 400)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(TOO_DEEP) from None


class RequestParser(FlaskParser):
    """webargs' Flask parser, with a too-deep body read as invalid JSON (webargs answers 400)."""

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            raise json.JSONDecodeError(TOO_DEEP, TOO_DEEP, 0) from None


class Blueprint(SmorestBlueprint):
    """A flask-smorest blueprint reading arguments with `RequestParser`."""

    ARGUMENTS_PARSER = RequestParser()

    def arguments(self, schema, *args, **kwargs):
        # webargs instantiates a schema class on every request, deep-copying its fields (and a
        # Nested field's schema with them): a tenth of a POST /v1/messages. One instance per
        # route does the same work; load keeps no state on the schema between calls.
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


def refuse_unstorable_path():
    """A before-request hook: a path parameter no text column can hold (a NUL character) names
    nothing there is."""
    for name, value in (request.view_args or {}).items():
        trouble = text_problem(value) if isinstance(value, str) else None
        if trouble:
            return problem(404, "Not Found", f"No {name} is like that: {trouble}", [{"field": name, "message": trouble}])
    return None
