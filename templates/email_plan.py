"""The HTML analysis of an email body, done once per compiled template instead of per render.

Shaping the rendered HTML (tracked links, preheader, open pixel) and deriving its text
alternative both parse the whole rendered body. Almost everything they look at comes from
the template's own markup, so the parse can run once over the template with each ``{{ … }}``
standing in as an opaque hole, and the template is rewritten so that it renders exactly the
old body while

* every tracked ``<a>``/``<area>`` start tag comes out as one recognisable chunk and
  ``<body>``/``</body>`` as empty marks, so the landmarks are known without parsing;
* it emits the text alternative on the side: the markup's text precomputed, each value
  converted as it is output, links finished after the render (they call the link wrapper).

The analysis runs the real parsers (:class:`templates.email_text._TextWriter` on
:mod:`html.parser`) over the template's markup and only accepts a template when the result
cannot depend on the values: a hole sits in text, in a quoted attribute value, in a comment
or a script, never where it could form markup; ``{% … %}`` tags sit between elements and
every loop or branch body leaves the text writer as it found it. Anything else is
:class:`Unsupported` and renders the general way. A value that brings its own markup (a
block with tags, say) raises :class:`NotFast` during the render, which then starts over the
general way, so the output never differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from html.parser import attrfind_tolerant, starttagopen, tagfind_tolerant
from typing import Any, Callable

from jinja2 import nodes
from jinja2.environment import Template
from jinja2.utils import pass_context
from markupsafe import Markup, escape

from .email_html import NO_TRACK_ATTRIBUTE
from .email_text import _TextWriter, data_text, finish_text, is_tracked_target, link_suffix, shown_target
from .sandbox import _finalize
from .sizes import TEXT_SAFE, check_text

HOLE = "\ue000"  # stands for a value inside markup while the template's HTML is analysed
_PARTIAL_ENTITY = re.compile(r"&[^\t\n\f <&;]*\Z")  # a reference the next value could complete
_RISKY_MARKUP = re.compile(r"""[<>"']|&[^\t\n\f <&;]*\Z""")
_SPACE = re.compile(r"\s")
_HIDING_ATTRIBUTES = ("hidden", "aria-hidden", "style")
_SILENT = (nodes.Assign, nodes.AssignBlock, nodes.Macro)  # output nothing where they stand


class Unsupported(Exception):
    """The template's markup cannot be analysed once for every render."""


class NotFast(Exception):
    """A value brought markup of its own; this render takes the general path."""


@dataclass(frozen=True)
class EmailPlan:
    html: Template  # renders the body, marking landmarks and emitting the text alternative


# Runtime --------------------------------------------------------------------------------
class TrackedTag(str):
    """A tracked link's start tag as rendered; its offsets become a landmark."""

    __slots__ = ()


class BodyMark(str):
    """An empty chunk marking where ``<body …>`` ends or ``</body>`` starts."""

    __slots__ = ("opens",)

    def __new__(cls, opens: bool) -> "BodyMark":
        mark = super().__new__(cls, "")
        mark.opens = opens
        return mark


BODY_OPEN, BODY_CLOSE = BodyMark(True), BodyMark(False)


