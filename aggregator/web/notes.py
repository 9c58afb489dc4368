"""Content notes: which posts carry one, and which topics a reader hides.

Curators name the noted topics in feeds.yaml (`tags: content_notes:`), with
an optional support panel; authors can declare a note with a "cw:" or "cn:"
category. A reader can leave noted topics out of every list through a
reading setting kept in a cookie.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import request

from aggregator.config import ContentNote
from aggregator.reading import EntryView
from aggregator.settings import load_settings
from aggregator.tagging import tag_slug
from aggregator.web import db_session

HIDE_COOKIE = "hide_topics"
MAX_HIDDEN = 20
MAX_COOKIE_LENGTH = 2000


@dataclass(frozen=True)
class Note:
    slug: str
    text: str
    support: str | None


@dataclass(frozen=True)
class SupportPanel:
    name: str
    title: str
    text: str
    links: tuple[tuple[str, str], ...]


def configured_notes() -> Mapping[str, ContentNote]:
    """{tag slug: its note} as `aggregator sync` stored them."""
    return load_settings(db_session()).notes


def notes_for(entry: EntryView) -> list[Note]:
    """The content notes an entry carries, the curator's first."""
    configured = configured_notes()
    tag_names = {tag.slug: tag.name for tag in entry.tags}
    notes = [Note(slug, configured[slug].note, configured[slug].support) for slug in tag_names if slug in configured]
    for slug in entry.declared_notes:
        if slug not in configured:
            notes.append(Note(slug, f"the author notes: {tag_names.get(slug, slug.replace('-', ' '))}", None))
    return notes


def support_panels(notes: list[Note]) -> list[SupportPanel]:
    names = list(dict.fromkeys(note.support for note in notes if note.support))
    if not names:
        return []
    stored = load_settings(db_session()).support
    return [SupportPanel(name, stored[name].title, stored[name].text, stored[name].links) for name in names if name in stored]


def hidden_topics() -> list[str]:
    """The noted topics this reader chose to leave out of every list."""
    raw = request.cookies.get(HIDE_COOKIE, "")[:MAX_COOKIE_LENGTH]
    return [slug for slug in dict.fromkeys(tag_slug(part) for part in raw.split(",")) if slug][:MAX_HIDDEN]


def cookie_value(slugs: list[str]) -> str:
    return ",".join(dict.fromkeys(slugs))[:MAX_COOKIE_LENGTH]
