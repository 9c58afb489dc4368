"""Turn a fetched document into the project's own feed and entry types.

RSS 0.9x/1.0/2.0 and Atom go through feedparser (the only module that
imports it), with its sanitizer and URL resolver off: `clean` does both jobs
once, with bleach. JSON Feed 1.0/1.1 and the Wagtail pages API are mapped
by hand. A fatal problem raises ParseError; a harmless one becomes a warning;
one bad entry is skipped with a warning and never sinks the feed.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import time
import xml.sax
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.parsers import expat

import feedparser

# Problems feedparser reports that leave the feed fully readable: a feed
# served as text/plain, or with a wrong but recoverable charset.
_HARMLESS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "http://jsonfeed.org/version/1")
# A podcast sends one file per episode; a post with more than a few is not
# a podcast, and its extra files are left out.
MAX_ENCLOSURES = 4
MAX_ENCLOSURE_BYTES = 10**12  # a terabyte: a length beyond it is a mistake, not a file
MAX_DURATION_SECONDS = 10**6  # eleven days and a half
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
# itunes:duration "1:02:03", "62:03" or "3723"; JSON and Media RSS may send "3723.5".
_DURATION = re.compile(r"^(?:(?:(\d{1,4}):)?(\d{1,4}):)?(\d{1,7})(?:\.\d*)?$")


@dataclass(frozen=True)
class ParsedEnclosure:
    """A file an entry carries: a podcast episode, a video, a workbook."""

    url: str  # absolute http(s)
    media_type: str | None  # "audio/mpeg"; guessed from the name when the feed says nothing usable
    length: int | None  # bytes
    duration_seconds: int | None


@dataclass(frozen=True)
class ParsedEntry:
    key: str  # identity within its feed: guid, else link, else a hash of title and date, or of content
    guid: str | None
    url: str | None
    title: str
    title_is_html: bool
    content: str
    content_is_html: bool
    base_url: str | None  # what relative URLs in the content are relative to
    author: str | None
    categories: tuple[str, ...]
    published: datetime | None
    updated: datetime | None
    enclosures: tuple[ParsedEnclosure, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    format: str  # rss20, atom10, json, wagtail, ...
    title: str | None  # as HTML: a text title arrives escaped
    site_url: str | None
    entries: tuple[ParsedEntry, ...]
    warnings: tuple[str, ...] = ()
    ttl_seconds: int | None = None  # RSS <ttl>: how long the publisher says to wait


class ParseError(Exception):
    """The document is not a feed we can read; the message is for the curator."""


def parse_feed(body: bytes, url: str, content_type: str | None = None, feed_type: str | None = None) -> ParsedFeed:
    """Parse a feed document fetched from `url`.

    `feed_type` is what feeds.yaml says (rss, atom, json, wagtail) or None to
    detect it from the document.
    """
    kind = feed_type or _detect(body, content_type)
    if kind in ("json", "wagtail"):
        document = _load_json(body)
        if kind == "wagtail" or (feed_type is None and _looks_like_wagtail(document)):
            return _parse_wagtail(document, url)
        return _parse_json_feed(document, url)
    return _parse_xml(body, url, content_type)


def entry_key(guid: str | None, url: str | None, title: str, published: datetime | None, content: str = "") -> str:
    """Return an entry's identity: its guid, else its link, else a hash of title and date.

    An entry with none of these is known by a hash of its content: two such
    entries with different text are two entries, not one repeated.
    """
    if guid and guid.strip():
        return guid.strip()
    if url and url.strip():
        return url.strip()
    stamp = published.isoformat() if published else ""
    material = f"{title}\n{stamp}" if title or stamp else f"content\n{content}"
    return "sha256:" + hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def _detect(body: bytes, content_type: str | None) -> str:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type.endswith("json") or body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return "json"
    return "xml"


# -- Hostile and broken XML --------------------------------------------------

ENTITIES_REFUSED = "the feed declares XML entities, which feeds never need; refused"
ENDED_EARLY = "the feed ended early (truncated download?)"
# Expat's errors for a document whose data stops before its root element closes.
_END_OF_DATA_ERRORS = {
    expat.errors.codes[name]
    for name in (
        expat.errors.XML_ERROR_NO_ELEMENTS,
        expat.errors.XML_ERROR_UNCLOSED_TOKEN,
        expat.errors.XML_ERROR_PARTIAL_CHAR,
        expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
    )
}
# XML 1.0 appendix F: the first bytes tell which family of encodings the
# document is in. Anything else is ASCII-compatible, where latin-1 reads
# every markup character right (UTF-8 never puts them inside a sequence).
_LEADING_BYTES_ENCODINGS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
_PROLOG_SPACE = re.compile(r"[\s\ufeff]*")
# What matters inside a DOCTYPE: quoted literals (which may hold any of the
# others), comments, processing instructions, the internal subset's brackets,
# entity declarations and the closing ">".
_DOCTYPE_TOKEN = re.compile(r"""["']|<!--|<\?|<!ENTITY|[\[\]>]""", re.IGNORECASE)
_ROOT_START_TAG = re.compile(r"""<([^\s/>"'=]+)(?:[^>"']|"[^"]*"|'[^']*')*>""")
# feedparser lifts every entity declaration it finds before the first element,
# comments included, into the DOCTYPE it rebuilds: that whole head is checked.
_FIRST_ELEMENT = re.compile(r"<[A-Za-z0-9_]")
_ENTITY_DECLARATION = re.compile(r"<!ENTITY", re.IGNORECASE)
_DROPPED_DOCTYPE = re.compile(r"^\s*<!DOCTYPE[^>]*?>", re.MULTILINE)  # as feedparser removes it
# Each line start costs the regex a scan of the white space after it: with
# this few, even a 10 MB run of spaces is read a handful of times at most.
_FEW_LINE_STARTS = 8
_WHITE_SPACE_RUN = re.compile(r"[ \t\r\n]+")  # XML white space
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class _Prolog:
    """What comes before a document's root element, and how the root starts."""

    declares_entities: bool
    root: str | None = None  # the root element's name as written (rss, feed, rdf:RDF)
    root_is_empty: bool = False  # <rss/>: closed where it opens


