"""When to poll a feed next: pure decisions, tested with plain data.

Scheduling state lives on the feed row (next check, error count, Retry-After);
these functions only compute it. The in-process scheduler (`embedded`) and
`aggregator schedule` (`workers`) ask the store which feeds are due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Errors back off exponentially from the feed's interval up to this bound,
# so a feed that is down for a week is still tried every day.
MAX_BACKOFF = timedelta(hours=24)
# How far back publishing is counted for the adaptive interval.
FREQUENCY_WINDOW = timedelta(days=28)
# A host that is busy with other polls: try again soon, no error counted.
BUSY_RETRY = timedelta(minutes=1)


def adaptive_interval(
    *,
    fixed: bool,
    configured: int,
    recent_entries: int,
    min_interval: int,
    max_interval: int,
    publisher_hint: int | None = None,
) -> int:
    """Seconds until the next poll after a success.

    A feed with its own interval in feeds.yaml keeps it. The others adapt
    to how often they publish, as Miniflux's entry-frequency scheduler
    does: the window divided by the entries published in it, between
    `min_interval` and `max_interval` (a quiet feed gets the maximum).
    A publisher's hint (RSS ttl, Cache-Control max-age, Expires) may
    lengthen the interval, never beyond `max_interval`.
    """
    if fixed:
        interval = configured
    elif recent_entries <= 0:
        interval = max_interval
    else:
        interval = int(FREQUENCY_WINDOW.total_seconds() / recent_entries)
        interval = max(min_interval, min(interval, max_interval))
    if publisher_hint and publisher_hint > interval:
        interval = max(interval, min(publisher_hint, max_interval))
    return interval


def next_check_after_success(now: datetime, interval_seconds: int) -> datetime:
    return now + timedelta(seconds=interval_seconds)


def next_check_after_failure(
    now: datetime, interval_seconds: int, error_count: int, retry_after: datetime | None = None
) -> datetime:
    """`error_count` counts this failure too (1 for the first). A server's
    Retry-After is honoured when it asks for longer than the backoff."""
    interval = timedelta(seconds=interval_seconds)
    if interval >= MAX_BACKOFF:
        backoff = now + interval
    else:
        factor = 2 ** max(0, min(error_count - 1, 16))
        backoff = now + min(interval * factor, MAX_BACKOFF)
    return max(backoff, retry_after) if retry_after else backoff


def is_due(next_check_at: datetime | None, now: datetime) -> bool:
    return next_check_at is None or next_check_at <= now
