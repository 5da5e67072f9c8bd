"""The worker side of CSV imports: one chunk per message, then the next chunk is enqueued."""
from __future__ import annotations

import dramatiq

from orchestrator.db import db
from orchestrator.services.csv_import import import_chunk


@dramatiq.actor(queue_name="bulk", max_retries=5, min_backoff=1000)
def import_contacts(import_id: int) -> None:
    # Idempotent: the chunk starts at the row cursor committed with the previous chunk's contacts.
    if import_chunk(db.session, import_id):
        import_contacts.send(import_id)
