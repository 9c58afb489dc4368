"""A publisher's caching headers, read with werkzeug.http, decide when we come back.

Table tests of the two pure functions (`fresh_for`, `retry_after`), then the
same headers sent by the fixture server: the poll's next check follows them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from aggregator.fetch import MAX_RETRY_AFTER, fresh_for, retry_after
from aggregator.poll import Poller
from tests.helpers import feed_id, feeds_yaml, get_feed, write_and_sync

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAY_BEHIND = NOW - timedelta(days=1)  # a server whose clock is a day slow


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"Cache-Control": "public, max-age=5400"}, 5400),
        ({"Cache-Control": 'max-age="600"'}, 600),
        ({"Cache-Control": "Public, MAX-AGE=900"}, 900),  # directive names are case-insensitive
        ({"Cache-Control": "max-age=600, s-maxage=7200"}, 7200),  # a shared cache reads s-maxage first
        ({"Cache-Control": "s-maxage=60, max-age=7200"}, 60),
        ({"Cache-Control": "no-store, max-age=5400"}, None),
        ({"Cache-Control": "no-cache, max-age=5400"}, None),
        ({"Cache-Control": "no-cache, s-maxage=5400"}, None),
        ({"Cache-Control": 'no-cache="Set-Cookie", max-age=5400'}, 5400),  # only that header must be revalidated
        ({"Cache-Control": "max-age=soon"}, 0),  # invalid freshness is stale
        ({"Cache-Control": "max-age"}, 0),
        ({"Cache-Control": "max-age=-30"}, 0),
        ({"Cache-Control": "max-age=0"}, 0),
        ({"Cache-Control": "private"}, None),  # says who may cache, not for how long
        ({"Cache-Control": "max-age=600", "Expires": http_date(NOW + timedelta(days=2))}, 600),  # max-age wins
        ({"Cache-Control": "max-age=3600", "Age": "1000"}, 2600),  # time already spent in a cache in front
        ({"Cache-Control": "max-age=3600", "Age": "9000"}, 0),
        ({"Cache-Control": "max-age=3600", "Age": "soon"}, 3600),
        ({"Expires": http_date(NOW + timedelta(hours=2))}, 7200),  # no Date: against our clock
        ({"Expires": http_date(NOW + timedelta(hours=2)), "Date": http_date(NOW)}, 7200),
        # Against the server's own Date, not our clock: a slow server still means two hours.
        ({"Expires": http_date(DAY_BEHIND + timedelta(hours=2)), "Date": http_date(DAY_BEHIND)}, 7200),
        ({"Expires": http_date(NOW - timedelta(hours=1)), "Date": http_date(NOW)}, 0),
        ({"Expires": http_date(NOW + timedelta(hours=2)), "Date": "yesterday"}, 7200),  # a bad Date: our clock
        ({"Expires": "0"}, 0),  # an invalid Expires means already expired
        ({"Expires": "-1", "Date": http_date(NOW)}, 0),
        ({"Expires": ""}, 0),
        ({"Expires": "Sunday, 06-Nov-94 08:49:37 GMT", "Date": http_date(NOW)}, 0),  # the obsolete RFC 850 form
        ({"Expires": http_date(NOW + timedelta(hours=1)), "Age": "600", "Date": http_date(NOW)}, 3000),
    ],
)
def test_fresh_for(headers, seconds):
    assert fresh_for(httpx.Headers(headers), now=NOW) == seconds


@pytest.mark.parametrize(
    ("headers", "moment"),
    [
        ({}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "120"}, NOW + timedelta(seconds=120)),
        ({"Retry-After": " 120 "}, NOW + timedelta(seconds=120)),
        ({"Retry-After": "0"}, NOW),
        ({"Retry-After": "-5"}, None),  # not delta-seconds, not a date
        ({"Retry-After": b"\xb2"}, None),  # "²" as Latin-1 is a digit to Python, not to HTTP
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": str(30 * 86400)}, NOW + MAX_RETRY_AFTER),  # bounded
        ({"Retry-After": http_date(NOW + timedelta(hours=3))}, NOW + timedelta(hours=3)),
        ({"Retry-After": http_date(NOW + timedelta(days=30))}, NOW + MAX_RETRY_AFTER),
        ({"Retry-After": http_date(NOW - timedelta(hours=3))}, NOW),  # a past date: now
        # An HTTP date is the server's clock: measured from its Date.
        ({"Retry-After": http_date(DAY_BEHIND + timedelta(hours=3)), "Date": http_date(DAY_BEHIND)}, NOW + timedelta(hours=3)),
        ({"Retry-After": "Mon, 02 Mar 2026 15:00:00 GMT", "Date": "not a date"}, NOW + timedelta(hours=3)),
    ],
)
def test_retry_after(headers, moment):
    assert retry_after(httpx.Headers(headers), now=NOW) == moment


# -- the same headers over real HTTP ----------------------------------------------

FEED = "counsellor-atom10.xml"
INTERVAL = timedelta(minutes=30)


def around(moment: datetime, expected: datetime, slack: timedelta = timedelta(seconds=30)) -> bool:
    return abs(moment - expected) <= slack


def poll_scripted(sessions, tmp_path, feed_server, name: str, **script) -> tuple:
    """A 30-minute feed served at `name` as scripted, polled once: (outcome, stored feed)."""
    feed_server.script(name, **{"body": (feed_server.root / FEED).read_bytes(), **script})
    write_and_sync(sessions, tmp_path, feeds_yaml({"samuel": [feed_server.url(name) + " interval=30m"]}))
    with Poller(sessions) as poller:
        outcome = poller.poll(feed_id(sessions, feed_server.url(name)))
    return outcome, get_feed(sessions, feed_server.url(name))


def slow_server_clock(monkeypatch, feed_server, behind: timedelta) -> datetime:
    """Set the fixture server's clock (its Date header) `behind` ours; return its now."""
    monkeypatch.setattr(
        feed_server.httpd.RequestHandlerClass,
        "date_time_string",
        lambda handler, timestamp=None: http_date(datetime.now(UTC) - behind),
    )
    return datetime.now(UTC) - behind


