"""Message rows in bulk: insert before any send, claim for sending, requeue, timeline rows.

Every write here is one statement per batch (INSERT … ON CONFLICT DO NOTHING, UPDATE …
WHERE id IN (…) RETURNING); on PostgreSQL a change and its timeline lines are one statement
too (the change as a CTE), and timeline rows written apart from a change go by COPY. The unique
idempotency key makes recording idempotent: a redelivered job inserts nothing and reads back
the rows it wrote, with their status, so it only sends what was not sent.
"""
from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from orchestrator.db import driver_rows
from orchestrator.models import Message, MessageEvent
from orchestrator.pipeline.halts import campaign_not_halted
from orchestrator.services.status import emit_after_commit, emit_all_after_commit

MESSAGES = Message.__table__
EVENTS = MessageEvent.__table__
CHUNK = 1000
COPY_ABOVE = 50  # below this, arrays beat the four statements of the COPY path
WAITING = ("queued", "deferred")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # `created_since` when any age will do

# What the send path needs of a row.
SEND_COLUMNS = ("id", "idempotency_key", "contact_id", "campaign_id", "channel", "address", "content",
                "category", "topic", "template_key", "template_version_id", "variant", "locale",
                "fallback_channels", "attempts", "created_at", "expires_at")


# Every row of one INSERT carries the same keys (one statement, many parameter sets).
ROW_DEFAULTS = {name: None for name in (
    "contact_id", "campaign_id", "variant", "template_key", "template_version_id", "topic", "address",
    "locale", "reason", "content", "data", "fallback_channels", "next_attempt_at", "expires_at",
    "error_code", "error_detail")}


class StoredMessage(NamedTuple):  # a tuple: thousands per batch, built cheaply
    id: int
    idempotency_key: str
    channel: str
    status: str
    category: str
    next_attempt_at: datetime | None
    created: bool = False  # written by this call (not a redelivery's or a duplicate's old row)


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return builder(MESSAGES).on_conflict_do_nothing(index_elements=["idempotency_key"])


def insert_messages(session: Session, rows: Sequence[Mapping[str, Any]], now: datetime) -> list[StoredMessage]:
    """Insert the rows that are new; return every row of these keys as stored (old and new).

    Rows already there (a redelivered job, a duplicate API call) are left exactly as they are.
    The caller commits. New rows get their first timeline line (queued, deferred, skipped…, or
    `sending` with the attempt for rows claimed for a send in the same job).
    """
    if not rows:
        return []
    full = [{**ROW_DEFAULTS, "created_at": now, "updated_at": now, "attempts": 0, **row} for row in rows]
    if session.get_bind().dialect.name == "postgresql":
        inserted = _insert_new(session, full, now, copy=len(full) > COPY_ABOVE)
    else:
        inserted = {}
        statement = _insert(session).returning(MESSAGES.c.id, MESSAGES.c.idempotency_key)
        for part in chunked(full, CHUNK):
            inserted.update((r.idempotency_key, r.id) for r in session.execute(statement, list(part)))
        add_events(session, [{"message_id": inserted[row["idempotency_key"]], "status": row["status"], "at": now,
                              "source": "chorus", "detail": first_detail(row)}
                             for row in full if row["idempotency_key"] in inserted], announce=False)
    # Old rows (a redelivery) are read back: their status now, not the one this job decided.
    old = read_by_keys(session, [row["idempotency_key"] for row in rows if row["idempotency_key"] not in inserted])
    old_by_key = {m.idempotency_key: m for m in old}
    stored = []
    announcements = []
    at = now.isoformat()
    for row in full:
        key = row["idempotency_key"]
        message_id = inserted.get(key)
        if message_id is None:
            stored.append(old_by_key[key])
            continue
        status = row["status"]
        stored.append(StoredMessage(message_id, key, row["channel"], status, row["category"],
                                    row["next_attempt_at"], True))
        announcements.append((f"message.{status}", {"message_id": message_id, "status": status, "at": at,
                                                     "source": "chorus", "detail": first_detail(row)}))
    emit_all_after_commit(session, announcements)
    return stored


class SendRow(NamedTuple):
    """A row as the send path reads it (SEND_COLUMNS), built from what was just inserted."""
    id: int
    idempotency_key: str
    contact_id: int | None
    campaign_id: int | None
    channel: str
    address: str | None
    content: dict | None
    category: str
    topic: str | None
    template_key: str | None
    template_version_id: int | None
    variant: str | None
    locale: str | None
    fallback_channels: list | None
    attempts: int
    created_at: datetime
    expires_at: datetime | None


