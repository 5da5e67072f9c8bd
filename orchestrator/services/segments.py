"""Segments: save rules (validated, cycles refused), count audiences, page through members.

The rule language and its SQL live in campaigns.segments; this module hands it the tables,
resolves `{"segment": id}` references from the database, and turns rule problems into 422s
naming the path (`rules.all[1].op`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from campaigns.segments import (
    Rule, SegmentRuleError, SegmentTables, audience_page, compile_to_sql, count_audience,
    estimate_count, expand_segments, explain, extrapolate, parse_rules,
)
from campaigns.segments.evaluation import ContactFacts, EventFact, evaluate
from campaigns.segments.references import event_names
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.models import AuditEntry, Campaign, Contact, Device, Event, Preference, Segment, Topic, utcnow
from orchestrator.services.pagination import decode_cursor, encode_cursor, page

# Below this many contacts an "estimate" is simply the exact count.
EXACT_BELOW = 50_000
SAMPLE_PERCENT = 2.0


def tables() -> SegmentTables:
    return SegmentTables(contacts=Contact.__table__, events=Event.__table__, devices=Device.__table__,
                         preferences=Preference.__table__, topics=Topic.__table__)


def resolver(session: Session):
    """`{"segment": id}` → that segment's rule JSON (LookupError when there is none)."""
    def resolve(segment_id: int):
        rules = session.scalar(select(Segment.rules).where(Segment.id == segment_id))
        if rules is None:
            raise LookupError(segment_id)
        return rules
    return resolve


def rule_errors(error: SegmentRuleError, prefix: str = "rules") -> list[dict]:
    return [{"field": prefix if issue.path == "$" else f"{prefix}.{issue.path}", "message": issue.message}
            for issue in error.errors]


def check_rules(session: Session, rules: dict, *, segment_id: int | None = None, prefix: str = "rules") -> Rule:
    """The parsed rule; every problem (including unknown or cyclic references) is a 422."""
    try:
        rule = parse_rules(rules)
        expand_segments(rule, resolve_segment=resolver(session), segment_id=segment_id)
    except SegmentRuleError as error:
        raise InvalidInput("The segment rules are invalid: " + str(error), rule_errors(error, prefix)) from None
    return rule


def where_clause(session: Session, rules: dict | None, now: datetime):
    """The WHERE over contacts for these rules (everyone when None)."""
    rule = parse_rules(rules if rules is not None else {"all": []})
    return compile_to_sql(rule, tables(), now=now, resolve_segment=resolver(session))


