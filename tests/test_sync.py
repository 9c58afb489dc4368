"""`aggregator sync`: feeds.yaml applied to the database; nothing deleted."""

from __future__ import annotations

from sqlalchemy import select

from aggregator.models import Author, Entry, Feed, Setting
from aggregator.poll import Poller
from aggregator.reading import get_author, get_entry, list_entries, tag_counts
from tests.helpers import count_entries, feed_id, feeds_yaml, write_and_sync


def test_first_sync_adds_everything(sessions, tmp_path):
    text = feeds_yaml({"jane-doe": ["https://jane.example/feed/ tags=trauma"], "joan": ["https://joan.example/rss"]}, aliases={"PTSD": "trauma"})
    _, report = write_and_sync(sessions, tmp_path, text)
    assert report.added == [
        "author jane-doe",
        "feed https://jane.example/feed/ (jane-doe)",
        "author joan",
        "feed https://joan.example/rss (joan)",
    ]
    assert report.changed == report.retired == []
    assert report.summary() == "Synced: 4 added, 0 changed, 0 retired; site settings, tag aliases, content notes, support panels, schedule updated."
    with sessions() as session:
        feed = session.scalar(select(Feed).where(Feed.source == "https://jane.example/feed/"))
        assert (feed.tags, feed.interval_seconds, feed.location) == (["trauma"], 1800, "https://jane.example/feed/")
        settings = {s.key: s.value for s in session.scalars(select(Setting))}
    assert settings["tag_aliases"] == {"ptsd": "trauma"}
    assert settings["site"]["title"] == "Test Reading Room"


def test_sync_twice_changes_nothing(sessions, tmp_path):
    text = feeds_yaml({"jane-doe": ["https://jane.example/feed/"]})
    write_and_sync(sessions, tmp_path, text)
    _, report = write_and_sync(sessions, tmp_path, text)
    assert report.unchanged
    assert report.summary() == "The database already matches the feeds file; nothing to do."


def test_changes_are_applied_and_named(sessions, tmp_path):
    write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": ["https://jane.example/feed/"]}))
    changed = feeds_yaml({"jane-doe": ["https://jane.example/feed/ tags=grief"]}).replace("name: Jane Doe", "name: Jane Doe, LMFT")
    _, report = write_and_sync(sessions, tmp_path, changed)
    assert report.changed == ["author jane-doe (name)", "feed https://jane.example/feed/ (tags)"]
    with sessions() as session:
        assert session.scalar(select(Author.name)) == "Jane Doe, LMFT"


def test_removed_feed_is_retired_and_its_entries_leave_the_pages(sessions, tmp_path, feed_server):
    both = feeds_yaml({"jane-doe": [feed_server.url("counsellor-atom10.xml"), feed_server.url("jsonfeed11.json")]})
    write_and_sync(sessions, tmp_path, both)
    with Poller(sessions) as poller:
        for source in ("counsellor-atom10.xml", "jsonfeed11.json"):
            poller.poll(feed_id(sessions, feed_server.url(source)))
    assert count_entries(sessions) == 6

    _, report = write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": [feed_server.url("jsonfeed11.json")]}))
    assert report.retired == [f"feed {feed_server.url('counsellor-atom10.xml')}"]
    assert count_entries(sessions) == 6  # stored still
    with sessions() as session:
        shown = list_entries(session).entries
        assert len(shown) == 2
        assert dict((tag.slug, n) for tag, n in tag_counts(session)) == {"grief": 1, "seasons": 1}
        retired_entry = session.scalar(
            select(Entry.id).join(Feed, Feed.id == Entry.feed_id).where(Feed.source == feed_server.url("counsellor-atom10.xml"))
        )
        assert get_entry(session, retired_entry) is None

    _, report = write_and_sync(sessions, tmp_path, both)
    assert report.changed == [f"feed {feed_server.url('counsellor-atom10.xml')} (listed again)"]
    with sessions() as session:
        assert len(list_entries(session).entries) == 6


def test_removed_author_is_retired(sessions, tmp_path):
    write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": ["https://jane.example/feed/"], "joan": ["https://joan.example/rss"]}))
    _, report = write_and_sync(sessions, tmp_path, feeds_yaml({"joan": ["https://joan.example/rss"]}))
    assert report.retired == ["feed https://jane.example/feed/", "author jane-doe"]
    with sessions() as session:
        assert get_author(session, "jane-doe") is None
        assert get_author(session, "joan") is not None


def test_feed_moved_to_another_author_takes_its_entries(sessions, tmp_path, feed_server):
    url = feed_server.url("jsonfeed11.json")
    write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": [url], "joan": ["https://joan.example/rss"]}))
    with Poller(sessions) as poller:
        poller.poll(feed_id(sessions, url))
    _, report = write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": ["https://jane.example/x"], "joan": ["https://joan.example/rss", url]}))
    assert f"feed {url} (author)" in report.changed
    with sessions() as session:
        joan = get_author(session, "joan")
        assert len(list_entries(session, author_id=joan.id).entries) == 2


def test_tag_changes_make_the_next_poll_fetch_again(sessions, tmp_path, feed_server):
    url = feed_server.url("jsonfeed11.json")
    write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": [url]}))
    with Poller(sessions) as poller:
        poller.poll(feed_id(sessions, url))
    write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": [url + " tags=loss"]}))
    with Poller(sessions) as poller:
        outcome = poller.poll(feed_id(sessions, url))
    assert (outcome.result, outcome.updated) == ("ok", 2)
    with sessions() as session:
        entries = list_entries(session).entries
    assert all("loss" in {t.slug for t in entry.tags} for entry in entries)
