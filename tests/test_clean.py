"""Cleaning: one bleach pass keeps what long-form posts use and nothing that runs."""

from __future__ import annotations

import re

import pytest

from aggregator.clean import canonical_embed, clean_content, clean_text, make_excerpt, safe_url

BASE = "https://writer.example/blog/2026/a-post/"


def clean(html: str, base: str | None = BASE) -> str:
    return clean_content(html, True, base).html


def test_keeps_the_structure_of_long_form_posts():
    html = (
        "<h2>Heading</h2><p>A <em>warm</em>, <strong>personal</strong> paragraph.</p>"
        "<blockquote><p>A quote.</p></blockquote><ul><li>one</li><li>two</li></ul><ol start=\"3\"><li>three</li></ol>"
        "<figure><img src=\"https://writer.example/a.jpg\" alt=\"A chair\" width=\"800\" height=\"600\"><figcaption>The chair</figcaption></figure>"
        "<table><thead><tr><th scope=\"col\">Zone</th></tr></thead><tbody><tr><td>Calm</td></tr></tbody></table>"
    )
    result = clean(html)
    for fragment in (
        "<h2>Heading</h2>", "<em>warm</em>", "<strong>personal</strong>", "<blockquote><p>A quote.</p></blockquote>",
        "<li>two</li>", '<ol start="3">', "<figcaption>The chair</figcaption>", '<th scope="col">Zone</th>', "<td>Calm</td>",
        'alt="A chair"', 'width="800"',
    ):  # fmt: skip
        assert fragment in result


@pytest.mark.parametrize("element", ["script", "style", "noscript", "template", "object", "textarea", "title", "xmp"])
def test_dangerous_elements_go_with_their_contents(element):
    result = clean_content(f"<p>before</p><{element}>SECRET_{element}</{element}><p>after</p>", True, BASE)
    assert f"SECRET_{element}" not in result.html
    assert f"SECRET_{element}" not in result.text
    assert "<p>before</p>" in result.html and "<p>after</p>" in result.html


def test_text_after_a_dropped_element_stays():
    assert clean("<p>one <script>alert(1)</script>two</p>") == "<p>one two</p>"
    assert clean("<script>x</script>lead text") == "lead text"


def test_svg_is_dropped_whole_and_math_leaves_only_its_text():
    result = clean('<p>a</p><svg><script>alert(1)</script><text>svg text</text></svg><math><mi>x</mi><script>alert(2)</script></math><p>b</p>')
    assert result == "<p>a</p><span>x</span><p>b</p>"


def test_forms_and_signup_boxes_are_dropped():
    result = clean('<p>Post.</p><form action="https://evil.example/"><label>Email</label><input name="e"><button>Sign up</button></form>')
    assert result == "<p>Post.</p>"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java&#x09;script:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;avascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html,<script>alert(1)</script>",
        "\x01javascript:alert(1)",
    ],
)
def test_unsafe_link_schemes_are_removed(href):
    result = clean(f'<a href="{href}">click</a>')
    assert "href" not in result
    assert "click" in result


def test_event_handlers_styles_and_classes_are_removed_and_ids_prefixed():
    result = clean('<p onclick="alert(1)" style="color:red" class="x" id="top" onmouseover="x()">Hi</p><img src="a.jpg" onerror="alert(1)">')
    assert re.match(r'<p id="e[0-9a-f]{8}-top">Hi</p>', result)
    for word in ("onclick", "onerror", "onmouseover", "style", "class", 'id="top"'):
        assert word not in result


def test_comments_are_removed():
    assert clean("<p>a<!-- <script>alert(1)</script> -->b</p>") == "<p>ab</p>"


def test_relative_urls_become_absolute_against_the_entry():
    result = clean('<a href="../other/">next</a> <a href="/about">about</a> <img src="img/pic.jpg" alt="">')
    assert 'href="https://writer.example/blog/2026/other/"' in result
    assert 'href="https://writer.example/about"' in result
    assert 'src="https://writer.example/blog/2026/a-post/img/pic.jpg"' in result


def test_srcset_candidates_are_made_absolute_and_checked():
    result = clean('<img src="a.jpg" srcset="a-2x.jpg 2x, javascript:alert(1) 3x, https://cdn.example/a-4x.jpg 4x" alt="">')
    assert 'srcset="https://writer.example/blog/2026/a-post/a-2x.jpg 2x, https://cdn.example/a-4x.jpg 4x"' in result


def test_links_open_safely_and_images_load_lazily():
    result = clean('<a href="https://elsewhere.example/" target="_blank" rel="opener">x</a><img src="https://e.example/p.png" alt="p">')
    assert '<a href="https://elsewhere.example/" rel="noopener noreferrer">x</a>' in result
    assert "target" not in result
    assert 'loading="lazy"' in result


def test_mailto_links_are_kept():
    assert 'href="mailto:hello@writer.example"' in clean('<a href="mailto:hello@writer.example">mail</a>')


def test_video_embeds_are_rebuilt_sandboxed_on_their_canonical_host():
    result = clean('<iframe src="https://www.youtube.com/embed/abc123?feature=oembed" width="500" onload="alert(1)"><p>fallback</p></iframe>')
    assert result == (
        '<iframe src="https://www.youtube-nocookie.com/embed/abc123" title="Embedded video" '
        'sandbox="allow-scripts allow-same-origin allow-presentation allow-popups" loading="lazy" '
        'allow="fullscreen; picture-in-picture" allowfullscreen="" referrerpolicy="strict-origin-when-cross-origin" '
        'width="560" height="315"></iframe>'
    )
    vimeo = clean('<iframe src="https://player.vimeo.com/video/76979871?dnt=1&amp;app_id=1" title="A calm minute"></iframe>')
    assert 'src="https://player.vimeo.com/video/76979871"' in vimeo and 'title="A calm minute"' in vimeo


