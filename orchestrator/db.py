"""Engine and session, attached with `init_app` (Flask's extension pattern).

The engine lives on the app, not on this object, so one process can hold several apps (tests,
tools) and every session binds to the engine of the app whose context is active.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from flask import current_app
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session


class Database:
    def __init__(self) -> None:
        # One session per thread: web requests and in-process worker threads never share one.
        self.session = scoped_session(self._new_session)

    def _new_session(self) -> Session:
        return Session(bind=self.engine, expire_on_commit=False)

    def init_app(self, app) -> None:
        app.extensions["chorus_engine"] = make_engine(app.config["DATABASE_URL"])
        app.teardown_appcontext(lambda exc: self.session.remove())

    @property
    def engine(self) -> Engine:
        return current_app.extensions["chorus_engine"]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def driver_rows(session: Session, sql: str, params: Mapping[str, Any]) -> list[tuple]:
    """Run `sql` (psycopg's `%(name)s` placeholders) on the session's PostgreSQL connection, in
    its transaction, and return the rows as tuples.

    For the few fixed statements every API send and every send job runs: SQLAlchemy's execution
    (cache key, parameter processing, result set) came to about 200 Python calls a statement,
    three times the driver's own 67; this is about 100 with the flush and the connection.
    Callers pass values psycopg adapts as the column needs (aware datetimes, `Jsonb`), and use
    what comes back only where SQLAlchemy's types would have made no difference (a timestamp
    compared, never shown: it is not converted to UTC here)."""
    session.flush()  # as session.execute would: the statement sees the session's pending rows
    with session.connection().connection.driver_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            # WAL lets the in-process workers write while the web threads read.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    _ping_idle_connections(engine)
    return engine


# A pooled connection handed back less than this long ago is alive: only older ones are pinged
# before use. `pool_pre_ping` pinged on every checkout, and a transactional send checks out a
# connection once per transaction (a round trip each on the API's and the worker's hot path).
PING_IDLE_AFTER_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("returned_at", 0.0) < PING_IDLE_AFTER_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool drops this connection and checks out (or opens) another.
            raise DisconnectionError(f"stale pooled connection: {error}") from error


db = Database()
