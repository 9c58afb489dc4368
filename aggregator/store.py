"""Write what a poll found: entries (upserted), their tags, the feed's state.

The only module of the poll path that touches the database. Writes are
idempotent: an entry's identity is (feed, sha256 of its key), guarded by a
unique index, and every insert is `ON CONFLICT DO NOTHING`, so the same poll
run twice, or by two workers at once, stores each entry once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aggregator.models import Author, Enclosure, Entry, EntryTag, Feed, Setting, Tag
from aggregator.parse import ParsedEnclosure
from aggregator.purge import unused_entry_id
from aggregator.resilience import local_process_has_ended
from aggregator.tagging import Tag as TagName
from aggregator.writers import keep_wishes

SITE_KEY = "site"
ALIASES_KEY = "tag_aliases"
NOTES_KEY = "content_notes"
SCHEDULE_KEY = "schedule"
SUPPORT_KEY = "support_panels"
# The curated topics (with topics_only) and the keyword rules (see aggregator.topics).
TOPICS_KEY = "tag_topics"
RULES_KEY = "tag_rules"
# Whether the last edit of feeds.yaml was taken or refused, and when the
# last good one was synced (see aggregator.sync.ConfigState).
CONFIG_STATE_KEY = "config_state"
_CHUNK = 500
MAX_STORED_WARNINGS = 20
_ADOPT_BATCH = 100


@dataclass(frozen=True)
class FeedState:
    """What a poll needs to know about a feed before it fetches."""

    id: int
    author_id: int
    author_slug: str
    author_name: str
    source: str
    location: str
    type: str | None
    tags: tuple[str, ...]
    boilerplate: tuple[str, ...]
    interval_seconds: int
    interval_fixed: bool
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    cleaned_with: str | None
    moved_to: str | None
    gone: bool
    retry_after: datetime | None
    error_count: int
    retired: bool
    # A Wagtail source's options from feeds.yaml and what its last read remembered.
    source_options: dict[str, Any] = field(default_factory=dict)
    source_state: dict[str, Any] = field(default_factory=dict)

    @property
    def fetch_location(self) -> str:
        """Where to fetch: the new address after a permanent redirect."""
        return self.moved_to or self.location


@dataclass(frozen=True)
class PreparedEntry:
    """An entry ready to store: cleaned, tagged, hashed."""

    key_hash: str
    guid: str | None
    url: str | None
    title: str
    author_name: str | None
    content_html: str
    summary_text: str
    content_text: str
    word_count: int
    is_teaser: bool
    content_notes: tuple[str, ...]
    content_hash: str
    published_at: datetime | None
    updated_at: datetime | None
    tags: tuple[TagName, ...] = field(default=())
    enclosures: tuple[ParsedEnclosure, ...] = ()  # their URLs checked and encoded


@dataclass(frozen=True)
class StoreCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def load_feed(session: Session, feed_id: int) -> FeedState | None:
    row = session.execute(
        select(Feed, Author.slug, Author.name).join(Author, Feed.author_id == Author.id).where(Feed.id == feed_id)
    ).first()
    if row is None:
        return None
    feed, author_slug, author_name = row
    return FeedState(
        id=feed.id,
        author_id=feed.author_id,
        author_slug=author_slug,
        author_name=author_name,
        source=feed.source,
        location=feed.location,
        type=feed.type,
        tags=tuple(feed.tags or ()),
        boilerplate=tuple(feed.boilerplate or ()),
        interval_seconds=feed.interval_seconds,
        interval_fixed=feed.interval_fixed,
        etag=feed.etag,
        last_modified=feed.last_modified,
        body_hash=feed.body_hash,
        cleaned_with=feed.cleaned_with,
        moved_to=feed.moved_to,
        gone=feed.gone_at is not None,
        retry_after=feed.retry_after,
        error_count=feed.error_count,
        retired=feed.retired_at is not None,
        source_options=dict(feed.source_options or {}),
        source_state=dict(feed.source_state or {}),
    )


def load_setting(session: Session, key: str, default: Any = None) -> Any:
    value = session.scalar(select(Setting.value).where(Setting.key == key))
    return default if value is None else value


def stored_hashes(session: Session, feed_id: int, key_hashes: Iterable[str]) -> dict[str, str]:
    """Return {key_hash: content_hash} of the given entries already stored."""
    wanted = list(key_hashes)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            select(Entry.key_hash, Entry.content_hash).where(
                Entry.feed_id == feed_id, Entry.key_hash.in_(wanted[start : start + _CHUNK])
            )
        )
        found.update({row.key_hash: row.content_hash for row in rows})
    return found


def save_entries(
    session: Session, feed: FeedState, entries: Sequence[PreparedEntry], now: datetime,
    moved: dict[str, int] | None = None,
) -> StoreCounts:
    """Insert new entries and update changed ones; leave the rest alone.

    `moved` maps the key of a new entry to the stored entry it is (a post
    whose old address redirects permanently to the new one): that entry
    takes the new key and is updated, not doubled.
    """
    if not entries:
        return StoreCounts()
    stored = stored_hashes(session, feed.id, (e.key_hash for e in entries))
    for new_key, entry_id in (moved or {}).items():
        old_hash = session.scalar(select(Entry.content_hash).where(Entry.id == entry_id, Entry.feed_id == feed.id))
        if new_key not in stored and old_hash is not None:
            session.execute(update(Entry).where(Entry.id == entry_id).values(key_hash=new_key))
            stored[new_key] = old_hash
    _adopt_renamed(session, feed, [e for e in entries if e.key_hash not in stored], stored)
    tag_ids = _ensure_tags(session, {tag.slug: tag for e in entries for tag in e.tags}.values())
    new = updated = unchanged = 0
    written: dict[int, PreparedEntry] = {}
    for entry in entries:
        if entry.key_hash in stored:
            if stored[entry.key_hash] == entry.content_hash:
                unchanged += 1
                continue
            entry_id = _update_entry(session, feed, entry, now)
            updated += 1
        else:
            entry_id = _insert_entry(session, feed, entry, now)
            if entry_id is None:
                # Another worker stored it a moment ago; make ours the newer copy.
                entry_id = _update_entry(session, feed, entry, now)
                updated += 1
            else:
                new += 1
        _replace_entry_tags(session, entry_id, [tag_ids[tag.slug] for tag in entry.tags])
        written[entry_id] = entry
    _replace_enclosures(session, written)
    keep_wishes(session, feed.author_id, list(written), now)
    return StoreCounts(new=new, updated=updated, unchanged=unchanged)


def _replace_enclosures(session: Session, written: dict[int, PreparedEntry]) -> None:
    """Give the entries just written (by id) the enclosures they now have, in one insert for them all."""
    entry_ids = list(written)
    for start in range(0, len(entry_ids), _CHUNK):
        session.execute(delete(Enclosure).where(Enclosure.entry_id.in_(entry_ids[start : start + _CHUNK])))
    rows = [
        {"entry_id": entry_id, "position": position, "url": enclosure.url, "media_type": enclosure.media_type,
         "length": enclosure.length, "duration_seconds": enclosure.duration_seconds}
        for entry_id, entry in written.items()
        for position, enclosure in enumerate(entry.enclosures)
    ]  # fmt: skip
    if rows:
        session.execute(insert(Enclosure), rows)


def _adopt_renamed(session: Session, feed: FeedState, unknown: Sequence[PreparedEntry], stored: dict[str, str]) -> None:
    """Give a stored entry the new key of an entry that only changed its guid.

    Django and Wagtail feeds use the page URL as guid, so a renamed slug
    looks like a new post; some feeds regenerate every guid. Within one
    feed, an entry with the same link, or the same title and publication
    time, as a stored one is that entry, and keeps its id and history.
    """
    if not unknown:
        return
    by_url = {e.url: e for e in unknown if e.url}
    # A Wagtail page's key is its id: two pages with one title and time are two posts.
    by_title = {(e.title, e.published_at): e for e in unknown if e.published_at and feed.type != "wagtail"}
    candidates = []
    # In small batches: SQLite refuses very deep expressions.
    urls, titles = list(by_url), list(by_title)
    for start in range(0, max(len(urls), len(titles)), _ADOPT_BATCH):
        conditions = []
        if urls[start : start + _ADOPT_BATCH]:
            conditions.append(Entry.url.in_(urls[start : start + _ADOPT_BATCH]))
        if titles[start : start + _ADOPT_BATCH]:
            pairs = titles[start : start + _ADOPT_BATCH]
            conditions.append(or_(*(and_(Entry.title == t, Entry.published_at == p) for t, p in pairs)))
        candidates += session.execute(
            select(Entry.id, Entry.key_hash, Entry.url, Entry.title, Entry.published_at, Entry.content_hash)
            .where(Entry.feed_id == feed.id, or_(*conditions))
        ).all()
    candidates.sort(key=lambda row: row.id)
    claimed: set[str] = set()
    for row in candidates:
        entry = by_url.get(row.url) or by_title.get((row.title, row.published_at))
        if entry is None or entry.key_hash in claimed or row.key_hash in stored:
            continue  # still listed under its own key: a different post
        claimed.add(entry.key_hash)
        session.execute(update(Entry).where(Entry.id == row.id).values(key_hash=entry.key_hash))
        # Forces an update with the new content below; content_hash of the
        # old key is kept so an unchanged entry is not cleaned twice.
        stored[entry.key_hash] = row.content_hash


def record_success(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    next_check_at: datetime,
    status: int,
    etag: str | None,
    last_modified: str | None,
    moved_to: str | None,
    body_hash: str | None = None,
    cleaned_with: str | None = None,
    title: str | None = None,
    site_url: str | None = None,
    warnings: Sequence[str] | None = None,
    holder: str | None = None,
    source_state: dict[str, Any] | None = None,
) -> None:
    """Record a successful poll, ending `holder`'s claim.

    `warnings` (None: keep the last ones) are what a full read warned about;
    `source_state` (None: keep it) what a Wagtail source's next read starts from.
    """
    values: dict[str, Any] = {
        **_claim_ended(holder),
        "last_checked_at": now,
        "last_success_at": now,
        "next_check_at": next_check_at,
        "last_status": status,
        "last_error": None,
        "error_count": 0,
        "etag": etag,
        "last_modified": last_modified,
        "moved_to": moved_to,
        "gone_at": None,
        "retry_after": None,
    }
    if body_hash is not None:
        values["body_hash"] = body_hash
    if cleaned_with is not None:
        values["cleaned_with"] = cleaned_with
    if title is not None:
        values["title"] = title
    if site_url is not None:
        values["site_url"] = site_url
    if warnings is not None:
        values["last_warnings"] = list(warnings)[:MAX_STORED_WARNINGS]
    if source_state is not None:
        values["source_state"] = source_state
    session.execute(update(Feed).where(Feed.id == feed_id).values(**values))


def unlisted_entries(
    session: Session, feed_id: int, listed: set[str], since: datetime | None, limit: int
) -> list[tuple[int, str]]:
    """(id, link) of the feed's newest stored entries, published since `since`, whose keys are not in `listed`."""
    statement = select(Entry.id, Entry.url, Entry.key_hash).where(
        Entry.feed_id == feed_id, Entry.url.is_not(None), Entry.withdrawn_at.is_(None)
    )
    if since is not None:
        statement = statement.where(Entry.published_at >= since)
    rows = session.execute(statement.order_by(Entry.published_at.desc()).limit(limit + len(listed))).all()
    return [(row.id, row.url) for row in rows if row.key_hash not in listed][:limit]


