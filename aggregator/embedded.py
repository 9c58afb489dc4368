"""The embedded default: poll on schedule inside the web process, no Redis.

`aggregator serve` runs this when REDIS_URL is unset. Each round re-reads
feeds.yaml if it changed, then polls what is due with the same poll
function that the RQ workers run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from aggregator import store
from aggregator.poll import PollOutcome, poll_feeds, utcnow
from aggregator.sync import ConfigSyncer

log = logging.getLogger("aggregator.embedded")


class InProcessScheduler:
    """Polls due feeds from a background thread."""

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
        self.syncer = ConfigSyncer(config_path, sessions, self.clock) if config_path else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aggregator-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> list[PollOutcome]:
        if self.syncer is not None:
            self.syncer.sync_if_changed()
        with self.sessions() as session:
            due = store.due_feed_ids(session, self.clock())
        return poll_feeds(self.sessions, due) if due else []

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the database may be down for a while; try again later
                log.exception("scheduler round failed; trying again in %s s", self.tick_seconds)
            self._stop.wait(self.tick_seconds)
