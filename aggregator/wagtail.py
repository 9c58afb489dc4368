"""Read a Wagtail site through its pages API (v2): every post, kept current with few requests.

A source is a listing URL (`https://site/api/v2/pages/?type=blog.BlogPage`).
Its first read pages through the whole listing, newest first, up to a cap.
Later reads ask for the most recently published pages first and stop at the
first listing page that holds nothing new or changed; only the pages that
are new or changed are fetched in detail. When the number of live pages says
that some left, one light read of the whole listing tells which: those are
withdrawn. Rich text arrives in Wagtail's stored form (`<a linktype="page"
id="3">`, `<embed embedtype="image" id="5"/>`); it becomes plain HTML here,
with the pages, documents and images it names looked up through the API.

Everything here is a function of the API's answers and of what the last read
remembered (`source_state` on the feed row); the network is reached only
through the `Fetcher` given.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aggregator.clean import canonical_embed
from aggregator.fetch import Fetcher, FetchError, FetchRequest, FetchResult
from aggregator.parse import (
    ParsedEntry,
    ParsedFeed,
    ParseError,
    absolute_url,
    base_for_content,
    entry_key,
    escape_text,
    feed_links,
    iso_date,
    map_entries,
    text_value,
    url_value,
)

# Wagtail's default WAGTAILAPI_LIMIT_MAX: a listing page holds at most this.
PAGE_SIZE = 20
DEFAULT_MAX_POSTS = 500
# Pages fetched in detail by one read; the rest wait for the next poll.
MAX_DETAILS_PER_READ = 100
# Images, documents and linked pages looked up by one read.
MAX_LOOKUPS_PER_READ = 200
MAX_BLOCK_DEPTH = 8
STATE_VERSION = 1

# Where a page's parts usually are when feeds.yaml maps no field, likeliest first.
CONTENT_FIELDS = ("body", "content", "text", "rich_text", "intro", "introduction")
SUMMARY_FIELDS = ("search_description", "intro", "summary", "excerpt")
EXTRA_FIELDS = ("date", "author", "tags")
NEWEST_FIRST = "-first_published_at"
RECENTLY_PUBLISHED_FIRST = "-last_published_at"
# What the light listing asks beside its defaults (id, type, title, html_url, slug, first_published_at).
LISTING_FIELDS = ("last_published_at",)

_LINK = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_EMBED = re.compile(r"<embed\b([^>]*?)/?>(?:\s*</embed\s*>)?", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([A-Za-z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_UNKNOWN_FIELDS = re.compile(r"unknown fields?: ([\w, ]+)")


@dataclass(frozen=True)
class FieldMap:
    """Which API field gives each part of an entry; None: the usual names, found by trying."""

    title: str = "title"
    content: str | None = None
    summary: str | None = None
    date: str | None = None
    tags: str = "tags"
    author: str = "author"
    image: str | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> FieldMap:
        mapped = dict((options or {}).get("fields") or {})
        return cls(**{role: path for role, path in mapped.items() if role in cls.__dataclass_fields__})

    def wanted(self) -> list[str]:
        """The top-level API fields to ask for, mapped ones first."""
        mapped = [self.content, self.summary, self.date, self.image]
        names = [path.split(".", 1)[0] for path in (*mapped, self.tags, self.author) if path]
        names += [] if self.content else list(CONTENT_FIELDS)
        names += [] if self.summary else [f for f in SUMMARY_FIELDS if f != "search_description"]
        names += [f for f in EXTRA_FIELDS if f not in names]
        return list(dict.fromkeys(n for n in names if n not in ("title", "id")))


@dataclass
class WagtailRead:
    """What one read of a Wagtail source found."""

    entries: list[ParsedEntry]  # new or changed pages, rendered
    listed: dict[int, str]  # page id -> entry key of every live page this read saw
    complete: bool  # `listed` is every live page: the others were withdrawn
    state: dict[str, Any]  # what the next read starts from
    requests: int
    total: int | None
    warnings: list[str]
    left: int = 0  # changed pages not fetched this time
    not_modified: bool = False
    broken_off: str | None = None  # why the read stopped early (nothing is withdrawn then)

    def as_feed(self) -> ParsedFeed:
        return ParsedFeed(format="wagtail", title=None, site_url=self.state.get("site_url"),
                          entries=tuple(self.entries), warnings=tuple(self.warnings))  # fmt: skip


@dataclass
class _Listing:
    items: list[dict[str, Any]]
    total: int
    result: FetchResult


class WagtailAPI:
    """The requests of one read: the listing, pages in detail, and lookups, counted."""

    def __init__(self, fetcher: Fetcher, listing_url: str, source: str | None = None):
        self.fetcher = fetcher
        self.source = source
        parts = urlsplit(listing_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.pages_path = path
        # Wagtail's router names its endpoints side by side: .../pages/, .../images/, .../documents/.
        self.root_path = path.rstrip("/").rsplit("/", 1)[0] + "/"
        # The curator's own parameters (type, child_of, locale...) are kept;
        # those a read sets itself are not.
        self.filters = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                        if k not in ("fields", "order", "limit", "offset", "format")]  # fmt: skip
        self.requests = 0

    def url(self, path: str, params: Iterable[tuple[str, str]] = ()) -> str:
        return urlunsplit(urlsplit(self.origin)._replace(path=path, query=urlencode(list(params))))

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        self.requests += 1
        return self.fetcher.fetch(FetchRequest(url, etag, last_modified, source=self.source))

    def listing(
        self, *, offset: int, order: str | None, fields: list[str], limit: int = PAGE_SIZE,
        etag: str | None = None, last_modified: str | None = None,
    ) -> _Listing:  # fmt: skip
        params = [*self.filters, ("limit", str(limit)), ("offset", str(offset))]
        if order:
            params.append(("order", order))
        if fields:
            params.append(("fields", ",".join(fields)))
        result = self.get(self.url(self.pages_path, params), etag, last_modified)
        if result.not_modified:
            return _Listing([], -1, result)
        document = _json(result.body or b"", "the pages listing")
        items = document.get("items") if isinstance(document, dict) else None
        meta = document.get("meta") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise ParseError("not a Wagtail pages API answer: no 'items' list (the URL should end in /api/v2/pages/?type=...)")
        total = meta.get("total_count") if isinstance(meta, dict) else None
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            total = offset + len(items)
        return _Listing([item for item in items if isinstance(item, dict) and _page_id(item) is not None], total, result)

    def detail(self, kind: str, item_id: int) -> dict[str, Any] | None:
        """One page, image or document as the API shows it in detail; None when it has none."""
        path = self.pages_path if kind == "pages" else f"{self.root_path}{kind}/"
        try:
            result = self.get(self.url(f"{path}{item_id}/"))
        except FetchError as exc:
            if exc.status in (400, 403, 404, 410):
                return None
            raise
        document = _json(result.body or b"", f"the {kind} endpoint")
        return document if isinstance(document, dict) else None


class Lookups:
    """The pages, documents and images rich text names, each looked up once per read."""

    def __init__(self, api: WagtailAPI | None, known_pages: dict[int, str]):
        self.api = api
        self.known_pages = dict(known_pages)  # page id -> its URL, from the listing
        self.found: dict[tuple[str, int], dict[str, Any] | None] = {}
        self.missing: dict[str, int] = {}

    def page_url(self, page_id: int) -> str | None:
        if page_id in self.known_pages:
            return self.known_pages[page_id]
        item = self._detail("pages", page_id)
        meta = item.get("meta") if item else None
        url = absolute_url(url_value(meta.get("html_url")), self._origin()) if isinstance(meta, dict) else None
        if url is None:
            self.missing["page"] = self.missing.get("page", 0) + 1
        return url

    def document_url(self, document_id: int) -> str | None:
        return self._download("documents", document_id, "document")

    def image(self, image_id: int) -> tuple[str, str] | None:
        """An image's address and title."""
        url = self._download("images", image_id, "image")
        if url is None:
            return None
        item = self.found.get(("images", image_id)) or {}
        return url, text_value(item.get("title")) or ""

    def warnings(self) -> list[str]:
        what = {"page": "links to pages", "document": "links to documents", "image": "images", "embed": "embeds of other kinds"}
        return [
            f"{n} {what[kind]} in rich text could not be looked up through the API (shown as plain text or left out)"
            for kind, n in sorted(self.missing.items())
        ]

    def _download(self, kind: str, item_id: int, name: str) -> str | None:
        item = self._detail(kind, item_id)
        meta = item.get("meta") if item else None
        url = absolute_url(url_value(meta.get("download_url")), self._origin()) if isinstance(meta, dict) else None
        if url is None:
            self.missing[name] = self.missing.get(name, 0) + 1
        return url

    def _detail(self, kind: str, item_id: int) -> dict[str, Any] | None:
        key = (kind, item_id)
        if key not in self.found:
            if len(self.found) >= MAX_LOOKUPS_PER_READ:
                return None
            self.found[key] = self._ask(kind, item_id)
        return self.found[key]

    def _ask(self, kind: str, item_id: int) -> dict[str, Any] | None:
        return self.api.detail(kind, item_id) if self.api else None

    def _origin(self) -> str | None:
        return self.api.origin if self.api else None


