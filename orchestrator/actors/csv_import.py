"""The worker side of CSV imports: chunks for up to a few seconds per message, then the next
message; an import whose retries are spent is marked failed so its progress page stops."""
from __future__ import annotations

import dramatiq

from orchestrator.db import db
from orchestrator.services.csv_import import fail_import, import_chunk

# Long enough to parse the file once for many chunks, short enough to share the bulk queue.
BUDGET_SECONDS = 5.0


@dramatiq.actor(queue_name="bulk", max_retries=5, min_backoff=1000)
def import_failed(message_data: dict, exception_data: dict) -> None:
    fail_import(db.session, message_data["args"][0], exception_data.get("message") or exception_data.get("type", ""))


@dramatiq.actor(queue_name="bulk", max_retries=5, min_backoff=1000, on_failure=import_failed.actor_name)
def import_contacts(import_id: int) -> None:
    # Idempotent: each chunk starts at the row cursor committed with the previous chunk's contacts.
    if import_chunk(db.session, import_id, budget_seconds=BUDGET_SECONDS):
        import_contacts.send(import_id)
