"""The RQ job: poll one feed with `aggregator.poll`, like every other caller."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from rq import get_current_job

from aggregator.db import make_engine, session_factory
from aggregator.fetch import FetchLimits
from aggregator.poll import Poller, PollOutcome, is_infrastructure_failure
from aggregator.settings import load_settings
from workers.limits import RedisHostLimiter, lease_seconds_for

log = logging.getLogger("workers.jobs")


def poll_feed(feed_id: int) -> dict[str, Any]:
    """Poll one feed; a bad feed is recorded and returned, a bug raises.

    RQ's default worker runs each job in a forked child, so the engine is
    made here, in the process that uses it, and closed before it exits. The
    per-host limit is shared with every other worker through Redis. When
    the database or Redis is away the job ends without blaming the feed,
    which stays due: the scheduler queues it again once they are back.
    """
    engine = make_engine(writer=True)
    try:
        sessions = session_factory(engine)
        limits = FetchLimits()
        try:
            with sessions() as session:
                per_host = load_settings(session).schedule.max_per_host
            limiter = RedisHostLimiter(
                get_current_job().connection,
                per_host,
                lease_seconds=lease_seconds_for(limits),
            )
            with Poller(sessions, limits=limits, limiter=limiter) as poller:
                return asdict(poller.poll(feed_id))
        except Exception as exc:
            if not is_infrastructure_failure(exc):
                raise
            log.warning("feed_id=%s not polled: %s", feed_id, exc)
            return asdict(PollOutcome(feed_id, f"feed #{feed_id}", "?", "unavailable", error=str(exc)[:300]))
    finally:
        engine.dispose()
