"""Locale tags and the fallback chain used to pick per-locale overrides.

Tags are compared case-insensitively with ``_`` and ``-`` treated alike, so ``pt_BR``,
``PT-br`` and ``pt-BR`` are one locale. The chain runs from most to least specific and
ends before the default content, which is always the last resort.
"""

from __future__ import annotations

import re
from functools import lru_cache

LOCALE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def is_locale_tag(tag: str) -> bool:
    return bool(LOCALE_PATTERN.match(tag))


@lru_cache(maxsize=1024)
def normalize_locale(tag: str | None) -> str | None:
    """Lower-case, ``-`` separated form of a tag; ``None`` for an empty or malformed one."""
    if not tag:
        return None
    tag = tag.strip().replace("_", "-")
    # POSIX locales carry an encoding or modifier ("pt_BR.UTF-8@euro") that is not a subtag.
    tag = re.split(r"[.@]", tag, maxsplit=1)[0]
    if not is_locale_tag(tag):
        return None
    return tag.lower()


@lru_cache(maxsize=1024)
def locale_chain(tag: str | None) -> tuple[str, ...]:
    """``"pt-BR"`` → ``("pt-br", "pt")``: the overrides to try, most specific first."""
    normalized = normalize_locale(tag)
    if normalized is None:
        return ()
    parts = normalized.split("-")
    return tuple("-".join(parts[:size]) for size in range(len(parts), 0, -1))


def display_locale(tag: str) -> str:
    """Conventional spelling for humans and Babel: ``pt-br`` → ``pt-BR``, ``zh-hant`` → ``zh-Hant``."""
    parts = tag.replace("_", "-").split("-")
    shaped = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            shaped.append(part.title())
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            shaped.append(part.upper())
        else:
            shaped.append(part.lower())
    return "-".join(shaped)
