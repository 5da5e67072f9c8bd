"""API keys: high-entropy secrets shown once, stored as SHA-256, found by a public prefix.

A slow password hash buys nothing for a 256-bit random key and would cost every request
tens of milliseconds, so keys use SHA-256 (as GitHub and Stripe tokens do); passwords use argon2.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections import namedtuple
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from orchestrator.db import driver_rows
from orchestrator.errors import NotFound
from orchestrator.models import ApiKey, utcnow

PREFIXES = {"secret": "chs", "publishable": "chp"}
# Writing last_used_at on every request would make every read a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, name: str, kind: str = "secret") -> IssuedKey:
    prefix = f"{PREFIXES[kind]}_{secrets.token_hex(6)}"
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(name=name, kind=kind, prefix=prefix, key_hash=_digest(secret))
    session.add(key)
    session.flush()
    return IssuedKey(key, secret)


@dataclass(frozen=True)
class Caller:
    """Who a request's key is: what the API needs of it, read without the ORM's bookkeeping."""
    id: int
    name: str
    kind: str
    prefix: str


def authenticate(session: Session, secret: str, kind: str = "secret") -> Caller | None:
    # `chs_<12 hex>_<secret>`: the secret part may itself contain underscores.
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIXES[kind]:
        return None
    prefix = f"{parts[0]}_{parts[1]}"
    if session.get_bind().dialect.name == "postgresql":
        found = driver_rows(session, BY_PREFIX_SQL, {"prefix": prefix})
        key = _KeyRow(*found[0]) if found else None
    else:
        key = session.execute(_by_prefix(), {"prefix": prefix}).first()
    if key is None or key.revoked_at is not None or key.kind != kind:
        return None
    if not hmac.compare_digest(key.key_hash, _digest(secret)):
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        session.commit()
    return Caller(key.id, key.name, key.kind, key.prefix)


_KEY_COLUMNS = ("id", "name", "kind", "prefix", "key_hash", "revoked_at", "last_used_at")
_KeyRow = namedtuple("_KeyRow", _KEY_COLUMNS)
# Every API request runs it: on the driver (orchestrator.db.driver_rows) on PostgreSQL.
BY_PREFIX_SQL = f"SELECT {', '.join(_KEY_COLUMNS)} FROM api_keys WHERE prefix = %(prefix)s"


@functools.cache
def _by_prefix():
    """Built once: every API request runs it."""
    c = ApiKey.__table__.c  # table columns: a Core statement skips the ORM's compile step
    return select(*(c[name] for name in _KEY_COLUMNS)).where(
        c.prefix == bindparam("prefix"))


def revoke_api_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"No API key {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
