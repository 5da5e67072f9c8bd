"""Marketer accounts with argon2 password hashes and roles."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.errors import Conflict, InvalidInput
from orchestrator.models import ROLES, User, utcnow

_hasher = PasswordHasher()
# Verifying against a dummy hash when the user is unknown keeps login time the same either way.
_DUMMY_HASH = _hasher.hash("chorus-dummy-password")


def create_user(session: Session, email: str, password: str, role: str) -> User:
    if role not in ROLES:
        raise InvalidInput.field("role", f"One of {', '.join(ROLES)}.")
    if len(password) < 10:
        raise InvalidInput.field("password", "At least 10 characters.")
    email = email.strip().lower()
    if session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"A user {email} exists already.")
    user = User(email=email, password_hash=_hasher.hash(password), role=role)
    session.add(user)
    session.flush()
    return user


def verify_login(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0
