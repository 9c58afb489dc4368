"""The one poll function against a real HTTP server and real databases."""

from __future__ import annotations

import html
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aggregator.db import make_engine, session_factory
from aggregator.fetch import FetchLimits
from aggregator.models import Entry, EntryTag, Feed, Tag
from aggregator.poll import Poller, poll_feeds
from tests.feedserver import FeedServer
from tests.helpers import count_entries, entries_by_title, feed_id, feeds_yaml, get_feed, write_and_sync

SEED = Path(__file__).parent / "fixtures" / "seed-post.txt"  # the sample post, carried by therapist-rss20.xml


def setup_feeds(sessions, tmp_path, server: FeedServer, *paths: str, aliases=None) -> list[int]:
    text = feeds_yaml({"jane-doe": [server.url(p) for p in paths]}, aliases=aliases)
    write_and_sync(sessions, tmp_path, text)
    return [feed_id(sessions, server.url(p.split(" tags=")[0])) for p in paths]


def poll(sessions, feed: int, **limits):
    with Poller(sessions, limits=FetchLimits(**limits) if limits else None) as poller:
        return poller.poll(feed)


def test_poll_stores_entries_then_asks_conditionally(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "therapist-rss20.xml")
    first = poll(sessions, feed)
    assert (first.result, first.http_status, first.new, first.updated) == ("ok", 200, 5, 0)
    assert count_entries(sessions) == 5
    stored = get_feed(sessions, feed_server.url("therapist-rss20.xml"))
    assert stored.etag and stored.last_modified and stored.error_count == 0 and stored.last_error is None
    assert stored.title == "Dr. Maren Holloway, LMFT"

    second = poll(sessions, feed)
    assert (second.result, second.http_status, second.new) == ("not-modified", 304, 0)
    last_request = feed_server.hits("therapist-rss20.xml")[-1]
    assert last_request.headers["if-none-match"] == stored.etag
    assert last_request.headers["if-modified-since"] == stored.last_modified
    assert "TherapyWritersAggregator/" in last_request.headers["user-agent"]
    assert "http://127.0.0.1:5000" in last_request.headers["user-agent"]
    assert count_entries(sessions) == 5


def test_same_bytes_without_validators_cost_no_parse(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "counsellor-atom10.xml")
    body = (feed_server.root / "counsellor-atom10.xml").read_bytes()
    # A server that ignores conditional requests and sends no validators.
    feed_server.script("counsellor-atom10.xml", body=body, headers={"Content-Type": "application/atom+xml"})
    assert poll(sessions, feed).new == 4
    again = poll(sessions, feed)
    assert (again.result, again.http_status, again.new, again.updated) == ("not-modified", 200, 0, 0)
    assert "if-none-match" not in feed_server.hits("counsellor-atom10.xml")[-1].headers


def test_same_entries_in_new_bytes_store_nothing_twice(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "counsellor-atom10.xml")
    body = (feed_server.root / "counsellor-atom10.xml").read_bytes()
    feed_server.script("counsellor-atom10.xml", body=body)
    assert poll(sessions, feed).new == 4
    # The feed's own update time changed, its entries did not.
    feed_server.script("counsellor-atom10.xml", body=body.replace(b"<updated>", b"<updated>", 1) + b"\n")
    again = poll(sessions, feed)
    assert (again.result, again.new, again.updated, again.unchanged) == ("ok", 0, 0, 4)
    assert count_entries(sessions) == 4


def test_changed_entry_is_updated_in_place(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "counsellor-atom10.xml")
    poll(sessions, feed)
    before = entries_by_title(sessions)["Grief Doesn’t Keep a Calendar"]
    path = feed_server.root / "counsellor-atom10.xml"
    path.write_text(path.read_text(encoding="utf-8").replace("Grief Doesn’t Keep a Calendar", "Grief Keeps No Calendar"), encoding="utf-8")
    outcome = poll(sessions, feed)
    assert (outcome.new, outcome.updated, outcome.unchanged) == (0, 1, 3)
    after = entries_by_title(sessions)["Grief Keeps No Calendar"]
    assert after.id == before.id
    assert after.first_seen_at == before.first_seen_at
    assert after.last_changed_at >= before.last_changed_at
    assert count_entries(sessions) == 4


