"""Writers as people, and each writer's wishes: from feeds.yaml to the database.

A writer's profile (pronouns, credentials, modalities, populations,
location) and wishes (display, since, noindex, license) are copied to their
author row as feeds.yaml gives them; each feed row gets the wishes in force
for its posts (the feed's own value, else its author's), so that every list
reads them from the feed it already joins (see aggregator.reading.visible).

The posts a writer asked to take down (`hide:`, by link) are marked hidden
here, and brought back when their link leaves the list; a poll marks a new
post hidden as it stores it (aggregator.store), so no later poll brings one
back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, aliased

from aggregator.models import Author, Entry, Feed

if TYPE_CHECKING:  # the poll's store imports this module, and config imports the store
    from aggregator.config import AuthorConfig, Config, Wishes

_CHUNK = 500


@dataclass
class WritersPlan:
    """What syncing the writers' profiles and wishes would change, found without writing."""

    authors: dict[int, dict[str, Any]] = field(default_factory=dict)  # author id -> new values
    feeds: dict[int, dict[str, Any]] = field(default_factory=dict)  # feed id -> new values
    hide: dict[int, frozenset[str]] = field(default_factory=dict)  # author id -> links to take down (all forms)
    lines: list[str] = field(default_factory=list)  # for the sync report
    taken_down: int = 0  # stored posts that would leave the pages
    brought_back: int = 0  # hidden posts whose link left `hide:`


def sync_writers(session: Session, config: Config, now: datetime) -> list[str]:
    """Copy profiles and wishes of the listed writers and their feeds, and apply `hide:`.

    Called by aggregator.sync after the authors and feeds exist; returns
    lines for its report ("author jane-doe (pronouns, display)").
    """
    plan = plan_writers(session, config, added_at=now)
    apply_writers(session, plan, now)
    # A feed moved to a writer, or a writer's new feed, may carry links stored before.
    several = [author.id for author in _in_chunks(session, Author, Author.slug, [a.slug for a in config.authors if len(a.feeds) > 1])]
    mark_copies(session, Entry.author_id.in_(several))
    return plan.lines


def plan_writers(session: Session, config: Config, added_at: datetime | None = None) -> WritersPlan:
    """What to change; rows created at `added_at` (by this sync) change without a line in the report."""
    plan = WritersPlan()
    slugs = [author.slug for author in config.authors]
    stored_authors = {author.slug: author for author in _in_chunks(session, Author, Author.slug, slugs)}
    sources = [feed.source for _, feed in config.feeds]
    stored_feeds = {feed.source: feed for feed in _in_chunks(session, Feed, Feed.source, sources)}
    hidden = _hidden_links(session)
    for author_config in config.authors:
        author = stored_authors.get(author_config.slug)
        if author is None:
            continue  # not synced yet (a dry run): nothing to compare with
        wanted = author_values(author_config)
        changed = _differences(author, wanted)
        if changed:
            plan.authors[author.id] = {key: wanted[key] for key in changed}
        links = link_forms(author_config.hide)
        down = _count_shown(session, author.id, links)
        back = sum(1 for link in hidden.get(author.id, ()) if link not in links)
        if down or back:
            plan.hide[author.id] = links
        plan.taken_down += down
        plan.brought_back += back
        notes = changed + [f"{n} post{'s' if n != 1 else ''} {what}" for n, what in ((down, "taken down"), (back, "shown again")) if n]
        if notes and author.created_at != added_at:
            plan.lines.append(f"author {author.slug} ({', '.join(notes)})")
        for feed_config in author_config.feeds:
            feed = stored_feeds.get(feed_config.source)
            if feed is None:
                continue
            wanted_feed = feed_values(author_config.wishes_for(feed_config))
            feed_changed = _differences(feed, wanted_feed)
            if feed_changed:
                plan.feeds[feed.id] = {key: wanted_feed[key] for key in feed_changed}
                if feed.created_at != added_at:
                    plan.lines.append(f"feed {feed.source} ({', '.join(feed_changed)})")
    return plan


def apply_writers(session: Session, plan: WritersPlan, now: datetime) -> None:
    for author_id, values in plan.authors.items():
        session.execute(update(Author).where(Author.id == author_id).values(**values))
    for feed_id, values in plan.feeds.items():
        session.execute(update(Feed).where(Feed.id == feed_id).values(**values))
    for author_id, links in plan.hide.items():
        if links:
            session.execute(
                update(Entry)
                .where(Entry.author_id == author_id, Entry.hidden_at.is_(None), Entry.url.in_(sorted(links)))
                .values(hidden_at=now)
                .execution_options(synchronize_session=False)
            )
        back = [Entry.url.not_in(sorted(links))] if links else []
        session.execute(
            update(Entry)
            .where(Entry.author_id == author_id, Entry.hidden_at.is_not(None), *back)
            .values(hidden_at=None)
            .execution_options(synchronize_session=False)
        )


