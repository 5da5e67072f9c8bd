"""The campaign builder's forms ⇄ the API's campaign body, one step at a time.

`step_body(step, form)` is the patch body a step's form makes, to be loaded with the API's
`CampaignPatchSchema`; `step_values(described)` fills the forms from a campaign as the
service describes it, so what the API stored shows and is saved back unchanged;
`input_for(path)` names the input an API error path (`trigger.reentry`,
`frequency_caps.0.window_seconds`) belongs to. Nothing here judges a value: blank, malformed
or out-of-range inputs go through as typed, and the schema says what is wrong.

The schedule step sends `schedule` or `trigger` and the other as null, so a campaign moves
between scheduled and triggered in one save.
"""
from __future__ import annotations

import math
import re
from typing import Mapping

from campaigns.filters import OPS as FILTER_OPS
from orchestrator.models import CHANNEL_KEYS
from orchestrator.web.forms import flat_rows, indexed_rows, list_text, list_value, typed_value, value_text

MAX_VARIANTS = 4
SCHEDULE_KINDS = ("now", "at", "local_time", "recurring", "event")
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
FILTER_LISTS = ("trigger_where", "exit_where", "goal_where")
ROW_LISTS = FILTER_LISTS + ("cap",)
# The property filters of triggers and goals (campaigns.filters); "is not set" is
# `exists` with value false.
FILTER_OP_NAMES = {"eq": "=", "neq": "≠", "in": "is one of", "contains": "contains", "gt": ">", "gte": "≥",
                   "lt": "<", "lte": "≤", "exists": "is set", "not_exists": "is not set"}
assert set(FILTER_OP_NAMES) == set(FILTER_OPS) | {"not_exists"}
REENTRY = ("once", "every_time", "every_days")


def _text(form: Mapping, name: str) -> str:
    return str(form.get(name) or "").strip()