# -- Rich text and StreamField -------------------------------------------------


def render_rich_text(source: str, lookups: Lookups) -> str:
    """Wagtail's stored rich text as plain HTML: links and embeds resolved, or reduced to text."""

    def link(match: re.Match[str]) -> str:
        attributes = _attributes(match.group(1))
        inner = match.group(2)
        kind = attributes.get("linktype")
        if kind is None:
            return match.group(0)
        target = None
        if kind == "page" and (page_id := _int(attributes.get("id"))) is not None:
            target = lookups.page_url(page_id)
        elif kind == "document" and (document_id := _int(attributes.get("id"))) is not None:
            target = lookups.document_url(document_id)
        elif attributes.get("href"):
            target = attributes["href"]
        if target is None:
            return inner
        return f'<a href="{html.escape(target)}">{inner}</a>'

    def embed(match: re.Match[str]) -> str:
        attributes = _attributes(match.group(1))
        kind = attributes.get("embedtype")
        if kind == "image" and (image_id := _int(attributes.get("id"))) is not None:
            found = lookups.image(image_id)
            if found is None:
                return ""
            url, title = found
            return _image_html(url, attributes.get("alt", title))
        if kind == "media" and attributes.get("url"):
            return media_html(attributes["url"])
        if kind is None and attributes.get("src"):
            return match.group(0)  # an ordinary <embed>: the cleaner decides
        lookups.missing["embed"] = lookups.missing.get("embed", 0) + 1
        return ""

    return _EMBED.sub(embed, _LINK.sub(link, source))


