"""Enqueue due polls into RQ and run RQ workers, through Redis outages.

One job per feed at a time: a job's id is derived from its feed and
enqueued with `unique=True`, so however many schedulers run, a feed that is
queued or being polled is not queued again. A finished job is deleted at
once (result_ttl=0); a failed one stays in RQ's failed registry until the
feed is due again, when it makes way for a new attempt. The database's
claim on a feed (`store.claim_feed`) keeps two polls of it apart even when
Redis forgot its jobs.

The scheduler loop and the worker never exit because Redis or the
database went away: they log the outage once, wait with backoff, and carry
on where they were.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy.orm import Session, sessionmaker

from aggregator import store, telemetry
from aggregator.db import transaction
from aggregator.poll import is_infrastructure_failure
from aggregator.resilience import Backoff, Outage, describe, local_process_has_ended
from aggregator.sync import ConfigSyncer

log = logging.getLogger("workers.queue")

QUEUE_NAME = "feeds"
JOB_FUNCTION = "workers.jobs.poll_feed"
# A poll is bounded by fetch timeouts (60 s total) plus parsing and storing;
# a job still running after this is stuck and is stopped.
JOB_TIMEOUT = 300
FAILURE_TTL = 7 * 24 * 3600
FINISHED_STATES = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)
# How a job's failure reads when its worker died or lost Redis mid-poll:
# the feed is not to blame, and it is simply queued again.
ABANDONED = "AbandonedJobError"


class RedisUnavailable(Exception):
    """REDIS_URL is unset or the server does not answer."""


def connect(url: str | None = None, *, check: bool = True) -> Redis:
    """A Redis client for REDIS_URL; with `check`, fail now if the server does not answer."""
    url = url or os.environ.get("REDIS_URL")
    if not url:
        raise RedisUnavailable("REDIS_URL is not set; without it, `aggregator serve` polls in-process")
    connection = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)
    if check:
        try:
            connection.ping()
        except RedisError as exc:
            raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}") from exc
    return connection


def job_id(feed_id: int) -> str:
    return f"poll-feed-{feed_id}"


@dataclass
class EnqueueReport:
    enqueued: list[int] = field(default_factory=list)
    already_queued: list[int] = field(default_factory=list)
    queue_depth: int | None = None

    def summary(self) -> str:
        return f"enqueued {len(self.enqueued)} due feed(s); {len(self.already_queued)} already queued or running"


def enqueue_poll(queue: Queue, feed_id: int, on_failed_job: Callable[[int, str], None] | None = None) -> bool:
    """Queue a poll of one feed unless one is queued or running; return whether queued.

    A previous job of the feed that failed (or was abandoned by a killed
    worker) makes way; `on_failed_job(feed_id, reason)` hears why it failed.
    A job whose records a killed worker left half-written is removed.
    """
    for _ in range(3):
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
            if not _make_way(queue, feed_id, on_failed_job):
                return False
    return False


def _make_way(queue: Queue, feed_id: int, on_failed_job: Callable[[int, str], None] | None) -> bool:
    """Remove the feed's previous job if it has ended; return whether it made way."""
    try:
        existing = Job.fetch(job_id(feed_id), connection=queue.connection)
        status = existing.get_status(refresh=True)
    except NoSuchJobError:
        return True  # it finished between the two calls
    except REDIS_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - a job hash a killed worker left unreadable
        log.warning("feed_id=%s its job's records are damaged (%s); removing them", feed_id, describe(exc))
        purge_job(queue, job_id(feed_id))
        return True
    if status not in FINISHED_STATES:
        if status == JobStatus.STARTED and _worker_has_ended(queue.connection, existing.worker_name):
            # Its worker was killed on this machine: clear the job now rather
            # than when its heartbeat expires, a minute on.
            log.warning("feed_id=%s its job's worker is gone; queued again", feed_id)
            purge_job(queue, job_id(feed_id))
            return True
        return False
    if status != JobStatus.FINISHED and on_failed_job is not None:
        on_failed_job(feed_id, _failure_reason(existing))
    # The feed is due again; its last job's failure is now recorded on the
    # feed, so the job makes way.
    try:
        existing.delete()
    except REDIS_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. an execution record that expired with its worker
        log.info("feed_id=%s removing its old job by hand (%s)", feed_id, describe(exc))
        purge_job(queue, job_id(feed_id))
    return True


def _worker_has_ended(connection: Redis, worker_name: str | None) -> bool:
    if not worker_name:
        return False
    host, pid = connection.hmget(Worker.redis_worker_namespace_prefix + worker_name, "hostname", "pid")
    try:
        return local_process_has_ended(host.decode() if host else None, int(pid) if pid else None)
    except ValueError:
        return False


