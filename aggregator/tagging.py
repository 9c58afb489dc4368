"""Turn feed categories and configured tags into one set of topic tags.

`PTSD`, `ptsd ` and an alias such as `post-traumatic stress` must all land on
one tag, so every name goes through the same normalisation: Unicode NFKC,
case folding, whitespace and punctuation collapsed into single hyphens. The
slug is the tag's identity; the display name is the first spelling seen.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aggregator.identity import slugify

MAX_TAG_LENGTH = 60

# Categories that blog engines add by default and that say nothing about a
# post's topic; as tags they would only make noise on every list.
NOISE_TAGS = frozenset({"uncategorized", "uncategorised", "general", "blog", "blog-post", "posts", "news"})

# Authors declare content notes as categories: "cw: suicide", "CN - self harm".
_CONTENT_NOTE = re.compile(r"^\s*(?:cw|cn|tw)\s*[:\-–—]\s*(?P<topic>.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Tag:
    slug: str
    name: str


def tag_slug(name: str) -> str:
    """Return the normalised slug of a tag name ('' when nothing is left)."""
    return slugify(name)


def tag_display_name(name: str) -> str:
    """Return a tag's name as text to show: whitespace collapsed, bounded.

    An all-lower-case name gets a capital, so "trauma" from feeds.yaml and
    "Trauma" from a blog show alike; any other casing ("CBT") is kept.
    """
    text = " ".join(unicodedata.normalize("NFKC", name).split())[:MAX_TAG_LENGTH]
    return text[:1].upper() + text[1:] if text.islower() else text


class AliasLoop(ValueError):
    """Aliases point at each other; `alias` is the slug where the loop was found."""

    def __init__(self, alias: str, chain: list[str]):
        super().__init__("tag aliases form a loop: " + " -> ".join(chain))
        self.alias = alias


def resolve_aliases(aliases: Mapping[str, str]) -> dict[str, str]:
    """Map alias slugs onto their final target slugs, following chains.

    Raises AliasLoop when aliases point at each other.
    """
    direct = {tag_slug(alias): tag_slug(target) for alias, target in aliases.items()}
    resolved: dict[str, str] = {}
    for alias in direct:
        seen = [alias]
        target = direct[alias]
        while target in direct:
            if target in seen:
                raise AliasLoop(alias, [*seen, target])
            seen.append(target)
            target = direct[target]
        resolved[alias] = target
    return resolved


def declared_notes(categories: Iterable[str], aliases: Mapping[str, str]) -> list[str]:
    """The tag slugs an author marked as content notes ("cw: suicide")."""
    notes = []
    for category in categories:
        match = _CONTENT_NOTE.match(category)
        slug = tag_slug(match.group("topic")) if match else ""
        if slug:
            notes.append(aliases.get(slug, slug))
    return list(dict.fromkeys(notes))


def entry_tags(
    categories: Iterable[str],
    configured: Iterable[str],
    aliases: Mapping[str, str],
) -> list[Tag]:
    """Return the tags of one entry: its categories plus its feed's tags.

    `aliases` maps alias slugs to target slugs (see `resolve_aliases`). A
    content-note category ("cw: suicide") gives the tag of its topic. The
    result keeps the first-seen order and holds each slug once.
    """
    tags: dict[str, Tag] = {}
    for raw in [*configured, *categories]:
        note = _CONTENT_NOTE.match(raw)
        name = tag_display_name(note.group("topic") if note else raw)
        slug = tag_slug(name)
        if not slug or slug in NOISE_TAGS:
            continue
        if slug in aliases:
            slug = aliases[slug]
            name = tag_display_name(slug.replace("-", " "))
        tags.setdefault(slug, Tag(slug=slug, name=name))
    return list(tags.values())