def media_html(url: str) -> str:
    """A media embed: a video player the cleaner accepts, else a link to it."""
    if canonical_embed(url):
        return f'<iframe src="{html.escape(url)}"></iframe>'
    return f'<p><a href="{html.escape(url)}">{escape_text(url)}</a></p>'


def render_stream(blocks: list[Any], lookups: Lookups, skipped: list[str], depth: int = 0) -> str:
    """A StreamField body, block by block; blocks of unknown kinds are left out and named in `skipped`."""
    if depth > MAX_BLOCK_DEPTH:
        skipped.append("nested blocks")
        return ""
    parts = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = str(block.get("type", "")).lower()
        value = block.get("value")
        rendered = _render_block(kind, value, lookups, skipped, depth)
        if rendered is None:
            skipped.append(kind or "untyped")
        elif rendered:
            parts.append(rendered)
    return "\n".join(parts)


def _render_block(kind: str, value: Any, lookups: Lookups, skipped: list[str], depth: int) -> str | None:
    if kind in ("paragraph", "rich_text", "richtext", "text", "body", "content") and isinstance(value, str):
        return render_rich_text(value, lookups)
    if kind in ("heading", "header", "title", "subheading"):
        if isinstance(value, dict):
            text, size = text_value(value.get("heading_text") or value.get("text")), str(value.get("size") or "h2")
        else:
            text, size = text_value(value), "h2"
        level = size[-1] if size[-1:] in "23456" else "2"
        return f"<h{level}>{escape_text(text)}</h{level}>" if text else ""
    if kind in ("image", "picture", "photo"):
        image_id = _int(value.get("image") if isinstance(value, dict) else value)
        found = lookups.image(image_id) if image_id is not None else None
        if found is None:
            return ""
        url, title = found
        caption = text_value(value.get("caption")) if isinstance(value, dict) else None
        alt = (text_value(value.get("alt_text") or value.get("alt")) if isinstance(value, dict) else None) or title
        return _image_html(url, alt, caption)
    if kind in ("quote", "blockquote", "block_quote", "pullquote"):
        if isinstance(value, dict):
            text = text_value(value.get("quote") or value.get("text"))
            source = text_value(value.get("attribution") or value.get("author") or value.get("source"))
        else:
            text, source = text_value(value), None
        if not text:
            return ""
        cite = f"<footer>{escape_text(source)}</footer>" if source else ""
        return f"<blockquote><p>{escape_text(text)}</p>{cite}</blockquote>"
    if kind in ("embed", "video", "media"):
        url = url_value(value.get("url") if isinstance(value, dict) else value)
        return media_html(url) if url else ""
    if kind in ("raw_html", "html", "raw"):
        return value if isinstance(value, str) else ""  # cleaned by bleach with the rest
    if isinstance(value, list) and kind in ("list", "section", "content_section", "blocks", "stream"):
        return render_stream(value, lookups, skipped, depth + 1)
    return None