@pytest.mark.parametrize(
    ("cache_control", "wait"),
    [
        ("public, max-age=5400", timedelta(minutes=90)),
        ("public, max-age=600, s-maxage=7200", timedelta(hours=2)),
        ("no-store, max-age=7200", INTERVAL),
        ("no-cache, max-age=7200", INTERVAL),
        ("max-age=soon", INTERVAL),
        ("max-age=86400", timedelta(hours=6)),  # never beyond the maximum interval
    ],
)
def test_the_next_check_follows_cache_control(cache_control, wait, sessions, tmp_path, feed_server):
    outcome, stored = poll_scripted(sessions, tmp_path, feed_server, "cached.xml", headers={"Cache-Control": cache_control})
    assert outcome.result == "ok"
    assert around(stored.next_check_at, datetime.now(UTC) + wait)


def test_a_304_carries_the_hint_too(sessions, tmp_path, feed_server):
    poll_scripted(sessions, tmp_path, feed_server, "cached.xml")
    feed_server.script("cached.xml", status=304, headers={"Cache-Control": "max-age=7200"})
    with Poller(sessions) as poller:
        outcome = poller.poll(feed_id(sessions, feed_server.url("cached.xml")), force=True)
    assert (outcome.result, outcome.http_status) == ("not-modified", 304)
    assert around(get_feed(sessions, feed_server.url("cached.xml")).next_check_at, datetime.now(UTC) + timedelta(hours=2))


def test_expires_is_measured_against_the_servers_date(monkeypatch, sessions, tmp_path, feed_server):
    # By our clock this Expires is a day gone; by the server's it is two hours ahead.
    server_now = slow_server_clock(monkeypatch, feed_server, timedelta(days=1))
    expires = http_date(server_now + timedelta(hours=2))
    outcome, stored = poll_scripted(sessions, tmp_path, feed_server, "expires.xml", headers={"Expires": expires})
    assert outcome.result == "ok"
    assert around(stored.next_check_at, datetime.now(UTC) + timedelta(hours=2))


@pytest.mark.parametrize("expires", ["0", "-1", "yesterday"])
def test_an_invalid_expires_gives_no_longer_interval(expires, sessions, tmp_path, feed_server):
    outcome, stored = poll_scripted(sessions, tmp_path, feed_server, "expires.xml", headers={"Expires": expires})
    assert outcome.result == "ok"
    assert around(stored.next_check_at, datetime.now(UTC) + INTERVAL)


def test_retry_after_as_a_date_of_a_slow_server(monkeypatch, sessions, tmp_path, feed_server):
    server_now = slow_server_clock(monkeypatch, feed_server, timedelta(days=1))
    headers = {"Retry-After": http_date(server_now + timedelta(hours=3))}
    outcome, stored = poll_scripted(sessions, tmp_path, feed_server, "busy.xml", status=503, headers=headers)
    assert (outcome.result, outcome.http_status) == ("failed", 503)
    assert around(stored.retry_after, datetime.now(UTC) + timedelta(hours=3), timedelta(seconds=60))
    assert stored.next_check_at >= stored.retry_after


def test_retry_after_is_bounded(sessions, tmp_path, feed_server):
    headers = {"Retry-After": str(90 * 86400)}
    outcome, stored = poll_scripted(sessions, tmp_path, feed_server, "busy.xml", status=429, headers=headers)
    assert (outcome.result, outcome.http_status) == ("failed", 429)
    assert around(stored.retry_after, datetime.now(UTC) + MAX_RETRY_AFTER, timedelta(seconds=60))
