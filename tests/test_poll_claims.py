"""One poll of a feed at a time: the feed's claim in the database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from aggregator import store
from aggregator.db import transaction
from aggregator.models import Feed
from aggregator.poll import Poller
from tests.helpers import feed_id, feeds_yaml, get_feed, write_and_sync

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def claimed_feed(sessions, tmp_path, feed_server, holder: str, until: datetime) -> int:
    url = feed_server.url("therapist-rss20.xml")
    write_and_sync(sessions, tmp_path, feeds_yaml({"maren": [url]}))
    identifier = feed_id(sessions, url)
    with transaction(sessions) as session:
        session.execute(update(Feed).where(Feed.id == identifier).values(polled_by=holder, polling_until=until))
    return identifier


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_live_pollers_claim_is_respected(sessions, tmp_path, feed_server):
    holder = f"{socket.gethostname()}:{os.getpid()}:another-poll"
    identifier = claimed_feed(sessions, tmp_path, feed_server, holder, datetime.now(UTC) + timedelta(minutes=2))
    with Poller(sessions) as poller:
        outcome = poller.poll(identifier)
    assert outcome.result == "skipped" and holder in outcome.error
    assert feed_server.hits("therapist-rss20.xml") == []
    assert get_feed(sessions, feed_server.url("therapist-rss20.xml")).polled_by == holder


def test_a_claim_from_another_machine_holds_until_it_expires(sessions, tmp_path, feed_server):
    holder = "another-machine.example:4242:nonce"
    identifier = claimed_feed(sessions, tmp_path, feed_server, holder, NOW + timedelta(minutes=2))
    with transaction(sessions) as session:
        assert store.claim_feed(session, identifier, holder="me:1:x", now=NOW, until=NOW + timedelta(minutes=2)) == holder
    with transaction(sessions) as session:
        later = NOW + timedelta(minutes=3)
        assert store.claim_feed(session, identifier, holder="me:1:x", now=later, until=later + timedelta(minutes=2)) is None
    assert get_feed(sessions, feed_server.url("therapist-rss20.xml")).polled_by == "me:1:x"


def test_the_claim_of_a_killed_worker_on_this_machine_is_taken_over_at_once(sessions, tmp_path, feed_server):
    holder = f"{socket.gethostname()}:{dead_pid()}:killed-mid-poll"
    identifier = claimed_feed(sessions, tmp_path, feed_server, holder, datetime.now(UTC) + timedelta(minutes=2))
    with Poller(sessions) as poller:
        outcome = poller.poll(identifier)
    assert outcome.result == "ok" and outcome.new == 5
    feed = get_feed(sessions, feed_server.url("therapist-rss20.xml"))
    assert feed.polled_by is None and feed.polling_until is None


def test_a_failed_poll_releases_its_claim(sessions, tmp_path, feed_server):
    feed_server.script("therapist-rss20.xml", status=500)
    identifier = claimed_feed(sessions, tmp_path, feed_server, None, None)
    with Poller(sessions) as poller:
        assert poller.poll(identifier).result == "failed"
    feed = get_feed(sessions, feed_server.url("therapist-rss20.xml"))
    assert feed.polled_by is None and feed.error_count == 1


def test_holder_names_are_read_safely():
    assert not store.poller_is_dead("no-pid-here")
    assert not store.poller_is_dead(f"{socket.gethostname()}:not-a-number:x")
    assert not store.poller_is_dead(f"{socket.gethostname()}:{os.getpid()}:x")
    assert store.poller_is_dead(f"{socket.gethostname()}:{dead_pid()}:x")
    assert not store.poller_is_dead(f"elsewhere.example:{dead_pid()}:x")
