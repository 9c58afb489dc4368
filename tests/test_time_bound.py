"""No document holds a worker for long: an entry's HTML is capped in length and
in attributes per element, and a poll cleans a bounded number of entries,
leaving the rest for the next poll, which reads the feed again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

import pytest

from aggregator import poll
from aggregator.clean import MAX_ATTRIBUTES, MAX_ENTRY_HTML, clean_content
from aggregator.config import DEFAULT_MIN_INTERVAL
from aggregator.db import make_engine
from aggregator.parse import ParsedEntry
from aggregator.web import create_app
from tests.helpers import count_entries, entries_by_title, feed_id, feeds_yaml, get_feed, write_and_sync

PARAGRAPH = "<p>Grief is not a problem to be solved but a weight to be carried, and it changes shape over time.</p>\n"
DAY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _rss(posts: list[tuple[str, str]]) -> str:
    """An RSS feed of (title, html) posts, the first the newest, a day apart."""
    items = "".join(
        f"<item><title>{escape(title)}</title><link>https://writer.example/posts/{number}/</link>"
        f"<guid>https://writer.example/posts/{number}/</guid>"
        f"<pubDate>{format_datetime(DAY - timedelta(days=number))}</pubDate>"
        f"<description>{escape(html)}</description></item>\n"
        for number, (title, html) in enumerate(posts)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Long posts</title>'
        f"<link>https://writer.example/</link>\n{items}</channel></rss>\n"
    )


# -- one entry -----------------------------------------------------------------


def test_a_post_longer_than_the_bound_is_cut_at_a_tag_and_marked_as_the_beginning():
    body = PARAGRAPH * (MAX_ENTRY_HTML // len(PARAGRAPH) + 100) + "<p>The very last words.</p>"
    content = clean_content(body, base_url="https://writer.example/posts/1/")
    assert content.truncated
    assert content.html.endswith("over time.</p>")  # whole paragraphs, none cut in half
    assert "The very last words." not in content.text
    assert not clean_content(PARAGRAPH * 100).truncated


def test_a_long_post_without_tags_is_cut_between_words():
    content = clean_content("word " * (MAX_ENTRY_HTML // 5 + 10), is_html=False)
    assert content.truncated
    assert content.text.endswith("word")


def test_an_element_with_thousands_of_attributes_keeps_its_first_ones():
    unknown = " ".join(f'data-n{number}="{number}"' for number in range(5000))
    content = clean_content(
        f'<p><img src="/a.jpg" alt="Fish &amp; chips" {unknown} title="after the cap">'
        f'<a href="javascript:alert(1)" {unknown} onclick="alert(2)">link</a>'
        f'<a {unknown} href="/far-away/">far</a></p>',
        base_url="https://writer.example/",
    )
    assert 'src="https://writer.example/a.jpg"' in content.html
    assert 'alt="Fish &amp; chips"' in content.html
    assert "after the cap" not in content.html
    assert "javascript" not in content.html and "onclick" not in content.html and "data-n" not in content.html
    assert "far-away" not in content.html  # past the first MAX_ATTRIBUTES
    assert MAX_ATTRIBUTES < 5000


# -- one poll --------------------------------------------------------------------


def _entry(number: int, content: str, published: datetime | None) -> ParsedEntry:
    return ParsedEntry(
        key=f"k{number}", guid=f"g{number}", url=None, title=f"Post {number}", title_is_html=False,
        content=content, content_is_html=True, base_url=None, author=None, published=published, updated=None,
        categories=(),
    )


@pytest.mark.parametrize(
    ("sizes", "budget_characters", "taken", "left"),
    [
        ([10, 10, 10], 100, [0, 1, 2], 0),
        ([60, 60, 60], 100, [0], 2),  # the budget reached
        ([500, 10], 100, [0], 1),  # the first is always taken
        ([10] * 5, 100, [0, 1, 2], 2),  # three entries at most
    ],
)
def test_a_poll_cleans_the_newest_entries_within_its_budget(monkeypatch, sizes, budget_characters, taken, left):
    monkeypatch.setattr(poll, "CLEANING_BUDGET_ENTRIES", 3)
    monkeypatch.setattr(poll, "CLEANING_BUDGET_CHARACTERS", budget_characters)
    entries = [_entry(n, "x" * size, DAY - timedelta(days=n)) for n, size in enumerate(sizes)]
    chosen, rest = poll.within_cleaning_budget(list(reversed(entries)))
    assert ([entries.index(entry) for entry in chosen], rest) == (taken, left)


def test_undated_entries_come_after_the_dated_ones_in_feed_order(monkeypatch):
    monkeypatch.setattr(poll, "CLEANING_BUDGET_ENTRIES", 3)
    entries = [_entry(0, "a", None), _entry(1, "b", DAY), _entry(2, "c", None), _entry(3, "d", DAY + timedelta(1))]
    chosen, rest = poll.within_cleaning_budget(entries)
    assert ([entry.key for entry in chosen], rest) == (["k3", "k1", "k0"], 1)


# -- through real polls and the real pages ---------------------------------------------


def test_an_oversized_post_is_stored_cut_and_its_page_links_to_the_whole(database_url, sessions, tmp_path, feed_dir, feed_server):
    long_post = PARAGRAPH * (MAX_ENTRY_HTML // len(PARAGRAPH) + 500) + "<p>The very last words.</p>"
    (feed_dir / "long.xml").write_text(_rss([("A very long post", long_post), ("A short post", PARAGRAPH)]))
    write_and_sync(sessions, tmp_path, feeds_yaml({"samuel": [feed_server.url("long.xml")]}))
    [outcome] = poll.poll_feeds(sessions, [feed_id(sessions, feed_server.url("long.xml"))])
    assert (outcome.result, outcome.new, outcome.left_for_later) == ("ok", 2, 0)
    entries = entries_by_title(sessions)
    cut, short = entries["A very long post"], entries["A short post"]
    assert cut.is_teaser and not short.is_teaser
    assert len(cut.content_html) <= MAX_ENTRY_HTML and "The very last words." not in cut.content_html
    engine = make_engine(database_url)
    try:
        page = create_app(engine=engine).test_client().get(f"/entry/{cut.id}").get_data(as_text=True)
    finally:
        engine.dispose()
    assert "This is only the beginning" in page
    assert 'href="https://writer.example/posts/0/"' in page


def test_a_feed_past_the_budget_is_stored_whole_over_successive_polls(monkeypatch, sessions, tmp_path, feed_dir, feed_server):
    monkeypatch.setattr(poll, "CLEANING_BUDGET_ENTRIES", 3)
    (feed_dir / "many.xml").write_text(_rss([(f"Post {number}", PARAGRAPH) for number in range(5)]))
    write_and_sync(sessions, tmp_path, feeds_yaml({"samuel": [feed_server.url("many.xml")]}))
    feed = feed_id(sessions, feed_server.url("many.xml"))

    [first] = poll.poll_feeds(sessions, [feed])
    assert (first.result, first.new, first.left_for_later) == ("ok", 3, 2)
    assert set(entries_by_title(sessions)) == {"Post 0", "Post 1", "Post 2"}  # the newest first
    stored = get_feed(sessions, feed_server.url("many.xml"))
    # Nothing lets the next poll take the document as read: no validators, no body hash.
    assert (stored.etag, stored.last_modified, stored.body_hash) == (None, None, None)
    soon = stored.last_checked_at + timedelta(seconds=DEFAULT_MIN_INTERVAL)
    assert abs((stored.next_check_at - soon).total_seconds()) < 1

    [second] = poll.poll_feeds(sessions, [feed])
    assert (second.result, second.new, second.left_for_later) == ("ok", 2, 0)
    assert count_entries(sessions) == 5
    assert get_feed(sessions, feed_server.url("many.xml")).etag is not None

    [third] = poll.poll_feeds(sessions, [feed])
    assert third.result == "not-modified"