def _image_html(url: str, alt: str, caption: str | None = None) -> str:
    image = f'<img src="{html.escape(url)}" alt="{html.escape(alt or "")}">'
    if caption:
        return f"<figure>{image}<figcaption>{escape_text(caption)}</figcaption></figure>"
    return image


# -- Pages as entries ----------------------------------------------------------


def page_entry(item: dict[str, Any], fields: FieldMap, api_origin: str | None, pages_url: str, lookups: Lookups,
               skipped: list[str]) -> ParsedEntry:  # fmt: skip
    """One page of the API as an entry, keyed by its site and page id (a renamed slug keeps its entry)."""
    page_id = _page_id(item)
    if page_id is None:
        raise ValueError("a page without an id")
    meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
    link = absolute_url(url_value(meta.get("html_url")), api_origin)
    guid = f"{pages_url}{page_id}/"
    title = text_value(_path(item, fields.title)) or ""
    body = _path(item, fields.content) if fields.content else _first(item, CONTENT_FIELDS)
    if isinstance(body, str):
        content = render_rich_text(body, lookups)
    elif isinstance(body, list):
        content = render_stream(body, lookups, skipped)
    else:
        content = ""
    if not content.strip():
        summary = _path(item, fields.summary) if fields.summary else _first(item, SUMMARY_FIELDS, meta)
        content = render_rich_text(summary, lookups) if isinstance(summary, str) else ""
    if fields.image and isinstance(lead := _path(item, fields.image), dict):
        url = absolute_url(url_value((lead.get("meta") or {}).get("download_url")) or url_value(lead.get("url")), api_origin)
        if url:
            content = _image_html(url, text_value(lead.get("alt")) or text_value(lead.get("title")) or "") + "\n" + content
    published = _publication_time(_path(item, fields.date or "date"), iso_date(meta.get("first_published_at")))
    updated = iso_date(_path(item, "last_published_at")) or iso_date(meta.get("last_published_at"))
    return ParsedEntry(
        key=entry_key(guid, link, title, published, content),
        guid=guid,
        url=link,
        title=title,
        title_is_html=False,
        content=content,
        content_is_html=True,
        base_url=base_for_content(None, link, api_origin),
        author=_author(_path(item, fields.author.split(".", 1)[0]), fields.author),
        categories=_tags(_path(item, fields.tags)),
        published=published,
        updated=updated,
    )


