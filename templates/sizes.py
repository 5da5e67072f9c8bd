"""Measure a template value before C code walks it.

Turning a value into text (``str``/``repr``), comparing two values and hashing one all
happen in C, where :func:`templates.limits.tick` cannot stop them, and all of them visit a
container's items recursively, once per reference. Shared references make that explosive:
``{% set ns.l = [ns.l, ns.l] %}`` in a loop keeps memory linear while the text of ``ns.l``
doubles on every iteration, so one ``{{ ns.l }}`` (or ``ns.l == other``, or a tuple used as
a dict key) runs for hours. Two measures close that:

* every list, tuple and dict a template *builds* (a literal, ``+``, ``*``, ``sum``, a call
  that returns one) is weighed as it is built: its text length, estimated by a walk that
  counts a shared item each time it is referenced. The weight is kept on the value
  (:class:`SizedList` & co.), so weighing a new value costs its own items, not its
  contents'. Past ``max_value_chars`` the template is stopped, so whatever C does to a
  built value later is bounded.
* before a value becomes text (the output, ``~``, string filters, ``join``, ...) its text
  length is estimated by the same walk, live, against the field's ``max_field_chars``,
  and refused before the text exists. Payload data, which the template did not build, is
  measured here too.

Namespaces are the one mutable thing a template holds, so a value's weight cannot include
them; :class:`BoundedNamespace` measures its own text, live, whenever it is asked for it,
and the text of namespaces produced in one render is bounded in total.

Every estimate is a lower bound of the real length (a string counts its characters and its
quotes, a number its digits), so a refusal never refuses text that would have fitted. The
walk stops as soon as the estimate passes the budget and checks the deadline as it goes.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from jinja2.runtime import Undefined
from jinja2.utils import Cycler, Namespace
from markupsafe import Markup

from .errors import RenderLimitExceeded
from .limits import max_chars, max_value_chars, spend_text, tick

__all__ = [
    "TEXT_SAFE", "BoundedNamespace", "SizedDict", "SizedList", "SizedTuple", "check_text",
    "concatenated", "repeated", "short_repr", "sized", "sized_dict", "sized_list", "sized_tuple",
    "summed", "text_chars", "value_chars",
]  # fmt: skip


class SizedList(list):
    """A list a template built; ``_chorus_chars`` is the estimated length of its text."""

    __slots__ = ("_chorus_chars",)


class SizedDict(dict):
    __slots__ = ("_chorus_chars",)


class SizedTuple(tuple):
    # A tuple subclass cannot have slots of its own; the weight lives in the instance dict.
    pass


# To templates and their error messages ("'list object' has no attribute 'x'", "can only
# concatenate list ...") these are the built-in types they stand for.
for _cls, _base in ((SizedList, list), (SizedDict, dict), (SizedTuple, tuple)):
    _cls.__name__ = _cls.__qualname__ = _base.__name__
    _cls.__module__ = "builtins"


_SIZED = frozenset({SizedList, SizedTuple, SizedDict})
_VIEWS = {type({}.keys()): 11, type({}.values()): 13, type({}.items()): 12}  # "dict_keys(" ")"
_CONTAINERS = (list, tuple, dict, set, frozenset, slice, *_VIEWS)
# Classes whose text never depends on what the template built: skipped by check_text.
TEXT_SAFE = frozenset({str, Markup, int, float, bool, type(None)})

_SEQ, _MAP, _WEIGHED, _SHORT, _LEAVE, _OTHER = range(6)
_KINDS = {list: _SEQ, tuple: _SEQ, set: _SEQ, frozenset: _SEQ, dict: _MAP, type(None): _SHORT,
          bool: _SHORT, float: _SHORT, **dict.fromkeys(_VIEWS, _SEQ)}  # fmt: skip
_WEIGH_KINDS = {**_KINDS, SizedList: _WEIGHED, SizedTuple: _WEIGHED, SizedDict: _WEIGHED}
_LIVE_KINDS = {**_KINDS, SizedList: _SEQ, SizedTuple: _SEQ, SizedDict: _MAP}


class _TooLarge(Exception):
    pass


class _Leave:
    """Pushed below a namespace's items: when popped, the namespace is no longer open."""

    __slots__ = ("obj",)  # keeps the object alive, so its id stays its own until then

    def __init__(self, obj: Any) -> None:
        self.obj = obj


_LIVE_KINDS[_Leave] = _LEAVE


def _int_chars(number: int) -> int:
    # A lower bound of the digits: 1233 / 4096 < log10(2).
    return ((max(number.bit_length() - 1, 0) * 1233) >> 12) + 1


