"""Campaign results from message and event rows, in a few grouped queries.

* Outcomes: one GROUP BY over the campaign's messages by (variant, channel, status, reason),
  served by the (campaign_id, variant, channel, status) index.
* Over time: messages per hour or day of sending, with how many were delivered, opened, clicked.
* People: distinct contacts per variant (the holdout's are its `skipped/holdout` rows, one per
  contact), the denominators of conversion rates (intent to treat, see campaigns.stats), an
  index-only scan of (campaign_id, variant, contact_id).
* Conversions: goal events joined to the campaign's sends on the events (contact_id, name,
  occurred_at) index; each event credits the latest send in the window (last touch, as
  campaigns.conversions.attribute), picked with a window function. Holdout members "send" at
  the time their row was recorded, so they convert by the same rule.
* Unsubscribes: the unsubscribe links' audit entries name the message.

The four big queries run at once, each on its own connection (PostgreSQL).
"""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import Connection, and_, func, literal_column, or_, select
from sqlalchemy.orm import Session

from campaigns import HOLDOUT, Counts, Goal, lift, rates, totals_by
from orchestrator.models import AuditEntry, Campaign, Event, Message

SENT = ("sent", "delivered", "opened", "clicked", "undelivered", "bounced")
DELIVERED = ("delivered", "opened", "clicked")
OPENED = ("opened", "clicked")
FAILED = ("failed", "undelivered", "bounced")
DECIDED_OUT = ("suppressed", "skipped")


def _outcome_rows(connection: Connection, campaign_id: int) -> list:
    c = Message.__table__.c
    return connection.execute(select(c.variant, c.channel, c.status, c.reason, func.count())
                              .where(c.campaign_id == campaign_id)
                              .group_by(c.variant, c.channel, c.status, c.reason)).all()


def _time_rows(connection: Connection, campaign_id: int, bucket: str) -> list:
    c = Message.__table__.c
    if connection.dialect.name == "postgresql":
        slot = func.date_trunc(bucket, c.sent_at)
    else:
        slot = func.strftime("%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00", c.sent_at)
    slot = slot.label("slot")
    return connection.execute(select(slot, func.count(), func.count(c.delivered_at), func.count(c.opened_at),
                                     func.count(c.clicked_at))
                              .where(c.campaign_id == campaign_id, c.sent_at.is_not(None))
                              .group_by(literal_column("slot"))).all()


