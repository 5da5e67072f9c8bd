"""Secret API keys: required, hashed, revocable, with a last-used time; and errors as problems."""
from __future__ import annotations

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import ApiKey
from orchestrator.services.api_keys import create_api_key, revoke_api_key


def test_missing_malformed_wrong_and_revoked_keys_get_401(app):
    client = app.test_client()
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer chs_000000000000_nope"},
                    {"Authorization": "Bearer not-a-key"}):
        r = client.get("/v1/contacts", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["Content-Type"] == "application/problem+json"
        assert "Bearer" in r.headers["WWW-Authenticate"]
    issued = create_api_key(db.session, "svc")
    db.session.commit()
    good = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/v1/contacts", headers=good).status_code == 200
    # One character changed in the secret part: same prefix, wrong hash.
    tampered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    assert client.get("/v1/contacts", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    revoke_api_key(db.session, issued.key.id)
    db.session.commit()
    assert client.get("/v1/contacts", headers=good).status_code == 401


def test_keys_are_stored_hashed_and_record_last_use(app):
    issued = create_api_key(db.session, "svc")
    db.session.commit()
    row = db.session.scalar(select(ApiKey).where(ApiKey.id == issued.key.id))
    assert issued.secret not in (row.key_hash, row.prefix)
    assert issued.secret.startswith(row.prefix + "_")
    assert row.last_used_at is None
    app.test_client().get("/v1/contacts", headers={"Authorization": f"Bearer {issued.secret}"})
    db.session.expire_all()
    assert db.session.get(ApiKey, issued.key.id).last_used_at is not None


def test_publishable_key_is_not_a_secret_key(app):
    issued = create_api_key(db.session, "app", kind="publishable")
    db.session.commit()
    r = app.test_client().get("/v1/contacts", headers={"Authorization": f"Bearer {issued.secret}"})
    assert r.status_code == 401


def test_openapi_document_describes_the_api(sqlite_app):
    r = sqlite_app.test_client().get("/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    assert spec["openapi"].startswith("3.")
    assert "/v1/contacts" in spec["paths"] and "/v1/events" in spec["paths"]
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    upsert = spec["components"]["schemas"]["ContactUpsert"]
    assert "external_id" in upsert["required"]


def test_oversize_body_is_a_413_problem(sqlite_api, sqlite_app):
    sqlite_app.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        r = sqlite_api.post("/v1/contacts", json={"external_id": "x", "attributes": {"blob": "y" * 5000}})
    finally:
        sqlite_app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    assert r.status_code == 413
    assert r.get_json()["status"] == 413


def test_unknown_route_and_method_are_problems(sqlite_api):
    r = sqlite_api.get("/v1/nothing-here")
    assert r.status_code == 404 and r.get_json()["title"] == "Not Found"
    r = sqlite_api.client.put("/v1/events", json={}, headers={"Authorization": f"Bearer {sqlite_api.key}"})
    assert r.status_code == 405


def test_health(sqlite_app):
    r = sqlite_app.test_client().get("/health")
    assert r.get_json() == {"status": "ok", "broker": "inprocess"}
