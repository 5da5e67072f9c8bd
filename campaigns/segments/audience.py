"""Queries over a segment's audience: keyset pages of contact ids, and sampled size estimates.

Estimating: a count over a random sample of contacts, scaled up. On PostgreSQL the sample is
`TABLESAMPLE SYSTEM (p)`, which reads only p% of the table's pages, so the cost of the rule
(its event subqueries above all) is paid for about p% of contacts. SQLite has no TABLESAMPLE;
there the sample is every contact whose id falls in one residue class modulo 100/p, which
still reads the table but evaluates the rule on the sample only. Page sampling is clustered
(contacts created together share pages), so the estimate is rough for small samples; ask for
an exact count when it matters.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import Select, case, func, literal, select, tablesample

from campaigns.segments.compiling import SegmentTables, compile_to_sql
from campaigns.segments.references import SegmentResolver
from campaigns.segments.rules import Rule


def audience_page(where, tables: SegmentTables, *, after_id: int | None = None,
                  limit: int = 1000) -> Select:
    """The next `limit` contact ids in the audience after `after_id`, in id order (keyset
    pagination: each page is an index range scan, however deep in the audience)."""
    contacts = tables.contacts
    query = select(contacts.c.id).where(where).order_by(contacts.c.id).limit(limit)
    if after_id is not None:
        query = query.where(contacts.c.id > after_id)
    return query


def count_audience(where, tables: SegmentTables) -> Select:
    """The exact audience size."""
    return select(func.count()).select_from(tables.contacts).where(where)


def estimate_count(rule: Rule, tables: SegmentTables, *, now: datetime, dialect_name: str,
                   sample_percent: float = 1.0, seed: int | None = None,
                   resolve_segment: SegmentResolver | None = None) -> Select:
    """One row (sampled, matched): how many contacts the sample held and how many matched.

    `seed` makes the sample repeatable (the same pages, or the same id residue class).
    Scale with `extrapolate(matched, sampled, total)`, `total` being the contact count (or
    PostgreSQL's reltuples when even that is too slow).
    """
    if not 0 < sample_percent <= 100:
        raise ValueError("sample_percent must be in (0, 100]")
    contacts = tables.contacts
    if dialect_name == "postgresql":
        sample = tablesample(contacts, func.system(sample_percent), name="sampled_contacts",
                             seed=None if seed is None else literal(seed))
        restriction = None
    else:
        sample = contacts.alias("sampled_contacts")
        modulus = max(1, round(100 / sample_percent))
        restriction = sample.c.id % modulus == (seed or 0) % modulus
    where = compile_to_sql(rule, dataclasses.replace(tables, contacts=sample), now=now,
                           resolve_segment=resolve_segment)
    query = select(func.count().label("sampled"),
                   func.coalesce(func.sum(case((where, 1), else_=0)), 0).label("matched"))
    query = query.select_from(sample)
    return query if restriction is None else query.where(restriction)


def extrapolate(matched: int, sampled: int, total: int) -> int:
    """The estimated audience size from a sample; exact when the sample is everyone."""
    if sampled <= 0:
        return 0
    if sampled >= total:
        return matched
    return round(matched * total / sampled)
