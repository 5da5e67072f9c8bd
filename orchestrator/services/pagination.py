"""Opaque keyset cursors: the last id seen, never an OFFSET."""
from __future__ import annotations

import base64

from orchestrator.errors import InvalidInput


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"i:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = raw.split(":", 1)
        if kind != "i":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput.field("cursor", "Not a cursor this API returned.") from None


def page(rows: list, limit: int, key=lambda row: row.id) -> tuple[list, str | None]:
    """Split a `limit + 1` fetch into the page and the cursor of the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None