def _walk(root: Any, budget: int, live: bool) -> int:
    """The estimated length of ``repr(root)``; raises :class:`_TooLarge` past ``budget``.

    ``live`` descends into namespaces and into weighed values (whose weight is then only a
    lower bound to stop at once); otherwise a weighed value counts its weight and a
    namespace its brackets. Lists, tuples and dicts cannot change, so only a namespace can
    close a cycle: one met again inside itself counts as ``<Namespace {...}>``, which is
    what repr prints.
    """
    kinds = _LIVE_KINDS if live else _WEIGH_KINDS
    total = 0
    steps = 0
    stack = [root]
    pop, push, extend = stack.pop, stack.append, stack.extend
    open_namespaces: set[int] | None = None
    while stack:
        obj = pop()
        cls = obj.__class__
        if cls is str:
            total += len(obj) + 2
            if total > budget:
                raise _TooLarge
            continue
        if cls is int:  # at most a few thousand digits: checked with the next container
            total += ((((obj.bit_length() or 1) - 1) * 1233) >> 12) + 1
            continue
        if cls is list or cls is tuple:  # the common case, first
            kind = _SEQ
        else:
            kind = kinds.get(cls, _OTHER)
        if kind == _OTHER:  # a subclass, a namespace, a slice, or something short
            if isinstance(obj, str):
                total += len(obj) + (10 if isinstance(obj, Markup) else 2)  # Markup('')
            elif isinstance(obj, int):
                total += _int_chars(int(obj))
            elif isinstance(obj, Namespace):
                if not live:
                    total += 14  # "<Namespace {}>": its items are measured with its text
                elif open_namespaces is not None and id(obj) in open_namespaces:
                    total += 17  # "<Namespace {...}>"
                else:
                    if open_namespaces is None:
                        open_namespaces = set()
                    open_namespaces.add(id(obj))
                    push(_Leave(obj))
                    push(object.__getattribute__(obj, "_Namespace__attrs"))
                    total += 12
            elif isinstance(obj, slice):
                extend((obj.start, obj.stop, obj.step))
                total += 11  # "slice(" ", " ", " ")"
            elif isinstance(obj, dict):
                kind = _MAP
            elif isinstance(obj, (list, tuple, set, frozenset)):
                kind = _SEQ
            elif isinstance(obj, Undefined):
                total += 9  # Undefined
            else:
                total += 1  # an object whose repr does not show what the template built
        if kind == _SEQ or kind == _MAP:
            if live and cls in _SIZED and total + obj._chorus_chars > budget:
                raise _TooLarge
            count = len(obj)
            if count:
                # brackets and ", " between items, and ": " in each dict entry
                total += 2 * count + (2 * count if kind == _MAP else 0)
                if total + count > budget:  # each item is at least one character
                    raise _TooLarge
                if kind == _MAP:
                    extend(obj.keys())
                    extend(obj.values())
                else:
                    extend(obj)
                steps += count
                if steps > 4096:
                    steps = 0
                    tick()
            else:
                total += 2
            if cls in _VIEWS:
                total += _VIEWS[cls]
        elif kind == _WEIGHED:
            total += obj._chorus_chars
        elif kind == _SHORT:
            total += len(repr(obj))
        elif kind == _LEAVE:
            open_namespaces.discard(id(obj.obj))
        if total > budget:
            raise _TooLarge
    if total > budget:
        raise _TooLarge
    return total


def _fail(what: str, limit: int) -> RenderLimitExceeded:
    return RenderLimitExceeded(f"{what} would be more than {limit} characters; the limit is {limit}")


# Text -----------------------------------------------------------------------------------
def text_chars(value: Any, budget: int, what: str = "output", limit: int | None = None) -> int:
    """A lower bound of ``len(str(value))``; refuses with RenderLimitExceeded past ``budget``.

    ``limit`` is the limit named in the message when ``budget`` is what is left of it.
    """
    if isinstance(value, str):
        size = len(value)
    elif isinstance(value, (*_CONTAINERS, Namespace)):
        try:
            size = _walk(value, budget, live=True)
        except _TooLarge:
            raise _fail(what, budget if limit is None else limit) from None
    elif value.__class__ is int:
        size = _int_chars(value)
    else:
        return 0  # None, Undefined, a number, an object: short text, not built from values
    if size > budget:
        raise _fail(what, budget if limit is None else limit)
    return size


def check_text(value: Any, what: str = "output") -> None:
    """Refuse ``value`` if its text would exceed the field's character limit."""
    limit = max_chars()
    text_chars(value, limit, what, limit)


def short_repr(value: Any, size: int = 80) -> str:
    """``repr(value)`` for an error message, cut to about ``size``; never a long computation."""
    if isinstance(value, str):
        return repr(value[:size]) + ("…" if len(value) > size else "")
    try:
        _walk(value, size * 4, live=True)
    except _TooLarge:
        return f"a {type(value).__name__} too long to show"
    text = repr(value)
    return text if len(text) <= size else text[:size] + "…"


# Values a template builds -----------------------------------------------------------------
def value_chars(value: Any, what: str = "value") -> int:
    """The weight of ``value``: the estimated length of its text, namespaces aside."""
    cls = value.__class__
    if cls in _SIZED:
        return value._chorus_chars
    if cls is list or cls is tuple:
        return _items_chars(value, what)
    return _weigh(value, what)