def contact_facts(session: Session, contact_ids: list[int], rule: Rule) -> dict[int, ContactFacts]:
    """What the Python evaluator needs of these contacts for this (expanded) rule: one query
    each for contacts, device counts, preferences, topics and only the events it names."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    devices = dict(session.execute(select(Device.contact_id, func.count()).where(Device.contact_id.in_(ids))
                                   .group_by(Device.contact_id)).all())
    preferences: dict[int, dict] = {}
    for contact_id, kind, key, opted_in in session.execute(
            select(Preference.contact_id, Preference.kind, Preference.key, Preference.opted_in)
            .where(Preference.contact_id.in_(ids))):
        preferences.setdefault(contact_id, {})[(kind, key)] = opted_in
    topic_defaults = dict(session.execute(select(Topic.key, Topic.default_opt_in)).all())
    events: dict[int, list[EventFact]] = {}
    names = event_names(rule)
    if names:
        for contact_id, name, properties, occurred_at in session.execute(
                select(Event.contact_id, Event.name, Event.properties, Event.occurred_at)
                .where(Event.contact_id.in_(ids), Event.name.in_(names))):
            events.setdefault(contact_id, []).append(EventFact(name, properties or {}, occurred_at))
    c = Contact.__table__.c
    return {row.id: ContactFacts(
        external_id=row.external_id, created_at=row.created_at, email=row.email, phone=row.phone, locale=row.locale,
        timezone=row.timezone, attributes=row.attributes or {}, events=events.get(row.id, ()),
        device_count=devices.get(row.id, 0), preferences=preferences.get(row.id, {}), topic_defaults=topic_defaults,
        sms_opted_out=row.sms_opted_out, unsubscribed_all=row.unsubscribed_all)
        for row in session.execute(select(c.id, c.external_id, c.created_at, c.email, c.phone, c.locale, c.timezone,
                                          c.attributes, c.sms_opted_out, c.unsubscribed_all).where(c.id.in_(ids)))}


def members_among(session: Session, rules: dict | None, contact_ids: list[int], now: datetime) -> set[int]:
    """Which of a few contacts are in the segment now, judged in Python on each contact (the
    trigger path: a handful of contacts per event, where compiling and running the audience
    SQL would cost more than it decides)."""
    if rules is None:
        return set(contact_ids)
    rule = expand_segments(parse_rules(rules), resolve_segment=resolver(session))
    facts = contact_facts(session, contact_ids, rule)
    return {contact_id for contact_id, contact in facts.items() if evaluate(rule, contact, now=now)}


def describe(segment: Segment) -> dict:
    try:
        summary = explain(parse_rules(segment.rules))
    except SegmentRuleError:
        summary = "invalid rules"
    return {"id": segment.id, "name": segment.name, "description": segment.description, "rules": segment.rules,
            "summary": summary, "created_at": segment.created_at, "updated_at": segment.updated_at}


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"No segment {segment_id}.")
    return segment


def list_segments(session: Session, *, limit: int, cursor: str | None = None) -> tuple[list[Segment], str | None]:
    query = select(Segment).order_by(Segment.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Segment.id > after)
    return page(list(session.scalars(query)), limit)


def _audit(session: Session, action: str, segment: Segment, actor: dict | None, **details) -> None:
    session.add(AuditEntry(action=action, target_type="segment", target_id=str(segment.id), details=details,
                           **(actor or {})))


def create_segment(session: Session, *, name: str, rules: dict, description: str = "",
                   actor: dict | None = None) -> Segment:
    check_rules(session, rules)
    segment = Segment(name=name, rules=rules, description=description)
    session.add(segment)
    session.flush()
    _audit(session, "segment.created", segment, actor, name=name)
    return segment


def update_segment(session: Session, segment_id: int, *, actor: dict | None = None, **changes) -> Segment:
    segment = get_segment(session, segment_id)
    if "rules" in changes:
        check_rules(session, changes["rules"], segment_id=segment.id)
    for key, value in changes.items():
        setattr(segment, key, value)
    segment.updated_at = utcnow()
    session.flush()
    _audit(session, "segment.updated", segment, actor, fields=sorted(changes))
    return segment


def delete_segment(session: Session, segment_id: int, *, actor: dict | None = None) -> None:
    segment = get_segment(session, segment_id)
    if session.scalar(select(func.count()).select_from(Campaign).where(Campaign.segment_id == segment_id)):
        raise Conflict(f"Segment {segment_id} is the audience of a campaign.")
    users = [s.id for s in session.scalars(select(Segment).where(Segment.id != segment_id))
             if segment_id in _references(s.rules)]
    if users:
        raise Conflict(f"Segment {segment_id} is used by segments {users}.")
    _audit(session, "segment.deleted", segment, actor)
    session.delete(segment)


def _references(rules: dict) -> frozenset[int]:
    from campaigns.segments import referenced_segments

    try:
        return referenced_segments(parse_rules(rules))
    except SegmentRuleError:
        return frozenset()


def count(session: Session, rules: dict | None, *, exact: bool = False, now: datetime | None = None) -> dict:
    """{"count", "exact"}: exact for small contact tables or on request, else a sampled estimate."""
    now = now or utcnow()
    rule = parse_rules(rules if rules is not None else {"all": []})
    where = compile_to_sql(rule, tables(), now=now, resolve_segment=resolver(session))
    dialect = session.get_bind().dialect.name
    total = _contact_total(session, dialect)
    if exact or total < EXACT_BELOW:
        return {"count": session.scalar(count_audience(where, tables())), "exact": True}
    query = estimate_count(rule, tables(), now=now, dialect_name=dialect, sample_percent=SAMPLE_PERCENT,
                           resolve_segment=resolver(session))
    sampled, matched = session.execute(query).one()
    return {"count": extrapolate(matched, sampled, max(total, sampled)), "exact": False}


def _contact_total(session: Session, dialect: str) -> int:
    if dialect == "postgresql":
        # The planner's row estimate: instant, and exact enough to decide how to count.
        estimate = session.scalar(text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'contacts'"))
        if estimate is not None and estimate >= 0:
            return int(estimate)
    return session.scalar(select(func.count()).select_from(Contact))


def members(session: Session, rules: dict | None, *, limit: int, cursor: str | None = None,
            now: datetime | None = None) -> tuple[list[Contact], str | None]:
    """A keyset page of the contacts in the audience, in id order."""
    where = where_clause(session, rules, now or utcnow())
    ids = list(session.scalars(audience_page(where, tables(), after_id=decode_cursor(cursor), limit=limit + 1)))
    next_cursor = encode_cursor(ids[limit - 1]) if len(ids) > limit else None
    ids = ids[:limit]
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))} if ids else {}
    return [contacts[i] for i in ids if i in contacts], next_cursor
