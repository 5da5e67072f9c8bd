"""Alembic environment: the URL and (in tests) the connection come from Chorus, not alembic.ini."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import orchestrator.models  # noqa: F401  (registers every table on the metadata)
from orchestrator.models import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        _migrate(connection)


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
