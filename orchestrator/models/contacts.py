"""People Chorus messages, their push devices, and what they agreed to receive."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.models.base import BigId, Json, Model, UtcDateTime, utcnow

CHANNEL_KEYS = ("sms", "push", "email", "inapp")


class Contact(Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)
    unsubscribed_all: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sms_opted_out: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    devices: Mapped[list["Device"]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", passive_deletes=True
    )
    preferences: Mapped[list["Preference"]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", passive_deletes=True
    )


class Device(Model):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token: Mapped[str] = mapped_column(String(4096), unique=True, nullable=False)
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="devices")


class Topic(Model):
    """A subscription topic (e.g. `promotions`) people opt into or out of."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    default_opt_in: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)


class Preference(Model):
    """An explicit choice; no row means the default (channels in, topics per topic)."""

    __tablename__ = "preferences"
    __table_args__ = (UniqueConstraint("contact_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # 'channel' | 'topic'
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    opted_in: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    contact: Mapped[Contact] = relationship(back_populates="preferences")


class Event(Model):
    """Something a contact did ("digital footprint"): segmentation, triggers, conversions."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_contact_name_time", "contact_id", "name", "occurred_at"),
        Index("ix_events_name_time", "name", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    properties: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    dedup_id: Mapped[str | None] = mapped_column(String(255), unique=True)
