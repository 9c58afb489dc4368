"""Carry the list of writers out of and into OPML 2.0, the format feed readers share.

Export lists what the public can subscribe to. Import goes the other way,
but never straight into the database: an OPML file from a reader becomes
feeds.yaml writers that a curator reviews, and that `aggregator.feeds_file`
can append to the file without touching the rest of it. Readers export
folders of feeds; a folder is never a writer, its title becomes a tag of
the feeds inside it. OPML arrives from strangers, so parsing refuses
DOCTYPEs (the door to entity expansion and external entities) and caps the
input size.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.parsers.expat import ErrorString

from aggregator.feeds_file import NewAuthor, NewFeed
from aggregator.identity import feed_identity, slugify, unique_slug

MAX_OPML_BYTES = 5 * 1024 * 1024
OPML_DOCS = "http://opml.org/spec2.opml"
DOCTYPE_REFUSED = "OPML with a DOCTYPE is refused: it could expand entities"
FOLDER_CHOICES = ("tags", "ignore")
# Folder levels a feed's tags come from; deeper ones are real readers' exports
# of nobody, and keeping them all would cost hostile nesting its depth squared.
MAX_FOLDER_DEPTH = 8
# The OPML category of sources that are no feed a reader can read.
NOT_FOR_READERS = "/aggregator/not-a-feed"

# Characters XML 1.0 cannot carry at all; ElementTree would write them raw and
# produce a document no reader (including ours) can open.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# How a document's first bytes give away a wide encoding; UTF-32 first, as
# its marks begin with UTF-16's.
_SIGNATURES = (
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
    (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
    (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
    (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be"),
)


class OpmlError(ValueError):
    """The document is not OPML that can be read; the message says why."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class OpmlFeed:
    xml_url: str
    title: str
    html_url: str | None
    folders: tuple[str, ...] = ()  # the titles of the folders it sits in, outermost first

    @property
    def group(self) -> str | None:
        """The folder right around the feed (in our own export: its writer)."""
        return self.folders[-1] if self.folders else None


@dataclass(frozen=True)
class ExportFeed:
    source: str  # as feeds.yaml lists it: a URL, or "path:<file beside feeds.yaml>"
    url: str  # where it is read now (a permanent move followed)
    title: str | None = None
    html_url: str | None = None
    type: str | None = None  # "wagtail" for a Wagtail pages API source
    syndication_url: str | None = None  # a Wagtail source's site's own RSS or Atom feed, when its pages name one


@dataclass(frozen=True)
class ExportWriter:
    slug: str
    name: str
    homepage: str | None
    feeds: tuple[ExportFeed, ...]


# -- export --------------------------------------------------------------------


def export_opml(*, title: str, owner_url: str, date: datetime, writers: Iterable[ExportWriter]) -> bytes:
    """Build an OPML 2.0 document of what the public can subscribe to, writer by writer.

    A web feed is listed at its address. A feed read from a file beside
    feeds.yaml (the demo) has no address of its own: the writer's feed on
    this site (`owner_url` + /author/<slug>/feed.atom) stands for it when
    the site has a public address, else it is left out with a comment that
    says why. A Wagtail pages API source is JSON no feed reader reads: it is
    listed as the site's own RSS or Atom feed when its pages name one, else
    as type="wagtail" under the category NOT_FOR_READERS and without an
    xmlUrl, so readers skip it. A document with nothing to subscribe to
    says so in a text outline. A naive `date` is taken as UTC.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    stamp = date if date.tzinfo is not None else date.replace(tzinfo=UTC)
    ET.SubElement(head, "dateCreated").text = format_datetime(stamp.astimezone(UTC), usegmt=True)
    ET.SubElement(head, "docs").text = OPML_DOCS
    ET.SubElement(head, "ownerId").text = _xml_text(owner_url)
    body = ET.SubElement(root, "body")
    public_site = _is_public(owner_url)
    listed = 0
    for writer in writers:
        name = _xml_text(writer.name)
        group = ET.Element("outline", text=name, title=name)
        for feed in writer.feeds:
            listed += _export_feed(group, body, writer, feed, owner_url if public_site else None)
        _drop_repeats(group)
        if len(group):
            body.append(group)
    if not listed:
        reason = "No feed of this reading room can be subscribed to yet"
        ET.SubElement(body, "outline", text=f"{reason}: no writer has a web feed listed.")
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _export_feed(group: ET.Element, body: ET.Element, writer: ExportWriter, feed: ExportFeed, site: str | None) -> int:
    """Add one feed's outline to its writer's (or a comment on why not); 1 when a reader can subscribe to it."""
    name = _xml_text(writer.name)
    # OPML 2.0 requires `text` on every outline; the writer's name is the
    # best label for a feed that has no title of its own.
    label = _xml_text(feed.title or "") or name
    link = feed.html_url if _is_http(feed.html_url) else writer.homepage
    attributes = {"htmlUrl": _xml_text(link)} if link and _is_http(link) else {}
    if feed.source.startswith("path:"):
        if site is None:
            group.append(ET.Comment(_comment(
                f" {feed.source.removeprefix('path:')} is read from a file beside feeds.yaml and has no public address;"
                " set site.base_url (or AGGREGATOR_BASE_URL) to the site's public address to list this writer's feed here "
            )))  # fmt: skip
            return 0
        own = f"{site.rstrip('/')}/author/{writer.slug}/feed.atom"
        ET.SubElement(group, "outline", type="rss", text=label, title=label, xmlUrl=_xml_text(own), **attributes)
        return 1
    if not _is_http(feed.url):
        return 0
    if feed.type == "wagtail" and _is_http(feed.syndication_url):
        # Readers cannot read the API, but they can read the site's own feed.
        ET.SubElement(
            group, "outline", type="rss", text=label, title=label, xmlUrl=_xml_text(feed.syndication_url or ""), **attributes
        )
        return 1
    if feed.type == "wagtail":
        ET.SubElement(
            group, "outline", type="wagtail", text=label, title=label, url=_xml_text(feed.url),
            category=NOT_FOR_READERS, **attributes,
        )  # fmt: skip
        return 0
    ET.SubElement(group, "outline", type="rss", text=label, title=label, xmlUrl=_xml_text(feed.url), **attributes)
    return 1


def _drop_repeats(group: ET.Element) -> None:
    """One outline per feed address: a Wagtail source's site feed may also be listed on its own."""
    seen: set[str] = set()
    for outline in list(group):
        address = outline.get("xmlUrl") if isinstance(outline.tag, str) else None
        if address is None:
            continue
        if address in seen:
            group.remove(outline)
        seen.add(address)


