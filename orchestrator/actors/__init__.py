"""Dramatiq actors. Every module here is imported by `orchestrator.broker.setup_broker`."""