def mark_listed(session: Session, feed_id: int, listed: Iterable[str], *, complete: bool, now: datetime) -> int:
    """Bring back the feed's withdrawn entries among `listed` (key hashes); if the
    source listed everything it has (`complete`), withdraw the entries it no
    longer lists. Returns how many were withdrawn; they are kept, shown nowhere."""
    listed = set(listed)
    rows = session.execute(select(Entry.id, Entry.key_hash, Entry.withdrawn_at).where(Entry.feed_id == feed_id)).all()
    back = [row.id for row in rows if row.withdrawn_at is not None and row.key_hash in listed]
    gone = [row.id for row in rows if complete and row.withdrawn_at is None and row.key_hash not in listed]
    for ids, value in ((back, None), (gone, now)):
        for start in range(0, len(ids), _CHUNK):
            session.execute(update(Entry).where(Entry.id.in_(ids[start : start + _CHUNK])).values(withdrawn_at=value))
    return len(gone)


def record_failure(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    next_check_at: datetime | None,
    message: str,
    status: int | None,
    retry_after: datetime | None = None,
    gone: bool = False,
    holder: str | None = None,
) -> None:
    """Record a failed poll, ending `holder`'s claim; a gone feed (410) is polled no more."""
    session.execute(
        update(Feed)
        .where(Feed.id == feed_id)
        .values(
            **_claim_ended(holder),
            last_checked_at=now,
            next_check_at=None if gone else next_check_at,
            last_status=status,
            last_error=message,
            error_count=Feed.error_count + 1,
            retry_after=retry_after,
            gone_at=now if gone else None,
        )
    )


