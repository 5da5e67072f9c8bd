"""Segments, campaigns and their variants, the runs that plan them, and triggered entries.

A campaign's audience is walked by a run: one `campaign_runs` row per send (one for a
broadcast, one per occurrence of a recurring campaign) holding the keyset cursor, and one
`campaign_batches` row per page of contacts it cut, so a crashed plan resumes from its cursor
and a batch that was never delivered is found and sent again. Triggered campaigns keep one
`trigger_entries` row per contact entry, with the time it is due: delayed work lives here,
not in the broker, so a restart loses nothing.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models.base import BigId, Json, Model, UtcDateTime, utcnow


class Segment(Model):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    # The rule JSON as written (campaigns.segments.rules), validated on save.
    rules: Mapped[dict] = mapped_column(Json, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class Campaign(Model):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status_next_run", "status", "next_run_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    # campaigns.lifecycle.Status; `paused_from` is where a resume returns to.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    paused_from: Mapped[str | None] = mapped_column(String(16))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="RESTRICT"))
    template_key: Mapped[str | None] = mapped_column(String(128))
    channels: Mapped[list] = mapped_column(Json, nullable=False)
    strategy: Mapped[str] = mapped_column(String(16), nullable=False, default="all")
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="marketing")
    topic: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)
    # campaigns.schedules.schedule_to_dict form; None for a triggered campaign.
    schedule: Mapped[dict | None] = mapped_column(Json)
    # campaigns.triggers.TriggerRule.to_dict form; set for a triggered campaign.
    trigger: Mapped[dict | None] = mapped_column(Json)
    throttle_per_minute: Mapped[int | None] = mapped_column(Integer)
    respect_caps: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    respect_quiet_hours: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    frequency_caps: Mapped[list] = mapped_column(Json, nullable=False, default=list)
    quiet_hours: Mapped[dict | None] = mapped_column(Json)
    holdout_percent: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    # campaigns.conversions.Goal.to_dict form.
    goal: Mapped[dict | None] = mapped_column(Json)
    # When the scheduler starts the next run (a time, a local-time day, a recurring occurrence).
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def triggered(self) -> bool:
        return self.trigger is not None


class CampaignVariant(Model):
    """An A/B arm: its weight and, optionally, its own template."""

    __tablename__ = "campaign_variants"
    __table_args__ = (UniqueConstraint("campaign_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    template_key: Mapped[str | None] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class CampaignRun(Model):
    """One walk over the audience. `step` goes into the messages' idempotency keys, so a
    recurring campaign's runs send again while a re-run of the same plan does not."""

    __tablename__ = "campaign_runs"
    __table_args__ = (UniqueConstraint("campaign_id", "step"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False)
    step: Mapped[str] = mapped_column(String(64), nullable=False)
    # planning → planned → completed, or cancelled.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="planning")
    cursor: Mapped[int | None] = mapped_column(BigId)  # the last contact id planned
    batches: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    contacts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    planned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CampaignBatch(Model):
    """A page of the audience handed to delivery; `done` once its messages are recorded."""

    __tablename__ = "campaign_batches"
    __table_args__ = (
        UniqueConstraint("run_id", "position"),
        Index("ix_campaign_batches_run_status", "run_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    contact_ids: Mapped[list] = mapped_column(Json, nullable=False)
    # Local-time sends: the instant this batch's contacts (one zone) are due.
    send_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Throttle: not handed to delivery before this.
    not_before: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    # pending → done, or cancelled.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TriggerEntry(Model):
    """A contact entering a triggered campaign: sent when due unless an exit event came first."""

    __tablename__ = "trigger_entries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "event_id"),
        Index("ix_trigger_entries_status_due", "status", "due_at"),
        Index("ix_trigger_entries_campaign_contact", "campaign_id", "contact_id", "entered_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False)
    event_id: Mapped[int | None] = mapped_column(BigId)
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # pending → sent, exited (an exit event came first), skipped (not in the audience), cancelled.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    variant: Mapped[str | None] = mapped_column(String(64))
    # Template data for the message: the triggering event's properties.
    data: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
