"""Plain-text alternative of an email, generated from its HTML.

Walks the HTML with :mod:`html.parser` so structure survives: paragraphs and headings become
blank-line separated, list items get bullets, table rows become lines, ``<br>`` breaks, and a
link keeps its target as ``label (url)``. Head, style, script and hidden elements (the
preheader) are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Callable

from .email_html import UNTRACKED_SCHEMES

SKIPPED = frozenset({"head", "style", "script", "title", "template", "noscript"})
PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol", "pre"}
)
LINES = frozenset(
    {"div", "tr", "section", "article", "header", "footer", "main", "nav", "aside", "center",
     "dl", "dt", "dd", "figure", "figcaption", "address", "form", "fieldset", "caption"}
)  # fmt: skip
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip
_KEEP_SPACE = "\x00"  # a space (in <pre>, nested-list indent) that collapsing must keep
_SPACES = re.compile(r"\s+")
_SPACE_RUNS = re.compile("  +")
_BLANK_LINES = re.compile("\n\n\n+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all", re.I)


class _TextWriter(HTMLParser):
    def __init__(self, link_wrapper: Callable[[str], str] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.link_wrapper = link_wrapper
        self.parts: list[str] = []
        self.skip: list[str] = []  # open elements whose content is dropped
        self.pre = 0
        self.lists: list[list[int]] = []  # per open list: [next number] for <ol>, [] for <ul>
        self.links: list[tuple[str | None, int]] = []  # (href, index of the first part inside)

    # Structure ---------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if self.skip:
            if tag not in VOID and tag == self.skip[-1]:
                self.skip.append(tag)
            return
        if tag in SKIPPED or self.hidden(attributes):
            if tag not in VOID:
                self.skip.append(tag)
            return
        if tag in PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in LINES:
            self.parts.append("\n")
        if tag == "pre":
            self.pre += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "hr":
            self.parts.append("\n---\n")
        elif tag in ("ul", "ol"):
            self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            indent = _KEEP_SPACE * 2 * max(len(self.lists) - 1, 0)
            numbering = self.lists[-1] if self.lists else []
            if numbering:
                self.parts.append(f"\n{indent}{numbering[0]}. ")
                numbering[0] += 1
            else:
                self.parts.append(f"\n{indent}- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "img":
            self.alt(attributes.get("alt", ""))
        elif tag == "a":
            self.open_link(attributes.get("href"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if tag in PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in LINES:
            self.parts.append("\n")
        if tag == "pre":
            self.pre = max(self.pre - 1, 0)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "a" and self.links:
            self.close_link()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data_text(data, self.pre > 0))

    # Hooks the compile-time analysis (templates.email_plan) overrides -----------------
    def hidden(self, attributes: dict[str, str]) -> bool:
        return _is_hidden(attributes)

    def alt(self, value: str) -> None:
        alt = value.strip()
        if alt:
            self.parts.append(alt)

    def open_link(self, href: str | None) -> None:
        self.links.append((href, len(self.parts)))

    def close_link(self) -> None:
        href, start = self.links.pop()
        label = "".join(self.parts[start:]).strip()
        self.parts.append(link_suffix(label, shown_target(href, self.link_wrapper)))

    def text(self) -> str:
        return finish_text("".join(self.parts))


def _is_hidden(attributes: dict[str, str]) -> bool:
    return (
        "hidden" in attributes
        or attributes.get("aria-hidden", "").lower() == "true"
        or bool(_HIDDEN_STYLE.search(attributes.get("style", "")))
    )


def _shown_target(href: str | None) -> str | None:
    if not href:
        return None
    href = href.strip()
    if href.startswith("#") or href.lower().startswith("javascript:"):
        return None
    if href.lower().startswith("mailto:"):
        return href[len("mailto:") :].split("?", 1)[0]
    return href


def shown_target(href: str | None, link_wrapper: Callable[[str], str] | None) -> str | None:
    """What a link shows after its label: its target, tracked as in the HTML when it is."""
    target = _shown_target(href)
    if link_wrapper is not None and is_tracked_target(href):
        target = link_wrapper(target)
    return target


def is_tracked_target(href: str | None) -> bool:
    """Whether a link wrapper applies to the target shown for ``href``."""
    target = _shown_target(href)
    return bool(target) and target == (href or "").strip() and not target.lower().startswith(UNTRACKED_SCHEMES)


def link_suffix(label: str, target: str | None) -> str:
    if target and target != label:
        return f" ({target})" if label else target
    return ""


def data_text(data: str, pre: bool) -> str:
    """One run of character data as text: whitespace collapsed, or kept inside ``<pre>``."""
    data = data.replace(_KEEP_SPACE, "")
    return data.replace(" ", _KEEP_SPACE) if pre else _SPACES.sub(" ", data)


def finish_text(raw: str) -> str:
    """Collapse space runs, drop spaces around line breaks and keep at most one blank line.

    Written so each pattern starts with a literal the regex engine can search for: the
    obvious ``" {2,}"`` and ``" *\\n *"`` try a match at every character of the text.
    Spaces at either end of the whole text go anyway with the final strip.
    """
    if "  " in raw:
        raw = _SPACE_RUNS.sub(" ", raw)
    raw = "\n".join([line.strip(" ") for line in raw.split("\n")])
    if "\n\n\n" in raw:
        raw = _BLANK_LINES.sub("\n\n", raw)
    return raw.replace(_KEEP_SPACE, " ").strip()


def html_to_text(html: str, link_wrapper: Callable[[str], str] | None = None) -> str:
    """``link_wrapper``, when given, is applied to each link target shown, as in the HTML."""
    writer = _TextWriter(link_wrapper)
    writer.feed(html)
    writer.close()
    return writer.text()
