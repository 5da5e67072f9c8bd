"""The config table: environment variables parsed with types and defaults."""
from __future__ import annotations

import pytest

from orchestrator.config import (
    INSECURE_SECRET_KEY,
    SETTINGS,
    InsecureSecretKey,
    check_secret_key,
    from_environ,
    markdown_table,
    resolve_broker,
)


def test_defaults_give_the_embedded_mode_and_postgresql_gets_redis():
    values = from_environ({})
    assert values["DATABASE_URL"].startswith("sqlite:///")
    assert resolve_broker(values) == "inprocess"
    assert resolve_broker(from_environ({"CHORUS_DATABASE_URL": "postgresql+psycopg://db/chorus"})) == "redis"
    assert resolve_broker(from_environ({"CHORUS_DATABASE_URL": "postgresql+psycopg://db/chorus",
                                        "CHORUS_BROKER": "rabbitmq"})) == "rabbitmq"


def test_types_are_parsed_and_bad_values_name_the_variable():
    values = from_environ({"CHORUS_SMTP_PORT": "2525", "CHORUS_ALLOW_PRIVATE_WEBHOOK_URLS": "yes"})
    assert values["SMTP_PORT"] == 2525 and values["ALLOW_PRIVATE_WEBHOOK_URLS"] is True
    with pytest.raises(ValueError, match="CHORUS_SMTP_PORT"):
        from_environ({"CHORUS_SMTP_PORT": "many"})


def test_outside_the_embedded_mode_a_default_or_short_secret_key_is_refused():
    production = from_environ({"CHORUS_DATABASE_URL": "postgresql+psycopg://db/chorus"})
    with pytest.raises(InsecureSecretKey, match="CHORUS_SECRET_KEY is not set"):
        check_secret_key(production)
    with pytest.raises(InsecureSecretKey, match="CHORUS_SECRET_KEY is 5 characters long"):
        check_secret_key({**production, "SECRET_KEY": "bench"})
    with pytest.raises(InsecureSecretKey, match="CHORUS_SECRET_KEY"):
        check_secret_key({**production, "SECRET_KEY": "x" * 31})
    with pytest.raises(InsecureSecretKey, match="CHORUS_SECRET_KEY"):  # SQLite, but workers elsewhere
        check_secret_key(from_environ({"CHORUS_BROKER": "redis"}))
    check_secret_key({**production, "SECRET_KEY": "x" * 32})
    # Embedded: SQLite with in-process workers, `chorus demo`, tests.
    check_secret_key(from_environ({}))
    check_secret_key({**production, "DEMO": True})
    check_secret_key({**production, "SECRET_KEY": "short", "TESTING": True})


def test_create_app_refuses_to_start_with_the_default_secret_key():
    from orchestrator.app import create_app

    with pytest.raises(InsecureSecretKey, match="CHORUS_SECRET_KEY"):
        create_app({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/chorus", "BROKER": "redis",
                    "SECRET_KEY": INSECURE_SECRET_KEY})


def test_every_setting_is_in_the_readme_table():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert markdown_table() in readme, "regenerate with `chorus config --markdown`"
    assert "| `CHORUS_SECRET_KEY` | `` | **Required** outside the embedded mode" in readme
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)
    assert all(s.env.startswith("CHORUS_") for s in SETTINGS)


def test_nothing_else_reads_the_environment():
    """One config table: `os.environ` appears nowhere else in the runtime."""
    from pathlib import Path

    root = Path(__file__).parents[2]
    offenders = []
    for package in ("orchestrator", "channels", "templates", "campaigns"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            if ("os.environ" in text or "os.getenv" in text) and path.name not in {"config.py", "cli.py"}:
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
