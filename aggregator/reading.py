"""Read what the site shows: lists of entries, authors, tags. No writes.

Lists page with a cursor (sort time and id of the last item shown), never
OFFSET, so page 500 costs what page 1 costs. Tags of a whole page come in
one query. Entries of retired feeds are kept but never shown.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, defer

from aggregator.models import Author, Enclosure, Entry, EntryTag, Feed, PurgedEntry, Tag
from aggregator.tagging import tag_slug
from aggregator.settings import load_settings

PAGE_SIZE = 30
_TITLES = {"dr", "mr", "mrs", "ms", "mx", "prof", "rev"}
WORDS_PER_MINUTE = 230
MAX_ID = 2**31 - 1
_CURSOR = re.compile(r"^(\d{20})-(\d{1,18})$", re.ASCII)


@dataclass(frozen=True)
class TagView:
    slug: str
    name: str


@dataclass(frozen=True)
class AuthorView:
    id: int
    slug: str
    name: str
    bio: str
    homepage: str | None
    avatar: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    pronouns: str | None = None
    credentials: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    populations: tuple[str, ...] = ()
    location: str | None = None
    noindex: bool = False  # the writer's own wish; a feed of theirs may ask it too

    @property
    def modality_links(self) -> tuple[tuple[str, str], ...]:
        """(slug, name) of each modality: /authors?modality=<slug> lists the writers who practise it."""
        return tuple((slug, name) for name in self.modalities if (slug := tag_slug(name)))

    @property
    def initials(self) -> str:
        """"Dr. Maren Holloway, LMFT" gives "MH": titles and letters after the comma left out."""
        words = [w for w in self.name.split(",")[0].split() if w.rstrip(".").lower() not in _TITLES]
        letters = [w[0] for w in words if w[:1].isalpha()]
        return ("".join(letters[:1] + letters[-1:]) if len(letters) > 1 else "".join(letters)).upper() or "?"


@dataclass(frozen=True)
class EnclosureView:
    url: str
    media_type: str | None
    length: int | None
    duration_seconds: int | None

    @property
    def kind(self) -> str:
        """"audio" or "video" (shown as a player), else "file" (a download link)."""
        family = (self.media_type or "").split("/")[0]
        return family if family in ("audio", "video") else "file"

    @property
    def size(self) -> str | None:
        """The length in a reader's words: "23.8 MB", "240 kB"."""
        if not self.length:
            return None
        amount, unit = float(self.length), "bytes"
        for larger in ("kB", "MB", "GB", "TB"):
            if amount < 1000:
                break
            amount, unit = amount / 1000, larger
        return f"{self.length} bytes" if unit == "bytes" else f"{amount:.3g} {unit}" if amount < 100 else f"{amount:.0f} {unit}"

    @property
    def name(self) -> str:
        """The file's name, from the last part of its URL's path."""
        return unquote(urlsplit(self.url).path.rstrip("/").rsplit("/", 1)[-1]) or "the file"

    @property
    def duration(self) -> str | None:
        """"1:02:03" or "12:34"."""
        if not self.duration_seconds:
            return None
        hours, rest = divmod(self.duration_seconds, 3600)
        return f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"


@dataclass(frozen=True)
class EntryView:
    id: int
    title: str
    url: str | None
    summary_text: str
    sort_time: datetime
    published_at: datetime | None
    updated_at: datetime | None
    author: AuthorView
    author_name: str | None
    tags: tuple[TagView, ...]
    guid: str | None = None
    content_html: str = ""
    word_count: int = 0
    is_teaser: bool = False
    declared_notes: tuple[str, ...] = ()  # tag slugs the author marked "cw:"
    enclosures: tuple[EnclosureView, ...] = ()
    # The writer's wishes for this post (from its feed): how much of it is
    # shown here and in output feeds, whether search engines may index its
    # page, and the license line shown with it.
    display: str = "full"
    noindex: bool = False
    license: str | None = None

    @property
    def reading_minutes(self) -> int:
        return max(1, round(self.word_count / WORDS_PER_MINUTE))


