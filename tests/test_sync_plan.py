"""A sync is a plan (pure: config and current state in, changes out) and its application.

`aggregator sync --dry-run` prints the plan and changes nothing; a refused
edit of feeds.yaml is shown where curators look while the last good one runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aggregator.config import parse_config
from aggregator.sync import Current, CurrentAuthor, CurrentFeed, author_values, feed_values, plan_sync
from tests.helpers import feeds_yaml, free_port


def config_of(text: str):
    return parse_config(text, Path("feeds.yaml"))


def current_of(text: str, *, shown: int = 0, **changes) -> Current:
    """The state a sync of `text` leaves, without a database."""
    config = config_of(text)
    feeds = {
        feed.source: CurrentFeed(feed_values(feed, author.slug, config.schedule.interval), False, None, shown)
        for author, feed in config.feeds
    }
    authors = {author.slug: CurrentAuthor(author_values(author), False) for author in config.authors}
    settings = {change.key: change.values["value"] for change in plan_sync(config, Current({}, {}, {})).changes if change.kind == "setting"}
    return Current(authors, feeds, settings)


JANE = "https://jane.example/feed/"
JOAN = "https://joan.example/rss"


def test_a_first_sync_plans_to_add_everything_and_a_second_plans_nothing():
    text = feeds_yaml({"jane-doe": [JANE], "joan": [JOAN]})
    plan = plan_sync(config_of(text), Current({}, {}, {}))
    assert [change.describe() for change in plan.changes if change.kind != "setting"] == [
        "add author jane-doe", f"add feed {JANE} (jane-doe)", "add author joan", f"add feed {JOAN} (joan)",
    ]  # fmt: skip
    assert plan_sync(config_of(text), current_of(text)).changes == []


def test_changes_are_named_and_retired_feeds_count_the_posts_that_leave():
    before = feeds_yaml({"jane-doe": [JANE], "joan": [JOAN]})
    after = feeds_yaml({"jane-doe": [JANE + " tags=grief"]}).replace("name: Jane Doe", "name: Jane Doe, LMFT")
    plan = plan_sync(config_of(after), current_of(before, shown=7))
    assert [change.describe() for change in plan.changes] == [
        "change author jane-doe (name)",
        f"change feed {JANE} (tags)",
        f"retire feed {JOAN}; 7 stored posts leave the pages",
        "retire author joan",
    ]
    assert plan.leaving == 7
    assert next(c for c in plan.changes if c.key == JANE).refetch  # new tags: read again in full


def test_a_feed_that_moved_is_renamed_not_retired_and_added():
    current = current_of(feeds_yaml({"jane-doe": [JANE]}))
    current.feeds[JANE] = CurrentFeed(current.feeds[JANE].values, False, "https://jane.example/blog/feed/", 3)
    plan = plan_sync(config_of(feeds_yaml({"jane-doe": ["https://jane.example/blog/feed/"]})), current)
    assert [change.describe() for change in plan.changes] == [
        f"change feed https://jane.example/blog/feed/ (now here, moved from {JANE}, location)"
    ]
    assert plan.report().changed == [
        f"feed {JANE} (now https://jane.example/blog/feed/, where it moved)",
        "feed https://jane.example/blog/feed/ (location)",
    ]


def test_new_aliases_read_every_feed_again_without_naming_a_change():
    text = feeds_yaml({"jane-doe": [JANE]})
    plan = plan_sync(config_of(feeds_yaml({"jane-doe": [JANE]}, aliases={"PTSD": "trauma"})), current_of(text))
    feed_change = next(c for c in plan.changes if c.kind == "feed")
    assert feed_change.refetch and feed_change.differences == ()
    assert plan.report().changed == [] and plan.report().settings_changed == ["tag aliases"]


def test_dry_run_prints_the_plan_and_changes_nothing(run_aggregator, tmp_path: Path):
    config = tmp_path / "feeds.yaml"
    config.write_text(feeds_yaml({"jane-doe": [JANE], "joan": [JOAN]}), encoding="utf-8")
    run_aggregator("sync")
    config.write_text(feeds_yaml({"jane-doe": [JANE + " tags=grief"]}), encoding="utf-8")
    dry = run_aggregator("sync", "--dry-run")
    assert f"would change feed {JANE} (tags)" in dry.stdout
    assert f"would retire feed {JOAN}" in dry.stdout and "would retire author joan" in dry.stdout
    assert dry.stdout.rstrip().endswith("Nothing was changed.")
    again = run_aggregator("sync", "--dry-run")
    assert again.stdout == dry.stdout  # nothing was applied
    applied = run_aggregator("sync")
    assert f"retired feed {JOAN}" in applied.stdout
    assert "a sync would do nothing" in run_aggregator("sync", "--dry-run").stdout


def test_a_running_site_refuses_a_bad_edit_says_so_everywhere_and_takes_the_fix(
    tmp_path: Path, feed_server, run_aggregator, sqlite_url
):
    config = tmp_path / "feeds.yaml"
    good = feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")]})
    config.write_text(good, encoding="utf-8")
    port = free_port()
    run_aggregator.env["DATABASE_URL"] = sqlite_url  # `aggregator status` reads what the site runs on
    env = dict(run_aggregator.env)
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "serve", "--port", str(port), "--every", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def health() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            assert response.status == 200
            return json.loads(response.read())

    def wait_for(state: str) -> dict:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = health()
                if body.get("config") == state:
                    return body
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, f"config never became {state}"
            time.sleep(0.3)

    try:
        wait_for("accepted")
        config.write_text(good.replace("    feeds:\n", "    feeds:\n      - tags: [oops]\n"), encoding="utf-8")
        body = wait_for("rejected")
        assert body["status"] == "ok" and body["entries"] == 5  # still serving the last good configuration
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
            page = response.read().decode()
        assert "The last edit of feeds.yaml was refused" in page
        assert "feeds.yaml:" in page and "a feed is missing &#39;url&#39;" in page
        status = run_aggregator("status", "--config", str(config), check=False)
        assert status.returncode == 1
        assert "The feeds file is refused; the site runs on the last good version, synced" in status.stdout
        assert f"{config}:" in status.stdout and "a feed is missing 'url'" in status.stdout
        config.write_text(good, encoding="utf-8")
        wait_for("accepted")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
            assert "was refused" not in response.read().decode()
        assert run_aggregator("status", "--config", str(config)).returncode == 0
    finally:
        process.terminate()
        process.communicate(timeout=15)


def test_dry_run_names_writers_wishes_and_topics_too(run_aggregator, tmp_path: Path):
    config = tmp_path / "feeds.yaml"
    text = feeds_yaml({"jane-doe": [JANE]})
    config.write_text(text, encoding="utf-8")
    run_aggregator("sync")
    edited = text.replace("    bio: jane-doe writes here.\n", "    bio: jane-doe writes here.\n    pronouns: she/her\n    display: excerpt\n")
    edited += "tags:\n  topics:\n    cbt: {label: CBT}\n  rules:\n    - {match: polyvagal, tag: cbt}\n"
    config.write_text(edited, encoding="utf-8")
    dry = run_aggregator("sync", "--dry-run")
    assert "would change author jane-doe (" in dry.stdout and "pronouns" in dry.stdout and "display" in dry.stdout
    assert "would update the topics" in dry.stdout and "would update the keyword rules" in dry.stdout
    assert "Nothing was changed." in dry.stdout
    assert run_aggregator("sync", "--dry-run").stdout == dry.stdout
