"""/healthz: the database, the scheduler's rounds and the RQ queue, judged at each probe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from aggregator import telemetry
from aggregator.db import make_engine, transaction
from aggregator.embedded import InProcessScheduler
from aggregator.fetch import FetchLimits
from aggregator.web import create_app, health
from tests.helpers import feeds_yaml, free_port, write_and_sync

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def probe(database_url: str) -> Iterator[Flask]:
    engine = make_engine(database_url)
    yield create_app(engine=engine, TESTING=True).test_client()
    engine.dispose()


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def test_a_site_without_a_scheduler_is_healthy_and_says_so(probe, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    response = probe.get("/healthz")
    assert response.status_code == 200
    data = response.get_json()
    assert (data["status"], data["database"], data["entries"]) == ("ok", "ok", 0)
    assert data["scheduler"] is None and data["last_round"] is None
    assert data["queue_depth"] is None and data["redis"] is None
    assert response.headers["Cache-Control"] == "no-store"


def test_a_stalled_scheduler_is_a_503_with_a_reason_until_a_round_completes(probe, sessions):
    with transaction(sessions) as session:
        telemetry.scheduler_started(session, scheduler="rq", now=ago(minutes=20), interval_seconds=60)
        telemetry.round_completed(session, scheduler="rq", now=ago(minutes=4), interval_seconds=60, queue_depth=2)
    response = probe.get("/healthz")
    assert response.status_code == 503
    data = response.get_json()
    assert data["status"] == "stalled" and data["scheduler"] == "rq" and data["database"] == "ok"
    assert "no polling round completed in 240 s" in data["reason"] and "`aggregator schedule`" in data["reason"]
    assert data["queue_depth"] == 2  # as the scheduler saw it, when this process has no REDIS_URL

    with transaction(sessions) as session:
        telemetry.round_completed(session, scheduler="rq", now=ago(seconds=1), interval_seconds=60, queue_depth=0)
    response = probe.get("/healthz")
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == "ok" and "reason" not in data
    assert data["last_round"].endswith("Z") and data["round_interval_seconds"] == 60


def test_a_scheduler_that_never_completes_a_round_stalls_three_intervals_after_its_start(probe, sessions):
    with transaction(sessions) as session:
        telemetry.scheduler_started(session, scheduler="embedded", now=ago(seconds=100), interval_seconds=30)
    response = probe.get("/healthz")
    assert response.status_code == 503
    reason = response.get_json()["reason"]
    assert "since the scheduler inside `aggregator serve` started" in reason and "every 30 s" in reason


@pytest.mark.parametrize(
    ("records", "healthy", "scheduler"),
    [
        pytest.param([], True, None, id="nothing recorded"),
        pytest.param([("start", "embedded", 60)], True, "embedded", id="started a minute ago"),
        pytest.param([("start", "embedded", 181)], False, "embedded", id="started, no round in three intervals"),
        pytest.param([("start", "rq", 3600), ("round", "rq", 179)], True, "rq", id="a round within three intervals"),
        pytest.param([("start", "rq", 3600), ("round", "rq", 181)], False, "rq", id="the last round too old"),
        pytest.param([("round", "rq", 3600), ("start", "rq", 10)], True, "rq", id="restarted after a long stop"),
        pytest.param([("round", "rq", 3600), ("start", "rq", 200)], False, "rq", id="restarted, then stalled"),
        pytest.param([("round", "embedded", 9000), ("round", "rq", 5)], True, "rq", id="moved from embedded to rq"),
    ],
)
def test_liveness(sessions, records, healthy, scheduler):
    """Each record: (what happened, which scheduler, seconds before NOW); interval 60 s."""
    with transaction(sessions) as session:
        for kind, name, seconds in records:
            record = telemetry.scheduler_started if kind == "start" else telemetry.round_completed
            record(session, scheduler=name, now=NOW - timedelta(seconds=seconds), interval_seconds=60)
    with sessions() as session:
        liveness = telemetry.liveness(session, NOW)
    assert (liveness.healthy, liveness.scheduler) == (healthy, scheduler)
    assert (liveness.reason is None) == healthy


def test_rounds_are_counted_and_a_start_keeps_the_last_round(sessions):
    with transaction(sessions) as session:
        for seconds in (300, 200, 100):
            telemetry.round_completed(session, scheduler="embedded", now=NOW - timedelta(seconds=seconds), interval_seconds=30)
        telemetry.scheduler_started(session, scheduler="embedded", now=NOW - timedelta(seconds=50), interval_seconds=45)
    with sessions() as session:
        liveness = telemetry.liveness(session, NOW)
    assert liveness.rounds == 3 and liveness.interval_seconds == 45
    assert liveness.last_round_at == NOW - timedelta(seconds=100) and liveness.last_round_age_seconds == 100
    assert liveness.started_at == NOW - timedelta(seconds=50)


def test_liveness_shows_in_metrics(probe, sessions):
    with transaction(sessions) as session:
        telemetry.round_completed(session, scheduler="rq", now=ago(seconds=30), interval_seconds=20)
    text = probe.get("/metrics").get_data(as_text=True)
    assert 'aggregator_scheduler_healthy{scheduler="rq"} 1.0' in text
    assert 'aggregator_round_interval_seconds{scheduler="rq"} 20.0' in text
    assert 'aggregator_scheduler_rounds_total{scheduler="rq"} 1.0' in text
    age = next(line for line in text.splitlines() if line.startswith("aggregator_last_round_age_seconds"))
    assert 30 <= float(age.split()[-1]) < 60


@pytest.mark.redis
def test_queue_depth_comes_from_redis(probe, redis_url):
    from redis import Redis

    connection = Redis.from_url(redis_url)
    try:
        connection.lpush(health.QUEUE_KEY, "job-1", "job-2")
        probe.application.config["REDIS_URL"] = redis_url
        data = probe.get("/healthz").get_json()
    finally:
        connection.close()
    assert (data["status"], data["redis"], data["queue_depth"]) == ("ok", "ok", 2)


def test_an_unreachable_redis_is_degraded_not_down(probe):
    """The pages do not need Redis; stalled polling shows through the scheduler's rounds."""
    probe.application.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    response = probe.get("/healthz")
    assert response.status_code == 200
    data = response.get_json()
    assert (data["status"], data["redis"], data["queue_depth"]) == ("degraded", "unavailable", None)
    assert data["reason"].startswith("Redis is not answering")


def test_a_lost_database_is_a_503_without_a_traceback():
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    try:
        response = create_app(engine=engine).test_client().get("/healthz")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unavailable"}
    assert response.headers["Cache-Control"] == "no-store"


def test_the_embedded_schedulers_rounds_reach_healthz_and_metrics(probe, sessions, tmp_path, feed_server):
    """End to end: a round of the scheduler inside `aggregator serve`, through the real poll path."""
    write_and_sync(sessions, tmp_path, feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")]}))
    InProcessScheduler(sessions, None, tick_seconds=30).run_once()
    response = probe.get("/healthz")
    assert response.status_code == 200
    data = response.get_json()
    # A round is a tick apart plus its own polling, which the fetch's time limit bounds.
    assert (data["scheduler"], data["round_interval_seconds"]) == ("embedded", 30 + FetchLimits().total_timeout)
    assert data["last_round"] and data["entries"] > 0
    text = probe.get("/metrics").get_data(as_text=True)
    assert 'aggregator_polls_total{result="ok"} 1.0' in text
    assert 'aggregator_scheduler_rounds_total{scheduler="embedded"} 1.0' in text
