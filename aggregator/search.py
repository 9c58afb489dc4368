"""Full-text search over titles, texts, topics and writers' names.

SQLite (FTS5) and PostgreSQL (tsvector) must give the same posts for the same
query, so the reader's query is parsed once, here, into a small query of our
own, and rendered for each: an FTS5 MATCH expression, or to_tsquery text. The
readers' words never reach either query language as syntax: each is a run of
letters and digits, quoted.

What a query means, on both:
- words are ANDed; `OR` (in capitals) between two of them gives either;
- `"a phrase"` wants its words in that order; a hyphenated or apostrophised
  word (`self-care`, `men's`) is a phrase of its parts;
- a trailing `*` makes the last word a prefix (`therap*`);
- words are stemmed (`heals` finds `healing`), whatever their case and accents;
- very common words (the English stop words) and single letters are left
  out of the query, except inside a phrase; a query of nothing else is
  `empty`, which the page says.
Both databases index words alike: PostgreSQL uses the `reading_room` text
search configuration (migration 0009), which folds accents, stems with the
original Porter algorithm as FTS5's `porter` does, and keeps stop words as
FTS5 does. Left, and rare: PostgreSQL's parser keeps addresses, e-mails and
numbers with signs or dots (`example.com`, `3.5`) whole, where FTS5 splits them
into words; the two Porter stemmers differ on a few words (`us`, `psychology`);
and a phrase may run from a title into its text on PostgreSQL only.

Snippets come back with marker characters around the matches, and are
escaped before the markers become <mark>.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup
from sqlalchemy import bindparam, func, literal_column, select, text
from sqlalchemy.orm import Session, defer

from aggregator.models import Author, Entry, Feed
from aggregator.reading import WISH_COLUMNS, EntryView, enclosures_of, entry_view, narrowed, tags_of, visible

MAX_QUERY_LENGTH = 200
MAX_RESULTS = 50
_START, _STOP = "\x02", "\x03"
_CONFIGURATION = "reading_room"  # PostgreSQL's text search configuration (migration 0009)
# A quoted phrase (the closing quote may be missing) or a bare chunk.
_CHUNK = re.compile(r'"(?P<phrase>[^"]*)"?(?P<star>\*?)|(?P<bare>[^\s"]+)')
_WORD = re.compile(r"[^\W_]+")
# PostgreSQL's English stop words (Snowball's list): nearly every post holds
# them, so they narrow nothing.
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is are
    was were be been being have has had having do does did doing a an the and but if or because as until while of
    at by for with about against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each few more most other
    some such no nor not only own same so than too very s t can will just don should now""".split()
)


@dataclass(frozen=True)
class Phrase:
    """Words that must appear in this order (often just one); the last may be a prefix."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """Every group must match a post; any one phrase of a group will do."""

    groups: tuple[tuple[Phrase, ...], ...]

    @property
    def empty(self) -> bool:
        """Nothing left to look for: the query held only common words, single letters or signs."""
        return not self.groups


@dataclass(frozen=True)
class SearchHit:
    entry: EntryView
    snippet: Markup  # escaped text with <mark> around the matched words


def parse_query(query: str) -> SearchQuery:
    """Read a reader's query: words, `OR`, `"phrases"`, a trailing `*`."""
    groups: list[list[Phrase]] = []
    joining = False  # the chunk before was OR, and there is something to join
    for chunk in _CHUNK.finditer(unicodedata.normalize("NFKC", query[:MAX_QUERY_LENGTH])):
        if chunk["bare"] == "OR":
            joining = bool(groups)
            continue
        source = chunk["bare"] if chunk["phrase"] is None else chunk["phrase"]
        prefix = bool(chunk["star"]) if chunk["phrase"] is not None else source.endswith("*")
        phrase = _phrase(_WORD.findall(source.lower()), prefix)
        if phrase is not None:
            if joining:
                groups[-1].append(phrase)
            else:
                groups.append([phrase])
        # A left-out word takes its OR with it, as PostgreSQL's own parser does.
        joining = False
    return SearchQuery(tuple(tuple(dict.fromkeys(group)) for group in groups))


