"""Configuration from the environment: AGGREGATOR_BASE_URL, and where the default SQLite file lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import ConfigError, load_config
from aggregator.db import database_url, make_engine
from aggregator.web import create_app
from tests.conftest import AggregatorCommand
from tests.helpers import feeds_yaml

PUBLIC = "https://reading.example.org"


def _site(directory: Path, feeds: list[str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "feeds.yaml"
    path.write_text(feeds_yaml({"maren": feeds or ["https://maren.example/feed.xml"]}), encoding="utf-8")
    return path


def _assert_public_addresses(url: str, monkeypatch: pytest.MonkeyPatch, web_base_url: str | None) -> None:
    """The site on `url`, run with `web_base_url` as its own AGGREGATOR_BASE_URL, names PUBLIC in its feeds and OPML."""
    if web_base_url is None:
        monkeypatch.delenv("AGGREGATOR_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("AGGREGATOR_BASE_URL", web_base_url)
    engine = make_engine(url)
    try:
        client = create_app(engine=engine).test_client()
        atom = client.get("/feed.atom").get_data(as_text=True)
        opml = client.get("/opml.xml").get_data(as_text=True)
    finally:
        engine.dispose()
    assert f'href="{PUBLIC}/feed.atom"' in atom and "127.0.0.1:5000" not in atom
    assert f"<ownerId>{PUBLIC}</ownerId>" in opml


# -- AGGREGATOR_BASE_URL -------------------------------------------------------


def test_base_url_from_the_environment_wins_over_the_file(tmp_path, monkeypatch):
    path = _site(tmp_path)
    monkeypatch.setenv("AGGREGATOR_BASE_URL", PUBLIC + "/")
    assert load_config(path).site.base_url == PUBLIC
    monkeypatch.delenv("AGGREGATOR_BASE_URL")
    assert load_config(path).site.base_url == "http://127.0.0.1:5000"


def test_a_bad_base_url_in_the_environment_is_a_clear_error(tmp_path, monkeypatch, run_aggregator):
    path = _site(tmp_path)
    monkeypatch.setenv("AGGREGATOR_BASE_URL", "reading.example.org")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "AGGREGATOR_BASE_URL" in str(caught.value) and "http:// or https://" in str(caught.value)
    with pytest.raises(ValueError, match="AGGREGATOR_BASE_URL"):
        create_app("sqlite://")
    run_aggregator.env["AGGREGATOR_BASE_URL"] = "reading.example.org"
    result = run_aggregator("check", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "aggregator: AGGREGATOR_BASE_URL (which overrides site.base_url) must be an http:// or https:// address, "
        "not 'reading.example.org'"
    ]


def test_sync_stores_the_base_url_of_the_environment_for_feeds_opml_and_polls(
    tmp_path, monkeypatch, run_aggregator, sqlite_url, feed_server
):
    _site(tmp_path, [feed_server.url("therapist-rss20.xml")])
    run_aggregator.env.update(DATABASE_URL=sqlite_url, AGGREGATOR_BASE_URL=PUBLIC)
    run_aggregator("poll", "--all")
    # The web process has no AGGREGATOR_BASE_URL of its own: what sync stored is used.
    _assert_public_addresses(sqlite_url, monkeypatch, None)
    user_agent = feed_server.hits("therapist-rss20.xml")[0].headers["user-agent"]
    assert f"(+{PUBLIC})" in user_agent


def test_a_web_process_applies_its_own_base_url_without_a_sync(tmp_path, monkeypatch, run_aggregator, sqlite_url):
    _site(tmp_path)
    run_aggregator.env["DATABASE_URL"] = sqlite_url
    run_aggregator("sync")  # stores the file's http://127.0.0.1:5000
    _assert_public_addresses(sqlite_url, monkeypatch, PUBLIC)


# -- the default SQLite file ---------------------------------------------------


def test_the_default_database_lives_beside_the_feeds_file_whatever_the_directory(tmp_path, run_aggregator):
    site = tmp_path / "site"
    config = _site(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = AggregatorCommand(elsewhere, run_aggregator.env)
    database = site / "instance" / "aggregator.sqlite3"

    first = command("sync", "--config", "../site/feeds.yaml")
    created = [line for line in first.stderr.splitlines() if "created" in line]
    assert created == [f"aggregator: created the SQLite database {database} (DATABASE_URL chooses another)"]
    assert database.exists() and not (elsewhere / "instance").exists()

    # Found again from anywhere, through --config or AGGREGATOR_CONFIG, and not announced again.
    again = command("status", "--config", str(config))
    from_variable = AggregatorCommand(tmp_path, dict(run_aggregator.env, AGGREGATOR_CONFIG=str(config)))("sync")
    assert "created" not in again.stderr + from_variable.stderr
    assert "nothing to do" in from_variable.stdout
    assert not (tmp_path / "instance").exists()


def test_the_web_entry_point_finds_the_same_file(tmp_path, monkeypatch):
    config = _site(tmp_path / "site")
    expected = f"sqlite:///{config.parent / 'instance' / 'aggregator.sqlite3'}"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("AGGREGATOR_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    assert database_url() == expected
    monkeypatch.delenv("AGGREGATOR_CONFIG")
    monkeypatch.chdir(config.parent)
    assert database_url() == expected
    app = create_app()
    try:
        assert str(app.extensions["aggregator.engine"].url) == expected
    finally:
        app.extensions["aggregator.engine"].dispose()
    monkeypatch.setenv("DATABASE_URL", "sqlite:///elsewhere.sqlite3")
    assert database_url() == "sqlite:///elsewhere.sqlite3"  # DATABASE_URL still comes first