def _is_public(url: str) -> bool:
    """Whether a site address could be reached by a reader elsewhere (not this machine, not a private network)."""
    host = (urlsplit(url).hostname or "").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return address.is_global


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _comment(text: str) -> str:
    # "--" may not stand inside an XML comment.
    return re.sub("-(?=-)", "- ", _xml_text(text))


# -- import --------------------------------------------------------------------


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """Read the web feeds of an OPML 1.0 or 2.0 document, in document order.

    Any outline with an xmlUrl is a feed, whatever its `type`; an outline
    with child outlines is a folder, however deep (the outermost
    MAX_FOLDER_DEPTH are kept). Attribute names are
    matched without case, since readers disagree (`xmlUrl`, `xmlurl`).
    Feeds that are not http(s) are skipped. Raise OpmlError for anything
    that is not readable OPML.
    """
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"the OPML file is too large: {len(data):,} bytes, the limit is {MAX_OPML_BYTES:,}")
    _refuse_doctype(data)
    parser = ET.XMLParser(target=_NoDoctypeBuilder())
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        raise OpmlError(
            f"broken OPML: XML syntax error at line {line}, column {column + 1}: {ErrorString(exc.code)}", line
        ) from None
    if _local(root.tag) != "opml":
        raise OpmlError(f"not an OPML document: the root element is <{_local(root.tag)}>, not <opml>")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise OpmlError("broken OPML: the document has no <body>")

    feeds: list[OpmlFeed] = []
    # An explicit stack, not recursion: hostile nesting thousands deep would
    # otherwise exhaust Python's recursion limit.
    stack: list[tuple[ET.Element, tuple[str, ...]]] = [(child, ()) for child in reversed(body)]
    while stack:
        element, folders = stack.pop()
        if _local(element.tag) != "outline":
            continue
        attrs = {_local(name).lower(): value for name, value in element.attrib.items()}
        label = _clean(attrs.get("text", "")) or _clean(attrs.get("title", "")) or None
        xml_url = attrs.get("xmlurl", "").strip()
        if xml_url and _is_http(xml_url):
            html_url = attrs.get("htmlurl", "").strip()
            feeds.append(
                OpmlFeed(
                    xml_url=xml_url,
                    title=label or urlsplit(xml_url).hostname or xml_url,
                    html_url=html_url if _is_http(html_url) else None,
                    folders=folders,
                )
            )
        children = [child for child in element if _local(child.tag) == "outline"]
        deeper = label and children and not xml_url and len(folders) < MAX_FOLDER_DEPTH
        inner = (*folders, label) if deeper else folders
        stack.extend((child, inner) for child in reversed(children))
    return feeds


