"""The database goes away for a few seconds, through a TCP proxy the test cuts.

Under `aggregator serve`, the `aggregator schedule` loop, `aggregator
poll` and one poll alone: the processes wait the outage out, everything
completes once the database is back, nothing is lost or stored twice, and
no feed is blamed for it. PostgreSQL only: SQLite has no connection to cut.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from aggregator.db import make_engine, session_factory
from aggregator.models import Entry, Feed
from aggregator.poll import Poller
from tests.conftest import _empty_postgres, _service_missing
from tests.helpers import feed_id, feeds_yaml, write_and_sync
from tests.tcpproxy import TcpProxy
from tests.helpers import free_port
from workers.queue import QUEUE_NAME

pytestmark = pytest.mark.postgres

# These feeds hold 5, 4 and 6 entries.
THERAPIST, COUNSELLOR, BOOKING = "therapist-rss20.xml", "counsellor-atom10.xml", "booking-footer-rss20.xml"
OUTAGE_SECONDS = 3.0
# Every wait in this file gives up after this long.
PATIENCE_SECONDS = 30.0


def wait_until(condition: Callable[[], object], what: str, timeout: float = PATIENCE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout:g} s waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def direct_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied; the test reads it past the proxy."""
    if not postgres_url:
        _service_missing("PostgreSQL", "cannot connect")
    _empty_postgres(postgres_url)
    return postgres_url


@pytest.fixture
def proxy(direct_url: str) -> Iterator[TcpProxy]:
    target = make_url(direct_url)
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as running:
        yield running


