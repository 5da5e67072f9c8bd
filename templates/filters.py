"""The filters a template may use.

A deliberately small set: Babel formatting of dates, times, numbers and money in the
render's locale and the contact's time zone, plus the everyday Jinja built-ins. Filters that
can build large strings from small inputs (``center``, ``indent``, ``wordwrap``, ``format``)
or turn any value into text at once (``tojson``, ``pprint``) are left out; ``join`` and
``replace`` check their result size before building it, the filters that turn their input
into text measure it first (:func:`templates.sizes.check_text`), and ``sum`` of lists is
linear and weighed. Any other filter name is a save-time error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache, wraps
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal
from jinja2 import filters as jinja_filters
from jinja2.runtime import Context, Undefined
from jinja2.utils import pass_context, pass_environment, pass_eval_context
from markupsafe import escape

from .limits import check_chars, check_integer_bits, max_chars
from .locales import display_locale, normalize_locale
from .sizes import TEXT_SAFE, check_text, short_repr, summed, text_chars

DEFAULT_LOCALE = "en"

# Jinja built-ins that stay available; each is cheap and bounded by its input.
BUILTIN_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
    "int", "last", "length", "lower", "map", "max", "min", "reject", "rejectattr", "round",
    "select", "selectattr", "sort", "string", "striptags", "sum", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount",
)  # fmt: skip
# Built-ins that turn their first argument into text (str(), or escape()).
TEXT_INPUT_FILTERS = (
    "capitalize", "e", "escape", "lower", "string", "striptags", "title", "trim", "truncate",
    "upper", "urlencode", "wordcount",
)  # fmt: skip


@lru_cache(maxsize=256)
def babel_locale(tag: str | None) -> Locale:
    normalized = normalize_locale(tag)
    if normalized is not None:
        try:
            return Locale.parse(display_locale(normalized), sep="-")
        except (UnknownLocaleError, ValueError):
            language = normalized.split("-")[0]
            try:
                return Locale.parse(language)
            except (UnknownLocaleError, ValueError):
                pass
    return Locale.parse(DEFAULT_LOCALE)


@lru_cache(maxsize=256)
def contact_timezone(name: str | None) -> tzinfo:
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _locale_of(context: Context) -> Locale:
    return babel_locale(context.get("locale"))


def _timezone_of(context: Context) -> tzinfo:
    contact = context.get("contact")
    name = contact.get("timezone") if isinstance(contact, Mapping) else None
    return contact_timezone(name if isinstance(name, str) else None)


def _is_blank(value: Any) -> bool:
    return value is None or isinstance(value, Undefined) or value == ""


def to_datetime(value: Any) -> datetime | date:
    """Event payloads are JSON, so dates arrive as ISO strings or epoch seconds."""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, bool):
        raise ValueError(f"cannot read {short_repr(value)} as a date")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"cannot read {short_repr(value)} as a date")


def _aware(moment: datetime) -> datetime:
    # Stored times are UTC; a naive value in a payload is taken to be UTC too.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@pass_context
def date_filter(context: Context, value: Any, format: str = "medium") -> str:
    if _is_blank(value):
        return ""
    moment = to_datetime(value)
    if isinstance(moment, datetime):
        moment = _aware(moment).astimezone(_timezone_of(context)).date()
    return format_date(moment, format=format, locale=_locale_of(context))


@pass_context
def datetime_filter(context: Context, value: Any, format: str = "medium") -> str:
    if _is_blank(value):
        return ""
    moment = to_datetime(value)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return format_datetime(
        _aware(moment), format=format, tzinfo=_timezone_of(context), locale=_locale_of(context)
    )


@pass_context
def time_filter(context: Context, value: Any, format: str = "short") -> str:
    if _is_blank(value):
        return ""
    moment = to_datetime(value)
    if not isinstance(moment, datetime):
        raise ValueError(f"{short_repr(value)} has no time of day")
    return format_time(
        _aware(moment), format=format, tzinfo=_timezone_of(context), locale=_locale_of(context)
    )


def to_decimal(value: Any) -> Decimal:
    # Only a string or a number can read as one: anything else is not turned into text.
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(f"cannot read {short_repr(value)} as a number")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"cannot read {short_repr(value)} as a number") from None
    if not number.is_finite():
        raise ValueError(f"cannot read {short_repr(value)} as a number")
    return number


@pass_context
def money_filter(context: Context, amount: Any, currency: str | None = None) -> str:
    if _is_blank(amount):
        return ""
    if not currency or isinstance(currency, Undefined) or not isinstance(currency, str):
        raise ValueError("money needs a currency code, e.g. money('EUR')")
    return format_currency(to_decimal(amount), str(currency).upper(), locale=_locale_of(context))


@pass_context
def number_filter(context: Context, value: Any, format: str | None = None) -> str:
    if _is_blank(value):
        return ""
    return format_decimal(to_decimal(value), format=format, locale=_locale_of(context))


@pass_eval_context
def join_filter(eval_ctx, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    items = list(value)
    if attribute is not None:
        getter = jinja_filters.make_attrgetter(eval_ctx.environment, attribute)
        items = [getter(item) for item in items]
    limit = max_chars()
    separator = len(d) if d.__class__ is str else text_chars(d, limit, "join")
    total = separator * max(len(items) - 1, 0)
    check_chars(total, "join")
    for item in items:
        total += len(item) if item.__class__ is str else text_chars(item, limit - total, "join", limit)
        if total > limit:
            check_chars(total, "join")
    return jinja_filters.do_join(eval_ctx, items, d)


def predicted_replace_size(text: str, old: str, new: str, count: int | None = None) -> int:
    occurrences = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    return len(text) + occurrences * (len(new) - len(old))


@pass_eval_context
def replace_filter(eval_ctx, s: str, old: str, new: str, count: int | None = None) -> str:
    for value in (s, old, new):
        if value.__class__ not in TEXT_SAFE:
            check_text(value, "replace")
    check_chars(predicted_replace_size(str(s), str(old), str(new), count), "replace")
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


@pass_environment
def sum_filter(environment, iterable: Any, attribute: str | int | None = None, start: Any = 0) -> Any:
    """Jinja's ``sum``; with a list or tuple ``start`` it concatenates in linear time, weighed."""
    if attribute is not None:
        iterable = map(jinja_filters.make_attrgetter(environment, attribute), iterable)
    if isinstance(start, (list, tuple)):
        return summed(start, iterable)
    total = sum(iterable, start)
    if isinstance(total, int):
        check_integer_bits(total.bit_length())
    return total


