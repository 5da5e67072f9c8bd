from datetime import datetime, timedelta, timezone

import pytest

from campaigns.segments import (
    ContactFacts, audience_page, compile_to_sql, count_audience, estimate_count, extrapolate,
    parse_rules,
)
from tests.campaigns.segments.population import load

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
RULE = parse_rules({"field": "attributes.n", "op": "lt", "value": 30})


@pytest.fixture(scope="module")
def loaded(segment_db, segment_tables):
    population = [ContactFacts(external_id=str(n), created_at=NOW - timedelta(days=1),
                               attributes={"n": n}) for n in range(100)]
    with segment_db.begin() as connection:
        ids = load(connection, segment_tables, population)
    return ids


def test_keyset_pages_walk_the_whole_audience_in_id_order(segment_db, segment_tables, loaded):
    where = compile_to_sql(RULE, segment_tables, now=NOW)
    seen, after = [], None
    with segment_db.connect() as connection:
        while page := list(connection.scalars(audience_page(where, segment_tables,
                                                            after_id=after, limit=7))):
            seen += page
            after = page[-1]
        exact = connection.scalar(count_audience(where, segment_tables))
    assert seen == loaded[:30]
    assert exact == 30


def test_a_full_sample_estimates_exactly(segment_db, segment_tables, loaded):
    query = estimate_count(RULE, segment_tables, now=NOW, sample_percent=100,
                           dialect_name=segment_db.dialect.name)
    with segment_db.connect() as connection:
        sampled, matched = connection.execute(query).one()
    assert (sampled, matched) == (100, 30)
    assert extrapolate(matched, sampled, total=100) == 30


def test_a_partial_sample_reads_a_part(segment_db, segment_tables, loaded):
    query = estimate_count(RULE, segment_tables, now=NOW, sample_percent=10,
                           dialect_name=segment_db.dialect.name)
    with segment_db.connect() as connection:
        sampled, matched = connection.execute(query).one()
    # SQLite takes every tenth id; PostgreSQL whole pages, so any share of these few rows.
    assert sampled == 10 if segment_db.dialect.name == "sqlite" else 0 <= sampled <= 100
    assert 0 <= matched <= sampled


def test_extrapolation_scales_the_sample():
    assert extrapolate(matched=12, sampled=1_000, total=100_000) == 1_200
    assert extrapolate(matched=0, sampled=0, total=100) == 0
    with pytest.raises(ValueError):
        estimate_count(RULE, None, now=NOW, dialect_name="sqlite", sample_percent=0)
