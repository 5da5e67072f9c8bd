"""A `deliver_batch` job: a small JSON dict of ids and settings, read into a typed job.

The dict is what travels through the broker (campaign planning enqueues it; the transactional
API builds one for a single recipient). Keys:

| key | meaning |
|---|---|
| template_key, template_version_id | what to render (version id pins it; else the published one) |
| contact_ids | up to a few thousand contact ids |
| recipients | inline recipients instead, for the API: `[{"email"|"phone"|"push_token": ...}]` |
| channels, strategy | priority order and `all` / `first` / `fallback` |
| category, topic | `marketing` or `transactional`; the topic preferences are checked against |
| data | template data (`{{ data.x }}`), the same for the whole batch |
| campaign_id, step | campaign messages get `campaign:{id}:{step}:{contact}:{channel}` keys |
| key_prefix | other senders give their own unique prefix (`tx:{api_key}:{key}`) |
| variants | `{contact_id: variant}` when the planner assigned A/B variants |
| respect_caps, respect_quiet_hours, frequency_caps, quiet_hours | the send policy |
| send_at | ISO instant: record now, send then |
| priority | `high`: the sends go on the transactional queue whatever the category (API sends) |
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Mapping

from campaigns.decisions import FrequencyCap, PolicyError, QuietHours, SendPolicy


class JobError(ValueError):
    """A job dict the pipeline cannot run (a bug in whoever enqueued it)."""


@dataclass(frozen=True)
class DeliveryJob:
    template_key: str
    channels: tuple[str, ...]
    contact_ids: tuple[int, ...] = ()
    recipients: tuple[Mapping[str, Any], ...] = ()
    template_version_id: int | None = None
    strategy: str = "all"
    category: str = "marketing"
    topic: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    campaign_id: int | None = None
    step: str = "0"
    key_prefix: str | None = None
    variants: Mapping[int, str] = field(default_factory=dict)
    respect_caps: bool = True
    respect_quiet_hours: bool = True
    frequency_caps: tuple[FrequencyCap, ...] = ()
    quiet_hours: QuietHours | None = None
    send_at: datetime | None = None

    @classmethod
    def from_dict(cls, job: Mapping[str, Any]) -> "DeliveryJob":
        try:
            caps = tuple(FrequencyCap(int(c["max_messages"]), int(c["window_seconds"]),
                                      bool(c.get("per_channel", False)))
                         for c in job.get("frequency_caps") or ())
            quiet = job.get("quiet_hours")
            quiet_hours = QuietHours(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]),
                                     frozenset(quiet.get("channels") or ("sms", "push", "email", "inapp"))) \
                if quiet else None
            send_at = datetime.fromisoformat(job["send_at"]) if job.get("send_at") else None
            built = cls(
                template_key=str(job["template_key"]),
                template_version_id=job.get("template_version_id"),
                channels=tuple(job.get("channels") or ("push", "email", "sms", "inapp")),
                contact_ids=tuple(int(c) for c in job.get("contact_ids") or ()),
                recipients=tuple(job.get("recipients") or ()),
                strategy=job.get("strategy") or "all",
                category=job.get("category") or "marketing",
                topic=job.get("topic"),
                data=job.get("data") or {},
                campaign_id=job.get("campaign_id"),
                step=str(job.get("step", "0")),
                key_prefix=job.get("key_prefix"),
                variants={int(k): v for k, v in (job.get("variants") or {}).items()},
                respect_caps=bool(job.get("respect_caps", True)),
                respect_quiet_hours=bool(job.get("respect_quiet_hours", True)),
                frequency_caps=caps,
                quiet_hours=quiet_hours,
                send_at=send_at,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise JobError(f"bad deliver_batch job: {error}") from None
        if built.campaign_id is None and not built.key_prefix:
            raise JobError("a job needs a campaign_id or a key_prefix for its idempotency keys")
        if built.send_at is not None and built.send_at.tzinfo is None:
            raise JobError("send_at must carry a time zone")
        return built

    def policy(self, default_timezone: str = "UTC") -> SendPolicy:
        try:
            return SendPolicy(category=self.category, channels=self.channels, strategy=self.strategy,
                              topic=self.topic, respect_caps=self.respect_caps,
                              respect_quiet_hours=self.respect_quiet_hours, quiet_hours=self.quiet_hours,
                              frequency_caps=self.frequency_caps, default_timezone=default_timezone)
        except PolicyError as error:
            raise JobError(str(error)) from None

    def key_for(self, recipient_key: str | int, channel: str) -> str:
        """The message's idempotency key: a redelivered job finds the rows it wrote."""
        if self.campaign_id is not None:
            return f"campaign:{self.campaign_id}:{self.step}:{recipient_key}:{channel}"
        if len(self.contact_ids) + len(self.recipients) == 1:  # one API send: `tx:{api_key}:{key}:{channel}`
            return f"{self.key_prefix}:{channel}"
        return f"{self.key_prefix}:{recipient_key}:{channel}"