def parse_listing(document: Any, url: str) -> ParsedFeed:
    """One listing page already fetched (detection, `aggregator check`): its entries, with nothing looked up."""
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise ParseError("not a Wagtail pages API answer: no 'items' list (the URL should end in /api/v2/pages/?type=...)")
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else None
    pages_url = urlunsplit(parts._replace(query="", fragment="", path=parts.path if parts.path.endswith("/") else parts.path + "/"))
    lookups, skipped, warnings = Lookups(None, {}), [], []
    entries = map_entries(
        document["items"], lambda item: page_entry(item, FieldMap(), origin, pages_url, lookups, skipped), warnings
    )
    if entries and not any(entry.content for entry in entries):
        warnings.append("the API sends no page bodies; name the page type in the URL (?type=blog.BlogPage)")
    return ParsedFeed(format="wagtail", title=None, site_url=origin, entries=tuple(entries),
                      warnings=tuple(warnings + lookups.warnings() + _skipped_warnings(skipped)))  # fmt: skip


def _publication_time(date_value: Any, first_published: datetime | None) -> datetime | None:
    """The post's own date, with the time of day of its first publication when that was the same day.

    Writers backdate posts they move from an old blog: the `date` field says
    when it was written; first_published_at only when it reached Wagtail.
    """
    day = iso_date(date_value) if isinstance(date_value, str) else None
    if day is None:
        return first_published
    if first_published is not None and first_published.date() == day.date():
        return first_published
    if isinstance(date_value, str) and len(date_value.strip()) == 10:  # a date without a time
        return datetime.combine(day.date(), time(), tzinfo=day.tzinfo)
    return day


def _author(value: Any, path: str) -> str | None:
    rest = path.split(".", 1)[1] if "." in path else None
    if rest and isinstance(value, dict):
        return text_value(_path(value, rest))
    if isinstance(value, dict):
        return text_value(value.get("name")) or text_value(value.get("title"))
    return text_value(value)


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, list):
        return ()
    names = (text_value(tag.get("name")) if isinstance(tag, dict) else text_value(tag) for tag in value)
    return tuple(dict.fromkeys(name for name in names if name))


def _path(item: Any, path: str | None) -> Any:
    value = item
    for part in (path or "").split("."):
        if not part or not isinstance(value, dict):
            return None
        value = value.get(part, (value.get("meta") or {}).get(part) if isinstance(value.get("meta"), dict) else None)
    return value


def _first(item: dict[str, Any], names: Iterable[str], *more: dict[str, Any]) -> Any:
    for source in (item, *more):
        for name in names:
            value = source.get(name)
            if isinstance(value, list) and value or isinstance(value, str) and value.strip():
                return value
    return None


def _skipped_warnings(skipped: list[str]) -> list[str]:
    if not skipped:
        return []
    counts: dict[str, int] = {}
    for kind in skipped:
        counts[kind] = counts.get(kind, 0) + 1
    listed = ", ".join(f"{kind} ({n})" for kind, n in sorted(counts.items()))
    return [f"StreamField blocks of kinds we do not show were left out: {listed}"]


# -- A read ----------------------------------------------------------------------


@dataclass
class _Plan:
    """What one read decided to fetch in detail, and what it saw of the listing."""

    seen: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)  # id -> (last published, url)
    changed: list[int] = field(default_factory=list)
    heavy: dict[int, dict[str, Any]] = field(default_factory=dict)  # items that came with their content
    total: int | None = None
    complete: bool = False  # every live page was seen
    finished: bool = False  # the read went as far as it meant to (the end, or the cap)
    broken_off: str | None = None


