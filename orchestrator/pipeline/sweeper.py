"""The sweeper: the database, not the broker, decides what still has to be sent.

* `sending` for longer than CHORUS_SENDING_TIMEOUT_SECONDS: the worker died mid-send (SIGKILL,
  OOM, a lost host). Back to `queued` and enqueued again; a row the provider had already
  accepted is `sent` with its provider id, so only the chunk that was in flight can go twice.
* `deferred` and come due (quiet hours over, send_at reached, a far retry): enqueued.
* `queued` and due for longer than CHORUS_SWEEP_GRACE_SECONDS: its broker message was lost (a
  Redis restart, a job dropped). Enqueued again, and stamped so it waits another grace period
  before the next sweep touches it; a duplicate broker message costs one no-op claim.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from orchestrator.pipeline import record
from orchestrator.pipeline.dispatch import Due, enqueue_sends

LIMIT = 20_000


@dataclass
class SweepReport:
    stuck: int = 0
    due: int = 0
    enqueued: int = 0


def sweep(session: Session, *, now: datetime, sending_timeout: float, grace: float,
          enqueue: bool = True) -> SweepReport:
    c = record.MESSAGES.c
    report = SweepReport()
    stuck_ids = session.scalars(
        select(c.id).where(c.status == "sending", c.updated_at < now - timedelta(seconds=sending_timeout))
        .order_by(c.id).limit(LIMIT)).all()
    if stuck_ids:
        stuck = session.execute(
            update(record.MESSAGES).where(c.id.in_(stuck_ids), c.status == "sending")
            .values(status="queued", next_attempt_at=now, updated_at=now)
            .returning(c.id)).scalars().all()
        record.add_events(session, [{"message_id": i, "status": "queued", "at": now, "source": "sweeper",
                                     "detail": {"reason": "sending_timeout"}} for i in stuck])
        report.stuck = len(stuck)
    overdue = now - timedelta(seconds=grace)
    due_rows = session.execute(
        select(c.id, c.channel, c.category, c.idempotency_key).where(or_(
            and_(c.status == "deferred", c.next_attempt_at <= now),
            and_(c.status == "queued", or_(c.next_attempt_at <= overdue,
                                           and_(c.next_attempt_at.is_(None), c.updated_at <= overdue))),
            and_(c.status == "queued", c.next_attempt_at == now),  # just un-stuck above
        )).order_by(c.id).limit(LIMIT)).all()
    if due_rows:
        # Stamp them: the next sweep leaves them alone for a grace period.
        ids = [r.id for r in due_rows]
        for part in record.chunked(ids, record.CHUNK):
            session.execute(update(record.MESSAGES).where(c.id.in_(part), c.status.in_(record.WAITING))
                            .values(next_attempt_at=now))
    session.commit()
    report.due = len(due_rows)
    if enqueue and due_rows:
        report.enqueued = enqueue_sends([Due(r.id, r.channel, r.category, idempotency_key=r.idempotency_key)
                                         for r in due_rows], now)
    return report

