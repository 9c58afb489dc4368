"""/metrics: counters written by any process, read from the database at each scrape."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from aggregator import telemetry
from aggregator.db import make_engine, session_factory, transaction
from aggregator.models import Feed
from aggregator.web import create_app, health
from tests.helpers import feed_id, feeds_yaml, free_port, poll_all, write_and_sync


@pytest.fixture
def web_app(database_url: str) -> Iterator[Flask]:
    engine = make_engine(database_url)
    yield create_app(engine=engine, TESTING=True)
    engine.dispose()


def scrape(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: {(name, sorted labels): value}."""
    response = app.test_client().get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))



def test_polls_recorded_elsewhere_show_in_metrics(web_app, sessions):
    with transaction(sessions) as session:
        telemetry.record_poll(session, result="ok", duration_seconds=0.2, new=3, updated=1)
        telemetry.record_poll(session, result="ok", duration_seconds=4.0, new=2)
        telemetry.record_poll(session, result="failed", duration_seconds=61.0)
        telemetry.record_poll(session, result="not-modified", duration_seconds=500.0)
    samples = scrape(web_app)
    assert value(samples, "aggregator_polls_total", result="ok") == 2
    assert value(samples, "aggregator_polls_total", result="failed") == 1
    assert value(samples, "aggregator_polls_total", result="deferred") == 0  # every result is always there
    assert value(samples, "aggregator_entries_stored_total", kind="new") == 5
    assert value(samples, "aggregator_entries_stored_total", kind="updated") == 1
    duration = "aggregator_poll_duration_seconds"
    assert value(samples, duration + "_bucket", result="ok", le="0.1") == 0
    assert value(samples, duration + "_bucket", result="ok", le="0.25") == 1
    assert value(samples, duration + "_bucket", result="ok", le="5.0") == 2
    assert value(samples, duration + "_bucket", result="failed", le="60.0") == 0
    assert value(samples, duration + "_bucket", result="failed", le="120.0") == 1
    # Longer than the largest bound: only in +Inf, the count and the sum.
    assert value(samples, duration + "_bucket", result="not-modified", le="120.0") == 0
    assert value(samples, duration + "_bucket", result="not-modified", le="+Inf") == 1
    assert value(samples, duration + "_count", result="ok") == 2
    assert value(samples, duration + "_sum", result="ok") == pytest.approx(4.2)


def test_an_unknown_poll_result_is_refused(sessions):
    with transaction(sessions) as session, pytest.raises(ValueError, match="not-modified"):
        telemetry.record_poll(session, result="notmodified", duration_seconds=1.0)


def test_polls_counted_at_once_from_many_workers_all_count(web_app, database_url):
    """Concurrent first polls race to create the counter row; every one is counted."""
    engine = make_engine(database_url, writer=True)
    sessions = session_factory(engine)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            for _ in range(10):
                with transaction(sessions) as session:
                    telemetry.record_poll(session, result="deferred", duration_seconds=0.01)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    engine.dispose()
    assert errors == []
    samples = scrape(web_app)
    assert value(samples, "aggregator_polls_total", result="deferred") == 40
    assert value(samples, "aggregator_poll_duration_seconds_bucket", result="deferred", le="0.1") == 40


def test_two_web_processes_on_one_database_report_the_same(database_url, sessions):
    first_engine, second_engine = make_engine(database_url), make_engine(database_url)
    first = create_app(engine=first_engine, TESTING=True)
    second = create_app(engine=second_engine, TESTING=True)
    try:
        with transaction(sessions) as session:
            telemetry.record_poll(session, result="ok", duration_seconds=1.0, new=4)
        scrape(first)  # a process that has scraped before keeps nothing from it
        with transaction(sessions) as session:
            telemetry.record_poll(session, result="ok", duration_seconds=1.0, new=1)
            telemetry.record_poll(session, result="skipped", duration_seconds=0.0)
        first_samples, second_samples = scrape(first), scrape(second)
        assert first_samples == second_samples
        assert value(first_samples, "aggregator_polls_total", result="ok") == 2
        assert value(first_samples, "aggregator_entries_stored_total", kind="new") == 5
    finally:
        first_engine.dispose()
        second_engine.dispose()


