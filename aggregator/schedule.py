"""When to poll a feed next: pure decisions, tested with plain data.

Scheduling state lives on the feed row (next check, error count); these
functions only compute it. The in-process scheduler (`embedded`) and
`aggregator schedule` (`workers`) ask the store which feeds are due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Errors back off exponentially from the feed's interval up to this bound,
# so a feed that is down for a week is still tried every day.
MAX_BACKOFF = timedelta(hours=24)


def next_check_after_success(now: datetime, interval_seconds: int) -> datetime:
    return now + timedelta(seconds=interval_seconds)


def next_check_after_failure(now: datetime, interval_seconds: int, error_count: int) -> datetime:
    """`error_count` counts this failure too (1 for the first)."""
    interval = timedelta(seconds=interval_seconds)
    if interval >= MAX_BACKOFF:
        return now + interval
    factor = 2 ** max(0, min(error_count - 1, 16))
    return now + min(interval * factor, MAX_BACKOFF)


def is_due(next_check_at: datetime | None, now: datetime) -> bool:
    return next_check_at is None or next_check_at <= now

