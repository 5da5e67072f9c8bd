"""API keys: found by prefix, checked by SHA-256, refused when revoked or of the wrong kind."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from orchestrator.db import db
from orchestrator.models import ApiKey, utcnow
from orchestrator.services.api_keys import Caller, authenticate, create_api_key, revoke_api_key


def last_used(key_id):
    db.session.rollback()
    return db.session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))


def test_a_secret_key_authenticates_as_its_caller_until_revoked(app):
    issued = create_api_key(db.session, "billing")
    publishable = create_api_key(db.session, "app", kind="publishable")
    db.session.commit()

    caller = authenticate(db.session, issued.secret)
    assert caller == Caller(issued.key.id, "billing", "secret", issued.key.prefix)
    assert last_used(issued.key.id) is not None
    assert authenticate(db.session, issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")) is None
    assert authenticate(db.session, publishable.secret) is None  # a publishable key is not a secret key
    assert authenticate(db.session, publishable.secret, kind="publishable").kind == "publishable"
    assert authenticate(db.session, "chs_000000000000_nothing") is None

    revoke_api_key(db.session, issued.key.id)
    db.session.commit()
    assert authenticate(db.session, issued.secret) is None


def test_last_used_is_written_at_most_once_a_minute(app):
    issued = create_api_key(db.session, "billing")
    db.session.commit()
    authenticate(db.session, issued.secret)
    first = last_used(issued.key.id)
    authenticate(db.session, issued.secret)
    assert last_used(issued.key.id) == first
    long_ago = utcnow() - timedelta(minutes=2)
    db.session.execute(update(ApiKey).where(ApiKey.id == issued.key.id).values(last_used_at=long_ago))
    db.session.commit()
    authenticate(db.session, issued.secret)
    assert last_used(issued.key.id) > first
