"""GET /v1/campaigns/{id}/stats on a 1,000,000-message campaign on PostgreSQL.

    python bench/campaign_stats.py                  # 500,000 contacts x 2 channels = 1,000,000 messages
    python bench/campaign_stats.py --contacts 20000 # smaller
    python bench/campaign_stats.py --quick          # tiny, to keep the script working

Creates a database (chorus_bench_stats) with the models' tables, bulk-loads contacts, messages
(two variants and a 10 % holdout, statuses spread over the funnel) and goal events (about 5 %
of contacts convert) with COPY, then times the stats service (the endpoint's whole work) a few
times and prints the best and median.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

# The repository, not bench/ (whose channels.py would shadow the channels package), comes first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from orchestrator.app import create_app  # noqa: E402
from orchestrator.db import db  # noqa: E402
from orchestrator.models import Campaign, metadata  # noqa: E402
from orchestrator.services.campaign_stats import stats  # noqa: E402

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/chorus_bench_stats"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
FUNNEL = (("clicked", 3), ("opened", 12), ("delivered", 60), ("sent", 10), ("failed", 3),
          ("suppressed", 7), ("skipped", 5))


def ensure_database(url: sa.URL) -> None:
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}):
            connection.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def load(engine: sa.Engine, contacts: int) -> int:
    rng = random.Random(7)
    with engine.begin() as connection:
        metadata.drop_all(connection)
        metadata.create_all(connection)
        campaign_id = connection.execute(sa.insert(Campaign.__table__).values(
            name="bench", template_key="welcome", channels=["email", "push"], strategy="all", category="marketing",
            data={}, status="completed", respect_caps=True, respect_quiet_hours=True, frequency_caps=[],
            holdout_percent=10, launched_at=T0, created_at=T0, updated_at=T0,
            goal={"event_name": "order_completed", "where": [], "window_hours": 72})
            .returning(Campaign.__table__.c.id)).scalar_one()
    statuses = [s for s, weight in FUNNEL for _ in range(weight)]
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy("COPY contacts (id, external_id, attributes, unsubscribed_all, sms_opted_out, created_at, "
                         "updated_at) FROM STDIN") as copy:
            for n in range(1, contacts + 1):
                copy.write_row((n, f"c{n}", "{}", False, False, T0, T0))
        columns = ("idempotency_key", "contact_id", "campaign_id", "variant", "channel", "status", "reason",
                   "category", "attempts", "created_at", "updated_at", "sent_at", "delivered_at", "opened_at",
                   "clicked_at")
        events = []
        with cursor.copy(f"COPY messages ({', '.join(columns)}) FROM STDIN") as copy:
            for n in range(1, contacts + 1):
                at = T0 + timedelta(seconds=n % 7200)
                draw = rng.random()
                variant = "holdout" if draw < 0.1 else ("a" if draw < 0.55 else "b")
                if rng.random() < 0.05:
                    events.append((n, at + timedelta(hours=rng.randrange(1, 96))))
                for channel in ("email", "push"):
                    key = f"campaign:{campaign_id}:r1:{n}:{channel}"
                    if variant == "holdout":
                        copy.write_row((key, n, campaign_id, variant, channel, "skipped", "holdout", "marketing", 0,
                                        at, at, None, None, None, None))
                        continue
                    status = rng.choice(statuses)
                    reason = {"suppressed": "unsubscribed", "skipped": "no_address"}.get(status)
                    sent = at if status in ("clicked", "opened", "delivered", "sent") else None
                    delivered = at if status in ("clicked", "opened", "delivered") else None
                    opened = at if status in ("clicked", "opened") else None
                    clicked = at if status == "clicked" else None
                    copy.write_row((key, n, campaign_id, variant, channel, status, reason, "marketing", 1, at, at,
                                    sent, delivered, opened, clicked))
        with cursor.copy("COPY events (contact_id, name, properties, occurred_at, received_at) FROM STDIN") as copy:
            for contact_id, at in events:
                copy.write_row((contact_id, "order_completed", '{"total": 42}', at, at))
            for n in range(1, contacts + 1, 3):  # other traffic the join must skip
                copy.write_row((n, "app_opened", "{}", T0, T0))
        raw.commit()
        raw.driver_connection.autocommit = True
        cursor.execute("VACUUM ANALYZE messages")
        cursor.execute("VACUUM ANALYZE events")
    finally:
        raw.close()
    return campaign_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=500_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=URL)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    contacts = 2_000 if args.quick else args.contacts
    url = sa.make_url(args.url)
    ensure_database(url)
    engine = sa.create_engine(url)
    started = time.perf_counter()
    campaign_id = load(engine, contacts)
    engine.dispose()
    print(f"loaded {contacts:,} contacts, {2 * contacts:,} messages in {time.perf_counter() - started:.1f} s")

    app = create_app({"DATABASE_URL": str(url.render_as_string(hide_password=False)), "TESTING": True})
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        times, result = [], None
        for _ in range(args.repeat):
            begin = time.perf_counter()
            result = stats(db.session, campaign)
            times.append(time.perf_counter() - begin)
            db.session.rollback()
    totals = result["totals"]
    print(f"stats of a {2 * contacts:,}-message campaign: best {min(times) * 1000:.0f} ms, "
          f"median {statistics.median(times) * 1000:.0f} ms over {args.repeat} runs")
    print(f"  targeted {totals['targeted']:,}, sent {totals['sent']:,}, converted contacts "
          f"{totals['converted_contacts']:,}, holdout {result['holdout']['contacts']:,}, "
          f"lift {totals['lift']['absolute_diff']:+.4f} [{totals['lift']['ci_low']:+.4f}, {totals['lift']['ci_high']:+.4f}]")


if __name__ == "__main__":
    main()