def purge_job(queue: Queue, identifier: str) -> None:
    """Remove every record of a job by key, without reading it (its records may be half gone)."""
    connection = queue.connection
    job = Job(identifier, connection=connection)
    registries = [StartedJobRegistry(queue=queue), FailedJobRegistry(queue=queue)]
    with connection.pipeline() as pipeline:
        pipeline.lrem(queue.key, 0, identifier)
        for registry in registries:
            pipeline.zrem(registry.key, identifier)
        pipeline.delete(job.key, job.execution_registry.key, f"rq:results:{identifier}")
        pipeline.execute()
    # The started registry holds "job:execution" members.
    started = StartedJobRegistry(queue=queue)
    members = [m for m in connection.zrange(started.key, 0, -1) if m.decode().split(":", 1)[0] == identifier]
    if members:
        connection.zrem(started.key, *members)


def enqueue_due(sessions: sessionmaker[Session], queue: Queue, now: datetime) -> EnqueueReport:
    _clean_up_abandoned(queue)
    report = EnqueueReport()
    with sessions() as session:
        due = store.due_feed_ids(session, now)

    def record(feed_id: int, reason: str) -> None:
        if ABANDONED in reason or _infrastructure_reason(reason):
            log.warning("feed_id=%s its last poll job was interrupted (%s); queued again", feed_id, reason)
            return
        with transaction(sessions) as session:
            store.record_job_failure(session, feed_id, message=f"the last poll job failed in its worker: {reason}", now=now)

    for feed_id in due:
        (report.enqueued if enqueue_poll(queue, feed_id, record) else report.already_queued).append(feed_id)
    report.queue_depth = queue.count
    return report


def _clean_up_abandoned(queue: Queue) -> None:
    # Jobs of workers that died mid-poll (SIGKILL, a lost machine) stay
    # "started" until their heartbeat expires; RQ then moves them to the
    # failed registry, and their feeds may be queued again.
    try:
        StartedJobRegistry(queue=queue).cleanup()
    except REDIS_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - stale records are dealt with job by job in enqueue_poll
        log.warning("the started-jobs registry could not be cleaned up (%s); going on", describe(exc))


def _infrastructure_reason(reason: str) -> bool:
    return any(name in reason for name in ("OperationalError", "InterfaceError", "ConnectionError", "InfrastructureUnavailable"))


def _failure_reason(job: Job) -> str:
    try:
        result = job.latest_result()
    except REDIS_ERRORS:
        raise
    except Exception:  # noqa: BLE001 - a result record left half-written
        result = None
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
    stop: threading.Event | None = None,
) -> EnqueueReport:
    """Sync feeds.yaml when it changes and enqueue due polls, every tick.

    With `once`, one round, whose errors are raised. Otherwise rounds go on
    until `stop` is set: a round that fails is logged, and when Redis or
    the database is away the loop waits with backoff instead of the tick.
    """
    queue = Queue(QUEUE_NAME, connection=connection)
    syncer = ConfigSyncer(config_path, sessions, clock) if config_path else None
    stop = stop or threading.Event()
    outage = Outage(log, "schedule: Redis or the database")
    backoff = Backoff(cap=max(1.0, min(tick_seconds, 60.0)))
    started = False
    report = EnqueueReport()
    while not stop.is_set():
        try:
            if not started:
                with transaction(sessions) as session:
                    telemetry.scheduler_started(session, scheduler="rq", now=clock(), interval_seconds=tick_seconds)
                started = True
            if syncer is not None:
                syncer.sync_if_changed()
            report = enqueue_due(sessions, queue, clock())
            with transaction(sessions) as session:
                telemetry.round_completed(
                    session, scheduler="rq", now=clock(), interval_seconds=tick_seconds, queue_depth=report.queue_depth
                )
        except Exception as exc:
            if once:
                raise
            if isinstance(exc, REDIS_ERRORS) or is_infrastructure_failure(exc):
                outage.begin(exc)
                stop.wait(backoff.next_delay())
            else:
                log.exception("schedule: the round failed; the next one runs in %s s", tick_seconds)
                stop.wait(tick_seconds)
            continue
        outage.end()
        backoff.reset()
        if report.enqueued:
            log.info("schedule: %s", report.summary())
        if once:
            break
        stop.wait(tick_seconds)
    return report


class FeedWorker(Worker):
    """RQ's worker, telling `run_worker` when it was asked to stop."""

    stop_requested: threading.Event

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested.set()
        super().request_stop(signum, frame)


