"""The segment rule language: a JSON tree of groups and conditions, and its typed form.

A rule is a JSON object with exactly one *kind* key.

Groups
    {"all": [rule, ...]}      every rule matches (an empty list matches everyone)
    {"any": [rule, ...]}      at least one rule matches (an empty list matches no one)
    {"not": rule}             the rule does not match

Contact fields and attributes
    {"field": F, "op": OP, "value": V}
    F is a contact column — external_id, email, phone, locale, timezone (text),
    unsubscribed_all, sms_opted_out (booleans), created_at (a timestamp) — or
    "attributes.<path>", a dotted path into the contact's JSON attributes
    ("attributes.address.city"). Path segments may not be empty, all digits, or contain
    `"` or `\\`.

    OP         V                       matches when the value...
    eq, neq    text, number, boolean   equals V (neq: does not; a missing value is "not equal")
    in, not_in list of those           equals one of V (not_in: none of them, or is missing)
    contains   text (or any scalar)    is text containing V, or a list with an element equal to V
    starts_with text                   is text starting with V
    exists, not_exists  (no value)     is present and not null (not_exists: the opposite)
    gt, gte, lt, lte    number         is a number and compares so with V
    between    [low, high]             lies in the closed range; two numbers or two ISO dates
    before, after       ISO date       is a date strictly before / after V
    within_last_days    days (> 0)     is a date in [now - V days, now]

    Equality is typed: "1" never equals 1, and true never equals 1. Text comparison is
    case-sensitive. A value of the wrong type never matches (a non-numeric attribute is not
    greater than anything, and is "not equal" to everything).

    Dates in attributes are ISO 8601 strings of one of the shapes `YYYY-MM-DD`,
    `YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]` (no offset means UTC), years 1000-2999,
    offsets up to ±14:59. They are compared as instants at whole-second precision (the
    fraction is dropped). A string of any other shape is not a date and never matches.

Behaviour (events)
    {"event": NAME,
     "where": [{"property": PATH, "op": OP, "value": V}, ...],   optional; as for attributes
     "count": {"op": "gte", "value": 2},                          optional; default gte 1
     "within_days": 7 | "since": "2026-01-01T00:00:00Z",          optional; at most one
     "did_not": true}                                             optional; no "count" with it
    Counts the contact's events called NAME that occurred in the window (from now - N days,
    or from `since`, with no upper bound) and satisfy every `where`. Count ops are eq, neq,
    gt, gte, lt, lte over whole numbers. `did_not` matches contacts with no such event.

Reachability, consent, membership
    {"reachable": "sms"|"email"|"push"|"inapp"}
        sms: has a phone and no carrier STOP; email: has an email; push: has a device;
        inapp: always.
    {"channel_opt_in": CHANNEL, "value": true|false}
        the contact's channel preference (no preference row means opted in).
    {"topic": KEY, "subscribed": true|false}
        the topic preference, else the topic's default, else not subscribed.
    {"segment": ID}
        membership of another segment, inlined; a reference cycle is an error.

Errors name the path of the offending part, as in `all[1].any[0].op` (`$` is the root).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Union

CHANNELS = ("sms", "email", "push", "inapp")
TEXT_FIELDS = ("external_id", "email", "phone", "locale", "timezone")
BOOLEAN_FIELDS = ("unsubscribed_all", "sms_opted_out")
DATE_FIELDS = ("created_at",)
ATTRIBUTES_PREFIX = "attributes."

EQUALITY_OPS = ("eq", "neq", "in", "not_in")
TEXT_OPS = ("contains", "starts_with")
PRESENCE_OPS = ("exists", "not_exists")
NUMBER_OPS = ("gt", "gte", "lt", "lte")
DATE_OPS = ("before", "after", "within_last_days")
VALUE_OPS = EQUALITY_OPS + TEXT_OPS + PRESENCE_OPS + NUMBER_OPS + ("between",) + DATE_OPS
COUNT_OPS = ("eq", "neq", "gt", "gte", "lt", "lte")
# Negative ops are exactly the negation of a positive one, missing values included.
NEGATED_OPS = {"neq": "eq", "not_in": "in", "not_exists": "exists"}

MAX_DEPTH = 12
MAX_NODES = 500
MAX_LIST_VALUES = 1000
MAX_TEXT_LENGTH = 1000
MAX_DAYS = 36_500

Scalar = Union[str, float, int, bool]


@dataclass(frozen=True)
class RuleIssue:
    path: str
    message: str


class SegmentRuleError(ValueError):
    """Rules that cannot be used; `errors` names every problem found, each with its path."""

    def __init__(self, errors: list[RuleIssue]):
        self.errors = list(errors)
        super().__init__("; ".join(f"{issue.path}: {issue.message}" for issue in self.errors))

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"path": issue.path, "message": issue.message} for issue in self.errors]


@dataclass(frozen=True)
class AllOf:
    rules: tuple["Rule", ...]


@dataclass(frozen=True)
class AnyOf:
    rules: tuple["Rule", ...]


@dataclass(frozen=True)
class Not:
    rule: "Rule"


@dataclass(frozen=True)
class FieldCondition:
    """A condition on a contact column. Date values are UTC-aware datetimes."""

    field: str
    op: str
    value: object = None


@dataclass(frozen=True)
class AttributeCondition:
    """A condition on a path into a JSON document: contact attributes or event properties.

    `value` is normalised: dates are UTC datetimes, `in` lists and `between` ranges are tuples.
    """

    path: tuple[str, ...]
    op: str
    value: object = None


@dataclass(frozen=True)
class CountBound:
    op: str = "gte"
    value: int = 1

    def holds(self, count: int) -> bool:
        return {"eq": count == self.value, "neq": count != self.value,
                "gt": count > self.value, "gte": count >= self.value,
                "lt": count < self.value, "lte": count <= self.value}[self.op]


@dataclass(frozen=True)
class EventCondition:
    name: str
    where: tuple[AttributeCondition, ...] = ()
    count: CountBound = CountBound()
    within_days: float | None = None
    since: datetime | None = None
    did_not: bool = False


@dataclass(frozen=True)
class Reachable:
    channel: str


@dataclass(frozen=True)
class ChannelOptIn:
    channel: str
    opted_in: bool


@dataclass(frozen=True)
class TopicSubscription:
    topic: str
    subscribed: bool


@dataclass(frozen=True)
class SegmentMembership:
    segment_id: int


Rule = Union[
    AllOf, AnyOf, Not, FieldCondition, AttributeCondition, EventCondition, Reachable,
    ChannelOptIn, TopicSubscription, SegmentMembership,
]


def child_path(path: str, key: str) -> str:
    """The path of `key` inside the rule at `path` (the root is `$`)."""
    return key if path == "$" else f"{path}.{key}"
