"""Bearer secret keys for the /v1 API."""
from __future__ import annotations

from flask import g, request

from orchestrator.api.parsing import refuse_unstorable_path
from orchestrator.api.problems import problem
from orchestrator.db import db
from orchestrator.services.api_keys import authenticate

BEARER = {"BearerAuth": []}


def require_secret_key() -> None | object:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem(401, "Unauthorized", "Send a secret API key as `Authorization: Bearer <key>`.",
                       headers={"WWW-Authenticate": 'Bearer realm="chorus"'})
    key = authenticate(db.session, token.strip())
    if key is None:
        return problem(401, "Unauthorized", "The API key is unknown or revoked.",
                       headers={"WWW-Authenticate": 'Bearer realm="chorus", error="invalid_token"'})
    g.api_key = key
    return None


def protect(blueprint) -> None:
    """Every route of the blueprint needs a secret key (the OpenAPI document says so); then its
    path parameters are checked, before the view runs."""
    blueprint.before_request(require_secret_key)
    blueprint.before_request(refuse_unstorable_path)


def actor() -> dict:
    """Who did it, for the audit log."""
    key = getattr(g, "api_key", None)
    user = getattr(g, "user", None)
    return {"api_key_id": key.id if key else None, "user_id": user.id if user else None}
