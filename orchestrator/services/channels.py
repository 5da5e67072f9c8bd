"""The app's channel registry: the real adapter where credentials are configured, the sandbox
twin otherwise, built once per process and shared by every worker thread."""
from __future__ import annotations

import threading

from flask import current_app

from channels import ChannelRegistry, ChannelSettings, build_registry
from orchestrator.services.inbox import DbInboxStore
from orchestrator.services.outbox import DbOutboxSink

_lock = threading.Lock()


def channels_for(app=None) -> ChannelRegistry:
    app = app or current_app._get_current_object()
    registry = app.extensions.get("chorus_channels")
    if registry is None:
        with _lock:
            registry = app.extensions.get("chorus_channels")
            if registry is None:
                engine = app.extensions["chorus_engine"]
                registry = build_registry(app.config, outbox=DbOutboxSink(engine),
                                          inbox=DbInboxStore(engine, app),
                                          sandbox_only=bool(app.config.get("DEMO")))
                app.extensions["chorus_channels"] = registry
    return registry


def channel_settings(app=None) -> ChannelSettings:
    app = app or current_app
    return ChannelSettings.from_config(app.config)


def close_channels(app) -> None:
    """Close the providers' pools (process shutdown, tests that rebuild the registry)."""
    registry = app.extensions.pop("chorus_channels", None)
    if registry is not None:
        registry.close()