def record_job_failure(session: Session, feed_id: int, *, message: str, now: datetime) -> None:
    """A poll job died in its worker (a crash, a timeout, a killed worker)."""
    session.execute(
        update(Feed).where(Feed.id == feed_id).values(last_error=message, error_count=Feed.error_count + 1, last_checked_at=now)
    )


def record_deferred(session: Session, feed_id: int, *, next_check_at: datetime, holder: str | None = None) -> None:
    """The poll waited its turn (a busy host): no error, just later; `holder`'s claim ends."""
    session.execute(update(Feed).where(Feed.id == feed_id).values(next_check_at=next_check_at, **_claim_ended(holder)))


def _claim_ended(holder: str | None) -> dict[str, Any]:
    """Values that end `holder`'s claim in the UPDATE recording its poll; another poller's claim stays."""
    if holder is None:
        return {}
    mine = Feed.polled_by == holder
    return {"polled_by": case((mine, None), else_=Feed.polled_by), "polling_until": case((mine, None), else_=Feed.polling_until)}


def claim_feed(session: Session, feed_id: int, *, holder: str, now: datetime, until: datetime) -> str | None:
    """Take the feed's poll claim unless a live poller holds it; return the holder that blocks, or None.

    A claim whose time ran out is free; so is one whose holder is a process
    of this machine that no longer exists (a worker killed mid-poll), so
    that its feed need not wait for the claim to expire.
    """
    claimable = or_(Feed.polling_until.is_(None), Feed.polling_until < now, Feed.polled_by == holder)
    taken = session.execute(
        update(Feed).where(Feed.id == feed_id, claimable).values(polled_by=holder, polling_until=until)
    ).rowcount
    if taken:
        return None
    current = session.scalar(select(Feed.polled_by).where(Feed.id == feed_id))
    if current is None or not poller_is_dead(current):
        return current
    taken = session.execute(
        update(Feed).where(Feed.id == feed_id, Feed.polled_by == current).values(polled_by=holder, polling_until=until)
    ).rowcount
    return None if taken else current


