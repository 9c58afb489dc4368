"""Re-publish what the site gathered as an Atom feed.

Built with ElementTree, which escapes every text and attribute; the entry
content is the cleaned HTML, carried as escaped text (type="html").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlsplit
from xml.etree import ElementTree

from aggregator import __version__
from aggregator.reading import EntryView
from aggregator.web.dates import iso

ATOM_NS = "http://www.w3.org/2005/Atom"
ElementTree.register_namespace("", ATOM_NS)


def _el(parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def entry_atom_id(entry: EntryView, base_url: str) -> str:
    """The original id when it is a URI (so readers see one post once), else ours."""
    if entry.guid and urlsplit(entry.guid).scheme and ":" in entry.guid and " " not in entry.guid:
        return entry.guid
    return f"{base_url}/entry/{entry.id}"


def atom_feed(
    *,
    title: str,
    subtitle: str | None,
    feed_id: str,
    self_url: str,
    alternate_url: str,
    base_url: str,
    entries: Sequence[EntryView],
    notes: Mapping[int, Sequence[str]] | None = None,
) -> bytes:
    """The feed document; `notes` gives each entry's content notes, put in
    front of its summary and content so that feed readers show them first."""
    notes = notes or {}
    feed = ElementTree.Element(f"{{{ATOM_NS}}}feed")
    _el(feed, "id", feed_id)
    _el(feed, "title", title)
    if subtitle:
        _el(feed, "subtitle", subtitle)
    newest = max((e.updated_at or e.sort_time for e in entries), default=datetime(2000, 1, 1, tzinfo=UTC))
    _el(feed, "updated", iso(newest))
    _el(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _el(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    _el(feed, "generator", "Therapy Writers Aggregator", version=__version__)
    for entry in entries:
        item = _el(feed, "entry")
        _el(item, "id", entry_atom_id(entry, base_url))
        _el(item, "title", entry.title)
        _el(item, "published", iso(entry.published_at or entry.sort_time))
        _el(item, "updated", iso(entry.updated_at or entry.published_at or entry.sort_time))
        author = _el(item, "author")
        _el(author, "name", entry.author_name or entry.author.name)
        if entry.author.homepage:
            _el(author, "uri", entry.author.homepage)
        if entry.url:
            _el(item, "link", rel="alternate", type="text/html", href=entry.url)
        _el(item, "link", rel="related", type="text/html", href=f"{base_url}/entry/{entry.id}")
        for tag in entry.tags:
            _el(item, "category", term=tag.slug, label=tag.name, scheme=f"{base_url}/tag/")
        note = "Content note: " + "; ".join(notes[entry.id]) if notes.get(entry.id) else ""
        summary = " ".join(filter(None, [note and note + ".", entry.summary_text]))
        if summary:
            _el(item, "summary", summary, type="text")
        if entry.content_html:
            prefix = f"<p><strong>{escape(note)}</strong></p>" if note else ""
            _el(item, "content", prefix + entry.content_html, type="html")
    return ElementTree.tostring(feed, encoding="utf-8", xml_declaration=True)
