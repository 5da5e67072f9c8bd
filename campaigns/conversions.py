"""Conversion attribution: which message gets the credit for a goal event.

Rule: last touch within the window. A goal event (say `order_completed` with total >= 20)
converts the latest send of a campaign that went out at most `window_hours` before it; a
send at the same instant counts. Each goal event converts at most once per campaign, so a
contact reached on three channels is one conversion for the channel that reached them last;
the same event may still convert for two different campaigns. Two goal events (two orders)
are two conversions.

Holdout members get no message but must convert by the same rule for lift to be fair: the
shell passes their holdout record (variant 'holdout', no channel, at the time they would
have been sent) as a send. Skipped and failed messages are not sends; leave them out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from campaigns.errors import InvalidSetting
from campaigns.events import Event
from campaigns.filters import FilterError, PropertyFilter, matches_all, parse_filters


class GoalError(InvalidSetting):
    """A conversion goal that cannot be used; `field` names the offending part."""


@dataclass(frozen=True)
class Send:
    sent_at: datetime
    campaign_id: Any
    variant: str | None = None
    channel: str | None = None
    message_id: Any = None


@dataclass(frozen=True)
class Goal:
    event_name: str
    where: tuple[PropertyFilter, ...] = ()
    window_hours: float = 24

    def __post_init__(self):
        if not isinstance(self.event_name, str) or not self.event_name:
            raise GoalError("event_name", "a goal needs an event name")
        if isinstance(self.window_hours, bool) or not isinstance(self.window_hours, (int, float)) or self.window_hours <= 0:
            raise GoalError("window_hours", "must be a positive number of hours")
        try:
            object.__setattr__(self, "where", parse_filters(self.where))
        except FilterError as error:
            raise GoalError("where", str(error)) from None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Goal":
        return cls(raw.get("event_name"), raw.get("where") or (), raw.get("window_hours", 24))

    def to_dict(self) -> dict[str, Any]:
        return {"event_name": self.event_name, "where": [f.to_dict() for f in self.where], "window_hours": self.window_hours}

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    def matches(self, event: Event) -> bool:
        return event.name == self.event_name and matches_all(self.where, event.properties)


@dataclass(frozen=True)
class Conversion:
    send: Send
    event: Event


def attribute(sends: Iterable[Send], events: Iterable[Event], goal: Goal) -> list[Conversion]:
    """One contact's conversions: for each goal event, the last send of each campaign in the window.

    Conversions come in event-time order (one event's campaigns in the order they first sent).
    Sends at the very same instant are told apart by input order: the later one wins.
    """
    ordered = sorted(enumerate(sends), key=lambda pair: (pair[1].sent_at, pair[0]))
    conversions = []
    for event in sorted((e for e in events if goal.matches(e)), key=lambda e: e.occurred_at):
        latest: dict[Any, Send] = {}
        for _, send in ordered:
            if send.sent_at > event.occurred_at:
                break
            if event.occurred_at - send.sent_at <= goal.window:
                latest[send.campaign_id] = send
        conversions.extend(Conversion(send, event) for send in latest.values())
    return conversions


def tally(conversions: Iterable[Conversion]) -> Counter:
    """Conversions counted per (campaign_id, variant, channel), ready for the results table."""
    return Counter((c.send.campaign_id, c.send.variant, c.send.channel) for c in conversions)
