"""When a feed is polled next: pure decisions."""

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.schedule import MAX_BACKOFF, is_due, next_check_after_failure, next_check_after_success

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
