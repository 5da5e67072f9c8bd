"""Final shaping of rendered email HTML: tracked links, the hidden preheader, the open pixel.

Positions come from :mod:`html.parser`, so an ``href`` inside a comment, a ``<script>`` or an
attribute value is never touched, and only the ``href`` attribute of ``<a>``/``<area>`` tags
is rewritten. The wrapper sees the URL unescaped and its result is escaped back.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Callable

LinkWrapper = Callable[[str], str]

UNTRACKED_SCHEMES = ("mailto:", "tel:", "sms:", "#", "javascript:", "data:")
NO_TRACK_ATTRIBUTE = "data-chorus-notrack"  # authors opt a link out of click tracking
_HREF = re.compile(r"""(\shref\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+)""", re.I)


@dataclass
class Landmarks:
    body_open_end: int | None = None  # offset just after <body ...>
    body_close: int | None = None  # offset of the last </body>
    links: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each <a ...> tag


class _LandmarkFinder(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.marks = Landmarks()
        self._line_starts = [0]
        for match in re.finditer("\n", source):
            self._line_starts.append(match.end())

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._offset()
        raw = self.get_starttag_text() or ""
        if tag == "body" and self.marks.body_open_end is None:
            self.marks.body_open_end = start + len(raw)
        elif tag in ("a", "area") and any(name == "href" for name, _ in attrs):
            if not any(name == NO_TRACK_ATTRIBUTE for name, _ in attrs):
                self.marks.links.append((start, start + len(raw)))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.marks.body_close = self._offset()


def _find_landmarks(source: str) -> Landmarks:
    finder = _LandmarkFinder(source)
    finder.feed(source)
    finder.close()
    return finder.marks


def _rewrite_href(tag_text: str, wrap: LinkWrapper) -> str:
    match = _HREF.search(tag_text)
    if match is None:
        return tag_text
    quoted = match.group(2)
    value = quoted[1:-1] if quoted[:1] in ("'", '"') else quoted
    url = (html.unescape(value) if "&" in value else value).strip()
    if not url or url.lower().startswith(UNTRACKED_SCHEMES):
        return tag_text
    wrapped = html.escape(wrap(url), quote=True)
    return f'{tag_text[: match.start(2)]}"{wrapped}"{tag_text[match.end(2) :]}'


def wrap_links(source: str, wrap: LinkWrapper) -> str:
    """Apply ``wrap`` to the target of every link in ``source``."""
    return shape_email_html(source, link_wrapper=wrap)


def preheader_html(preheader: str) -> str:
    # Inbox previews read the first text; hide it in the body and pad so the body copy that
    # follows does not leak into the preview.
    padding = "&#847;&zwnj;&nbsp;" * 40
    return (
        '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;'
        'opacity:0;overflow:hidden;mso-hide:all" aria-hidden="true">'
        f"{html.escape(preheader, quote=False)}{padding}</div>"
    )


def open_pixel_html(url: str) -> str:
    return (
        f'<img src="{html.escape(url, quote=True)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px" />'
    )


def shape_email_html(
    source: str,
    *,
    preheader: str = "",
    link_wrapper: LinkWrapper | None = None,
    open_pixel_url: str | None = None,
) -> str:
    """Wrap links, insert the hidden preheader after ``<body>`` and the pixel before ``</body>``.

    One parse finds every landmark; the edits are then spliced in order of position.
    """
    if link_wrapper is None and not preheader and not open_pixel_url:
        return source
    return splice_email_html(source, _find_landmarks(source), preheader, link_wrapper, open_pixel_url)


def splice_email_html(source: str, marks: Landmarks, preheader: str,
                      link_wrapper: LinkWrapper | None, open_pixel_url: str | None) -> str:  # fmt: skip
    """:func:`shape_email_html` with the landmarks already known (found when the template was compiled)."""
    if link_wrapper is None and not preheader and not open_pixel_url:
        return source
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement)
    if link_wrapper is not None:
        for start, end in marks.links:
            edits.append((start, end, _rewrite_href(source[start:end], link_wrapper)))
    if preheader:
        at = marks.body_open_end if marks.body_open_end is not None else 0
        edits.append((at, at, preheader_html(preheader)))
    if open_pixel_url:
        at = marks.body_close if marks.body_close is not None else len(source)
        edits.append((at, at, open_pixel_html(open_pixel_url)))
    edits.sort(key=lambda edit: (edit[0], edit[1]))
    pieces, cursor = [], 0
    for start, end, replacement in edits:
        pieces.append(source[cursor:start])
        pieces.append(replacement)
        cursor = end
    pieces.append(source[cursor:])
    return "".join(pieces)