def read_source(
    fetcher: Fetcher,
    listing_url: str,
    *,
    options: dict[str, Any] | None,
    state: dict[str, Any] | None,
    full: bool = False,
    source: str | None = None,
) -> WagtailRead:
    """Read what changed on a Wagtail site since `state` (everything on the first read, or with `full`).

    A fetch error before anything was read raises (the poll fails as any
    feed's does); an error mid-way ends the read with what it had, withdraws
    nothing, and says why in `broken_off`.
    """
    fields = FieldMap.from_options(options)
    cap = int((options or {}).get("max_posts") or DEFAULT_MAX_POSTS)
    before = dict(state or {}) if (state or {}).get("v") == STATE_VERSION else {}
    api = WagtailAPI(fetcher, listing_url, source)
    known: dict[int, tuple[str | None, str | None]] = {int(k): tuple(v) for k, v in (before.get("pages") or {}).items()}  # type: ignore[misc]
    validators: dict[str, Any] = {}  # of the recently-published listing's first page
    warnings: list[str] = []
    accepted = before.get("fields")
    content_fields = list(accepted) if isinstance(accepted, list) else [*fields.wanted(), *LISTING_FIELDS]
    order = before.get("order", NEWEST_FIRST)
    first = full or not before.get("complete") or not known
    not_modified = False

    refused: set[str] = set()

    def listing(**kwargs: Any) -> _Listing:
        nonlocal content_fields, order
        asked = [name for name in kwargs.pop("fields") if name not in refused]
        for _ in range(3):
            try:
                return api.listing(order=kwargs.get("order", order), fields=asked, offset=kwargs["offset"],
                                   etag=kwargs.get("etag"), last_modified=kwargs.get("last_modified"))  # fmt: skip
            except FetchError as exc:
                if exc.status != 400:
                    raise
                message = _api_message(exc.explanation)
                unknown = _UNKNOWN_FIELDS.search(message)
                if unknown:
                    refused.update(name.strip() for name in unknown.group(1).split(","))
                    asked = [name for name in asked if name not in refused]
                    content_fields = [name for name in content_fields if name not in refused]
                    continue
                if "order" in message and kwargs.get("order", order):
                    if kwargs.get("order") == RECENTLY_PUBLISHED_FIRST:
                        raise _NoEditOrder() from None
                    warnings.append(f"the API cannot sort by publication date ({message}); every poll reads the whole listing")
                    order = ""
                    kwargs.pop("order", None)
                    continue
                raise FetchError(f"{exc} ({message})" if message else str(exc), exc.status) from None
        raise FetchError("the pages API refused the fields asked for three times", 400)

    plan = _Plan()
    if first:
        plan = _read_everything(listing, content_fields, cap, heavy=True)
    else:
        try:
            plan, not_modified = _read_recent(listing, known, before, cap, validators)
        except _NoEditOrder:
            # The site does not offer last_published_at: edits are found by
            # reading the whole listing with its content each time.
            warnings.append("the API does not offer last_published_at: every poll reads the whole listing")
            plan = _read_everything(listing, content_fields, cap, heavy=True)
        else:
            expected = int(before.get("total") or 0) + sum(1 for page_id in plan.seen if page_id not in known)
            if not not_modified and plan.broken_off is None and plan.total is not None and plan.total != expected:
                # Pages left the listing (or came back): one light read of it all says which.
                everything = _read_everything(listing, [*LISTING_FIELDS], cap, heavy=False)
                plan.changed += [i for i in everything.changed if i not in plan.changed and known.get(i) != everything.seen[i]]
                plan.seen.update(everything.seen)
                plan.total, plan.complete, plan.broken_off = everything.total, everything.complete, everything.broken_off
                plan.finished = everything.finished
            elif not plan.changed and plan.broken_off is None:
                not_modified = True  # nothing new, edited or gone: as good as a 304
    syndication = before.get("syndication_feed")
    if first and syndication is None and plan.seen:
        newest = next((url for _, url in plan.seen.values() if url), None)
        syndication = _discover_syndication(api, absolute_url(newest, api.origin) or api.origin + "/")
    # What the listing showed of each page (its URL above all) is what links to it resolve to.
    lookups = Lookups(api, {i: url for i, (_, url) in {**known, **plan.seen}.items() if url})
    pages_url = api.url(api.pages_path)
    skipped: list[str] = []
    entries: list[ParsedEntry] = []
    stored_marks = dict(known)
    left = 0
    fetched = 0
    for page_id in plan.changed:
        item = plan.heavy.get(page_id)
        if item is None:
            if fetched >= MAX_DETAILS_PER_READ or plan.broken_off:
                left += 1
                continue
            fetched += 1
            try:
                item = api.detail("pages", page_id)
            except FetchError as exc:
                plan.broken_off = plan.broken_off or f"page {page_id} could not be read: {exc}"
                left += 1
                continue
            if item is None:
                plan.seen.pop(page_id, None)  # unpublished since the listing was read
                plan.complete = False
                continue
        try:
            entry = page_entry(item, fields, api.origin, pages_url, lookups, skipped)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            warnings.append(f"page {page_id} was skipped: {exc}")
            continue
        entries.append(entry)
        stored_marks[page_id] = plan.seen.get(page_id, (None, entry.url))
    if plan.complete:
        stored_marks = {i: mark for i, mark in stored_marks.items() if i in plan.seen}
    done = not left and plan.broken_off is None
    after = {
        **before, "v": STATE_VERSION, "site_url": api.origin + "/", "fields": content_fields, "order": order,
        "pages": {str(i): list(mark) for i, mark in sorted(stored_marks.items())},
        # Only a read that went through may say how many pages the site has:
        # the next read compares with it to tell whether pages left.
        "total": plan.total if plan.total is not None and done else before.get("total", len(stored_marks)),
        "complete": bool(before.get("complete")) or (first and plan.finished and done),
        "requests": api.requests,
        # The site's own RSS or Atom feed ("" when its pages name none), for readers (/opml.xml).
        "syndication_feed": syndication,
    }  # fmt: skip
    # The first page's validators may say "nothing new" next time only
    # when everything it led to was read.
    after.update(validators if done else {"etag": None, "last_modified": None, "listing_hash": None})
    if plan.broken_off:
        warnings.append(f"the read broke off ({plan.broken_off}); nothing was withdrawn and the rest is read next time")
    if first and entries and not any(entry.content for entry in entries):
        warnings.append("the API sends no page bodies; name the page type in the URL (?type=blog.BlogPage)")
    if plan.total is not None and plan.total > cap:
        warnings.append(f"the site lists {plan.total} posts; the first read took the newest {cap} (max_posts)")
    return WagtailRead(
        entries=entries,
        listed={i: f"{pages_url}{i}/" for i in plan.seen},
        complete=plan.complete and plan.broken_off is None,
        state=after,
        requests=api.requests,
        total=plan.total if plan.total is not None else before.get("total"),
        warnings=warnings + lookups.warnings() + _skipped_warnings(skipped),
        left=left,
        not_modified=not_modified,
        broken_off=plan.broken_off,
    )


