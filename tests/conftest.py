"""Shared fixtures: apps on SQLite and on a real PostgreSQL, Redis, API clients.

Real-service tests skip on a laptop without the service and fail under CI=true (as Dramatiq's
own conftest does). Each test session gets its own PostgreSQL database and Redis namespace, so
parallel runs (xdist workers, several checkouts) never see each other's rows.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from orchestrator.app import create_app
from orchestrator.broker import activate_broker
from orchestrator.db import db
from orchestrator.models import metadata
from orchestrator.services.api_keys import create_api_key

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("CHORUS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CHORUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Long enough for the production check (processes started without TESTING run it).
SECRET_KEY = "chorus-tests-secret-key-not-for-production"


def unavailable(service: str, why: str):
    message = f"{service} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: real services are required)")
    pytest.skip(message)


def _session_tag(request) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return f"{os.getpid()}_{worker}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def postgres_url(request):
    """A fresh, migrated PostgreSQL database for this test session."""
    name = f"chorus_test_{_session_tag(request)}"
    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        unavailable("PostgreSQL", str(exc).splitlines()[0])
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    create_schema(url)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'chorus.sqlite3'}"
    create_schema(url)
    return url


@pytest.fixture(scope="session")
def redis_url(request):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError as exc:
        unavailable("Redis", str(exc))
    return REDIS_URL


def create_schema(url: str) -> None:
    """Tables straight from the models (fast); tests/orchestrator/test_migrations.py proves the
    Alembic migrations build the same schema on both databases."""
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    engine.dispose()


def base_config(database_url: str, **overrides) -> dict:
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "BROKER": "inprocess",
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_URL": "https://chorus.test",
        "QUEUE_NAMESPACE": f"chorus-test-{uuid.uuid4().hex[:8]}",
        "REDIS_URL": REDIS_URL,
    }
    config.update(overrides)
    return config


def reset_database(engine: sa.Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(sa.text(f'DELETE FROM "{table}"'))


_apps: dict[str, object] = {}


def _shared_app(key: str, url: str):
    if key not in _apps:
        _apps[key] = create_app(base_config(url))
    app = _apps[key]
    activate_broker(app)
    reset_database(app.extensions["chorus_engine"])
    return app


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request):
    """The app on each database: tests using it run on SQLite and on PostgreSQL."""
    url = request.getfixturevalue(f"{request.param}_url")
    app = _shared_app(request.param, url)
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def sqlite_app(sqlite_url):
    app = _shared_app("sqlite", sqlite_url)
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def pg_app(postgres_url):
    app = _shared_app("postgres", postgres_url)
    with app.app_context():
        yield app
        db.session.remove()


class ApiClient:
    """The Flask test client with a secret key attached."""

    def __init__(self, client, key: str):
        self.client = client
        self.key = key

    def _headers(self, headers):
        merged = {"Authorization": f"Bearer {self.key}"}
        merged.update(headers or {})
        return merged

    def get(self, path, headers=None, **kw):
        return self.client.get(path, headers=self._headers(headers), **kw)

    def post(self, path, json=None, headers=None, **kw):
        return self.client.post(path, json=json, headers=self._headers(headers), **kw)

    def put(self, path, json=None, headers=None, **kw):
        return self.client.put(path, json=json, headers=self._headers(headers), **kw)

    def patch(self, path, json=None, headers=None, **kw):
        return self.client.patch(path, json=json, headers=self._headers(headers), **kw)

    def delete(self, path, headers=None, **kw):
        return self.client.delete(path, headers=self._headers(headers), **kw)


def make_api_client(app) -> ApiClient:
    issued = create_api_key(db.session, "tests")
    db.session.commit()
    return ApiClient(app.test_client(), issued.secret)


@pytest.fixture
def api(app):
    return make_api_client(app)


@pytest.fixture
def sqlite_api(sqlite_app):
    return make_api_client(sqlite_app)


@pytest.fixture
def pg_api(pg_app):
    return make_api_client(pg_app)


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@pytest.fixture
def no_proxy_environment(monkeypatch):
    """No proxy variable from the machine running the tests: a test sets the ones it needs."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
