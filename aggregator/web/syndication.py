"""Re-publish what the site gathered: Atom 1.0, RSS 2.0 and JSON Feed 1.1.

One description of a feed (`OutputFeed`), three renderers. XML is built with
ElementTree, which escapes every text and attribute; JSON with json.dumps.
Every entry keeps its original author and link; its content is the cleaned
HTML, with its content notes in front.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from urllib.parse import urlsplit
from xml.etree import ElementTree

from aggregator import __version__
from aggregator.reading import EntryView
from aggregator.web.dates import iso

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
ElementTree.register_namespace("atom", ATOM_NS)
ElementTree.register_namespace("content", CONTENT_NS)
ElementTree.register_namespace("dc", DC_NS)
GENERATOR = "Therapy Writers Aggregator"
MEDIA_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml", "json": "application/feed+json"}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
UNKNOWN_MEDIA_TYPE = "application/octet-stream"  # RSS and JSON Feed require a type


@dataclass(frozen=True)
class OutputFeed:
    title: str
    subtitle: str | None
    feed_url: str  # this document's own address
    home_url: str  # the page it mirrors
    base_url: str  # the site's, for entry pages and tag schemes
    entries: Sequence[EntryView]
    notes: Mapping[int, Sequence[str]] = field(default_factory=dict)  # entry id -> content notes

    @property
    def updated(self) -> datetime:
        return max((e.updated_at or e.sort_time for e in self.entries), default=_EPOCH)

    def entry_id(self, entry: EntryView) -> str:
        """The original id when it is a URI (so readers see one post once), else ours."""
        if entry.guid and urlsplit(entry.guid).scheme and ":" in entry.guid and " " not in entry.guid:
            return entry.guid
        return self.entry_page(entry)

    def entry_page(self, entry: EntryView) -> str:
        return f"{self.base_url}/entry/{entry.id}"

    def note(self, entry: EntryView) -> str:
        texts = self.notes.get(entry.id)
        return "Content note: " + "; ".join(texts) if texts else ""

    def summary(self, entry: EntryView) -> str:
        note = self.note(entry)
        return " ".join(filter(None, [note and note + ".", entry.summary_text]))

    def content(self, entry: EntryView) -> str:
        """The post as its writer wishes it shared: in full, an excerpt, or its title, with a link to it and their license."""
        note = self.note(entry)
        prefix = f"<p><strong>{escape(note)}</strong></p>" if note else ""
        body = entry.content_html if entry.display == "full" else self.link_out(entry)
        license = f"<p><small>{escape(entry.license)}</small></p>" if entry.license and body else ""
        return prefix + body + license

    def has_content(self, entry: EntryView) -> bool:
        return bool(entry.content_html) or entry.display != "full"

    def link_out(self, entry: EntryView) -> str:
        """An excerpt (if the writer shares one) and a link to the whole post on their site."""
        excerpt = f"<p>{escape(entry.summary_text)}</p>" if entry.display == "excerpt" and entry.summary_text else ""
        writer = entry.author_name or entry.author.name
        target = escape(entry.url or self.entry_page(entry))
        return excerpt + f'<p><a href="{target}">Read “{escape(entry.title)}” on {escape(writer)}’s site</a></p>'


def render(kind: str, feed: OutputFeed) -> bytes:
    return {"atom": atom, "rss": rss, "json": json_feed}[kind](feed)


def atom(feed: OutputFeed) -> bytes:
    """The Atom document, in Atom's default namespace (`<feed xmlns=...>`, no `atom:` prefix).

    Plain names under an `xmlns` attribute written by hand: ElementTree's own
    default_namespace option refuses the unqualified attributes Atom uses.
    """

    def el(parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, tag, attributes)
        if text is not None:
            element.text = text
        return element

    root = ElementTree.Element("feed", {"xmlns": ATOM_NS})
    el(root, "id", feed.feed_url)
    el(root, "title", feed.title)
    if feed.subtitle:
        el(root, "subtitle", feed.subtitle)
    el(root, "updated", iso(feed.updated))
    el(root, "link", rel="self", type=MEDIA_TYPES["atom"], href=feed.feed_url)
    el(root, "link", rel="alternate", type="text/html", href=feed.home_url)
    el(root, "generator", GENERATOR, version=__version__)
    for entry in feed.entries:
        item = el(root, "entry")
        el(item, "id", feed.entry_id(entry))
        el(item, "title", entry.title)
        el(item, "published", iso(entry.published_at or entry.sort_time))
        el(item, "updated", iso(entry.updated_at or entry.published_at or entry.sort_time))
        author = el(item, "author")
        el(author, "name", entry.author_name or entry.author.name)
        if entry.author.homepage:
            el(author, "uri", entry.author.homepage)
        if entry.url:
            el(item, "link", rel="alternate", type="text/html", href=entry.url)
        el(item, "link", rel="related", type="text/html", href=feed.entry_page(entry))
        for file in entry.enclosures:
            known = {"type": file.media_type, "length": file.length and str(file.length)}
            el(item, "link", rel="enclosure", href=file.url, **{name: value for name, value in known.items() if value})
        for tag in entry.tags:
            el(item, "category", term=tag.slug, label=tag.name, scheme=f"{feed.base_url}/tag/")
        if feed.summary(entry):
            el(item, "summary", feed.summary(entry), type="text")
        if feed.has_content(entry):
            el(item, "content", feed.content(entry), type="html")
        if entry.license:
            el(item, "rights", entry.license)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def rss(feed: OutputFeed) -> bytes:
    root = ElementTree.Element("rss", {"version": "2.0"})
    channel = ElementTree.SubElement(root, "channel")

    def el(parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, tag, attributes)
        if text is not None:
            element.text = text
        return element

    el(channel, "title", feed.title)
    el(channel, "link", feed.home_url)
    el(channel, "description", feed.subtitle or feed.title)
    el(channel, f"{{{ATOM_NS}}}link", rel="self", type=MEDIA_TYPES["rss"], href=feed.feed_url)
    el(channel, "lastBuildDate", format_datetime(feed.updated.astimezone(UTC), usegmt=True))
    el(channel, "generator", f"{GENERATOR} {__version__}")
    for entry in feed.entries:
        item = el(channel, "item")
        el(item, "title", entry.title)
        el(item, "link", entry.url or feed.entry_page(entry))
        guid = feed.entry_id(entry)
        el(item, "guid", guid, isPermaLink="true" if guid.startswith(("http://", "https://")) else "false")
        el(item, "pubDate", format_datetime((entry.published_at or entry.sort_time).astimezone(UTC), usegmt=True))
        # RSS's own <author> wants an e-mail address; Dublin Core takes a name.
        el(item, f"{{{DC_NS}}}creator", entry.author_name or entry.author.name)
        for tag in entry.tags:
            el(item, "category", tag.name, domain=f"{feed.base_url}/tag/")
        el(item, "description", feed.summary(entry))
        if entry.enclosures:
            # RSS allows one enclosure per item, and asks for its length and type.
            first = entry.enclosures[0]
            el(item, "enclosure", url=first.url, length=str(first.length or 0), type=first.media_type or UNKNOWN_MEDIA_TYPE)
        if feed.has_content(entry):
            el(item, f"{{{CONTENT_NS}}}encoded", feed.content(entry))
        if entry.license:
            el(item, f"{{{DC_NS}}}rights", entry.license)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def json_feed(feed: OutputFeed) -> bytes:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": feed.feed_url,
        "items": [
            {
                "id": feed.entry_id(entry),
                "url": entry.url or feed.entry_page(entry),
                "external_url": feed.entry_page(entry) if entry.url else None,
                "title": entry.title,
                "content_html": feed.content(entry),
                "summary": feed.summary(entry) or None,
                "date_published": iso(entry.published_at or entry.sort_time),
                "date_modified": iso(entry.updated_at) if entry.updated_at else None,
                "authors": [
                    {key: value for key, value in (("name", entry.author_name or entry.author.name), ("url", entry.author.homepage)) if value}
                ],
                "tags": [tag.name for tag in entry.tags],
                "attachments": [
                    {
                        key: value
                        for key, value in (
                            ("url", file.url),
                            ("mime_type", file.media_type or UNKNOWN_MEDIA_TYPE),
                            ("size_in_bytes", file.length),
                            ("duration_in_seconds", file.duration_seconds),
                        )
                        if value is not None
                    }
                    for file in entry.enclosures
                ] or None,
            }
            for entry in feed.entries
        ],
    }
    if feed.subtitle:
        document["description"] = feed.subtitle
    for item in document["items"]:
        for key in [key for key, value in item.items() if value is None]:
            del item[key]
    return json.dumps(document, ensure_ascii=False, indent=1).encode()
