"""Aggregates the dashboard shows: messages by channel, status and day; delivery and engagement.

Each figure is one GROUP BY over the messages table (its indexes on status and time serve it),
never a loop over rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Date, cast, func, select
from sqlalchemy.orm import Session

from campaigns.stats import Counts, Rates, rates
from orchestrator.models import CHANNEL_KEYS, Campaign, Message, utcnow

FAILED = ("failed", "undelivered", "bounced")


@dataclass
class Funnel:
    """Messages counted by how far they got."""

    total: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    failed: int = 0
    suppressed: int = 0

    @property
    def rates(self) -> Rates:
        # The same rate definitions as campaign reports (campaigns.stats).
        return rates(Counts(targeted=self.total, sent=self.sent, delivered=self.delivered, failed=self.failed,
                            opened=self.opened, clicked=self.clicked))


@dataclass
class Overview:
    today: Funnel
    month: Funnel
    by_channel: dict[str, Funnel]
    by_status: dict[str, int]
    by_channel_status: dict[str, dict[str, int]]
    days: list[date] = field(default_factory=list)
    daily: dict[str, list[int]] = field(default_factory=dict)  # channel → count per day


def _funnel_columns():
    # A timestamp is set once a message reaches a step and is kept after it moves on, so
    # COUNT(column) counts every message that got at least that far.
    return (
        func.count(Message.id),
        func.count(Message.sent_at),
        func.count(Message.delivered_at),
        func.count(Message.opened_at),
        func.count(Message.clicked_at),
        func.count(Message.id).filter(Message.status.in_(FAILED)),
        func.count(Message.id).filter(Message.status == "suppressed"),
    )


def funnel(session: Session, *conditions) -> Funnel:
    row = session.execute(select(*_funnel_columns()).where(*conditions)).one()
    return Funnel(*row)


def funnels_by(session: Session, column, *conditions) -> dict[str, Funnel]:
    rows = session.execute(select(column, *_funnel_columns()).where(*conditions).group_by(column))
    return {key: Funnel(*counts) for key, *counts in rows}


def day_of(session: Session, column):
    """The UTC calendar day of a timestamp column, on SQLite and PostgreSQL alike."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def daily_counts(session: Session, since: datetime, days: int, *conditions) -> tuple[list[date], dict[str, list[int]]]:
    day = day_of(session, Message.created_at).label("day")
    rows = session.execute(
        select(day, Message.channel, func.count(Message.id))
        .where(Message.created_at >= since, *conditions).group_by(day, Message.channel)
    )
    first = since.date()
    calendar = [first + timedelta(days=n) for n in range(days)]
    index = {d.isoformat(): n for n, d in enumerate(calendar)}
    series = {channel: [0] * days for channel in CHANNEL_KEYS}
    for bucket, channel, count in rows:
        position = index.get(str(bucket)[:10])
        if position is not None:
            series.setdefault(channel, [0] * days)[position] += count
    return calendar, series


def overview(session: Session, now: datetime | None = None, days: int = 30) -> Overview:
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = midnight - timedelta(days=days - 1)
    in_window = Message.created_at >= since
    by_channel_status: dict[str, dict[str, int]] = {}
    by_status: dict[str, int] = {}
    for channel, status, count in session.execute(
        select(Message.channel, Message.status, func.count(Message.id))
        .where(in_window).group_by(Message.channel, Message.status)
    ):
        by_channel_status.setdefault(channel, {})[status] = count
        by_status[status] = by_status.get(status, 0) + count
    calendar, series = daily_counts(session, since, days)
    return Overview(
        today=funnel(session, Message.created_at >= midnight),
        month=funnel(session, in_window),
        by_channel=funnels_by(session, Message.channel, in_window),
        by_status=by_status,
        by_channel_status=by_channel_status,
        days=calendar,
        daily=series,
    )


@dataclass
class CampaignLine:
    id: int
    name: str
    status: str
    started_at: datetime | None
    sent: int = 0
    delivered: int = 0


def running_campaigns(session: Session, limit: int = 10) -> list[CampaignLine]:
    """Campaigns sending, scheduled or paused, with their sent and delivered counts (one GROUP BY)."""
    rows = session.execute(select(Campaign.id, Campaign.name, Campaign.status, Campaign.launched_at)
                           .where(Campaign.status.in_(("running", "scheduled", "paused")))
                           .order_by(Campaign.launched_at.desc(), Campaign.id.desc()).limit(limit)).all()
    lines = {row.id: CampaignLine(row.id, row.name, row.status, row.launched_at) for row in rows}
    if lines:
        for campaign_id, sent, delivered in session.execute(
                select(Message.campaign_id, func.count(Message.sent_at), func.count(Message.delivered_at))
                .where(Message.campaign_id.in_(list(lines))).group_by(Message.campaign_id)):
            lines[campaign_id].sent, lines[campaign_id].delivered = sent, delivered
    return list(lines.values())