def run_worker(connection: Redis, burst: bool = False, *, stop: threading.Event | None = None) -> bool:
    """Run an RQ worker on the feeds queue until stopped; return whether it worked any job.

    RQ's own loop quits when Redis fails outside its wait for jobs (say,
    while it watches a job). Here a worker that quit for any reason but a
    stop request is replaced once Redis answers again; the job it was
    watching is stopped, since nobody could record its end, and the
    scheduler queues its feed again. In burst mode it ends when the queue
    is empty.
    """
    stop = stop or threading.Event()
    outage = Outage(log, "worker: Redis")
    complaints = _RedisComplaints(outage)
    rq_log = logging.getLogger("rq.worker")
    rq_log.addFilter(complaints)
    backoff = Backoff()
    worked = False
    interrupted: list[tuple[str, str]] = []  # (job id, worker name) of jobs stopped mid-poll
    try:
        while not stop.is_set():
            try:
                connection.ping()
                interrupted = _forget_interrupted(connection, interrupted)
            except REDIS_ERRORS as exc:
                outage.begin(exc)
                _wait_or_stop(stop, backoff.next_delay())
                continue
            outage.end()
            backoff.reset()
            worker = _new_worker(connection, stop)
            try:
                level = logging.getLevelName(log.getEffectiveLevel())
                worked = worker.work(burst=burst, with_scheduler=False, logging_level=level) or worked
            except REDIS_ERRORS as exc:
                outage.begin(exc)
            finally:
                interrupted += _stop_orphaned_horse(worker)
            if stop.is_set():
                break
            if burst and _queue_is_empty(connection, outage):
                break
    finally:
        rq_log.removeFilter(complaints)
    return worked


def _queue_is_empty(connection: Redis, outage: Outage) -> bool:
    try:
        return Queue(QUEUE_NAME, connection=connection).count == 0
    except REDIS_ERRORS as exc:
        outage.begin(exc)
        return False


class _RedisComplaints(logging.Filter):
    """Turns RQ's own log lines about a lost Redis (one per retry) into one outage line."""

    def __init__(self, outage: Outage):
        super().__init__()
        self.outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        problem = record.exc_info[1] if record.exc_info else None
        if problem is None and isinstance(record.args, tuple):
            problem = next((arg for arg in record.args if isinstance(arg, REDIS_ERRORS)), None)
        if problem is None and "Redis connection timeout" in str(record.msg):
            problem = RedisTimeoutError("Redis connection timeout")
        if isinstance(problem, REDIS_ERRORS):
            self.outage.begin(problem)
            return False
        if "Job OK" in record.getMessage():
            self.outage.end()  # RQ reconnected by itself and finished a job
        return True


def _new_worker(connection: Redis, stop: threading.Event) -> FeedWorker:
    worker = FeedWorker(
        [Queue(QUEUE_NAME, connection=connection)],
        connection=connection,
        # How often the worker tells Redis its job is alive; a job whose
        # worker went silent for this plus a minute counts as abandoned.
        job_monitoring_interval=int(os.environ.get("AGGREGATOR_JOB_HEARTBEAT", "30")),
    )
    # RQ retries a lost Redis while it waits for jobs; not longer apart than this.
    worker.max_connection_wait_time = 30.0
    worker.stop_requested = stop
    return worker


def _stop_orphaned_horse(worker: Worker) -> list[tuple[str, str]]:
    """Stop a job that RQ's loop left running when it quit on a Redis error; return it."""
    if not worker.horse_pid:
        return []
    log.warning("worker: stopping the poll job that was running (pid %s); its feed is queued again", worker.horse_pid)
    worker.kill_horse(signal.SIGKILL)
    worker.wait_for_horse()
    return [(execution.job_id, worker.name) for execution in worker.executions.values()]


def _forget_interrupted(connection: Redis, interrupted: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Remove the records of jobs stopped mid-poll, once Redis answers, so their feeds are queued again at once.

    Without this they would stay "started" until RQ calls them abandoned,
    a minute past their last heartbeat. A job of the same id that another
    worker took meanwhile (Redis came back empty) is left alone.
    """
    queue = Queue(QUEUE_NAME, connection=connection)
    for identifier, worker_name in interrupted:
        try:
            job = Job.fetch(identifier, connection=connection)
            stale = job.worker_name == worker_name and job.get_status(refresh=False) == JobStatus.STARTED
        except NoSuchJobError:
            continue
        except REDIS_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - half-written records of that very job
            stale = True
        if stale:
            purge_job(queue, identifier)
    return []


def _wait_or_stop(stop: threading.Event, seconds: float) -> None:
    """Sleep, but let SIGTERM and SIGINT end the wait (RQ's own handlers are not installed here)."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.wait(seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
