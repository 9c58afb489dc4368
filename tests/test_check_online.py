"""`aggregator check --online` reads each feed once and says what it found; nothing is stored."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_config
from tests.feedserver import FeedServer
from tests.helpers import feeds_yaml


def test_each_feed_is_read_once_and_a_broken_one_exits_1(run_aggregator, feed_server: FeedServer, tmp_path: Path):
    write_config(tmp_path, feeds_yaml({
        "maren": [feed_server.url("therapist-rss20.xml")],
        "gone": [feed_server.url("no-such-feed.xml")],
    }))  # fmt: skip
    result = run_aggregator("check", "--online", check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    at = lines.index(f"maren  {feed_server.url('therapist-rss20.xml')}")
    assert lines[at + 1].startswith("  ok: rss20, ") and " entries, newest 20" in lines[at + 1]
    at = lines.index(f"gone  {feed_server.url('no-such-feed.xml')}")
    assert lines[at + 1].startswith("  error: the server answered 404")
    assert not (tmp_path / "instance").exists()  # read, not stored

    only = run_aggregator("check", "--online", "maren")
    assert "gone" not in only.stdout and "  ok: rss20" in only.stdout


def test_naming_a_feed_that_is_not_listed_is_an_error(run_aggregator, feed_server: FeedServer, tmp_path: Path):
    write_config(tmp_path, feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")]}))
    result = run_aggregator("check", "--online", "nobody", check=False)
    assert result.returncode == 1 and "no feed or writer nobody" in result.stderr
    assert run_aggregator("check", "maren", check=False).returncode == 2  # names need --online
