"""The Jinja environment templates run in.

An :class:`ImmutableSandboxedEnvironment` (no attribute starting with ``_``, no mutation of
lists and dicts), tightened for untrusted marketer input:

* the generated code calls ``environment.tick()`` at the top of every block body, so every
  loop iteration and macro call checks the render deadline;
* ``~``, ``+``, ``*`` and ``**`` check the size of what they build, ``%`` on strings and
  ``str.format``/``format_map`` are refused, and only side-effect-free, size-preserving
  ``str`` methods are reachable;
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
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from .filters import predicted_replace_size, template_filters
from .limits import check_chars, check_integer_bits, max_chars, tick

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
SIZED = (str, list, tuple)


class BoundedCodeGenerator(CodeGenerator):
    """Emits a deadline check into every block body and a size check around every ``~``."""

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
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


def _finalize(value: Any) -> Any:
    # A missing optional value should print as nothing, not as "None".
    return "" if value is None else value


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
        self.filters = template_filters()

    # Called from generated code ------------------------------------------------------
    tick = staticmethod(tick)

    @staticmethod
    def bounded(value: Any) -> Any:
        check_chars(len(value), "concatenation")
        return value

    # Sandbox policy -------------------------------------------------------------------
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
            _check_product(left, right)
            return operator.mul(left, right)
        if operator_ == "**":
            _check_power(left, right)
            return operator.pow(left, right)
        result = operator.add(left, right)
        if isinstance(result, SIZED):
            check_chars(len(result), "addition")
        elif isinstance(result, int):
            check_integer_bits(result.bit_length())
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            if __obj.__name__ == "join" and args:
                args = (_bounded_items(__obj.__self__, args[0]), *args[1:])
            elif __obj.__name__ == "replace" and len(args) >= 2:
                count = args[2] if len(args) > 2 else kwargs.get("count")
                size = predicted_replace_size(__obj.__self__, str(args[0]), str(args[1]), count)
                check_chars(size, "replace")
        return super().call(__context, __obj, *args, **kwargs)


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, SIZED):
        left, right = right, left
    if isinstance(left, SIZED) and isinstance(right, int):
        check_chars(len(left) * max(right, 0), "repetition")
    elif isinstance(left, int) and isinstance(right, int):
        check_integer_bits(left.bit_length() + right.bit_length())


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        check_integer_bits(max(base.bit_length(), 1) * exponent if abs(base) > 1 else 1)


def _bounded_items(separator: str, iterable: Any) -> list:
    items = list(iterable)
    limit = max_chars()
    total = len(separator) * max(len(items) - 1, 0)
    for item in items:
        total += len(item) if isinstance(item, str) else 0
        if total > limit:
            break
    check_chars(total, "join")
    return items
