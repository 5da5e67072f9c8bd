"""The `chorus` command: migrations, keys, users, config, and the demo seed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from orchestrator.cli import main
from orchestrator.db import db
from orchestrator.demo import seed
from orchestrator.models import ApiKey, Contact, Event, Topic, User
from orchestrator.services.api_keys import authenticate
from orchestrator.services.users import verify_login

ROOT = Path(__file__).parents[2]


def run_chorus(args, env_extra, input=None):
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, input=input, timeout=120)


def test_db_upgrade_then_keys_and_users_from_the_command_line(tmp_path):
    env = {"CHORUS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}", "CHORUS_BROKER": "inprocess"}
    done = run_chorus(["db", "upgrade"], env)
    assert done.returncode == 0, done.stderr
    created = run_chorus(["api-keys", "create", "backend"], env)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("chs_")
    user = run_chorus(["users", "create", "Ops@Example.com", "--role", "editor"],
                      {**env, "CHORUS_NEW_USER_PASSWORD": "correct horse battery"})
    assert user.returncode == 0, user.stderr
    assert "created editor ops@example.com" in user.stdout
    refused = run_chorus(["users", "create", "x@example.com", "--role", "editor"],
                         {**env, "CHORUS_NEW_USER_PASSWORD": "short"})
    assert refused.returncode != 0 and "10 characters" in refused.stderr

    from orchestrator.app import create_app

    app = create_app({"DATABASE_URL": env["CHORUS_DATABASE_URL"]})
    with app.app_context():
        assert authenticate(db.session, secret) is not None
        assert verify_login(db.session, "ops@example.com", "correct horse battery").role == "editor"
        assert verify_login(db.session, "ops@example.com", "wrong password!") is None


def test_config_lists_settings_and_hides_secrets():
    result = CliRunner().invoke(main, ["config"], env={"CHORUS_SMTP_PASSWORD": "hunter2hunter2"})
    assert result.exit_code == 0
    assert "CHORUS_SMTP_PASSWORD=***" in result.output
    assert "hunter2" not in result.output


def test_demo_seed_is_repeatable_and_gives_working_credentials(app):
    first = seed(db.session)
    second = seed(db.session)
    assert db.session.scalar(select(func.count(Contact.id))) == first["contacts"] == 60
    assert db.session.scalar(select(func.count(Topic.id))) == 3
    assert db.session.scalar(select(func.count(User.id))) == 1
    events = db.session.scalar(select(func.count(Event.id)))
    assert events > 0
    third = seed(db.session)
    assert db.session.scalar(select(func.count(Event.id))) == events, "event ids de-duplicate"
    assert verify_login(db.session, first["email"], third["password"]) is not None
    assert verify_login(db.session, first["email"], second["password"]) is None
    assert authenticate(db.session, second["api_key"]) is None, "each run revokes the previous demo key"
    assert authenticate(db.session, third["api_key"]) is not None
    assert db.session.scalar(select(func.count(ApiKey.id)).where(ApiKey.revoked_at.is_(None))) == 1


def test_a_worker_with_the_transactional_queue_polls_it_every_few_milliseconds():
    from orchestrator.cli import IDLE_POLL_MS, worker_process

    args, environ = worker_process(1, 8, "transactional", 10)
    assert args[-2:] == ["--queues", "transactional"] and environ == {"dramatiq_worker_timeout": "10"}
    assert worker_process(2, 8, "", 10)[1] == {"dramatiq_worker_timeout": "10"}  # all queues, OTPs included
    args, environ = worker_process(2, 8, "default, bulk,webhooks", 10)
    assert args[-4:] == ["--queues", "default", "bulk", "webhooks"]
    assert environ == {"dramatiq_worker_timeout": str(IDLE_POLL_MS)}
    procfile = (ROOT / "Procfile").read_text()
    assert "chorus worker --queues transactional" in procfile  # its own process: never behind a broadcast
