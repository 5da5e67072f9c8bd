"""The number-level SMS opt-out list: written by STOP and carrier opt-out errors, cleared by
START, read (one query per batch) wherever a phone number is about to get an SMS."""
from __future__ import annotations

import functools
from datetime import datetime
from typing import Iterable

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from orchestrator.db import driver_rows
from orchestrator.models import SmsOptOut, utcnow

CHUNK = 2000


def _numbers(phones: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in phones if p and p.strip()))


def opt_out(session: Session, phones: Iterable[str | None], *, source: str, at: datetime | None = None) -> None:
    """Add numbers to the list in one statement per chunk; a number already there keeps the
    time and source of its first opt-out."""
    numbers = _numbers(phones)
    if not numbers:
        return
    at = at or utcnow()
    builder = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = builder(SmsOptOut.__table__).on_conflict_do_nothing(index_elements=["phone"])
    for start in range(0, len(numbers), CHUNK):
        session.execute(statement, [{"phone": p, "opted_out_at": at, "source": source[:32]}
                                    for p in numbers[start:start + CHUNK]])


def opt_in(session: Session, phones: Iterable[str | None]) -> None:
    numbers = _numbers(phones)
    for start in range(0, len(numbers), CHUNK):
        session.execute(delete(SmsOptOut).where(SmsOptOut.phone.in_(numbers[start:start + CHUNK])))


def opted_out(session: Session, phones: Iterable[str | None]) -> set[str]:
    """Which of these numbers are on the list."""
    numbers = _numbers(phones)
    found: set[str] = set()
    on_driver = session.get_bind().dialect.name == "postgresql"  # every API send runs this
    for start in range(0, len(numbers), CHUNK):
        chunk = numbers[start:start + CHUNK]
        if on_driver:
            found.update(phone for (phone,) in driver_rows(session, LISTED_SQL, {"phones": chunk}))
        else:
            found.update(session.execute(_listed(), {"phones": chunk}).scalars())
    return found


LISTED_SQL = "SELECT phone FROM sms_opt_outs WHERE phone = ANY(%(phones)s)"


@functools.cache
def _listed():
    """Built once: every API send to an inline number runs it."""
    table = SmsOptOut.__table__
    return select(table.c.phone).where(table.c.phone.in_(bindparam("phones", expanding=True)))
