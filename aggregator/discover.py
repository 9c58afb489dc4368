"""`aggregator add`: find the feeds of a writer's site, read each once, and say what each holds.

A curator knows a writer's site, rarely their feed's address. Discovery
reads the address given; a feed is taken as it is. A page is searched for
the feeds it names (`<link rel="alternate">` of RSS, Atom and JSON Feed
types); when it names none, the addresses blog engines usually give their
feed are tried (WordPress `/feed/`, Hugo `/index.xml`, Squarespace
`?format=rss`...). A Wagtail site's pages API is always asked for, once: it
gives whole posts where a feed may give teasers. Every address is fetched at
most once, through the polite fetcher (timeouts, size cap, no redirect into
an internal network).
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from aggregator.feeds_file import NewAuthor, NewFeed
from aggregator.fetch import Fetcher, FetchError, FetchRequest
from aggregator.identity import feed_identity, slugify, unique_slug
from aggregator.parse import ParsedFeed, ParseError, feed_links, parse_feed

COMMON_PATHS = ("/feed/", "/rss/", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/blog/feed/")
SQUARESPACE_QUERY = "format=rss"
WAGTAIL_API_PATH = "/api/v2/pages/"
MAX_CATEGORIES = 8
KINDS = (("rss", "RSS"), ("atom", "Atom"), ("json", "JSON Feed"), ("wagtail", "Wagtail pages API"))
# Feeds of comments on the posts are no writer's posts.
_COMMENTS = re.compile(r"\bcomments?\b", re.IGNORECASE)
# Page types of a Wagtail site that hold no posts of their own.
_NOT_POSTS = re.compile(r"(?:^wagtailcore\.page$|home|index|root|landing)", re.IGNORECASE)


class DiscoveryError(Exception):
    """The address given cannot be read at all; the message says why."""


@dataclass(frozen=True)
class FoundFeed:
    """A feed that answered, and what it holds."""

    url: str  # the address to list in feeds.yaml
    kind: str  # RSS, Atom, JSON Feed, Wagtail pages API
    format: str  # as the parser names it: rss20, atom10, json11, wagtail
    title: str | None  # as text
    site_url: str | None
    entries: int
    newest: datetime | None
    categories: tuple[str, ...]  # the most used first
    found_by: str  # how discovery came to it

    @property
    def feed_type(self) -> str | None:
        """The `type:` feeds.yaml needs (only a Wagtail source needs one)."""
        return "wagtail" if self.format == "wagtail" else None

    @property
    def is_comments(self) -> bool:
        return bool(_COMMENTS.search(self.title or "") or _COMMENTS.search(urlsplit(self.url).path))

    def describe(self) -> list[str]:
        title = f' "{self.title}"' if self.title else ""
        newest = f", newest {self.newest:%Y-%m-%d}" if self.newest else ""
        # A Wagtail site counts every page it lists (home and index pages too).
        unit = "page" if self.feed_type == "wagtail" else "post"
        lines = [f"{self.kind}{title}: {self.entries} {unit}{'s' if self.entries != 1 else ''}{newest}"]
        if self.categories:
            lines.append("categories: " + ", ".join(self.categories))
        lines.append(f"found: {self.found_by}")
        return lines


@dataclass
class Discovery:
    url: str  # the address given
    page_title: str | None = None  # when it was a web page
    page_url: str | None = None  # the page, after redirects
    feeds: list[FoundFeed] = field(default_factory=list)
    tried: list[tuple[str, str]] = field(default_factory=list)  # (address, why it is no feed)

    def best(self) -> FoundFeed | None:
        """The feed most likely to be the writer's posts: the address itself when it is a feed,
        else a Wagtail pages API, else the first the page named; never a comments feed when another answered."""
        usable = [feed for feed in self.feeds if not feed.is_comments] or self.feeds
        if usable and usable[0].found_by == FOUND_GIVEN:
            return usable[0]
        return next((feed for feed in usable if feed.feed_type == "wagtail" and feed.entries), None) or (usable[0] if usable else None)


FOUND_GIVEN = "the address given is a feed"
FOUND_LINKED = "named by the page (<link rel=\"alternate\">)"
FOUND_USUAL = "a usual address of blog feeds"
FOUND_WAGTAIL = "the site's Wagtail pages API"


def discover(url: str, fetcher: Fetcher) -> Discovery:
    """Find and read the feeds of the page or feed at `url`."""
    try:
        result = fetcher.fetch(FetchRequest(url))
    except FetchError as exc:
        raise DiscoveryError(f"{url} cannot be read: {exc}") from None
    body = result.body or b""
    found = Discovery(url=url)
    seen = {feed_identity(url), feed_identity(result.url)}
    if not _is_html(body, result.content_type):
        try:
            found.feeds.append(_found(_parse(body, result.url, result.content_type), result.url, body, FOUND_GIVEN))
        except ParseError as exc:
            raise DiscoveryError(f"{url} is neither a web page nor a feed: {exc}") from None
        return found
    found.page_title, found.page_url = _page_title(body), result.url
    parts = urlsplit(result.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    candidates = [(link, FOUND_LINKED) for link, _ in feed_links(body, result.url)]
    if not candidates:
        usual = [urljoin(origin, path) for path in COMMON_PATHS]
        usual.append(urlunsplit(parts._replace(query=SQUARESPACE_QUERY, fragment="")))
        candidates = [(address, FOUND_USUAL) for address in usual]
    candidates.append((urljoin(origin, WAGTAIL_API_PATH), FOUND_WAGTAIL))
    for address, how in candidates:
        if feed_identity(address) in seen:
            continue
        seen.add(feed_identity(address))
        _read(fetcher, address, how, found, seen)
    return found


def _read(fetcher: Fetcher, address: str, how: str, found: Discovery, seen: set[str]) -> None:
    try:
        result = fetcher.fetch(FetchRequest(address))
    except FetchError as exc:
        found.tried.append((address, str(exc)))
        return
    if result.url != address:
        if feed_identity(result.url) in seen:
            return  # a usual address that leads to a feed already read
        seen.add(feed_identity(result.url))
    body = result.body or b""
    if _is_html(body, result.content_type):
        found.tried.append((address, "a web page, not a feed"))
        return
    try:
        parsed = _parse(body, result.url, result.content_type)
    except ParseError as exc:
        found.tried.append((address, str(exc)))
        return
    # A feed that moved for good is listed at its new address.
    listed = result.permanent_redirect or address
    found.feeds.append(_found(parsed, listed, body, how))


def _parse(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    return parse_feed(body, url, content_type)


def _found(parsed: ParsedFeed, url: str, body: bytes, how: str) -> FoundFeed:
    dates = [entry.published or entry.updated for entry in parsed.entries]
    categories = Counter(category for entry in parsed.entries for category in dict.fromkeys(entry.categories))
    entries = len(parsed.entries)
    if parsed.format == "wagtail":
        total, page_type = _wagtail_listing(body)
        entries = total if total is not None else entries
        if page_type:
            # The listing of posts only: a site's pages API lists its home and index pages too.
            parts = urlsplit(url)
            url = urlunsplit(parts._replace(query=urlencode({"type": page_type}), fragment=""))
    kind = next((name for prefix, name in KINDS if parsed.format.startswith(prefix)), parsed.format)
    return FoundFeed(
        url=url, kind=kind, format=parsed.format, title=_text(parsed.title), site_url=parsed.site_url, entries=entries,
        newest=max((d for d in dates if d), default=None),
        categories=tuple(name for name, _ in categories.most_common(MAX_CATEGORIES)), found_by=how,
    )  # fmt: skip


def _wagtail_listing(body: bytes) -> tuple[int | None, str | None]:
    """How many pages a Wagtail listing says it has, and the page type that most of them are."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, None
    total = document.get("meta", {}).get("total_count") if isinstance(document.get("meta"), dict) else None
    items = document.get("items") if isinstance(document.get("items"), list) else []
    types = Counter(
        item["meta"]["type"] for item in items
        if isinstance(item, dict) and isinstance(item.get("meta"), dict) and isinstance(item["meta"].get("type"), str)
    )  # fmt: skip
    posts = [name for name, _ in types.most_common() if not _NOT_POSTS.search(name.rsplit(".", 1)[-1]) and name != "wagtailcore.Page"]
    return (total if isinstance(total, int) and not isinstance(total, bool) else None), (posts[0] if posts else None)


