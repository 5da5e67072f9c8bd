"""Numbers that texted STOP (or that the carrier reports as opted out), whoever they belong to.

The contact flag `sms_opted_out` says a known person switched SMS off; this list says a number
did, so a STOP from someone who is not a contact (yet) still counts, inline `to.phone` sends
consult it, and a contact created later with the number starts opted out.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models.base import Model, UtcDateTime, utcnow


class SmsOptOut(Model):
    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)  # E.164
    opted_out_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    # `inbound_sms` (a STOP), `twilio_error` (a 21610 callback), `provider` (a 21610 send error).
    source: Mapped[str] = mapped_column(String(32), nullable=False)
