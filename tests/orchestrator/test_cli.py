"""The `chorus` command: migrations, keys, users, config, and the demo seed."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
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
    listed = run_chorus(["api-keys", "list"], env)
    assert listed.returncode == 0, listed.stderr
    [row] = listed.stdout.strip().splitlines()
    key_id, kind, prefix, name, used, state = row.split("\t")
    assert (kind, name, used, state) == ("secret", "backend", "last used never", "active")
    assert secret.startswith(prefix + "_") and secret not in listed.stdout
    other = run_chorus(["api-keys", "create", "old-service"], env).stdout.strip().splitlines()[-1]
    old_id = run_chorus(["api-keys", "list"], env).stdout.strip().splitlines()[-1].split("\t")[0]
    revoked = run_chorus(["api-keys", "revoke", old_id], env)
    assert revoked.returncode == 0, revoked.stderr
    assert "\trevoked " in run_chorus(["api-keys", "list"], env).stdout.strip().splitlines()[-1]
    missing = run_chorus(["api-keys", "revoke", "999"], env)
    assert missing.returncode != 0 and "No API key 999" in missing.stderr
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
        assert authenticate(db.session, other) is None  # revoked
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


def test_a_worker_waits_on_the_doorbell_for_the_configured_poll():
    from orchestrator.cli import worker_process

    args, environ = worker_process(1, 8, "transactional", 1000)
    assert args[-2:] == ["--queues", "transactional"] and environ == {"dramatiq_worker_timeout": "1000"}
    args, environ = worker_process(2, 8, "default, bulk,webhooks", 250)
    assert args[-4:] == ["--queues", "default", "bulk", "webhooks"]
    assert environ == {"dramatiq_worker_timeout": "250"}
    procfile = (ROOT / "Procfile").read_text()
    assert "chorus worker --queues transactional" in procfile  # its own process: never behind a broadcast


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_chorus_demo_serves_the_ui_and_the_api_with_the_credentials_it_prints(tmp_path):
    """The README's first command, as a new user runs it: a fresh folder, no services, no settings."""
    import requests

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
    process = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "demo", "--port", str(port)], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "API key:" in line:
                break
        printed = "".join(lines)
        assert "sign in:" in printed, printed
        key = printed.split("API key:")[1].split()[0]
        base = f"http://127.0.0.1:{port}"
        # The credentials are printed just before the server binds its port.
        deadline = time.monotonic() + 60
        while True:
            try:
                assert requests.get(base + "/health", timeout=10).status_code == 200
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        contacts = requests.get(base + "/v1/contacts", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert contacts.status_code == 200 and len(contacts.json()["data"]) > 0
        assert requests.get(base + "/v1/contacts", timeout=10).status_code == 401
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 200 and "Sign in" in page.text
        assert (tmp_path / "instance").is_dir()  # the embedded database lives beside the user, not in the repo
        assert len((tmp_path / "instance" / "secret_key").read_text().strip()) >= 32  # its own random key
    finally:
        process.terminate()
        process.wait(20)


def test_the_demo_makes_its_secret_key_once_and_keeps_it_private(tmp_path):
    from orchestrator.cli import demo_secret_key, instance_folder

    folder = instance_folder(f"sqlite:///{tmp_path / 'demo' / 'chorus-demo.sqlite3'}")
    assert folder == tmp_path / "demo"
    key = demo_secret_key(folder)
    assert len(key) >= 32 and demo_secret_key(folder) == key
    assert (folder / "secret_key").stat().st_mode & 0o777 == 0o600
    assert demo_secret_key(tmp_path / "other") != key


def test_commands_refuse_to_start_production_without_a_secret_key(tmp_path):
    env = {"CHORUS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/chorus", "CHORUS_BROKER": "redis",
           "CHORUS_SECRET_KEY": ""}
    refused = run_chorus(["api-keys", "list"], env)
    assert refused.returncode != 0
    assert "CHORUS_SECRET_KEY is not set" in refused.stderr and "Traceback" not in refused.stderr


def test_the_scheduler_process_runs_its_periodic_jobs(tmp_path):
    import importlib

    from orchestrator.app import create_app
    from orchestrator.broker import actor_modules
    from orchestrator.scheduler import JOBS, run_due

    for name in actor_modules():  # what the worker's entry module loads: actors and periodic jobs
        importlib.import_module(name)

    url = f"sqlite:///{tmp_path / 'scheduler.sqlite3'}"
    assert run_chorus(["db", "upgrade"], {"CHORUS_DATABASE_URL": url}).returncode == 0
    app = create_app({"DATABASE_URL": url, "BROKER": "inprocess", "TESTING": True})
    from orchestrator.broker import activate_broker

    activate_broker(app)
    # Every job due now, whatever an embedded scheduler of another test in this process ran.
    saved = [job.next_at for job in JOBS]
    for job in JOBS:
        job.next_at = 0.0
    try:
        ran = run_due(app, now=time.monotonic())
    finally:
        for job, next_at in zip(JOBS, saved):
            job.next_at = next_at
    names = {job.name for job in JOBS}
    assert set(ran) == names and len(names) >= 6
    assert any(name.endswith("sweep_messages") for name in names)
    assert any(name.endswith("purge_idempotency_keys") for name in names)
    app.extensions["chorus_broker"].flush_all()


def test_the_demo_refuses_a_database_that_is_not_its_own_sqlite_file():
    refused = run_chorus(["demo"], {"CHORUS_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/production"})
    assert refused.returncode != 0 and "SQLite file of its own" in refused.stderr


@pytest.mark.parametrize("entry", ["orchestrator.worker", "orchestrator.wsgi"])
def test_the_process_entry_points_freeze_their_start_up_heap(tmp_path, entry):
    # Out of the collector's reach: full collections then scan only what requests make.
    env = {**os.environ, "CHORUS_DATABASE_URL": f"sqlite:///{tmp_path / 'entry.sqlite3'}", "CHORUS_BROKER": "inprocess",
           "CHORUS_SECRET_KEY": "entry-point-test-secret-key-0123456789"}
    probe = f"import gc, {entry}; print(gc.get_freeze_count())"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 50_000
