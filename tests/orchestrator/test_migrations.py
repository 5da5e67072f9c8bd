"""Alembic migrations build exactly the models' schema, on SQLite and on PostgreSQL."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from orchestrator.migrate import alembic_config
from orchestrator.models import metadata
from tests.conftest import PG_ADMIN_URL, unavailable


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
        return
    name = f"chorus_migrate_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        unavailable("PostgreSQL", str(exc).splitlines()[0])
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def drift(url: str) -> list:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    engine.dispose()
    return differences


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(empty_database):
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    assert drift(empty_database) == [], "a model changed without a migration: add one (chorus db revision)"
    command.downgrade(config, "base")
    engine = sa.create_engine(empty_database)
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    command.upgrade(config, "head")
    assert drift(empty_database) == []


@pytest.mark.postgres
def test_the_sweeper_index_is_partial_on_postgresql(postgres_url, tmp_path):
    """Autogenerate does not compare index conditions, so this one is checked by name."""
    url = postgres_url.rsplit("/", 1)[0] + "/" + f"chorus_partial_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        command.upgrade(alembic_config(url), "head")
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            definition = connection.execute(sa.text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_messages_status_next_attempt'")).scalar()
        engine.dispose()
        assert "WHERE" in definition and "deferred" in definition
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
