"""Delete a writer's stored posts when they withdraw their consent.

Not hiding: the posts, their topics, their files and their search rows go
(SQLite's entries_fts follows the entries table through its triggers;
PostgreSQL's search vector is a column of the row). Only the ids of the
posts are kept, in purged_entries, so that their pages answer 410 Gone and
no later post takes one of them over. The writer's author and feed rows stay:
feeds.yaml decides whether they are listed, and sync retires them when not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from aggregator.models import Author, Enclosure, Entry, EntryTag, PurgedEntry

_CHUNK = 500


@dataclass(frozen=True)
class PurgeTarget:
    author_id: int
    slug: str
    name: str
    posts: int  # stored posts, shown or not
    listed: bool  # still in feeds.yaml at the last sync: its feeds would bring the posts back


def purge_target(session: Session, slug: str) -> PurgeTarget | None:
    """The writer `slug` (listed or retired) and how many posts a purge would delete; None if never stored."""
    author = session.scalar(select(Author).where(Author.slug == slug))
    if author is None:
        return None
    posts = session.scalar(select(func.count(Entry.id)).where(Entry.author_id == author.id)) or 0
    return PurgeTarget(author.id, author.slug, author.name, posts, author.retired_at is None)


def purge_author(session: Session, author_id: int, now: datetime) -> int:
    """Delete every stored post of the writer, with its topics links, files and search rows; return how many."""
    ids = list(session.scalars(select(Entry.id).where(Entry.author_id == author_id).order_by(Entry.id)))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        session.execute(insert(PurgedEntry), [{"id": entry_id, "purged_at": now} for entry_id in chunk])
        session.execute(delete(EntryTag).where(EntryTag.entry_id.in_(chunk)))
        session.execute(delete(Enclosure).where(Enclosure.entry_id.in_(chunk)))
        session.execute(delete(Entry).where(Entry.id.in_(chunk)).execution_options(synchronize_session=False))
    return len(ids)


def unused_entry_id(session: Session) -> dict[str, Any]:
    """Insert values that keep a new entry off the id of a purged one.

    PostgreSQL's sequence never gives an id twice. SQLite gives the largest
    id plus one, so once the newest posts are purged their ids would come
    back; the new entry takes the next id past both tables instead.
    """
    if session.get_bind().dialect.name != "sqlite":
        return {}
    newest = select(func.coalesce(func.max(Entry.id), 0)).scalar_subquery()
    purged = select(func.coalesce(func.max(PurgedEntry.id), 0)).scalar_subquery()
    return {"id": func.max(newest, purged) + 1}
