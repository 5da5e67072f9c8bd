"""Idempotency-Key semantics of the transactional API (the Stripe model).

* The first request with a key claims it and stores its response, in the one transaction that
  records its messages: a replay never finds messages without their answer, and a request that
  fails leaves no claim behind. Keys live 24 hours.
* A replay with the same body gets the stored response back, status and all.
* The same key with a different body is a 422: the client reused a key by mistake.
* The same key while the first request is still running is a 409: retry later. On PostgreSQL the
  running request holds a transaction-scoped advisory lock on the key, which a duplicate tries
  without waiting; a committed claim without an answer (written by an older Chorus) is taken
  over after ABANDONED_AFTER.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from orchestrator.db import driver_rows
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.models import IdempotencyKey

KEEP = timedelta(hours=24)
ABANDONED_AFTER = timedelta(seconds=60)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput.field("Idempotency-Key", f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable characters.")
    return key


def lock_id(api_key_id: int, key: str) -> int:
    """The key's advisory lock: 64 bits of its hash (a collision costs a spurious 409, no more)."""
    return int.from_bytes(hashlib.sha256(f"{api_key_id}:{key}".encode()).digest()[:8], "big", signed=True)


def begin(session: Session, api_key_id: int, key: str, digest: str, now: datetime) -> int | Replay:
    """Claim `key` in the session's transaction (one INSERT … ON CONFLICT; the caller commits
    it with its work, or rolls it back); returns the claim's id, or the stored answer."""
    table = IdempotencyKey.__table__
    for _ in range(2):
        values = {"api_key_id": api_key_id, "key": key, "request_hash": digest, "created_at": now,
                  "expires_at": now + KEEP, "lock": lock_id(api_key_id, key)}
        if session.get_bind().dialect.name == "postgresql":
            rows = driver_rows(session, CLAIM_SQL, values)
            claimed = rows[0][0] if rows else None
        else:
            claimed = session.execute(_claim_sqlite(), values).scalar()
        if claimed is not None:
            return claimed
        existing = session.execute(select(table.c.id, table.c.request_hash, table.c.response_status,
                                          table.c.response_body, table.c.created_at, table.c.expires_at)
                                   .where(table.c.api_key_id == api_key_id, table.c.key == key)).first()
        if existing is None:
            raise Conflict("A request with this Idempotency-Key is still being processed; retry later.")
        stale = existing.response_status is None and existing.created_at < now - ABANDONED_AFTER
        if existing.expires_at <= now or stale:
            session.execute(delete(table).where(table.c.id == existing.id))
            continue
        if existing.request_hash != digest:
            raise InvalidInput.field("Idempotency-Key", "This key was used with a different request body.")
        if existing.response_status is None:
            raise Conflict("A request with this Idempotency-Key is still being processed; retry later.")
        return Replay(existing.response_status, existing.response_body)
    raise Conflict("The Idempotency-Key is contended; retry later.")


CLAIMED_COLUMNS = ("api_key_id", "key", "request_hash", "created_at", "expires_at")
# On PostgreSQL every API send with a key runs it on the driver (orchestrator.db.driver_rows).
# It locks and inserts in one statement: a duplicate that finds the lock taken inserts nothing
# instead of waiting for the first request's transaction to end.
CLAIM_SQL = ("INSERT INTO idempotency_keys (api_key_id, key, request_hash, created_at, expires_at) "
             "SELECT CAST(%(api_key_id)s AS bigint), CAST(%(key)s AS text), CAST(%(request_hash)s AS text), "
             "CAST(%(created_at)s AS timestamptz), CAST(%(expires_at)s AS timestamptz) "
             "WHERE pg_try_advisory_xact_lock(CAST(%(lock)s AS bigint)) "
             "ON CONFLICT (api_key_id, key) DO NOTHING RETURNING id")
ANSWER_SQL = ("UPDATE idempotency_keys SET response_status = %(response_status)s, response_body = %(response_body)s "
              "WHERE id = %(claim)s")


@functools.cache
def _claim_sqlite():
    """SQLite's claiming INSERT, built once; parameters are the CLAIMED_COLUMNS. SQLite runs one
    writer at a time, so a duplicate waits for the first to commit (`lock` goes unused)."""
    table = IdempotencyKey.__table__
    statement = sqlite.insert(table).values({name: bindparam(name) for name in CLAIMED_COLUMNS})
    return statement.on_conflict_do_nothing(index_elements=["api_key_id", "key"]).returning(table.c.id)


def finish(session: Session, claim_id: int, status: int, body: Any) -> None:
    """Store the answer with the claim; the caller's commit makes both visible at once."""
    if session.get_bind().dialect.name == "postgresql":
        from psycopg.types.json import Jsonb

        driver_rows(session, ANSWER_SQL, {"claim": claim_id, "response_status": status,
                                          "response_body": None if body is None else Jsonb(body)})
    else:
        session.execute(_answer(), {"claim": claim_id, "response_status": status, "response_body": body})


@functools.cache
def _answer():
    table = IdempotencyKey.__table__
    return update(table).where(table.c.id == bindparam("claim")).values(
        response_status=bindparam("response_status"), response_body=bindparam("response_body"))


def purge_expired(session: Session, now: datetime) -> int:
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    session.commit()
    return result.rowcount or 0