def _phrase(words: list[str], prefix: bool) -> Phrase | None:
    # Common words and single letters at either end are left out; inside a
    # phrase they stay, holding the other words apart.
    if words and _left_out(words[-1]):
        prefix = False  # the prefix of a common word matches nearly every post
    while words and _left_out(words[-1]):
        words.pop()
    while words and _left_out(words[0]):
        words.pop(0)
    return Phrase(tuple(words), prefix) if words else None


def _left_out(word: str) -> bool:
    return word in STOP_WORDS or (len(word) == 1 and word.isalpha())


def search(
    session: Session, query: str, *, tags: Sequence[str] = (), exclude: Sequence[str] = (), limit: int = MAX_RESULTS
) -> list[SearchHit]:
    """The best matches for `query`, best first, narrowed like any list."""
    parsed = parse_query(query)
    if parsed.empty:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = _postgres(session, tsquery_text(parsed), tags, exclude, limit)
    else:
        rows = _sqlite(session, fts5_match(parsed), tags, exclude, limit)
    ids = [row[0].id for row in rows]
    tags_by_entry, enclosures = tags_of(session, ids), enclosures_of(session, ids)
    hits = []
    for entry, author, snippet, *wishes in rows:
        view = entry_view(entry, author, tags_by_entry.get(entry.id, ()), False, enclosures.get(entry.id, ()), wishes)
        # A writer who shares titles only has no words of theirs quoted.
        hits.append(SearchHit(view, _highlight(snippet if view.display != "title" else "")))
    return hits


def fts5_match(query: SearchQuery) -> str:
    """The query as an FTS5 MATCH expression; every word a quoted string."""

    def phrase(p: Phrase) -> str:
        return '"' + " ".join(p.words) + '"' + (" *" if p.prefix else "")

    return " AND ".join("(" + " OR ".join(map(phrase, group)) + ")" for group in query.groups)


def tsquery_text(query: SearchQuery) -> str:
    """The query as to_tsquery text; every word a quoted lexeme."""

    def phrase(p: Phrase) -> str:
        lexemes = [f"'{word}'" for word in p.words]  # words hold no quote: letters and digits only
        if p.prefix:
            lexemes[-1] += ":*"
        return " <-> ".join(lexemes)

    return " & ".join("(" + " | ".join(map(phrase, group)) + ")" for group in query.groups)


def _sqlite(session: Session, match: str, tags, exclude, limit: int) -> list:
    # Rank inside the full-text index, which is small, and read the wide entry
    # rows only for the best few; when filters drop some, widen and try again.
    window = limit * 2
    while True:
        best = session.execute(
            text(
                "SELECT rowid FROM entries_fts WHERE entries_fts MATCH :match "
                "ORDER BY bm25(entries_fts, 4.0, 1.0, 2.0), rowid DESC LIMIT :window"
            ),
            {"match": match, "window": window},
        ).scalars().all()
        order = {entry_id: position for position, entry_id in enumerate(best)}
        statement = (
            visible(select(Entry, Author, *WISH_COLUMNS).join(Author, Entry.author_id == Author.id))
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
            {"match": match, "ids": json.dumps([row[0].id for row in rows])},
        ).all()
    )
    return [(entry, author, snippets.get(entry.id), *wishes) for entry, author, *wishes in rows]


def _postgres(session: Session, query: str, tags, exclude, limit: int) -> list:
    tsquery = func.to_tsquery(_CONFIGURATION, bindparam("q", query))
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
        _CONFIGURATION,
        Entry.content_text,
        tsquery,
        f"StartSel={_START}, StopSel={_STOP}, MaxWords=28, MinWords=12, MaxFragments=2, FragmentDelimiter=' … '",
    )
    statement = (
        select(Entry, Author, headline, *WISH_COLUMNS)
        .join(ranked, ranked.c.id == Entry.id)
        .join(Author, Entry.author_id == Author.id)
        .join(Feed, Entry.feed_id == Feed.id)
        .order_by(ranked.c.rank.desc(), Entry.sort_time.desc())
    )
    return session.execute(statement).all()


def _highlight(snippet: str | None) -> Markup:
    text_only = escape((snippet or "").strip())
    return Markup(text_only.replace(_START, "<mark>").replace(_STOP, "</mark>"))
