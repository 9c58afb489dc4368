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
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from aggregator.config import AuthorConfig, Config, ConfigError, FeedConfig, load_config
from aggregator.db import transaction
from aggregator.models import Author, Entry, Feed, Setting
from aggregator.settings import ConfigState, forget_settings
from aggregator.store import (
    ALIASES_KEY,
    CONFIG_STATE_KEY,
    NOTES_KEY,
    SCHEDULE_KEY,
    SITE_KEY,
    SUPPORT_KEY,
    load_setting,
    replace_writer_in_search_terms,
)
from aggregator.topics import sync_topics
from aggregator.writers import sync_writers

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
    report = apply(session, plan_sync(config, read_current(session)), now)
    sync_topics(session, config, report)
    report.changed += sync_writers(session, config, now)  # profiles, wishes, hide: aggregator.writers
    _store_config_state(session, ConfigState("accepted", last_good_at=now.isoformat(timespec="seconds")))
    forget_settings(session)
    return report


# -- Whether the last edit was taken ---------------------------------------------------


def record_config_rejected(session: Session, problems: list[str], now: datetime) -> None:
    """Keep a refused edit's problems where curators look; the last good sync stays as it was."""
    last_good = ConfigState.from_setting(load_setting(session, CONFIG_STATE_KEY)).last_good_at
    _store_config_state(session, ConfigState("rejected", tuple(problems), now.isoformat(timespec="seconds"), last_good))


def _store_config_state(session: Session, state: ConfigState) -> None:
    value = json.loads(json.dumps(asdict(state)))
    if session.get(Setting, CONFIG_STATE_KEY) is None:
        session.add(Setting(key=CONFIG_STATE_KEY, value=value))
    else:
        session.execute(update(Setting).where(Setting.key == CONFIG_STATE_KEY).values(value=value))
    forget_settings(session)


# -- What the database holds, as plain data ----------------------------------------


@dataclass(frozen=True)
class CurrentAuthor:
    values: dict[str, Any]  # as author_values() gives them
    retired: bool


@dataclass(frozen=True)
class CurrentFeed:
    values: dict[str, Any]  # as feed_values() gives them
    retired: bool
    moved_to: str | None
    shown: int  # stored posts on the pages now


@dataclass(frozen=True)
class Current:
    authors: dict[str, CurrentAuthor]
    feeds: dict[str, CurrentFeed]
    settings: dict[str, Any]


def read_current(session: Session) -> Current:
    """The authors, feeds and settings that a sync compares feeds.yaml with."""
    authors = {author.id: author for author in session.scalars(select(Author))}
    shown = dict(
        session.execute(
            select(Entry.feed_id, func.count(Entry.id)).where(Entry.withdrawn_at.is_(None)).group_by(Entry.feed_id)
        ).all()
    )
    feeds = {}
    for feed in session.scalars(select(Feed)):
        author = authors.get(feed.author_id)
        values = _feed_row_values(feed, author.slug if author else "")
        feeds[feed.source] = CurrentFeed(values, feed.retired_at is not None, feed.moved_to, shown.get(feed.id, 0))
    return Current(
        authors={a.slug: CurrentAuthor(_author_row_values(a), a.retired_at is not None) for a in authors.values()},
        feeds=feeds,
        settings={row.key: row.value for row in session.scalars(select(Setting).where(Setting.key.in_(_SETTING_NAMES)))},
    )


def author_values(author: AuthorConfig) -> dict[str, Any]:
    """What an author's row holds from feeds.yaml, as the database gives it back."""
    return {
        "name": author.name,
        "bio": author.bio,
        "homepage": author.homepage,
        "avatar": author.avatar,
        "links": [list(link) for link in author.links],
    }


def feed_values(feed: FeedConfig, author_slug: str, default_interval: int) -> dict[str, Any]:
    """What a feed's row holds from feeds.yaml (its author by slug), as the database gives it back."""
    return {
        "author": author_slug,
        "location": feed.location,
        "type": feed.type,
        "tags": list(feed.tags),
        "interval_seconds": feed.interval or default_interval,
        "interval_fixed": feed.interval is not None,
        "boilerplate": list(feed.boilerplate),
        "source_options": json.loads(json.dumps(feed.source_options)),
    }


def _author_row_values(author: Author) -> dict[str, Any]:
    return {key: getattr(author, key) for key in author_values(AuthorConfig(slug="", name=""))}


def _feed_row_values(feed: Feed, author_slug: str) -> dict[str, Any]:
    keys = feed_values(FeedConfig(source="", location=""), "", 0)
    values = {key: getattr(feed, key) for key in keys if key != "author"}
    values["tags"], values["boilerplate"] = list(feed.tags or []), list(feed.boilerplate or [])
    values["source_options"] = dict(feed.source_options or {})
    return {**values, "author": author_slug}


# -- The plan: what a sync would do ------------------------------------------------