def release_claim(session: Session, feed_id: int, holder: str) -> None:
    session.execute(
        update(Feed).where(Feed.id == feed_id, Feed.polled_by == holder).values(polled_by=None, polling_until=None)
    )


def new_poller_id() -> str:
    """A claim holder's name: this machine, this process, and this one poll."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def poller_is_dead(holder: str) -> bool:
    """Whether a claim's holder is a process of this machine that has ended."""
    try:
        host, pid, _ = holder.rsplit(":", 2)
        return local_process_has_ended(host, int(pid))
    except ValueError:
        return False


def recent_entry_count(session: Session, feed_id: int, since: datetime) -> int:
    """Entries of a feed published since `since`: how often it publishes."""
    return session.scalar(select(func.count(Entry.id)).where(Entry.feed_id == feed_id, Entry.sort_time >= since)) or 0


def dialect_insert(session: Session, table: Any) -> Any:
    """An INSERT of the session's database dialect, which knows ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database: {dialect}")


def replace_writer_in_search_terms(session: Session, which: Any, old: str, new: str) -> None:
    """Put a writer's new name in front of the search terms of the entries `which` selects.

    `_entry_values` writes the writer's name first, so the old one is a prefix.
    """
    if old == new:
        return
    session.execute(
        update(Entry)
        .where(which, func.substr(Entry.search_terms, 1, len(old)) == old)
        .values(search_terms=func.trim(literal(new) + func.substr(Entry.search_terms, len(old) + 1)))
        .execution_options(synchronize_session=False)
    )


def _entry_values(entry: PreparedEntry, writer: str) -> dict[str, Any]:
    return {
        "guid": entry.guid,
        "url": entry.url,
        "title": entry.title,
        "author_name": entry.author_name,
        "content_html": entry.content_html,
        "summary_text": entry.summary_text,
        "content_text": entry.content_text,
        # Searchable beside the text: who wrote it and what it is about.
        "search_terms": " ".join(dict.fromkeys(filter(None, (writer, entry.author_name, *(t.name for t in entry.tags))))),
        "word_count": entry.word_count,
        "is_teaser": entry.is_teaser,
        "content_notes": list(entry.content_notes),
        "content_hash": entry.content_hash,
        "published_at": entry.published_at,
        "updated_at": entry.updated_at,
    }


def _sort_time(entry: PreparedEntry, first_seen: datetime) -> datetime:
    # A date in the future would pin an entry to the top of every list.
    return min(entry.published_at, first_seen) if entry.published_at else first_seen


def _insert_entry(session: Session, feed: FeedState, entry: PreparedEntry, now: datetime) -> int | None:
    statement = (
        dialect_insert(session, Entry)
        .values(
            feed_id=feed.id,
            author_id=feed.author_id,
            key_hash=entry.key_hash,
            first_seen_at=now,
            last_changed_at=now,
            sort_time=_sort_time(entry, now),
            **_entry_values(entry, feed.author_name),
            **unused_entry_id(session),
        )
        .on_conflict_do_nothing(index_elements=["feed_id", "key_hash"])
        .returning(Entry.id)
    )
    return session.scalar(statement)


def _update_entry(session: Session, feed: FeedState, entry: PreparedEntry, now: datetime) -> int:
    entry_id, first_seen = session.execute(
        select(Entry.id, Entry.first_seen_at).where(Entry.feed_id == feed.id, Entry.key_hash == entry.key_hash)
    ).one()
    session.execute(
        update(Entry)
        .where(Entry.id == entry_id)
        .values(last_changed_at=now, sort_time=_sort_time(entry, first_seen), **_entry_values(entry, feed.author_name))
    )
    return entry_id


def _ensure_tags(session: Session, tags: Iterable[TagName]) -> dict[str, int]:
    """Return {slug: id}, creating the tags that do not exist yet."""
    tags = list(tags)
    if not tags:
        return {}
    slugs = [tag.slug for tag in tags]
    known = {slug: tag_id for slug, tag_id in session.execute(select(Tag.slug, Tag.id).where(Tag.slug.in_(slugs)))}
    missing = [tag for tag in tags if tag.slug not in known]
    if missing:
        session.execute(
            dialect_insert(session, Tag)
            .values([{"slug": tag.slug, "name": tag.name} for tag in missing])
            .on_conflict_do_nothing(index_elements=["slug"])
        )
        created = session.execute(select(Tag.slug, Tag.id).where(Tag.slug.in_([t.slug for t in missing])))
        known.update({slug: tag_id for slug, tag_id in created})
    return known


def _replace_entry_tags(session: Session, entry_id: int, tag_ids: list[int]) -> None:
    session.execute(delete(EntryTag).where(EntryTag.entry_id == entry_id, EntryTag.tag_id.not_in(tag_ids)))
    if tag_ids:
        session.execute(
            dialect_insert(session, EntryTag)
            .values([{"entry_id": entry_id, "tag_id": tag_id} for tag_id in dict.fromkeys(tag_ids)])
            .on_conflict_do_nothing(index_elements=["entry_id", "tag_id"])
        )


def due_feed_ids(session: Session, now: datetime) -> list[int]:
    """Return the active feeds whose next check has come, most overdue first."""
    return list(
        session.scalars(
            select(Feed.id)
            .where(
                Feed.retired_at.is_(None),
                Feed.gone_at.is_(None),
                (Feed.next_check_at.is_(None)) | (Feed.next_check_at <= now),
                (Feed.retry_after.is_(None)) | (Feed.retry_after <= now),
            )
            .order_by(Feed.next_check_at.is_not(None), Feed.next_check_at, Feed.id)
        )
    )


def active_feed_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Feed.id).where(Feed.retired_at.is_(None)).order_by(Feed.id)))


def find_feed_ids(session: Session, selectors: Iterable[str]) -> tuple[list[int], list[str]]:
    """Resolve author slugs, feed URLs and `path:` sources to active feed ids.

    Returns the ids (in the order asked, each once) and the selectors that
    matched nothing.
    """
    ids: dict[int, None] = {}
    unknown: list[str] = []
    for selector in selectors:
        matched = session.scalars(
            select(Feed.id)
            .join(Author, Feed.author_id == Author.id)
            .where(
                Feed.retired_at.is_(None),
                (Author.slug == selector) | (Feed.source == selector) | (Feed.location == selector),
            )
            .order_by(Feed.id)
        ).all()
        if not matched:
            unknown.append(selector)
        ids.update(dict.fromkeys(matched))
    return list(ids), unknown
