"""Small builders shared by the tests: a feeds.yaml and a synced database."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from aggregator.config import Config, load_config
from aggregator.db import alembic_config, transaction
from aggregator.models import Entry, Feed
from aggregator.poll import PollOutcome, poll_feeds
from aggregator.store import active_feed_ids
from aggregator.sync import SyncReport, sync_config


def feeds_yaml(authors: dict[str, list[str]], *, aliases: dict[str, str] | None = None, extra: str = "") -> str:
    """A feeds.yaml with one author per key, each with the given feed URLs.

    A feed given as "URL tags=a,b" gets those tags; "URL interval=1h" that interval.
    """
    lines = ["site:", "  title: Test Reading Room", "  base_url: http://127.0.0.1:5000", "defaults:", "  interval: 30m"]
    if aliases:
        lines += ["tags:", "  aliases:"] + [f"    {alias!r}: {target!r}" for alias, target in aliases.items()]
    lines.append("authors:")
    for slug, urls in authors.items():
        lines += [f"  - slug: {slug}", f"    name: {slug.replace('-', ' ').title()}", f"    bio: {slug} writes here.",
                  f"    homepage: https://{slug}.example/", "    feeds:"]  # fmt: skip
        for url in urls:
            location, _, interval = url.partition(" interval=")
            location, _, tags = location.partition(" tags=")
            key = "path" if not location.startswith("http") else "url"
            lines.append(f"      - {key}: {location}")
            if tags:
                lines.append(f"        tags: [{tags}]")
            if interval:
                lines.append(f"        interval: {interval}")
    return "\n".join(lines) + "\n" + extra


def write_and_sync(sessions: sessionmaker[Session], directory: Path, text: str) -> tuple[Config, SyncReport]:
    path = directory / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    with transaction(sessions) as session:
        report = sync_config(session, config, datetime.now(UTC))
    return config, report


def poll_all(sessions: sessionmaker[Session]) -> list[PollOutcome]:
    """Poll every listed feed once, as `aggregator poll --all` does."""
    with sessions() as session:
        feed_ids = active_feed_ids(session)
    return poll_feeds(sessions, feed_ids)


def feed_id(sessions: sessionmaker[Session], source: str) -> int:
    with sessions() as session:
        return session.scalar(select(Feed.id).where(Feed.source == source))


def count_entries(sessions: sessionmaker[Session], source: str | None = None) -> int:
    with sessions() as session:
        statement = select(func.count(Entry.id))
        if source is not None:
            statement = statement.join(Feed, Feed.id == Entry.feed_id).where(Feed.source == source)
        return session.scalar(statement)


def get_feed(sessions: sessionmaker[Session], source: str) -> Feed:
    with sessions() as session:
        return session.scalar(select(Feed).where(Feed.source == source))


def entries_by_title(sessions: sessionmaker[Session]) -> dict[str, Entry]:
    with sessions() as session:
        return {entry.title: entry for entry in session.scalars(select(Entry))}


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound for a moment, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def migrate_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Take the schema to an older migration (or, from nothing, up to one), as an old install has it."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)
