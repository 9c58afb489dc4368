"""The embedded default: poll on schedule inside the web process, no Redis.

`aggregator serve` runs this when REDIS_URL is unset. Each round re-reads
feeds.yaml if it changed, then polls what is due with the same poll
function that the RQ workers run, and records that it completed (for
/healthz and /metrics). The database going away never stops the thread: it
waits with backoff, and an edit of feeds.yaml made meanwhile is applied
when the database is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from aggregator import store, telemetry
from aggregator.db import transaction
from aggregator.fetch import FetchLimits
from aggregator.poll import PollOutcome, is_infrastructure_failure, poll_feeds, utcnow
from aggregator.resilience import Backoff, Outage
from aggregator.sync import ConfigSyncer

log = logging.getLogger("aggregator.embedded")


class InProcessScheduler:
    """Polls due feeds from a background thread, through database outages."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config_path: Path | None,
        *,
        tick_seconds: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ):
        self.sessions = sessions
        self.clock = clock or utcnow
        self.tick_seconds = tick_seconds
        # Rounds are a tick apart plus their own polling, which a slow feed
        # stretches up to the fetch's time limit: what /healthz allows for.
        self.round_seconds = tick_seconds + FetchLimits().total_timeout
        self.syncer = ConfigSyncer(config_path, sessions, self.clock) if config_path else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._outage = Outage(log, "scheduler: the database")
        self._backoff = Backoff(cap=max(1.0, min(tick_seconds, 60.0)))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aggregator-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> list[PollOutcome]:
        """One round: apply an edited feeds.yaml, poll what is due, record the round."""
        if not self._started:
            with transaction(self.sessions) as session:
                telemetry.scheduler_started(session, scheduler="embedded", now=self.clock(), interval_seconds=self.round_seconds)
            self._started = True
        if self.syncer is not None:
            self.syncer.sync_if_changed()
        with self.sessions() as session:
            due = store.due_feed_ids(session, self.clock())
        outcomes = poll_feeds(self.sessions, due) if due else []
        with transaction(self.sessions) as session:
            telemetry.round_completed(session, scheduler="embedded", now=self.clock(), interval_seconds=self.round_seconds)
        return outcomes

    def first_round(self) -> None:
        """Run one round now, before the site opens, as the thread would: an outage is logged, never raised."""
        self._round()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self._round())

    def _round(self) -> float:
        """Run a round; return how long to wait before the next one."""
        try:
            outcomes = self.run_once()
        except Exception as exc:
            if not is_infrastructure_failure(exc):
                log.exception("scheduler round failed; the next one runs in %s s", self.tick_seconds)
                return self.tick_seconds
            self._outage.begin(exc)
            return self._backoff.next_delay()
        if any(outcome.unavailable for outcome in outcomes):
            # The database went away during the round: its feeds stay due.
            return self._backoff.next_delay()
        self._outage.end()
        self._backoff.reset()
        return self.tick_seconds