def _is_html(body: bytes, content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in ("text/html", "application/xhtml+xml"):
        return True
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:300].lower()
    return start.startswith((b"<!doctype html", b"<html")) or b"<head" in start


def _text(markup: str | None) -> str | None:
    """A title given as HTML, as plain text."""
    if not markup:
        return None
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", markup)).split()) or None


class _Title(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.parts: list[str] = []
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "title" and not self.done

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.inside:
            self.inside, self.done = False, True

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.parts.append(data)


def _page_title(body: bytes) -> str | None:
    finder = _Title()
    try:
        finder.feed(body[: 512 * 1024].decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - a broken page simply has no title
        return None
    return " ".join("".join(finder.parts).split()) or None


# -- into feeds.yaml -----------------------------------------------------------


def new_feed(feed: FoundFeed, tags: Iterable[str] = ()) -> NewFeed:
    return NewFeed(url=feed.url, type=feed.feed_type, tags=tuple(tags))


def new_writer(
    found: Discovery, feed: FoundFeed, taken: set[str], *, slug: str | None = None, name: str | None = None, tags: Iterable[str] = ()
) -> NewAuthor:
    """A writer for feeds.yaml around `feed`; the name defaults from the feed's title, else the page's, else the host."""
    host = (urlsplit(feed.url).hostname or "").removeprefix("www.")
    name = name or feed.title or found.page_title or host or "writer"
    slug = slug or unique_slug(slugify(name, ascii_only=True) or slugify(host, ascii_only=True) or "writer", taken)
    homepage = feed.site_url if feed.site_url and urlsplit(feed.site_url).scheme in ("http", "https") else found.page_url
    return NewAuthor(slug=slug, name=name, homepage=homepage, feeds=(new_feed(feed, tags),), comment="found by aggregator add")
