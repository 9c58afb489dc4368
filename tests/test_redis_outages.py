"""Redis goes away under a busy worker and a running `aggregator schedule`
loop; polling resumes by itself, with no process restarted, nothing lost and
no feed blamed. The Redis server is the test's own, on a port of its own."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from rq.executions import Execution
from rq.job import Job
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select, update

from aggregator.db import make_engine, session_factory, transaction
from aggregator.fetch import FetchLimits
from aggregator.models import Entry, Feed
from tests.conftest import _service_missing
from tests.processes import kill_session
from tests.redisserver import RedisServer
from workers.limits import lease_seconds_for
from workers.queue import QUEUE_NAME

pytestmark = pytest.mark.redis
WRITERS = 6
ENTRIES_EACH = 3
SLOW = 1.0  # seconds each feed takes to answer: the worker is busy most of the time


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    reason = RedisServer.missing()
    if reason:
        _service_missing("redis-server", reason)
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def drill(redis_server, feed_server, run_aggregator, sqlite_url, tmp_path) -> Iterator[Database]:
    """Slow feeds, the test's own Redis, a SQLite database; the processes' heartbeat every second."""
    slow_feeds(feed_server, tmp_path)
    run_aggregator.env.update(DATABASE_URL=sqlite_url, REDIS_URL=redis_server.url, AGGREGATOR_JOB_HEARTBEAT="1")
    database = Database(sqlite_url)
    yield database
    database.engine.dispose()


def slow_feeds(feed_server, tmp_path) -> None:
    lines = [
        "site:", "  title: Outage drill", "  base_url: http://127.0.0.1:5000",
        "defaults:", "  interval: 30m", "  max_per_host: 8", "authors:",
    ]  # fmt: skip
    for number in range(WRITERS):
        items = "".join(
            f"<item><title>Post {number}-{i}</title><link>https://w{number}.example/p/{i}/</link><guid>w{number}-{i}</guid>"
            f"<pubDate>Mon, 0{i + 1} Nov 2026 10:00:00 GMT</pubDate><description>Post {i} of writer {number}.</description></item>"
            for i in range(ENTRIES_EACH)
        )
        body = f'<rss version="2.0"><channel><title>Writer {number}</title>{items}</channel></rss>'.encode()
        feed_server.script(f"w{number}.xml", body=body, delay=SLOW, headers={"Content-Type": "application/rss+xml"})
        lines += [f"  - slug: writer-{number}", f"    name: Writer {number}", "    feeds:", f"      - url: {feed_server.url(f'w{number}.xml')}"]
    (tmp_path / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


class Database:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)

    def feeds(self) -> list[Feed]:
        with self.sessions() as session:
            return list(session.scalars(select(Feed).order_by(Feed.id)))

    def entries(self) -> tuple[int, int]:
        with self.sessions() as session:
            total = session.scalar(select(func.count(Entry.id)))
            distinct = session.scalar(select(func.count()).select_from(select(Entry.feed_id, Entry.guid).distinct().subquery()))
        return total, distinct

    def make_all_due(self) -> datetime:
        mark = datetime.now(UTC)
        with transaction(self.sessions) as session:
            session.execute(update(Feed).values(next_check_at=mark - timedelta(seconds=1)))
        return mark

    def checked_since(self, mark: datetime) -> int:
        return sum(1 for feed in self.feeds() if feed.last_checked_at and feed.last_checked_at >= mark)


def wait_until(condition: Callable[[], bool], seconds: float, what: str, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        for process in processes:
            assert process.poll() is None, f"a process exited during the drill while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def start(run_aggregator, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", *args], cwd=run_aggregator.cwd, env=run_aggregator.env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=10)
    return output


def test_worker_and_scheduler_ride_out_redis_restarts_and_cut_connections(drill, redis_server, feed_server, run_aggregator):
    database = drill
    scheduler = start(run_aggregator, "schedule", "--every", "1")
    worker = start(run_aggregator, "worker")
    processes = [scheduler, worker]
    hits = lambda: sum(len(feed_server.hits(f"w{n}.xml")) for n in range(WRITERS))  # noqa: E731
    try:
        # 1. Killed mid-job and restarted empty: queued jobs and the running
        #    one are forgotten; the scheduler queues the feeds again.
        wait_until(lambda: database.checked_since(datetime.min.replace(tzinfo=UTC)) >= 2, 60, "the first polls", processes)
        busy_from = hits()
        wait_until(lambda: hits() > busy_from, 20, "a fetch in progress", processes)
        redis_server.kill()
        time.sleep(2)
        redis_server.start()
        wait_until(lambda: all(feed.last_success_at for feed in database.feeds()), 90, "every feed polled after the restart", processes)

        # 2. Every connection cut in the middle of a job; the server keeps its data.
        mark = database.make_all_due()
        busy_from = hits()
        wait_until(lambda: hits() > busy_from, 20, "a fetch in progress", processes)
        assert redis_server.cut_clients() >= 1
        wait_until(lambda: database.checked_since(mark) == WRITERS, 90, "every feed polled after the cut", processes)

        # 3. Restarted the way an operator would (data saved and loaded back)
        #    while a job runs: the job left "started" is cleared, not waited for.
        mark = database.make_all_due()
        busy_from = hits()
        wait_until(lambda: hits() > busy_from, 20, "a fetch in progress", processes)
        redis_server.shutdown_saving()
        time.sleep(2)
        redis_server.start()
        wait_until(lambda: database.checked_since(mark) == WRITERS, 60, "every feed polled after the saved restart", processes)

        assert scheduler.poll() is None and worker.poll() is None, "no process was restarted"
    finally:
        outputs = {name: stop(process) for name, process in (("schedule", scheduler), ("worker", worker))}
    total, distinct = database.entries()
    assert total == distinct == WRITERS * ENTRIES_EACH
    for feed in database.feeds():
        assert feed.error_count == 0 and feed.last_error is None, (feed.source, feed.last_error, outputs)
    # One line when each outage begins, not one per retry.
    assert outputs["worker"].count("is unavailable") <= 3, outputs["worker"]
    assert outputs["schedule"].count("is unavailable") <= 3, outputs["schedule"]
    assert "Traceback" not in outputs["worker"], outputs["worker"]


def test_a_worker_waits_for_a_redis_that_is_down_when_it_starts(redis_server, feed_server, run_aggregator, sqlite_url, tmp_path):
    slow_feeds(feed_server, tmp_path)
    run_aggregator.env.update(DATABASE_URL=sqlite_url, REDIS_URL=redis_server.url)
    redis_server.kill()
    worker = start(run_aggregator, "worker")
    try:
        time.sleep(3)
        assert worker.poll() is None, "the worker gave up on a Redis that is down"
        redis_server.start()
        run_aggregator("schedule", "--once")
        database = Database(sqlite_url)
        wait_until(lambda: all(feed.last_success_at for feed in database.feeds()), 60, "the feeds polled", [worker])
        database.engine.dispose()
    finally:
        output = stop(worker)
    assert worker.returncode == 0, output
    assert output.count("is unavailable") == 1, output
    assert "is back after" in output, output


def test_a_worker_killed_again_and_again_leaves_nothing_that_blocks_the_next_round(drill, redis_server, feed_server, run_aggregator):
    database = drill
    client = redis_server.client()
    slots = "aggregator:host-slots:127.0.0.1"
    chance = random.Random(8)
    for _ in range(8):
        scheduled = run_aggregator("schedule", "--once")  # never crashes on what the last kill left
        assert "enqueued" in scheduled.stdout
        victim = start(run_aggregator, "worker")
        time.sleep(chance.uniform(0.3, 2.5))
        kill_session(victim.pid)  # the worker and its work horse
        victim.communicate(timeout=10)
        killed_at = time.time()
        # A slot the dead worker held expires within the fetch's own time limit.
        leases = client.zrange(slots, 0, -1, withscores=True)
        assert all(expires <= killed_at + lease_seconds_for(FetchLimits()) + 1 for _, expires in leases), leases
        assert lease_seconds_for(FetchLimits()) <= FetchLimits().total_timeout

    # The round after the last kill queues every feed still due at once:
    # the jobs the dead worker had started are cleared, not waited for.
    database.make_all_due()
    summary = run_aggregator("schedule", "--once").stdout
    enqueued, queued = (int(n) for n in re.search(r"enqueued (\d+) due feed\(s\); (\d+) already queued", summary).groups())
    assert enqueued + queued == WRITERS
    queue = Queue(QUEUE_NAME, connection=client)
    assert StartedJobRegistry(queue=queue).get_job_ids() == [] and queue.count == WRITERS
    run_aggregator("worker", "--burst", timeout=120)
    total, distinct = database.entries()
    assert total == distinct == WRITERS * ENTRIES_EACH
    for feed in database.feeds():
        assert feed.last_success_at is not None, feed.source
        assert feed.error_count == 0 and feed.last_error is None and feed.polled_by is None, (feed.source, feed.last_error)
    client.close()


def test_schedule_once_clears_a_job_whose_execution_record_is_gone(drill, redis_server, feed_server, run_aggregator):
    database = drill
    client = redis_server.client()
    queue = Queue(QUEUE_NAME, connection=client)
    run_aggregator("schedule", "--once")
    victim = start(run_aggregator, "worker")
    wait_until(lambda: StartedJobRegistry(queue=queue).get_job_ids() != [], 30, "a job to start", [victim])
    kill_session(victim.pid)
    victim.communicate(timeout=10)
    [started] = {member.split(":")[0] for member in StartedJobRegistry(queue=queue).get_job_ids()}
    job = Job.fetch(started, connection=client)
    # As if the worker had run on another machine, and its job's execution
    # record had expired before RQ called the job abandoned: what a killed
    # worker leaves when nobody looks for a minute.
    client.hset(f"rq:worker:{job.worker_name}", "hostname", "another-machine.example")
    for execution_id in job.execution_registry.get_execution_ids():
        client.delete(Execution(execution_id, started, connection=client).key)
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 120)
    assert Job.fetch(started, connection=client).get_status() == "failed"

    database.make_all_due()
    result = run_aggregator("schedule", "--once")
    assert "Traceback" not in result.stderr
    assert re.search(r"enqueued \d+ due feed\(s\)", result.stdout)
    assert Job.fetch(started, connection=client).get_status() == "queued"  # made way and queued anew
    run_aggregator("worker", "--burst", timeout=120)
    assert database.entries()[0] == WRITERS * ENTRIES_EACH
    assert all(feed.error_count == 0 and feed.last_error is None for feed in database.feeds())
    client.close()