class _NoDoctypeBuilder(ET.TreeBuilder):
    """Stop at a DOCTYPE the byte check missed (a document in an exotic encoding)."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise OpmlError(DOCTYPE_REFUSED)


def _refuse_doctype(data: bytes) -> None:
    # ASCII-compatible encodings keep "<!DOCTYPE" as the same bytes, so
    # Latin-1 (which decodes any byte) shows it; UTF-16 and UTF-32 are
    # recognised by their byte order mark or the zero bytes around '<'.
    encoding = next((name for start, name in _SIGNATURES if data.startswith(start)), "latin-1")
    lowered = data.decode(encoding, errors="replace").lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise OpmlError(DOCTYPE_REFUSED)


def _local(tag: object) -> str:
    """Return an element or attribute name without its {namespace}."""
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1]


def _clean(text: str) -> str:
    """Collapse whitespace and drop control characters, which no label needs."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs", "Cn") or ch.isspace())
    return " ".join(kept.split())


def _is_http(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed address such as "http://[::1"
        return False




# -- into feeds.yaml -----------------------------------------------------------


@dataclass
class ImportPlan:
    """What an OPML file adds to feeds.yaml: new writers, and what was skipped or merged, in words."""

    authors: list[NewAuthor] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        """One line per writer and feed: what each outline became."""
        feeds = sum(len(author.feeds) for author in self.authors)
        lines = [f"{feeds} new feed{'s' if feeds != 1 else ''} for {len(self.authors)} writer{'s' if len(self.authors) != 1 else ''}:"]
        for author in self.authors:
            lines.append(f"  {author.slug}: {author.name}")
            for feed in author.feeds:
                tags = f"  (tags: {', '.join(feed.tags)})" if feed.tags else ""
                lines.append(f"    {feed.url}{tags}")
        return lines


def plan_import(
    feeds: list[OpmlFeed], existing_slugs: Iterable[str], existing_sources: Iterable[str], folders: str = "tags"
) -> ImportPlan:
    """Map the feeds of an OPML file onto new feeds.yaml writers.

    Each feed becomes one writer named by its title, except that feeds of
    one site (the host of their htmlUrl) become one writer with several
    feeds. With `folders="tags"` the titles of the folders a feed sits in
    become its tags, one per level; a feed filed in two folders is one
    feed with the tags of both. Feeds already in feeds.yaml (compared by
    `feed_identity`) are skipped with a note.
    """
    if folders not in FOLDER_CHOICES:
        raise ValueError(f"folders must be one of {', '.join(FOLDER_CHOICES)}, not {folders!r}")
    plan = ImportPlan()
    known = {feed_identity(source) for source in existing_sources}
    chosen: dict[str, tuple[OpmlFeed, list[str]]] = {}  # identity -> the feed and its tags
    for feed in feeds:
        url = feed.xml_url.strip()
        key = feed_identity(url)
        if key in known:
            plan.notes.append(f"skipped {url}: already in feeds.yaml")
            continue
        tags = _folder_tags(feed.folders) if folders == "tags" else []
        if key in chosen:
            kept = chosen[key][1]
            kept += [tag for tag in tags if slugify(tag) not in {slugify(t) for t in kept}]
            plan.notes.append(f"{url} is in more than one folder: one feed, with the tags of each")
            continue
        chosen[key] = (feed, tags)

    sites: dict[str, list[tuple[OpmlFeed, list[str]]]] = {}
    for key, (feed, tags) in chosen.items():
        sites.setdefault(_site_of(feed) or f"feed:{key}", []).append((feed, tags))
    taken = set(existing_slugs)
    for site, members in sites.items():
        first = members[0][0]
        host = (urlsplit(first.xml_url).hostname or "").removeprefix("www.")
        name = _clean(first.title) or host or "writer"
        # A name in a script with no Latin spelling gives no slug; its site's host does.
        slug = unique_slug(slugify(name, ascii_only=True) or slugify(host, ascii_only=True) or "writer", taken)
        taken.add(slug)
        if len(members) > 1:
            plan.notes.append(f"{slug}: {len(members)} feeds of {site} make one writer; split them if they are different writers")
        new_feeds = tuple(
            NewFeed(url=feed.xml_url.strip(), tags=tuple(tags), comment=_quoted(feed.title) if _clean(feed.title) != name else None)
            for feed, tags in members
        )
        homepage = next((feed.html_url.strip() for feed, _ in members if feed.html_url), None)
        plan.authors.append(NewAuthor(slug=slug, name=name, homepage=homepage, feeds=new_feeds, comment="from OPML"))
    return plan


def _folder_tags(folders: tuple[str, ...]) -> list[str]:
    """The folders' titles as tags, outermost first, each once; a title with no letter or digit makes none."""
    tags: dict[str, str] = {}
    for title in folders:
        text = _clean(title)
        if slugify(text):
            tags.setdefault(slugify(text), text)
    return list(tags.values())


def _site_of(feed: OpmlFeed) -> str | None:
    """The host of the feed's web site, without `www.`: what tells two feeds of one writer."""
    host = (urlsplit(feed.html_url).hostname or "") if feed.html_url else ""
    return host.lower().removeprefix("www.") or None


def _quoted(text: str) -> str:
    return f'"{_clean(text)}"'
