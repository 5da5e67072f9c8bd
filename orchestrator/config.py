"""The one table of Chorus settings.

Every setting is a `CHORUS_*` environment variable with a type and a default. Nothing else in
Chorus reads `os.environ`; code asks the Flask app's config (or a `Settings` object built here).
The README's configuration table is generated from `SETTINGS` (`chorus config --markdown`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass(frozen=True)
class Setting:
    env: str
    key: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False
    # When it must be set (the README table says so); empty: never, the default always works.
    required: str = ""


INSECURE_SECRET_KEY = "dev-insecure-change-me"
MIN_SECRET_KEY_LENGTH = 32


class InsecureSecretKey(RuntimeError):
    """CHORUS_SECRET_KEY is the development default or too short outside the embedded mode."""


SETTINGS: tuple[Setting, ...] = (
    Setting("CHORUS_DATABASE_URL", "DATABASE_URL", str, "sqlite:///instance/chorus.sqlite3",
            "SQLAlchemy URL: `sqlite:///path` (embedded) or `postgresql+psycopg://user@host/db`."),
    Setting("CHORUS_REDIS_URL", "REDIS_URL", str, "redis://127.0.0.1:6379/0",
            "Redis for the broker, rate limits, frequency caps and the in-app stream."),
    Setting("CHORUS_BROKER", "BROKER", str, "auto",
            "`redis`, `rabbitmq`, or `inprocess` (worker threads inside the web process). `auto`: "
            "`inprocess` on SQLite (embedded), `redis` on PostgreSQL (production)."),
    Setting("CHORUS_RABBITMQ_URL", "RABBITMQ_URL", str, "amqp://guest:guest@127.0.0.1:5672/%2F",
            "AMQP URL when `CHORUS_BROKER=rabbitmq`."),
    Setting("CHORUS_QUEUE_NAMESPACE", "QUEUE_NAMESPACE", str, "chorus",
            "Prefix of Chorus's Redis keys and queue names; lets several installs share a Redis."),
    Setting("CHORUS_SECRET_KEY", "SECRET_KEY", str, INSECURE_SECRET_KEY,
            f"Signs sessions, tracking and unsubscribe links, inbox user hashes. At least {MIN_SECRET_KEY_LENGTH} "
            "random characters (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`): Chorus refuses "
            "to start with a shorter one or the development default. `chorus demo` makes one and keeps it in "
            "its instance folder.",
            secret=True, required="outside the embedded mode (SQLite with the `inprocess` broker)"),
    Setting("CHORUS_PUBLIC_URL", "PUBLIC_URL", str, "http://127.0.0.1:5000",
            "Base URL providers and recipients reach Chorus at (webhooks, links)."),
    Setting("CHORUS_INPROCESS_WORKER_THREADS", "INPROCESS_WORKER_THREADS", int, 4,
            "Worker threads started inside the web process in `inprocess` broker mode."),
    Setting("CHORUS_MAX_REQUEST_BYTES", "MAX_CONTENT_LENGTH", int, 16 * 1024 * 1024,
            "Largest request body accepted; larger ones get 413."),
    Setting("CHORUS_DEFAULT_PHONE_REGION", "DEFAULT_PHONE_REGION", str, "US",
            "Region used to read phone numbers written without a country code."),
    Setting("CHORUS_DEFAULT_TIMEZONE", "DEFAULT_TIMEZONE", str, "UTC",
            "Time zone assumed for contacts without one (quiet hours, local-time sends)."),
    Setting("CHORUS_LOG_FORMAT", "LOG_FORMAT", str, "text",
            "`json` for one JSON object a line (production) or `text`."),
    Setting("CHORUS_LOG_LEVEL", "LOG_LEVEL", str, "INFO", "Python logging level."),
    Setting("CHORUS_SESSION_COOKIE_SECURE", "SESSION_COOKIE_SECURE", _bool, False,
            "Send the UI session cookie over HTTPS only (set true behind TLS)."),
    Setting("CHORUS_SESSION_HOURS", "SESSION_HOURS", int, 12,
            "How long a UI sign-in lasts, counted from signing in."),
    Setting("CHORUS_RATELIMIT_STORAGE_URL", "RATELIMIT_STORAGE_URI", str, "memory://",
            "Storage for API rate limits (`redis://…` when several web processes run)."),
    Setting("CHORUS_TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID", str, "", "Twilio account SID."),
    Setting("CHORUS_TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN", str, "",
            "Twilio auth token (also verifies Twilio webhooks).", secret=True),
    Setting("CHORUS_TWILIO_MESSAGING_SERVICE_SID", "TWILIO_MESSAGING_SERVICE_SID", str, "",
            "Twilio Messaging Service SID (preferred over a from-number)."),
    Setting("CHORUS_TWILIO_FROM_NUMBER", "TWILIO_FROM_NUMBER", str, "", "Sender number in E.164."),
    Setting("CHORUS_TWILIO_API_URL", "TWILIO_API_URL", str, "",
            "Override of https://api.twilio.com (tests and benchmarks point it at a loopback server)."),
    Setting("CHORUS_SMS_HELP_TEXT", "SMS_HELP_TEXT", str,
            "Reply STOP to unsubscribe, START to resubscribe.", "Answer to an inbound HELP."),
    Setting("CHORUS_FCM_SERVICE_ACCOUNT", "FCM_SERVICE_ACCOUNT", str, "",
            "Path to (or JSON of) a Firebase service-account key.", secret=True),
    Setting("CHORUS_FCM_API_URL", "FCM_API_URL", str, "",
            "Override of https://fcm.googleapis.com (tests and benchmarks only)."),
    Setting("CHORUS_SMTP_HOST", "SMTP_HOST", str, "", "SMTP server host; empty means sandbox email."),
    Setting("CHORUS_SMTP_PORT", "SMTP_PORT", int, 587, "SMTP port."),
    Setting("CHORUS_SMTP_SECURITY", "SMTP_SECURITY", str, "starttls", "`starttls`, `ssl` or `none`."),
    Setting("CHORUS_SMTP_USERNAME", "SMTP_USERNAME", str, "", "SMTP user."),
    Setting("CHORUS_SMTP_PASSWORD", "SMTP_PASSWORD", str, "", "SMTP password.", secret=True),
    Setting("CHORUS_EMAIL_FROM_ADDRESS", "EMAIL_FROM_ADDRESS", str, "",
            "Default sender address; SMTP stays in sandbox until this and the host are set."),
    Setting("CHORUS_EMAIL_FROM_NAME", "EMAIL_FROM_NAME", str, "Chorus", "Default sender name."),
    Setting("CHORUS_ALLOW_PRIVATE_WEBHOOK_URLS", "ALLOW_PRIVATE_WEBHOOK_URLS", _bool, False,
            "Allow outbound webhooks to loopback and private networks (off: SSRF guard)."),
    Setting("CHORUS_MESSAGE_MAX_AGE", "MESSAGE_MAX_AGE", int, 24 * 3600,
            "Seconds a message keeps being retried after transient errors; then it fails as `expired` (a dead letter)."),
    Setting("CHORUS_RETRY_BACKOFF_SECONDS", "RETRY_BACKOFF_SECONDS", float, 10.0,
            "First retry delay after a transient send error; doubles per attempt (with jitter), up to an hour."),
    Setting("CHORUS_SENDING_TIMEOUT_SECONDS", "SENDING_TIMEOUT_SECONDS", int, 120,
            "A message still `sending` after this long belongs to a dead worker: the sweeper queues it again."),
    Setting("CHORUS_SWEEP_GRACE_SECONDS", "SWEEP_GRACE_SECONDS", int, 300,
            "A `queued` message this long past due is enqueued again by the sweeper (lost broker message)."),
    Setting("CHORUS_CHANNEL_RATES", "CHANNEL_RATES", str, "",
            "Per-channel send rates across all workers, messages/s, e.g. `sms=30,email=50` (default: each channel's own)."),
    Setting("CHORUS_CHANNELS_NULL", "CHANNELS_NULL", _bool, False,
            "Benchmarks only: every channel is a null adapter that accepts instantly and sends nothing."),
    Setting("CHORUS_WORKER_POLL_MS", "WORKER_POLL_MS", int, 1000,
            "An idle `chorus worker` sleeps on its queues' Redis doorbell, which every enqueue rings, and looks "
            "at the queues anyway this often (ms): the longest wait of a message Dramatiq put back after a "
            "crashed worker. Also how soon a stopping worker notices."),
    Setting("CHORUS_WEBHOOK_TIMEOUT_SECONDS", "WEBHOOK_TIMEOUT_SECONDS", float, 10.0,
            "Timeout of one outbound webhook delivery."),
    Setting("CHORUS_DEMO", "DEMO", _bool, False, "Embedded demo mode (set by `chorus demo`)."),
)


def from_environ(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Read every setting from the environment, parsed, with defaults for what is unset."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None:
            values[setting.key] = setting.default
            continue
        try:
            values[setting.key] = setting.parse(raw)
        except ValueError as exc:
            raise ValueError(f"{setting.env}: {exc}") from None
    return values


def resolve_broker(values: dict[str, Any]) -> str:
    if values["BROKER"] != "auto":
        return values["BROKER"]
    return "inprocess" if values["DATABASE_URL"].startswith("sqlite") else "redis"


def embedded(values: dict[str, Any]) -> bool:
    """The zero-set-up mode: SQLite and in-process workers on one machine, `chorus demo`, or tests."""
    if values.get("TESTING") or values.get("DEMO"):
        return True
    return values["DATABASE_URL"].startswith("sqlite") and resolve_broker(values) == "inprocess"


def check_secret_key(values: dict[str, Any]) -> None:
    """Refuse a guessable SECRET_KEY outside the embedded mode: sessions, unsubscribe links and
    inbox user hashes signed with it could be forged by anyone who knows (or guesses) it."""
    if embedded(values):
        return
    key = values.get("SECRET_KEY") or ""
    if not key or key == INSECURE_SECRET_KEY:
        problem = "is not set (or is the development default)"
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problem = f"is {len(key)} characters long"
    else:
        return
    raise InsecureSecretKey(
        f"CHORUS_SECRET_KEY {problem}: set it to at least {MIN_SECRET_KEY_LENGTH} random characters, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`. It signs sessions, tracking and "
        "unsubscribe links and inbox user hashes, which a known or short key lets anyone forge. Only the "
        "embedded mode (SQLite with the in-process broker, or `chorus demo`) starts without one.")


def markdown_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = "" if s.secret and s.default else s.default
        meaning = f"**Required** {s.required}. {s.help}" if s.required else s.help
        rows.append(f"| `{s.env}` | `{default}` | {meaning} |")
    return "\n".join(rows)
