"""Cleaning keeps what the writer wrote: deep documents, srcset, phone links, anchors, media."""

from __future__ import annotations

import html
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from aggregator import poll as poll_module
from aggregator.clean import MAX_DEPTH, clean_content, srcset_candidates
from aggregator.db import make_engine
from aggregator.parse import ParseError, parse_feed
from aggregator.web import create_app
from tests.helpers import entries_by_title
from tests.test_poll import poll, setup_feeds
from tests.test_xss_browser import load_corpus

BASE = "https://writer.example/blog/2026/a-post/"


def clean(markup: str, base: str | None = BASE) -> str:
    return clean_content(markup, True, base).html


def depth(markup: str) -> int:
    """How deep the elements of cleaned HTML nest."""
    root = ElementTree.fromstring(f"<root>{markup}</root>")
    deepest, stack = 0, [(root, 0)]
    while stack:
        element, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in element)
    return deepest


def rss(*items: str) -> bytes:
    body = "".join(
        f"<item><title>{title}</title><link>https://writer.example/{title}</link><description>{html.escape(content)}</description></item>"
        for title, content in (item.split("|", 1) for item in items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://writer.example/</link>{body}</channel></rss>'.encode()


# -- deep nesting ---------------------------------------------------------------


@pytest.mark.parametrize("levels", [1_000, 5_000, 20_000])
@pytest.mark.parametrize("tag", ["div", "b", "blockquote", "span"])
def test_deep_nesting_is_flattened_below_the_cap_and_keeps_its_text(levels, tag):
    result = clean_content(f"<{tag}>" * levels + "deep words" + f"</{tag}>" * levels + "<p>after</p>", True, BASE)
    assert result.text.splitlines()[0] == "deep words" and result.text.endswith("after")
    assert depth(result.html) <= MAX_DEPTH


def test_unclosed_elements_nest_no_deeper_than_the_cap():
    result = clean_content("<div>text " * 5_000, True, BASE)
    assert depth(result.html) <= MAX_DEPTH
    assert result.word_count == 5_000


def test_a_thousand_unclosed_paragraphs_stay_a_thousand_paragraphs():
    result = clean("".join(f"<p>paragraph {n}" for n in range(1_000)))
    assert result.count("<p>") == 1_000 and "paragraph 999" in result


@pytest.mark.parametrize(
    "trick",
    [
        "<div><!--</div>-->",  # an end tag in a comment is no end tag
        '<div title="</div>">',  # nor in an attribute value
        "<div><textarea></div></textarea>",  # nor in raw text
        "<div/>",  # a non-void element opens despite its slash
    ],
)
def test_what_only_looks_like_closing_does_not_defeat_the_cap(trick):
    assert depth(clean(trick * 3_000 + "end")) <= MAX_DEPTH


def test_a_deeply_nested_entry_is_stored_with_the_rest_of_its_feed(sessions, tmp_path, feed_server):
    deep = "<div>" * 5_000 + "Deep thoughts." + "</div>" * 5_000
    feed_server.script("deep.xml", body=rss(f"deep|{deep}", "plain|<p>A plain post.</p>"), headers={"Content-Type": "application/rss+xml"})
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "deep.xml")
    outcome = poll(sessions, feed)
    assert (outcome.result, outcome.new, outcome.warnings) == ("ok", 2, ())
    stored = entries_by_title(sessions)
    assert "Deep thoughts." in stored["deep"].content_html and depth(stored["deep"].content_html) <= MAX_DEPTH
    assert stored["plain"].content_html == "<p>A plain post.</p>"


def test_an_entry_that_cannot_be_cleaned_is_stored_as_text_with_a_warning(
    sessions, database_url, tmp_path, feed_server, monkeypatch, run_aggregator
):
    def cleaner_that_trips(raw, is_html=True, *args, **kwargs):
        if is_html and "TRIP" in raw:
            raise RecursionError("maximum recursion depth exceeded")
        return clean_content(raw, is_html, *args, **kwargs)

    monkeypatch.setattr(poll_module, "clean_content", cleaner_that_trips)
    body = rss("broken|<p>TRIP <b>kept</b> words</p><script>alert(1)</script>", "fine|<p>Fine.</p>")
    feed_server.script("trip.xml", body=body, headers={"Content-Type": "application/rss+xml"})
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "trip.xml")
    outcome = poll(sessions, feed)
    assert (outcome.result, outcome.new) == ("ok", 2)
    assert outcome.warnings == (
        "entry https://writer.example/broken could not be cleaned (RecursionError) and is stored as plain text",
    )
    stored = entries_by_title(sessions)
    assert stored["broken"].content_html == "<p>TRIP kept words</p>"
    assert stored["fine"].content_html == "<p>Fine.</p>"
    # The warning stays on the feed, where curators look.
    status = create_app(engine=sessions.kw["bind"]).test_client().get("/status").get_data(as_text=True)
    assert "1 warning at the last full read" in status
    assert "entry https://writer.example/broken could not be cleaned (RecursionError) and is stored as plain text" in status
    run_aggregator.env["DATABASE_URL"] = database_url
    assert "1 warning at the last read: entry https://writer.example/broken could not be cleaned" in run_aggregator("status").stdout


