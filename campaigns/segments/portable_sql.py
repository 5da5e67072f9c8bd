"""The few SQL pieces that SQLite and PostgreSQL spell differently, as compilable constructs.

Everything the segment compiler builds is dialect-neutral SQLAlchemy except these. Each
construct only processes the bind parameters it was given, so statement caching stays correct.
PostgreSQL does not promise to evaluate `AND` operands in order, so anything that could raise
(a cast) is reached only through CASE, which it does evaluate in order.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, Integer, String, TypeDecorator, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from campaigns.segments.instants import INSTANT_SHAPE

# Every SQLite json_type() name, mapped to PostgreSQL's json(b)_typeof() vocabulary.
_SQLITE_KINDS = {"integer": "number", "real": "number", "text": "string", "true": "boolean",
                 "false": "boolean", "null": "null", "array": "array", "object": "object"}


def path_param(column, path: tuple[str, ...]):
    """The JSON path bind parameter SQLAlchemy makes for `column[path]` on either dialect."""
    return column[tuple(path)].right


def _args(element, compiler, **kw) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


def _pg_json(column, compiler, sql: str) -> str:
    # Chorus stores attributes as JSONB on PostgreSQL; a plain JSON column is cast to match.
    if isinstance(column.type.dialect_impl(compiler.dialect), JSONB):
        return sql
    return f"CAST({sql} AS JSONB)"


class json_kind(FunctionElement):
    """The JSON type at a path as 'string', 'number', 'boolean', 'null', 'array' or 'object';
    NULL when the path is absent. Arguments: the JSON column and its `path_param`."""

    type = String()
    inherit_cache = True
    name = "json_kind"


@compiles(json_kind)
def _json_kind_postgresql(element, compiler, **kw):
    column = list(element.clauses)[0]
    document, path = _args(element, compiler, **kw)
    return f"jsonb_typeof({_pg_json(column, compiler, f'({document} #> {path})')})"


@compiles(json_kind, "sqlite")
def _json_kind_sqlite(element, compiler, **kw):
    document, path = _args(element, compiler, **kw)
    whens = " ".join(f"WHEN '{raw}' THEN '{kind}'" for raw, kind in _SQLITE_KINDS.items())
    return f"(CASE json_type({document}, {path}) {whens} END)"


class json_array_contains(FunctionElement):
    """True when the path holds an array with an element equal (as JSON) to a scalar.

    Arguments: column, path_param, the scalar, the scalar as a one-element JSON array text,
    and the SQLite json_each type names the scalar may have (two of them).
    """

    type = Boolean()
    inherit_cache = True
    name = "json_array_contains"


@compiles(json_array_contains)
def _json_array_contains_postgresql(element, compiler, **kw):
    column = list(element.clauses)[0]
    document, path, _value, as_array, _type_a, _type_b = _args(element, compiler, **kw)
    array = _pg_json(column, compiler, f"({document} #> {path})")
    return f"(jsonb_typeof({array}) = 'array' AND {array} @> CAST({as_array} AS JSONB))"


@compiles(json_array_contains, "sqlite")
def _json_array_contains_sqlite(element, compiler, **kw):
    document, path, value, _as_array, type_a, type_b = _args(element, compiler, **kw)
    # json_each over an array yields integer keys; over an object, text keys; over a scalar,
    # one row with a NULL key. Only the first counts.
    return (f"EXISTS (SELECT 1 FROM json_each({document}, {path}) AS element "
            f"WHERE typeof(element.key) = 'integer' AND element.type IN ({type_a}, {type_b}) "
            f"AND element.value = {value})")


class text_position(FunctionElement):
    """1-based position of the second text in the first, 0 when absent (case-sensitive)."""

    type = Integer()
    inherit_cache = True
    name = "text_position"


def _sqlite_instant_globs() -> list[str]:
    digits = lambda count: "[0-9]" * count  # noqa: E731
    date = f"{digits(4)}-{digits(2)}-{digits(2)}"
    moment = f"{date}T{digits(2)}:{digits(2)}:{digits(2)}"
    fractions = [""] + ["." + digits(count) for count in range(1, 7)]
    offsets = ["", "Z", f"[+-]{digits(2)}:{digits(2)}"]
    return [date] + [moment + fraction + offset for fraction in fractions for offset in offsets]


_SQLITE_GLOBS = _sqlite_instant_globs()


class has_instant_shape(FunctionElement):
    """True when a text has the digit layout of an instant (`instants.INSTANT_SHAPE`)."""

    type = Boolean()
    inherit_cache = True
    name = "has_instant_shape"


@compiles(has_instant_shape)
def _has_instant_shape_postgresql(element, compiler, **kw):
    (text,) = _args(element, compiler, **kw)
    pattern = compiler.process(literal(INSTANT_SHAPE), **kw)
    return f"({text} ~ {pattern})"


@compiles(has_instant_shape, "sqlite")
def _has_instant_shape_sqlite(element, compiler, **kw):
    # SQLite has no regular expressions by default; a GLOB per allowed shape does the same.
    (text,) = _args(element, compiler, **kw)
    return "(" + " OR ".join(f"{text} GLOB '{glob}'" for glob in _SQLITE_GLOBS) + ")"


class InstantType(TypeDecorator):
    """A UTC instant: timestamptz on PostgreSQL, 'YYYY-MM-DD HH:MM:SS[.ffffff]' text on SQLite,
    where text order is time order."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name != "sqlite":
            return value
        value = value.astimezone(timezone.utc)
        text = f"{value.year:04d}-{value:%m-%d %H:%M:%S}"
        # A bare-seconds text sorts before any text with a fraction, so only add one if needed.
        return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def instant_bound(moment: datetime):
    return literal(moment, InstantType())


class to_instant(FunctionElement):
    """A normalised 'YYYY-MM-DDTHH:MM:SS±HH:MM' text as an `InstantType` value."""

    type = InstantType()
    inherit_cache = True
    name = "to_instant"


def _spell(construct, postgresql: str, sqlite: str) -> None:
    """Compile `construct` from templates filled with its compiled arguments."""
    compiles(construct)(lambda element, compiler, **kw:
                        postgresql.format(*_args(element, compiler, **kw)))
    compiles(construct, "sqlite")(lambda element, compiler, **kw:
                                  sqlite.format(*_args(element, compiler, **kw)))


_spell(text_position, "strpos({}, {})", "instr({}, {})")
_spell(to_instant, "CAST({} AS TIMESTAMP WITH TIME ZONE)",
       "strftime('%Y-%m-%d %H:%M:%S', {})")
