"""The database schema: authors, their feeds, entries and tags.

The schema itself is made by Alembic migrations (`migrations/`); these
classes must match them. Times are stored as naive UTC on every database, so
SQLite and PostgreSQL sort and compare them the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the store keeps UTC only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(Text)
    bio: Mapped[str] = mapped_column(Text, default="")
    homepage: Mapped[str | None] = mapped_column(Text)
    avatar: Mapped[str | None] = mapped_column(Text)  # an image URL
    links: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [[label, url], ...]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pronouns: Mapped[str | None] = mapped_column(Text)
    credentials: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    modalities: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    populations: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    location: Mapped[str | None] = mapped_column(Text)
    # The writer's wishes as feeds.yaml gives them on the author (None: not
    # said); each feed row holds the wishes in force for its posts.
    display: Mapped[str | None] = mapped_column(String(10))
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    noindex: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    license: Mapped[str | None] = mapped_column(Text)
    hide: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")  # links of posts taken down


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    # The feed's identity in feeds.yaml: its URL, or "path:<file beside it>".
    source: Mapped[str] = mapped_column(String(2000), unique=True)
    # What fetch reads: the URL, or the file:// URI the path resolved to.
    location: Mapped[str] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The curator's own boilerplate rules for this feed (text, or /regex/).
    boilerplate: Mapped[list[str]] = mapped_column(JSON, default=list)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    # True when feeds.yaml gives this feed its own interval; else it adapts.
    interval_fixed: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    # sha256 of the last body parsed: a server that ignores conditional
    # requests but sends the same bytes costs no parse.
    body_hash: Mapped[str | None] = mapped_column(String(64))
    # Which cleaning rules the stored entries went through; when the rules
    # change (a new release, the curator's boilerplate list), the next poll
    # reads the feed in full, however unchanged, and cleans it again.
    cleaned_with: Mapped[str | None] = mapped_column(String(64))
    # Where a permanent redirect (301, 308) sent us: polled instead of
    # `location` until feeds.yaml is updated.
    moved_to: Mapped[str | None] = mapped_column(Text)
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the server answered 410 Gone
    retry_after: Mapped[datetime | None] = mapped_column(UTCDateTime)  # no request before then
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who is polling the feed now ("host:pid:nonce") and until when at most:
    # one poll of a feed at a time, whatever the queue's server remembers.
    # What the last full read warned about (entries skipped or stored as
    # plain text), for the curator on /status.
    last_warnings: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    polled_by: Mapped[str | None] = mapped_column(String(200))
    polling_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What feeds.yaml says about reading a source beyond its URL (a Wagtail
    # field map, a cap on posts), and what its polls remember between them
    # (for a Wagtail site: the pages it lists and when each was published).
    source_options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    source_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    # The writer's wishes in force for this feed's posts: the feed's own in
    # feeds.yaml, else its author's (see aggregator.writers).
    display: Mapped[str] = mapped_column(String(10), default="full", server_default="full")  # full | excerpt | title
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # posts sorted before it are not shown
    noindex: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    license: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_feeds_next_check_at", "next_check_at"),)


class Entry(Base):
    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    # sha256 of the entry's key (guid, else link, else title and date):
    # fixed-length, so the unique index stays small whatever feeds send.
    key_hash: Mapped[str] = mapped_column(String(64))
    guid: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    author_name: Mapped[str | None] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    summary_text: Mapped[str] = mapped_column(Text)
    content_text: Mapped[str] = mapped_column(Text, default="")
    # The names of the entry's topics and of its writer, indexed for search
    # beside the title and text (see aggregator.search).
    search_terms: Mapped[str] = mapped_column(Text, default="")
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    # The feed carries only the start of the post.
    is_teaser: Mapped[bool] = mapped_column(Boolean, default=False)
    # Topics the author marked with a "cw:" or "cn:" category.
    content_notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # sha256 of the entry as parsed (before cleaning) and of how it is tagged:
    # an unchanged entry is neither cleaned nor written again.
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The time lists sort by: publication time, never later than first seen.
    sort_time: Mapped[datetime] = mapped_column(UTCDateTime)
    # The source stopped listing the post (a Wagtail page unpublished or
    # deleted): kept, shown nowhere, until it is listed again.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Taken down at the writer's request (a link under `hide:`): kept, shown
    # nowhere, and not brought back by later polls.
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Another of the writer's feeds stored this link first (a post in their
    # blog and their newsletter): shown only while no such copy is. Lists
    # look for the other copy for these entries alone.
    is_copy: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        UniqueConstraint("feed_id", "key_hash", name="uq_entries_feed_key"),
        Index("ix_entries_sort", "sort_time", "id"),
        Index("ix_entries_author_sort", "author_id", "sort_time", "id"),
        Index("ix_entries_feed_url", "feed_id", "url"),
        Index("ix_entries_last_changed", "last_changed_at"),
        # One post in two of a writer's feeds (blog and newsletter) is shown once.
        Index("ix_entries_author_url", "author_id", "url"),
        Index("ix_entries_copies", "id", sqlite_where=text("is_copy = 1"), postgresql_where=text("is_copy")),
    )


def is_mapped_schema_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Whether Alembic should compare this database object with the models.

    Full-text search lives outside them, in dialect-specific SQL of its own
    migration: SQLite's entries_fts tables, PostgreSQL's search_vector column.
    """
    return not (name or "").startswith(("entries_fts", "search_vector", "ix_entries_search"))


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(Text)


class EntryTag(Base):
    __tablename__ = "entry_tags"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_entry_tags_tag", "tag_id", "entry_id"),)


class Enclosure(Base):
    """A file an entry carries (a podcast episode, a video, a workbook), in the feed's order."""

    __tablename__ = "enclosures"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str | None] = mapped_column(String(200))
    length: Mapped[int | None] = mapped_column(BigInteger)  # bytes
    duration_seconds: Mapped[int | None] = mapped_column(Integer)


class PurgedEntry(Base):
    """The id of a post deleted at its writer's request: its page answers 410. Nothing else is kept."""

    __tablename__ = "purged_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Setting(Base):
    """Values that `aggregator sync` copies from feeds.yaml for every process.

    Workers and web processes may run where feeds.yaml is not; they read
    the site settings and tag aliases from here.
    """

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class PollCount(Base):
    """How many polls ended with one result, and what they took and stored.

    Polls run in workers, the CLI and the embedded scheduler, and the web
    app may run in several processes: counters live here, not in memory.
    """

    __tablename__ = "poll_counts"

    result: Mapped[str] = mapped_column(String(20), primary_key=True)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # the sum over those polls
    entries_new: Mapped[int] = mapped_column(Integer, default=0)
    entries_updated: Mapped[int] = mapped_column(Integer, default=0)


class PollDurationBucket(Base):
    """How many polls with one result took longer than the previous bound and at most `le_ms`."""

    __tablename__ = "poll_duration_buckets"

    result: Mapped[str] = mapped_column(String(20), primary_key=True)
    le_ms: Mapped[int] = mapped_column(Integer, primary_key=True)
    polls: Mapped[int] = mapped_column(Integer, default=0)


class SchedulerLiveness(Base):
    """When a scheduler ("embedded" or "rq") last started and last completed a round."""

    __tablename__ = "scheduler_liveness"

    scheduler: Mapped[str] = mapped_column(String(20), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_round_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    interval_seconds: Mapped[float] = mapped_column(Float)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    queue_depth: Mapped[int | None] = mapped_column(Integer)  # the RQ queue's length seen at that round