@pytest.fixture
def proxied_url(direct_url: str, proxy: TcpProxy) -> str:
    """The same database, reached through the proxy: what the code under test uses."""
    return make_url(direct_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@pytest.fixture
def direct(direct_url: str) -> Iterator[Engine]:
    engine = make_engine(direct_url)
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class FeedRow:
    error_count: int
    last_error: str | None
    next_check_at: datetime | None
    polled_by: str | None


def feed_rows(engine: Engine) -> dict[str, FeedRow]:
    with session_factory(engine)() as session:
        return {
            feed.source: FeedRow(feed.error_count, feed.last_error, feed.next_check_at, feed.polled_by)
            for feed in session.scalars(select(Feed))
        }


def assert_no_feed_blamed(engine: Engine) -> None:
    rows = feed_rows(engine)
    assert rows, "no feeds were synced"
    for source, row in rows.items():
        assert (row.error_count, row.last_error) == (0, None), f"{source} was blamed for the outage: {row}"


def entry_counts(engine: Engine) -> tuple[int, int]:
    """Entries stored, and distinct (feed, guid) pairs among them."""
    with session_factory(engine)() as session:
        total = session.scalar(select(func.count(Entry.id)))
        keys = session.scalar(select(func.count()).select_from(select(Entry.feed_id, Entry.guid).distinct().subquery()))
    return total, keys


def write_feeds(directory: Path, authors: dict[str, list[str]]) -> None:
    (directory / "feeds.yaml").write_text(feeds_yaml(authors), encoding="utf-8")


def start(run_aggregator, log: Path, *args: str, **env: str) -> subprocess.Popen:
    """Start `aggregator ARGS` in the background, its output going to `log`."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "aggregator", *args],
            cwd=run_aggregator.cwd, env={**run_aggregator.env, **env}, stdout=output, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def assert_outage_logged_once(log: str, service: str) -> None:
    """The outage is one line when it begins and one when it ends, not a line per retry."""
    began = [line for line in log.splitlines() if f"{service} is unavailable" in line]
    ended = [line for line in log.splitlines() if f"{service} is back after" in line]
    assert len(began) == 1, f"expected one line saying {service} went away:\n{log}"
    assert len(ended) == 1, f"expected one line saying {service} is back:\n{log}"
    assert "Traceback" not in log, log


# -- one poll ------------------------------------------------------------------


def test_a_poll_that_loses_the_database_after_its_fetch_leaves_the_feed_as_it_was(
    direct, proxied_url, proxy, feed_server, tmp_path
):
    body = (feed_server.root / THERAPIST).read_bytes()
    feed_server.script("slow.xml", body=body, delay=1.5)
    write_and_sync(session_factory(direct), tmp_path, feeds_yaml({"maren": [feed_server.url("slow.xml")]}))
    source = feed_server.url("slow.xml")
    before = feed_rows(direct)[source]
    engine = make_engine(proxied_url, writer=True)
    try:
        with Poller(session_factory(engine)) as poller:
            outcomes = []
            polling = threading.Thread(target=lambda: outcomes.append(poller.poll(feed_id(session_factory(direct), source))))
            polling.start()
            # The request has arrived: the feed is claimed and being fetched.
            wait_until(lambda: feed_server.hits("slow.xml"), "the fetch to start")
            assert proxy.cut() >= 1
            polling.join(PATIENCE_SECONDS)
            assert not polling.is_alive(), "the poll did not end"
            [outcome] = outcomes
            assert outcome.result == "unavailable", outcome
            assert "database is unavailable" in outcome.error

            proxy.restore()
            after = feed_rows(direct)[source]
            assert (after.error_count, after.last_error, after.next_check_at) == (0, None, before.next_check_at)
            assert entry_counts(direct) == (0, 0)

            # The feed is due and polled at the next round, not held by the
            # claim of the poll that lost the database.
            feed_server.unscript("slow.xml")
            (feed_server.root / "slow.xml").write_bytes(body)
            assert poller.poll(feed_id(session_factory(direct), source)).result == "ok"
    finally:
        engine.dispose()
    assert entry_counts(direct) == (5, 5)
    assert_no_feed_blamed(direct)
    assert feed_rows(direct)[source].polled_by is None


# -- aggregator poll -----------------------------------------------------------


def test_poll_without_the_database_exits_2_with_one_readable_line(proxied_url, proxy, run_aggregator, feed_server, tmp_path):
    write_feeds(tmp_path, {"maren": [feed_server.url(THERAPIST)]})
    proxy.cut()
    run_aggregator.env["DATABASE_URL"] = proxied_url
    result = run_aggregator("poll", "--all", check=False, timeout=PATIENCE_SECONDS)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    reason = result.stderr.splitlines()[0]
    assert reason.startswith("aggregator: ") and "database" in reason, output
    assert not feed_server.hits(THERAPIST)


def test_poll_that_loses_the_database_midway_exits_2_and_the_next_poll_completes(
    direct, proxied_url, proxy, run_aggregator, feed_server, tmp_path
):
    slow_body = (feed_server.root / COUNSELLOR).read_bytes()
    feed_server.script("slow.xml", body=slow_body, delay=2.0)
    write_feeds(tmp_path, {"maren": [feed_server.url(THERAPIST)], "samuel": [feed_server.url("slow.xml")]})
    log = tmp_path / "poll.log"
    polling = start(run_aggregator, log, "poll", "--all", DATABASE_URL=proxied_url)
    try:
        # Maren's feed is stored; Samuel's is still on its way.
        wait_until(lambda: entry_counts(direct)[0] == 5 and feed_server.hits("slow.xml"), "the first feed to be stored")
        proxy.cut()
        assert polling.wait(PATIENCE_SECONDS) == 2, log.read_text()
    finally:
        stop(polling)
    proxy.restore()
    output = log.read_text()
    assert "the database went away during the run" in output, output
    assert "The database was away (exit 2)." in output, output
    assert "Traceback" not in output, output
    rows = feed_rows(direct)
    assert_no_feed_blamed(direct)
    assert rows[feed_server.url("slow.xml")].next_check_at <= datetime.now(UTC), "the feed not polled is still due"

    feed_server.unscript("slow.xml")
    (feed_server.root / "slow.xml").write_bytes(slow_body)
    run_aggregator.env["DATABASE_URL"] = proxied_url
    result = run_aggregator("poll", timeout=PATIENCE_SECONDS)
    assert "Polled 1 feed" in result.stdout and "4 new entries" in result.stdout, result.stdout
    assert entry_counts(direct) == (9, 9)
    assert_no_feed_blamed(direct)


# -- aggregator schedule -------------------------------------------------------


@pytest.mark.redis
def test_the_schedule_loop_waits_out_the_database_and_enqueues_again(
    direct, direct_url, proxied_url, proxy, redis_url, run_aggregator, feed_server, tmp_path
):
    write_feeds(tmp_path, {"maren": [feed_server.url(THERAPIST)]})
    queue_key = f"rq:queue:{QUEUE_NAME}"
    redis = Redis.from_url(redis_url)
    log = tmp_path / "schedule.log"
    scheduling = start(run_aggregator, log, "schedule", "--every", "1", DATABASE_URL=proxied_url, REDIS_URL=redis_url)
    try:
        wait_until(lambda: redis.llen(queue_key) == 1, "the first feed to be queued")
        proxy.cut()
        # A writer added while the database is away is applied when it is back.
        write_feeds(tmp_path, {"maren": [feed_server.url(THERAPIST)], "samuel": [feed_server.url(COUNSELLOR)]})
        wait_until(lambda: "is unavailable" in log.read_text(), "the loop to notice the outage")
        time.sleep(OUTAGE_SECONDS)
        assert scheduling.poll() is None, log.read_text()
        assert redis.llen(queue_key) == 1
        proxy.restore()
        wait_until(lambda: redis.llen(queue_key) == 2, "the added writer's feed to be queued")
        wait_until(lambda: "is back after" in log.read_text(), "the loop to say the database is back")
        assert scheduling.poll() is None
    finally:
        stop(scheduling)
        redis.close()
    assert_outage_logged_once(log.read_text(), "schedule: Redis or the database")

    run_aggregator.env.update(DATABASE_URL=direct_url, REDIS_URL=redis_url)
    run_aggregator("worker", "--burst", timeout=PATIENCE_SECONDS * 2)
    assert entry_counts(direct) == (9, 9)
    assert_no_feed_blamed(direct)


def test_schedule_and_worker_started_while_the_database_is_away_wait_for_it(
    direct, direct_url, proxied_url, proxy, redis_url, run_aggregator, feed_server, tmp_path
):
    write_feeds(tmp_path, {"maren": [feed_server.url(THERAPIST)]})
    proxy.cut()
    logs = {name: tmp_path / f"{name}.log" for name in ("schedule", "worker")}
    processes = {
        "schedule": start(run_aggregator, logs["schedule"], "schedule", "--every", "1", DATABASE_URL=proxied_url, REDIS_URL=redis_url),
        "worker": start(run_aggregator, logs["worker"], "worker", DATABASE_URL=proxied_url, REDIS_URL=redis_url),
    }
    try:
        for name, log in logs.items():
            wait_until(lambda log=log: "the database is unavailable" in log.read_text(), f"{name} to say it waits")
        time.sleep(OUTAGE_SECONDS)
        assert all(process.poll() is None for process in processes.values()), "a process gave up on the database"
        proxy.restore()
        wait_until(lambda: entry_counts(direct) == (5, 5), "the feed to be polled once the database is there")
    finally:
        for process in processes.values():
            stop(process)
    for name, log in logs.items():
        assert_outage_logged_once(log.read_text(), "the database")
    assert_no_feed_blamed(direct)


# -- aggregator serve ----------------------------------------------------------


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return 0, {}


def test_serve_waits_out_the_database_and_applies_an_edit_made_meanwhile(
    direct, proxied_url, proxy, run_aggregator, feed_server, tmp_path
):
    writers = {"maren": [feed_server.url(THERAPIST)]}
    write_feeds(tmp_path, writers)
    port = free_port()
    log = tmp_path / "serve.log"
    serving = start(run_aggregator, log, "serve", "--port", str(port), "--every", "1", DATABASE_URL=proxied_url)
    try:
        wait_until(lambda: healthz(port)[0] == 200 or serving.poll() is not None, "the site to answer")
        assert serving.poll() is None, log.read_text()
        assert healthz(port)[1]["entries"] == 5
        # A writer whose feed answers slowly: the database goes away while it is polled.
        feed_server.script("slow.xml", body=(feed_server.root / COUNSELLOR).read_bytes(), delay=2.0)
        writers["samuel"] = [feed_server.url("slow.xml")]
        write_feeds(tmp_path, writers)
        wait_until(lambda: feed_server.hits("slow.xml"), "the added writer's feed to be polled")
        proxy.cut()
        # Another writer, added while the database is away.
        writers["ines"] = [feed_server.url(BOOKING)]
        write_feeds(tmp_path, writers)
        wait_until(lambda: "the database is unavailable" in log.read_text(), "the scheduler to notice the outage")
        assert healthz(port) == (503, {"status": "error", "database": "unavailable"})
        time.sleep(OUTAGE_SECONDS)
        assert serving.poll() is None, log.read_text()
        proxy.restore()
        # Both writers' posts appear: the edit is applied, the interrupted poll done again.
        wait_until(lambda: healthz(port)[1].get("entries") == 5 + 4 + 6, "the added writers' entries")
        wait_until(lambda: healthz(port)[0] == 200, "the site to be healthy again")
        assert serving.poll() is None
    finally:
        stop(serving)
    assert entry_counts(direct) == (15, 15)
    assert_no_feed_blamed(direct)
    assert_outage_logged_once(log.read_text(), "scheduler: the database")