def _weigh(value: Any, what: str) -> int:
    limit = max_value_chars()
    try:
        return _walk(value, limit, live=False)
    except _TooLarge:
        raise _fail(f"a {what} built by the template", limit) from None


def _checked(weight: int, what: str) -> int:
    limit = max_value_chars()
    if weight > limit:
        raise _fail(f"a {what} built by the template", limit)
    return weight


def _wrap(cls: type, items: Any, weight: int) -> Any:
    result = cls(items)
    result._chorus_chars = weight
    return result


def _items_chars(items: Any, what: str) -> int:
    """The weight of a new list or tuple of ``items``: theirs, known or walked, and its own."""
    total = 2 * len(items) if items else 2
    for item in items:
        cls = item.__class__
        if cls is str:
            total += len(item) + 2
        elif cls in _SIZED:
            total += item._chorus_chars
        elif cls is int:
            total += ((((item.bit_length() or 1) - 1) * 1233) >> 12) + 1
        else:
            total += _weigh(item, what)
    return _checked(total, what)


def sized_list(items: Any) -> SizedList:
    """A list literal's value, weighed (``items`` is what the literal lists)."""
    return _wrap(SizedList, items, _items_chars(items, "list"))


def sized_tuple(items: tuple) -> SizedTuple:
    return _wrap(SizedTuple, items, _items_chars(items, "tuple"))


def sized_dict(items: dict) -> SizedDict:
    weight = _items_chars(items.keys(), "dict") + _items_chars(items.values(), "dict")
    return _wrap(SizedDict, items, weight if items else 2)  # "{k: v, ...}": 4 a key, as two lists


def sized(value: Any) -> Any:
    """``value`` weighed if it is a plain list, tuple or dict (what a call returned)."""
    cls = value.__class__
    if cls is list:
        return sized_list(value)
    if cls is tuple:
        return sized_tuple(value)
    if cls is dict:
        return sized_dict(value)
    if isinstance(value, Cycler):  # cycler(a, b).items is a tuple of the arguments
        value.items = sized_tuple(tuple(value.items))
    return value


def _joined_weight(left: int, right: int, left_len: int, right_len: int) -> int:
    # "[a]" + "[b]" is "[a, b]": one pair of brackets less, a separator more when both have items.
    return left + right - 2 + (2 if left_len and right_len else 0)


def concatenated(left: Any, right: Any) -> Any:
    """``left + right`` for two lists or two tuples, weighed before it is built."""
    what = "list" if isinstance(left, list) else "tuple"
    weight = _checked(
        _joined_weight(value_chars(left, what), value_chars(right, what), len(left), len(right)), what
    )
    if what == "list":
        result = SizedList(left)
        result.extend(right)
    else:
        result = SizedTuple(left + right)
    result._chorus_chars = weight
    return result


def repeated(value: Any, times: int) -> Any:
    """``value * times`` for a list or a tuple, weighed before it is built."""
    what = "list" if isinstance(value, list) else "tuple"
    times = max(times, 0)
    if not value or not times:
        return _wrap(SizedList if what == "list" else SizedTuple, (), 2)
    # Each copy of the items costs the value's weight less its brackets, plus a separator.
    weight = _checked(2 + (value_chars(value, what) - 2) * times + 2 * (times - 1), what)
    result = SizedList(value) if what == "list" else None
    if result is not None:
        result *= times
    else:
        result = SizedTuple(value * times)
    result._chorus_chars = weight
    return result


def summed(start: Any, items: Any) -> Any:
    """``sum(items, start)`` for a list or tuple ``start``: linear, weighed as it goes."""
    kind = list if isinstance(start, list) else tuple
    what = kind.__name__
    limit = max_value_chars()
    result = list(start)
    weight = value_chars(start, what)
    for item in items:
        if not isinstance(item, kind):
            raise TypeError(f'can only concatenate {what} (not "{type(item).__name__}") to {what}')
        weight = _joined_weight(weight, value_chars(item, what), len(result), len(item))
        if weight > limit:
            raise _fail(f"a {what} built by the template", limit)
        result.extend(item)
        tick()
    return _wrap(SizedList if kind is list else SizedTuple, result, weight)


# Namespaces -------------------------------------------------------------------------------
_measured: ContextVar[bool] = ContextVar("chorus_namespace_measured", default=False)


class BoundedNamespace(Namespace):
    """``namespace()``: its text is measured, live, before repr builds it.

    A namespace changes after the values holding it were weighed, so its text is paid for
    when it is produced, from a per-render allowance (:func:`templates.limits.spend_text`).
    A namespace inside one being measured was measured with it.
    """

    def __repr__(self) -> str:
        if _measured.get():
            return super().__repr__()
        limit = max_value_chars()
        try:
            size = _walk(self, limit, live=True)
        except _TooLarge:
            raise _fail("the text of a namespace", limit) from None
        spend_text(size, "the text of namespaces")
        token = _measured.set(True)
        try:
            return super().__repr__()
        finally:
            _measured.reset(token)
