"""/status: feed health for curators, sick first, and boilerplate suggestions
that a curator turns into rules in feeds.yaml."""

from __future__ import annotations

from html import unescape

from aggregator.db import make_engine
from aggregator.web import create_app
from tests.helpers import entries_by_title, feeds_yaml, poll_all, write_and_sync


def status_page(database_url: str) -> str:
    engine = make_engine(database_url)
    try:
        response = create_app(engine=engine).test_client().get("/status")
        assert response.status_code == 200
        return unescape(response.get_data(as_text=True))
    finally:
        engine.dispose()


def test_sick_feeds_come_first_with_their_error_in_plain_words(database_url, sessions, tmp_path, feed_server):
    write_and_sync(sessions, tmp_path, feeds_yaml({"aaron": [feed_server.url("counsellor-atom10.xml")], "zoe": [feed_server.url("moved-away.xml")]}))
    poll_all(sessions)
    html = status_page(database_url)
    assert html.index("moved-away.xml") < html.index("counsellor-atom10.xml")
    assert "the server answered 404 Not Found: not found; check the feed's address in feeds.yaml" in html
    assert "the 1 sick one first" in html
    assert '<tr class="sick">' in html


def test_repeated_endings_are_suggested_until_the_curator_removes_them(database_url, sessions, tmp_path, feed_server):
    url = feed_server.url("booking-footer-rss20.xml")
    write_and_sync(sessions, tmp_path, feeds_yaml({"clinic": [url]}))
    poll_all(sessions)
    html = status_page(database_url)
    assert "Book a session with me: call 555-0100 or write to hello@clinic.example." in html
    assert "Follow me on Instagram @clinicletters" in html
    assert "(6 posts)" in html

    rules = '        boilerplate:\n          - "/book a session with me:.*/"\n          - Follow me on Instagram @clinicletters\n'
    text = feeds_yaml({"clinic": [url]})
    write_and_sync(sessions, tmp_path, text.replace(f"      - url: {url}\n", f"      - url: {url}\n{rules}"))
    poll_all(sessions)
    entries = entries_by_title(sessions)
    assert len(entries) == 6
    for entry in entries.values():
        assert "555-0100" not in entry.content_html and "Instagram" not in entry.content_html
        assert "It ends with something particular" in entry.content_html
    assert "No repeated endings found in recent posts." in status_page(database_url)
