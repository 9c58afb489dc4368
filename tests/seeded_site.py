"""A small reading room for the tests of hostile requests: three writers,
their posts and topics, stored from feed files beside feeds.yaml."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from aggregator.db import make_engine, session_factory
from aggregator.models import Author, Entry, Tag
from aggregator.web import create_app
from tests.conftest import FIXTURES
from tests.helpers import feeds_yaml, poll_all, write_and_sync

FEED_FILES = {
    "maren": ["feeds/therapist-rss20.xml tags=psychotherapy"],
    "samuel": ["feeds/counsellor-atom10.xml", "feeds/hostile-rss20.xml"],
    "noted": ["feeds/noted-rss20.xml"],
}


@dataclass(frozen=True)
class SeededSite:
    app: Flask
    folder: Path  # holds feeds.yaml and the feed files
    author_slugs: tuple[str, ...]
    tag_slugs: tuple[str, ...]
    entry_ids: tuple[int, ...]


@contextmanager
def seeded_site(database_url: str, folder: Path) -> Iterator[SeededSite]:
    """Store the writers of FEED_FILES in the (empty, migrated) database and
    yield the site over it, as production builds it (not in testing mode)."""
    shutil.copytree(FIXTURES / "feeds", folder / "feeds")
    writer = make_engine(database_url, writer=True)
    sessions = session_factory(writer)
    write_and_sync(sessions, folder, feeds_yaml(FEED_FILES, aliases={"ptsd": "trauma"}))
    outcomes = poll_all(sessions)
    assert all(outcome.result == "ok" for outcome in outcomes), outcomes
    with sessions() as session:
        authors = tuple(session.scalars(select(Author.slug).order_by(Author.slug)))
        tags = tuple(session.scalars(select(Tag.slug).order_by(Tag.slug)))
        entries = tuple(session.scalars(select(Entry.id).order_by(Entry.id)))
    writer.dispose()
    engine = make_engine(database_url)
    try:
        yield SeededSite(create_app(engine=engine), folder, authors, tags, entries)
    finally:
        engine.dispose()