def author_values(author: AuthorConfig) -> dict[str, Any]:
    """The author row's profile and wishes columns, as feeds.yaml gives them (JSON lists, as stored)."""
    return {
        "pronouns": author.pronouns,
        "credentials": list(author.credentials),
        "modalities": list(author.modalities),
        "populations": list(author.populations),
        "location": author.location,
        "display": author.wishes.display,
        "since": start_of(author.wishes.since),
        "noindex": bool(author.wishes.noindex),
        "license": author.wishes.license,
        "hide": list(author.hide),
    }


def feed_values(wishes: Wishes) -> dict[str, Any]:
    """A feed row's wishes in force: full text, no date limit, indexed, no license unless asked."""
    return {
        "display": wishes.display or "full",
        "since": start_of(wishes.since),
        "noindex": bool(wishes.noindex),
        "license": wishes.license,
    }


def start_of(day: date | None) -> datetime | None:
    """The first moment of `day`, in UTC (posts sort by UTC time)."""
    return datetime.combine(day, time(), tzinfo=UTC) if day else None


def link_forms(links: Iterable[str]) -> frozenset[str]:
    """Every form of the links a curator listed that a feed may give for the same post.

    A link copied from a browser may differ from the feed's by a trailing
    slash, or by the case of its scheme and host.
    """
    forms = set()
    for link in links:
        scheme, _, rest = link.partition("://")
        host, slash, path = rest.partition("/")
        base = f"{scheme.lower()}://{host.lower()}{slash}{path}"
        for form in (link, base):
            forms.add(form)
            forms.add(form[:-1] if form.endswith("/") and path else form + "/")
    return frozenset(forms)


def taken_down_links(session: Session, author_id: int) -> frozenset[str]:
    """The links (every form) of posts the writer asked to take down; what a poll must not show again."""
    return link_forms(session.scalar(select(Author.hide).where(Author.id == author_id)) or ())


def _hidden_links(session: Session) -> dict[int, list[str | None]]:
    """The links of every hidden post, by writer."""
    hidden: dict[int, list[str | None]] = defaultdict(list)
    for author_id, url in session.execute(select(Entry.author_id, Entry.url).where(Entry.hidden_at.is_not(None))):
        hidden[author_id].append(url)
    return hidden


def _count_shown(session: Session, author_id: int, links: frozenset[str]) -> int:
    """How many of the writer's posts at `links` are not hidden yet."""
    if not links:
        return 0
    return session.scalar(
        select(func.count(Entry.id)).where(Entry.author_id == author_id, Entry.hidden_at.is_(None), Entry.url.in_(sorted(links)))
    ) or 0


def _differences(row: Any, wanted: dict[str, Any]) -> list[str]:
    return [key for key, value in wanted.items() if getattr(row, key) != value]


def _in_chunks(session: Session, model: Any, column: Any, values: list[str]) -> list[Any]:
    found = []
    for start in range(0, len(values), _CHUNK):
        found += session.scalars(select(model).where(column.in_(values[start : start + _CHUNK]))).all()
    return found


def keep_wishes(session: Session, author_id: int, entry_ids: list[int], now: datetime) -> None:
    """Mark the entries a poll just wrote: hidden if the writer took their link down (no poll shows
    one again), a copy if another of the writer's feeds stored their link first."""
    if not entry_ids:
        return
    for start in range(0, len(entry_ids), _CHUNK):
        mark_copies(session, Entry.id.in_(entry_ids[start : start + _CHUNK]))
    links = taken_down_links(session, author_id)
    if not links:
        return
    for start in range(0, len(entry_ids), _CHUNK):
        session.execute(
            update(Entry)
            .where(Entry.id.in_(entry_ids[start : start + _CHUNK]), Entry.hidden_at.is_(None), Entry.url.in_(sorted(links)))
            .values(hidden_at=now)
            .execution_options(synchronize_session=False)
        )


def mark_copies(session: Session, which: Any) -> None:
    """Mark as a copy each entry among `which` whose link another of its writer's feeds stored first."""
    twin = aliased(Entry, name="twin")
    earlier = exists(
        select(twin.id).where(
            twin.author_id == Entry.author_id, twin.url == Entry.url, twin.id < Entry.id, twin.feed_id != Entry.feed_id
        )
    )
    session.execute(
        update(Entry)
        .where(which, Entry.is_copy.is_(False), Entry.url.is_not(None), earlier)
        .values(is_copy=True)
        .execution_options(synchronize_session=False)
    )
