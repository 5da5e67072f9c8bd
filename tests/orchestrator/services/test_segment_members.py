"""The trigger path judges a few contacts in Python on facts loaded from the database; it must
agree with the audience SQL on the same rows (the core's property test covers the languages,
this covers the loading)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import Contact, Device, Event, Preference, Segment, Topic, utcnow
from orchestrator.services import segments

RULES = [
    {"field": "attributes.plan", "op": "eq", "value": "pro"},
    {"field": "email", "op": "exists"},
    {"all": [{"reachable": "push"}, {"not": {"reachable": "sms"}}]},
    {"event": "viewed_product", "where": [{"property": "category", "op": "eq", "value": "shoes"}],
     "count": {"op": "gte", "value": 2}, "within_days": 7},
    {"event": "order_completed", "did_not": True},
    {"topic": "promotions", "subscribed": True},
    {"any": [{"field": "attributes.visits", "op": "gt", "value": 3}, {"reachable": "email"}]},
]


def _people(now):
    db.session.add(Topic(key="promotions", name="Promotions", default_opt_in=False))
    contacts = [Contact(external_id=f"p{i}", email=f"p{i}@example.com" if i % 2 else None,
                        phone="+1415555%04d" % i if i % 3 else None, sms_opted_out=i % 5 == 0,
                        attributes={"plan": "pro" if i % 4 == 0 else "free", "visits": i})
                for i in range(12)]
    db.session.add_all(contacts)
    db.session.flush()
    for i, contact in enumerate(contacts):
        if i % 3 == 0:
            db.session.add(Device(contact_id=contact.id, token=f"tok-{i}", platform="android"))
        if i % 4 == 1:
            db.session.add(Preference(contact_id=contact.id, kind="topic", key="promotions", opted_in=True))
        for n in range(i % 4):  # 0 to 3 shoe views, some too old to count
            db.session.add(Event(contact_id=contact.id, name="viewed_product", properties={"category": "shoes"},
                                 occurred_at=now - timedelta(days=2 + 3 * n)))
        if i % 6 == 0:
            db.session.add(Event(contact_id=contact.id, name="order_completed", properties={}, occurred_at=now))
    db.session.commit()
    return [c.id for c in contacts]


def test_python_members_agree_with_the_audience_sql(app):
    now = utcnow()
    ids = _people(now)
    for rules in RULES + [{"segment_ref": True}]:
        if rules == {"segment_ref": True}:  # membership of another segment, resolved from the database
            saved = Segment(name="pro", rules=RULES[0])
            db.session.add(saved)
            db.session.commit()
            rules = {"all": [{"segment": saved.id}, {"reachable": "push"}]}
        sql = set(db.session.scalars(select(Contact.id).where(segments.where_clause(db.session, rules, now),
                                                              Contact.id.in_(ids))))
        python = segments.members_among(db.session, rules, ids, now)
        assert python == sql, rules
        assert 0 < len(sql) < len(ids), f"{rules} tells nothing apart"