def test_other_iframes_become_plain_links_to_what_they_embedded():
    result = clean('<iframe src="https://maps.example/embed?q=clinic"><p>fallback</p></iframe><iframe src="javascript:alert(1)"></iframe>')
    assert "<iframe" not in result
    assert '<p><a href="https://maps.example/embed?q=clinic" rel="noopener noreferrer">Open the embedded content: maps.example</a></p>' == result
    assert "fallback" not in result and "javascript" not in result


@pytest.mark.parametrize(
    ("url", "embed"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=10", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=10"),
        ("https://www.youtube.com/embed/dQw4w9WgXcQ?start=90&autoplay=1", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=90"),
        ("https://youtu.be/dQw4w9WgXcQ?t=1m30s", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=90"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ#t=1h2m3s", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=3723"),
        ("https://youtu.be/dQw4w9WgXcQ?t=soon", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
        ("https://vimeo.com/76979871#t=1m30s", "https://player.vimeo.com/video/76979871#t=90s"),
        ("https://player.vimeo.com/video/76979871#t=90s", "https://player.vimeo.com/video/76979871#t=90s"),
        ("https://youtu.be/dQw4w9WgXcQ", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
        ("//www.youtube-nocookie.com/embed/dQw4w9WgXcQ", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
        ("https://m.youtube.com/shorts/abcDEF_123", "https://www.youtube-nocookie.com/embed/abcDEF_123"),
        ("https://vimeo.com/76979871", "https://player.vimeo.com/video/76979871"),
        ("https://player.vimeo.com/video/76979871?h=abc", "https://player.vimeo.com/video/76979871"),
        ("https://www.youtube.com/embed/x%22onload%3D", None),
        ("https://evil.example/embed/abc", None),
        ("https://vimeo.com/channels/staffpicks", None),
        ("javascript:alert(1)", None),
    ],
)
def test_canonical_embed(url, embed):
    assert canonical_embed(url if not url.startswith("//") else "https:" + url) == embed


def test_unknown_tags_are_stripped_but_their_text_kept():
    assert clean("<p><font color=red>coloured</font> <blink>text</blink></p>") == "<p>coloured text</p>"


def test_plain_text_content_is_escaped_into_paragraphs():
    result = clean_content("First <b>line</b>.\n\nSecond & last.", is_html=False)
    assert result.html == "<p>First &lt;b&gt;line&lt;/b&gt;.</p><p>Second &amp; last.</p>"
    assert result.text == "First <b>line</b>.\nSecond & last."


def test_text_keeps_block_breaks_and_decodes_entities_once():
    result = clean_content("<h2>Title</h2><p>Tom &amp;amp; Jerry&nbsp;&mdash; <em>again</em></p><ul><li>one</li><li>two</li></ul>")
    assert result.text == "Title\nTom &amp; Jerry — again\none\ntwo"


@pytest.mark.parametrize(
    ("raw", "is_html", "expected"),
    [
        ("Tom &amp;amp; Jerry <b>in therapy</b>", True, "Tom &amp; Jerry in therapy"),
        ("Tom &amp; Jerry", True, "Tom & Jerry"),
        ("A <b> literal", False, "A <b> literal"),
        ("<script>alert(1)</script>Title", True, "Title"),
        ("  many\n\n  spaces\t here ", False, "many spaces here"),
        ("bell\x07 char", False, "bell char"),
        ("", True, ""),
        (None, True, ""),
    ],
)
def test_clean_text_gives_plain_text(raw, is_html, expected):
    assert clean_text(raw, is_html) == expected


def test_excerpt_cuts_on_a_word_boundary():
    text = " ".join(f"word{i}" for i in range(100))
    excerpt = make_excerpt(text, 60)
    assert excerpt.endswith("word59 …")
    assert len(excerpt.split()) == 61
    assert make_excerpt("short text") == "short text"


def test_excerpt_never_holds_markup_or_entities():
    result = clean_content("<p>" + "Healing &amp; hope <em>together</em>. " * 40 + "</p>")
    assert "<" not in result.excerpt and "&amp;" not in result.excerpt
    assert result.excerpt.startswith("Healing & hope together.")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/x", "https://a.example/x"),
        ("/x", "https://writer.example/x"),
        ("javascript:alert(1)", None),
        ("http:///nohost", None),
        ("", None),
        ("ftp://a.example/f", None),
    ],
)
def test_safe_url(url, expected):
    assert safe_url(url, BASE) == expected


def test_output_has_no_script_anywhere_for_a_hostile_sample():
    hostile = (
        '<p>ok</p><img src=x onerror=alert(1)><a href="jav&#x0A;ascript:alert(1)">a</a>'
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>"
        '<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example/">'
        '<object data="x.swf"></object><embed src="x.swf"><link rel="stylesheet" href="https://evil.example/x.css">'
    )
    result = clean(hostile)
    assert not re.search(r"(?i)<(script|noscript|base|meta|object|embed|link)\b|onerror|javascript", result)
