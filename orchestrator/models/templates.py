"""Message templates and their immutable versions.

A template is a named, keyed slot; its content lives in versions. Every save that changes the
content adds a version (numbered 1, 2, 3… per template) that is never edited afterwards, so a
campaign pinned to a version sends exactly what was reviewed.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models.base import BigId, Json, Model, UtcDateTime, utcnow


class Template(Model):
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    # Mirrors the latest version's content, so lists can filter without reading versions.
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="marketing")
    topic: Mapped[str | None] = mapped_column(String(64))
    # use_alter: templates and template_versions point at each other.
    published_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("template_versions.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TemplateVersion(Model):
    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    # templates.schemas.TemplateContentSchema's dump of the whole content.
    content: Mapped[dict] = mapped_column(Json, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # {"errors": [...], "warnings": [...]}: what validation found when the version was saved.
    report: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    created_by_api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def cache_key(self) -> tuple[int, str]:
        """Identifies the compiled templates of this version; the hash guards against an id
        reused after a database reset (SQLite hands out ids again once rows are deleted)."""
        return (self.id, self.content_hash)
