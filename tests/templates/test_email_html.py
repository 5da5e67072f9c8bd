from templates import shape_email_html, wrap_links


def track(url: str) -> str:
    return "https://t.example/c?u=" + url


def test_only_anchor_hrefs_are_wrapped_not_comments_scripts_or_text():
    source = (
        "<html><body><!-- <a href='https://a.example'>x</a> -->"
        "<script>var s = '<a href=\"https://b.example\">';</script>"
        "<p>see href=https://c.example</p>"
        "<a class=\"btn\" href='https://d.example/?x=1&amp;y=2'>D</a>"
        '<a href=https://e.example>E</a><a href="#top">top</a>'
        '<a data-chorus-notrack href="https://f.example">F</a>'
        '<area href="https://g.example" /></body></html>'
    )
    out = wrap_links(source, track)
    assert "<!-- <a href='https://a.example'>x</a> -->" in out
    assert "var s = '<a href=\"https://b.example\">';" in out
    assert "see href=https://c.example" in out
    assert 'class="btn" href="https://t.example/c?u=https://d.example/?x=1&amp;y=2"' in out
    assert 'href="https://t.example/c?u=https://e.example"' in out
    assert 'href="#top"' in out and 'href="https://f.example"' in out
    assert 'href="https://t.example/c?u=https://g.example"' in out


def test_wrapper_output_is_escaped_back_into_the_attribute():
    out = wrap_links('<a href="https://x.example">x</a>', lambda url: url + '"><script>')
    assert out == '<a href="https://x.example&quot;&gt;&lt;script&gt;">x</a>'


def test_preheader_after_body_open_and_pixel_before_body_close():
    source = '<html><head></head><BODY class="b"><p>Hi</p></BODY></html>'
    out = shape_email_html(source, preheader="Big <sale>", open_pixel_url="https://t.example/o?a=1&b=2")
    assert out.startswith('<html><head></head><BODY class="b"><div style="display:none')
    assert "Big &lt;sale&gt;" in out
    assert out.index("<p>Hi</p>") < out.index('src="https://t.example/o?a=1&amp;b=2"') < out.index("</BODY>")


def test_fragment_without_body_gets_preheader_first_and_pixel_last():
    out = shape_email_html("<p>Hi</p>", preheader="P", open_pixel_url="https://t.example/o")
    assert out.startswith("<div") and out.endswith(" />")


def test_nothing_to_do_returns_the_source():
    source = "<p>unchanged</p>"
    assert shape_email_html(source) is source