def sendable(row: Mapping[str, Any], message_id: int, now: datetime) -> SendRow:
    """The send path's view of a row this job inserted, without reading it back."""
    return SendRow(message_id, row["idempotency_key"], row.get("contact_id"), row.get("campaign_id"),
                   row["channel"], row.get("address"), row.get("content"), row["category"], row.get("topic"),
                   row.get("template_key"), row.get("template_version_id"), row.get("variant"), row.get("locale"),
                   row.get("fallback_channels"), row.get("attempts", 0), now, row.get("expires_at"))


def first_detail(row: Mapping[str, Any]) -> dict:
    """The detail of a new row's first timeline line (computed the same way in SQL by `_insert_new`)."""
    if row["status"] == "sending":
        return {"attempt": row["attempts"]}
    return {"reason": row["reason"]} if row.get("reason") else {}


INSERT_COLUMNS = ("idempotency_key", "channel", "status", "category", "attempts", "created_at", "updated_at",
                  *ROW_DEFAULTS)
JSON_COLUMNS = frozenset({"content", "data", "fallback_channels"})


def _insert_new(session: Session, rows: Sequence[Mapping[str, Any]], now: datetime, *, copy: bool) -> dict[str, int]:
    """PostgreSQL: one statement inserts the new rows (ON CONFLICT DO NOTHING) and their first
    timeline lines, built in SQL rather than row by row in Python. Returns {idempotency key:
    id} of the rows inserted.

    The rows come from a temporary table filled by COPY (`copy`: a broadcast's batch; COPY
    skips the per-parameter work of a 20,000-placeholder INSERT), else from one array
    parameter per column (an API send: one statement whatever the number of rows, so psycopg
    prepares it once, where a plain INSERT and a second one for the timeline cost a round
    trip and about 170 Python calls more).

    Only the columns that differ between rows are sent per row: those the whole batch shares
    (campaign, template, category, times, the many NULLs) are one parameter of the INSERT,
    which halves the per-row formatting, the hot loop of a broadcast."""
    from psycopg.types.json import Jsonb

    first = rows[0]
    # map/count run in C: a generator over the rows per column was ~2 µs a message.
    shared = [c for c in INSERT_COLUMNS if c != "idempotency_key" and (c not in JSON_COLUMNS or first[c] is None)
              and list(map(itemgetter(c), rows)).count(first[c]) == len(rows)]
    copied = [c for c in INSERT_COLUMNS if c not in shared]
    types = _column_types()
    select_list = ", ".join(c if c in copied else f"CAST(%(v_{c})s AS {types[c]})" for c in INSERT_COLUMNS)
    params: dict[str, Any] = {"now": now, **{f"v_{c}": first[c] for c in shared}}
    raw = session.connection().connection.driver_connection
    columns = ", ".join(INSERT_COLUMNS)
    json_at = [i for i, c in enumerate(copied) if c in JSON_COLUMNS]
    with raw.cursor() as cursor:
        if copy:
            # Same column types, no constraints or defaults (no sequence values spent on it).
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS chorus_incoming_messages ON COMMIT DELETE ROWS "
                           f"AS SELECT {columns} FROM messages WITH NO DATA")
            cursor.execute("TRUNCATE chorus_incoming_messages")
            with cursor.copy(f"COPY chorus_incoming_messages ({', '.join(copied)}) FROM STDIN") as stream:
                for row in rows:
                    values = [row[c] for c in copied]
                    for i in json_at:
                        if values[i] is not None:
                            values[i] = Jsonb(values[i])
                    stream.write_row(values)
            source = "chorus_incoming_messages"
        else:
            for c in copied:
                params[f"a_{c}"] = [None if row[c] is None else Jsonb(row[c]) for row in rows] \
                    if c in JSON_COLUMNS else [row[c] for row in rows]
            source = (f"unnest({', '.join(f'CAST(%(a_{c})s AS {types[c]}[])' for c in copied)}) "
                      f"AS incoming({', '.join(copied)})")
        cursor.execute(
            f"WITH new AS (INSERT INTO messages ({columns}) SELECT {select_list} FROM {source} "
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key, status, reason, attempts), "
            "timeline AS (INSERT INTO message_events (message_id, status, at, source, detail) "
            "SELECT id, status, %(now)s, 'chorus', CASE WHEN status = 'sending' "
            "THEN jsonb_build_object('attempt', attempts) WHEN reason IS NOT NULL "
            "THEN jsonb_build_object('reason', reason) ELSE '{}'::jsonb END FROM new) "
            "SELECT idempotency_key, id FROM new", params)
        return dict(cursor.fetchall())