@dataclass(frozen=True)
class EntryPage:
    entries: list[EntryView]
    next_cursor: str | None


@dataclass(frozen=True)
class Cursor:
    sort_time: datetime
    id: int

    def encode(self) -> str:
        return f"{self.sort_time.astimezone(UTC):%Y%m%d%H%M%S%f}-{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """Return the cursor in `text`, or None for a missing or malformed one
        (an id past what the id column holds is malformed: no entry has it,
        and PostgreSQL refuses to compare its integer column with it)."""
        match = _CURSOR.match(text or "")
        if not match or int(match.group(2)) > MAX_ID:
            return None
        try:
            moment = datetime.strptime(match.group(1), "%Y%m%d%H%M%S%f").replace(tzinfo=UTC)
        except ValueError:
            return None
        return cls(moment, int(match.group(2)))


# The writer's wishes for a post, read from the feed row every list joins.
WISH_COLUMNS = (Feed.display, Feed.noindex, Feed.license)


def visible(statement: Select, *, whole: bool = False) -> Select:
    """Narrow a statement over entries to those the site shows.

    Those of feeds still listed, that their source still lists, that their
    writer did not take down (`hide:`) nor date before what they share
    (`since:`), and each post once: of one writer's copies of a link (a post
    in their blog and their newsletter), the first stored that is shown.
    `whole`: the statement reads every entry (a count), not a page of them.
    """
    return statement.join(Feed, Entry.feed_id == Feed.id).where(shown(whole=whole))


def shown(*, whole: bool = False):
    """The condition of `visible`, over Entry and its joined Feed.

    Only entries marked as a copy (see aggregator.writers.mark_copies) are
    looked for in another feed: a page looks for each of its few copies
    alone, a count for all of them at once.
    """
    if whole:
        return and_(_shown_alone(Entry, Feed), Entry.id.not_in(_copies_of_shown_posts()))
    return and_(_shown_alone(Entry, Feed), or_(Entry.is_copy.is_(False), ~_earlier_copy_shown()))


def not_shown():
    """The negation of `shown`, written out so that each part can use what the database knows of it."""
    return or_(
        Feed.retired_at.is_not(None),
        Entry.withdrawn_at.is_not(None),
        Entry.hidden_at.is_not(None),
        and_(Feed.since.is_not(None), Entry.sort_time < Feed.since),
        Entry.id.in_(_copies_of_shown_posts()),
    )


def _shown_alone(entry, feed):
    return and_(
        feed.retired_at.is_(None),
        entry.withdrawn_at.is_(None),
        entry.hidden_at.is_(None),
        or_(feed.since.is_(None), entry.sort_time >= feed.since),
    )


def _earlier_copy_shown():
    """A condition: another of the writer's feeds shows this entry's link, in an entry stored earlier."""
    twin, twin_feed = aliased(Entry, name="twin"), aliased(Feed, name="twin_feed")
    return exists(
        select(twin.id)
        .join(twin_feed, twin.feed_id == twin_feed.id)
        .where(
            twin.author_id == Entry.author_id,
            twin.url == Entry.url,
            twin.id < Entry.id,
            twin.feed_id != Entry.feed_id,
            _shown_alone(twin, twin_feed),
        )
    )


def _copies_of_shown_posts() -> Select:
    """The ids of entries whose link another of the writer's feeds shows in an entry stored earlier."""
    copy, twin, twin_feed = aliased(Entry, name="copy"), aliased(Entry, name="twin"), aliased(Feed, name="twin_feed")
    same_post = and_(twin.author_id == copy.author_id, twin.url == copy.url, twin.id < copy.id, twin.feed_id != copy.feed_id)
    return (
        select(copy.id)
        .join(twin, same_post)
        .join(twin_feed, twin.feed_id == twin_feed.id)
        .where(copy.is_copy, _shown_alone(twin, twin_feed))
    )