# -- srcset ---------------------------------------------------------------------

SUBSTACK = "https://substackcdn.com/image/fetch/w_424,c_limit,f_webp,q_auto:good,fl_progressive:steep/https%3A%2F%2Fbucket.s3.amazonaws.com%2Fa.png"
CLOUDINARY = "https://res.cloudinary.com/demo/image/upload/w_300,h_200,c_crop/sample.jpg"


@pytest.mark.parametrize(
    ("srcset", "candidates"),
    [
        ("a.jpg 2x, b.jpg 3x", [("a.jpg", ["2x"]), ("b.jpg", ["3x"])]),
        (f"{SUBSTACK} 424w, {CLOUDINARY} 848w", [(SUBSTACK, ["424w"]), (CLOUDINARY, ["848w"])]),
        ("a.jpg,b.jpg 2x", [("a.jpg,b.jpg", ["2x"])]),  # no space after the comma: one URL
        ("a.jpg,, b.jpg", [("a.jpg", []), ("b.jpg", [])]),  # commas ending a URL end its candidate
        (" ,a.jpg 100w (a, b) ,b.jpg", [("a.jpg", ["100w", "(a, b)"]), ("b.jpg", [])]),  # no split inside parentheses
        ("", []),
    ],
)
def test_srcset_is_split_as_the_html_standard_says(srcset, candidates):
    assert srcset_candidates(srcset) == candidates


def test_srcset_urls_with_commas_survive_made_absolute_and_checked():
    result = clean(
        f'<img src="a.jpg" srcset="{SUBSTACK} 424w, w_600,h_400/local.jpg 600w,'
        f' javascript:alert(1) 2x, data:image/png;base64,AAAA 3x, {CLOUDINARY} 1.5x, b.jpg onerror=alert(1)" alt="">'
    )
    srcset = re.search(r'srcset="([^"]*)"', result).group(1)
    assert html.unescape(srcset).split(", ") == [
        f"{SUBSTACK} 424w", f"{BASE}w_600,h_400/local.jpg 600w", f"{CLOUDINARY} 1.5x", f"{BASE}b.jpg",
    ]  # fmt: skip


# -- phone links ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "kept"),
    [("tel:+1-800-273-8255", "tel:+1-800-273-8255"), ("tel:+44 20 7946 0958", "tel:+44%2020%207946%200958"), ("TEL:116123", "TEL:116123")],
)
def test_phone_links_are_kept(href, kept):
    assert clean(f'<p>Call <a href="{href}">the line</a>.</p>') == f'<p>Call <a href="{kept}" rel="noopener noreferrer">the line</a>.</p>'


# -- in-post anchors ------------------------------------------------------------

FOOTNOTED = (
    '<h2 id="contents">Contents</h2><p><a href="#part-two">Part two</a></p>'
    '<p>A claim.<sup id="fnref:1"><a href="#fn:1">1</a></sup> <a href="#comments">Comments</a></p>'
    '<h2 id="part-two">Part two</h2><p><a name="old-style">Old</a> <a href="#old%2Dstyle">anchor</a></p>'
    '<ol><li id="fn:1"><p>The note. <a href="#fnref:1">↩</a></p></li></ol>'
)


def test_anchors_are_kept_under_the_posts_prefix_and_links_follow():
    result = clean_content(FOOTNOTED, True, BASE, entry_url=BASE).html
    prefix = re.search(r'id="(e[0-9a-f]{8}-)contents"', result).group(1)
    ids = re.findall(r'\bid="([^"]*)"', result)
    assert ids == [prefix + name for name in ("contents", "fnref:1", "part-two", "old-style", "fn:1")]
    local = re.findall(r'href="#([^"]*)"', result)
    assert local == [prefix + name for name in ("part-two", "fn:1", "old-style", "fnref:1")]
    # An anchor the post does not hold is on the original page.
    assert f'href="{BASE}#comments"' in result


def test_two_posts_anchors_never_collide():
    one = clean_content(FOOTNOTED, True, BASE, entry_url=BASE).html
    other = clean_content(FOOTNOTED, True, "https://writer.example/other/", entry_url="https://writer.example/other/").html
    assert set(re.findall(r'\bid="([^"]*)"', one)).isdisjoint(re.findall(r'\bid="([^"]*)"', other))


