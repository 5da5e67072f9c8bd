import re

from hypothesis import given, settings
from hypothesis import strategies as st

from templates import html_to_text
from templates.email_text import finish_text


def test_structure_links_lists_and_tables_survive():
    html = """<html><head><title>T</title><style>p{color:red}</style></head><body>
    <div style="display:none">preheader</div>
    <h1>Your   order</h1>
    <p>Hello <b>Ana</b>,<br>thanks &amp; welcome.</p>
    <ul><li>Shoes</li><li>Socks<ol><li>red</li><li>blue</li></ol></li></ul>
    <table><tr><td>Total</td><td>€10</td></tr></table>
    <p><a href="https://shop.example/o/1">Track it</a> or <a href="https://shop.example/x">https://shop.example/x</a>
    <a href="mailto:help@shop.example">help@shop.example</a> <a href="#top">top</a>
    <a href="https://shop.example/i"><img src="i.png" alt="Logo"></a></p><hr><script>alert(1)</script>
    </body></html>"""
    assert html_to_text(html) == (
        "Your order\n\n"
        "Hello Ana,\nthanks & welcome.\n\n"
        "- Shoes\n- Socks\n\n  1. red\n  2. blue\n\n"
        "Total €10\n\n"
        "Track it (https://shop.example/o/1) or https://shop.example/x help@shop.example top"
        " Logo (https://shop.example/i)\n\n---"
    )


def test_pre_keeps_its_spacing():
    assert html_to_text("<pre>a  b\n  c</pre>") == "a  b\n  c"


def test_link_wrapper_applies_to_shown_targets():
    text = html_to_text('<a href="https://x.example">go</a>', lambda url: "https://t/c?u=" + url)
    assert text == "go (https://t/c?u=https://x.example)"


@given(st.text(alphabet=" \n\x00\tab\u00a0", max_size=40))
@settings(max_examples=300)
def test_finishing_matches_the_plain_regex_formulation(raw):
    expected = re.sub(r" {2,}", " ", raw)
    expected = re.sub(r" *\n *", "\n", expected)
    expected = re.sub(r"\n{3,}", "\n\n", expected)
    assert finish_text(raw) == expected.replace("\x00", " ").strip()
