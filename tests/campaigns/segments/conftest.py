"""Databases for segment tests: in-memory SQLite always, plus the session's PostgreSQL
database (tests/conftest.py creates and drops it; it skips without PostgreSQL unless CI=true).
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from orchestrator.models import metadata
from tests.campaigns.segments.population import SEGMENT_TABLE_NAMES, clear


@pytest.fixture(scope="session")
def segment_tables():
    from campaigns.segments import SegmentTables

    return SegmentTables(**{name: metadata.tables[name] for name in SEGMENT_TABLE_NAMES})


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def segment_db(request) -> sa.Engine:
    """An engine with the contact tables, emptied before and after the module."""
    if request.param == "sqlite":
        engine = sa.create_engine("sqlite://", poolclass=StaticPool)
        metadata.create_all(engine, tables=[metadata.tables[n] for n in SEGMENT_TABLE_NAMES])
    else:
        engine = sa.create_engine(request.getfixturevalue("postgres_url"))
    with engine.begin() as connection:
        clear(connection)
    yield engine
    with engine.begin() as connection:
        clear(connection)
    engine.dispose()
