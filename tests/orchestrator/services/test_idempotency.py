"""Idempotency-Key claims live in the caller's transaction: a duplicate never waits for it."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.db import db
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.models import IdempotencyKey, utcnow
from orchestrator.services import idempotency


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(IdempotencyKey))


def test_a_claim_commits_with_its_answer_or_not_at_all(app):
    now = utcnow()
    claim = idempotency.begin(db.session, 1, "k", "hash-a", now)
    db.session.rollback()  # the request failed: nothing keeps the key
    assert _count(db.session) == 0

    claim = idempotency.begin(db.session, 1, "k", "hash-a", now)
    idempotency.finish(db.session, claim, 202, {"messages": [{"id": 7}]})
    db.session.commit()
    replay = idempotency.begin(db.session, 1, "k", "hash-a", now)
    assert replay == idempotency.Replay(202, {"messages": [{"id": 7}]})
    with pytest.raises(InvalidInput):
        idempotency.begin(db.session, 1, "k", "hash-b", now)
    assert isinstance(idempotency.begin(db.session, 2, "k", "hash-a", now), int)  # keys are per API key


@pytest.mark.postgres
def test_a_concurrent_duplicate_gets_a_409_at_once_then_the_replay(pg_app):
    now = utcnow()
    first = Session(bind=db.engine)
    try:
        claim = idempotency.begin(first, 1, "otp", "hash", now)  # still running: not committed
        started = time.monotonic()
        with pytest.raises(Conflict):
            idempotency.begin(db.session, 1, "otp", "hash", now)
        assert time.monotonic() - started < 1  # tried the lock, did not wait for the transaction
        db.session.rollback()
        idempotency.finish(first, claim, 202, {"ok": True})
        first.commit()
    finally:
        first.close()
    assert idempotency.begin(db.session, 1, "otp", "hash", now) == idempotency.Replay(202, {"ok": True})