# -- embeds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "player"),
    [
        ("https://www.youtube.com/embed/dQw4w9WgXcQ?start=90", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=90"),
        ("https://player.vimeo.com/video/76979871#t=1m30s", "https://player.vimeo.com/video/76979871#t=90s"),
    ],
)
def test_rebuilt_players_start_where_the_writer_said(frame, player):
    result = clean(f'<iframe src="{frame}"></iframe>')
    assert re.findall(r'<iframe src="([^"]*)"', result) == [player]
    assert clean(result) == result


# -- inline media ---------------------------------------------------------------


def test_video_and_audio_are_native_players_that_never_start_by_themselves():
    result = clean(
        '<audio src="ep1.mp3" autoplay preload="auto" onplay="alert(1)">No player? <a href="ep1.mp3">Download</a>.</audio>'
        '<video poster="still.jpg" autoplay muted loop width="640" height="360">'
        '<source src="talk.webm" type="video/webm"><source src="javascript:alert(1)"><source src="data:video/mp4;base64,AAAA">'
        '<track src="talk.vtt" kind="captions" srclang="en" label="English" default>Fallback text</video>'
    )
    assert result == (
        f'<audio src="{BASE}ep1.mp3" controls preload="none">No player? <a href="{BASE}ep1.mp3" rel="noopener noreferrer">Download</a>.</audio>'
        f'<video poster="{BASE}still.jpg" width="640" height="360" controls preload="none">'
        f'<source src="{BASE}talk.webm" type="video/webm"><source><source>'
        f'<track src="{BASE}talk.vtt" kind="captions" srclang="en" label="English" default="">Fallback text</video>'
    )


@pytest.mark.parametrize("source", ["javascript:alert(1)", "data:audio/mp3;base64,AAAA", "mailto:a@writer.example", "tel:123", ""])
def test_a_player_with_nothing_it_may_play_leaves_its_fallback(source):
    result = clean(f'<audio src="{source}"><source src="{source}"><track src="c.vtt">Listen <b>elsewhere</b>.</audio>')
    assert result == "<div>Listen <b>elsewhere</b>.</div>"


def test_picture_sources_keep_srcset_media_and_type_under_the_url_checks():
    result = clean(
        '<picture><source srcset="wide.avif 1x, wide@2x.avif 2x" media="(min-width: 600px)" type="image/avif" onerror="alert(1)">'
        '<source srcset="javascript:alert(1) 1x"><img src="narrow.jpg" alt="A path"></picture>'
    )
    assert result == (
        f'<picture><source srcset="{BASE}wide.avif 1x, {BASE}wide@2x.avif 2x" media="(min-width: 600px)" type="image/avif">'
        f'<source><img src="{BASE}narrow.jpg" alt="A path" loading="lazy" decoding="async"></picture>'
    )


def test_stray_sources_and_tracks_go():
    assert clean('<p>Text<source src="a.mp4"><track src="a.vtt"></p>') == "<p>Text</p>"


# -- a post read over HTTP and shown on its page ---------------------------------

FAITHFUL_POST = (
    '<p>Call <a href="tel:+1-800-273-8255">the line</a>.<sup id="fnref:1"><a href="#fn:1">1</a></sup></p>'
    f'<img src="a.png" srcset="{SUBSTACK} 424w, {CLOUDINARY} 848w" alt="A path">'
    '<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ?start=90"></iframe>'
    '<audio src="/episode.mp3" autoplay>Download the episode.</audio>'
    '<ol><li id="fn:1"><p>The note. <a href="#fnref:1">back</a></p></li></ol>'
)


def test_a_faithful_post_over_http_and_on_its_page(database_url, sessions, tmp_path, feed_server):
    feed_server.script("faithful.xml", body=rss(f"faithful|{FAITHFUL_POST}"), headers={"Content-Type": "application/rss+xml"})
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "faithful.xml")
    assert poll(sessions, feed).new == 1
    entry = entries_by_title(sessions)["faithful"]
    engine = make_engine(database_url)
    try:
        response = create_app(engine=engine, TESTING=True).test_client().get(f"/entry/{entry.id}")
    finally:
        engine.dispose()
    page = html.unescape(response.get_data(as_text=True))
    assert "media-src https: http:" in response.headers["Content-Security-Policy"]
    assert 'href="tel:+1-800-273-8255"' in page
    assert f"{SUBSTACK} 424w, {CLOUDINARY} 848w" in page
    assert 'src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=90"' in page
    assert '<audio src="https://writer.example/episode.mp3" controls preload="none">' in page and "autoplay" not in page
    prefix = re.search(r'id="(e[0-9a-f]{8}-)fnref:1"', page).group(1)
    assert f'href="#{prefix}fn:1"' in page and f'id="{prefix}fn:1"' in page and f'href="#{prefix}fnref:1"' in page


