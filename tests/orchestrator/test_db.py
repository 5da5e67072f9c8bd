"""The engine: pooled PostgreSQL connections are pinged only after sitting idle."""
from __future__ import annotations

import pytest
from sqlalchemy import event, text

from orchestrator import db as database


@pytest.mark.postgres
def test_a_busy_connection_is_not_pinged_and_a_dead_idle_one_is_replaced(postgres_url, monkeypatch):
    engine = database.make_engine(postgres_url)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as connection:  # handed back a moment ago: used as is
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        assert len(statements) == 2

        other = database.make_engine(postgres_url)  # not from the pool under test
        with other.connect() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.dispose()
        monkeypatch.setattr(database, "PING_IDLE_AFTER_SECONDS", 0.0)  # every connection counts as idle now
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1  # the ping found it dead: a new one
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_driver_rows_run_in_the_sessions_transaction_and_see_its_pending_rows(pg_app):
    from orchestrator.db import db
    from orchestrator.models import SmsOptOut, utcnow

    phone = "+14155550177"
    db.session.add(SmsOptOut(phone=phone, source="test", opted_out_at=utcnow()))  # pending, not flushed
    sql = "SELECT phone, opted_out_at FROM sms_opt_outs WHERE phone = %(phone)s"
    rows = database.driver_rows(db.session, sql, {"phone": phone})
    assert [r[0] for r in rows] == [phone], "flushed first, as session.execute would"
    assert rows[0][1].tzinfo is not None
    assert database.driver_rows(db.session, "UPDATE sms_opt_outs SET source = 'x' WHERE phone = %(phone)s",
                                {"phone": phone}) == [], "no result set: no rows"
    db.session.rollback()
    assert database.driver_rows(db.session, sql, {"phone": phone}) == [], "the rollback undid both"
