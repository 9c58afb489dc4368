"""Search gives the same posts on SQLite and PostgreSQL: one table of queries
and the titles each must find, run on both, over a small corpus polled from
the fixture server, with topics and writers' names searchable."""

from __future__ import annotations

from html import escape, unescape

import pytest
from sqlalchemy import text

from aggregator.db import make_engine, migrate
from aggregator.search import parse_query, search
from aggregator.web import create_app
from tests.helpers import feeds_yaml, migrate_to, poll_all, write_and_sync

# (writer's slug, title, text, categories); the writers are "Maren Olsen"
# and "Samuel Achebe".
CORPUS = [
    ("maren-olsen", "Sleep after a loss", "Grief changes how we sleep. Healing takes time and rest.", ["Grief", "Sleep"]),
    ("maren-olsen", "Ten quiet minutes", "A walk each morning and a warm drink before the day starts, then a &lt;pause&gt;.", ["Self-care"]),
    ("samuel-achebe", "When fathers grieve", "Fathers often carry grief in silence, at work and at home.", ["Men's health", "Grief"]),
    ("samuel-achebe", "Therapy is not a test", "Clients worry they will fail at therapy. Nobody is grading you.", ["Anxiety"]),
    ("samuel-achebe", "Letters never sent", "Writing to the person you lost can ease anxious nights. Grief and love share a door.", ["Writing"]),
    ("maren-olsen", "Couples and the calendar", "Anniversaries of a loss return each year; the therapist says couples keep different clocks.", ["Couples"]),
    ("samuel-achebe", "A café at dusk", "We talked gently about what the body remembers, and what it chose to forget.", ["Memory"]),
]
ALL = {title for _, title, _, _ in CORPUS}

QUERIES = [
    ("grief", {"Sleep after a loss", "When fathers grieve", "Letters never sent"}),
    ("GRIEF", {"Sleep after a loss", "When fathers grieve", "Letters never sent"}),
    # Words are ANDed, wherever in the post they stand (title, text, topics).
    ("grief sleep", {"Sleep after a loss"}),
    ("grief calendar", set()),
    ("loss OR silence", {"Sleep after a loss", "Couples and the calendar", "When fathers grieve"}),
    ("grief OR anxiety", {"Sleep after a loss", "When fathers grieve", "Letters never sent", "Therapy is not a test"}),
    ("sleep OR writing grief", {"Sleep after a loss", "Letters never sent"}),
    # Phrases keep their order.
    ('"warm drink"', {"Ten quiet minutes"}),
    ('"drink warm"', set()),
    ('"self care"', {"Ten quiet minutes"}),
    # Common words count inside a phrase, the same on both.
    ('"grief and love"', {"Letters never sent"}),
    ('"grief or love"', set()),
    # Stemming, and a trailing * for a prefix.
    ("heals", {"Sleep after a loss"}),
    ("therapy", {"Therapy is not a test"}),
    ("therap*", {"Therapy is not a test", "Couples and the calendar"}),
    ("writ*", {"Letters never sent"}),
    ("anniversar*", {"Couples and the calendar"}),
    ("abou*", {"A café at dusk"}),
    # One stemmer on both (Porter): "gently" is not "gentle", as SQLite has it.
    ("gently", {"A café at dusk"}),
    ("gentle", set()),
    ("gentl*", {"A café at dusk"}),
    # Words in angle brackets are words, not markup.
    ("pause", {"Ten quiet minutes"}),
    # Accents fold on both.
    ("cafe", {"A café at dusk"}),
    ("CAFÉ", {"A café at dusk"}),
    # Topics and writers' names.
    ("self-care", {"Ten quiet minutes"}),
    ("men's", {"When fathers grieve"}),
    ("men’s health", {"When fathers grieve"}),
    ("samuel", {"When fathers grieve", "Therapy is not a test", "Letters never sent", "A café at dusk"}),
    ("olsen grief", {"Sleep after a loss"}),
    ("achebe OR couples", {"When fathers grieve", "Therapy is not a test", "Letters never sent", "A café at dusk", "Couples and the calendar"}),
    # Common words and single letters count on neither database.
    ("the grief of a loss", {"Sleep after a loss"}),
    ("the OR grief", {"Sleep after a loss", "When fathers grieve", "Letters never sent"}),
    ("loss x", {"Sleep after a loss", "Couples and the calendar"}),
    # Query syntax of either database is only words.
    ("title:grief", set()),
    ("-grief (sleep) ^", {"Sleep after a loss"}),
    ("NEAR(grief sleep)", set()),
]
LEFT_OUT = ["the", "a I of", "x y z", "and OR or", '"the"', "the*", "*", '"', "^ ( )"]