def list_entries(
    session: Session,
    *,
    tags: Sequence[str] = (),
    exclude: Sequence[str] = (),
    author_id: int | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
    with_content: bool = False,
) -> EntryPage:
    """Newest entries first, narrowed to those with every tag in `tags`."""
    statement = narrowed(session, visible(select(Entry, Author, *WISH_COLUMNS).join(Author, Entry.author_id == Author.id)), tags, exclude)
    if statement is None:
        return EntryPage([], None)
    if author_id is not None:
        statement = statement.where(Entry.author_id == author_id)
    if before is not None:
        statement = statement.where(_beyond(before))
    if not with_content:
        statement = statement.options(defer(Entry.content_html), defer(Entry.content_text))
    else:
        statement = statement.options(defer(Entry.content_text))
    statement = statement.order_by(Entry.sort_time.desc(), Entry.id.desc()).limit(limit + 1)
    rows = session.execute(statement).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    tags_by_entry = tags_of(session, [row[0].id for row in rows])
    files = enclosures_of(session, [row[0].id for row in rows])
    views = [
        entry_view(entry, author, tags_by_entry.get(entry.id, ()), with_content, files.get(entry.id, ()), wishes)
        for entry, author, *wishes in rows
    ]
    next_cursor = Cursor(views[-1].sort_time, views[-1].id).encode() if has_more and views else None
    return EntryPage(views, next_cursor)


def get_entry(session: Session, entry_id: int) -> EntryView | None:
    if not 0 < entry_id <= MAX_ID:
        return None  # beyond what the id column holds: no such entry
    row = session.execute(
        visible(select(Entry, Author, *WISH_COLUMNS).join(Author, Entry.author_id == Author.id)).where(Entry.id == entry_id)
    ).first()
    if row is None:
        return None
    entry, author, *wishes = row
    tags = tags_of(session, [entry.id]).get(entry.id, ())
    files = enclosures_of(session, [entry.id]).get(entry.id, ())
    return entry_view(entry, author, tags, with_content=True, enclosures=files, wishes=wishes)


def unshown_entry(session: Session, entry_id: int) -> str | int | None:
    """Why a stored (or purged) post is not shown, for its page: "purged", "hidden",
    "before since", or the id of the copy of it that is shown; None when none of these."""
    if not 0 < entry_id <= MAX_ID:
        return None
    if session.get(PurgedEntry, entry_id) is not None:
        return "purged"
    row = session.execute(
        select(Entry.hidden_at, Entry.sort_time, Entry.url, Entry.author_id, Feed.since)
        .join(Feed, Entry.feed_id == Feed.id)
        .where(Entry.id == entry_id)
    ).first()
    if row is None:
        return None
    if row.hidden_at is not None:
        return "hidden"
    if row.since is not None and row.sort_time < row.since:
        return "before since"
    if row.url is None:
        return None
    return session.scalar(
        visible(select(Entry.id)).where(Entry.author_id == row.author_id, Entry.url == row.url).order_by(Entry.id).limit(1)
    )


def retired_entry(session: Session, entry_id: int) -> tuple[str, str | None, bool] | None:
    """The title and original link of a stored post whose feed left feeds.yaml, or that its
    source withdrew (then the last item is True); None for any other id."""
    if not 0 < entry_id <= MAX_ID:
        return None
    row = session.execute(
        select(Entry.title, Entry.url, Feed.retired_at.is_(None).label("withdrawn"))
        .join(Feed, Entry.feed_id == Feed.id)
        .where(Entry.id == entry_id, or_(Feed.retired_at.is_not(None), Entry.withdrawn_at.is_not(None)))
    ).first()
    return (row.title, row.url, bool(row.withdrawn)) if row else None


def get_author(session: Session, slug: str) -> AuthorView | None:
    author = session.scalar(select(Author).where(Author.slug == slug, Author.retired_at.is_(None)))
    return _author_view(author) if author else None


