"""Segment counts and audience paging on PostgreSQL at scale.

    python bench/segments.py                      # 1,000,000 contacts, 10,000,000 events
    python bench/segments.py --contacts 200000 --events 2000000
    python bench/segments.py --quick              # tiny, to keep the script working

Creates the database if missing and the contact tables (with their indexes) from
orchestrator.models; bulk-loads synthetic contacts and events with COPY unless the tables
already hold exactly the requested numbers (use --reload to force). Then, for three segments
(attribute, event count in a window, combined), prints the exact count time, the sampled
estimate (TABLESAMPLE SYSTEM, see campaigns.segments.audience) and the time to page through
the whole audience by keyset on contacts.id, 1000 ids a page.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from campaigns.segments import (
    SegmentTables, audience_page, compile_to_sql, count_audience, estimate_count, explain,
    extrapolate, parse_rules,
)
from orchestrator.models import metadata

TABLES = ("contacts", "events", "devices", "preferences", "topics")
PLANS = ("free", "free", "free", "pro", "team")
EVENT_NAMES = ("viewed_product", "viewed_product", "viewed_product", "added_to_cart",
               "app_opened", "app_opened", "order_completed", "email_clicked")
CATEGORIES = ("shoes", "hats", "shirts", "bags", "socks", "coats", "belts", "watches")
SEGMENTS = {
    "attribute": {"all": [{"field": "attributes.plan", "op": "eq", "value": "pro"},
                          {"field": "attributes.age", "op": "gte", "value": 30}]},
    "event count in window": {
        "event": "viewed_product", "count": {"op": "gte", "value": 2}, "within_days": 7,
        "where": [{"property": "category", "op": "eq", "value": "shoes"}]},
    "combined": {"all": [
        {"field": "attributes.plan", "op": "in", "value": ["pro", "team"]},
        {"reachable": "sms"},
        {"event": "order_completed", "did_not": True, "within_days": 30},
        {"event": "viewed_product", "within_days": 14},
    ]},
}


def ensure_database(url: sa.URL) -> None:
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                 {"name": url.database}):
            connection.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def load(engine: sa.Engine, contacts: int, events: int, now: datetime) -> None:
    rng = random.Random(20260301)
    # Secondary indexes are dropped for the COPY and built afterwards: much faster than
    # maintaining them row by row.
    indexes = [index for name in ("contacts", "events") for index in metadata.tables[name].indexes]
    with engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE"))
        for index in indexes:
            index.drop(connection, checkfirst=True)
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        # Generated events point at generated contacts; skip the per-row foreign key checks.
        cursor.execute("SET session_replication_role = replica")
        started = time.perf_counter()
        with cursor.copy("COPY contacts (id, external_id, email, phone, attributes, "
                         "unsubscribed_all, sms_opted_out, created_at, updated_at) "
                         "FROM STDIN") as copy:
            for n in range(1, contacts + 1):
                created = now - timedelta(seconds=rng.randrange(365 * 86400))
                attributes = {"plan": rng.choice(PLANS), "age": rng.randrange(18, 80),
                              "signup": created.date().isoformat()}
                copy.write_row((n, f"user-{n}", f"user{n}@example.com" if n % 10 else None,
                                f"+1555{n:07d}" if n % 5 < 3 else None,
                                json.dumps(attributes), False, n % 50 == 0, created, created))
        print(f"  loaded {contacts:,} contacts in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        # Text lines in large chunks: write_row per event is several times slower here.
        names = [rng.choice(EVENT_NAMES) for _ in range(997)]
        with cursor.copy("COPY events (id, contact_id, name, properties, occurred_at, "
                         "received_at) FROM STDIN") as copy:
            lines = []
            for n in range(1, events + 1):
                occurred = now - timedelta(seconds=rng.randrange(90 * 86400))
                stamp = f"{occurred:%Y-%m-%d %H:%M:%S}+00"
                lines.append(f"{n}\t{rng.randrange(1, contacts + 1)}\t{names[n % 997]}\t"
                             f'{{"category": "{CATEGORIES[n % 8]}", "price": '
                             f"{rng.randrange(500, 20000) / 100}}}\t{stamp}\t{stamp}\n")
                if len(lines) == 10_000:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        print(f"  loaded {events:,} events in {time.perf_counter() - started:.1f} s")
        for table in ("contacts", "events"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT coalesce(max(id), 1) FROM {table}))")
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as connection:
        started = time.perf_counter()
        for index in indexes:
            index.create(connection)
        print(f"  built {len(indexes)} indexes in {time.perf_counter() - started:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        started = time.perf_counter()
        connection.execute(sa.text("VACUUM ANALYZE contacts, events"))
        print(f"  vacuum analyze in {time.perf_counter() - started:.1f} s")


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def measure(engine: sa.Engine, tables: SegmentTables, name: str, rule_json: dict,
            now: datetime, sample_percent: float) -> None:
    rule = parse_rules(rule_json)
    where = compile_to_sql(rule, tables, now=now)
    with engine.connect() as connection:
        exact, exact_time = timed(lambda: connection.scalar(count_audience(where, tables)))
        total = connection.scalar(sa.text("SELECT reltuples::bigint FROM pg_class "
                                          "WHERE relname = 'contacts'"))
        query = estimate_count(rule, tables, now=now, dialect_name="postgresql",
                               sample_percent=sample_percent, seed=1)
        (sampled, matched), estimate_time = timed(lambda: tuple(connection.execute(query).one()))
        estimate = extrapolate(matched, sampled, max(total, sampled))

        def page_through():
            pages, after, seen = 0, None, 0
            while ids := list(connection.scalars(audience_page(where, tables, after_id=after,
                                                               limit=1000))):
                pages, after, seen = pages + 1, ids[-1], seen + len(ids)
            return pages, seen

        (pages, seen), paging_time = timed(page_through)
    error = f"{(estimate - exact) / exact:+.1%}" if exact else "n/a"
    print(f"\n{name}: {explain(rule)}")
    print(f"  exact count     {exact:>12,}  in {exact_time * 1000:9.1f} ms")
    print(f"  estimated count {estimate:>12,}  in {estimate_time * 1000:9.1f} ms "
          f"({sample_percent:g}% page sample: {matched:,} of {sampled:,}; error {error})")
    print(f"  paging          {seen:>12,}  in {paging_time * 1000:9.1f} ms "
          f"({pages:,} pages of 1000, {paging_time * 1000 / max(pages, 1):.1f} ms a page)")
    assert seen == exact, "paging must visit exactly the counted audience"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="2,000 contacts, 20,000 events")
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/"
                                                   "chorus_bench_segments")
    parser.add_argument("--sample-percent", type=float, default=1.0)
    parser.add_argument("--reload", action="store_true")
    options = parser.parse_args()
    if options.quick:
        options.contacts, options.events = 2_000, 20_000
        options.sample_percent = max(options.sample_percent, 50.0)
    url = sa.make_url(options.database_url)
    ensure_database(url)
    engine = sa.create_engine(url)
    metadata.create_all(engine, tables=[metadata.tables[name] for name in TABLES])
    tables = SegmentTables(**{name: metadata.tables[name] for name in TABLES})
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with engine.connect() as connection:
        have = (connection.scalar(sa.text("SELECT count(*) FROM contacts")),
                connection.scalar(sa.text("SELECT count(*) FROM events")))
    print(f"segments bench: {options.contacts:,} contacts, {options.events:,} events "
          f"on {url.render_as_string(hide_password=True)}")
    if options.reload or have != (options.contacts, options.events):
        load(engine, options.contacts, options.events, now)
    else:
        print("  reusing the loaded data (--reload to regenerate)")
    for name, rule_json in SEGMENTS.items():
        measure(engine, tables, name, rule_json, now, options.sample_percent)
    engine.dispose()


if __name__ == "__main__":
    main()
