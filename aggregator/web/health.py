"""Probes for operators: /healthz (JSON) and /metrics (Prometheus text).

Both read the database (and, when the site polls through RQ, Redis) at
the moment they are asked, and keep nothing in memory: any number of web
processes give the same answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from aggregator import reading, telemetry
from aggregator.models import Feed
from aggregator.resilience import describe
from aggregator.settings import load_settings
from aggregator.web import db_session
from aggregator.web.dates import iso

log = logging.getLogger("aggregator.web")
blueprint = Blueprint("health", __name__)

# The Redis list behind RQ's queue "feeds" (workers.queue.QUEUE_NAME): RQ
# keys a queue as "rq:queue:<name>". Read here with redis-py, so that the
# web app does not import RQ.
QUEUE_KEY = "rq:queue:feeds"
# A probe must answer quickly even when Redis hangs.
REDIS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class QueueState:
    """The RQ queue's length now, or why it could not be read (for the log)."""

    depth: int | None
    error: str | None = None


def queue_state() -> QueueState | None:
    """Read the queue's length from Redis; None when the site does not use RQ."""
    url = current_app.config.get("REDIS_URL") or os.environ.get("REDIS_URL")
    if not url:
        return None
    try:
        connection = Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        )
        try:
            return QueueState(connection.llen(QUEUE_KEY))
        finally:
            connection.close()
    except (RedisError, ValueError) as exc:  # ValueError: a malformed REDIS_URL
        log.warning("redis unavailable for the queue depth: %s", describe(exc))
        return QueueState(None, str(exc))


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Say whether the database answers and polling rounds still happen.

    503 when the database is away or the scheduler has stalled. An
    unreachable Redis alone is a 200 ("degraded"): this process serves
    pages without it, so a probe must not take it out of service, and a
    Redis outage that stops polling shows as a stalled scheduler once
    three rounds are missed.
    """
    try:
        session = db_session()
        counts = reading.site_counts(session)
        last_check = session.scalar(select(func.max(Feed.last_checked_at)))
        liveness = telemetry.liveness(session, datetime.now(UTC))
        config = load_settings(session).config_state
    except SQLAlchemyError as exc:
        log.error("healthz: database unavailable: %s", describe(exc))
        return _no_store(jsonify(status="error", database="unavailable")), 503
    queue = queue_state()
    body = {
        "status": "ok",
        "database": "ok",
        "last_poll": iso(last_check) or None,
        **counts,
        "scheduler": liveness.scheduler,
        "last_round": iso(liveness.last_round_at) or None,
        "round_interval_seconds": liveness.interval_seconds,
        # Without REDIS_URL here, the depth the RQ scheduler saw at its last round.
        "queue_depth": queue.depth if queue else liveness.queue_depth,
        "redis": None if queue is None else ("unavailable" if queue.error else "ok"),
        # A refused edit of feeds.yaml: the site serves on the last good one (still a 200).
        "config": config.state,
    }
    if not liveness.healthy:
        body.update(status="stalled", reason=liveness.reason)
        return _no_store(jsonify(body)), 503
    if queue and queue.error:
        # The detail (host, port, error) is in the log, not on a public page.
        body.update(status="degraded", reason="Redis is not answering; the web log says why")
    return _no_store(jsonify(body)), 200


@blueprint.get("/metrics")
def metrics() -> Response:
    """The site's numbers in the Prometheus text format, read from the database now."""
    try:
        snapshot = telemetry.snapshot(db_session(), datetime.now(UTC))
    except SQLAlchemyError as exc:
        log.error("metrics: database unavailable: %s", describe(exc))
        text = "The database is not answering, so there are no metrics to report. Try again in a minute.\n"
        return _no_store(Response(text, status=503, mimetype="text/plain"))
    # A registry per request: nothing is kept between scrapes in this process.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiteCollector(snapshot, queue_state()))
    return _no_store(Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


class SiteCollector(Collector):
    """Metric families from one telemetry snapshot and the queue's state."""

    def __init__(self, snapshot: telemetry.Snapshot, queue: QueueState | None):
        self.snapshot = snapshot
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        yield from self._polls()
        yield from self._contents()
        yield from self._scheduling()

    def _polls(self) -> Iterator[Metric]:
        polls = CounterMetricFamily("aggregator_polls", "Feed polls, by result.", labels=["result"])
        durations = HistogramMetricFamily(
            "aggregator_poll_duration_seconds", "How long feed polls took, by result.", labels=["result"]
        )
        stored = CounterMetricFamily(
            "aggregator_entries_stored", "Entries written by polls: new ones, and changed ones rewritten.", labels=["kind"]
        )
        for stats in self.snapshot.polls:
            polls.add_metric([stats.result], stats.polls)
            buckets = [(floatToGoString(bound), count) for bound, count in stats.buckets] + [("+Inf", stats.polls)]
            durations.add_metric([stats.result], buckets, stats.duration_seconds)
        stored.add_metric(["new"], sum(stats.entries_new for stats in self.snapshot.polls))
        stored.add_metric(["updated"], sum(stats.entries_updated for stats in self.snapshot.polls))
        yield from (polls, durations, stored)

    def _contents(self) -> Iterator[Metric]:
        feeds = GaugeMetricFamily("aggregator_feeds", "Feeds, by state.", labels=["state"])
        for state, count in self.snapshot.feeds_by_state.items():
            feeds.add_metric([state], count)
        yield feeds
        yield GaugeMetricFamily("aggregator_entries", "Entries shown on the site.", value=self.snapshot.entries)

    def _scheduling(self) -> Iterator[Metric]:
        if self.queue is not None:
            yield GaugeMetricFamily(
                "aggregator_redis_up", "Whether Redis answered this scrape.", value=0 if self.queue.error else 1
            )
            if self.queue.depth is not None:
                yield GaugeMetricFamily("aggregator_queue_depth", "Poll jobs waiting in the RQ queue.", value=self.queue.depth)
        liveness = self.snapshot.liveness
        if liveness.scheduler is None:
            return
        label = [liveness.scheduler]
        for name, documentation, value in [
            ("aggregator_scheduler_healthy", "1 while scheduling rounds complete on time, as /healthz judges.",
             1 if liveness.healthy else 0),
            ("aggregator_round_interval_seconds", "How often the scheduler means to complete a round.",
             liveness.interval_seconds),
            ("aggregator_last_round_age_seconds", "Seconds since the scheduler last completed a round.",
             liveness.last_round_age_seconds),
        ]:  # fmt: skip
            if value is not None:
                gauge = GaugeMetricFamily(name, documentation, labels=["scheduler"])
                gauge.add_metric(label, value)
                yield gauge
        rounds = CounterMetricFamily("aggregator_scheduler_rounds", "Scheduling rounds completed.", labels=["scheduler"])
        rounds.add_metric(label, liveness.rounds)
        yield rounds