# -- tracking out, text kept ----------------------------------------------------


@pytest.mark.parametrize(
    ("href", "kept"),
    [
        ("https://x.example/a?utm_source=nl&amp;id=3&amp;UTM_Medium=email&amp;fbclid=abc#top", "https://x.example/a?id=3#top"),
        ("https://x.example/b?gclid=1&amp;mc_cid=2&amp;mc_eid=3", "https://x.example/b"),
        ("https://x.example/c?utm=mine&amp;page=2", "https://x.example/c?utm=mine&amp;page=2"),
    ],
)
def test_campaign_and_click_parameters_leave_links(href, kept):
    assert clean(f'<p><a href="{href}">link</a></p>') == f'<p><a href="{kept}" rel="noopener noreferrer">link</a></p>'


@pytest.mark.parametrize(
    "image",
    [
        '<img src="https://t.example/o.gif" width="0" height="0">',
        '<img src="https://t.example/o.gif" width="1px" height="0">',
        '<a href="http://feeds.wordpress.com/1.0/gocomments/blog.wordpress.com/12/"><img src="http://feeds.wordpress.com/1.0/comments/blog.wordpress.com/12/" alt=""></a>',
        '<a href="https://www.addtoany.com/share"><img src="https://static.addtoany.com/buttons/share_save_171_16.png" alt="Share"></a>',
        '<img src="https://img1.blogblog.com/img/icon18_email.gif" alt="">',
    ],
)
def test_pixels_and_share_buttons_go_and_the_text_stays(image):
    assert clean(f"<p>Words before {image} and after.</p>") == "<p>Words before  and after.</p>"


def test_elements_marked_hidden_go_with_their_contents():
    result = clean(
        '<div style="color: grey; display:none">Preview text for mail</div><p hidden>Hidden</p>'
        '<span style="visibility: hidden">Ghost</span><p>Shown</p><p hidden="until-found">Found by search</p>'
    )
    assert result == "<p>Shown</p><p>Found by search</p>"


def test_mathml_keeps_its_text_and_none_of_its_markup():
    result = clean(
        '<p>The area is <math alttext="\\pi r^2"><mi>π</mi><msup><mi>r</mi><mn>2</mn></msup></math> and '
        '<math><semantics><mi>x</mi><mo>=</mo><mn>2</mn><annotation encoding="application/x-tex">x=2</annotation></semantics></math>.</p>'
        '<math display="block"><mi>y</mi><mtext><b>only</b></mtext><maction actiontype="statusline" onclick="alert(1)"><mi>z</mi></maction></math>'
    )
    assert result == '<p>The area is <span>\\pi r^2</span> and <span>x = 2</span>.</p><div>y only z</div>'


# -- idempotence ----------------------------------------------------------------

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED = Path(__file__).parent / "fixtures" / "seed-post.txt"


def corpus() -> list[tuple[str, str, bool, str | None, str | None]]:
    """(name, content, is_html, base, entry URL) of every post in the project's own corpus."""
    posts = []
    for document in sorted(FEEDS.iterdir()):
        if document.name.endswith(".expected.json"):
            continue
        url = f"https://writer.example/feeds/{document.name}"
        try:
            parsed = parse_feed(document.read_bytes(), url)
        except ParseError:
            continue  # a document refused whole has no posts to clean
        posts += [(f"{document.name}#{n}", e.content, e.content_is_html, e.base_url, e.url) for n, e in enumerate(parsed.entries)]
    posts.append(("seed-post.txt", SEED.read_text(encoding="utf-8"), False, BASE, BASE))
    posts += [(f"xss-{payload.id}", payload.html, True, BASE, BASE) for payload in load_corpus()]
    posts.append(("faithful", FAITHFUL_POST, True, BASE, BASE))
    return posts


CORPUS = corpus()


@pytest.mark.parametrize(("content", "is_html", "base", "entry_url"), [post[1:] for post in CORPUS], ids=[post[0] for post in CORPUS])
def test_cleaning_cleaned_output_changes_nothing(content, is_html, base, entry_url):
    once = clean_content(content, is_html, base, entry_url=entry_url)
    twice = clean_content(once.html, True, base, entry_url=entry_url)
    assert twice.html == once.html
    assert twice.text == once.text


@pytest.mark.parametrize("markup", [
    '<a href="/one">one <a href="/two">two</a></a>',
    '<a href="/one"><div><a href="/two">two</a></div></a>',
    '<a href="/one"><table><tr><td><a href="/two">two</a></td></tr></table></a>',
])  # fmt: skip
def test_no_link_is_left_inside_a_link(markup):
    once = clean(markup)
    root = ElementTree.fromstring(f"<root>{once}</root>")
    assert all(not list(link.iter("a"))[1:] for link in root.iter("a"))
    assert clean(once) == once