def rss(items: list[tuple[str, str, str, list[str]]], slug: str) -> str:
    entries = "".join(
        f"<item><title>{escape(title)}</title><link>https://{slug}.example/{number}/</link>"
        f"<guid>https://{slug}.example/{number}/</guid><pubDate>Mon, {number + 1:02d} Nov 2026 10:00:00 +0000</pubDate>"
        + "".join(f"<category>{escape(category)}</category>" for category in categories)
        + f"<description>{escape(body)}</description></item>"
        for number, (title, body, categories) in enumerate(items)
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{slug}</title><link>https://{slug}.example/</link>{entries}</channel></rss>'


@pytest.fixture
def corpus(database_url, sessions, tmp_path, feed_server):
    urls = {}
    for slug in dict.fromkeys(writer for writer, _, _, _ in CORPUS):
        items = [(title, body, categories) for writer, title, body, categories in CORPUS if writer == slug]
        (feed_server.root / f"parity-{slug}.xml").write_text(rss(items, slug), encoding="utf-8")
        urls[slug] = [feed_server.url(f"parity-{slug}.xml")]
    write_and_sync(sessions, tmp_path, feeds_yaml(urls))
    assert all(outcome.result == "ok" for outcome in poll_all(sessions))
    return sessions


def found(session, query: str) -> set[str]:
    return {hit.entry.title for hit in search(session, query)}


def test_every_query_finds_the_same_posts_on_either_database(corpus):
    with corpus() as session:
        assert found(session, "grief OR loss OR quiet OR therapy OR letters OR dusk") == ALL
        wrong = {query: found(session, query) for query, expected in QUERIES if found(session, query) != expected}
    assert wrong == {}


def test_a_renamed_writer_is_found_by_the_new_name(corpus, tmp_path, feed_server):
    samuels = {title for writer, title, _, _ in CORPUS if writer == "samuel-achebe"}
    urls = {slug: [feed_server.url(f"parity-{slug}.xml")] for slug in ("maren-olsen", "samuel-achebe")}
    renamed = feeds_yaml(urls).replace("name: Samuel Achebe\n", "name: Kofi Mensah, LPC\n")
    write_and_sync(corpus, tmp_path, renamed)
    with corpus() as session:
        assert found(session, "mensah") == samuels
        assert found(session, "samuel") == set()
    # A feed moved to another writer is found by that writer's name.
    moved = {"maren-olsen": urls["maren-olsen"] + urls["samuel-achebe"]}
    write_and_sync(corpus, tmp_path, feeds_yaml(moved))
    with corpus() as session:
        assert found(session, "maren") == ALL
        assert found(session, "mensah") == set()


@pytest.mark.parametrize("query", LEFT_OUT)
def test_a_query_of_common_words_and_single_letters_is_empty(query):
    assert parse_query(query).empty


def test_the_page_says_plainly_when_only_common_words_were_given(corpus, database_url):
    engine = make_engine(database_url)
    try:
        client = create_app(engine=engine).test_client()
        page = unescape(client.get("/search", query_string={"q": "the a"}).get_data(as_text=True))
        assert "Nothing matches" not in page
        assert "Search leaves out very common words (the, and, of…) and single letters" in page
        assert "“the a” holds none of the words search looks for" in page
        tagged = unescape(client.get("/search", query_string={"q": "men's"}).get_data(as_text=True))
        assert "When fathers grieve" in tagged and "1 match, best first." in tagged
    finally:
        engine.dispose()


def test_upgrading_indexes_the_topics_and_writers_of_stored_posts(database_url, sessions):
    """Posts stored before topics and names were indexed are found by them after the upgrade."""
    engine = make_engine(database_url, writer=True)
    try:
        migrate_to(engine, "0008", down=True)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO authors (id, slug, name, bio, created_at) VALUES (1, 'a', 'Ada Quill', '', '2026-01-01')"))
            connection.execute(text(
                "INSERT INTO feeds (id, author_id, source, location, tags, boilerplate, interval_seconds, interval_fixed, "
                "error_count, created_at) VALUES (1, 1, 'https://a.example/f', 'https://a.example/f', '[]', '[]', 1800, "
                "false, 0, '2026-01-01')"
            ))
            connection.execute(text(
                "INSERT INTO entries (id, feed_id, author_id, key_hash, title, author_name, content_html, summary_text, "
                "content_text, content_hash, first_seen_at, last_changed_at, sort_time) VALUES (1, 1, 1, 'k', 'Kept', "
                "'Guest Byline', '<p>x</p>', 'x', 'Plain words.', 'h', '2026-01-01', '2026-01-01', '2026-01-01')"
            ))
            connection.execute(text("INSERT INTO tags (id, slug, name) VALUES (1, 'self-care', 'Self-care')"))
            connection.execute(text("INSERT INTO entry_tags (entry_id, tag_id) VALUES (1, 1)"))
    finally:
        migrate(engine)
        engine.dispose()
    with sessions() as session:
        for query in ("self-care", "quill", "ada", "byline", "plain words", "kept"):
            assert found(session, query) == {"Kept"}, query
        assert found(session, "self-care quill zebra") == set()
