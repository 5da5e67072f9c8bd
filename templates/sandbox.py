"""The Jinja environment templates run in.

An :class:`ImmutableSandboxedEnvironment` (no attribute starting with ``_``, no mutation of
lists and dicts), tightened for untrusted marketer input:

* the generated code calls ``environment.tick()`` at the top of every block body, so every
  loop iteration and macro call checks the render deadline;
* ``~``, ``+``, ``*`` and ``**`` check the size of what they would build before building it,
  ``%`` on strings and ``str.format``/``format_map`` are refused, and only side-effect-free,
  size-preserving ``str`` methods are reachable;
* every list, tuple and dict the template builds is weighed as it is built, and every value
  is measured before it becomes text (:mod:`templates.sizes`): no ``repr``, comparison or
  hash running in C, out of the deadline's reach, can take long;
* an unsafe attribute raises at once instead of rendering as an empty string;
* ``lipsum`` is gone and the filter set is the small one in :mod:`templates.filters`.
"""

from __future__ import annotations

import operator
import types
from collections.abc import Mapping
from typing import Any

from jinja2 import ChainableUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import object_type_repr
from markupsafe import Markup

from .errors import TemplateError
from .filters import predicted_replace_size, template_filters
from .limits import check_chars, check_integer_bits, max_chars, tick
from .sizes import (
    TEXT_SAFE,
    BoundedNamespace,
    check_text,
    concatenated,
    repeated,
    short_repr,
    sized,
    sized_dict,
    sized_list,
    sized_tuple,
    text_chars,
)

HTML_PREFIX = "html:"  # template names starting with this are autoescaped
PLAN_FILTER_PREFIX = "chorus "  # no template can name a filter with a space in it

STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
        "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle",
        "isupper", "join", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
        "replace", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines",
        "startswith", "strip", "swapcase", "title", "upper",
    }
)  # fmt: skip
MARKUP_METHODS = STR_METHODS | {"striptags", "unescape"}
NUMBER_ATTRIBUTES = frozenset(
    {"real", "imag", "numerator", "denominator", "is_integer", "conjugate", "bit_length"}
)
SEQUENCES = (list, tuple)
SHORT_KEYS = frozenset({str, int, float, bool, type(None)})


