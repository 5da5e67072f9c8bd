"""Delivery rates that do not read as failures: which channels get delivery receipts.

Sandbox twins never report delivery, and the in-app inbox does not either (a card is stored,
"sent"; being seen leaves the message's status alone). Their messages' 0% delivered is
"unknown", not "failed": rates here count only the channels that do report, and say which
were left out.
"""
from __future__ import annotations

from flask import current_app

from campaigns.stats import ratio
from orchestrator.services.channels import channels_for

CHANNEL_NAMES = {"sms": "SMS", "push": "Push", "email": "Email", "inapp": "In-app"}


def without_receipts(sandboxed: set[str] | None = None) -> dict[str, str]:
    """The channels whose messages never get a delivery receipt, each with why."""
    if sandboxed is None:
        sandboxed = set(channels_for(current_app).sandboxed())
    found = {channel: "sandbox" for channel in sandboxed}
    found.setdefault("inapp", "in-app")
    return found


def delivery_figures(channel_rows: list[dict], no_receipts: dict[str, str]) -> dict:
    """The delivery rate over the channels that report delivery; `channel_rows` have channel,
    sent, delivered and failed. With only the others the rate is unknown (None), not zero."""
    sent = [row for row in channel_rows if row["sent"]]
    left_out = [row["channel"] for row in sent if row["channel"] in no_receipts]
    counted = [row for row in sent if row["channel"] not in no_receipts]
    names = [f"sandbox {CHANNEL_NAMES.get(c, c)}" if no_receipts[c] == "sandbox" else CHANNEL_NAMES.get(c, c)
             for c in left_out]
    if not left_out:
        hint = None
    elif counted:
        hint = f"{', '.join(names)} left out: no delivery receipts"
    elif all(no_receipts[c] == "sandbox" for c in left_out):
        hint = "sandbox: no delivery receipts"
    else:
        hint = f"no delivery receipts from {', '.join(names)}"
    return {"rate": ratio(sum(r["delivered"] for r in counted), sum(r["sent"] for r in counted)) if counted else None,
            "delivered": sum(r["delivered"] for r in counted), "sent": sum(r["sent"] for r in counted),
            "failed": sum(r["failed"] for r in sent), "left_out": left_out,
            "sandbox_only": bool(sent) and not counted, "hint": hint}
