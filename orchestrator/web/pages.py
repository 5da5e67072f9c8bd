"""The blueprint every UI area is made with: HTML error pages and the same security headers."""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, make_response, render_template, request, url_for

from orchestrator.errors import ChorusError

# The email preview is shown in a sandboxed iframe; inline styles are what emails are made of.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; frame-src 'self' about:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)

ERROR_TITLES = {
    400: "That request could not be used",
    403: "You are not allowed to do that",
    404: "Nothing here",
    405: "That is not how this page works",
    413: "That file is too large",
    429: "Slow down a little",
    500: "Something went wrong on our side",
}


def _secure_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def error_page(status: int, detail: str | None = None):
    title = ERROR_TITLES.get(status, "Something is not right")
    page = render_template("error.html", status=status, title=title, detail=detail)
    return _secure_headers(make_response(page, status))


def _render_chorus_error(error: ChorusError):
    return error_page(error.status, error.detail)


def ui_blueprint(name: str, import_name: str, **options) -> Blueprint:
    """A UI area's blueprint: Chorus errors become HTML pages, responses get security headers."""
    blueprint = Blueprint(name, import_name, **options)
    blueprint.register_error_handler(ChorusError, _render_chorus_error)
    blueprint.after_request(_secure_headers)
    return blueprint




def paged(fetch: Callable[[str | None], tuple[list, str | None]], endpoint: str, *, param: str = "cursor",
          anchor: str = "", **filters):
    """(rows, next page URL, first page URL) of a keyset-paged list; `fetch(cursor)` is the
    service's list call. A cursor that is not one of ours (edited by hand) starts over. A page
    with several lists gives each its own `param` (and `anchor`, to land back at that list),
    passing the others' cursors as filters so they stay where they are."""
    cursor = request.args.get(param) or None
    try:
        rows, next_cursor = fetch(cursor)
    except ChorusError:
        cursor = None
        rows, next_cursor = fetch(None)
    given = {key: value for key, value in filters.items() if value}
    return (rows, url_for(endpoint, **{param: next_cursor}, **given) + anchor if next_cursor else None,
            url_for(endpoint, **given) + anchor if cursor else None)
