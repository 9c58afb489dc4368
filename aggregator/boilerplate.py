"""Recognise the debris blog engines leave in feeds: the rules, not the cutting.

Rules come from the built-in library (`boilerplate.yaml`, beside this file)
and from curators, per feed, in feeds.yaml. This module parses and matches
them against plain text and element names; `clean` applies them to a post
while it cleans it. Nothing here touches HTML parsing or the network.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import yaml

LIBRARY = Path(__file__).with_name("boilerplate.yaml")
ROLES = ("remove", "continue", "ellipsis")
# A block longer than this is a paragraph of the post, whatever it says.
MAX_BLOCK_CHARS = 300

_SELECTOR = re.compile(r"^(?P<tag>[a-z][a-z0-9]*)?(?P<classes>(?:\.[A-Za-z0-9_-]+)*)$")


@dataclass(frozen=True)
class Selector:
    tag: str | None
    classes: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Selector:
        match = _SELECTOR.match(text.strip())
        if not match or (not match.group("tag") and not match.group("classes")):
            raise ValueError(f"bad selector {text!r}: write a tag, classes or both, like div.sharedaddy or .jp-relatedposts")
        classes = frozenset(c for c in match.group("classes").split(".") if c)
        return cls(match.group("tag"), classes)

    def matches(self, tag: str, class_attribute: str | None) -> bool:
        if self.tag is not None and self.tag != tag:
            return False
        return self.classes <= set((class_attribute or "").split())


@dataclass(frozen=True)
class Rule:
    name: str
    role: str = "remove"  # remove | continue (links to a full post) | ellipsis (marks a cut-short post)
    text: str | None = None  # normalised; the whole block says exactly this
    pattern: re.Pattern[str] | None = None  # the whole block's normalised text matches
    selector: Selector | None = None

    def matches_text(self, normalised: str) -> bool:
        if not normalised or len(normalised) > MAX_BLOCK_CHARS:
            return False
        if self.text is not None:
            return normalised == self.text
        return self.pattern is not None and self.pattern.fullmatch(normalised) is not None


@dataclass(frozen=True)
class Library:
    rules: tuple[Rule, ...]
    tracking: tuple[str, ...] = ()  # host, or host/path-prefix, of tracking images
    fingerprint: str = ""
    samples: dict[str, str] = field(default_factory=dict)  # rule name -> HTML it removes

    @property
    def text_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.selector is None)

    @property
    def selector_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.selector is not None)

    def is_tracker(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        for entry in self.tracking:
            entry_host, _, prefix = entry.partition("/")
            if (host == entry_host or host.endswith("." + entry_host)) and parts.path.startswith("/" + prefix):
                return True
        return False

    def with_rules(self, extra: Sequence[Rule]) -> Library:
        if not extra:
            return self
        return Library(self.rules + tuple(extra), self.tracking, self.fingerprint, self.samples)


def normalise(text: str) -> str:
    """Compare block texts without case, spacing or Unicode variants."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def curator_rule(text: str, name: str = "feeds.yaml") -> Rule:
    """A rule a curator wrote: plain text, or /a regular expression/.

    Raises ValueError with a message for the curator.
    """
    value = text.strip()
    if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
        try:
            pattern = re.compile(value[1:-1], re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"bad regular expression {value}: {exc}") from None
        if pattern.fullmatch(""):
            raise ValueError(f"the pattern {value} matches empty text and would remove every empty paragraph")
        return Rule(name=name, pattern=pattern)
    if not normalise(value):
        raise ValueError("an empty boilerplate rule would remove nothing")
    return Rule(name=name, text=normalise(value))


def curator_rules(texts: Iterable[str]) -> tuple[Rule, ...]:
    return tuple(curator_rule(text, f"feeds.yaml: {text}") for text in texts)


@lru_cache(maxsize=1)
def library() -> Library:
    """The built-in rules, read once."""
    return load_library(LIBRARY)


def load_library(path: Path) -> Library:
    raw = path.read_bytes()
    data = yaml.safe_load(raw)
    rules = []
    samples = {}
    for item in data["rules"]:
        role = item.get("role", "remove")
        if role not in ROLES:
            raise ValueError(f"{path}: rule {item['name']}: unknown role {role!r}")
        kinds = [key for key in ("text", "pattern", "selector") if key in item]
        if len(kinds) != 1:
            raise ValueError(f"{path}: rule {item['name']} needs exactly one of text, pattern, selector")
        rules.append(
            Rule(
                name=item["name"],
                role=role,
                text=normalise(item["text"]) if "text" in item else None,
                pattern=re.compile(item["pattern"], re.IGNORECASE) if "pattern" in item else None,
                selector=Selector.parse(item["selector"]) if "selector" in item else None,
            )
        )
        samples[item["name"]] = item["sample"]
    return Library(
        rules=tuple(rules),
        tracking=tuple(data.get("tracking", ())),
        fingerprint=hashlib.sha256(raw).hexdigest()[:16],
        samples=samples,
    )


def repeated_endings(texts: Sequence[str], *, lines: int = 3, min_posts: int = 3, min_share: float = 0.5) -> list[tuple[str, int]]:
    """Lines that end many of one author's posts: sign-up boxes, booking links.

    Looks at the last `lines` lines of each post's plain text and returns
    those found in at least `min_posts` posts and `min_share` of them, most
    frequent first. A suggestion for the curator, never removed on its own.
    """
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for text in texts:
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        for line in dict.fromkeys(tail):
            key = normalise(line)
            if key and len(line) <= MAX_BLOCK_CHARS:
                counts[key] += 1
                spelling.setdefault(key, line)
    needed = max(min_posts, int(len(texts) * min_share + 0.999))
    return [(spelling[key], n) for key, n in counts.most_common() if n >= needed]
