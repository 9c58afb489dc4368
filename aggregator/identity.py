"""Two names everything agrees on: a feed's identity and a slug.

feeds.yaml, OPML import, `aggregator add` and tagging all ask "is this the
same feed?" and "what slug does this name make?"; when each answered in its
own way, a feed added from OPML could be refused by `check` as a duplicate
that import had let through, or a writer's slug differ from the tag made of
the same words.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

SLUG_MAX = 60
# What an author slug may be: it stands in page addresses (/author/jane-doe).
AUTHOR_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

_SEPARATORS = re.compile(r"[^\w]+|_+")
# Letters that NFKD does not split into an ASCII letter and an accent.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i"})


def feed_identity(source: str) -> str:
    """The key under which two spellings of one feed compare equal.

    Servers treat the scheme and host without case, so `HTTPS://Jane.Example/feed/`
    is `https://jane.example/feed/`; the path and query keep their case,
    which servers do not ignore. A `path:` source (a file beside
    feeds.yaml) is its own identity.
    """
    text = source.strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # a malformed address such as "http://[::1"
        return text
    if parts.scheme.lower() not in ("http", "https"):
        return text
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def slugify(name: str, *, ascii_only: bool = False) -> str:
    """Lower-case words of `name` joined by hyphens, at most 60 characters ('' when nothing is left).

    Tags keep letters of every script ("心理" stays itself); author slugs,
    which stand in addresses, are `ascii_only`: "Søren Ålund" is
    "soren-alund".
    """
    text = unicodedata.normalize("NFKC", name).casefold()
    if ascii_only:
        spelled = unicodedata.normalize("NFKD", text.translate(_LETTERS))
        text = spelled.encode("ascii", "ignore").decode("ascii")
    return _SEPARATORS.sub("-", text).strip("-")[:SLUG_MAX].strip("-")


def unique_slug(base: str, taken: set[str] | frozenset[str]) -> str:
    """`base`, or `base-2`, `base-3`... whichever is not taken yet."""
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug
