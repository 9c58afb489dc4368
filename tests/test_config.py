"""feeds.yaml: every problem reported at its line, valid files summarised.

Each broken file in fixtures/config sits beside NAME.expected.txt, the
problems it must give, one `LINE: message` a line (`<folder>` stands for
the fixture folder).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aggregator.config import ConfigError, load_config, parse_interval

CONFIGS = Path(__file__).parent / "fixtures" / "config"
BROKEN = sorted(p for p in CONFIGS.glob("*.yaml") if p.name != "valid.yaml")


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_file_reports_each_problem_at_its_line(path: Path):
    expected_text = (CONFIGS / f"{path.stem}.expected.txt").read_text(encoding="utf-8")
    expected = expected_text.replace("<folder>", str(CONFIGS.resolve())).splitlines()
    assert expected, f"{path.name} states no expected problems"
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    problems = raised.value.problems
    assert [f"{p.line}: {p.message}" for p in problems] == expected
    assert all(str(p) == f"{path}:{p.line}: {p.message}" for p in problems)


def test_valid_file_loads_with_its_values():
    config = load_config(CONFIGS / "valid.yaml")
    assert config.site.title == "Test Writers"
    assert config.site.base_url == "http://127.0.0.1:5000"
    assert config.schedule.interval == 5400
    assert (config.schedule.min_interval, config.schedule.max_interval, config.schedule.max_per_host) == (900, 21600, 2)
    assert config.aliases == {"ptsd": "trauma", "developmental-trauma": "trauma"}
    jane, demo = config.authors
    assert (jane.slug, jane.name, jane.homepage) == ("jane-doe", "Jane Doe, LMFT", "https://jane.example/")
    assert [f.source for f in jane.feeds] == [
        "https://jane.example/feed/",
        "https://jane.example/api/v2/pages/?type=blog.BlogPage",
    ]
    assert jane.feeds[0].tags == ("trauma", "attachment")
    assert (jane.feeds[1].type, jane.feeds[1].interval) == ("wagtail", 7200)
    assert demo.feeds[0].source == "path:demo/feed.xml"
    assert demo.feeds[0].location == (CONFIGS / "demo" / "feed.xml").resolve().as_uri()
    assert config.summary().endswith("OK: 2 authors, 3 feeds (1 from files), 2 tag aliases")


def test_missing_file_is_reported():
    with pytest.raises(ConfigError) as raised:
        load_config(CONFIGS / "nope.yaml")
    assert raised.value.problems[0].message == "no such file"


def test_path_through_a_symlink_out_of_the_folder_is_refused(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "feed.xml").write_text("<rss/>")
    inside = tmp_path / "site"
    inside.mkdir()
    (inside / "link").symlink_to(outside, target_is_directory=True)
    (inside / "feeds.yaml").write_text("authors:\n  - slug: a\n    name: A\n    feeds:\n      - path: link/feed.xml\n")
    with pytest.raises(ConfigError, match="leaves the folder"):
        load_config(inside / "feeds.yaml")


def test_the_shipped_feeds_file_is_valid():
    config = load_config(Path(__file__).parent.parent / "feeds.yaml")
    assert len(config.authors) >= 1
    assert all(feed.location.startswith("file:") for _, feed in config.feeds)


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), (" 90 s ", 90), ("7d", 604800)])
def test_parse_interval(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "2 weeks", "30x", "-5m", "8d", "59s"])
def test_parse_interval_refuses(text):
    with pytest.raises(ValueError):
        parse_interval(text)


def test_check_command_prints_problems_and_exits_1(run_aggregator, tmp_path: Path):
    shutil.copy(CONFIGS / "unknown-keys.yaml", tmp_path / "feeds.yaml")
    result = run_aggregator("check", check=False)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "feeds.yaml:2: unknown key 'titel' in site; did you mean 'title'?"
    assert lines[-1] == "feeds.yaml: 4 problems; nothing was changed."
    assert result.stdout == ""


def test_check_command_summarises_a_valid_file(run_aggregator, tmp_path: Path):
    shutil.copytree(CONFIGS / "demo", tmp_path / "conf" / "demo")
    shutil.copy(CONFIGS / "valid.yaml", tmp_path / "conf" / "feeds.yaml")
    result = run_aggregator("check", "--config", "conf/feeds.yaml")
    assert result.stdout.strip() == "conf/feeds.yaml: OK: 2 authors, 3 feeds (1 from files), 2 tag aliases"


def test_check_reads_the_config_path_from_the_environment(run_aggregator, tmp_path: Path):
    shutil.copy(CONFIGS / "empty.yaml", tmp_path / "elsewhere.yaml")
    run_aggregator.env["AGGREGATOR_CONFIG"] = "elsewhere.yaml"
    result = run_aggregator("check", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("elsewhere.yaml:1: the file is empty")


def test_writers_avatars_and_links(tmp_path: Path):
    (tmp_path / "feeds.yaml").write_text(
        "authors:\n"
        "  - slug: jane\n    name: Jane\n    avatar: https://jane.example/me.jpg\n"
        "    links:\n      Mastodon: https://mastodon.example/@jane\n      Book a session: https://jane.example/book\n"
        "    feeds:\n      - url: https://jane.example/feed\n"
        "  - slug: joan\n    name: Joan\n    avatar: me.jpg\n    links:\n      Instagram: instagram.com/joan\n"
        "    feeds:\n      - url: https://joan.example/feed\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "feeds.yaml")
    assert [f"{p.line}: {p.message}" for p in raised.value.problems] == [
        "12: the author's avatar must be an http:// or https:// address, not 'me.jpg'",
        "14: the link 'Instagram' must be an http:// or https:// address, not 'instagram.com/joan'",
    ]
    text = (tmp_path / "feeds.yaml").read_text().replace("avatar: me.jpg\n", "avatar: https://joan.example/me.jpg\n").replace("instagram.com/joan", "https://instagram.example/joan")
    (tmp_path / "feeds.yaml").write_text(text)
    jane, joan = load_config(tmp_path / "feeds.yaml").authors
    assert jane.avatar == "https://jane.example/me.jpg"
    assert jane.links == (("Mastodon", "https://mastodon.example/@jane"), ("Book a session", "https://jane.example/book"))
    assert joan.links == (("Instagram", "https://instagram.example/joan"),)
