"""Reading settings: text size, line spacing, typeface, and topics left out, kept in cookies.

No account and no JavaScript: the settings page is a plain form, and every
page's <html> element carries classes that the stylesheet turns into the
reader's choices. Unknown values in the cookie are ignored. The topics a
reader leaves out have a cookie of their own (see aggregator.web.notes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode

from flask import request
from sqlalchemy.orm import Session

from aggregator import reading
from aggregator.config import ContentNote
from aggregator.settings import load_settings
from aggregator.web.summaries import summary

COOKIE = "reading"
CHOICES: dict[str, dict[str, str]] = {
    "size": {"normal": "Normal", "small": "Smaller", "large": "Larger", "x-large": "Largest"},
    "spacing": {"normal": "Normal", "relaxed": "More space between lines", "loose": "Most space between lines"},
    "face": {
        "serif": "Book serif (Charter, Georgia)",
        "sans": "Plain sans-serif (your system's)",
        "legible": "Highly legible (Atkinson Hyperlegible, Verdana)",
    },
}
DEFAULTS = {name: next(iter(values)) for name, values in CHOICES.items()}
# The longest cookie from_form() writes is under 60 characters; a longer one
# is read only this far, so a forged giant costs nothing to parse.
MAX_COOKIE_LENGTH = 200
# Offered to leave out where feeds.yaml names no topics: the most used tags.
MOST_USED_TOPICS = 40


def current() -> dict[str, str]:
    """The reader's settings, defaults where the cookie says nothing valid."""
    chosen = dict(parse_qsl(request.cookies.get(COOKIE, "")[:MAX_COOKIE_LENGTH])) if request else {}
    return {name: chosen.get(name) if chosen.get(name) in CHOICES[name] else DEFAULTS[name] for name in CHOICES}


def html_classes() -> str:
    return " ".join(f"{name}-{value}" for name, value in current().items() if value != DEFAULTS[name])


def from_form(form) -> str:
    """The cookie value for what the settings form sent (valid values only)."""
    chosen = {name: form.get(name) for name in CHOICES if form.get(name) in CHOICES[name]}
    return urlencode({name: value for name, value in chosen.items() if value != DEFAULTS[name]})


def topics_to_leave_out(session: Session, noted: Mapping[str, ContentNote], hidden: Sequence[str]) -> list[tuple[reading.TagView, str | None]]:
    """The topics a reader may leave out of every list, each with its content note (None: it has none).

    The noted topics first, then the curated ones (`tags.topics`), or where
    feeds.yaml names none the most used tags, by name; a topic the reader
    left out stays offered, so that it can be taken back.
    """
    vocabulary = load_settings(session).vocabulary
    if vocabulary.topics:
        others = list(vocabulary.topics)
    else:
        others = [view.slug for view, _ in summary("tag-counts", lambda: reading.tag_counts(session))[:MOST_USED_TOPICS]]
    known = {view.slug: view for view in reading.get_tags(session, [*noted, *others, *hidden])}
    # A noted topic without posts yet still has a name; a curated one its label.
    named = {slug: reading.TagView(slug, vocabulary.name(slug, known[slug].name if slug in known else None)) for slug in known}
    for slug in [*noted, *vocabulary.topics]:
        named.setdefault(slug, reading.TagView(slug, vocabulary.name(slug)))
    rest = sorted({*others, *hidden} - set(noted), key=lambda slug: named[slug].name.casefold() if slug in named else "")
    return [(named[slug], noted[slug].note if slug in noted else None) for slug in [*noted, *rest] if slug in named]
