"""Dashboard aggregates: one GROUP BY each, the same figures on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

from orchestrator.db import db
from orchestrator.models import Message, utcnow
from orchestrator.services.dashboard import overview


def add(n, channel, status, at, **stamps):
    db.session.add(Message(idempotency_key=f"k{n}", channel=channel, status=status, created_at=at,
                           updated_at=at, **stamps))


def test_overview_counts_today_thirty_days_channels_and_days(app):
    now = utcnow().replace(hour=12)
    old = now - timedelta(days=40)
    add(1, "sms", "delivered", now, sent_at=now, delivered_at=now)
    add(2, "sms", "failed", now)
    add(3, "email", "clicked", now - timedelta(days=3), sent_at=now, delivered_at=now, opened_at=now,
        clicked_at=now)
    add(4, "push", "sent", now - timedelta(days=3), sent_at=now)
    add(5, "email", "suppressed", now - timedelta(days=29))
    add(6, "sms", "delivered", old, sent_at=old, delivered_at=old)
    db.session.commit()

    figures = overview(db.session, now=now)
    assert (figures.today.total, figures.today.delivered, figures.today.failed) == (2, 1, 1)
    month = figures.month
    assert (month.total, month.sent, month.delivered, month.opened, month.clicked) == (5, 3, 2, 1, 1)
    assert month.suppressed == 1 and month.rates.delivery == 2 / 3 and month.rates.open == 0.5
    assert figures.by_channel["sms"].total == 2 and figures.by_channel["email"].clicked == 1
    assert figures.by_status == {"delivered": 1, "failed": 1, "clicked": 1, "sent": 1, "suppressed": 1}
    assert len(figures.days) == 30 and figures.days[-1] == now.date()
    assert figures.daily["sms"][-1] == 2 and figures.daily["email"][-4] == 1 and figures.daily["push"][-4] == 1
    assert figures.daily["email"][0] == 1, "29 days ago is the first bar"
    assert sum(sum(v) for v in figures.daily.values()) == 5


def test_an_empty_install_has_no_rates_not_zero_division(app):
    figures = overview(db.session)
    assert figures.month.total == 0 and figures.month.rates.delivery is None
    assert all(sum(v) == 0 for v in figures.daily.values())
