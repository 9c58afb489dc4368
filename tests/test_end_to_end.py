"""End to end as a user runs it: feeds.yaml -> `aggregator ...` -> the site.

Inline with `aggregator poll`, and through RQ with `aggregator schedule`
and `aggregator worker` on the real Redis; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import func, select, update

from aggregator.db import make_engine, session_factory
from aggregator.models import Entry, EntryTag, Feed
from aggregator.web import create_app
from tests.helpers import feeds_yaml

FEEDS = ["therapist-rss20.xml", "counsellor-atom10.xml", "jsonfeed11.json"]
EXPECTED_ENTRIES = 5 + 4 + 2


@pytest.fixture
def site_config(tmp_path, feed_server):
    text = feeds_yaml(
        {"maren": [feed_server.url(FEEDS[0]) + " tags=psychotherapy"], "samuel": [feed_server.url(FEEDS[1]), feed_server.url(FEEDS[2])]},
        aliases={"ptsd": "trauma"},
    )
    (tmp_path / "feeds.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "feeds.yaml"


def stored_counts(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return session.scalar(select(func.count(Entry.id))), session.scalar(select(func.count()).select_from(EntryTag))
    finally:
        engine.dispose()


def make_all_due_and_forget_validators(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(update(Feed).values(next_check_at=datetime(2000, 1, 1, tzinfo=UTC), etag=None, last_modified=None))
    finally:
        engine.dispose()


def test_inline_poll_fills_the_site(database_url, site_config, run_aggregator):
    run_aggregator.env["DATABASE_URL"] = database_url
    result = run_aggregator("poll")
    assert "Synced: 5 added" in result.stdout
    assert "Polled 3 feeds in" in result.stdout
    assert f"3 ok; {EXPECTED_ENTRIES} new entries, 0 updated." in result.stdout
    assert stored_counts(database_url)[0] == EXPECTED_ENTRIES

    again = run_aggregator("poll", "--all")
    assert "3 not modified; 0 new entries, 0 updated." in again.stdout
    assert run_aggregator("poll").stdout.strip() == "No feed is due; use --all to poll every feed now."

    engine = make_engine(database_url)
    try:
        client = create_app(engine=engine).test_client()
        front = client.get("/").get_data(as_text=True)
        assert "Giving Thanks: Peace, Food, Gratitude" in front and "The First Winter" in front
        author = client.get("/author/samuel").get_data(as_text=True)
        assert "What My Father Never Said" in author and "Giving Thanks" not in author
        tag = client.get("/tag/psychotherapy").get_data(as_text=True)
        assert len(re.findall(r'class="card__title"', tag)) == 5
        parsed = feedparser.parse(client.get("/feed.atom").data)
        assert not parsed.bozo and len(parsed.entries) == EXPECTED_ENTRIES
    finally:
        engine.dispose()


def test_poll_names_feeds_by_author_or_url(database_url, site_config, run_aggregator, feed_server):
    run_aggregator.env["DATABASE_URL"] = database_url
    result = run_aggregator("poll", "samuel")
    assert "Polled 2 feeds" in result.stdout
    result = run_aggregator("poll", feed_server.url(FEEDS[0]))
    assert "Polled 1 feed in" in result.stdout and "5 new entries" in result.stdout
    unknown = run_aggregator("poll", "nobody", check=False)
    assert unknown.returncode == 2
    assert "no feed matches 'nobody'" in unknown.stderr


def test_poll_reports_failed_feeds_and_exits_1_when_some_failed(database_url, site_config, run_aggregator, feed_server):
    run_aggregator.env["DATABASE_URL"] = database_url
    feed_server.script(FEEDS[1], status=503, body=b"busy")
    result = run_aggregator("poll", check=False)
    assert result.returncode == 1
    assert "2 ok, 1 failed" in result.stdout
    assert "Failed (1): their stored entries are kept" in result.stdout
    assert "the server answered 503 Service Unavailable: a server error; it is usually temporary" in result.stdout
    assert "Some feeds failed (exit 1)." in result.stdout
    # Polled again, nothing new: all fine, exit 0.
    feed_server.unscript(FEEDS[1])
    assert run_aggregator("poll", feed_server.url(FEEDS[1])).returncode == 0


def test_poll_exits_2_when_every_feed_failed(database_url, site_config, run_aggregator, feed_server):
    run_aggregator.env["DATABASE_URL"] = database_url
    for name in FEEDS:
        feed_server.script(name, status=500, body=b"down")
    result = run_aggregator("poll", check=False)
    assert result.returncode == 2
    assert "3 failed" in result.stdout and "Every feed failed (exit 2)." in result.stdout


def test_poll_exits_2_when_the_database_cannot_be_reached(site_config, run_aggregator):
    run_aggregator.env["DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2"
    result = run_aggregator("poll", check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.strip()


def test_poll_refuses_a_broken_feeds_file(database_url, tmp_path, run_aggregator):
    run_aggregator.env["DATABASE_URL"] = database_url
    (tmp_path / "feeds.yaml").write_text("authors:\n  - slug: Bad Slug\n    name: x\n    feeds: []\n", encoding="utf-8")
    result = run_aggregator("poll", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith("feeds.yaml:2: author slug 'Bad Slug'")


def test_sync_command_prints_what_changed(database_url, site_config, run_aggregator):
    run_aggregator.env["DATABASE_URL"] = database_url
    first = run_aggregator("sync", "--config", str(site_config))
    assert first.stdout.splitlines()[0] == "added author maren"
    assert first.stdout.splitlines()[-1] == "Synced: 5 added, 0 changed, 0 retired; site settings, tag aliases, content notes, support panels, schedule updated."
    text = site_config.read_text().replace("  - slug: maren", "  - slug: maren-h")
    site_config.write_text(text)
    second = run_aggregator("sync")
    assert "retired author maren" in second.stdout and "added author maren-h" in second.stdout


@pytest.mark.redis
def test_rq_schedule_and_worker_store_the_same_entries_once(database_url, site_config, run_aggregator, redis_url, feed_server):
    run_aggregator.env.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
    scheduled = run_aggregator("schedule", "--once")
    assert "enqueued 3 due feed(s); 0 already queued or running" in scheduled.stdout
    again = run_aggregator("schedule", "--once")
    assert "enqueued 0 due feed(s); 3 already queued or running" in again.stdout  # one job per feed
    run_aggregator("worker", "--burst")
    assert stored_counts(database_url)[0] == EXPECTED_ENTRIES
    assert len(feed_server.hits(FEEDS[0])) == 1

    # Both again, with every feed due and fetched in full: nothing is stored twice.
    first_counts = stored_counts(database_url)
    make_all_due_and_forget_validators(database_url)
    assert "enqueued 3 due feed(s)" in run_aggregator("schedule", "--once").stdout
    run_aggregator("worker", "--burst")
    assert stored_counts(database_url) == first_counts
    assert len(feed_server.hits(FEEDS[0])) == 2
    assert "enqueued 0 due feed(s); 0 already queued" in run_aggregator("schedule", "--once").stdout


@pytest.mark.redis
def test_rq_job_that_fails_is_visible_and_makes_way_when_due(database_url, site_config, run_aggregator, redis_url):
    from redis import Redis
    from rq import Queue
    from rq.job import Job, JobStatus
    from rq.registry import FailedJobRegistry
    from sqlalchemy import text

    from workers.queue import QUEUE_NAME, enqueue_poll, job_id

    run_aggregator.env.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
    run_aggregator("sync")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        feed = connection.scalar(select(Feed.id).order_by(Feed.id))
        # Take away a table every poll reads: the job fails inside the worker.
        connection.execute(text("DROP TABLE settings"))
    engine.dispose()
    connection = Redis.from_url(redis_url)
    queue = Queue(QUEUE_NAME, connection=connection)
    try:
        assert enqueue_poll(queue, feed)
        assert not enqueue_poll(queue, feed), "one job per feed while it is queued"
        run_aggregator("worker", "--burst")
        assert job_id(feed) in FailedJobRegistry(queue=queue).get_job_ids()
        failed = Job.fetch(job_id(feed), connection=connection)
        assert "settings" in (failed.latest_result().exc_string or "")
        assert enqueue_poll(queue, feed), "a failed job makes way for the next poll"
        assert Job.fetch(job_id(feed), connection=connection).get_status() == JobStatus.QUEUED
    finally:
        connection.close()


def test_worker_and_schedule_need_redis(run_aggregator, site_config):
    result = run_aggregator("worker", "--burst", check=False)
    assert result.returncode == 1
    assert "REDIS_URL is not set" in result.stderr
    run_aggregator.env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    result = run_aggregator("schedule", "--once", check=False)
    assert result.returncode == 1
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in result.stderr


def test_status_command_prints_the_health_table(database_url, site_config, run_aggregator, feed_server):
    run_aggregator.env["DATABASE_URL"] = database_url
    feed_server.script(FEEDS[1], status=404, body=b"nope")
    assert run_aggregator("poll", check=False).returncode == 1
    lines = run_aggregator("status").stdout.splitlines()
    assert lines[0].split() == ["feed", "last", "check", "last", "ok", "http", "entries", "next", "check", "errors", "problem"]
    assert lines[1].startswith(f"samuel: {feed_server.url(FEEDS[1])}")  # the sick feed first
    assert "404" in lines[1] and "not found; check the feed's address in feeds.yaml" in lines[1]
    assert lines[-1] == "3 feeds, 1 sick."


def test_import_opml_prints_then_writes_feeds_yaml_entries(site_config, run_aggregator):
    opml = Path(__file__).parent / "fixtures" / "opml" / "netnewswire.opml"
    before = site_config.read_text(encoding="utf-8")
    printed = run_aggregator("import-opml", str(opml))
    assert printed.stdout.startswith("# Paste under 'authors:' in feeds.yaml")
    assert "      - url: https://alund.example/feed.xml" in printed.stdout
    assert site_config.read_text(encoding="utf-8") == before
    written = run_aggregator("import-opml", str(opml), "--write")
    assert written.stdout.strip() == "Added 4 writers to feeds.yaml; run `aggregator sync` to apply."
    after = site_config.read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n"))
    assert run_aggregator("check").stdout.strip() == "feeds.yaml: OK: 6 authors, 7 feeds, 1 tag alias"
    again = run_aggregator("import-opml", str(opml), "--write")
    assert again.stdout.strip() == "Nothing new to import."
    assert "already in feeds.yaml" in again.stderr


def test_import_opml_refuses_a_broken_file(site_config, run_aggregator, tmp_path):
    broken = tmp_path / "broken.opml"
    broken.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><opml version="2.0"><body/></opml>')
    result = run_aggregator("import-opml", str(broken), check=False)
    assert result.returncode == 1
    assert "OPML with a DOCTYPE is refused" in result.stderr
