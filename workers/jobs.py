"""The RQ job: poll one feed with `aggregator.poll`, like every other caller."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rq import get_current_job

from aggregator import store
from aggregator.config import DEFAULT_MAX_PER_HOST
from aggregator.db import make_engine, session_factory
from aggregator.poll import Poller
from workers.limits import RedisHostLimiter


def poll_feed(feed_id: int) -> dict[str, Any]:
    """Poll one feed; a bad feed is recorded and returned, anything else raises.

    RQ's default worker runs each job in a forked child, so the engine is
    made here, in the process that uses it, and closed before it exits. The
    per-host limit is shared with every other worker through Redis.
    """
    engine = make_engine(writer=True)
    try:
        sessions = session_factory(engine)
        with sessions() as session:
            schedule = store.load_setting(session, store.SCHEDULE_KEY, {}) or {}
        limiter = RedisHostLimiter(get_current_job().connection, schedule.get("max_per_host", DEFAULT_MAX_PER_HOST))
        with Poller(sessions, limiter=limiter) as poller:
            return asdict(poller.poll(feed_id))
    finally:
        engine.dispose()
