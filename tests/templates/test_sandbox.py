"""Sandbox-escape attempts and runaway templates: every one fails safely and quickly."""

import time

import pytest

from templates import (
    RenderLimitExceeded,
    Renderer,
    RenderLimits,
    SmsContent,
    TemplateContent,
    TemplateError,
    TemplateRenderError,
    TemplateSyntaxIssue,
)

renderer = Renderer(RenderLimits(deadline_seconds=0.05, max_field_chars=10_000))


def render_sms(body: str, **data) -> str:
    return renderer.render(TemplateContent(sms=SmsContent(body=body)), "sms", data=data).text


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ ''|attr('__class__') }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ '{0.__class__.__mro__}'.format_map({'a': 1}) }}",
    "{{ '%s'|format(1) }}",
    "{{ '%s' % 1 }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ range.__globals__ }}",
    "{{ dict.mro() }}",
    "{{ dict.__subclasses__() }}",
    "{{ (1).__class__.__subclasses__() }}",
    "{{ (1).to_bytes(10**8, 'big') }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'.center(10**9) }}",
    "{{ 'x'.zfill(10**9) }}",
    "{{ 'a\tb'.expandtabs(10**9) }}",
    "{{ data.__class__ }}",
    "{% set x = [] %}{{ x.append(1) }}",
    "{% set d = {} %}{{ d.update(a=1) }}",
    "{{ lipsum(10**6) }}",
    "{% include 'x' %}",
    "{% extends 'base' %}",
    "{% import 'macros' as m %}",
    "{% from 'macros' import m %}",
    "{{ ''.encode('utf-8') }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_attempts_fail_with_a_template_error(source):
    with pytest.raises(TemplateError) as caught:
        render_sms(source)
    assert caught.value.channel == "sms" and caught.value.field == "body"
    assert "class" not in caught.value.message.lower() or "not allowed" in caught.value.message


@pytest.mark.parametrize("source", ["{{ request.environ }}", "{{ config.SECRET_KEY }}", "{{ g.user }}", "{{ session }}"])
def test_flask_globals_are_not_in_scope(source):
    assert render_sms(source) == ""


def test_unknown_filter_is_a_syntax_issue():
    with pytest.raises(TemplateSyntaxIssue) as caught:
        render_sms("ok\n{{ x|attr('y') }}")
    assert caught.value.code == "unknown_filter" and caught.value.line == 2


RUNAWAYS = [
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "{% for i in range(99999) %}{% for j in range(99999) %}{{ i }}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{% set ns = namespace(n=3) %}{% for i in range(60) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ ['a'] * 10**9 }}",
    "{{ 10 ** 100000 }}",
    "{{ 'x' * 9000 ~ 'x' * 9000 }}",
    "{{ ''.join(['x' * 9000] * 100) }}",
    "{{ (['x' * 9000] * 100)|join }}",
    "{{ ('x' * 9000)|replace('x', 'yy') }}",
    "{{ ('x' * 9000).replace('x', 'yy') }}",
    "{% for i in range(99999) %}{{ i }}{% endfor %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% for i in range(99999) recursive %}{{ loop(range(99999)) }}{% endfor %}",
]


@pytest.mark.parametrize("source", RUNAWAYS)
def test_runaway_templates_stop_quickly(source):
    started = time.thread_time()
    with pytest.raises(TemplateRenderError):
        render_sms(source)
    assert time.thread_time() - started < 1.0


def test_nested_huge_loops_raise_render_limit_exceeded_near_the_deadline():
    default = Renderer()
    content = TemplateContent(
        sms=SmsContent(body="{% for i in range(99999) %}\n{% for j in range(99999) %}{% endfor %}{% endfor %}")
    )
    # CPU time, as the deadline counts it: the wall clock of a loaded machine proves nothing.
    started = time.thread_time()
    with pytest.raises(RenderLimitExceeded) as caught:
        default.render(content, "sms")
    elapsed = time.thread_time() - started
    assert 0.19 < elapsed < 0.6
    assert "200 ms" in caught.value.message and caught.value.line in (1, 2)


def test_range_above_the_sandbox_maximum_is_refused():
    with pytest.raises(TemplateRenderError, match="Range too big"):
        render_sms("{% for i in range(10**9) %}{% endfor %}")


def test_ordinary_arithmetic_and_methods_still_work():
    out = render_sms(
        "{{ 2 ** 10 }} {{ 7 % 3 }} {{ 'ab' * 2 }} {{ 'a,b'.split(',')|join('+') }} {{ 'Ab'.lower() }}"
        " {{ [1, 2] + [3] }} {{ (1.5).is_integer() }}"
    )
    assert out == "1024 1 abab a+b ab [1, 2, 3] False"


def test_mutation_refusal_names_the_line():
    with pytest.raises(TemplateRenderError) as caught:
        render_sms("line one\n{% set x = [1] %}{{ x.append(2) }}")
    assert caught.value.line == 2


def test_the_render_deadline_counts_cpu_not_waiting():
    """A worker's other threads hold the GIL; time spent waiting must not fail a render."""
    import time

    from templates.errors import RenderLimitExceeded
    from templates.limits import RenderLimits, render_budget, tick

    with render_budget(RenderLimits(deadline_seconds=0.05)):
        time.sleep(0.12)  # waiting, as a thread blocked on the GIL or I/O does
        tick()
        started = time.thread_time()
        with pytest.raises(RenderLimitExceeded):
            while time.thread_time() - started < 1.0:  # burning CPU, as a loop bomb does
                tick()


def test_the_render_deadline_leaves_out_garbage_collection():
    """A full collection on a worker holding many rows may outlast the deadline by itself."""
    import gc
    import time

    from templates.limits import RenderLimits, render_budget, tick

    heap = [[i] for i in range(2_000_000)]  # containers the collector has to walk
    with render_budget(RenderLimits(deadline_seconds=0.02)):
        started = time.thread_time()
        gc.collect()
        assert time.thread_time() - started > 0.02, "the heap is too small to prove anything"
        tick()
    del heap
