"""Apply feeds.yaml to the database: add, change and retire authors and feeds.

Nothing is deleted. A feed that leaves feeds.yaml is retired: polling stops
and its entries stay stored but leave the pages; listing it again brings it
back with its entries. The site settings and tag aliases are copied too, so
that workers and web processes need only the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from aggregator.config import Config, ConfigError, FeedConfig, load_config
from aggregator.db import transaction
from aggregator.models import Author, Entry, Feed, Setting
from aggregator.store import ALIASES_KEY, NOTES_KEY, SCHEDULE_KEY, SITE_KEY, SUPPORT_KEY, replace_writer_in_search_terms

log = logging.getLogger("aggregator.sync")
SYNC_LOCK_ID = 7_202_612
_SETTING_NAMES = {
    SITE_KEY: "site settings",
    ALIASES_KEY: "tag aliases",
    NOTES_KEY: "content notes",
    SUPPORT_KEY: "support panels",
    SCHEDULE_KEY: "schedule",
}


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.retired or self.settings_changed)

    def lines(self) -> list[str]:
        lines = [f"added {item}" for item in self.added]
        lines += [f"changed {item}" for item in self.changed]
        lines += [f"retired {item}" for item in self.retired]
        lines += [f"updated {item}" for item in self.settings_changed]
        return lines

    def summary(self) -> str:
        if self.unchanged:
            return "The database already matches the feeds file; nothing to do."
        summary = f"Synced: {len(self.added)} added, {len(self.changed)} changed, {len(self.retired)} retired"
        if self.settings_changed:
            summary += f"; {', '.join(self.settings_changed)} updated"
        return summary + "."


def sync_config(session: Session, config: Config, now: datetime) -> SyncReport:
    """Make the database match `config`; return what changed.

    Two schedulers may sync at once: on PostgreSQL they take turns through
    an advisory lock (SQLite's writer transactions take turns anyway).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SYNC_LOCK_ID})
    report = SyncReport()
    aliases_changed = _sync_settings(session, config, report)
    authors = {author.slug: author for author in session.scalars(select(Author))}
    feeds = {feed.source: feed for feed in session.scalars(select(Feed))}
    listed_authors: set[str] = set()
    listed_feeds: set[str] = set()

    for author_config in config.authors:
        listed_authors.add(author_config.slug)
        author = authors.get(author_config.slug)
        wanted = {
            "name": author_config.name,
            "bio": author_config.bio,
            "homepage": author_config.homepage,
            "avatar": author_config.avatar,
            "links": [list(link) for link in author_config.links],
        }
        if author is None:
            author = Author(slug=author_config.slug, created_at=now, **wanted)
            session.add(author)
            session.flush()
            report.added.append(f"author {author.slug}")
        else:
            differences = [key for key, value in wanted.items() if getattr(author, key) != value]
            if "name" in differences:
                # Posts are found by their writer's name: the new one from now on.
                replace_writer_in_search_terms(session, Entry.author_id == author.id, author.name, author_config.name)
            if author.retired_at is not None:
                author.retired_at = None
                differences.insert(0, "listed again")
            for key in differences:
                if key in wanted:
                    setattr(author, key, wanted[key])
            if differences:
                report.changed.append(f"author {author.slug} ({', '.join(differences)})")

        for feed_config in author_config.feeds:
            listed_feeds.add(feed_config.source)
            interval = feed_config.interval or config.schedule.interval
            feed = feeds.get(feed_config.source)
            if feed is None:
                feed = _moved_here(feeds, feed_config.source, listed_feeds)
                if feed is not None:
                    # The curator followed a permanent redirect into feeds.yaml:
                    # the same feed at its new address, with all its entries.
                    report.changed.append(f"feed {feed.source} (now {feed_config.source}, where it moved)")
                    del feeds[feed.source]
                    feed.source = feed_config.source
                    feed.moved_to = None
                    feeds[feed.source] = feed
            if feed is None:
                feed = Feed(
                    author_id=author.id,
                    source=feed_config.source,
                    location=feed_config.location,
                    type=feed_config.type,
                    tags=list(feed_config.tags),
                    boilerplate=list(feed_config.boilerplate),
                    source_options=feed_config.source_options,
                    interval_seconds=interval,
                    interval_fixed=feed_config.interval is not None,
                    error_count=0,
                    created_at=now,
                    next_check_at=now,
                )
                session.add(feed)
                report.added.append(f"feed {feed.source} ({author.slug})")
                continue
            differences = _feed_differences(feed, feed_config, author.id, interval)
            if feed.interval_fixed != (feed_config.interval is not None):
                differences.append("interval")
            if feed.retired_at is not None:
                feed.retired_at = None
                feed.next_check_at = now
                differences.insert(0, "listed again")
            if "author" in differences:
                # Entries carry their author for fast author pages; they move too.
                previous = session.get(Author, feed.author_id)
                session.execute(update(Entry).where(Entry.feed_id == feed.id).values(author_id=author.id))
                if previous is not None:
                    replace_writer_in_search_terms(session, Entry.feed_id == feed.id, previous.name, author.name)
            if differences:
                feed.author_id = author.id
                feed.location = feed_config.location
                feed.type = feed_config.type
                feed.tags = list(feed_config.tags)
                feed.boilerplate = list(feed_config.boilerplate)
                feed.source_options = feed_config.source_options
                feed.interval_seconds = interval
                feed.interval_fixed = feed_config.interval is not None
                report.changed.append(f"feed {feed.source} ({', '.join(differences)})")
            if ({"tags", "author", "boilerplate", "fields"} & set(differences) or aliases_changed) and feed.retired_at is None:
                _refetch_soon(feed, now)

    for source, feed in feeds.items():
        if source not in listed_feeds and feed.retired_at is None:
            feed.retired_at = now
            feed.next_check_at = None
            report.retired.append(f"feed {source}")
    for slug, author in authors.items():
        if slug not in listed_authors and author.retired_at is None:
            author.retired_at = now
            report.retired.append(f"author {slug}")
    session.flush()
    return report


def _moved_here(feeds: dict[str, Feed], source: str, listed: set[str]) -> Feed | None:
    """An unlisted feed that permanently moved to `source`, if there is one."""
    for feed in feeds.values():
        if feed.moved_to == source and feed.source not in listed and feed.source != source:
            return feed
    return None


def _feed_differences(feed: Feed, config: FeedConfig, author_id: int, interval: int) -> list[str]:
    differences = []
    if feed.author_id != author_id:
        differences.append("author")
    if feed.location != config.location:
        differences.append("location")
    if feed.type != config.type:
        differences.append("type")
    if list(feed.tags or []) != list(config.tags):
        differences.append("tags")
    if feed.interval_seconds != interval:
        differences.append("interval")
    if list(feed.boilerplate or []) != list(config.boilerplate):
        differences.append("boilerplate")
    if dict(feed.source_options or {}) != config.source_options:
        differences.append("fields")
    return differences


def _refetch_soon(feed: Feed, now: datetime) -> None:
    # Tags and boilerplate rules apply when an entry is stored; forget what
    # says "unchanged" so the next poll reads the feed again in full.
    feed.etag = None
    feed.last_modified = None
    feed.body_hash = None
    # A Wagtail source reads every page of its listing again.
    feed.source_state = {}
    feed.next_check_at = now


def _sync_settings(session: Session, config: Config, report: SyncReport) -> bool:
    """Copy site settings and aliases; return whether the aliases changed."""
    wanted = {
        SITE_KEY: asdict(config.site),
        ALIASES_KEY: dict(sorted(config.aliases.items())),
        NOTES_KEY: {slug: asdict(note) for slug, note in sorted(config.content_notes.items())},
        SUPPORT_KEY: {name: asdict(panel) for name, panel in sorted(config.support.items())},
        SCHEDULE_KEY: asdict(config.schedule),
    }
    # As the JSON column gives it back (lists, not tuples), to compare like with like.
    wanted = json.loads(json.dumps(wanted))
    stored = {row.key: row for row in session.scalars(select(Setting).where(Setting.key.in_(wanted)))}
    aliases_changed = False
    for key, value in wanted.items():
        row = stored.get(key)
        if row is None:
            session.add(Setting(key=key, value=value))
        elif row.value != value:
            session.execute(update(Setting).where(Setting.key == key).values(value=value))
        else:
            continue
        if key == ALIASES_KEY:
            aliases_changed = row is not None or bool(value)
        report.settings_changed.append(_SETTING_NAMES[key])
    return aliases_changed


class ConfigSyncer:
    """Re-applies feeds.yaml when the file changes, for long-running schedulers.

    A broken file is reported and skipped: the database keeps the last good
    state, so polling and the site go on.
    """

    def __init__(self, path: Path, sessions: sessionmaker[Session], clock: Callable[[], datetime]):
        self.path = path
        self.sessions = sessions
        self.clock = clock
        self._seen: tuple[int, int] | None = None

    def sync_if_changed(self) -> SyncReport | None:
        try:
            stat = self.path.stat()
        except OSError as exc:
            log.error("config=%s cannot be read: %s; keeping the last synced feeds", self.path, exc.strerror)
            return None
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self._seen:
            return None
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            self._seen = signature  # reported once; the next edit is read again
            for problem in exc.problems:
                log.error("%s", problem)
            log.error("config=%s has errors; keeping the last synced feeds", self.path)
            return None
        with transaction(self.sessions) as session:
            report = sync_config(session, config, self.clock())
        # Only now, with the sync committed: an edit made while the database
        # was away is applied when it returns.
        self._seen = signature
        for line in report.lines():
            log.info("sync: %s", line)
        return report