def list_authors(session: Session) -> list[tuple[AuthorView, int, datetime | None]]:
    """Every listed author with their number of entries and latest entry time."""
    counts = (
        visible(select(Entry.author_id, func.count(Entry.id).label("n"), func.max(Entry.sort_time).label("latest")), whole=True)
        .group_by(Entry.author_id)
        .subquery()
    )
    rows = session.execute(
        select(Author, counts.c.n, counts.c.latest)
        .outerjoin(counts, counts.c.author_id == Author.id)
        .where(Author.retired_at.is_(None))
        .order_by(Author.name)
    ).all()
    return [(_author_view(author), n or 0, latest) for author, n, latest in rows]


def author_feeds(session: Session, author_id: int) -> list[Feed]:
    return list(
        session.scalars(select(Feed).where(Feed.author_id == author_id, Feed.retired_at.is_(None)).order_by(Feed.id))
    )


def get_tag(session: Session, slug: str) -> TagView | None:
    tag = session.scalar(select(Tag).where(Tag.slug == slug))
    curated = load_settings(session).shown_tags  # with topics_only, a category that is no topic has no page
    return TagView(tag.slug, tag.name) if tag and (curated is None or tag.slug in curated) else None


def get_tags(session: Session, slugs: Sequence[str]) -> list[TagView]:
    """The tags among `slugs` that exist, in the order given."""
    if not slugs:
        return []
    found = {tag.slug: TagView(tag.slug, tag.name) for tag in session.scalars(select(Tag).where(Tag.slug.in_(slugs)))}
    curated = load_settings(session).shown_tags
    return [found[slug] for slug in dict.fromkeys(slugs) if slug in found and (curated is None or slug in curated)]


def tag_counts(session: Session, author_id: int | None = None) -> list[tuple[TagView, int]]:
    """Tags with the number of visible entries that carry them, most used first."""
    if author_id is not None:
        statement = visible(
            select(EntryTag.tag_id, func.count().label("n"))
            .join(Entry, Entry.id == EntryTag.entry_id)
            .where(Entry.author_id == author_id),
            whole=True,
        ).group_by(EntryTag.tag_id)
        counts = dict(session.execute(statement).all())
    else:
        # Counting every tagging reads one small index; the entries not shown
        # (of retired feeds, withdrawn, taken down, copies: usually few) are then taken off. Joining each tagging to its
        # wide entry row instead costs a hundred times more at 100,000 entries.
        counts = dict(session.execute(select(EntryTag.tag_id, func.count()).group_by(EntryTag.tag_id)).all())
        hidden = session.execute(
            select(EntryTag.tag_id, func.count())
            .join(Entry, Entry.id == EntryTag.entry_id)
            .join(Feed, Entry.feed_id == Feed.id)
            .where(not_shown())
            .group_by(EntryTag.tag_id)
        )
        for tag_id, n in hidden:
            counts[tag_id] -= n
    names = {tag.id: tag for tag in session.scalars(select(Tag).where(Tag.id.in_([i for i, n in counts.items() if n > 0])))}
    curated = load_settings(session).shown_tags
    views = [
        (TagView(names[i].slug, names[i].name), n)
        for i, n in counts.items()
        if n > 0 and i in names and (curated is None or names[i].slug in curated)
    ]
    return sorted(views, key=lambda pair: (-pair[1], pair[0].slug))


def site_counts(session: Session) -> dict[str, int]:
    """Listed authors, active feeds and visible entries, in one query."""
    authors = select(func.count(Author.id)).where(Author.retired_at.is_(None)).scalar_subquery()
    feeds = select(func.count(Feed.id)).where(Feed.retired_at.is_(None)).scalar_subquery()
    entries = visible(select(func.count(Entry.id)), whole=True).scalar_subquery()
    row = session.execute(select(authors, feeds, entries)).one()
    return {"authors": row[0] or 0, "feeds": row[1] or 0, "entries": row[2] or 0}