class _NoEditOrder(Exception):
    """The API refuses to sort by last_published_at."""


def _read_everything(listing: Callable[..., _Listing], fields: list[str], cap: int, *, heavy: bool) -> _Plan:
    """Page through the whole listing (up to `cap` pages), newest first where the site allows."""
    plan = _Plan()
    offset = 0
    while offset < cap:
        try:
            page = listing(offset=offset, fields=list(fields))
        except FetchError as exc:
            if offset == 0:
                raise
            plan.broken_off = f"at offset {offset}: {exc}"
            return plan
        plan.total = page.total
        for item in page.items[: cap - offset]:
            page_id = _page_id(item)
            assert page_id is not None
            plan.seen[page_id] = _mark(item)
            plan.changed.append(page_id)
            if heavy:
                plan.heavy[page_id] = item
        offset += len(page.items)
        if not page.items or offset >= page.total:
            plan.complete = offset >= page.total
            break
    plan.finished = True
    return plan


def _read_recent(
    listing: Callable[..., _Listing], known: dict[int, tuple[str | None, str | None]], before: dict[str, Any],
    cap: int, validators: dict[str, Any],
) -> tuple[_Plan, bool]:  # fmt: skip
    """The most recently published pages, until a listing page holds nothing new or changed."""
    plan = _Plan()
    offset = 0
    while offset < cap:
        try:
            page = listing(
                offset=offset, order=RECENTLY_PUBLISHED_FIRST, fields=[*LISTING_FIELDS],
                etag=before.get("etag") if offset == 0 else None,
                last_modified=before.get("last_modified") if offset == 0 else None,
            )  # fmt: skip
        except FetchError as exc:
            if offset == 0:
                raise
            plan.broken_off = f"at offset {offset}: {exc}"
            return plan, False
        if offset == 0:
            if page.result.not_modified:
                return plan, True
            body_hash = hashlib.sha256(page.result.body or b"").hexdigest()
            validators.update(etag=page.result.etag, last_modified=page.result.last_modified, listing_hash=body_hash)
            if body_hash == before.get("listing_hash"):
                return plan, True  # the same bytes as last time: nothing new, nothing edited, nothing gone
        plan.total = page.total
        # Most recently published first: past the first page as we knew it,
        # every later one is as we knew it too.
        unchanged_seen = False
        for item in page.items:
            page_id = _page_id(item)
            assert page_id is not None
            plan.seen[page_id] = mark = _mark(item)
            if known.get(page_id) != mark:
                plan.changed.append(page_id)
            else:
                unchanged_seen = True
        offset += len(page.items)
        if unchanged_seen or not page.items or offset >= page.total:
            break
    plan.finished = True
    return plan, False