@functools.cache
def _column_types() -> dict[str, str]:
    """The inserted columns' PostgreSQL type names, for the casts of `_insert_new`, without
    their lengths: an explicit cast to VARCHAR(400) cuts a longer value short in silence (two
    long keys would then collide), where the INSERT's own assignment refuses it."""
    dialect = postgresql.dialect()
    return {c: re.sub(r"\(\d+\)", "", MESSAGES.c[c].type.compile(dialect)) for c in INSERT_COLUMNS}


def read_by_keys(session: Session, keys: Sequence[str]) -> list[StoredMessage]:
    """The stored rows for `keys`, in the order of `keys` (every key must exist)."""
    found: dict[str, StoredMessage] = {}
    c = MESSAGES.c
    for part in chunked(list(keys), 10 * CHUNK):
        rows = session.execute(select(c.id, c.idempotency_key, c.channel, c.status, c.category, c.next_attempt_at)
                               .where(among(session, c.idempotency_key, part)))
        found.update((r.idempotency_key, StoredMessage(*r)) for r in rows)
    return [found[key] for key in keys]


def among(session: Session, column, values: Sequence):
    """`column IN values`: one array parameter on PostgreSQL (no per-value placeholders)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import any_, bindparam as param
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(param(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def among_param(dialect: str, column, name: str):
    """`among` for a statement built once: the values come as the bind parameter `name`."""
    if dialect == "postgresql":
        from sqlalchemy import any_
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def add_events(session: Session, events: Sequence[Mapping[str, Any]], *, announce: bool = True) -> None:
    """Timeline rows in bulk (COPY on PostgreSQL), announced as `message.<status>` after commit."""
    if not events:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql" and len(events) > COPY_ABOVE:
        from psycopg.types.json import Jsonb

        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy("COPY message_events (message_id, status, at, source, detail) FROM STDIN") as copy:
                for e in events:
                    copy.write_row((e["message_id"], e["status"], e["at"], e["source"], Jsonb(e["detail"])))
    else:
        connection.execute(EVENTS.insert(), [dict(e) for e in events])
    if announce:
        for e in events:
            emit_after_commit(session, f"message.{e['status']}", {
                "message_id": e["message_id"], "status": e["status"], "at": e["at"].isoformat(),
                "source": e["source"], "detail": dict(e["detail"])})


def claim(session: Session, ids: Sequence[int], now: datetime, *, created_since: datetime | None = None) -> list[Any]:
    """queued/deferred → sending for the due rows among `ids` (recorded at `created_since` or
    later, when given), attempts + 1.

    The conditional UPDATE is the lock: of two workers handed the same id, one gets the row and
    the other nothing. A row the provider already took (provider_id set) is never claimed, nor
    one of a paused or cancelled campaign (it stays waiting).
    """
    dialect = session.get_bind().dialect.name
    since = created_since or EPOCH
    claimed = []
    for start in range(0, len(ids), CHUNK):
        claimed.extend(session.execute(_claim_statement(dialect), {"ids": list(ids[start:start + CHUNK]), "now": now,
                                                                   "since": since}).all())
    claimed.sort(key=lambda row: row.id)
    events = [{"message_id": r.id, "status": "sending", "at": now, "source": "chorus",
               "detail": {"attempt": r.attempts}} for r in claimed]
    if dialect == "postgresql":  # the statement wrote the timeline rows; announce them as add_events would
        at = now.isoformat()
        emit_all_after_commit(session, [("message.sending", {**e, "at": at}) for e in events])
    else:
        add_events(session, events)
    return claimed


@functools.cache
def _claim_statement(dialect: str):
    """The claim, built once (the hot path of every send_messages chunk, one-row API sends
    included: building the UPDATE anew each call cost more CPU than running it). Parameters:
    ids, now, since. On PostgreSQL the `sending` timeline rows are written by the same
    statement (the UPDATE as a CTE), where a COPY of one row would cost three round trips."""
    from sqlalchemy import func, insert, literal

    c = MESSAGES.c
    now = bindparam("now", type_=c.updated_at.type)
    claiming = (update(MESSAGES)
                .where(among_param(dialect, c.id, "ids"), due_filter(now), c.provider_id.is_(None),
                       c.created_at >= bindparam("since", type_=c.created_at.type), campaign_not_halted())
                .values(status="sending", attempts=c.attempts + 1, updated_at=now)
                .returning(*(c[name] for name in SEND_COLUMNS)))
    if dialect != "postgresql":
        return claiming
    claimed = claiming.cte("claimed")
    timeline = insert(EVENTS).from_select(
        ["message_id", "status", "at", "source", "detail"],
        select(claimed.c.id, literal("sending"), now, literal("chorus"),
               func.jsonb_build_object("attempt", claimed.c.attempts))).cte("timeline")
    return select(*(claimed.c[name] for name in SEND_COLUMNS)).add_cte(timeline)


def requeue(session: Session, items: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """sending → queued for transient failures: `items` are {id, next_attempt_at, error_code,
    error_detail, detail}. Only rows still `sending` move (compare-and-set)."""
    if not items:
        return
    c = MESSAGES.c
    statement = (update(MESSAGES)
                 .where(c.id == bindparam("_id"), c.status == "sending")
                 .values(status="queued", next_attempt_at=bindparam("_next"), error_code=bindparam("_code"),
                         error_detail=bindparam("_detail"), updated_at=now))
    session.connection().execute(statement, [
        {"_id": i["id"], "_next": i["next_attempt_at"], "_code": i.get("error_code"),
         "_detail": i.get("error_detail")} for i in items])
    add_events(session, [{"message_id": i["id"], "status": "queued", "at": now, "source": "chorus",
                          "detail": dict(i.get("detail") or {})} for i in items])


def unclaim(session: Session, ids: Sequence[int], now: datetime, reason: str) -> None:
    """sending → queued for claimed rows that were never handed to a provider (their attempt
    is given back). Only rows still `sending` move."""
    if not ids:
        return
    c = MESSAGES.c
    moved = session.execute(update(MESSAGES).where(among(session, c.id, list(ids)), c.status == "sending")
                            .values(status="queued", next_attempt_at=None, attempts=c.attempts - 1, updated_at=now)
                            .returning(c.id)).scalars().all()
    add_events(session, [{"message_id": i, "status": "queued", "at": now, "source": "chorus",
                          "detail": {"reason": reason}} for i in moved])


def due_filter(now):
    """Waiting and due at `now` (a datetime, or a bind parameter for a statement built once)."""
    c = MESSAGES.c
    return and_(c.status.in_(WAITING), or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))


def chunked(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# The move and its timeline lines in one statement: no second round trip, no per-row COPY. Run
# on the driver (orchestrator.db.driver_rows): every send job runs it. `IS TRUE` keeps the status
# test a filter on the primary-key lookups: as an index condition the planner scans every
# `sending` row of every batch in flight (and the dead entries of those sent since the last
# vacuum) to hash-join a thousand ids.
MARK_SENT_SQL = (
    "WITH moved AS (UPDATE messages AS m SET status = 'sent', provider_id = v.provider_id, "
    "sent_at = COALESCE(m.sent_at, %(now)s), updated_at = %(now)s "
    "FROM unnest(CAST(%(ids)s AS bigint[]), CAST(%(pids)s AS text[])) AS v(id, provider_id) "
    "WHERE m.id = v.id AND (m.status = 'sending') IS TRUE RETURNING m.id, v.provider_id), "
    "timeline AS (INSERT INTO message_events (message_id, status, at, source, detail) "
    "SELECT id, 'sent', %(now)s, 'provider', jsonb_build_object('provider_id', provider_id) FROM moved) "
    "SELECT id FROM moved")


def mark_sent(session: Session, accepted: Sequence[tuple[int, str]], now: datetime) -> list[int]:
    """sending → sent with the provider ids, in one statement on PostgreSQL; returns the moved ids.

    The hot path's equivalent of orchestrator.services.status.apply_statuses for the one move
    every message makes (same compare-and-set on `sending`, same timeline row and event).
    """
    if not accepted:
        return []
    providers = dict(accepted)
    if session.get_bind().dialect.name == "postgresql":
        moved = [i for (i,) in driver_rows(session, MARK_SENT_SQL, {
            "now": now, "ids": list(providers), "pids": list(providers.values())})]
        at = now.isoformat()
        emit_all_after_commit(session, [("message.sent", {"message_id": i, "status": "sent", "at": at,
                                                          "source": "provider", "detail": {"provider_id": providers[i]}})
                                        for i in moved])
        return moved
    c = MESSAGES.c
    statement = (update(MESSAGES).where(c.id == bindparam("_id"), c.status == "sending")
                 .values(status="sent", provider_id=bindparam("_pid"), sent_at=now, updated_at=now))
    session.connection().execute(statement, [{"_id": i, "_pid": p} for i, p in accepted])
    moved = [i for i, _ in accepted]
    add_events(session, [{"message_id": i, "status": "sent", "at": now, "source": "provider",
                          "detail": {"provider_id": providers[i]}} for i in moved])
    return moved
