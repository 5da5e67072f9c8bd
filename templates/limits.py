"""Per-render time and size limits.

Time is the rendering thread's CPU time (`time.thread_time`), not the wall clock: a worker
running many threads makes each wait for the GIL, and a template that renders in a
millisecond alone must not fail its deadline because its thread was waiting. A template that
loops without end burns CPU, and that is what the deadline stops. Nor does a collection of
the garbage collector count: it runs in whichever thread happens to allocate, and on a worker
holding tens of thousands of rows a full collection alone can take longer than the deadline.

Reading the thread's CPU clock is a system call (1.7 µs on a virtual machine, against 0.1 µs
for the wall clock), and a render checks its deadline at every loop iteration: reading it each
time cost an SMS or push render 5-10%. CPU time never grows faster than wall time, so the CPU
clock is read only once the wall clock says the deadline could have passed, and a budget
starts from the thread's CPU time as last read (at most ANCHOR_SECONDS ago) plus the wall time
since: a bound from above, so a runaway template gets at most that much longer, never less.

A render runs with a :class:`RenderBudget` installed in a context variable; the compiled
template code calls :func:`tick` at the top of every block body (each loop iteration, each
macro call) and :func:`check_chars` on every value that could grow, so a template that loops
or concatenates without end is stopped, not left to hang a worker. What runs in C between
two ticks (turning a list into text, comparing or hashing one) is bounded by measuring the
values first: see :mod:`templates.sizes`.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from time import perf_counter, thread_time
from typing import Iterator

from .errors import RenderLimitExceeded

MAX_INTEGER_BITS = 4096  # far beyond any money amount, far below a slow big-int operation
ANCHOR_SECONDS = 0.005


@dataclass(frozen=True)
class RenderLimits:
    """``deadline_seconds`` bounds one channel's render; ``max_field_chars`` each field's output.

    ``max_value_chars`` bounds each list, tuple or dict a template builds, measured as the
    length of its text (so whatever C code does with it is bounded too), and the text of
    the namespaces one render turns into text, in total.
    """

    deadline_seconds: float = 0.2
    max_field_chars: int = 256 * 1024
    max_value_chars: int = 1024 * 1024


class RenderBudget:
    __slots__ = ("deadline", "limits", "text_left", "wall_deadline")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        cpu, wall = _cpu_bound()
        self.deadline = cpu + limits.deadline_seconds  # what counts: CPU time, collections excluded
        self.wall_deadline = wall + limits.deadline_seconds  # before it, the deadline cannot have passed
        self.text_left = limits.max_value_chars


_budget: ContextVar[RenderBudget | None] = ContextVar("chorus_render_budget", default=None)


def start_budget(limits: RenderLimits) -> Token | None:
    """Install a budget unless an outer render (a block inside a field) already has one.

    Returns what :func:`end_budget` needs; a plain pair of calls rather than a context
    manager because it runs on every render.
    """
    if _budget.get() is not None:
        return None
    return _budget.set(RenderBudget(limits))


def extend_deadline(seconds: float) -> None:
    """Give the current render back time it spent on one-off work (analysing a template)."""
    budget = _budget.get()
    if budget is not None:
        budget.deadline += seconds
        budget.wall_deadline += seconds


_collections = threading.local()  # per thread: when the running collection started, CPU spent in all


def _exclude_collections(phase: str, info: dict) -> None:
    # Only a thread-local is touched here, never the budget's ContextVar: a collection can run
    # inside ContextVar.set/reset, and a lookup from it then leaves CPython's per-variable cache
    # pointing at a value the reset frees (a segfault on the next get).
    if phase == "start":
        _collections.started = thread_time()
        return
    started = getattr(_collections, "started", None)
    if started is not None:
        _collections.started = None
        _collections.spent = getattr(_collections, "spent", 0.0) + thread_time() - started


def _cpu() -> float:
    """This thread's CPU time less what garbage collection took of it."""
    return thread_time() - getattr(_collections, "spent", 0.0)


_anchor = threading.local()  # per thread: (_cpu(), perf_counter()) when the CPU clock was last read


def _cpu_bound() -> tuple[float, float]:
    """(this thread's _cpu() now or a little above it, the wall clock now), reading the CPU
    clock at most once every ANCHOR_SECONDS."""
    wall = perf_counter()
    anchor = getattr(_anchor, "value", None)
    if anchor is not None and wall - anchor[1] <= ANCHOR_SECONDS:
        return anchor[0] + (wall - anchor[1]), wall
    cpu = _cpu()
    _anchor.value = (cpu, wall)
    return cpu, wall


if _exclude_collections not in gc.callbacks:
    gc.callbacks.append(_exclude_collections)


def end_budget(token: Token | None) -> None:
    if token is not None:
        _budget.reset(token)


@contextmanager
def render_budget(limits: RenderLimits) -> Iterator[None]:
    token = start_budget(limits)
    try:
        yield
    finally:
        end_budget(token)


def tick() -> None:
    budget = _budget.get()
    if budget is None or perf_counter() <= budget.wall_deadline:
        return
    cpu = _cpu()
    if cpu > budget.deadline:
        raise RenderLimitExceeded(
            f"rendering took longer than {budget.limits.deadline_seconds * 1000:.0f} ms"
        )
    # Waiting (the GIL, a collection) took the wall time: CPU time reaches the deadline no
    # sooner than its distance from now.
    budget.wall_deadline = perf_counter() + (budget.deadline - cpu)


def max_chars() -> int:
    budget = _budget.get()
    return budget.limits.max_field_chars if budget is not None else RenderLimits.max_field_chars


def max_value_chars() -> int:
    budget = _budget.get()
    return budget.limits.max_value_chars if budget is not None else RenderLimits.max_value_chars


def spend_text(size: int, what: str) -> None:
    """Take ``size`` characters from the render's allowance for ``what``."""
    budget = _budget.get()
    if budget is None:
        return
    budget.text_left -= size
    if budget.text_left < 0:
        limit = budget.limits.max_value_chars
        raise RenderLimitExceeded(f"{what} would be more than {limit} characters; the limit is {limit}")


def check_chars(size: int, what: str = "output") -> None:
    limit = max_chars()
    if size > limit:
        raise RenderLimitExceeded(f"{what} would be {size} characters; the limit is {limit}")


def check_integer_bits(bits: int) -> None:
    if bits > MAX_INTEGER_BITS:
        raise RenderLimitExceeded(f"number too large ({bits} bits; the limit is {MAX_INTEGER_BITS})")