def has_tag(tag_id: int):
    """A condition: the entry carries the tag `tag_id`.

    By id, not slug: the database's statistics on entry_tags.tag_id let the
    planner see a common tag as common and walk the time index (PostgreSQL
    picked a plan a hundred times slower for the slug).
    """
    return exists(select(EntryTag.entry_id).where(EntryTag.entry_id == Entry.id, EntryTag.tag_id == tag_id))


def narrowed(session: Session, statement: Select, tags: Sequence[str], exclude: Sequence[str]) -> Select | None:
    """`statement` (over entries) kept to entries with every tag in `tags`
    and none in `exclude`; None when a wanted tag does not exist at all."""
    wanted = list(dict.fromkeys([*tags, *exclude]))
    ids = dict(session.execute(select(Tag.slug, Tag.id).where(Tag.slug.in_(wanted))).all()) if wanted else {}
    for slug in dict.fromkeys(tags):
        if slug not in ids:
            return None
        statement = statement.where(has_tag(ids[slug]))
    for slug in dict.fromkeys(exclude):
        if slug in ids:
            statement = statement.where(~has_tag(ids[slug]))
    return statement


def tags_of(session: Session, entry_ids: list[int]) -> dict[int, tuple[TagView, ...]]:
    """The tags of many entries in one query."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(EntryTag.entry_id, Tag.slug, Tag.name)
        .join(Tag, Tag.id == EntryTag.tag_id)
        .where(EntryTag.entry_id.in_(entry_ids))
        .order_by(Tag.slug)
    )
    found: dict[int, list[TagView]] = defaultdict(list)
    curated = load_settings(session).shown_tags
    for entry_id, slug, name in rows:
        if curated is None or slug in curated:
            found[entry_id].append(TagView(slug, name))
    return {entry_id: tuple(tags) for entry_id, tags in found.items()}


def enclosures_of(session: Session, entry_ids: list[int]) -> dict[int, tuple[EnclosureView, ...]]:
    """The enclosures of many entries in one query, each entry's in the feed's order."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(Enclosure.entry_id, Enclosure.url, Enclosure.media_type, Enclosure.length, Enclosure.duration_seconds)
        .where(Enclosure.entry_id.in_(entry_ids))
        .order_by(Enclosure.entry_id, Enclosure.position)
    )
    found: dict[int, list[EnclosureView]] = defaultdict(list)
    for entry_id, *fields in rows:
        found[entry_id].append(EnclosureView(*fields))
    return {entry_id: tuple(files) for entry_id, files in found.items()}


def _author_view(author: Author) -> AuthorView:
    links = tuple((label, url) for label, url in (author.links or []))
    return AuthorView(
        author.id, author.slug, author.name, author.bio or "", author.homepage, author.avatar, links,
        pronouns=author.pronouns, credentials=tuple(author.credentials or ()), modalities=tuple(author.modalities or ()),
        populations=tuple(author.populations or ()), location=author.location, noindex=bool(author.noindex),
    )  # fmt: skip


def entry_view(
    entry: Entry,
    author: Author,
    tags: tuple[TagView, ...],
    with_content: bool,
    enclosures: tuple[EnclosureView, ...] = (),
    wishes: Sequence = (),
) -> EntryView:
    """The post as the site shows it; `wishes` are its feed's WISH_COLUMNS (display, noindex, license).

    A writer who asked for excerpts or titles only has the rest left out
    here, so that no page or output feed can show it.
    """
    display, noindex, license = wishes or ("full", False, None)
    return EntryView(
        id=entry.id,
        title=entry.title,
        url=entry.url,
        summary_text=entry.summary_text if display != "title" else "",
        sort_time=entry.sort_time,
        published_at=entry.published_at,
        updated_at=entry.updated_at,
        author=_author_view(author),
        author_name=entry.author_name,
        tags=tags,
        guid=entry.guid,
        content_html=entry.content_html if with_content and display == "full" else "",
        word_count=entry.word_count,
        is_teaser=entry.is_teaser,
        declared_notes=tuple(entry.content_notes or ()),
        enclosures=enclosures if display == "full" else (),
        display=display,
        noindex=bool(noindex),
        license=license,
    )


