"""Which URLs a template may put behind a button or image."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Schemes that run code or read local data in the app's web view are never an action.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about"})
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")


def is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not _has_space(url)


def is_action_url(url: str) -> bool:
    """An http(s) URL, or an app deep link such as ``myapp://orders/42``."""
    if not url or _has_space(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.netloc)
    if not scheme or not _SCHEME.match(scheme) or scheme in FORBIDDEN_SCHEMES:
        return False
    return url[len(scheme) + 1 :].startswith("//") or bool(parts.path)


def _has_space(url: str) -> bool:
    return any(char.isspace() or ord(char) < 0x20 for char in url)