def test_feeds_by_state_and_entries(web_app, sessions, tmp_path, feed_server):
    sources = [feed_server.url(name) for name in ("therapist-rss20.xml", "counsellor-atom10.xml", "rss091.xml",
                                                  "rss092.xml", "jsonfeed10.json", "missing.xml")]  # fmt: skip
    write_and_sync(sessions, tmp_path, feeds_yaml({"maren": sources}))
    outcomes = poll_all(sessions)
    changes = [
        (feed_id(sessions, sources[1]), {"moved_to": "https://elsewhere.example/feed"}),
        (feed_id(sessions, sources[2]), {"gone_at": datetime.now(UTC), "error_count": 1}),  # gone wins over failing
        (feed_id(sessions, sources[3]), {"retired_at": datetime.now(UTC)}),
    ]
    with transaction(sessions) as session:
        for changed_id, values in changes:
            session.execute(update(Feed).where(Feed.id == changed_id).values(**values))
    samples = scrape(web_app)
    states = {state: value(samples, "aggregator_feeds", state=state) for state in telemetry.FEED_STATES}
    assert states == {"ok": 2, "failing": 1, "moved": 1, "gone": 1, "retired": 1}  # missing.xml fails
    healthz = web_app.test_client().get("/healthz").get_json()
    assert value(samples, "aggregator_entries") == healthz["entries"] > 0
    # The poll path counts its own polls.
    assert value(samples, "aggregator_polls_total", result="ok") == sum(o.result == "ok" for o in outcomes) == 5
    assert value(samples, "aggregator_polls_total", result="failed") == 1
    assert value(samples, "aggregator_entries_stored_total", kind="new") == sum(o.new for o in outcomes)


def test_metrics_are_never_cached_nor_set_cookies(web_app):
    response = web_app.test_client(use_cookies=False).get("/metrics", headers={"Cookie": "size=large"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers and "ETag" not in response.headers


def test_no_queue_metrics_without_redis(web_app, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    names = {name for name, _ in scrape(web_app)}
    assert "aggregator_queue_depth" not in names and "aggregator_redis_up" not in names


@pytest.mark.redis
def test_queue_depth_is_read_from_redis(web_app, redis_url):
    from redis import Redis
    from rq import Queue

    from workers.queue import QUEUE_NAME

    connection = Redis.from_url(redis_url)
    try:
        queue = Queue(QUEUE_NAME, connection=connection)
        assert queue.key == health.QUEUE_KEY
        for number in range(3):
            queue.enqueue("workers.jobs.poll_feed", number)
        web_app.config["REDIS_URL"] = redis_url
        samples = scrape(web_app)
        assert value(samples, "aggregator_queue_depth") == 3
        assert value(samples, "aggregator_redis_up") == 1
    finally:
        connection.close()


@pytest.mark.parametrize("server", ["closed", "silent"])
def test_an_unreachable_redis_is_reported_and_metrics_still_answer(web_app, server):
    """Nothing listening, or a server that accepts and never answers: the scrape still answers soon."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = free_port() if server == "closed" else silent.getsockname()[1]
        web_app.config["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        started = time.monotonic()
        samples = scrape(web_app)
        assert time.monotonic() - started < 3 * health.REDIS_TIMEOUT_SECONDS
    assert value(samples, "aggregator_redis_up") == 0
    assert value(samples, "aggregator_queue_depth") is None
    assert value(samples, "aggregator_polls_total", result="ok") == 0


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/no/such/dir/db.sqlite3", "postgresql+psycopg://postgres@127.0.0.1:{port}/test"])
def test_metrics_without_a_database_is_a_readable_503(tmp_path, url):
    engine = make_engine(url.format(tmp=tmp_path, port=free_port()))
    try:
        response = create_app(engine=engine).test_client().get("/metrics")
    finally:
        engine.dispose()
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "database is not answering" in body and "Traceback" not in body
    assert response.headers["Cache-Control"] == "no-store"