def _discover_syndication(api: WagtailAPI, page_url: str) -> str:
    """The RSS or Atom feed a page of the site names (`<link rel="alternate">`), else ""."""
    try:
        page = api.get(page_url)
    except FetchError:
        return ""
    links = feed_links(page.body or b"", page.url)
    return next((url for url, kind in links if kind in ("RSS", "Atom")), "")


def _mark(item: dict[str, Any]) -> tuple[str | None, str | None]:
    """What tells that a listed page changed: when it was last published, and its address."""
    meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
    published = text_value(item.get("last_published_at")) or text_value(meta.get("last_published_at"))
    return published, url_value(meta.get("html_url"))


def _page_id(item: dict[str, Any]) -> int | None:
    return _int(item.get("id"))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) or None
    return None


def _attributes(text: str) -> dict[str, str]:
    return {m.group(1).lower(): html.unescape(next(v for v in m.groups()[1:] if v is not None)) for m in _ATTRIBUTE.finditer(text)}


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ParseError(f"{what} did not answer with JSON: is this a Wagtail pages API address?") from None


def _api_message(explanation: str) -> str:
    try:
        document = json.loads(explanation)
    except (json.JSONDecodeError, ValueError):
        return explanation.strip()[:200]
    message = document.get("message") if isinstance(document, dict) else None
    return message.strip()[:200] if isinstance(message, str) else ""


# -- What a source offers (aggregator check --online) ----------------------------


@dataclass(frozen=True)
class FieldReport:
    offered: list[str]  # the fields a page of the listing has, meta fields as meta.NAME
    found: list[tuple[str, str, str | None]]  # (role, field asked or "(usual names)", the field that answers or None)
    edits_tracked: bool  # last_published_at is offered: edits are found without reading everything
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def field_report(fetcher: Fetcher, listing_url: str, options: dict[str, Any] | None) -> FieldReport:
    """Read one page of the source in detail and tell which fields the mapping finds."""
    fields = FieldMap.from_options(options)
    api = WagtailAPI(fetcher, listing_url)
    listing = api.listing(offset=0, order=None, fields=[], limit=1)
    if not listing.items:
        return FieldReport([], [], False, ["the listing is empty: no page to read its fields from"])
    page_id = _page_id(listing.items[0])
    item = api.detail("pages", page_id) if page_id else None
    if item is None:
        return FieldReport([], [], False, [f"page {page_id} of the listing cannot be read in detail"])
    meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
    offered = sorted(k for k in item if k != "meta") + sorted(f"meta.{k}" for k in meta)
    automatic = {"content": CONTENT_FIELDS, "summary": SUMMARY_FIELDS}
    found, problems = [], []
    for role in FieldMap.__dataclass_fields__:
        path = getattr(fields, role)
        if path:
            answer = path if _path(item, path) is not None else None
            found.append((role, path, answer))
            mapped = role in ((options or {}).get("fields") or {})
            if answer is None and (mapped or role in ("title", "content")):
                problems.append(f"'{role}' is mapped to {path!r}, which the API does not offer")
        else:
            names = automatic.get(role, (role,))
            answer = next((n for n in names if item.get(n) not in (None, "", []) or meta.get(n) not in (None, "", [])), None)
            found.append((role, "(usual names)", answer))
            if role == "content" and answer is None:
                problems.append("no page body found: map 'content' to the field that holds it, or name the page type (?type=app.Model)")
    edits = "last_published_at" in item or "last_published_at" in meta
    return FieldReport(offered, found, edits, problems)
