"""Seed data for the embedded demo: a small audience a new user can message at once."""
from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from orchestrator.models import ApiKey, Topic, User, utcnow
from orchestrator.services.api_keys import create_api_key
from orchestrator.services.contacts import upsert_contacts
from orchestrator.services.events import ingest_events
from orchestrator.services.users import _hasher, create_user

ADMIN_EMAIL = "admin@chorus.local"
FIRST_NAMES = ["Ana", "Bruno", "Chen", "Dara", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jonas",
               "Kavya", "Liam", "Mei", "Noah", "Olga", "Pedro", "Qadir", "Rosa", "Sven", "Tariq"]
ZONES = ["Europe/Lisbon", "America/New_York", "Asia/Kolkata", "America/Sao_Paulo", "Europe/Berlin",
         "Pacific/Auckland", "America/Los_Angeles"]
LOCALES = ["en", "pt-BR", "en", "de", "en-GB", "pt", "en"]
PLANS = ["free", "pro", "team"]


def seed(session, seed_value: int = 7) -> dict:
    """Idempotent: contacts and topics are upserts; each run issues a fresh login and API key."""
    rng = random.Random(seed_value)
    for key, name, default in (("promotions", "Promotions and offers", True),
                               ("product_updates", "Product updates", True),
                               ("digest", "Weekly digest", False)):
        if session.scalar(select(Topic.id).where(Topic.key == key)) is None:
            session.add(Topic(key=key, name=name, default_opt_in=default))
    rows, events = [], []
    now = utcnow()
    for number in range(1, 61):
        name = FIRST_NAMES[number % len(FIRST_NAMES)]
        zone_index = number % len(ZONES)
        rows.append({
            "external_id": f"demo-{number:03d}",
            "email": f"{name.lower()}.{number}@example.com",
            "phone": f"+1415555{number:04d}",
            "locale": LOCALES[zone_index],
            "timezone": ZONES[zone_index],
            "attributes": {"first_name": name, "plan": PLANS[number % 3],
                           "lifetime_value": round(rng.uniform(0, 900), 2),
                           "signed_up_at": (now - timedelta(days=rng.randint(1, 400))).isoformat()},
        })
        for _ in range(rng.randint(0, 6)):
            events.append({
                "external_id": f"demo-{number:03d}",
                "name": rng.choice(["viewed_product", "cart_updated", "order_completed", "app_opened"]),
                "properties": {"category": rng.choice(["shoes", "bags", "hats"]),
                               "value": round(rng.uniform(5, 200), 2)},
                "timestamp": now - timedelta(hours=rng.randint(1, 24 * 30)),
                "id": f"demo-event-{number}-{_}",
            })
    upsert_contacts(session, rows)
    ingest_events(session, events)

    password = secrets.token_urlsafe(12)
    admin = session.scalar(select(User).where(User.email == ADMIN_EMAIL))
    if admin is None:
        create_user(session, ADMIN_EMAIL, password, "admin")
    else:
        admin.password_hash = _hasher.hash(password)
    session.execute(update(ApiKey).where(ApiKey.name == "demo", ApiKey.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    issued = create_api_key(session, "demo")
    session.commit()
    return {"email": ADMIN_EMAIL, "password": password, "api_key": issued.secret, "contacts": len(rows)}
