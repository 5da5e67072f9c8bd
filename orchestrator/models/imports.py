"""CSV imports of contacts: the uploaded file, how far the worker got, and each bad row."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models.base import BigId, Json, Model, UtcDateTime, utcnow


class ContactImport(Model):
    __tablename__ = "contact_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    # The file itself, so a worker (maybe on another machine) can read it and resume after a crash.
    source: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")  # running, done
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Rows before this one are finished: the cursor a retried chunk resumes from.
    processed_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # [{"row": 3, "field": "email", "message": "..."}], capped so a broken file cannot bloat a row.
    errors: Mapped[list] = mapped_column(Json, nullable=False, default=list)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