def _scan_prolog(text: str) -> _Prolog:
    """Read the prolog (BOM, XML declaration, comments, PIs, DOCTYPE) without parsing the document.

    Time is linear in the prolog's length: each step jumps to the next token
    with str.find or a regular expression, and nothing is expanded.
    """
    first_element = _FIRST_ELEMENT.search(text)
    if _ENTITY_DECLARATION.search(text, 0, first_element.start() if first_element else len(text)):
        return _Prolog(declares_entities=True)
    position = 0
    while True:
        position = _PROLOG_SPACE.match(text, position).end()
        if text.startswith("<?", position):
            after = _after(text, "?>", position + 2)
        elif text.startswith("<!--", position):
            after = _after(text, "-->", position + 4)
        elif text[position : position + 9].upper() == "<!DOCTYPE":
            declares, after = _scan_doctype(text, position + 9)
            if declares:
                return _Prolog(declares_entities=True)
        else:
            break
        if after < 0:
            return _Prolog(declares_entities=False)  # the data stops inside the prolog
        position = after
    start_tag = _ROOT_START_TAG.match(text, position)
    if start_tag is None:
        return _Prolog(declares_entities=False)
    return _Prolog(declares_entities=False, root=start_tag.group(1), root_is_empty=start_tag.group(0).endswith("/>"))


def _scan_doctype(text: str, position: int) -> tuple[bool, int]:
    """Whether a DOCTYPE (from just past "<!DOCTYPE") declares an entity, and where it ends (-1: it does not)."""
    in_subset = False
    while (token := _DOCTYPE_TOKEN.search(text, position)) is not None:
        found = token.group(0)
        if found.upper() == "<!ENTITY":
            return True, token.start()
        if found in ("'", '"', "<!--", "<?"):
            position = _after(text, {"<!--": "-->", "<?": "?>"}.get(found, found), token.end())
            if position < 0:
                break
        elif found == ">" and not in_subset:
            return False, token.end()
        else:
            in_subset = {"[": True, "]": False}.get(found, in_subset)
            position = token.end()
    return False, -1


