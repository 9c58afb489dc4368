"""Waiting out a database or Redis that went away: backoff and outage logging.

Long-running processes (serve's scheduler, `aggregator schedule`,
`aggregator worker`) never exit because a service they need is away. They
wait with capped exponential backoff and log the outage twice: when it
begins and when it ends, not at every retry.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from pathlib import Path


class Backoff:
    """Capped exponential delays with a little jitter, so many workers don't retry in step."""

    def __init__(self, first: float = 1.0, cap: float = 30.0, factor: float = 2.0):
        self.first = first
        self.cap = cap
        self.factor = factor
        self._next = first

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * self.factor)
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self._next = self.first


class Outage:
    """Logs that `service` went away once, and once that it is back."""

    def __init__(self, logger: logging.Logger, service: str):
        self.logger = logger
        self.service = service
        self.since: float | None = None

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def begin(self, exc: BaseException, retrying: str = "retrying with backoff") -> None:
        if self.since is not None:
            self.logger.debug("%s still unavailable: %s", self.service, exc)
            return
        self.since = time.monotonic()
        self.logger.error("%s is unavailable (%s); %s", self.service, describe(exc), retrying)

    def end(self) -> None:
        if self.since is None:
            return
        self.logger.warning("%s is back after %.0f s; carrying on", self.service, time.monotonic() - self.since)
        self.since = None


def describe(exc: BaseException) -> str:
    """The first line of an exception, with its type: enough for a log line."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {detail[0][:200]}" if detail else type(exc).__name__


def local_process_has_ended(host: str | None, pid: int | None) -> bool:
    """Whether `pid` on `host` is a process of this machine that no longer runs.

    A worker killed mid-poll leaves records naming it; on the machine it ran
    on they can be known stale at once instead of when they expire. A
    process on another machine is never judged from here.
    """
    if not host or not pid or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process nobody reaped yet still answers kill(pid, 0); it has ended all the same."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc here: trust kill()
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
