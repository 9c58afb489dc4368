"""`aggregator serve`: the site and, without REDIS_URL, in-process polling."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from aggregator.db import transaction
from aggregator.embedded import InProcessScheduler
from aggregator.models import Feed
from tests.helpers import count_entries, feeds_yaml, free_port



def test_scheduler_round_syncs_the_file_and_polls_what_is_due(sessions, tmp_path, feed_server):
    config = tmp_path / "feeds.yaml"
    config.write_text(feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")]}), encoding="utf-8")
    scheduler = InProcessScheduler(sessions, config)
    assert [o.result for o in scheduler.run_once()] == ["ok"]
    assert scheduler.run_once() == []  # nothing due until its interval has passed
    config.write_text(
        feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")], "samuel": [feed_server.url("counsellor-atom10.xml")]}),
        encoding="utf-8",
    )
    assert [o.author_slug for o in scheduler.run_once()] == ["samuel"]
    with transaction(sessions) as session:
        session.execute(update(Feed).values(next_check_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert sorted(o.result for o in scheduler.run_once()) == ["not-modified", "not-modified"]
    assert count_entries(sessions) == 9


def test_scheduler_keeps_going_on_a_broken_file(sessions, tmp_path, feed_server, caplog):
    config = tmp_path / "feeds.yaml"
    config.write_text(feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")]}), encoding="utf-8")
    scheduler = InProcessScheduler(sessions, config)
    scheduler.run_once()
    config.write_text("authors: [oops", encoding="utf-8")
    assert scheduler.run_once() == []
    assert "has errors; keeping the last synced feeds" in caplog.text
    assert count_entries(sessions) == 5


def test_serve_polls_in_process_and_serves_the_site(tmp_path, feed_server, run_aggregator, sqlite_url):
    (tmp_path / "feeds.yaml").write_text(feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")]}), encoding="utf-8")
    port = free_port()
    env = dict(run_aggregator.env, DATABASE_URL=sqlite_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = response.read().decode()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert '"entries":5' in health
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            page = response.read().decode()
            assert response.headers["Content-Security-Policy"]
        assert "Giving Thanks: Peace, Food, Gratitude" in page
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert f"on http://127.0.0.1:{port}/ (polling in-process)" in output