def _after(text: str, closing: str, start: int) -> int:
    """Where the text goes on after the next `closing` from `start`, or -1 without one."""
    found = text.find(closing, start)
    return found + len(closing) if found >= 0 else -1


def _markup_encoding(body: bytes) -> str:
    return next((encoding for leading, encoding in _LEADING_BYTES_ENCODINGS if body.startswith(leading)), "latin-1")


def _markup_text(body: bytes) -> str:
    return body.decode(_markup_encoding(body), "replace")


def _with_few_line_starts(body: bytes, markup: str) -> tuple[bytes, str]:
    """Turn runs of blank lines before the root element into ones that start no line for a regex.

    feedparser looks for the DOCTYPE with `^\\s*` patterns, which cost the
    square of a run of blank lines: 100,000 of them take half a minute.
    Every line break of a run but its last becomes a CR and a space, which
    XML still counts as one line break each, so expat's positions stay true.
    """
    first_element = _FIRST_ELEMENT.search(markup)
    head = markup[: first_element.start() if first_element else len(markup)]
    if head.count("\n") <= _FEW_LINE_STARTS:
        return body, markup
    encoding = _markup_encoding(body)
    old_head = head.encode(encoding, "replace")
    if not body.startswith(old_head):
        return body, markup  # undecodable bytes in the head: feedparser gives up on it quickly anyway
    new_head = _WHITE_SPACE_RUN.sub(_one_line_start, head)
    return new_head.encode(encoding) + body[len(old_head) :], new_head + markup[len(head) :]


def _one_line_start(run: re.Match[str]) -> str:
    breaks = list(_LINE_BREAK.finditer(run.group(0)))
    if len(breaks) < 2:
        return run.group(0)
    last = breaks[-1].start()  # a CRLF stays whole: one line break, as before
    return _LINE_BREAK.sub("\r ", run.group(0)[:last]) + run.group(0)[last:]


def _xml_reason(problem: BaseException | None, markup: str) -> str:
    """Say what is wrong with a document, at its line as fetched.

    feedparser drops the DOCTYPE (and blank lines before it) before expat
    reads the document, so expat's lines from there on are short by the
    line breaks that went with it.
    """
    line = problem.getLineNumber() if isinstance(problem, xml.sax.SAXParseException) else None
    first_element = _FIRST_ELEMENT.search(markup)
    dropped = _DROPPED_DOCTYPE.search(markup, 0, first_element.start() if first_element else len(markup))
    if not isinstance(line, int) or dropped is None or line <= markup.count("\n", 0, dropped.start()):
        return _reason(problem)
    return _reason(problem, line_shift=dropped.group(0).count("\n"))


def _ended_early(prolog: _Prolog, text: str, problem: BaseException | None) -> bool:
    """Whether the document stops before its root element closes: a download cut short.

    Expat says so when the end of the data is the first error it meets; when
    an earlier error (an HTML entity, say) hid it, the root's end tag is
    looked for in the document itself.
    """
    if prolog.root is None or prolog.root.lower() == "html":
        return False  # not begun, or a web page: told apart elsewhere
    expat_error = problem.getException() if isinstance(problem, xml.sax.SAXParseException) else None
    if getattr(expat_error, "code", None) in _END_OF_DATA_ERRORS:
        return True
    return not prolog.root_is_empty and re.search(rf"</{re.escape(prolog.root)}\s*>", text) is None


# -- RSS and Atom -----------------------------------------------------------