class BoundedCodeGenerator(CodeGenerator):
    """Emits a deadline check into every block body and a size check around everything
    that builds a value: ``~``, and list, tuple and dict literals."""

    def blockvisit(self, nodes_: Any, frame: Frame) -> None:
        self.writeline("environment.tick()")
        super().blockvisit(nodes_, frame)

    # An email plan's own filters (see templates.email_plan) escape what they return, or
    # return a marker chunk the renderer recognises by its type: output it as it is.
    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if not (isinstance(node, nodes.Filter) and node.name.startswith(PLAN_FILTER_PREFIX)):
            super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if not (isinstance(node, nodes.Filter) and node.name.startswith(PLAN_FILTER_PREFIX)):
            super()._output_child_post(node, frame, finalize)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # As Jinja's, but the parts are measured before the join turns them into text.
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"environment.joined({func_name}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.sized_list(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment or loop target
            super().visit_Tuple(node, frame)
            return
        self.write("environment.sized_tuple(")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.sized_dict(")
        super().visit_Dict(node, frame)
        self.write(")")


def _finalize(value: Any) -> Any:
    # A missing optional value should print as nothing, not as "None"; anything but a
    # string or a number is measured before the generated code turns it into text.
    cls = value.__class__
    if cls is str:
        return value
    if cls in TEXT_SAFE:
        return "" if value is None else value
    check_text(value)
    return value


def bounded_concat(parts: Any) -> str:
    """``environment.concat``: joins a macro's, a ``{% set %}`` block's or a filter block's output."""
    if parts.__class__ is not list:
        parts = list(parts)
    size = sum(map(len, parts))
    if size > max_chars():
        check_chars(size, "block output")
    return "".join(parts)


def _autoescape(name: str | None) -> bool:
    return bool(name) and name.startswith(HTML_PREFIX)


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, undefined: type = ChainableUndefined) -> None:
        super().__init__(
            autoescape=_autoescape,
            undefined=undefined,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=0,
        )
        self.globals.pop("lipsum", None)
        self.globals["namespace"] = BoundedNamespace
        self.filters = template_filters()

    # Called from generated code ------------------------------------------------------
    tick = staticmethod(tick)
    concat = staticmethod(bounded_concat)
    sized_list = staticmethod(sized_list)
    sized_tuple = staticmethod(sized_tuple)
    sized_dict = staticmethod(sized_dict)

    @staticmethod
    def joined(join: Any, parts: tuple) -> str:
        """``a ~ b ~ c``: the parts measured as text, the total checked, then joined."""
        limit = max_chars()
        total = 0
        for part in parts:
            cls = part.__class__
            if cls is str or cls is Markup:
                total += len(part)
            elif cls not in TEXT_SAFE:  # a number's text is short: the result is checked
                total += text_chars(part, max(limit - total, 0), "concatenation", limit)
        if total > limit:
            check_chars(total, "concatenation")
        result = join(parts)
        if len(result) > limit:  # escaping the parts made it longer
            check_chars(len(result), "concatenation")
        return result

    # Sandbox policy -------------------------------------------------------------------
    def getitem(self, obj: Any, argument: Any) -> Any:
        if argument.__class__ in SHORT_KEYS or isinstance(argument, str):
            return super().getitem(obj, argument)
        try:
            return obj[argument]
        except (TypeError, LookupError):
            pass
        # The undefined value's messages show the key: a long one is only described.
        try:
            text_chars(argument, 200)
        except TemplateError:
            shown = short_repr(argument)
            return self.undefined(hint=f"{object_type_repr(obj)} has no element {shown}", obj=obj, name=shown)
        return self.undefined(obj=obj, name=argument)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # For a mapping, a key wins over a method: ``data.items`` is the payload's "items",
        # not dict.items, which is what a marketer writing it means.
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, Markup):
            return attr in MARKUP_METHODS
        if isinstance(obj, str):
            return attr in STR_METHODS
        if isinstance(obj, (int, float, complex)):
            return attr in NUMBER_ATTRIBUTES
        if isinstance(obj, (bytes, bytearray, memoryview, type, types.ModuleType)):
            return False
        return True

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is not allowed"
        )

    def wrap_str_format(self, value: Any) -> Any:
        if super().wrap_str_format(value) is not None:
            raise SecurityError("str.format and str.format_map are not allowed in templates")
        return None

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "%":
            if isinstance(left, str):
                raise SecurityError("string formatting with % is not allowed in templates")
            return operator.mod(left, right)
        if operator_ == "*":
            return _product(left, right)
        if operator_ == "**":
            _check_power(left, right)
            return operator.pow(left, right)
        return _sum(left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            args = _check_str_call(__obj, owner, args, kwargs)
        elif isinstance(__obj, Macro) and (__obj.catch_varargs or __obj.catch_kwargs):
            args, kwargs = _weighed_macro_extras(__obj, args, kwargs)
        elif getattr(__obj, "__name__", None) == "index" and isinstance(__obj, types.BuiltinMethodType):
            for value in args:  # list.index and range.index show the value they did not find
                check_text(value, "argument")
        return sized(super().call(__context, __obj, *args, **kwargs))


def _check_str_call(method: Any, owner: str, args: tuple, kwargs: dict) -> tuple:
    """Before a str (or Markup) method runs: what Markup would escape into text is measured."""
    name = method.__name__
    if name == "join" and args:
        return (_bounded_items(owner, args[0]), *args[1:])
    for value in (*args, *kwargs.values()):
        if value.__class__ not in TEXT_SAFE:
            check_text(value, "argument")
    if name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count")
        size = predicted_replace_size(owner, str(args[0]), str(args[1]), count)
        check_chars(size, "replace")
    return args


def _weighed_macro_extras(macro: Macro, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``varargs`` and ``kwargs`` are a tuple and a dict the call builds: weigh them.

    The extra arguments themselves are passed on weighed, so a macro that passes its
    ``varargs`` on (to itself, say) is weighed by its items, not walked again each call.
    """
    named = len(macro.arguments)
    if macro.catch_varargs and len(args) > named:
        extras = tuple(map(sized, args[named:]))
        sized_tuple(extras)
        args = args[:named] + extras
    if macro.catch_kwargs and kwargs:
        kwargs = {key: value if key in macro.arguments else sized(value) for key, value in kwargs.items()}
        sized_dict({key: value for key, value in kwargs.items() if key not in macro.arguments})
    return args, kwargs


def _product(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, (str, list, tuple)):
        left, right = right, left
    if isinstance(right, int):
        if isinstance(left, str):
            check_chars(len(left) * max(right, 0), "repetition")
        elif isinstance(left, SEQUENCES):
            return repeated(left, right)
        elif isinstance(left, int):
            check_integer_bits(left.bit_length() + right.bit_length())
    return operator.mul(left, right)


def _sum(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        if isinstance(right, str):
            check_chars(len(left) + len(right), "addition")
        else:  # Markup + value escapes the value: its text is measured first
            check_chars(len(left) + text_chars(right, max_chars(), "addition"), "addition")
    elif isinstance(right, str):
        check_chars(len(right) + text_chars(left, max_chars(), "addition"), "addition")
    elif (isinstance(left, list) and isinstance(right, list)) or (
        isinstance(left, tuple) and isinstance(right, tuple)
    ):
        return concatenated(left, right)
    result = operator.add(left, right)  # numbers, or a string no longer than the check allowed
    if isinstance(result, str):
        if len(result) > max_chars():  # Markup + str escapes the str: longer than measured
            check_chars(len(result), "addition")
    elif isinstance(result, int):
        check_integer_bits(result.bit_length())
    return result


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        check_integer_bits(max(base.bit_length(), 1) * exponent if abs(base) > 1 else 1)


def _bounded_items(separator: str, iterable: Any) -> list:
    """The items of ``separator.join(iterable)``, their text measured before the join."""
    items = list(iterable)
    limit = max_chars()
    total = len(separator) * max(len(items) - 1, 0)
    check_chars(total, "join")
    for item in items:
        total += len(item) if item.__class__ is str else text_chars(item, limit - total, "join", limit)
        if total > limit:
            check_chars(total, "join")
    return items