def test_two_pollers_at_once_poll_the_feed_once(database_url, tmp_path, feed_server):
    engines = [make_engine(database_url, writer=True) for _ in range(3)]
    try:
        sessions = [session_factory(engine) for engine in engines]
        [feed] = setup_feeds(sessions[0], tmp_path, feed_server, "therapist-rss20.xml")
        body = (feed_server.root / "therapist-rss20.xml").read_bytes()
        # Every poller gets the whole feed, slowly, so their writes overlap.
        feed_server.script("therapist-rss20.xml", body=body, delay=0.3)
        barrier = threading.Barrier(len(sessions))
        outcomes = []

        def run(factory):
            with Poller(factory) as poller:
                barrier.wait()
                outcomes.append(poller.poll(feed))

        threads = [threading.Thread(target=run, args=(factory,)) for factory in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        # The feed's claim in the database lets one poller in; the others skip it.
        assert sorted(o.result for o in outcomes) == ["ok", "skipped", "skipped"]
        assert all("being polled by" in o.error for o in outcomes if o.result == "skipped")
        assert len(feed_server.hits("therapist-rss20.xml")) == 1
        assert sum(o.new for o in outcomes) == 5
        assert count_entries(sessions[0]) == 5
        assert get_feed(sessions[0], feed_server.url("therapist-rss20.xml")).polled_by is None  # released
        with sessions[0]() as session:
            pairs = session.execute(select(EntryTag.entry_id, EntryTag.tag_id)).all()
        assert len(pairs) == len(set(pairs))
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.parametrize(
    ("script", "limits", "error"),
    [
        ({"status": 500, "body": b"oops"}, {}, "the server answered 500 Internal Server Error: a server error"),
        ({"status": 404, "body": b"gone"}, {}, "the server answered 404 Not Found: not found; check the feed's address"),
        ({"status": 200, "body": b'<?xml version="1.0"?><rss version="2.0"><channel><title>Cut'}, {}, "the feed ended early (truncated download?)"),
        ({"status": 200, "body": b"<html><body>Moved</body></html>", "headers": {"Content-Type": "text/html"}}, {}, "not a feed: the address answers an HTML page"),
        ({"status": 200, "body": b"x" * 5000}, {"max_bytes": 1000}, "the feed is 5,000 bytes, over the limit of 1,000"),
        ({"status": 200, "body": b"<rss/>", "delay": 3}, {"read_timeout": 0.5}, "timed out: the server sent nothing for 0.5 s"),
        ({"status": 200, "body": b"<rss>" + b"x" * 100, "break_after": 20}, {}, "the connection failed"),
    ],
    ids=["500", "404", "bad-xml", "html-page", "too-big", "timeout", "cut-mid-body"],
)
def test_a_failing_feed_keeps_its_entries(sessions, tmp_path, feed_server, script, limits, error):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "counsellor-atom10.xml")
    assert poll(sessions, feed).new == 4
    before = {e.id: (e.title, e.content_html) for e in entries_by_title(sessions).values()}

    feed_server.script("counsellor-atom10.xml", **script)
    started = datetime.now(UTC)
    outcome = poll(sessions, feed, **limits)
    assert outcome.result == "failed"
    assert outcome.error.startswith(error), outcome.error
    assert {e.id: (e.title, e.content_html) for e in entries_by_title(sessions).values()} == before
    stored = get_feed(sessions, feed_server.url("counsellor-atom10.xml"))
    assert stored.last_error == outcome.error
    assert stored.error_count == 1
    assert stored.last_status == script["status"] if script["status"] != 200 else True
    assert stored.next_check_at >= started + timedelta(minutes=29)

    feed_server.unscript("counsellor-atom10.xml")
    stored_etag = stored.etag
    assert stored_etag  # the last good validators survive a failure
    recovered = poll(sessions, feed)
    assert recovered.result == "not-modified"
    stored = get_feed(sessions, feed_server.url("counsellor-atom10.xml"))
    assert (stored.error_count, stored.last_error) == (0, None)


def test_errors_back_off(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "gone.xml")
    waits = []
    for _ in range(3):
        before = datetime.now(UTC)
        poll(sessions, feed)
        stored = get_feed(sessions, feed_server.url("gone.xml"))
        waits.append(round((stored.next_check_at - before).total_seconds() / 60))
    assert waits == [30, 60, 120]
    assert stored.error_count == 3


def test_one_failing_feed_does_not_stop_the_others(sessions, tmp_path, feed_server):
    feeds = setup_feeds(sessions, tmp_path, feed_server, "missing.xml", "counsellor-atom10.xml", "jsonfeed11.json")
    seen = []
    outcomes = poll_feeds(sessions, feeds, on_done=seen.append)
    assert [o.result for o in outcomes] == ["failed", "ok", "ok"]
    assert sorted(o.feed_id for o in seen) == sorted(feeds)
    assert count_entries(sessions) == 4 + 2


