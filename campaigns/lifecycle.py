"""A campaign's status and the actions that move it.

    draft ──schedule──▶ scheduled ──start──▶ running ──complete──▶ completed
      │                   │  ▲ (schedule again = reschedule)  │
      └──────launch───────┴──┼──────────launch────────────────┘ (launch = send now)
    scheduled/running ──pause──▶ paused ──resume──▶ the state it was paused from
    draft/scheduled/running/paused ──cancel──▶ cancelled

`completed` and `cancelled` are final. `resume` needs to know where the pause came from; the
shell keeps that next to the status (`paused_from`) and passes it in. A campaign paused
before it had that record resumes to running.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Action(StrEnum):
    LAUNCH = "launch"
    SCHEDULE = "schedule"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    COMPLETE = "complete"


FINAL = frozenset({Status.COMPLETED, Status.CANCELLED})
PAUSABLE = frozenset({Status.SCHEDULED, Status.RUNNING})

_MOVES: dict[tuple[Status, Action], Status] = {
    (Status.DRAFT, Action.SCHEDULE): Status.SCHEDULED,
    (Status.DRAFT, Action.LAUNCH): Status.RUNNING,
    (Status.SCHEDULED, Action.SCHEDULE): Status.SCHEDULED,
    (Status.SCHEDULED, Action.LAUNCH): Status.RUNNING,
    (Status.SCHEDULED, Action.START): Status.RUNNING,
    (Status.SCHEDULED, Action.PAUSE): Status.PAUSED,
    (Status.RUNNING, Action.PAUSE): Status.PAUSED,
    (Status.RUNNING, Action.COMPLETE): Status.COMPLETED,
    (Status.PAUSED, Action.RESUME): Status.RUNNING,  # or where it was paused from
    (Status.DRAFT, Action.CANCEL): Status.CANCELLED,
    (Status.SCHEDULED, Action.CANCEL): Status.CANCELLED,
    (Status.RUNNING, Action.CANCEL): Status.CANCELLED,
    (Status.PAUSED, Action.CANCEL): Status.CANCELLED,
}


class InvalidTransition(Exception):
    """`action` is not allowed while the campaign is `current`."""

    def __init__(self, current: str, action: str):
        super().__init__(f"cannot {action} a campaign that is {current}")
        self.current = current
        self.action = action


def transition(current: str, action: str, paused_from: str | None = None) -> Status:
    """The status after `action`, or InvalidTransition (also for unknown names)."""
    try:
        state, move = Status(current), Action(action)
    except ValueError:
        raise InvalidTransition(current, action) from None
    target = _MOVES.get((state, move))
    if target is None:
        raise InvalidTransition(current, action)
    if move is Action.RESUME and paused_from is not None:
        try:
            previous = Status(paused_from)
        except ValueError:
            raise InvalidTransition(current, action) from None
        if previous not in PAUSABLE:
            raise InvalidTransition(current, action)
        return previous
    return target


def allowed_actions(current: str) -> tuple[Action, ...]:
    """The actions the UI may offer for a campaign in `current`, in a stable order."""
    state = Status(current)
    return tuple(action for action in Action if (state, action) in _MOVES)