# How a difference in a feed's values is named to the curator.
_FEED_DIFFERENCE_NAMES = {
    "author": "author", "location": "location", "type": "type", "tags": "tags", "interval_seconds": "interval",
    "interval_fixed": "interval", "boilerplate": "boilerplate", "source_options": "fields",
}  # fmt: skip
# Differences that change how stored entries were made: the feed is read again in full.
_REFETCH_ON = {"tags", "author", "boilerplate", "fields"}


@dataclass(frozen=True)
class Change:
    """One thing a sync does: add, change or retire an author or a feed, or update a setting."""

    action: str  # "add", "change", "retire", "update"
    kind: str  # "author", "feed", "setting"
    key: str  # the author's slug, the feed's source, the setting's key
    differences: tuple[str, ...] = ()  # for "change": what differs, named for the curator
    values: dict[str, Any] = field(default_factory=dict)  # the new values (for add, change and update)
    moved_from: str | None = None  # a feed that was known at the address it permanently moved from
    refetch: bool = False  # the feed is read again in full at its next poll
    leaving: int = 0  # stored posts that leave the pages (a retired feed's)

    def describe(self) -> str:
        """The change as a plan says it: "add author jane-doe", "retire feed URL; 7 stored posts leave the pages"."""
        if self.kind == "setting":
            return f"update the {_SETTING_NAMES[self.key]}"
        if self.action == "add":
            owner = f" ({self.values['author']})" if self.kind == "feed" else ""
            return f"add {self.kind} {self.key}{owner}"
        if self.action == "retire":
            leaving = f"; {self.leaving} stored post{'s' if self.leaving != 1 else ''} leave the pages" if self.leaving else ""
            return f"retire {self.kind} {self.key}{leaving}"
        if not self.differences and self.moved_from is None:
            return f"read feed {self.key} again in full at its next poll (the tag aliases changed)"
        moved = f"now here, moved from {self.moved_from}" if self.moved_from else ""
        return f"change {self.kind} {self.key} ({', '.join(filter(None, [moved, *self.differences]))})"


@dataclass
class SyncPlan:
    changes: list[Change] = field(default_factory=list)

    @property
    def leaving(self) -> int:
        return sum(change.leaving for change in self.changes)

    def report(self) -> SyncReport:
        report = SyncReport()
        for change in self.changes:
            if change.kind == "setting":
                report.settings_changed.append(_SETTING_NAMES[change.key])
                continue
            if change.action == "add":
                owner = f" ({change.values['author']})" if change.kind == "feed" else ""
                report.added.append(f"{change.kind} {change.key}{owner}")
            elif change.action == "retire":
                report.retired.append(f"{change.kind} {change.key}")
            else:
                if change.moved_from is not None:
                    report.changed.append(f"feed {change.moved_from} (now {change.key}, where it moved)")
                if change.differences:
                    report.changed.append(f"{change.kind} {change.key} ({', '.join(change.differences)})")
        return report


def plan_sync(config: Config, current: Current) -> SyncPlan:
    """What syncing `config` onto `current` would do, in order; nothing is touched."""
    plan = SyncPlan()
    settings_wanted = _settings_wanted(config)
    aliases_changed = False
    for key, value in settings_wanted.items():
        if current.settings.get(key) != value:
            plan.changes.append(Change("update", "setting", key, values={"value": value}))
            if key == ALIASES_KEY:
                aliases_changed = key in current.settings or bool(value)
    listed_feeds = {feed.source for _, feed in config.feeds}
    moved_away: set[str] = set()
    for author in config.authors:
        wanted = author_values(author)
        known = current.authors.get(author.slug)
        if known is None:
            plan.changes.append(Change("add", "author", author.slug, values=wanted))
        else:
            differences = [key for key, value in wanted.items() if known.values.get(key) != value]
            if known.retired:
                differences.insert(0, "listed again")
            if differences:
                plan.changes.append(Change("change", "author", author.slug, tuple(differences), wanted))
        for feed in author.feeds:
            wanted_feed = feed_values(feed, author.slug, config.schedule.interval)
            row = current.feeds.get(feed.source)
            moved_from = None
            if row is None:
                moved_from = next(
                    (source for source, other in current.feeds.items()
                     if other.moved_to == feed.source and source not in listed_feeds and source != feed.source
                     and source not in moved_away),
                    None,
                )  # fmt: skip
                if moved_from is not None:
                    # The curator followed a permanent redirect into feeds.yaml:
                    # the same feed at its new address, with all its entries.
                    moved_away.add(moved_from)
                    row = current.feeds[moved_from]
            if row is None:
                plan.changes.append(Change("add", "feed", feed.source, values=wanted_feed))
                continue
            differences = list(dict.fromkeys(
                _FEED_DIFFERENCE_NAMES[key] for key, value in wanted_feed.items() if row.values.get(key) != value
            ))  # fmt: skip
            if row.retired:
                differences.insert(0, "listed again")
            refetch = bool(_REFETCH_ON & set(differences)) or aliases_changed
            if differences or moved_from is not None or refetch:
                plan.changes.append(
                    Change("change", "feed", feed.source, tuple(differences), wanted_feed, moved_from, refetch)
                )
    for source, row in current.feeds.items():
        if source not in listed_feeds and source not in moved_away and not row.retired:
            plan.changes.append(Change("retire", "feed", source, leaving=row.shown))
    listed_authors = {author.slug for author in config.authors}
    for slug, known in current.authors.items():
        if slug not in listed_authors and not known.retired:
            plan.changes.append(Change("retire", "author", slug))
    return plan


