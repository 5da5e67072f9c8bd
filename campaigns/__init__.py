"""Campaign logic as plain functions and dataclasses: who gets what, when, on which channel,
and how it did. No Flask, no Dramatiq, no database session; `now` is always an argument."""

from campaigns.conversions import Conversion, Goal, GoalError, Send, attribute, tally
from campaigns.cron import Cron, CronError, next_run, parse_cron
from campaigns.errors import InvalidSetting
from campaigns.decisions import (
    CHANNELS,
    Decision,
    FrequencyCap,
    PolicyError,
    QuietHours,
    RecentSends,
    Recipient,
    RecipientDecision,
    SendPolicy,
    cap_windows,
    decide,
    decide_channel,
    next_fallback,
)
from campaigns.events import Event
from campaigns.filters import FilterError, PropertyFilter, matches_all, parse_filters
from campaigns.lifecycle import Action, InvalidTransition, Status, allowed_actions, transition
from campaigns.schedules import (
    Recurring,
    Schedule,
    ScheduleError,
    SendAt,
    SendInLocalTime,
    SendNow,
    local_send_time,
    schedule_from_dict,
    schedule_to_dict,
    send_time,
)
from campaigns.stats import Counts, Lift, Rates, StatsError, lift, rates, totals_by
from campaigns.throttle import Batch, ThrottleError, batch_schedule, delay_for_batch
from campaigns.triggers import (
    EventMatch,
    Reentry,
    TriggerError,
    TriggerRule,
    due_at,
    should_enter,
    should_exit,
)
from campaigns.triggers import matches as trigger_matches
from campaigns.variants import HOLDOUT, VariantError, assign, bucket

__all__ = [
    "Conversion", "Goal", "GoalError", "Send", "attribute", "tally",
    "Cron", "CronError", "next_run", "parse_cron",
    "CHANNELS", "Decision", "FrequencyCap", "PolicyError", "QuietHours", "RecentSends",
    "Recipient", "RecipientDecision", "SendPolicy", "cap_windows", "decide", "decide_channel",
    "next_fallback",
    "Event", "InvalidSetting",
    "FilterError", "PropertyFilter", "matches_all", "parse_filters",
    "Action", "InvalidTransition", "Status", "allowed_actions", "transition",
    "Recurring", "Schedule", "ScheduleError", "SendAt", "SendInLocalTime", "SendNow",
    "local_send_time", "schedule_from_dict", "schedule_to_dict", "send_time",
    "Counts", "Lift", "Rates", "StatsError", "lift", "rates", "totals_by",
    "Batch", "ThrottleError", "batch_schedule", "delay_for_batch",
    "EventMatch", "Reentry", "TriggerError", "TriggerRule", "due_at", "should_enter",
    "should_exit", "trigger_matches",
    "HOLDOUT", "VariantError", "assign", "bucket",
]

# The segments subpackage keeps its own export list.
from campaigns import segments as _segments  # noqa: E402
from campaigns.segments import *  # noqa: E402,F401,F403

__all__ += _segments.__all__
