"""Problem documents: one status, one type and title (RFC 9110's names), whoever refused."""
from __future__ import annotations

from orchestrator.api.problems import PROBLEM_TYPE_BASE

UNPROCESSABLE = {"type": PROBLEM_TYPE_BASE + "unprocessable-content", "title": "Unprocessable Content", "status": 422}


def head(response) -> dict:
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.get_json()
    return {key: body[key] for key in ("type", "title", "status")}


def test_every_422_is_unprocessable_content(api):
    # webargs, refusing a body for @blp.arguments
    parsed = api.post("/v1/contacts", json={"email": "nope"})
    assert head(parsed) == UNPROCESSABLE
    assert {e["field"] for e in parsed.get_json()["errors"]} == {"external_id", "email"}
    # a marshmallow ValidationError raised in a handler (/v1/events loads its body itself)
    assert head(api.post("/v1/events", json={"external_id": "x"})) == UNPROCESSABLE
    # an InvalidInput raised past the schema (its class says "Unprocessable content")
    invalid = api.post("/v1/events", json=[1, 2])
    assert head(invalid) == UNPROCESSABLE
    assert invalid.get_json()["errors"] == [{"field": "body", "message": "Send a JSON object."}]
    # a service's rule (a template that does not exist)
    assert head(api.post("/v1/messages", json={"template": "nope", "to": {"external_id": "x"}})) == UNPROCESSABLE
    # a query string
    assert head(api.get("/v1/contacts", query_string={"limit": "0"})) == UNPROCESSABLE


def test_one_title_per_status_whoever_answers(api):
    routed = api.get("/v1/no-such-thing")        # werkzeug's NotFound
    service = api.get("/v1/contacts/nobody")     # orchestrator.errors.NotFound ("Not found")
    expected = {"type": PROBLEM_TYPE_BASE + "not-found", "title": "Not Found", "status": 404}
    assert head(routed) == head(service) == expected


def test_413_uses_its_rfc_9110_name(sqlite_api, sqlite_app):
    limit = sqlite_app.config["MAX_CONTENT_LENGTH"]
    sqlite_app.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        r = sqlite_api.post("/v1/contacts", json={"external_id": "x", "attributes": {"blob": "y" * 5000}})
    finally:
        sqlite_app.config["MAX_CONTENT_LENGTH"] = limit
    assert r.status_code == 413
    assert head(r) == {"type": PROBLEM_TYPE_BASE + "content-too-large", "title": "Content Too Large", "status": 413}
