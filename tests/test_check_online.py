"""`aggregator check --online` reads each feed once and prints a table of their states; nothing is stored.

The states are decided by one pure function (table-tested, with the clock
and the time a read took given); the command runs against the fixture
server, with feeds that are fine, moved, gone, no feed at all, quiet and
broken, as a CI job on the repository of feeds.yaml would meet them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.online import Reading, feed_state, summary, table
from tests.conftest import write_config
from tests.feedserver import FeedServer
from tests.helpers import feeds_yaml

NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "failure, moved, seconds, entries, newest, state",
    [
        (None, False, 0.2, 12, NOW - timedelta(days=3), "ok"),
        ("gone", True, 0.2, None, None, "gone"),
        ("not a feed", False, 0.2, None, None, "not a feed"),
        ("error", False, 30.0, None, None, "error"),
        (None, True, 12.0, 3, NOW - timedelta(days=400), "moved"),
        (None, False, 10.5, 3, NOW - timedelta(days=400), "slow"),
        (None, False, 10.0, 3, NOW - timedelta(days=3), "ok"),
        (None, False, 0.2, 3, NOW - timedelta(days=200), "no posts in 6 months"),
        (None, False, 0.2, 0, None, "no posts in 6 months"),
        (None, False, 0.2, 4, None, "ok"),  # undated posts: nothing says it is quiet
    ],
)
def test_the_state_of_a_read(failure, moved, seconds, entries, newest, state):
    assert feed_state(failure=failure, moved=moved, seconds=seconds, entries=entries, newest=newest, now=NOW) == state


def test_the_table_lines_up_and_the_summary_counts_what_is_broken():
    readings = [
        Reading("maren", "https://maren.example/feed/", "ok", 12, NOW, ("rss20, read in 0.1 s",)),
        Reading("samuel", "https://samuel.example/atom.xml", "gone", details=("error: the server answered 410 Gone",)),
        Reading("ines", "https://ines.example/rss", "no posts in 6 months", 140, NOW - timedelta(days=300)),
    ]
    assert table(readings) == [
        "feed                                     state                 entries  newest",
        "maren: https://maren.example/feed/       ok                         12  2026-11-30",
        "    rss20, read in 0.1 s",
        "samuel: https://samuel.example/atom.xml  gone                        -  -",
        "    error: the server answered 410 Gone",
        "ines: https://ines.example/rss           no posts in 6 months      140  2026-02-03",
    ]
    assert summary(readings) == "3 feeds: 1 gone, 1 no posts in 6 months, 1 ok; 1 broken (exit 1)."


def row(stdout: str, author: str) -> list[str]:
    """The cells of a writer's row: feed, state, entries, newest."""
    line = next(line for line in stdout.splitlines() if line.startswith(f"{author}: "))
    return re.split(r"\s{2,}", line.strip())


def test_each_feed_is_read_once_and_a_broken_one_exits_1(run_aggregator, feed_server: FeedServer, tmp_path: Path):
    feed_server.script("moved.xml", status=301, headers={"Location": feed_server.url("counsellor-atom10.xml")})
    feed_server.script("gone.xml", status=410, body=b"gone")
    feed_server.script("page.xml", body=b"<!DOCTYPE html><html><head><title>A blog</title></head><body></body></html>",
                       headers={"Content-Type": "text/html"})  # fmt: skip
    write_config(tmp_path, feeds_yaml({
        "maren": [feed_server.url("therapist-rss20.xml")],
        "moved": [feed_server.url("moved.xml")],
        "gone": [feed_server.url("gone.xml")],
        "page": [feed_server.url("page.xml")],
        "missing": [feed_server.url("no-such-feed.xml")],
        "old": [feed_server.url("rss091.xml")],
    }))  # fmt: skip
    result = run_aggregator("check", "--online", check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[1]) == ["feed", "state", "entries", "newest"]
    maren = row(result.stdout, "maren")
    # Fine while its newest post is recent; quiet once the fixture's dates are old.
    assert maren[1] in ("ok", "no posts in 6 months") and maren[2:] == ["5", "2026-11-26"]
    assert row(result.stdout, "moved")[1] == "moved"
    assert f"moved: it answers from {feed_server.url('counsellor-atom10.xml')}" in result.stdout
    assert row(result.stdout, "gone")[1:] == ["gone", "-", "-"]
    assert row(result.stdout, "page")[1] == "not a feed"
    assert row(result.stdout, "missing")[1] == "error"
    assert "    error: the server answered 404" in result.stdout
    assert lines[-1].startswith("6 feeds: ") and lines[-1].endswith("; 3 broken (exit 1).")
    # Each feed read once (the move followed once), and nothing stored.
    assert len(feed_server.hits("therapist-rss20.xml")) == 1 and len(feed_server.hits("moved.xml")) == 1
    assert not (tmp_path / "instance").exists()

    only = run_aggregator("check", "--online", "maren", "moved")
    assert "gone" not in only.stdout and only.stdout.splitlines()[-1].endswith("none broken.")


def test_naming_a_feed_that_is_not_listed_is_an_error(run_aggregator, feed_server: FeedServer, tmp_path: Path):
    write_config(tmp_path, feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")]}))
    result = run_aggregator("check", "--online", "nobody", check=False)
    assert result.returncode == 1 and "no feed or writer nobody" in result.stderr
    assert run_aggregator("check", "maren", check=False).returncode == 2  # names need --online
