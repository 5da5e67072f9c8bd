"""Chorus's runtime: app factory, config, database, API, UI, webhooks, workers, CLI."""
from orchestrator.app import create_app

__all__ = ["create_app"]