def escape_filter(value: Any) -> Any:
    if value.__class__ not in TEXT_SAFE:
        check_text(value, "the text for escape")
    return escape(value)


def text_input(name: str, filter_: Any) -> Any:
    """``filter_`` with its input measured before the filter turns it into text."""
    index = 0 if getattr(filter_, "jinja_pass_arg", None) is None else 1
    what = f"the text for {name}"

    @wraps(filter_)  # keeps jinja_pass_arg
    def measured(*args: Any, **kwargs: Any) -> Any:
        value = args[index] if len(args) > index else None
        if value.__class__ not in TEXT_SAFE:
            check_text(value, what)
        return filter_(*args, **kwargs)

    return measured


CHORUS_FILTERS = {
    "date": date_filter,
    "datetime": datetime_filter,
    "time": time_filter,
    "money": money_filter,
    "number": number_filter,
    "join": join_filter,
    "replace": replace_filter,
    "sum": sum_filter,
    "e": escape_filter,
    "escape": escape_filter,
}


def template_filters() -> dict[str, Any]:
    allowed = {name: jinja_filters.FILTERS[name] for name in BUILTIN_FILTERS}
    for name in TEXT_INPUT_FILTERS:
        allowed[name] = text_input(name, allowed[name])
    allowed.update(CHORUS_FILTERS)
    return allowed