@dataclass(frozen=True)
class FeedHealth:
    feed: Feed
    author: AuthorView
    entries: int

    @property
    def sick(self) -> bool:
        """Failing, gone, or moved: the curator has something to do."""
        return self.feed.error_count > 0 or self.feed.gone_at is not None or self.feed.moved_to is not None


def feed_health(session: Session) -> list[FeedHealth]:
    """Every active feed with its author and stored entries, sick feeds first."""
    counts = (
        select(Entry.feed_id, func.count(Entry.id).label("n"))
        .where(Entry.withdrawn_at.is_(None))
        .group_by(Entry.feed_id)
        .subquery()
    )
    rows = session.execute(
        select(Feed, Author, counts.c.n)
        .join(Author, Author.id == Feed.author_id)
        .outerjoin(counts, counts.c.feed_id == Feed.id)
        .where(Feed.retired_at.is_(None))
        .order_by(Feed.error_count.desc(), Author.slug, Feed.id)
    ).all()
    health = [FeedHealth(feed, _author_view(author), n or 0) for feed, author, n in rows]
    return sorted(health, key=lambda h: not h.sick)  # stable: errors first, then moved and gone


def recent_texts_by_author(session: Session, window: int = 3000, per_author: int = 20) -> dict[str, list[str]]:
    """The plain text of each writer's latest entries among the site's newest
    `window`, at most `per_author` each: what the endings detector reads."""
    rows = session.execute(
        visible(select(Author.slug, Entry.content_text).join(Author, Entry.author_id == Author.id))
        .where(Author.retired_at.is_(None))
        .order_by(Entry.sort_time.desc(), Entry.id.desc())
        .limit(window)
    )
    texts: dict[str, list[str]] = defaultdict(list)
    for slug, text in rows:
        if len(texts[slug]) < per_author:
            texts[slug].append(text)
    return dict(texts)


def feed_notices(session: Session) -> dict[str, tuple[str, datetime | None]]:
    """Feeds a curator should edit in feeds.yaml: {source: (kind, since)}.

    kind is "moved:<new address>" for a permanent redirect, "gone" for 410.
    """
    rows = session.execute(
        select(Feed.source, Feed.moved_to, Feed.gone_at).where(
            Feed.retired_at.is_(None), (Feed.moved_to.is_not(None)) | (Feed.gone_at.is_not(None))
        )
    )
    notices = {}
    for source, moved_to, gone_at in rows:
        notices[source] = ("gone", gone_at) if gone_at else (f"moved:{moved_to}", None)
    return notices


def adjacent_entries(session: Session, entry: EntryView) -> tuple[EntryView | None, EntryView | None]:
    """The same author's entries just before and just after this one."""
    at = Cursor(entry.sort_time, entry.id)
    neighbours = []
    for newer in (False, True):
        order = (Entry.sort_time, Entry.id) if newer else (Entry.sort_time.desc(), Entry.id.desc())
        row = session.execute(
            visible(select(Entry, Author).join(Author, Entry.author_id == Author.id))
            .options(defer(Entry.content_html), defer(Entry.content_text))
            .where(Entry.author_id == entry.author.id, _beyond(at, newer=newer))
            .order_by(*order)
            .limit(1)
        ).first()
        neighbours.append(entry_view(row[0], row[1], (), with_content=False) if row else None)
    return neighbours[0], neighbours[1]


def _beyond(cursor: Cursor, *, newer: bool = False):
    """Entries past `cursor` in list order (older ones), or before it (newer ones)."""
    if newer:
        return or_(Entry.sort_time > cursor.sort_time, and_(Entry.sort_time == cursor.sort_time, Entry.id > cursor.id))
    return or_(Entry.sort_time < cursor.sort_time, and_(Entry.sort_time == cursor.sort_time, Entry.id < cursor.id))
