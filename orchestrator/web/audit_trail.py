"""Audit entries for what people do in the UI: who launched, paused or changed what."""
from __future__ import annotations

from orchestrator.api.auth import actor
from orchestrator.db import db
from orchestrator.models import AuditEntry


def record(action: str, target_type: str, target_id, **details) -> AuditEntry:
    """Add an entry to the current transaction; it is kept only if the change is committed."""
    entry = AuditEntry(action=action, target_type=target_type, target_id=str(target_id),
                       details=details, **actor())
    db.session.add(entry)
    return entry
