"""Messages (one per recipient per channel), their timelines, the sandbox outbox, the inbox."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models.base import BigId, Json, Model, UtcDateTime, utcnow


class Message(Model):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_campaign_variant_channel", "campaign_id", "variant", "channel", "status"),
        # Campaign stats: distinct contacts per variant by an index-only scan.
        Index("ix_messages_campaign_variant_contact", "campaign_id", "variant", "contact_id"),
        Index("ix_messages_contact_created", "contact_id", "created_at"),
        # The sweeper's work list: only messages still on their way. Sent and later rows (nearly
        # all of them) stay out, so a send's final UPDATE adds no entry here.
        Index("ix_messages_status_next_attempt", "status", "next_attempt_at",
              postgresql_where=text("status IN ('queued', 'sending', 'deferred')"),
              sqlite_where=text("status IN ('queued', 'sending', 'deferred')")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # `campaign:step:contact:channel`, or the caller's Idempotency-Key plus the channel.
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True, nullable=False)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    variant: Mapped[str | None] = mapped_column(String(64))
    template_key: Mapped[str | None] = mapped_column(String(128))
    template_version_id: Mapped[int | None] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="transactional")
    topic: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    address: Mapped[str | None] = mapped_column(String(4096))
    locale: Mapped[str | None] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    reason: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[dict | None] = mapped_column(Json)
    data: Mapped[dict | None] = mapped_column(Json)
    provider_id: Mapped[str | None] = mapped_column(String(255), index=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(1000))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fallback_channels: Mapped[list | None] = mapped_column(Json)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Past this, a transient failure is final (`expired`, a dead letter): created (or send_at)
    # plus CHORUS_MESSAGE_MAX_AGE; a manual retry from the API moves it.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MessageEvent(Model):
    """One line of a message's timeline: every status change, with what caused it."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign key: every line is written in the transaction that changes its message, for an
    # id that change has just returned (pipeline/record.py, services/status.py), so the check
    # could only re-read a row just written, and each check was a trigger query: together
    # about 5 µs of database CPU per broadcast message, of the ~80 µs PostgreSQL spends on it.
    # Messages are never deleted; code that ever does must delete their lines too.
    message_id: Mapped[int] = mapped_column(BigId, nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    source: Mapped[str] = mapped_column(String(32), nullable=False, default="chorus")
    detail: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)


class OutboxEntry(Model):
    """What a sandbox channel would have sent: lets a new install see every channel work."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(4096), nullable=False)
    message_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    provider_id: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)


class InboxItem(Model):
    """An in-app inbox card for one contact."""

    __tablename__ = "inbox_items"
    __table_args__ = (Index("ix_inbox_items_contact_id_id", "contact_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False
    )
    message_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    title: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    body: Mapped[str] = mapped_column(String(10000), nullable=False, default="")
    image_url: Mapped[str | None] = mapped_column(String(2048))
    primary_action: Mapped[dict | None] = mapped_column(Json)
    secondary_action: Mapped[dict | None] = mapped_column(Json)
    data: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
