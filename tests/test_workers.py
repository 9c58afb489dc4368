"""RQ at scale, for real: several workers on one Redis and one PostgreSQL
database, and a worker killed in the middle of a poll."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

from aggregator.db import make_engine, session_factory
from aggregator.models import Entry, Feed
from tests.helpers import feeds_yaml
from tests.processes import kill_session
from workers.queue import QUEUE_NAME, job_id

pytestmark = pytest.mark.redis
FEEDS = 50
ENTRIES_EACH = 3


def write_feeds(feed_server, count: int) -> list[str]:
    names = []
    for number in range(count):
        items = "".join(
            f"<item><title>Post {number}-{i}</title><link>https://w{number}.example/p/{i}/</link><guid>w{number}-{i}</guid>"
            f"<pubDate>Mon, 0{i + 1} Nov 2026 10:00:00 GMT</pubDate><description>Post {i} of writer {number}.</description></item>"
            for i in range(ENTRIES_EACH)
        )
        name = f"writer-{number:02d}.xml"
        (feed_server.root / name).write_text(f'<rss version="2.0"><channel><title>Writer {number}</title>{items}</channel></rss>')
        names.append(name)
    return names


def counts(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            total = session.scalar(select(func.count(Entry.id)))
            distinct = session.scalar(select(func.count()).select_from(select(Entry.feed_id, Entry.guid).distinct().subquery()))
            return total, distinct
    finally:
        engine.dispose()


def worker(run_aggregator, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "worker", *args],
        cwd=run_aggregator.cwd, env=run_aggregator.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: the work horse dies with it
    )


def test_three_workers_store_each_entry_once_and_fetch_each_feed_once(
    postgres_url, run_aggregator, redis_url, feed_server, tmp_path
):
    if not postgres_url:
        pytest.skip("PostgreSQL unavailable")
    from tests.conftest import _empty_postgres

    _empty_postgres(postgres_url)
    names = write_feeds(feed_server, FEEDS)
    authors = {f"writer-{i:02d}": [feed_server.url(name)] for i, name in enumerate(names)}
    (tmp_path / "feeds.yaml").write_text(feeds_yaml(authors), encoding="utf-8")
    run_aggregator.env.update(DATABASE_URL=postgres_url, REDIS_URL=redis_url)
    # Two schedulers at once still queue each feed once.
    schedulers = [
        subprocess.Popen([sys.executable, "-m", "aggregator", "schedule", "--once"], cwd=tmp_path, env=run_aggregator.env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [process.communicate(timeout=120)[0] for process in schedulers]
    assert all(p.returncode == 0 for p in schedulers), outputs
    assert len(Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))) == FEEDS

    workers = [worker(run_aggregator, "--burst") for _ in range(3)]
    logs = [process.communicate(timeout=300)[0] for process in workers]
    assert all(process.returncode == 0 for process in workers), logs
    assert sum(log.count("Job OK") for log in logs) == FEEDS
    assert sum(1 for log in logs if "Job OK" in log) >= 2, "the work was shared"

    total, distinct = counts(postgres_url)
    assert total == distinct == FEEDS * ENTRIES_EACH
    for name in names:
        assert len(feed_server.hits(name)) == 1, name
    assert feed_server.most_active <= 2  # one host here: at most two fetches at once

    # Another round: nothing is due, nothing is fetched, nothing stored twice.
    assert "enqueued 0 due feed(s)" in run_aggregator("schedule", "--once").stdout
    assert counts(postgres_url)[0] == FEEDS * ENTRIES_EACH


def test_a_worker_killed_mid_poll_leaves_nothing_half_written(database_url, run_aggregator, redis_url, feed_server, tmp_path):
    body = b"".join((feed_server.root / "therapist-rss20.xml").read_bytes().split(b"\n"))
    # The worker is killed while the body trickles in.
    feed_server.script("slow.xml", body=body, trickle=0.01)
    (tmp_path / "feeds.yaml").write_text(feeds_yaml({"maren": [feed_server.url("slow.xml")]}), encoding="utf-8")
    run_aggregator.env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, AGGREGATOR_JOB_HEARTBEAT="1")
    assert "enqueued 1 due feed(s)" in run_aggregator("schedule", "--once").stdout
    victim = worker(run_aggregator)
    deadline = time.monotonic() + 60
    while not feed_server.hits("slow.xml"):
        assert time.monotonic() < deadline and victim.poll() is None, "the worker never started the poll"
        time.sleep(0.1)
    time.sleep(1)
    kill_session(victim.pid)  # the worker and its work horse, as when its machine or unit dies
    victim.wait(10)
    victim.stdout.close()

    connection = Redis.from_url(redis_url)
    queue = Queue(QUEUE_NAME, connection=connection)
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            assert session.scalar(select(func.count(Entry.id))) == 0  # not one half-written entry
            feed = session.scalar(select(Feed))
        assert job_id(feed.id) in [key.split(":")[0] for key in StartedJobRegistry(queue=queue).get_job_ids()]
        # Had the worker run on another machine, nobody here could tell it is
        # dead: as far as RQ knows the job still runs, and it is not queued twice.
        # (On this machine the scheduler sees the worker's process is gone and
        # queues the feed at once: tests/test_redis_outages.py.)
        dead = Job.fetch(job_id(feed.id), connection=connection).worker_name
        connection.hset(f"rq:worker:{dead}", "hostname", "another-machine.example")
        assert "enqueued 0 due feed(s); 1 already queued or running" in run_aggregator("schedule", "--once").stdout

        # Later: the dead worker's heartbeat has long expired (a minute past
        # its last one), so RQ calls the job abandoned and the feed is polled
        # again, without blaming the feed for its worker's death.
        StartedJobRegistry(queue=queue).cleanup(timestamp=(datetime.now(UTC) + timedelta(minutes=2)).timestamp())
        assert job_id(feed.id) in FailedJobRegistry(queue=queue).get_job_ids()
        feed_server.unscript("slow.xml")
        (feed_server.root / "slow.xml").write_bytes(body)
        assert "enqueued 1 due feed(s)" in run_aggregator("schedule", "--once").stdout
        run_aggregator("worker", "--burst")
        with session_factory(engine)() as session:
            assert session.scalar(select(func.count(Entry.id))) == 5
            stored = session.get(Feed, feed.id)
            assert stored.error_count == 0 and stored.last_error is None
        with pytest.raises(NoSuchJobError):
            Job.fetch(job_id(feed.id), connection=connection)  # finished jobs leave nothing behind
    finally:
        engine.dispose()
        connection.close()
