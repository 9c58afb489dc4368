"""`path:` feeds stay inside the folder of feeds.yaml at every read.

feeds.yaml is checked when it is loaded, but the file can be swapped
afterwards: each poll (inline, in a worker, or in the embedded scheduler)
checks again where the file really is, and refuses one that leads out of
the folder, with an error on the feed and nothing stored from it.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from aggregator.db import transaction
from aggregator.embedded import InProcessScheduler
from aggregator.fetch import FetchError, FetchRequest, feed_folder, fetch_file
from aggregator.models import Feed
from tests.conftest import FIXTURES
from tests.helpers import count_entries, entries_by_title, feeds_yaml, get_feed, poll_all, write_and_sync

SOURCE = "path:feeds/feed.xml"
OUTSIDE_TITLE = "The 3 a.m. Committee: Living With Anxious Thoughts"  # of counsellor-atom10.xml only


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The folder of feeds.yaml, with one feed file; beside it, a file outside it."""
    site = tmp_path / "site"
    (site / "feeds").mkdir(parents=True)
    shutil.copy(FIXTURES / "feeds" / "therapist-rss20.xml", site / "feeds" / "feed.xml")
    shutil.copy(FIXTURES / "feeds" / "counsellor-atom10.xml", tmp_path / "outside.xml")
    return site


@pytest.fixture
def polled(sessions, folder: Path):
    """The feed synced and polled once from the good file."""
    write_and_sync(sessions, folder, feeds_yaml({"maren": ["feeds/feed.xml"]}))
    assert [outcome.result for outcome in poll_all(sessions)] == ["ok"]
    assert count_entries(sessions) == 5
    return sessions


def replace_by_link(path: Path, target: Path) -> None:
    path.unlink()
    path.symlink_to(target)


def test_outside_titles_are_not_in_the_good_file():
    assert OUTSIDE_TITLE in (FIXTURES / "feeds" / "counsellor-atom10.xml").read_text(encoding="utf-8")
    assert OUTSIDE_TITLE not in (FIXTURES / "feeds" / "therapist-rss20.xml").read_text(encoding="utf-8")


def test_a_file_replaced_by_a_link_out_of_the_folder_is_refused_and_nothing_stored(polled, folder):
    replace_by_link(folder / "feeds" / "feed.xml", folder.parent / "outside.xml")
    [outcome] = poll_all(polled)
    assert outcome.result == "failed"
    assert "leads out of" in outcome.error and "only files inside the folder of feeds.yaml are read" in outcome.error
    feed = get_feed(polled, SOURCE)
    assert feed.error_count == 1 and "leads out of" in feed.last_error
    assert count_entries(polled) == 5  # the earlier entries stay
    assert OUTSIDE_TITLE not in entries_by_title(polled)


def test_a_folder_replaced_by_a_link_out_is_refused(polled, folder, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(tmp_path / "outside.xml", elsewhere / "feed.xml")
    shutil.rmtree(folder / "feeds")
    (folder / "feeds").symlink_to(elsewhere, target_is_directory=True)
    [outcome] = poll_all(polled)
    assert outcome.result == "failed" and "leads out of" in outcome.error
    assert count_entries(polled) == 5


def test_a_link_that_stays_inside_the_folder_is_read(polled, folder):
    shutil.copy(FIXTURES / "feeds" / "counsellor-atom10.xml", folder / "inside.xml")
    replace_by_link(folder / "feeds" / "feed.xml", Path("..") / "inside.xml")
    [outcome] = poll_all(polled)
    assert outcome.result == "ok" and outcome.new == 4
    assert OUTSIDE_TITLE in entries_by_title(polled)


def test_a_pipe_in_place_of_the_file_is_refused_without_waiting(polled, folder):
    (folder / "feeds" / "feed.xml").unlink()
    os.mkfifo(folder / "feeds" / "feed.xml")
    [outcome] = poll_all(polled)
    assert outcome.result == "failed" and "is not a regular file" in outcome.error


def test_the_embedded_scheduler_refuses_the_link_too(polled, folder, caplog):
    scheduler = InProcessScheduler(polled, folder / "feeds.yaml")
    replace_by_link(folder / "feeds" / "feed.xml", folder.parent / "outside.xml")
    with transaction(polled) as session:
        session.execute(update(Feed).values(next_check_at=datetime.now(UTC) - timedelta(seconds=1)))
    outcomes = scheduler.run_once()
    assert [(outcome.result, "leads out of" in (outcome.error or "")) for outcome in outcomes] == [("failed", True)]
    assert count_entries(polled) == 5
    assert OUTSIDE_TITLE not in entries_by_title(polled)


# -- fetch_file alone -------------------------------------------------------------


@pytest.mark.parametrize(
    "source,path,folder",
    [
        ("path:demo/feed.xml", "/srv/planet/demo/feed.xml", "/srv/planet"),
        ("path:feed.xml", "/srv/planet/feed.xml", "/srv/planet"),
        ("path:other/feed.xml", "/srv/planet/demo/feed.xml", "/srv/planet/demo"),  # no match: the strictest folder
        ("https://example.org/feed", "/srv/planet/demo/feed.xml", "/srv/planet/demo"),
        (None, "/srv/planet/demo/feed.xml", "/srv/planet/demo"),
    ],
)
def test_feed_folder_is_what_the_source_leaves_of_the_path(source, path, folder):
    assert feed_folder(source, Path(path)) == Path(folder)


def test_fetch_file_without_a_source_keeps_to_the_files_own_folder(folder, tmp_path):
    link = folder / "feeds" / "feed.xml"
    assert fetch_file(FetchRequest(link.as_uri()), 10**6).status == 200
    replace_by_link(link, folder / "elsewhere.xml")
    shutil.copy(tmp_path / "outside.xml", folder / "elsewhere.xml")
    with pytest.raises(FetchError, match="leads out of"):
        fetch_file(FetchRequest(link.as_uri()), 10**6)
    assert fetch_file(FetchRequest(link.as_uri(), source=SOURCE), 10**6).status == 200


def test_fetch_file_bounds_the_bytes_it_reads(folder):
    path = folder / "feeds" / "feed.xml"
    with pytest.raises(FetchError, match="over the limit of 100"):
        fetch_file(FetchRequest(path.as_uri(), source=SOURCE), 100)
