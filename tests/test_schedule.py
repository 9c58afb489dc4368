"""When a feed is polled next: pure decisions."""

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.schedule import MAX_BACKOFF, adaptive_interval, is_due, next_check_after_failure, next_check_after_success

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_success_waits_one_interval():
    assert next_check_after_success(NOW, 1800) == NOW + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("errors", "wait"),
    [(1, timedelta(minutes=30)), (2, timedelta(hours=1)), (3, timedelta(hours=2)), (6, timedelta(hours=16)), (7, MAX_BACKOFF), (60, MAX_BACKOFF)],
)
def test_failures_back_off_exponentially_up_to_a_bound(errors, wait):
    assert next_check_after_failure(NOW, 1800, errors) == NOW + wait


def test_a_long_interval_is_not_shortened_by_backoff():
    assert next_check_after_failure(NOW, 3 * 86400, 1) == NOW + timedelta(days=3)


def test_due_when_never_checked_or_time_has_come():
    assert is_due(None, NOW)
    assert is_due(NOW, NOW)
    assert is_due(NOW - timedelta(seconds=1), NOW)
    assert not is_due(NOW + timedelta(seconds=1), NOW)


@pytest.mark.parametrize(
    ("recent", "expected"),
    [(0, 6 * 3600), (1, 6 * 3600), (28, 6 * 3600), (112, 6 * 3600), (200, 12096), (2688, 900), (10_000, 900)],
)
def test_adaptive_interval_follows_publishing_frequency(recent, expected):
    assert adaptive_interval(fixed=False, configured=1800, recent_entries=recent, min_interval=900, max_interval=21600) == expected


def test_a_fixed_interval_is_kept():
    assert adaptive_interval(fixed=True, configured=3 * 86400, recent_entries=500, min_interval=900, max_interval=21600) == 3 * 86400


@pytest.mark.parametrize(("hint", "expected"), [(None, 900), (600, 900), (3600, 3600), (10 * 86400, 21600)])
def test_publisher_hints_lengthen_but_never_past_the_maximum(hint, expected):
    assert adaptive_interval(fixed=False, configured=1800, recent_entries=5000, min_interval=900, max_interval=21600, publisher_hint=hint) == expected


def test_retry_after_wins_over_a_shorter_backoff():
    later = NOW + timedelta(hours=5)
    assert next_check_after_failure(NOW, 1800, 1, retry_after=later) == later
    assert next_check_after_failure(NOW, 1800, 1, retry_after=NOW + timedelta(minutes=1)) == NOW + timedelta(minutes=30)
