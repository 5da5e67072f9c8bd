"""The `chorus` command."""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click


def _app():
    from orchestrator.app import create_app
    from orchestrator.config import InsecureSecretKey

    try:
        return create_app()
    except InsecureSecretKey as refused:
        raise click.ClickException(str(refused)) from None


@click.group()
def main() -> None:
    """Chorus: omnichannel messaging."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def demo(host: str, port: int) -> None:
    """Embedded mode: SQLite, in-process workers, sandbox channels, demo data."""
    os.environ.setdefault("CHORUS_DATABASE_URL", "sqlite:///instance/chorus-demo.sqlite3")
    if not os.environ["CHORUS_DATABASE_URL"].startswith("sqlite:"):
        # The demo seeds data, resets the demo admin's password and revokes demo keys: never
        # on a database that may be production's.
        raise click.ClickException("chorus demo runs on a SQLite file of its own; unset CHORUS_DATABASE_URL "
                                   "(or point it at sqlite:///path) to run the demo.")
    os.environ["CHORUS_BROKER"] = "inprocess"
    os.environ["CHORUS_DEMO"] = "true"
    if not os.environ.get("CHORUS_SECRET_KEY"):
        os.environ["CHORUS_SECRET_KEY"] = demo_secret_key(instance_folder(os.environ["CHORUS_DATABASE_URL"]))
    os.environ.setdefault("CHORUS_PUBLIC_URL", f"http://{host}:{port}")
    from werkzeug.serving import run_simple

    from orchestrator import demo as demo_data
    from orchestrator.db import db
    from orchestrator.migrate import upgrade
    from orchestrator.runtime import start_embedded_services

    app = _app()
    upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        seeded = demo_data.seed(db.session)
        db.session.remove()
    start_embedded_services(app)
    click.echo(f"Chorus demo on http://{host}:{port}/  (database {app.config['DATABASE_URL']})")
    click.echo(f"  sign in:  {seeded['email']}  /  {seeded['password']}")
    click.echo(f"  API key:  {seeded['api_key']}")
    click.echo(f"  try:      curl -H 'Authorization: Bearer {seeded['api_key']}' http://{host}:{port}/v1/contacts")
    run_simple(host, port, app, threaded=True, use_reloader=False)


def instance_folder(database_url: str) -> Path:
    """Where the demo keeps its files: beside its SQLite database (`instance/` by default)."""
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        return Path(database_url.removeprefix("sqlite:///")).expanduser().parent
    return Path("instance")


def demo_secret_key(folder: Path) -> str:
    """The demo's own random SECRET_KEY, made on first run and kept (owner-only) in `folder`,
    so sessions and signed links survive a restart and no two installs share a key."""
    path = folder / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another demo process made it meanwhile
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


@main.command()
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
def web(bind: str, workers: int) -> None:
    """Serve the API and UI with gunicorn."""
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
                               "--access-logfile", "-", "orchestrator.wsgi:app"])


@main.command()
@click.option("--processes", default=2, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--queues", default="", help="Comma-separated queues (default: all).")
def worker(processes: int, threads: int, queues: str) -> None:
    """Run Dramatiq worker processes against the configured broker."""
    from orchestrator.config import from_environ

    args, environ = worker_process(processes, threads, queues, from_environ()["WORKER_POLL_MS"])
    os.environ.update(environ)
    os.execvp(args[0], args)


def worker_process(processes: int, threads: int, queues: str, poll_ms: int) -> tuple[list[str], dict[str, str]]:
    """The `dramatiq` command line and the variables it needs.

    An idle consumer waits on its queue's doorbell up to Dramatiq's worker timeout (read from
    `dramatiq_worker_timeout` when dramatiq.worker is imported; its CLI has no flag) before it
    looks at the queue anyway: `poll_ms`."""
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    args = [sys.executable, "-m", "dramatiq", "orchestrator.worker", "--processes", str(processes),
            "--threads", str(threads)]
    if chosen:
        args += ["--queues", *chosen]
    return args, {"dramatiq_worker_timeout": str(poll_ms)}


@main.command()
def scheduler() -> None:
    """Run periodic jobs: the sweeper, due campaigns, delayed triggers."""
    from orchestrator.scheduler import run_forever

    run_forever(_app())


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations (SQLite or PostgreSQL)."""
    from orchestrator.config import from_environ
    from orchestrator.migrate import upgrade

    url = from_environ()["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url, revision)
    click.echo(f"database at {revision}")


@db_group.command("revision")
@click.argument("message")
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models against the configured database (at head)."""
    from orchestrator.config import from_environ
    from orchestrator.migrate import revision

    revision(from_environ()["DATABASE_URL"], message)


@main.group("api-keys")
def api_keys() -> None:
    """Secret API keys for backend services."""


@api_keys.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice(["secret", "publishable"]), default="secret")
def api_keys_create(name: str, kind: str) -> None:
    """Create a key; the secret is printed once, as the last line."""
    from orchestrator.db import db
    from orchestrator.services.api_keys import create_api_key

    app = _app()
    with app.app_context():
        issued = create_api_key(db.session, name, kind)
        db.session.commit()
        click.echo(f"created {kind} key #{issued.key.id} {issued.key.prefix} ({name}); it is shown only now:",
                   err=True)
    click.echo(issued.secret)


@api_keys.command("list")
def api_keys_list() -> None:
    """Every key: id, kind, prefix, name, last use, revoked (never a secret: none is kept)."""
    from orchestrator.db import db
    from orchestrator.services.api_keys import list_api_keys

    app = _app()
    with app.app_context():
        for key in list_api_keys(db.session):
            used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            state = f"revoked {key.revoked_at.isoformat(timespec='seconds')}" if key.revoked_at else "active"
            click.echo(f"{key.id}\t{key.kind}\t{key.prefix}\t{key.name}\tlast used {used}\t{state}")


@api_keys.command("revoke")
@click.argument("key_id", type=int)
def api_keys_revoke(key_id: int) -> None:
    """Revoke a key by its id (see `chorus api-keys list`); requests with it get 401 at once."""
    from orchestrator.db import db
    from orchestrator.errors import ChorusError
    from orchestrator.services.api_keys import revoke_api_key

    app = _app()
    with app.app_context():
        try:
            revoke_api_key(db.session, key_id)
        except ChorusError as exc:
            raise click.ClickException(exc.detail) from None
        db.session.commit()
    click.echo(f"revoked key {key_id}")


@main.group()
def users() -> None:
    """Marketer accounts for the web UI."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "editor", "viewer"]), required=True)
@click.password_option(envvar="CHORUS_NEW_USER_PASSWORD")
def users_create(email: str, role: str, password: str) -> None:
    from orchestrator.db import db
    from orchestrator.errors import ChorusError
    from orchestrator.services.users import create_user

    app = _app()
    with app.app_context():
        try:
            user = create_user(db.session, email, password, role)
        except ChorusError as exc:
            raise click.ClickException(exc.detail) from None
        db.session.commit()
        click.echo(f"created {user.role} {user.email}")


@main.command("config")
@click.option("--markdown", is_flag=True, help="Print the settings table for the README.")
def show_config(markdown: bool) -> None:
    """Show every CHORUS_* setting."""
    from orchestrator.config import SETTINGS, from_environ, markdown_table

    if markdown:
        click.echo(markdown_table())
        return
    values = from_environ()
    for setting in SETTINGS:
        value = "***" if setting.secret and values[setting.key] else values[setting.key]
        click.echo(f"{setting.env}={value}")


if __name__ == "__main__":
    main()
