"""Full-text search over titles and text: SQLite FTS5 or PostgreSQL's own.

The readers' words never reach the query language as syntax: on SQLite each
word becomes a quoted FTS5 string, on PostgreSQL the text goes through
websearch_to_tsquery. Snippets come back with marker characters around the
matches, and are escaped before the markers become <mark>.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup
from sqlalchemy import bindparam, func, literal_column, select, text
from sqlalchemy.orm import Session, defer

from aggregator.models import Author, Entry
from aggregator.reading import EntryView, entry_view, narrowed, tags_of, visible

MAX_QUERY_LENGTH = 200
MAX_RESULTS = 50
_START, _STOP = "\x02", "\x03"
_WORD = re.compile(r"\w[\w'’-]*", re.UNICODE)


@dataclass(frozen=True)
class SearchHit:
    entry: EntryView
    snippet: Markup  # escaped text with <mark> around the matched words


def search(
    session: Session, query: str, *, tags: Sequence[str] = (), exclude: Sequence[str] = (), limit: int = MAX_RESULTS
) -> list[SearchHit]:
    """The best matches for `query`, best first, narrowed like any list."""
    words = _WORD.findall(query[:MAX_QUERY_LENGTH])
    if not words:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = _postgres(session, query[:MAX_QUERY_LENGTH], tags, exclude, limit)
    else:
        rows = _sqlite(session, words, tags, exclude, limit)
    tags_by_entry = tags_of(session, [entry.id for entry, _, _ in rows])
    return [
        SearchHit(entry_view(entry, author, tags_by_entry.get(entry.id, ()), with_content=False), _highlight(snippet))
        for entry, author, snippet in rows
    ]


def _sqlite(session: Session, words: list[str], tags, exclude, limit: int) -> list:
    # Every word must occur; each is a quoted string, so no word is syntax.
    match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
    # Rank inside the full-text index, which is small, and read the wide entry
    # rows only for the best few; when filters drop some, widen and try again.
    window = limit * 2
    while True:
        best = session.execute(
            text(
                "SELECT rowid FROM entries_fts WHERE entries_fts MATCH :match "
                "ORDER BY bm25(entries_fts, 4.0, 1.0), rowid DESC LIMIT :window"
            ),
            {"match": match, "window": window},
        ).scalars().all()
        order = {entry_id: position for position, entry_id in enumerate(best)}
        statement = (
            visible(select(Entry, Author).join(Author, Entry.author_id == Author.id))
            .where(Entry.id.in_(best))
            .options(defer(Entry.content_html), defer(Entry.content_text))
        )
        statement = narrowed(session, statement, tags, exclude)
        if statement is None:
            return []
        rows = sorted(session.execute(statement).all(), key=lambda row: order[row[0].id])
        if len(rows) >= limit or len(best) < window:
            break
        window *= 4
    rows = rows[:limit]
    # Snippets cost more than ranking: made only for the rows shown.
    snippets = dict(
        session.execute(
            text(
                f"SELECT rowid, snippet(entries_fts, 1, '{_START}', '{_STOP}', ' … ', 28) FROM entries_fts "
                "WHERE entries_fts MATCH :match AND rowid IN (SELECT value FROM json_each(:ids))"
            ),
            {"match": match, "ids": json.dumps([entry.id for entry, _ in rows])},
        ).all()
    )
    return [(entry, author, snippets.get(entry.id)) for entry, author in rows]


def _postgres(session: Session, query: str, tags, exclude, limit: int) -> list:
    tsquery = func.websearch_to_tsquery("english", bindparam("q", query))
    vector = literal_column("entries.search_vector")
    ranked = (
        visible(
            select(Entry.id, func.ts_rank(vector, tsquery).label("rank"))
            .where(vector.op("@@")(tsquery))
        )
    )
    ranked = narrowed(session, ranked, tags, exclude)
    if ranked is None:
        return []
    ranked = ranked.order_by(literal_column("rank").desc(), Entry.sort_time.desc()).limit(limit).subquery()
    # Headlines are costly: made only for the few rows shown.
    headline = func.ts_headline(
        "english",
        Entry.content_text,
        tsquery,
        f"StartSel={_START}, StopSel={_STOP}, MaxWords=28, MinWords=12, MaxFragments=2, FragmentDelimiter=' … '",
    )
    statement = (
        select(Entry, Author, headline)
        .join(ranked, ranked.c.id == Entry.id)
        .join(Author, Entry.author_id == Author.id)
        .order_by(ranked.c.rank.desc(), Entry.sort_time.desc())
    )
    return session.execute(statement).all()


def _highlight(snippet: str | None) -> Markup:
    text_only = escape((snippet or "").strip())
    return Markup(text_only.replace(_START, "<mark>").replace(_STOP, "</mark>"))