def _int(text: str | None):
    text = (text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else (text or None)


def _number(text: str | None):
    """A finite number, or the text as typed (`abc`, `nan`, `1e999`) for the schema to refuse."""
    text = (text or "").strip()
    try:
        number = float(text) if text else None
    except ValueError:
        return text
    return number if number is None or math.isfinite(number) else text


def seconds(amount: str | None, unit: str | None):
    """`1.5` hours → 5400; a non-number goes through as typed, for the schema to refuse."""
    amount = (amount or "").strip()
    number = _number(amount)
    if not isinstance(number, float):
        return number
    total = number * UNITS.get(unit or "", 60)
    return int(round(total))


def duration(total_seconds: int | None, default_unit: str = "minutes") -> tuple[str, str]:
    """(amount, unit) in the largest unit that divides it: 3600 → ("1", "hours")."""
    if not total_seconds:
        return "", default_unit
    for unit in ("days", "hours", "minutes", "seconds"):
        if total_seconds % UNITS[unit] == 0:
            return str(total_seconds // UNITS[unit]), unit
    return str(total_seconds), "seconds"


# Property filters (trigger, exit event, goal) -----------------------------------------------

def filters_body(form: Mapping, prefix: str) -> list[dict]:
    where = []
    for row in indexed_rows(form, prefix):
        op = (row.get("op") or "eq").strip()
        text = str(row.get("value") or "")
        item = {"property": str(row.get("property") or "").strip(), "op": op}
        if op in ("exists", "not_exists"):
            item.update(op="exists", value=op == "exists")
        elif op == "in":
            item["value"] = list_value(text)
        else:
            item["value"] = typed_value(text)
        where.append(item)
    return where


def filters_values(prefix: str, where: list[dict] | None) -> dict:
    rows = []
    for item in where or ():
        op, value = item.get("op", "eq"), item.get("value")
        if op == "exists":
            rows.append({"property": item["property"], "op": "exists" if value in (True, None) else "not_exists",
                         "value": ""})
        else:
            rows.append({"property": item["property"], "op": op,
                         "value": list_text(value) if isinstance(value, (list, tuple)) else value_text(value)})
    return flat_rows(prefix, rows)


# Schedule step ------------------------------------------------------------------------------

def trigger_body(form: Mapping) -> dict:
    exit_name, exit_where = _text(form, "exit_event"), filters_body(form, "exit_where")
    reentry = form.get("reentry") or "once"
    delay = seconds(form.get("trigger_delay"), form.get("trigger_delay_unit"))
    return {
        "event_name": _text(form, "trigger_event"),
        "where": filters_body(form, "trigger_where"),
        "delay_seconds": 0 if delay is None else delay,
        "exit_event": {"name": exit_name, "where": exit_where} if exit_name or exit_where else None,
        "reentry": {"every_days": _int(form.get("reentry_days"))} if reentry == "every_days" else reentry,
    }


def schedule_body(form: Mapping) -> dict:
    kind = form.get("schedule_kind") or "now"
    schedule: dict | None = {"kind": kind}
    trigger = None
    if kind == "event":
        schedule, trigger = None, trigger_body(form)
    elif kind == "at":
        schedule["at"] = _local_input(form.get("schedule_at"))
    elif kind == "local_time":
        schedule.update(date=_text(form, "schedule_date"), time=_text(form, "schedule_time"))
    elif kind == "recurring":
        schedule.update(cron=_text(form, "schedule_cron"), timezone=_text(form, "schedule_timezone") or "UTC")
    return {"schedule": schedule, "trigger": trigger, "throttle_per_minute": _int(form.get("throttle_per_minute")),
            "respect_caps": form.get("respect_caps") == "on",
            "respect_quiet_hours": form.get("respect_quiet_hours") == "on",
            "quiet_hours": quiet_hours_body(form), "frequency_caps": caps_body(form)}


def quiet_hours_body(form: Mapping) -> dict | None:
    start, end = _text(form, "quiet_start"), _text(form, "quiet_end")
    if not start and not end:
        return None
    window: dict = {"start": start, "end": end}
    window = {key: value for key, value in window.items() if value}  # a blank one is "missing"
    chosen = [c for c in CHANNEL_KEYS if form.get(f"quiet_channel.{c}") == "on"]
    if chosen:  # none ticked: the API's default, every channel
        window["channels"] = chosen
    return window


def caps_body(form: Mapping) -> list[dict]:
    caps = []
    for row in indexed_rows(form, "cap"):
        cap = {"max_messages": _int(row.get("max")), "window_seconds": seconds(row.get("window"), row.get("unit") or "days"),
               "per_channel": (row.get("per") or "channel") == "channel"}
        caps.append({key: value for key, value in cap.items() if value is not None})
    return caps


def _local_input(value: str | None) -> str:
    """`<input type=datetime-local>` has no zone; the UI states times in UTC."""
    value = (value or "").strip()
    return value + ":00+00:00" if len(value) == 16 else value


# Every step ---------------------------------------------------------------------------------

def step_body(step: str, form: Mapping) -> dict:
    if step == "audience":
        return {"name": _text(form, "name"), "segment_id": _int(form.get("segment_id")) or None}
    if step == "content":
        return {"template": form.get("template") or None, "category": form.get("category") or "marketing"}
    if step == "channels":
        def priority(channel):
            value = _int(form.get(f"priority.{channel}"))
            return (value if isinstance(value, int) else 99, CHANNEL_KEYS.index(channel))
        chosen = sorted((c for c in CHANNEL_KEYS if form.get(f"channel.{c}") == "on"), key=priority)
        return {"channels": chosen, "strategy": form.get("strategy") or "all"}
    if step == "schedule":
        return schedule_body(form)
    if step == "experiment":
        variants = []
        for n in range(MAX_VARIANTS):
            name = _text(form, f"variant.{n}.name")
            if name:
                variants.append({"name": name, "weight": _number(form.get(f"variant.{n}.weight")) or 1.0,
                                 "template": form.get(f"variant.{n}.template") or None})
        event, where = _text(form, "goal_event"), filters_body(form, "goal_where")
        goal = None
        if event or where:
            goal = {"event_name": event, "where": where, "window_hours": _number(form.get("goal_window_hours")) or 72}
        return {"variants": variants, "holdout_percent": _number(form.get("holdout_percent")) or 0.0, "goal": goal}
    return {}


def step_values(described: dict) -> dict:
    """Every step's inputs, filled from the campaign as `services.campaigns.describe` gives it."""
    schedule = described.get("schedule") or {}
    trigger = described.get("trigger") or None
    goal = described.get("goal") or {}
    values = {
        "name": described["name"], "segment_id": described["segment_id"], "template": described["template"],
        "category": described["category"], "strategy": described["strategy"],
        "schedule_kind": "event" if trigger else schedule.get("kind", "now"),
        "schedule_at": (schedule.get("at") or "")[:16],
        "schedule_date": schedule.get("date", ""), "schedule_time": schedule.get("time", ""),
        "schedule_cron": schedule.get("cron", ""), "schedule_timezone": schedule.get("timezone", ""),
        "throttle_per_minute": described["throttle_per_minute"] or "",
        "respect_caps": described["respect_caps"], "respect_quiet_hours": described["respect_quiet_hours"],
        "holdout_percent": described["holdout_percent"] or "", "goal_event": goal.get("event_name", ""),
        "goal_window_hours": goal.get("window_hours", ""),
        **filters_values("goal_where", goal.get("where")),
    }
    if trigger:
        amount, unit = duration(trigger.get("delay_seconds"))
        reentry = trigger.get("reentry") or "once"
        exit_event = trigger.get("exit_event") or {}
        values.update({
            "trigger_event": trigger["event_name"], "trigger_delay": amount, "trigger_delay_unit": unit,
            "exit_event": exit_event.get("name", ""),
            "reentry": "every_days" if isinstance(reentry, dict) else reentry,
            "reentry_days": reentry.get("every_days", "") if isinstance(reentry, dict) else "",
            **filters_values("trigger_where", trigger.get("where")),
            **filters_values("exit_where", exit_event.get("where")),
        })
    quiet = described.get("quiet_hours") or {}
    values.update(quiet_start=quiet.get("start", ""), quiet_end=quiet.get("end", ""))
    for channel in quiet.get("channels") or CHANNEL_KEYS:
        values[f"quiet_channel.{channel}"] = True
    caps = []
    for cap in described.get("frequency_caps") or ():
        amount, unit = duration(cap.get("window_seconds"), "days")
        caps.append({"max": str(cap.get("max_messages", "")), "window": amount, "unit": unit,
                     "per": "channel" if cap.get("per_channel") else "all"})
    values.update(flat_rows("cap", caps))
    for position, channel in enumerate(described["channels"]):
        values[f"channel.{channel}"] = True
        values[f"priority.{channel}"] = position + 1
    for n, variant in enumerate(described["variants"]):
        values.update({f"variant.{n}.name": variant["name"], f"variant.{n}.weight": variant["weight"],
                       f"variant.{n}.template": variant["template"] or ""})
    return values


def posted_values(form: Mapping) -> dict:
    """The form as posted, its rows numbered again from 0 without the blank ones, as
    `step_body` numbered them: an error at `frequency_caps.1` is then at the second row shown."""
    values = {name: value for name, value in form.items()
              if not any(name.startswith(prefix + ".") for prefix in ROW_LISTS)}
    for prefix in ROW_LISTS:
        values.update(flat_rows(prefix, indexed_rows(form, prefix)))
    return values


def rows(values: Mapping, prefix: str, blank: int = 1) -> list[dict]:
    """The rows to show for `prefix`: the filled ones, then `blank` empty ones to add with."""
    return indexed_rows(values, prefix) + [{} for _ in range(blank)]


# API error paths → the inputs they belong to -------------------------------------------------

_RENAMES = {
    "schedule.expression": "schedule_cron", "schedule.kind": "schedule_kind",
    "trigger.event_name": "trigger_event", "trigger.where": "trigger_where", "trigger.delay_seconds": "trigger_delay",
    "trigger.exit_event": "exit_event", "trigger.reentry": "reentry", "trigger.trigger": "trigger",
    "goal.where": "goal_where", "goal.window_hours": "goal_window_hours", "goal.event_name": "goal_event",
    "goal": "goal_event", "frequency_caps": "caps", "quiet_hours.start": "quiet_start",
    "quiet_hours.end": "quiet_end",
}
_CAP_PARTS = {"max_messages": "max", "window_seconds": "window", "per_channel": "per"}
_FILTER_AT = re.compile(r"^filter (\d+): (.*)$", re.S)


def input_for(path: str, message: str = "") -> tuple[str, str]:
    """(input name, message) for an error the schema or service gave at `path`."""
    name = path.replace("variants.", "variant.").replace("variants[", "variant.").replace("]", "")
    if name in _RENAMES:
        name = _RENAMES[name]
    elif name.startswith("schedule."):
        name = "schedule_" + name.split(".", 1)[1]
    elif name.startswith("frequency_caps."):
        _, index, part = (name.split(".") + ["", ""])[:3]
        name = f"cap.{index}.{_CAP_PARTS.get(part, part)}" if part else f"cap.{index}"
    elif name.startswith("quiet_hours"):
        name = "quiet_hours"
    elif name.startswith("goal."):
        name = "goal_event"
    found = _FILTER_AT.match(message)
    if found and name in ("trigger_where", "goal_where", "exit_event"):
        prefix = "exit_where" if name == "exit_event" else name
        return f"{prefix}.{found.group(1)}", found.group(2)
    return name, message


# In words, for the review step -------------------------------------------------------------

def _amount(total_seconds: int, default_unit: str) -> str:
    amount, unit = duration(total_seconds, default_unit)
    return f"{amount} {unit[:-1] if amount == '1' else unit}"


def filters_summary(where: list[dict] | None) -> str:
    phrases = []
    for item in where or ():
        op, value = item.get("op"), item.get("value")
        if op == "exists":
            phrases.append(f"{item['property']} {'is set' if value in (True, None) else 'is not set'}")
        else:
            shown = list_text(value) if isinstance(value, (list, tuple)) else value_text(value)
            phrases.append(f"{item['property']} {FILTER_OP_NAMES.get(op, op)} {shown}")
    return " and ".join(phrases)


def trigger_summary(trigger: dict) -> str:
    """E.g. `when cart_updated with total ≥ 20, after 1 hour, unless order_completed; once per person`."""
    text = f"when {trigger['event_name']}"
    if trigger.get("where"):
        text += f" with {filters_summary(trigger['where'])}"
    text += f", after {_amount(trigger['delay_seconds'], 'minutes')}" if trigger.get("delay_seconds") else ", at once"
    exit_event = trigger.get("exit_event")
    if exit_event:
        text += f", unless they do {exit_event['name']}"
        if exit_event.get("where"):
            text += f" with {filters_summary(exit_event['where'])}"
    reentry = trigger.get("reentry") or "once"
    if isinstance(reentry, dict):
        text += f"; at most once every {reentry['every_days']} day{'s' if reentry['every_days'] != 1 else ''}"
    else:
        text += "; once per person" if reentry == "once" else "; every time"
    return text


def caps_summary(caps: list[dict] | None) -> str:
    return "; ".join(f"at most {cap['max_messages']} {'per channel' if cap.get('per_channel') else 'across channels'}"
                     f" in {_amount(cap['window_seconds'], 'days')}" for cap in caps or ())


def quiet_hours_summary(quiet: dict | None, names: Mapping[str, str]) -> str:
    if not quiet:
        return ""
    channels = quiet.get("channels") or list(CHANNEL_KEYS)
    where = "every channel" if set(channels) >= set(CHANNEL_KEYS) else ", ".join(names.get(c, c) for c in channels)
    return f"{quiet['start']}–{quiet['end']} local time, on {where}"
