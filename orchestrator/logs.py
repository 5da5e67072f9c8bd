"""Structured logs: one JSON object a line in production, readable text locally."""
from __future__ import annotations

import json
import logging
import sys

# Carried when present; a token, key or message body never is.
CONTEXT_FIELDS = ("message_id", "campaign_id", "contact_id", "job", "channel")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(app) -> None:
    root = logging.getLogger()
    if getattr(root, "_chorus_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    if app.config["LOG_FORMAT"] == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    root._chorus_configured = True
