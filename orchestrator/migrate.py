"""`chorus db upgrade` and friends: Alembic driven from Chorus's own config."""
from __future__ import annotations

from alembic import command
from alembic.config import Config


def alembic_config(url: str, connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "orchestrator:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=True)
