"""Paused and cancelled campaigns: their messages are not sent.

The pipeline asks here before it claims rows (send_messages: each provider chunk;
deliver_batch's bulk path: before recording its rows claimed, then at each recorded group of
chunks), so a pause or cancel takes effect within a chunk or a group, mid-send. Paused messages stay `queued` and
the resume re-enqueues them; the campaigns service turns a cancelled campaign's waiting
messages into `suppressed` (reason `cancelled`).
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from orchestrator.models import Campaign, Message

HALTED = ("paused", "cancelled")


def campaign_not_halted() -> ColumnElement[bool]:
    """WHERE clause on messages: no campaign, or one that is neither paused nor cancelled."""
    c = Message.__table__.c
    halted = select(Campaign.id).where(Campaign.status.in_(HALTED))
    return or_(c.campaign_id.is_(None), c.campaign_id.not_in(halted))


def campaign_halted(session: Session, campaign_ids: Iterable[int | None]) -> set[int]:
    """Which of these campaigns are paused or cancelled right now."""
    ids = {i for i in campaign_ids if i is not None}
    if not ids:
        return set()
    return set(session.scalars(select(Campaign.id).where(Campaign.id.in_(ids), Campaign.status.in_(HALTED))))
