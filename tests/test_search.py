"""Search: full text over titles and texts, ranked, highlighted, combinable
with tags, on SQLite (FTS5) and PostgreSQL alike."""

from __future__ import annotations

import re
from html import unescape

import pytest

from aggregator.db import make_engine
from aggregator.search import search
from aggregator.web import create_app
from tests.helpers import feeds_yaml, poll_all, write_and_sync


@pytest.fixture
def searchable(database_url, sessions, tmp_path, feed_server):
    text = feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")], "samuel": [feed_server.url("counsellor-atom10.xml")], "h": [feed_server.url("hostile-rss20.xml")]})
    write_and_sync(sessions, tmp_path, text)
    poll_all(sessions)
    return sessions


def titles(hits) -> list[str]:
    return [hit.entry.title for hit in hits]


def test_words_are_found_in_titles_and_texts_best_first(searchable):
    with searchable() as session:
        hits = search(session, "oxytocin")
        assert titles(hits)[0] == "Life, Love and Healing: The Wonders of Oxytocin"
        assert "<mark>" in str(hits[0].snippet).lower() and "oxytocin</mark>" in str(hits[0].snippet).lower()
        assert "Grief Doesn’t Keep a Calendar" in titles(search(session, "grief calendar"))


def test_every_word_must_match(searchable):
    with searchable() as session:
        assert search(session, "oxytocin zebra") == []


def test_stemming_finds_other_forms(searchable):
    with searchable() as session:
        assert set(titles(search(session, "heals"))) == set(titles(search(session, "healing"))) != set()


@pytest.mark.parametrize("query", ['"', "oxytocin OR", "NEAR(a b)", "title:grief", "*", "a AND (b", "'; DROP TABLE entries; --", "-grief", "^"])
def test_query_syntax_cannot_break_or_inject(searchable, query):
    with searchable() as session:
        search(session, query)  # no error, whatever it finds
        assert search(session, "oxytocin")  # and the table is still there


def test_search_combines_with_tags(searchable):
    with searchable() as session:
        everywhere = titles(search(session, "anxious"))
        in_couples = titles(search(session, "anxious", tags=["couples"]))
        assert in_couples == ["Two People, One Argument, Again"]
        assert set(in_couples) < set(everywhere)
        assert set(titles(search(session, "anxious", exclude=["couples"]))) == set(everywhere) - set(in_couples)


def test_snippets_are_escaped(searchable):
    with searchable() as session:
        [hit] = search(session, "boundaries protect")
    snippet = str(hit.snippet)
    assert "<mark>" in snippet and "<script" not in snippet and "onerror" not in snippet


def test_search_page(database_url, searchable):
    engine = make_engine(database_url)
    try:
        client = create_app(engine=engine).test_client()
        html = client.get("/search?q=oxytocin").get_data(as_text=True)
        assert "<h1>Search: oxytocin</h1>" in html
        assert re.search(r'class="card__title"><a href="/entry/\d+">Life, Love and Healing', html)
        assert "<mark>" in html.lower()
        none = client.get("/search?q=zzzzqqq").get_data(as_text=True)
        assert "Nothing matches “zzzzqqq”" in unescape(none)
        empty = client.get("/search").get_data(as_text=True)
        assert "Type a word or two" in empty and 'type="search"' in empty
        filtered = client.get("/search?q=anxious&tag=couples").get_data(as_text=True)
        assert 'aria-label="Remove the filter Couples"' in filtered
        assert 'href="/search?q=anxious"' in filtered
    finally:
        engine.dispose()


def test_edited_entries_are_found_by_their_new_words(searchable, feed_server):
    path = feed_server.root / "counsellor-atom10.xml"
    path.write_text(path.read_text(encoding="utf-8").replace("Grief Doesn’t Keep a Calendar", "Mourning Has No Timetable"), encoding="utf-8")
    poll_all(searchable)
    with searchable() as session:
        assert "Mourning Has No Timetable" in titles(search(session, "timetable"))
        assert "Grief Doesn’t Keep a Calendar" not in titles(search(session, "calendar"))
