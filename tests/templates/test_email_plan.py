"""The planned email path must produce exactly what parsing every rendered body produces."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from templates import EmailContent, Renderer, TemplateContent
from templates.email_plan import Unsupported, plan_email
from templates.sandbox import HTML_PREFIX

planned = Renderer()
reference = Renderer(plan_emails=False)


def track(url: str) -> str:
    return "https://t.example/c?u=" + url


DATA = {
    "name": "Ana <b> & Bo",
    "id": "A-1&2",
    "url": "https://shop.example/p?a=1&b=2",
    "space": "  two\n words  ",
    "items": ["Shoes", "So<cks", ""],
    "links": [{"url": "https://x.example/1", "label": "One"}, {"url": "mailto:a@b.example", "label": "Mail"}],
    "empty": "",
    "none": None,
    "yes": True,
}

CORPUS = {
    "link with a variable": '<html><body><a href="https://x.example/{{ data.id }}">Go</a></body></html>',
    "whole href from data": '<body><p>Hi {{ data.name }}</p><a href="{{ data.url }}">{{ data.url }}</a></body>',
    "links in a loop": (
        '<body><ul>{% for link in data.links %}<li><a href="{{ link.url }}">{{ link.label }}</a></li>'
        "{% endfor %}</ul></body>"
    ),
    "untracked schemes and notrack": (
        '<body><a href="mailto:help@x.example">help</a> <a href="tel:+100">call</a> <a href="#top">top</a>'
        '<a data-chorus-notrack href="https://n.example">n</a><a href="sms:1">s</a>'
        "<a href='https://single.example/{{ data.id }}'>single</a><a href=https://bare.example>bare</a>"
        '<area href="https://area.example/{{ data.id }}"></body>'
    ),
    "no body": '<p>Hi {{ data.name }}</p><a href="https://x.example">x</a>',
    "body with attributes and head": (
        "<!doctype html><html><head><title>{{ data.name }}</title><style>p{color:red}</style></head>"
        '<BODY class="b" style="margin:0">{{ data.name }}<p>x</p>{{ data.id }}</BODY></html>'
    ),
    "hidden, pre, lists, tables": (
        '<body><div style="display:none">secret {{ data.name }}</div><pre>{{ data.space }}  a\n b</pre>'
        "<ol><li>one</li><li>{{ data.name }}</li></ol><table><tr><td>{{ data.id }}</td><td>2</td></tr></table>"
        "<script>var x = '{{ data.name }}';</script><!-- {{ data.name }} --><hr><br>{{ data.space }}</body>"
    ),
    "conditionals": (
        "<body>{% if data.yes %}<p>yes {{ data.name }}</p>{% elif data.none %}<b>n</b>{% else %}<i>no</i>{% endif %}"
        '{% if data.none %}<a href="https://never.example">never</a>{% endif %}</body>'
    ),
    "dynamic labels": (
        '<body><a href="https://x.example/{{ data.id }}">{{ data.name }}</a>'
        '<a href="https://shop.example/p?a=1&amp;b=2">{{ data.url }}</a>'
        '<a href="{{ data.url }}">{% if data.yes %}yes{% endif %}</a>'
        '<a href="https://y.example">https://y.example</a><a href="{{ data.empty }}">e</a></body>'
    ),
    "images with alt": '<body><img src="{{ data.url }}" alt="{{ data.name }} pic"><img alt="static"><a href="/i"><img alt="x"></a></body>',
    "entities and whitespace": (
        "<body><p>Fish &amp; chips&nbsp;{{ data.name }}   and\n\n{{ data.space }}</p><p>&copy; {{ data.id }}</p></body>"
    ),
    "set, with and macro": (
        "{% set greeting = 'Hello ' ~ data.name %}{% macro b(x) %}<b>{{ x }}</b>{% endmacro %}"
        "<body>{% with n = data.id %}<p>{{ greeting }} {{ n }}</p>{% endwith %}</body>"
    ),
    "loop else and nested loops": (
        "<body><table>{% for item in data.items %}<tr>{% for c in item %}<td>{{ c }}</td>{% endfor %}</tr>"
        "{% else %}<tr><td>none</td></tr>{% endfor %}</table>{% for x in [] %}{{ x }}{% else %}<p>empty</p>{% endfor %}</body>"
    ),
    "link wrapping a block element": '<body><a href="https://x.example/{{ data.id }}"><p>Title {{ data.id }}</p></a></body>',
    "several bodies": "<body>a</body><body>b {{ data.id }}</body>",
    "comment tags": "<body>{# note #}<p>a{# b #}b {{ data.id }}</p></body>",
}


def both(html: str, *, text: str | None = None, preheader: str | None = "Pre {{ data.id }}",
         link_wrapper=track, open_pixel_url="https://t.example/o.gif", data=DATA, blocks=None):  # fmt: skip
    content = TemplateContent(
        email=EmailContent(subject="s", html=html, text=text, preheader=preheader), blocks=blocks or {}
    )
    kwargs = dict(data=data, link_wrapper=link_wrapper, open_pixel_url=open_pixel_url, cache_key=("t", html))
    return planned.render(content, "email", **kwargs), reference.render(content, "email", **kwargs)


def has_plan(html: str) -> bool:
    try:
        plan_email(planned.environment, html, HTML_PREFIX + "email.html")
    except Unsupported:
        return False
    return True


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_renders_exactly_as_the_per_render_parse(name):
    html = CORPUS[name]
    assert has_plan(html), name
    for options in ({}, {"link_wrapper": None}, {"open_pixel_url": None, "preheader": None}):
        fast, slow = both(html, **options)
        assert fast == slow


def test_a_block_with_markup_falls_back_to_the_general_path():
    html = '<body><p>{{ blocks.offer }}</p><a href="https://x.example">x</a></body>'
    blocks = {"offer": '<a href="https://offer.example/{{ data.id }}">20% off</a>'}
    fast, slow = both(html, blocks=blocks)
    assert fast == slow
    assert "https://t.example/c?u=https://offer.example/A-1&amp;2" in fast.html


@pytest.mark.parametrize(
    "html",
    [
        '<body><a {{ "data-chorus-notrack" }} href="https://x.example">x</a></body>',  # a value as an attribute
        '<body><a href={{ data.url }}>x</a></body>',  # unquoted
        "<body><{{ data.tag }}>x</body>",  # a value as a tag name
        '<body><div style="{{ data.style }}">x</div></body>',  # hidden or not decided by a value
        "<body><ol>{% for i in data.items %}<li>{{ i }}</li>{% endfor %}</ol></body>",  # numbering per item
        "<body>{% if data.yes %}<div hidden>{% endif %}x</div></body>",  # unbalanced branch
        "<body>{% filter upper %}<a href='https://x.example'>x</a>{% endfilter %}</body>",
        "<body>{% for x in data.items %}<body>{% endfor %}</body>",
        "<body>&am{{ data.id }}</body>",  # a character reference completed by a value
    ],
)
def test_unsupported_markup_takes_the_general_path_with_the_same_result(html):
    assert not has_plan(html)
    data = {**DATA, "tag": "b", "style": "display:none"}
    fast, slow = both(html, data=data)
    assert fast == slow


def test_author_text_is_kept_and_html_still_shaped():
    fast, slow = both(CORPUS["links in a loop"], text="Plain {{ data.id }}")
    assert fast == slow and fast.text == "Plain A-1&2"


def test_errors_keep_field_and_line():
    html = "<body>\n<p>ok</p>\n{{ data.n + 1 }}</body>"
    errors = []
    for renderer in (planned, reference):
        content = TemplateContent(email=EmailContent(subject="s", html=html))
        with pytest.raises(Exception) as caught:
            renderer.render(content, "email", data={"n": "x"}, link_wrapper=track)
        errors.append((type(caught.value), caught.value.channel, caught.value.field, caught.value.line, str(caught.value)))
    assert errors[0] == errors[1] and errors[0][3] == 3


def test_link_wrapper_is_called_as_often_and_in_the_same_order():
    calls = {True: [], False: []}
    for renderer, key in ((planned, True), (reference, False)):
        content = TemplateContent(email=EmailContent(subject="s", html=CORPUS["links in a loop"] + CORPUS["dynamic labels"]))
        renderer.render(content, "email", data=DATA, link_wrapper=lambda url, key=key: calls[key].append(url) or url)
    assert calls[True] == calls[False]


# Property: random documents built from the pieces emails are made of -------------------
TEXT = st.sampled_from(["Hi", " ", "\n", "a  b", "&amp;", "&lt;x&gt;", "€", "x\ty", "", "-->"])
VALUE = st.sampled_from(["{{ data.name }}", "{{ data.space }}", "{{ data.id }}", "{{ data.empty }}", "{{ data.url }}"])
HREF = st.sampled_from(
    ["https://a.example/{{ data.id }}", "{{ data.url }}", "mailto:x@y.example", "#", "", " https://b.example ",
     "https://c.example/?q=a&amp;r={{ data.id }}", "tel:1", "a b"]
)  # fmt: skip
ATTRS = st.sampled_from(["", ' class="c"', " data-chorus-notrack", ' style="color:red"', ' title="{{ data.name }}"'])


def _fragment(children):
    inline = st.one_of(
        TEXT,
        VALUE,
        st.tuples(HREF, ATTRS, children).map(lambda t: f'<a href="{t[0]}"{t[1]}>{t[2]}</a>'),
        st.tuples(st.sampled_from(["p", "div", "b", "td", "li", "h2", "pre", "span"]), children).map(
            lambda t: f"<{t[0]}>{t[1]}</{t[0]}>"
        ),
        children.map(lambda c: "{% for i in data.items %}" + c + "{{ i }}{% endfor %}"),
        children.map(lambda c: "{% if data.yes %}" + c + "{% else %}x{% endif %}"),
        children.map(lambda c: '<div style="display:none">' + c + "</div>"),
        st.just("<br>"),
        st.just('<img alt="{{ data.name }}">'),
    )
    return st.lists(inline, max_size=4).map("".join)


DOCUMENTS = st.recursive(st.lists(st.one_of(TEXT, VALUE), max_size=3).map("".join), _fragment, max_leaves=12)


@given(DOCUMENTS, st.booleans())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_documents_render_as_the_per_render_parse(body, with_body_tag):
    html = f"<html><body>{body}</body></html>" if with_body_tag else body
    assert has_plan(html)
    fast, slow = both(html)
    assert fast == slow