def _parse_xml(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    # Links are made absolute here, and content URLs by `clean`.
    markup = _markup_text(body)
    prolog = _scan_prolog(markup)
    if prolog.declares_entities:
        # Refused before feedparser sees it: its fallback parser expands
        # entities without limit (50 kB referenced 2,000 times is 100 MB).
        raise ParseError(ENTITIES_REFUSED)
    body, markup = _with_few_line_starts(body, markup)
    headers = {"content-type": content_type} if content_type else {}
    if b"xml:base" in body:
        # The outermost base of a relative xml:base is the document's URL
        # (RFC 3986, 5.1.3): feedparser composes bases from it only when it
        # is given it. Only here: it also resolves permalink guids against it,
        # and the ids of other feeds must not change when their feed moves.
        headers["content-location"] = url
    result = feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    problem = result.get("bozo_exception") if result.get("bozo") else None
    if result.get("version") and _ended_early(prolog, markup, problem):
        # The lenient parse would store the half-written last entry: store
        # nothing from this download, and fetch it again at the next poll.
        raise ParseError(ENDED_EARLY)
    if not result.entries:
        if not result.get("version"):
            media_type = (content_type or "").split(";")[0].strip().lower()
            if media_type in ("text/html", "application/xhtml+xml") or _looks_like_html(body):
                raise ParseError(_not_a_feed_message(body, url))
            raise ParseError(f"not a feed: {_xml_reason(problem, markup) if problem else 'no RSS, Atom or JSON Feed found'}")
        if problem is not None and not isinstance(problem, _HARMLESS):
            raise ParseError(f"the feed is broken and has no readable entries: {_xml_reason(problem, markup)}")
    warnings = []
    if problem is not None and not isinstance(problem, feedparser.NonXMLContentType):
        warnings.append(f"the feed has an error that was worked around: {_xml_reason(problem, markup)}")
    feed = result.feed
    site_url = _web_address(absolute_url(feed.get("link"), url))
    entries = map_entries(result.entries, lambda raw: _feedparser_entry(raw, url, site_url), warnings)
    ttl = str(feed.get("ttl") or "").strip()
    return ParsedFeed(
        format=result.get("version") or "unknown",
        title=_feed_title(result),
        site_url=site_url,
        entries=tuple(entries),
        warnings=tuple(warnings),
        ttl_seconds=int(ttl) * 60 if ttl.isdigit() and 0 < int(ttl) < 100_000 else None,
    )


def _feed_title(result: Any) -> str | None:
    # Atom declares a title's type (text unless it says html or xhtml); an
    # RSS channel title declares nothing and is read as HTML, as feeds write it.
    detail = result.feed.get("title_detail") or {}
    declared_text = str(result.get("version") or "").startswith("atom") and "html" not in (detail.get("type") or "")
    return _title_as_html(result.feed.get("title"), is_html=not declared_text)


def _feedparser_entry(raw: Any, feed_url: str, site_url: str | None) -> ParsedEntry:
    link = absolute_url(raw.get("link"), feed_url)
    if raw.get("guidislink"):
        # feedparser offers the id of an entry without a link as its link;
        # a tag: or urn: id is no address (and the id stays the key).
        link = _web_address(link)
    content, content_is_html, base = _feedparser_content(raw)
    title_detail = raw.get("title_detail") or {}
    title = raw.get("title") or ""
    # dict.get: feedparser's own get() maps a missing "updated" onto
    # "published" (with a DeprecationWarning); we want the feed's own data.
    updated = _struct_time(dict.get(raw, "updated_parsed"))
    # Many feeds date entries only with <updated> (Atom) or dc:date, which
    # feedparser reports as "updated": the best guess at publication there.
    published = _struct_time(raw.get("published_parsed")) or _struct_time(raw.get("created_parsed")) or updated
    guid = raw.get("id") or None
    categories = tuple(
        tag.get("term") or tag.get("label") for tag in raw.get("tags") or () if tag.get("term") or tag.get("label")
    )
    content_base = base_for_content(None if base == feed_url else base, link, site_url, feed_url)
    return ParsedEntry(
        key=entry_key(guid, link, title, published, content),
        guid=guid,
        url=link,
        title=title,
        title_is_html="html" in (title_detail.get("type") or ""),
        content=content,
        content_is_html=content_is_html,
        # feedparser reports the document's URL where no xml:base is in scope.
        base_url=content_base,
        author=raw.get("author") or None,
        categories=_split_categories(categories),
        published=published,
        updated=updated,
        enclosures=_feedparser_enclosures(raw, content_base),
    )


def _feedparser_enclosures(raw: Any, base: str | None) -> tuple[ParsedEnclosure, ...]:
    """RSS <enclosure> and Atom rel="enclosure" links, then Media RSS audio and video.

    Media RSS also carries thumbnails and featured images (as WordPress
    sends them): only its audio and video count as the entry's files.
    itunes:duration is the duration of the episode's (first) file.
    """
    found = [
        (enclosure.get("href"), enclosure.get("type"), enclosure.get("length"), None)
        for enclosure in raw.get("enclosures") or ()
    ]
    found += [
        (media.get("url"), media.get("type"), media.get("filesize"), media.get("duration"))
        for media in raw.get("media_content") or ()
        if media.get("medium") in ("audio", "video") or str(media.get("type") or "").startswith(("audio/", "video/"))
    ]
    enclosures = _enclosures(found, base)
    episode_duration = _duration_seconds(raw.get("itunes_duration"))
    if enclosures and enclosures[0].duration_seconds is None and episode_duration is not None:
        enclosures = (replace(enclosures[0], duration_seconds=episode_duration), *enclosures[1:])
    return enclosures


def _enclosures(found: Iterable[tuple[Any, Any, Any, Any]], base: str | None) -> tuple[ParsedEnclosure, ...]:
    """Enclosures out of (url, type, length, duration) as a feed wrote them: http(s) only, each once, a few at most."""
    enclosures: dict[str, ParsedEnclosure] = {}
    for url, media_type, length, duration in found:
        absolute = _web_address(absolute_url(url_value(url), base))
        if absolute is None or absolute in enclosures:
            continue
        enclosures[absolute] = ParsedEnclosure(
            url=absolute,
            media_type=_media_type(media_type) or _media_type(mimetypes.guess_type(urlsplit(absolute).path)[0]),
            length=_bounded_count(length, MAX_ENCLOSURE_BYTES),
            duration_seconds=_duration_seconds(duration),
        )
        if len(enclosures) == MAX_ENCLOSURES:
            break
    return tuple(enclosures.values())


def _media_type(value: Any) -> str | None:
    """A MIME type without its parameters ("audio/mpeg"), or None for anything else."""
    text = value.split(";")[0].strip().lower() if isinstance(value, str) else ""
    return text if _MEDIA_TYPE.match(text) else None


def _bounded_count(value: Any, bound: int) -> int | None:
    """A whole number from 1 to `bound` (a file of 0 bytes is one whose length is unknown)."""
    text = _number_text(value)
    if not text.isascii() or not text.isdigit() or len(text) > len(str(bound)):
        return None
    return int(text) if 0 < int(text) <= bound else None


def _number_text(value: Any) -> str:
    """A number as a feed wrote it, in an attribute ("3723") or in JSON (3723.5); "" for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a float too large, or not finite, reads "1e+20", "inf", "nan": no number of ours
    return value.strip() if isinstance(value, str) else ""


def _duration_seconds(value: Any) -> int | None:
    """Seconds from "1:02:03", "62:03", "3723" or 3723.5 (JSON); None for anything else."""
    text = _number_text(value)
    match = _DURATION.match(text) if text.isascii() else None
    if match is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    return total if 0 < total <= MAX_DURATION_SECONDS else None


def _feedparser_content(raw: Any) -> tuple[str, bool, str | None]:
    # Prefer the full content (content:encoded, atom:content) to the summary;
    # among several content elements, the HTML one.
    contents = [c for c in raw.get("content") or () if c.get("value")]
    if contents:
        best = max(contents, key=lambda c: ("html" in (c.get("type") or ""), len(c.get("value") or "")))
        return best["value"], "html" in (best.get("type") or "html"), best.get("base")
    summary = raw.get("summary_detail") or {}
    if raw.get("summary"):
        return raw["summary"], "html" in (summary.get("type") or "html"), summary.get("base")
    return "", True, None


def _struct_time(value: time.struct_time | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


# -- JSON Feed ---------------------------------------------------------------


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ParseError("not a feed: the JSON is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"not a feed: bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def _looks_like_wagtail(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("meta"), dict) and "total_count" in document["meta"]


def _parse_json_feed(document: Any, url: str) -> ParsedFeed:
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(JSON_FEED_VERSIONS):
        raise ParseError("not a feed: JSON without a JSON Feed version (https://jsonfeed.org/version/1.1)")
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError("not a feed: the JSON Feed has no 'items' list")
    site_url = absolute_url(url_value(document.get("home_page_url")), url)
    feed_author = _json_author(document)
    warnings: list[str] = []
    entries = map_entries(items, lambda item: _json_feed_entry(item, url, site_url, feed_author), warnings)
    return ParsedFeed(
        format="json" + str(document["version"]).rsplit("/", 1)[-1],
        title=_title_as_html(text_value(document.get("title")), is_html=False),
        site_url=site_url,
        entries=tuple(entries),
        warnings=tuple(warnings),
    )


def _json_feed_entry(item: Any, feed_url: str, site_url: str | None, feed_author: str | None) -> ParsedEntry:
    if not isinstance(item, dict):
        raise ValueError("an item is not an object")
    link = absolute_url(url_value(item.get("url")) or url_value(item.get("external_url")), site_url or feed_url)
    guid = text_value(item.get("id"))
    title = text_value(item.get("title")) or ""
    published = iso_date(item.get("date_published"))
    updated = iso_date(item.get("date_modified"))
    if text_value(item.get("content_html")):
        content, is_html = text_value(item["content_html"]), True
    elif text_value(item.get("content_text")):
        content, is_html = text_value(item["content_text"]), False
    else:
        content, is_html = text_value(item.get("summary")) or "", False
    tags = item.get("tags") if isinstance(item.get("tags"), list) else []
    attachments = item.get("attachments") if isinstance(item.get("attachments"), list) else []
    content_base = base_for_content(None, link, site_url, feed_url)
    return ParsedEntry(
        key=entry_key(guid, link, title, published or updated, content or ""),
        guid=guid,
        url=link,
        title=title,
        title_is_html=False,
        content=content or "",
        content_is_html=is_html,
        base_url=content_base,
        author=_json_author(item) or feed_author,
        categories=tuple(t for t in (text_value(tag) for tag in tags) if t),
        published=published,
        updated=updated,
        enclosures=_enclosures(
            (
                (a.get("url"), a.get("mime_type"), a.get("size_in_bytes"), a.get("duration_in_seconds"))
                for a in attachments
                if isinstance(a, dict)
            ),
            content_base,
        ),
    )


def _json_author(obj: dict[str, Any]) -> str | None:
    # 1.1 has an "authors" list; 1.0 a single "author".
    authors = obj.get("authors")
    if isinstance(authors, list):
        names = [text_value(a.get("name")) for a in authors if isinstance(a, dict)]
        return ", ".join(n for n in names if n) or None
    author = obj.get("author")
    return text_value(author.get("name")) if isinstance(author, dict) else None


# -- Wagtail pages API -------------------------------------------------------


def _parse_wagtail(document: Any, url: str) -> ParsedFeed:
    # One listing page, as a feed document; polls read Wagtail sources in
    # full through aggregator.wagtail, which builds on this module.
    from aggregator.wagtail import parse_listing

    return parse_listing(document, url)


# -- HTML pages where a feed was expected -------------------------------------

FEED_LINK_TYPES = {
    "application/rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/feed+json": "JSON Feed",
    "application/json": "JSON Feed",
    "application/rdf+xml": "RSS 1.0",
}


class _AlternateLinks(HTMLParser):
    """Collects <link rel="alternate" type="...feed type..."> from a page's head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        values = {name: (value or "") for name, value in attrs}
        kind = FEED_LINK_TYPES.get(values.get("type", "").split(";")[0].strip().lower())
        if "alternate" in values.get("rel", "").lower().split() and kind and values.get("href"):
            self.links.append((values["href"].strip(), kind))


def feed_links(body: bytes, url: str) -> list[tuple[str, str]]:
    """The feeds an HTML page names, as (absolute URL, kind), each once."""
    finder = _AlternateLinks()
    try:
        finder.feed(body[:512 * 1024].decode("utf-8", "replace"))
        finder.close()
    except Exception:  # noqa: BLE001 - a broken page simply names no feeds
        return []
    found = {}
    for href, kind in finder.links:
        absolute = urljoin(url, href)
        if urlsplit(absolute).scheme in ("http", "https"):
            found.setdefault(absolute, kind)
    return list(found.items())


def _looks_like_html(body: bytes) -> bool:
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:200].lower()
    return start.startswith((b"<!doctype html", b"<html")) or b"<head" in start


