"""Enqueue due polls into RQ and run RQ workers.

One job per feed at a time: a job's id is derived from its feed and
enqueued with `unique=True`, so however many schedulers run, a feed that is
queued or being polled is not queued again. A finished job is deleted at
once (result_ttl=0); a failed one stays in RQ's failed registry until the
feed is due again, when it makes way for a new attempt.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy.orm import Session, sessionmaker

from aggregator import store
from aggregator.db import transaction
from aggregator.sync import ConfigSyncer

log = logging.getLogger("workers.queue")

QUEUE_NAME = "feeds"
JOB_FUNCTION = "workers.jobs.poll_feed"
# A poll is bounded by fetch timeouts (60 s total) plus parsing and storing;
# a job still running after this is stuck and is stopped.
JOB_TIMEOUT = 300
FAILURE_TTL = 7 * 24 * 3600
FINISHED_STATES = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


class RedisUnavailable(Exception):
    """REDIS_URL is unset or the server does not answer."""


def connect(url: str | None = None) -> Redis:
    url = url or os.environ.get("REDIS_URL")
    if not url:
        raise RedisUnavailable("REDIS_URL is not set; without it, `aggregator serve` polls in-process")
    connection = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    try:
        connection.ping()
    except Exception as exc:
        raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}") from exc
    return connection


def job_id(feed_id: int) -> str:
    return f"poll-feed-{feed_id}"


@dataclass
class EnqueueReport:
    enqueued: list[int] = field(default_factory=list)
    already_queued: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return f"enqueued {len(self.enqueued)} due feed(s); {len(self.already_queued)} already queued or running"


def enqueue_poll(queue: Queue, feed_id: int, on_failed_job: Callable[[int, str], None] | None = None) -> bool:
    """Queue a poll of one feed unless one is queued or running; return whether queued.

    A previous job of the feed that failed (or was abandoned by a killed
    worker) makes way; `on_failed_job(feed_id, reason)` hears why it failed.
    """
    for _ in range(2):
        try:
            queue.enqueue(
                JOB_FUNCTION,
                feed_id,
                job_id=job_id(feed_id),
                unique=True,
                job_timeout=JOB_TIMEOUT,
                result_ttl=0,
                failure_ttl=FAILURE_TTL,
                description=f"poll feed {feed_id}",
            )
            return True
        except DuplicateJobError:
            try:
                existing = Job.fetch(job_id(feed_id), connection=queue.connection)
            except NoSuchJobError:
                continue  # it finished between the two calls
            status = existing.get_status(refresh=True)
            if status not in FINISHED_STATES:
                return False
            if status != JobStatus.FINISHED and on_failed_job is not None:
                on_failed_job(feed_id, _failure_reason(existing))
            # The feed is due again; its last job's failure is now recorded
            # on the feed, so the job makes way.
            existing.delete()
    return False


def enqueue_due(sessions: sessionmaker[Session], queue: Queue, now: datetime) -> EnqueueReport:
    # Jobs of workers that died mid-poll (SIGKILL, a lost machine) stay
    # "started" until their heartbeat expires; RQ then moves them to the
    # failed registry, and their feeds may be queued again.
    StartedJobRegistry(queue=queue).cleanup()
    report = EnqueueReport()
    with sessions() as session:
        due = store.due_feed_ids(session, now)

    def record(feed_id: int, reason: str) -> None:
        with transaction(sessions) as session:
            store.record_job_failure(session, feed_id, message=f"the last poll job failed in its worker: {reason}", now=now)

    for feed_id in due:
        (report.enqueued if enqueue_poll(queue, feed_id, record) else report.already_queued).append(feed_id)
    return report


def _failure_reason(job: Job) -> str:
    result = job.latest_result()
    text = (result.exc_string if result is not None and result.exc_string else "") or job.get_status(refresh=False)
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown"


def run_scheduler(
    sessions: sessionmaker[Session],
    connection: Redis,
    config_path: Path | None,
    clock: Callable[[], datetime],
    *,
    once: bool = False,
    tick_seconds: float = 30.0,
) -> EnqueueReport:
    """Sync feeds.yaml when it changes and enqueue due polls, every tick."""
    queue = Queue(QUEUE_NAME, connection=connection)
    syncer = ConfigSyncer(config_path, sessions, clock) if config_path else None
    while True:
        if syncer is not None:
            syncer.sync_if_changed()
        report = enqueue_due(sessions, queue, clock())
        log.info("schedule: %s", report.summary())
        if once:
            return report
        time.sleep(tick_seconds)


def run_worker(connection: Redis, burst: bool = False) -> bool:
    """Run an RQ worker on the feeds queue; return whether it worked any job."""
    worker = Worker(
        [Queue(QUEUE_NAME, connection=connection)],
        connection=connection,
        # How often the worker tells Redis its job is alive; a job whose
        # worker went silent for this plus a minute counts as abandoned.
        job_monitoring_interval=int(os.environ.get("AGGREGATOR_JOB_HEARTBEAT", "30")),
    )
    return worker.work(burst=burst, with_scheduler=False)
