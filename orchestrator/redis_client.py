"""The app's Redis client (rate limits, frequency caps, pub/sub), created once per app."""
from __future__ import annotations

import redis
from flask import current_app


def get_redis(app=None) -> redis.Redis:
    app = app or current_app
    client = app.extensions.get("chorus_redis")
    if client is None:
        client = redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2,
                                      health_check_interval=30)
        app.extensions["chorus_redis"] = client
    return client


def redis_key(*parts: object, app=None) -> str:
    """Namespaced key, so several installs (or test runs) can share one Redis."""
    app = app or current_app
    return ":".join([app.config["QUEUE_NAMESPACE"], *map(str, parts)])