def _not_a_feed_message(body: bytes, url: str) -> str:
    links = feed_links(body, url)
    if not links:
        return "not a feed: the address answers an HTML page that names no feed; find the blog's feed link (often /feed/)"
    named = ", ".join(f"{href} ({kind})" for href, kind in links[:3])
    return f"not a feed: this page links to {named}; put that address in feeds.yaml"


# -- shared helpers ----------------------------------------------------------


def map_entries(items: Iterable[Any], mapper: Callable[[Any], ParsedEntry], warnings: list[str]) -> list[ParsedEntry]:
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    for position, item in enumerate(items, 1):
        try:
            entry = mapper(item)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            warnings.append(f"entry {position} was skipped: {_reason(exc)}")
            continue
        if not entry.title and not entry.content and not entry.url:
            warnings.append(f"entry {position} was skipped: it has no title, link or content")
            continue
        if entry.key in seen:
            # A feed that lists one entry twice: the first (newest) copy wins.
            warnings.append(f"entry {position} repeats an earlier entry's id and was skipped")
            continue
        seen.add(entry.key)
        entries.append(entry)
    return entries


def _split_categories(categories: Iterable[str]) -> tuple[str, ...]:
    # Some feeds send "trauma, grief" as one category.
    names: list[str] = []
    for category in categories:
        names.extend(part for part in (p.strip() for p in str(category).split(",")) if part)
    return tuple(names)


