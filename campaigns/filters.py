"""Property filters on event properties: `{"property": "total", "op": "gte", "value": 50}`.

One small matcher shared by triggered campaigns (entry and exit events) and conversion goals.
Contact rules in segments have their own, richer language; this one only looks at a single
event's properties.

Semantics, chosen so a filter never raises on real-world data:
- `property` may be a dotted path into nested objects (`"cart.total"`); a key that itself
  contains a dot is found first.
- A missing property matches only `neq` and `exists` with value false.
- `gt`/`gte`/`lt`/`lte` compare numbers with numbers (numeric strings count as numbers) and
  strings with strings (so ISO-8601 timestamps order correctly); anything else is no match.
- `eq`/`neq`/`in` never treat `true` as `1`.
- `contains` is substring for strings, membership for lists, key membership for objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

OPS = ("eq", "neq", "in", "contains", "gt", "gte", "lt", "lte", "exists")

_MISSING = object()


class FilterError(ValueError):
    """A property filter that cannot be understood; `index` is its position in the list."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message if index is None else f"filter {index}: {message}")
        self.index = index
        self.detail = message


@dataclass(frozen=True)
class PropertyFilter:
    property: str
    op: str
    value: Any = None

    def __post_init__(self):
        if not isinstance(self.property, str) or not self.property:
            raise FilterError("property must be a non-empty string")
        if self.op not in OPS:
            raise FilterError(f"unknown op {self.op!r}; expected one of {', '.join(OPS)}")
        if self.op == "in" and not isinstance(self.value, (list, tuple)):
            raise FilterError("op 'in' needs a list value")
        if self.op in ("gt", "gte", "lt", "lte") and not _orderable(self.value):
            raise FilterError(f"op {self.op!r} needs a number or string value")
        if self.op == "exists" and not isinstance(self.value, (bool, type(None))):
            raise FilterError("op 'exists' takes true, false or no value")
        if isinstance(self.value, list):
            # Frozen dataclasses should hash; lists from JSON would not.
            object.__setattr__(self, "value", tuple(self.value))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "PropertyFilter":
        if not isinstance(raw, Mapping):
            raise FilterError("a filter must be an object with property, op and value")
        unknown = set(raw) - {"property", "op", "value"}
        if unknown:
            raise FilterError(f"unknown keys {sorted(unknown)}")
        return cls(raw.get("property"), raw.get("op"), raw.get("value"))

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"property": self.property, "op": self.op, "value": value}

    def matches(self, properties: Mapping[str, Any]) -> bool:
        actual = _lookup(properties, self.property)
        if self.op == "exists":
            wanted = True if self.value is None else self.value
            return (actual is not _MISSING and actual is not None) == wanted
        if actual is _MISSING:
            return self.op == "neq"
        if self.op == "eq":
            return _equal(actual, self.value)
        if self.op == "neq":
            return not _equal(actual, self.value)
        if self.op == "in":
            return any(_equal(actual, option) for option in self.value)
        if self.op == "contains":
            return _contains(actual, self.value)
        return _compare(self.op, actual, self.value)


def parse_filters(raw: Iterable[Mapping[str, Any]] | None) -> tuple[PropertyFilter, ...]:
    """Parse a JSON list of filters, naming the position of the first bad one."""
    parsed = []
    for index, item in enumerate(raw or ()):
        if isinstance(item, PropertyFilter):
            parsed.append(item)
            continue
        try:
            parsed.append(PropertyFilter.from_dict(item))
        except FilterError as error:
            raise FilterError(error.detail, index) from None
    return tuple(parsed)


def matches_all(filters: Iterable[PropertyFilter], properties: Mapping[str, Any] | None) -> bool:
    """True when every filter matches (an empty list matches everything)."""
    properties = properties or {}
    return all(f.matches(properties) for f in filters)


def _lookup(properties: Mapping[str, Any], path: str) -> Any:
    if path in properties:
        return properties[path]
    current: Any = properties
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        else:
            return _MISSING
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _orderable(value: Any) -> bool:
    return _is_number(value) or isinstance(value, str)


def _as_number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, list) and isinstance(expected, tuple):
        return tuple(actual) == expected
    return actual == expected


def _contains(actual: Any, needle: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(needle, str) and needle in actual
    if isinstance(actual, (list, tuple)):
        return any(_equal(item, needle) for item in actual)
    if isinstance(actual, Mapping):
        return isinstance(needle, str) and needle in actual
    return False


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if _is_number(expected) or _is_number(actual):
        left, right = _as_number(actual), _as_number(expected)
    elif isinstance(actual, str) and isinstance(expected, str):
        left, right = actual, expected
    else:
        return False
    if left is None or right is None:
        return False
    if op == "gt":
        return left > right
    if op == "gte":
        return left >= right
    if op == "lt":
        return left < right
    return left <= right