def test_tags_come_from_categories_feed_tags_and_aliases(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(
        sessions, tmp_path, feed_server, "therapist-rss20.xml tags=psychotherapy, Childhood neglect",
        aliases={"ptsd": "trauma", "childhood neglect": "neglect"},
    )
    poll(sessions, feed)
    with sessions() as session:
        rows = session.execute(
            select(Entry.title, Tag.slug).join(EntryTag, EntryTag.entry_id == Entry.id).join(Tag, Tag.id == EntryTag.tag_id)
        ).all()
        tag_names = {tag.slug: tag.name for tag in session.scalars(select(Tag))}
    tags_of: dict[str, set[str]] = {}
    for title, slug in rows:
        tags_of.setdefault(title, set()).add(slug)
    # "PTSD" on one post and "ptsd " on another both land on "trauma".
    assert tags_of["Language Arts: Neglect, Triggers, Dissociation"] == {"neglect", "dissociation", "trauma", "psychotherapy"}
    assert tags_of["When the Body Keeps Score at Work"] == {"trauma", "self-care", "psychotherapy", "neglect"}
    assert "ptsd" not in tag_names and "childhood-neglect" not in tag_names
    assert tag_names["psychotherapy"] == "Psychotherapy"


def test_the_seed_post_is_carried_whole_without_its_theme_debris(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "therapist-rss20.xml")
    poll(sessions, feed)
    entry = entries_by_title(sessions)["Life, Love and Healing: The Wonders of Oxytocin"]
    seed_paragraphs = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines()[2:20] if len(line.strip()) > 80]
    assert seed_paragraphs
    text = html.unescape(entry.content_html)
    for paragraph in seed_paragraphs:
        assert paragraph.split(".")[0] in text
    # The theme's debris is gone: two other posts' teasers and the sign-up line.
    for debris in ("Read More", "Language Arts", "Back when I was in grade school", "Giving Thanks", "Jim Thorpe", "Signup to my Mailing List", "/newsletter/"):
        assert debris not in text, debris
    assert text.rstrip().endswith("a practical roadmap for facilitating survivors’ healing.</p>")
    assert not entry.is_teaser
    assert entry.summary_text.startswith("When I was young and first learning about sexuality")
    assert entry.url == "https://demo.invalid/maren/blog/life-love-and-healing-oxytocin/"


def test_hostile_entries_are_stored_clean(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "hostile-rss20.xml")
    outcome = poll(sessions, feed)
    assert outcome.new == 3
    with sessions() as session:
        entries = {e.guid: e for e in session.scalars(select(Entry))}
        tags = {t.slug: t.name for t in session.scalars(select(Tag))}
    hostile = entries["hostile-1"]
    assert hostile.title == 'Boundaries & Safety'
    for needle in ("<script", "onclick", "onerror", "javascript:", "<iframe", "srcdoc", "<form", "<svg", "<style", "pwned", "display: none"):
        assert needle not in hostile.content_html, needle
    assert 'src="https://hostile.example/img/fence.jpg"' in hostile.content_html
    assert 'href="https://hostile.example/more/"' in hostile.content_html
    assert tags == {"boundaries": "Boundaries"}
    assert get_feed(sessions, feed_server.url("hostile-rss20.xml")).title == "Hostile"


def test_untitled_and_future_dated_entries(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "hostile-rss20.xml")
    before = datetime.now(UTC)
    poll(sessions, feed)
    with sessions() as session:
        entries = {e.guid: e for e in session.scalars(select(Entry))}
    assert entries["hostile-2"].title == "An untitled note about rest and repair, which …"
    future = entries["hostile-3"]
    assert future.published_at.year == 2031
    assert before <= future.sort_time <= datetime.now(UTC)


def test_relative_urls_follow_xml_base(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "xml-base-atom.xml")
    poll(sessions, feed)
    [entry] = entries_by_title(sessions).values()
    # An HTML title: its markup goes, its entities are decoded once.
    assert entry.title == "Tom & Jerry in therapy"
    assert 'href="https://relative.example/blog/posts/two/"' in entry.content_html
    assert 'src="https://relative.example/blog/posts/one/pic.jpg"' in entry.content_html
    assert "javascript" not in entry.content_html


def test_json_feed_and_wagtail_over_http(sessions, tmp_path, feed_server):
    feeds = setup_feeds(sessions, tmp_path, feed_server, "jsonfeed10.json", "wagtail-pages.json")
    outcomes = poll_feeds(sessions, feeds)
    assert [(o.result, o.new) for o in outcomes] == [("ok", 2), ("ok", 2)]
    entries = entries_by_title(sessions)
    assert 'href="https://counselcoffee.example/glossary/anxiety"' in entries["Anxiety, Named Kindly"].content_html
    assert entries["A Plain-Text Note"].content_html.startswith("<p>First paragraph of a plain note.</p>")
    assert "&lt;angle brackets&gt;" in entries["A Plain-Text Note"].content_html
    assert '<h2>Shame hides</h2>' in entries["Shame and Belonging"].content_html


def test_a_retired_feed_is_not_polled(sessions, tmp_path, feed_server):
    [feed] = setup_feeds(sessions, tmp_path, feed_server, "counsellor-atom10.xml")
    write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": [feed_server.url("jsonfeed11.json")]}))
    assert poll(sessions, feed).result == "skipped"
    assert feed_server.hits("counsellor-atom10.xml") == []
    with sessions() as session:
        assert session.get(Feed, feed).retired_at is not None


def test_new_cleaning_rules_clean_unchanged_feeds_again(sessions, tmp_path, feed_server, monkeypatch):
    from aggregator import poll as poll_module

    [feed] = setup_feeds(sessions, tmp_path, feed_server, "counsellor-atom10.xml")
    poll(sessions, feed)
    assert poll(sessions, feed).result == "not-modified"
    monkeypatch.setattr(poll_module, "RULES_VERSION", poll_module.RULES_VERSION + 1)
    again = poll(sessions, feed)
    assert (again.result, again.updated) == ("ok", 4)
    assert "if-none-match" not in feed_server.hits("counsellor-atom10.xml")[-1].headers
    assert poll(sessions, feed).result == "not-modified"
