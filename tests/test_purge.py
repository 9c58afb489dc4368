"""aggregator purge --author SLUG: a writer who withdraws consent has their posts deleted,
not hidden: posts, topics links, files and search rows; their pages answer 410."""

from __future__ import annotations

import subprocess
import sys

import feedparser
import pytest
from sqlalchemy import func, select, text

from aggregator.db import make_engine
from aggregator.models import Author, Enclosure, Entry, EntryTag, PurgedEntry
from aggregator.search import search
from aggregator.web import create_app
from tests.conftest import REPO
from tests.helpers import feeds_yaml, poll_all, write_and_sync

THERAPIST = "therapist-rss20.xml"
PODCAST = "podcast-rss20.xml"


@pytest.fixture
def polled(database_url, sessions, tmp_path, feed_server):
    """Maren (a blog) and Ilse (a blog and a podcast), polled; Ilse's last so that her posts have the newest ids."""
    writers = {"maren": [feed_server.url(THERAPIST)], "ilse": [feed_server.url("counsellor-atom10.xml"), feed_server.url(PODCAST)]}
    write_and_sync(sessions, tmp_path, feeds_yaml(writers))
    assert all(outcome.result == "ok" for outcome in poll_all(sessions))
    return writers


def purge(tmp_path, database_url: str, *args: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    """`aggregator purge ARGS` as a curator runs it, answering its question with `answer`."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "purge", *args, "--config", str(tmp_path / "feeds.yaml")],
        cwd=tmp_path, env=env, input=answer, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def ids_of(sessions, slug: str) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(Entry.id).join(Author, Entry.author_id == Author.id).where(Author.slug == slug)))


def search_rows(sessions, word: str) -> int:
    """Rows of the full-text index that hold `word`, read from the index itself."""
    with sessions() as session:
        if session.get_bind().dialect.name == "sqlite":
            return session.scalar(text("SELECT count(*) FROM entries_fts WHERE entries_fts MATCH :w"), {"w": word})
        return session.scalar(text("SELECT count(*) FROM entries WHERE search_vector @@ to_tsquery('reading_room', :w)"), {"w": word})


def test_purge_asks_first_and_deletes_nothing_without_a_yes(polled, sessions, tmp_path, database_url):
    before = ids_of(sessions, "ilse")
    refused = purge(tmp_path, database_url, "--author", "ilse", answer="n\n")
    assert refused.returncode == 1
    assert f"Ilse (ilse): {len(before)} stored posts." in refused.stdout and "for good?" in refused.stdout
    assert "Nothing was deleted." in refused.stdout
    no_terminal = purge(tmp_path, database_url, "--author", "ilse", answer="")
    assert no_terminal.returncode == 1 and "Nothing was deleted." in no_terminal.stdout
    assert ids_of(sessions, "ilse") == before


def test_purge_deletes_posts_topics_files_and_search_rows(polled, sessions, tmp_path, database_url):
    ids = ids_of(sessions, "ilse")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Enclosure).where(Enclosure.entry_id.in_(ids))) > 0
        assert session.scalar(select(func.count()).select_from(EntryTag).where(EntryTag.entry_id.in_(ids))) > 0
    assert search_rows(sessions, "episode") > 0
    done = purge(tmp_path, database_url, "--author", "ilse", answer="y\n")
    assert done.returncode == 0, done.stderr
    assert f"Deleted {len(ids)} posts of ilse; their pages answer 410 Gone." in done.stdout
    assert "still listed in feeds.yaml" in done.stderr  # their feeds would bring the posts back
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Entry).where(Entry.id.in_(ids))) == 0
        assert session.scalar(select(func.count()).select_from(Enclosure).where(Enclosure.entry_id.in_(ids))) == 0
        assert session.scalar(select(func.count()).select_from(EntryTag).where(EntryTag.entry_id.in_(ids))) == 0
        assert sorted(session.scalars(select(PurgedEntry.id))) == sorted(ids)
        assert search(session, "episode") == [] and search(session, "ilse") == []
    assert len(ids_of(sessions, "maren")) == 5  # nobody else's
    assert search_rows(sessions, "episode") == 0


def test_a_purged_writers_pages_answer_410_and_leave_every_feed(polled, sessions, tmp_path, database_url):
    ids = ids_of(sessions, "ilse")
    assert purge(tmp_path, database_url, "--author", "ilse", "--yes").returncode == 0
    engine = make_engine(database_url)
    try:
        client = create_app(engine=engine, TESTING=True).test_client()
        for entry_id in ids:
            gone = client.get(f"/entry/{entry_id}")
            assert gone.status_code == 410
            assert "asked for their posts to be removed" in gone.get_data(as_text=True)
        assert client.get("/entry/99999").status_code == 404
        for path in ("/", "/feed.atom", "/feed.rss", "/feed.json", "/search?q=breathing", "/tags"):
            assert "Episode 11" not in client.get(path).get_data(as_text=True), path
        assert len(feedparser.parse(client.get("/feed.atom").data).entries) == 5  # Maren's
    finally:
        engine.dispose()


def test_a_writer_taken_out_of_feeds_yaml_can_be_purged(polled, sessions, tmp_path, database_url, feed_server):
    ids = ids_of(sessions, "ilse")
    write_and_sync(sessions, tmp_path, feeds_yaml({"maren": polled["maren"]}))  # retired: kept, not shown
    done = purge(tmp_path, database_url, "--author", "ilse", "--yes")
    assert done.returncode == 0 and "still listed" not in done.stderr
    assert ids_of(sessions, "ilse") == []
    engine = make_engine(database_url)
    try:
        page = create_app(engine=engine, TESTING=True).test_client().get(f"/entry/{ids[0]}")
        assert page.status_code == 410
        assert "Episode" not in page.get_data(as_text=True) and feed_server.url("") not in page.get_data(as_text=True)
    finally:
        engine.dispose()
    # Nothing left: a second purge says so.
    again = purge(tmp_path, database_url, "--author", "ilse")
    assert again.returncode == 0 and "0 stored posts" in again.stdout and "Nothing to delete." in again.stdout


def test_no_new_post_takes_a_purged_id(polled, sessions, tmp_path, database_url, feed_server):
    """SQLite would give the newest ids again once their posts are gone; the tombstones keep them taken."""
    write_and_sync(sessions, tmp_path, feeds_yaml({**polled, "late": [feed_server.url("jsonfeed11.json")]}))
    poll_all(sessions)
    purged = ids_of(sessions, "late")
    with sessions() as session:
        assert max(purged) == session.scalar(select(func.max(Entry.id)))  # the newest posts of all
    assert purge(tmp_path, database_url, "--author", "late", "--yes").returncode == 0
    write_and_sync(sessions, tmp_path, feeds_yaml({**polled, "sam": [feed_server.url("jsonfeed10.json")]}))
    poll_all(sessions)
    fresh = ids_of(sessions, "sam")
    assert fresh and min(fresh) > max(purged)
    engine = make_engine(database_url)
    try:
        assert create_app(engine=engine, TESTING=True).test_client().get(f"/entry/{max(purged)}").status_code == 410
    finally:
        engine.dispose()


def test_an_unknown_writer_is_an_error(polled, tmp_path, database_url):
    result = purge(tmp_path, database_url, "--author", "nobody", "--yes")
    assert result.returncode == 1 and "no writer 'nobody'" in result.stderr
