"""Triggered campaigns: an event starts a contact's entry, a delay passes, an exit event cancels.

Cart abandonment is the model: enter on `cart_updated`, send one hour later unless
`order_completed` happened in between. The shell records entries and calls, in order,
`matches` (on each incoming event), `should_enter` (given that contact's previous entries),
`due_at` (when to come back) and, when due, `should_exit` (given the events since entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from campaigns.errors import InvalidSetting
from campaigns.events import Event
from campaigns.filters import FilterError, PropertyFilter, matches_all, parse_filters

REENTRY_MODES = ("once", "every_time", "every_days")


class TriggerError(InvalidSetting):
    """A trigger rule that cannot be used; `field` names the offending part."""


@dataclass(frozen=True)
class EventMatch:
    """An event name plus property filters, e.g. order_completed where total >= 50."""

    name: str
    where: tuple[PropertyFilter, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TriggerError("event_name", "an event name is needed")
        object.__setattr__(self, "where", _filters(self.where))

    def matches(self, event_name: str, properties: Mapping[str, Any] | None) -> bool:
        return event_name == self.name and matches_all(self.where, properties)


@dataclass(frozen=True)
class Reentry:
    """May a contact enter again: never (`once`), on every trigger, or every N days."""

    mode: str = "once"
    every_days: int | None = None

    def __post_init__(self):
        if self.mode not in REENTRY_MODES:
            raise TriggerError("reentry", f"must be 'once', 'every_time' or {{'every_days': N}}")
        if (self.mode == "every_days") != (self.every_days is not None):
            raise TriggerError("reentry", "every_days goes with mode every_days only")
        if self.every_days is not None and (isinstance(self.every_days, bool) or not isinstance(self.every_days, int) or self.every_days < 1):
            raise TriggerError("reentry", "every_days must be a whole number of at least 1")

    @classmethod
    def parse(cls, raw: "str | Mapping[str, Any] | Reentry") -> "Reentry":
        if isinstance(raw, Reentry):
            return raw
        if isinstance(raw, Mapping):
            if set(raw) != {"every_days"}:
                raise TriggerError("reentry", "an object form takes exactly {'every_days': N}")
            return cls("every_days", raw["every_days"])
        if raw in ("once", "every_time"):
            return cls(raw)
        raise TriggerError("reentry", f"must be 'once', 'every_time' or {{'every_days': N}}, not {raw!r}")

    def to_json(self) -> str | dict[str, int]:
        return {"every_days": self.every_days} if self.mode == "every_days" else self.mode


@dataclass(frozen=True)
class TriggerRule:
    event_name: str
    where: tuple[PropertyFilter, ...] = ()
    delay_seconds: int = 0
    exit_event: EventMatch | None = None
    reentry: Reentry = Reentry()

    def __post_init__(self):
        EventMatch(self.event_name)  # same name rules
        object.__setattr__(self, "where", _filters(self.where))
        if isinstance(self.delay_seconds, bool) or not isinstance(self.delay_seconds, int) or self.delay_seconds < 0:
            raise TriggerError("delay_seconds", "must be a whole number of seconds, 0 or more")
        if isinstance(self.exit_event, Mapping):
            object.__setattr__(self, "exit_event", _event_match(self.exit_event))
        object.__setattr__(self, "reentry", Reentry.parse(self.reentry))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "TriggerRule":
        if not isinstance(raw, Mapping):
            raise TriggerError("trigger", "must be an object")
        unknown = set(raw) - {"event_name", "where", "delay_seconds", "exit_event", "reentry"}
        if unknown:
            raise TriggerError("trigger", f"unknown keys {sorted(unknown)}")
        return cls(
            event_name=raw.get("event_name"),
            where=raw.get("where") or (),
            delay_seconds=raw.get("delay_seconds", 0),
            exit_event=raw.get("exit_event"),
            reentry=raw.get("reentry", "once"),
        )

    def to_dict(self) -> dict[str, Any]:
        exit_event = None
        if self.exit_event is not None:
            exit_event = {"name": self.exit_event.name, "where": [f.to_dict() for f in self.exit_event.where]}
        return {
            "event_name": self.event_name,
            "where": [f.to_dict() for f in self.where],
            "delay_seconds": self.delay_seconds,
            "exit_event": exit_event,
            "reentry": self.reentry.to_json(),
        }


def matches(trigger: TriggerRule, event_name: str, properties: Mapping[str, Any] | None) -> bool:
    """Does this event start the trigger?"""
    return event_name == trigger.event_name and matches_all(trigger.where, properties)


def should_enter(trigger: TriggerRule, previous_entries: Iterable[datetime], now: datetime) -> bool:
    """May the contact enter now, given when it entered before?"""
    previous = list(previous_entries)
    if trigger.reentry.mode == "every_time" or not previous:
        return True
    if trigger.reentry.mode == "once":
        return False
    return now - max(previous) >= timedelta(days=trigger.reentry.every_days)


def should_exit(
    trigger: TriggerRule,
    events_since_entry: Iterable[Event],
    entered_at: datetime | None = None,
) -> bool:
    """Did an exit event happen since entry? Events before `entered_at`, when given, don't count."""
    if trigger.exit_event is None:
        return False
    return any(
        trigger.exit_event.matches(event.name, event.properties)
        for event in events_since_entry
        if entered_at is None or event.occurred_at >= entered_at
    )


def due_at(trigger: TriggerRule, occurred_at: datetime) -> datetime:
    """When the message for an entry at `occurred_at` is due."""
    return occurred_at + timedelta(seconds=trigger.delay_seconds)


def _filters(raw) -> tuple[PropertyFilter, ...]:
    try:
        return parse_filters(raw)
    except FilterError as error:
        raise TriggerError("where", str(error)) from None


def _event_match(raw: Mapping[str, Any]) -> EventMatch:
    unknown = set(raw) - {"name", "where"}
    if unknown:
        raise TriggerError("exit_event", f"unknown keys {sorted(unknown)}")
    try:
        return EventMatch(raw.get("name"), raw.get("where") or ())
    except TriggerError as error:
        raise TriggerError("exit_event", error.detail) from None