def _settings_wanted(config: Config) -> dict[str, Any]:
    wanted = {
        SITE_KEY: asdict(config.site),
        ALIASES_KEY: dict(sorted(config.aliases.items())),
        NOTES_KEY: {slug: asdict(note) for slug, note in sorted(config.content_notes.items())},
        SUPPORT_KEY: {name: asdict(panel) for name, panel in sorted(config.support.items())},
        SCHEDULE_KEY: asdict(config.schedule),
    }
    # As the JSON column gives it back (lists, not tuples), to compare like with like.
    return json.loads(json.dumps(wanted))


# -- Applying it -----------------------------------------------------------------------


def apply(session: Session, plan: SyncPlan, now: datetime) -> SyncReport:
    """Carry out `plan` in `session` (the caller commits); return what was done."""
    authors = {author.slug: author for author in session.scalars(select(Author))}
    feeds = {feed.source: feed for feed in session.scalars(select(Feed))}
    for change in plan.changes:
        if change.kind == "setting":
            _apply_setting(session, change)
        elif change.kind == "author":
            _apply_author(session, change, authors, now)
        else:
            _apply_feed(session, change, authors, feeds, now)
    session.flush()
    return plan.report()


def _apply_setting(session: Session, change: Change) -> None:
    value = change.values["value"]
    if session.get(Setting, change.key) is None:
        session.add(Setting(key=change.key, value=value))
    else:
        session.execute(update(Setting).where(Setting.key == change.key).values(value=value))


def _apply_author(session: Session, change: Change, authors: dict[str, Author], now: datetime) -> None:
    if change.action == "add":
        author = authors[change.key] = Author(slug=change.key, created_at=now, **change.values)
        session.add(author)
        session.flush()
        return
    author = authors[change.key]
    if change.action == "retire":
        author.retired_at = now
        return
    if author.name != change.values["name"]:
        # Posts are found by their writer's name: the new one from now on.
        replace_writer_in_search_terms(session, Entry.author_id == author.id, author.name, change.values["name"])
    author.retired_at = None
    for key, value in change.values.items():
        setattr(author, key, value)


def _apply_feed(session: Session, change: Change, authors: dict[str, Author], feeds: dict[str, Feed], now: datetime) -> None:
    if change.action == "retire":
        feed = feeds[change.key]
        feed.retired_at = now
        feed.next_check_at = None
        return
    values = dict(change.values)
    author = authors[values.pop("author")]
    if change.action == "add":
        feed = feeds[change.key] = Feed(
            author_id=author.id, source=change.key, error_count=0, created_at=now, next_check_at=now, **values
        )
        session.add(feed)
        return
    feed = feeds.pop(change.moved_from or change.key)
    feeds[change.key] = feed
    if change.moved_from is not None:
        feed.source = change.key
        feed.moved_to = None
    if feed.retired_at is not None:
        feed.retired_at = None
        feed.next_check_at = now
    if feed.author_id != author.id:
        # Entries carry their author for fast author pages; they move too.
        previous = session.get(Author, feed.author_id)
        session.execute(update(Entry).where(Entry.feed_id == feed.id).values(author_id=author.id))
        if previous is not None:
            replace_writer_in_search_terms(session, Entry.feed_id == feed.id, previous.name, author.name)
    feed.author_id = author.id
    for key, value in values.items():
        setattr(feed, key, value)
    if change.refetch:
        _refetch_soon(feed, now)


def _refetch_soon(feed: Feed, now: datetime) -> None:
    # Tags and boilerplate rules apply when an entry is stored; forget what
    # says "unchanged" so the next poll reads the feed again in full.
    feed.etag = None
    feed.last_modified = None
    feed.body_hash = None
    # A Wagtail source reads every page of its listing again.
    feed.source_state = {}
    feed.next_check_at = now


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
            for problem in exc.problems:
                log.error("%s", problem)
            log.error("config=%s has errors; keeping the last synced feeds", self.path)
            with transaction(self.sessions) as session:
                record_config_rejected(session, [str(problem) for problem in exc.problems], self.clock())
            # Reported once, and only once it is recorded: an edit refused
            # while the database was away is recorded when it returns.
            self._seen = signature
            return None
        with transaction(self.sessions) as session:
            report = sync_config(session, config, self.clock())
        # Only now, with the sync committed: an edit made while the database
        # was away is applied when it returns.
        self._seen = signature
        for line in report.lines():
            log.info("sync: %s", line)
        return report
