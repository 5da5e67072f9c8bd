"""Actors that check the machinery itself."""
from __future__ import annotations

import dramatiq
from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry


@dramatiq.actor(queue_name="default", max_retries=0)
def record_heartbeat(token: str) -> None:
    """Writes an audit row through the worker's DB session: proves a worker, the broker and the
    database are wired together (used by `chorus doctor` and the broker tests)."""
    exists = db.session.scalar(
        select(AuditEntry.id).where(AuditEntry.action == "worker.heartbeat", AuditEntry.target_id == token))
    if exists is None:
        db.session.add(AuditEntry(action="worker.heartbeat", target_type="worker", target_id=token, details={}))
        db.session.commit()