def text_value(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def url_value(value: Any) -> str | None:
    # A URL is a string: a number in a URL field (3.14) is no address.
    return (value.strip() or None) if isinstance(value, str) else None


def _title_as_html(title: str | None, *, is_html: bool) -> str | None:
    # A feed's title goes on as HTML, to be reduced to text once: a text
    # title is escaped, so that "Notes on <dialog>" keeps its "<dialog>".
    if not title:
        return None
    return title if is_html else escape_text(title)


def base_for_content(declared: str | None, *fallbacks: str | None) -> str | None:
    """Return what relative URLs in an entry's content resolve against.

    An xml:base in scope (`declared`), else the first web address among
    `fallbacks` (the entry's link, the feed's link, the document's URL).
    Never an id: feedparser offers a tag: or urn: guid as the link of an
    entry without one, and nothing relative resolves against those.
    """
    return next((c for c in (declared, *fallbacks) if _web_address(c)), fallbacks[-1])


def _web_address(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) address, else None."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def absolute_url(url: str | None, base: str | None) -> str | None:
    if not url:
        return None
    return urljoin(base, url.strip()) if base else url.strip()


def iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reason(exc: BaseException | None, line_shift: int = 0) -> str:
    if exc is None:
        return "unknown problem"
    message = getattr(exc, "getMessage", None)
    text = (message() if callable(message) else str(exc)) or type(exc).__name__
    if isinstance(exc, xml.sax.SAXParseException) and isinstance(exc.getLineNumber(), int):
        # Where the curator finds the byte; expat counts columns from 0, editors from 1.
        return f"line {exc.getLineNumber() + line_shift}, column {exc.getColumnNumber() + 1}: {text}"
    return text