class TextParts(list):
    """The text alternative as a render emits it: strings, and links to finish afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.open_links: list[int] = []  # index of the first part of each open link's label
        self.values: list[str] = []  # attribute values the text needs (a link's href, an alt)


class _LinkEnd:
    __slots__ = ("start", "href", "label")  # one per link per render: no dataclass overhead

    def __init__(self, start: int, href: str | None, label: str | None) -> None:
        self.start = start  # index of the first part of the label, when it is not known yet
        self.href = href
        self.label = label


# Text operations a plan runs as it renders (built by _Builder.ops):
#   "text"                          append text
#   (OPEN,)                         a link's label starts
#   (CLOSE, href, label or None)    a link ends; href is a str/None, or (pieces, n) to
#                                   fill with the last n remembered attribute values
#   (ALT, (pieces, n))              an image's alt text
OPEN, CLOSE, ALT = 0, 1, 2
TEXT, REMEMBER = 1, 3  # guard modes besides 0 (no text): 2 is text inside <pre>


def _value_text(value: Any) -> str:
    """A value as the parser of the rendered HTML reads it back: escaped, then unescaped."""
    if value.__class__ is str:
        return value
    text = escape(_finalize(value))
    return unescape(text) if "&" in text else str(text)


def _filled(parts: TextParts, spec: Any) -> str | None:
    if spec.__class__ is not tuple:
        return spec
    pieces, count = spec
    values = parts.values[len(parts.values) - count :]
    del parts.values[len(parts.values) - count :]
    filled = [pieces[0]]
    for value, piece in zip(values, pieces[1:]):
        filled.append(value)
        filled.append(piece)
    return "".join(filled)


def _run(parts: TextParts, ops: tuple) -> None:
    for op in ops:
        if op.__class__ is str:
            parts.append(op)
        elif op[0] == CLOSE:
            href = _filled(parts, op[1])
            parts.append(_LinkEnd(-1 if op[2] is not None else parts.open_links.pop(), href, op[2]))
        elif op[0] == OPEN:
            parts.open_links.append(len(parts))
        else:
            alt = _filled(parts, op[1]).strip()
            if alt:
                parts.append(alt)


@pass_context
def _guard(context: Any, value: Any, mode: int, ops: tuple) -> Markup:
    # Escaped values cannot open a tag, end an attribute or finish a character reference;
    # markup (a block, a macro) can, and would change what the analysis found.
    parts = context.chorus_text
    if ops:
        _run(parts, ops)
    if value.__class__ is not str:
        if value is None:
            value = ""
        else:
            if value.__class__ not in TEXT_SAFE:
                check_text(value)  # escape() below turns it into text
            html = getattr(value, "__html__", None)
            if html is not None and _RISKY_MARKUP.search(html()):
                raise NotFast()
    if mode:
        text = value if value.__class__ is str else _value_text(value)
        if mode == REMEMBER:
            parts.values.append(text)
        elif mode == TEXT and text.isprintable():
            # Printable text has no whitespace but plain spaces, and finish_text collapses
            # runs of those anyway (labels built from values are checked in finish_planned_text).
            parts.append(text)
        else:
            parts.append(data_text(text, mode == 2))
    return escape(value)


@pass_context
def _emit(context: Any, ops: tuple) -> None:
    _run(context.chorus_text, ops)


@pass_context  # never folded into a constant: the type of the chunk is the landmark
def _tag(context: Any, pieces: tuple[str, ...], *values: Markup) -> TrackedTag:
    # ``values`` come escaped from their guards.
    tag = [pieces[0]]
    for value, piece in zip(values, pieces[1:]):
        tag.append(value)
        tag.append(piece)
    return TrackedTag("".join(tag))


@pass_context
def _mark(context: Any, opens: bool) -> BodyMark:
    return BODY_OPEN if opens else BODY_CLOSE


def finish_planned_text(parts: TextParts, link_wrapper: Callable[[str], str] | None) -> str | None:
    """The text alternative from what the render emitted; None when only a parse can tell."""
    ends = [part for part in parts if part.__class__ is _LinkEnd]
    if not ends:
        return finish_text("".join(parts))
    targets = [shown_target(end.href, None) for end in ends]
    # A label assembled from pieces had their whitespace collapsed one by one; a one-run
    # parse could differ only in runs of spaces, which matter only to a target with spaces.
    # Checked before any wrapper call, so the parse that takes over calls it as it always did
    # (unless a wrapper itself returns whitespace, checked below).
    if any(end.label is None and target and _SPACE.search(target) for end, target in zip(ends, targets)):
        return None
    text: list[str] = []
    found = iter(zip(ends, targets))
    for part in parts:
        if part.__class__ is _LinkEnd:
            end, target = next(found)
            if target and link_wrapper is not None and is_tracked_target(end.href):
                target = link_wrapper(target)
                if end.label is None and _SPACE.search(target):
                    return None
            label = end.label if end.label is not None else "".join(text[end.start :]).strip()
            part = link_suffix(label, target)
        text.append(part)
    return finish_text("".join(text))


# Names with a space cannot be written in a template, so authors cannot reach these; the
# code generator outputs what they return as it is (templates.sandbox.PLAN_FILTER_PREFIX).
FILTERS = {"chorus guard": _guard, "chorus emit": _emit, "chorus tag": _tag, "chorus mark": _mark}


# Analysis -------------------------------------------------------------------------------
class _Holey(str):
    """An attribute value with holes in it; ``holes`` are the expressions, in order."""

    holes: list[nodes.Expr]


@dataclass
class _DataHole:
    expr: nodes.Expr
    pre: bool


@dataclass
class _AltHole:
    value: _Holey


class _LinkOpen:
    pass


@dataclass
class _LinkClose:
    href: str | None


class _Analysis(_TextWriter):
    """The text writer run over the template's markup, noting holes and HTML landmarks."""

    def __init__(self) -> None:
        super().__init__(None)
        self.fed = 0  # characters fed so far
        self.line_starts = [0]
        self.depth = 0  # nesting in loops and branches
        self.template_line = 1
        self.tag_holes: list[tuple[int, nodes.Expr]] = []
        self.tracked: list[tuple[int, int]] = []
        self.body_open: int | None = None
        self.body_close: int | None = None
        self.ranges: dict[int, tuple[int, int]] = {}  # id(output child) -> stream span
        self.produced: dict[int, list] = {}  # id(output child) -> text parts it produced
        self.tail: list = []
        self.remembered: set[int] = set()  # id() of attribute holes whose text a link or alt needs
        self._self_closing = False

    # Feeding -------------------------------------------------------------------------
    def walk(self, body: list[nodes.Node]) -> None:
        for node in body:
            if isinstance(node, nodes.Output):
                self._output(node)
                continue
            self.template_line = node.lineno
            self._require_clean()
            if isinstance(node, _SILENT):
                continue
            if isinstance(node, nodes.For) and not node.recursive:
                bodies = [node.body, node.else_]
            elif isinstance(node, nodes.If):
                bodies = [node.body, *(branch.body for branch in node.elif_), node.else_]
            elif isinstance(node, (nodes.With, nodes.Block)):
                bodies = [node.body]
            else:
                raise Unsupported(type(node).__name__)
            for inner in bodies:
                self._neutral(inner)

    def finish(self) -> None:
        before = len(self.parts)
        self.close()
        self.tail = self.parts[before:]
        if self.tag_holes:
            raise Unsupported("a value inside unfinished markup")

    def _neutral(self, body: list[nodes.Node]) -> None:
        before = self._state()
        self.depth += 1
        self.walk(body)
        self.depth -= 1
        self._require_clean()
        if self._state() != before:
            raise Unsupported("a loop or branch leaves elements open or closes outer ones")

    def _state(self) -> tuple:
        links = tuple((id(href), start) for href, start in self.links)
        return (tuple(self.skip), self.pre, repr(self.lists), links)

    def _clean(self) -> bool:
        return not self.rawdata and self.cdata_elem is None

    def _require_clean(self) -> None:
        if not self._clean():
            raise Unsupported(f"line {self.template_line}: a tag inside markup")

    def _feed(self, text: str) -> None:
        for match in re.finditer("\n", text):
            self.line_starts.append(self.fed + match.end())
        self.fed += len(text)
        self.feed(text)

    def _output(self, node: nodes.Output) -> None:
        node.nodes = _merged(node.nodes)
        for child in node.nodes:
            self.template_line = child.lineno
            before, start = len(self.parts), self.fed
            if isinstance(child, nodes.TemplateData):
                if HOLE in child.data:
                    raise Unsupported("the template contains the hole character")
                self._feed(child.data)
            elif self._clean():
                if not self.skip:
                    self.parts.append(_DataHole(child, self.pre > 0))
            elif self.cdata_elem is not None or self.rawdata.startswith("<!--"):
                self._feed(HOLE)  # inside a script, style or comment: never text, never a tag
            elif starttagopen.match(self.rawdata):
                self.tag_holes.append((self.fed, child))
                self._feed(HOLE)
            else:
                raise Unsupported(f"line {self.template_line}: a value where markup could form")
            self.ranges[id(child)] = (start, self.fed)
            self.produced[id(child)] = self.parts[before:]

    def _position(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    # Parser callbacks ------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._position()
        raw = self.get_starttag_text() or ""
        end = start + len(raw)
        holes = [expr for at, expr in self.tag_holes if start <= at < end]
        self.tag_holes = [(at, expr) for at, expr in self.tag_holes if not start <= at < end]
        attrs = _bind_holes(raw, attrs, holes)
        if tag == "body":
            if self.depth:
                raise Unsupported("<body> inside a loop or branch")
            if self.body_open is None:
                self.body_open = end
        elif tag in ("a", "area") and any(name == "href" for name, _ in attrs):
            if not any(name == NO_TRACK_ATTRIBUTE for name, _ in attrs):
                self.tracked.append((start, end))
        super().handle_starttag(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._self_closing = True
        try:
            super().handle_startendtag(tag, attrs)
        finally:
            self._self_closing = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "body" and not self._self_closing:
            if self.depth:
                raise Unsupported("</body> inside a loop or branch")
            self.body_close = self._position()
        super().handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if HOLE in data and not self.skip:
            raise Unsupported(f"line {self.template_line}: a value inside text that is not text")
        super().handle_data(data)

    # Text writer hooks -------------------------------------------------------------------
    def hidden(self, attributes: dict[str, str]) -> bool:
        if any(isinstance(attributes.get(name), _Holey) for name in _HIDING_ATTRIBUTES):
            raise Unsupported(f"line {self.template_line}: whether an element is hidden depends on a value")
        return super().hidden(attributes)

    def alt(self, value: str) -> None:
        if isinstance(value, _Holey):
            self.remembered.update(id(hole) for hole in value.holes)
            self.parts.append(_AltHole(value))
        else:
            super().alt(value)

    def open_link(self, href: str | None) -> None:
        if isinstance(href, _Holey):
            self.remembered.update(id(hole) for hole in href.holes)
        self.parts.append(_LinkOpen())
        super().open_link(href)

    def close_link(self) -> None:
        href, _ = self.links.pop()
        self.parts.append(_LinkClose(href))


def _merged(children: list[nodes.Expr]) -> list[nodes.Expr]:
    # Adjacent data (split by a {# comment #}) is one run of text to the parser.
    merged: list[nodes.Expr] = []
    for child in children:
        if isinstance(child, nodes.TemplateData) and merged and isinstance(merged[-1], nodes.TemplateData):
            merged[-1] = nodes.TemplateData(merged[-1].data + child.data, lineno=merged[-1].lineno)
        else:
            merged.append(child)
    return merged


def _bind_holes(raw: str, attrs: list[tuple[str, str | None]], holes: list[nodes.Expr]) -> list:
    """Check each hole of a start tag sits in a quoted attribute value; mark those values."""
    if raw.count(HOLE) != len(holes):
        raise Unsupported("a value inside a tag name")
    if not holes:
        return attrs
    match = tagfind_tolerant.match(raw, 1)
    if match is None or HOLE in match.group(1):
        raise Unsupported("a value inside a tag name")
    position, bound, remaining = match.end(), [], list(holes)
    for name, value in attrs:
        match = attrfind_tolerant.match(raw, position)
        if match is None:
            raise Unsupported("unexpected attribute syntax")
        position = match.end()
        quoted = match.group(3) or ""
        if HOLE in (match.group(1) or "") or HOLE in (match.group(2) or "").replace(quoted, ""):
            raise Unsupported("a value inside an attribute name")
        if HOLE not in quoted:
            bound.append((name, value))
            continue
        if len(quoted) < 2 or quoted[0] not in "'\"" or quoted[-1] != quoted[0]:
            raise Unsupported("a value inside an unquoted attribute")
        pieces = quoted[1:-1].split(HOLE)
        if any(_PARTIAL_ENTITY.search(piece) for piece in pieces[:-1]):
            raise Unsupported("a character reference completed by a value")
        holey = _Holey(value or "")
        holey.holes, remaining = remaining[: len(pieces) - 1], remaining[len(pieces) - 1 :]
        bound.append((name, holey))
    if remaining:
        raise Unsupported("a value outside attribute values")
    return bound


# Building the template ------------------------------------------------------------------
class _Sink:
    """Statements being built, with the output expressions not yet wrapped in an Output."""

    def __init__(self) -> None:
        self.nodes: list[nodes.Node] = []
        self.current: list[nodes.Expr] = []

    def expr(self, expr: nodes.Expr) -> None:
        self.current.append(expr)

    def statement(self, node: nodes.Node) -> None:
        self.flush()
        self.nodes.append(node)

    def flush(self) -> None:
        if self.current:
            self.nodes.append(nodes.Output(self.current, lineno=self.current[0].lineno))
            self.current = []


class _Builder:
    """Rewrites the analysed tree: landmarks as marker chunks, text emitted on the side."""

    def __init__(self, analysis: _Analysis) -> None:
        self.analysis = analysis
        # (offset, 0 for the end of a tag / 1 for the start of one, what goes there)
        self.cuts: list[tuple[int, int, Any]] = []
        for start, end in analysis.tracked:
            self.cuts += [(start, 1, "tag"), (end, 0, "end")]
        if analysis.body_open is not None:
            self.cuts.append((analysis.body_open, 0, True))
        if analysis.body_close is not None:
            self.cuts.append((analysis.body_close, 1, False))
        self.cuts.sort(key=lambda cut: cut[:2])
        self.applied = 0
        self.pending: list = []  # text parts not yet handed to a guard or an emit

    def body(self, body: list[nodes.Node], tail: list | None = None) -> list[nodes.Node]:
        sink = _Sink()
        for node in body:
            if isinstance(node, nodes.Output):
                self.output(node, sink)
                continue
            self.flush(sink)
            if isinstance(node, nodes.For):
                node.body, node.else_ = self.body(node.body), self.body(node.else_)
            elif isinstance(node, nodes.If):
                node.body, node.else_ = self.body(node.body), self.body(node.else_)
                for branch in node.elif_:
                    branch.body = self.body(branch.body)
            elif isinstance(node, (nodes.With, nodes.Block)):
                node.body = self.body(node.body)
            sink.statement(node)
        self.pending += tail or []
        self.flush(sink)
        sink.flush()
        return sink.nodes

    def flush(self, sink: _Sink) -> None:
        if self.pending:
            lineno = sink.nodes[-1].lineno if sink.nodes else 1
            emit = _call("chorus emit", nodes.Const(self.take_ops()), lineno=lineno)
            sink.statement(nodes.ExprStmt(emit, lineno=lineno))

    def output(self, node: nodes.Output, sink: _Sink) -> None:
        tag_pieces: list[str] | None = None
        tag_values: list[nodes.Expr] = []
        for child in node.nodes:
            lineno = child.lineno
            produced = self.analysis.produced[id(child)]
            if not isinstance(child, nodes.TemplateData):
                hole = next((part for part in produced if isinstance(part, _DataHole)), None)
                mode = (2 if hole.pre else TEXT) if hole else REMEMBER if id(child) in self.analysis.remembered else 0
                guard = _call("chorus guard", child, nodes.Const(mode), nodes.Const(self.take_ops()), lineno=lineno)
                if tag_pieces is None:
                    sink.expr(guard)
                else:
                    tag_values.append(guard)
                    tag_pieces.append("")
                continue
            start, end = self.analysis.ranges[id(child)]
            text, at = child.data, start
            for offset, what in self.cuts_within(start, end):
                if tag_pieces is not None:
                    tag_pieces[-1] += text[at - start : offset - start]
                elif offset > at:
                    sink.expr(nodes.TemplateData(text[at - start : offset - start], lineno=lineno))
                at = offset
                if what == "tag":
                    tag_pieces, tag_values = [""], []
                elif what == "end":
                    sink.expr(_call("chorus tag", nodes.Const(tuple(tag_pieces)), *tag_values, lineno=lineno))
                    tag_pieces = None
                else:
                    sink.expr(_call("chorus mark", nodes.Const(what), lineno=lineno))
                self.applied += 1
            if tag_pieces is not None:
                tag_pieces[-1] += text[at - start :]
            elif end > at:
                sink.expr(nodes.TemplateData(text[at - start :], lineno=lineno))
            self.pending += produced
        if tag_pieces is not None:
            raise Unsupported("a tracked tag spans a tag")

    def take_ops(self) -> tuple:
        """The pending text parts as operations (see ``_run``), static link labels resolved."""
        ops: list = []
        for part in self.pending:
            if isinstance(part, str):
                if ops and isinstance(ops[-1], str):
                    ops[-1] += part
                elif part:
                    ops.append(part)
            elif isinstance(part, _LinkOpen):
                ops.append(part)
            elif isinstance(part, _LinkClose):
                ops.extend(self.close(ops, part))
            elif isinstance(part, _AltHole):
                ops.append((ALT, _spec(part.value)))
        self.pending = []
        return tuple((OPEN,) if isinstance(op, _LinkOpen) else op for op in ops)

    @staticmethod
    def close(ops: list, close: _LinkClose) -> list:
        opened = next((i for i in range(len(ops) - 1, -1, -1) if isinstance(ops[i], _LinkOpen)), None)
        if opened is None or not all(isinstance(op, str) for op in ops[opened + 1 :]):
            return [(CLOSE, _spec(close.href), None)]
        del ops[opened]  # the label is all known: no need to find where it starts
        label = "".join(ops[opened:]).strip()
        if not isinstance(close.href, _Holey) and not is_tracked_target(close.href):
            return [link_suffix(label, shown_target(close.href, None))]
        return [(CLOSE, _spec(close.href), label)]

    def cuts_within(self, start: int, end: int) -> list[tuple[int, Any]]:
        # A landmark that ends a tag belongs to the text before it, one that starts a tag
        # to the text after it; so a value right at the offset falls on the correct side.
        return [
            (offset, what)
            for offset, order, what in self.cuts
            if (start < offset <= end if order == 0 else start <= offset < end)
        ]


def _spec(value: str | None) -> Any:
    if isinstance(value, _Holey):
        return (tuple(value.split(HOLE)), len(value.holes))
    return value


def _call(name: str, node: nodes.Expr, *args: nodes.Expr, lineno: int) -> nodes.Filter:
    return nodes.Filter(node, name, list(args), [], None, None, lineno=lineno)


def plan_email(environment: Any, source: str, name: str) -> EmailPlan:
    """Analyse an email HTML source once; raises :class:`Unsupported` when it cannot be."""
    tree = environment.parse(source, name=name)
    analysis = _Analysis()
    analysis.walk(tree.body)
    analysis.finish()
    builder = _Builder(analysis)
    planned = nodes.Template(builder.body(tree.body, analysis.tail), lineno=1)
    if builder.applied != len(builder.cuts):
        raise Unsupported("a landmark outside the template's own text")
    planned.set_environment(environment)
    code = environment.compile(planned, name=name, filename=name)
    return EmailPlan(environment.template_class.from_code(environment, code, environment.make_globals(None), None))
