"""Applying a status change to message rows: monotonic, with a timeline row and timestamps.

The pipeline (sent, failed), provider webhooks (delivered, undelivered) and tracking links
(opened, clicked) all go through here, so every path obeys `channels.status.advance`:
duplicates and late, out-of-order reports never move a message backwards.

Races: the rows are read `FOR UPDATE` (PostgreSQL) and written with a compare-and-set on the
status that was read, so two callbacks for one message arriving at once cannot regress it
(SQLite serialises writers, and a stale snapshot fails instead of overwriting).

Every change that advances a message is also announced, after the transaction commits, to
the listeners connected with :func:`connect` (the outbound webhooks subscribe here) as
``message.<status>``; :func:`emit_after_commit` is the same hook for other events
(``contact.sms_opted_out``, ``contact.unsubscribed``...).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.orm import Session

from channels import status as machine
from orchestrator.models import Message, MessageEvent

log = logging.getLogger(__name__)

# The engagement chain: reaching a stage implies the earlier ones happened (a click means the
# email was opened, an open that it was delivered), so counts by timestamp agree with status.
CHAIN: tuple[tuple[str, str], ...] = (
    (machine.SENT, "sent_at"),
    (machine.DELIVERED, "delivered_at"),
    (machine.OPENED, "opened_at"),
    (machine.CLICKED, "clicked_at"),
)
TIMESTAMP_COLUMNS = tuple(column for _, column in CHAIN)
# Columns a change may set alongside the status (only when the status advances).
EXTRA_COLUMNS = frozenset({"provider_id", "error_code", "error_detail", "reason", "attempts",
                           "next_attempt_at", "address"})


@dataclass(frozen=True)
class StatusChange:
    """One requested move. ``values`` are extra columns written only if the status advances.
    ``record_repeat`` writes a timeline row even when it does not (a second click, with its URL)."""

    message_id: int
    status: str
    at: datetime
    source: str = "chorus"
    detail: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    record_repeat: bool = False


def timestamps_for(status: str, at: datetime) -> dict[str, datetime]:
    """Timestamp columns to fill (only where still empty) when a message reaches ``status``."""
    stages = [name for name, _ in CHAIN]
    if status not in stages:
        return {}
    return {column: at for _, column in CHAIN[: stages.index(status) + 1]}


def apply_status(session: Session, message: Message, new_status: str, *, at: datetime,
                 source: str = "chorus", detail: Mapping[str, Any] | None = None,
                 values: Mapping[str, Any] | None = None, record_repeat: bool = False) -> bool:
    """Move one message to ``new_status`` if the machine allows it; True when it moved.

    The caller commits. The ORM object's changed attributes are reloaded on next access.
    """
    change = StatusChange(message.id, new_status, at, source, dict(detail or {}), dict(values or {}),
                          record_repeat)
    [moved] = apply_statuses(session, [change])
    if moved:
        session.expire(message, ["status", "updated_at", *TIMESTAMP_COLUMNS, *change.values])
    return moved


def apply_statuses(session: Session, changes: Sequence[StatusChange]) -> list[bool]:
    """Bulk :func:`apply_status`: one locking read, one executemany per column set, one insert
    of timeline rows. Changes to one message apply in the order given. Returns, per change,
    whether it moved its message. Unknown message ids are skipped (False)."""
    if not changes:
        return []
    for change in changes:
        machine.rank(change.status)  # raises UnknownStatus on a typo, before any write
        unknown = set(change.values) - EXTRA_COLUMNS
        if unknown:
            raise ValueError(f"apply_statuses cannot set {sorted(unknown)}")
    session.flush()
    ids = sorted({c.message_id for c in changes})
    current: dict[int, str] = {}
    for start in range(0, len(ids), 1000):
        part = ids[start:start + 1000]
        rows = session.execute(
            select(Message.id, Message.status).where(Message.id.in_(part)).with_for_update()
        )
        current.update({row.id: row.status for row in rows})
    read = dict(current)

    moved: list[bool] = []
    final: dict[int, dict[str, Any]] = {}
    timeline: list[dict[str, Any]] = []
    announcements: list[tuple[str, dict[str, Any]]] = []
    for change in changes:
        status = current.get(change.message_id)
        advanced = status is not None and machine.advance(status, change.status)
        moved.append(advanced)
        if advanced:
            current[change.message_id] = change.status
            row = final.setdefault(change.message_id, {column: None for column in TIMESTAMP_COLUMNS})
            row["status"] = change.status
            row["updated_at"] = change.at
            for column, value in timestamps_for(change.status, change.at).items():
                if row[column] is None:
                    row[column] = value
            row.update(change.values)
            announcements.append((f"message.{change.status}", {
                "message_id": change.message_id, "status": change.status, "previous": status,
                "at": change.at.isoformat(), "source": change.source, "detail": dict(change.detail),
            }))
        if advanced or (change.record_repeat and status is not None):
            timeline.append({"message_id": change.message_id, "status": change.status, "at": change.at,
                             "source": change.source,
                             "detail": dict(change.detail) if advanced else {**change.detail, "repeat": True}})

    table = Message.__table__
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for message_id, row in final.items():
        by_columns.setdefault(tuple(sorted(row)), []).append(
            {**row, "_id": message_id, "_expected": read[message_id]})
    for columns, params in by_columns.items():
        assignments = {}
        for column in columns:
            if column in TIMESTAMP_COLUMNS:
                # Keep the first time a stage was reached: replays and implied stages never move it.
                assignments[column] = func.coalesce(table.c[column], bindparam(column, type_=table.c[column].type))
            else:
                assignments[column] = bindparam(column, type_=table.c[column].type)
        stmt = (update(table)
                .where(table.c.id == bindparam("_id"), table.c.status == bindparam("_expected"))
                .values(assignments))
        session.connection().execute(stmt, params)
    if timeline:
        session.connection().execute(insert(MessageEvent.__table__), timeline)
    for event_type, payload in announcements:
        emit_after_commit(session, event_type, payload)
    return moved


def record_event(session: Session, message_id: int, status: str, *, at: datetime, source: str,
                 detail: Mapping[str, Any] | None = None) -> None:
    """A timeline row that does not change the status (a repeated click, a provider note)."""
    session.add(MessageEvent(message_id=message_id, status=status, at=at, source=source, detail=dict(detail or {})))


# --- the after-commit event hook -------------------------------------------------------------

Listener = Callable[[str, dict], None]
_listeners: list[Listener] = []
PENDING = "chorus_pending_events"


def connect(listener: Listener) -> Listener:
    """Call ``listener(event_type, payload)`` for every event, after its transaction commits."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def disconnect(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def emit(event_type: str, payload: dict) -> None:
    for listener in list(_listeners):
        try:
            listener(event_type, payload)
        except Exception:  # one broken listener must not lose the others' events
            log.exception("event listener failed for %s", event_type)


def emit_after_commit(session: Session, event_type: str, payload: dict) -> None:
    session.info.setdefault(PENDING, []).append((event_type, payload))


def emit_all_after_commit(session: Session, events: Iterable[tuple[str, dict]]) -> None:
    """:func:`emit_after_commit` for a batch of (event_type, payload): the bulk paths' form."""
    session.info.setdefault(PENDING, []).extend(events)


@event.listens_for(Session, "after_commit")
def _fire_pending(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    for event_type, payload in pending or ():
        emit(event_type, payload)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(PENDING, None)


def pending_events(session: Session) -> Iterable[tuple[str, dict]]:
    return list(session.info.get(PENDING, ()))