def _outcomes(grouped: list) -> tuple[dict, dict]:
    """(variant, channel) → counter of outcome names; and suppressions by reason."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    suppressed: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for variant, channel, status, reason, number in grouped:
        if reason == HOLDOUT:
            continue
        key = (variant or "default", channel)
        bucket = counts[key]
        bucket["targeted"] += number
        if status in DECIDED_OUT:
            suppressed[key][reason or status] += number
        if status in SENT:
            bucket["sent"] += number
        if status in DELIVERED:
            bucket["delivered"] += number
        if status in OPENED:
            bucket["opened"] += number
        if status == "clicked":
            bucket["clicked"] += number
        if status in FAILED:
            bucket["failed"] += number
        if status in ("queued", "deferred", "sending"):
            bucket["waiting"] += number
    return counts, suppressed


def _over_time(grouped: list) -> list[dict]:
    """Messages per hour or day of sending, and how many of those were delivered, opened, clicked."""
    slots: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for slot, sent, delivered, opened, clicked in grouped:
        if slot is None:
            continue
        at = slot.isoformat() if isinstance(slot, datetime) else str(slot).replace(" ", "T") + "+00:00"
        totals = slots[at]
        totals[0] += sent
        totals[1] += delivered
        totals[2] += opened
        totals[3] += clicked
    return [{"at": at, "sent": sent, "delivered": delivered, "opened": opened, "clicked": clicked}
            for at, (sent, delivered, opened, clicked) in sorted(slots.items())]


def _people(connection: Connection, campaign_id: int) -> dict[str, int]:
    """Distinct contacts per variant (holdout included)."""
    c = Message.__table__.c
    counted = connection.execute(select(c.variant, func.count(func.distinct(c.contact_id)))
                                 .where(c.campaign_id == campaign_id).group_by(c.variant)).all()
    people: dict[str, int] = defaultdict(int)
    for variant, number in counted:
        people[variant or "default"] += number
    return people


def _plus_hours(connection: Connection, column, hours: float):
    if connection.dialect.name == "postgresql":
        return column + func.make_interval(0, 0, 0, 0, 0, 0, hours * 3600)
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff'; datetime() keeps whole seconds, enough for a window.
    return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{int(hours * 3600)} seconds")


def _conversions(connection: Connection, campaign: Campaign, goal: Goal) -> tuple[dict, dict]:
    """((variant, channel) → conversions, variant → converted contacts)."""
    m = Message.__table__.c
    e = Event.__table__.c
    sent_at = func.coalesce(m.sent_at, m.created_at)
    sends = (select(m.id, m.contact_id, m.variant, m.channel, m.reason, sent_at.label("at"))
             .where(m.campaign_id == campaign.id, m.contact_id.is_not(None),
                    or_(m.sent_at.is_not(None), m.reason == HOLDOUT))
             .subquery("sends"))
    ranked = (select(e.id.label("event_id"), e.properties, sends.c.contact_id, sends.c.variant, sends.c.channel,
                     sends.c.reason,
                     func.row_number().over(partition_by=e.id, order_by=(sends.c.at.desc(), sends.c.id.desc()))
                     .label("rank"))
              .select_from(sends.join(Event.__table__, and_(
                  e.contact_id == sends.c.contact_id, e.name == goal.event_name,
                  e.occurred_at >= sends.c.at, e.occurred_at <= _plus_hours(connection, sends.c.at, goal.window_hours))))
              .subquery("ranked"))
    columns = [ranked.c.variant, ranked.c.channel, ranked.c.reason, ranked.c.contact_id]
    if goal.where:
        columns.append(ranked.c.properties)
    by_row: dict[tuple[str, str], int] = defaultdict(int)
    people: dict[str, set[int]] = defaultdict(set)
    for row in connection.execute(select(*columns).where(ranked.c.rank == 1)):
        if goal.where and not goal.matches(_as_event(goal, row.properties)):
            continue
        variant = HOLDOUT if row.reason == HOLDOUT else (row.variant or "default")
        if variant != HOLDOUT:
            by_row[(variant, row.channel)] += 1
        people[variant].add(row.contact_id)
    return by_row, {variant: len(ids) for variant, ids in people.items()}


def _as_event(goal: Goal, properties):
    from campaigns import Event as CoreEvent

    return CoreEvent(goal.event_name, datetime.min, properties or {})


def _unsubscribes(session: Session, campaign: Campaign) -> dict[tuple[str, str], int]:
    if campaign.launched_at is None:
        return {}
    message_ids = set()
    for details in session.scalars(select(AuditEntry.details).where(AuditEntry.action == "contact.unsubscribed",
                                                                    AuditEntry.at >= campaign.launched_at)):
        if isinstance(details, dict) and isinstance(details.get("message_id"), int):
            message_ids.add(details["message_id"])
    if not message_ids:
        return {}
    c = Message.__table__.c
    found: dict[tuple[str, str], int] = defaultdict(int)
    ids = sorted(message_ids)
    for start in range(0, len(ids), 1000):
        for variant, channel, number in session.execute(
                select(c.variant, c.channel, func.count()).where(c.campaign_id == campaign.id,
                                                                 c.id.in_(ids[start:start + 1000]))
                .group_by(c.variant, c.channel)):
            found[(variant or "default", channel)] += number
    return found


def _rates(counts: Counts) -> dict:
    return {name: value for name, value in asdict(rates(counts)).items()}


def _counts_dict(counts: Counts) -> dict:
    return {"targeted": counts.targeted, "suppressed": dict(counts.suppressed),
            "suppressed_total": counts.suppressed_total, "sent": counts.sent, "delivered": counts.delivered,
            "failed": counts.failed, "opened": counts.opened, "clicked": counts.clicked,
            "unsubscribed": counts.unsubscribed, "converted": counts.converted, "rates": _rates(counts)}


def _lift_dict(result) -> dict | None:
    return None if result is None else asdict(result)


def _concurrently(session: Session, queries: dict) -> dict:
    """Each query on its own pooled connection at once (PostgreSQL runs them on separate
    backends, so the wall time is the slowest one's, not their sum); in order on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        connection = session.connection()
        return {name: query(connection) for name, query in queries.items()}
    engine = session.get_bind()

    def run(query):
        with engine.connect() as connection:
            return query(connection)

    with ThreadPoolExecutor(max_workers=len(queries), thread_name_prefix="chorus-stats") as pool:
        futures = {name: pool.submit(run, query) for name, query in queries.items()}
        return {name: future.result() for name, future in futures.items()}


def stats(session: Session, campaign: Campaign, *, bucket: str = "hour", confidence: float = 0.95) -> dict:
    goal = Goal.from_dict(campaign.goal) if campaign.goal else None
    found = _concurrently(session, {
        "outcomes": lambda connection: _outcome_rows(connection, campaign.id),
        "over_time": lambda connection: _time_rows(connection, campaign.id, bucket),
        "people": lambda connection: _people(connection, campaign.id),
        "conversions": lambda connection: _conversions(connection, campaign, goal) if goal else ({}, {}),
    })
    outcomes, suppressed = _outcomes(found["outcomes"])
    people = found["people"]
    converted_rows, converted_people = found["conversions"]
    unsubscribed = _unsubscribes(session, campaign)

    rows: dict[tuple[str, str], Counts] = {}
    for key, numbers in outcomes.items():
        rows[key] = Counts(targeted=numbers["targeted"], suppressed=dict(suppressed.get(key, {})),
                           sent=numbers["sent"], delivered=numbers["delivered"], failed=numbers["failed"],
                           opened=numbers["opened"], clicked=numbers["clicked"],
                           unsubscribed=unsubscribed.get(key, 0), converted=converted_rows.get(key, 0))
    holdout_n = people.get(HOLDOUT, 0)
    holdout_converted = converted_people.get(HOLDOUT, 0)

    variants = []
    treated_n = treated_converted = 0
    for variant, counts in sorted(totals_by(rows, "variant").items()):
        n, converted = people.get(variant, 0), converted_people.get(variant, 0)
        treated_n += n
        treated_converted += converted
        # Per variant, conversion is per person reached or not (intent to treat).
        person_level = Counts(targeted=n, converted=converted)
        variants.append({"variant": variant, **_counts_dict(counts), "contacts": n, "converted_contacts": converted,
                         "conversion_rate": rates(person_level).conversion,
                         "lift": _lift_dict(lift(converted, n, holdout_converted, holdout_n, confidence))
                         if holdout_n else None})
    total = sum(rows.values(), Counts())
    return {
        "campaign_id": campaign.id,
        "totals": {**_counts_dict(total), "contacts": treated_n, "converted_contacts": treated_converted,
                   "conversion_rate": rates(Counts(targeted=treated_n, converted=treated_converted)).conversion,
                   "lift": _lift_dict(lift(treated_converted, treated_n, holdout_converted, holdout_n, confidence))
                   if holdout_n else None},
        "variants": variants,
        "channels": [{"channel": channel, **_counts_dict(counts)}
                     for channel, counts in sorted(totals_by(rows, "channel").items())],
        "rows": [{"variant": variant, "channel": channel, **_counts_dict(counts)}
                 for (variant, channel), counts in sorted(rows.items())],
        "holdout": {"contacts": holdout_n, "converted_contacts": holdout_converted,
                    "conversion_rate": rates(Counts(targeted=holdout_n, converted=holdout_converted)).conversion}
        if holdout_n else None,
        "over_time": _over_time(found["over_time"]),
    }
