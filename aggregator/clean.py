"""Make feed content safe and readable: one bleach pass per entry.

Everything a feed sends is hostile. Entry HTML is parsed once (bleach's
html5lib parser), elements whose contents must never show (scripts, styles,
forms, SVG, ...) are cut out with their contents, then bleach's sanitizer
keeps only the allowlist below, and our URL filter makes every link and image
address absolute, checks its scheme once more and marks links
`rel="noopener noreferrer"`. Titles, names and tags are plain text.

The only module that imports bleach.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

from bleach import html5lib_shim
from bleach.sanitizer import BleachSanitizerFilter

# What long-form posts use, and nothing that runs or submits.
ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "div", "span",
    "h1", "h2", "h3", "h4", "h5", "h6",
    "em", "i", "strong", "b", "u", "s", "del", "ins", "mark", "small", "sub", "sup",
    "abbr", "cite", "q", "dfn", "kbd", "code", "pre", "samp", "var", "time",
    "blockquote", "ul", "ol", "li", "dl", "dt", "dd",
    "a", "img", "figure", "figcaption", "picture",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "colgroup", "col",
    "details", "summary",
})  # fmt: skip

# No style, class or id anywhere: a feed must not restyle our pages or
# collide with our anchors. width/height stay on images so the browser
# reserves their space (no layout shift); CSS caps them to the column.
ALLOWED_ATTRIBUTES = {
    "*": ["lang", "dir", "title"],
    "a": ["href", "title"],
    "img": ["src", "srcset", "sizes", "alt", "title", "width", "height"],
    "blockquote": ["cite"],
    "q": ["cite"],
    "del": ["cite", "datetime"],
    "ins": ["cite", "datetime"],
    "time": ["datetime"],
    "ol": ["start", "reversed", "type"],
    "li": ["value"],
    "td": ["colspan", "rowspan", "headers"],
    "th": ["colspan", "rowspan", "headers", "scope", "abbr"],
    "col": ["span"],
    "colgroup": ["span"],
    "abbr": ["title"],
    "details": ["open"],
}

ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})

# Cut out with everything inside them. bleach's strip=True keeps the text of
# a removed element, which for these would print code, CSS, form labels or
# fallback markup into the post.
DROP_WITH_CONTENTS = frozenset({
    "script", "style", "noscript", "template", "object", "embed", "applet",
    "frame", "frameset", "noframes", "noembed", "iframe", "svg", "math",
    "head", "title", "meta", "link", "base", "form", "button", "select",
    "textarea", "input", "option", "optgroup", "datalist", "output", "dialog",
    "canvas", "audio", "video", "source", "track", "param", "xmp", "plaintext",
})  # fmt: skip

URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
BLOCK_TAGS = frozenset({
    "p", "div", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li",
    "dl", "dt", "dd", "pre", "figure", "figcaption", "table", "tr", "caption", "details", "summary",
})  # fmt: skip
EXCERPT_WORDS = 60
# Part of every stored entry's content hash: raise it when the rules above
# change, and the next poll of each feed cleans its entries again.
RULES_VERSION = 1

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class CleanContent:
    html: str  # safe to mark |safe in a template
    text: str  # the plain text of the whole post
    excerpt: str  # the first words, for lists


def clean_content(raw: str, is_html: bool = True, base_url: str | None = None) -> CleanContent:
    """Sanitize one entry's content and make its excerpt."""
    if not is_html:
        raw = "".join(f"<p>{html.escape(part.strip())}</p>" for part in re.split(r"\n\s*\n", raw) if part.strip())
    return _local_cleaner().clean(raw, base_url)


def clean_text(raw: str | None, is_html: bool = True) -> str:
    """Return a title, name or tag as plain text: markup dropped, entities decoded once."""
    if not raw:
        return ""
    text = _TextExtractor.extract(raw) if is_html else raw
    text = _CONTROL_CHARS.sub("", unicodedata.normalize("NFC", text))
    return " ".join(text.split())


def safe_url(url: str | None, base: str | None = None) -> str | None:
    """Return `url` made absolute against `base` if its scheme is allowed, else None."""
    if not url:
        return None
    # Browsers ignore ASCII whitespace and control characters inside URLs, so
    # "java\tscript:" is a javascript: URL; judge the URL as they will.
    candidate = _URL_JUNK.sub("", html.unescape(url))
    if not candidate:
        return None
    absolute = urljoin(base, candidate) if base else candidate
    try:
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ALLOWED_PROTOCOLS:
        return None
    if parts.scheme.lower() in ("http", "https") and not parts.hostname:
        return None
    return absolute


def make_excerpt(text: str, words: int = EXCERPT_WORDS) -> str:
    """Return the first `words` words of `text`, cut on a word boundary."""
    parts = text.split()
    if len(parts) <= words:
        return " ".join(parts)
    return " ".join(parts[:words]).rstrip(",;:–—-") + " …"


class _Cleaner:
    # The parser keeps state between calls: one cleaner per thread.

    def __init__(self) -> None:
        self.parser = html5lib_shim.BleachHTMLParser(
            # The elements to drop must reach the tree to be dropped whole;
            # bleach's tokenizer would otherwise turn them into bare text.
            tags=ALLOWED_TAGS | DROP_WITH_CONTENTS,
            strip=True,
            consume_entities=False,
            namespaceHTMLElements=False,
        )
        self.walker = html5lib_shim.getTreeWalker("etree")
        self.serializer = html5lib_shim.BleachHTMLSerializer(
            quote_attr_values="always",
            omit_optional_tags=False,
            escape_lt_in_attrs=True,
            resolve_entities=False,
            sanitize=False,
            alphabetical_attributes=False,
        )

    def clean(self, raw: str, base_url: str | None) -> CleanContent:
        if not raw.strip():
            return CleanContent(html="", text="", excerpt="")
        fragment = self.parser.parseFragment(raw)
        _drop_unsafe_elements(fragment, base_url)
        text = _plain_text(fragment)
        stream = BleachSanitizerFilter(
            source=self.walker(fragment),
            allowed_tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            allowed_protocols=ALLOWED_PROTOCOLS,
            strip_disallowed_tags=True,
            strip_html_comments=True,
            css_sanitizer=None,
        )
        cleaned = self.serializer.render(_UrlFilter(stream, base_url)).strip()
        return CleanContent(html=cleaned, text=text, excerpt=make_excerpt(text))


_local = threading.local()


def _local_cleaner() -> _Cleaner:
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = _Cleaner()
    return cleaner


def _drop_unsafe_elements(root: ElementTree.Element, base_url: str | None) -> None:
    """Remove DROP_WITH_CONTENTS elements, keeping the text that follows them.

    An iframe becomes a plain link to what it embedded, so the reader can
    still reach the video or map the author meant to show.
    """
    for parent in list(root.iter()):
        for index, child in reversed(list(enumerate(parent))):
            if not isinstance(child.tag, str):  # a comment; the sanitizer strips it
                continue
            # SVG and MathML elements carry their namespace ("{...svg}svg"):
            # nothing of theirs is allowed, and their parsing rules differ
            # from HTML's, the stuff of mutation XSS.
            foreign = child.tag.startswith("{")
            if not foreign and child.tag.lower() not in DROP_WITH_CONTENTS:
                continue
            replacement = None
            if not foreign and child.tag.lower() == "iframe":
                target = safe_url(child.get("src"), base_url)
                if target and urlsplit(target).scheme in ("http", "https"):
                    replacement = ElementTree.Element("p")
                    link = ElementTree.SubElement(replacement, "a", {"href": target})
                    link.text = "Open the embedded content: " + (urlsplit(target).hostname or target)
            tail = child.tail
            parent.remove(child)
            if replacement is not None:
                replacement.tail = tail
                parent.insert(index, replacement)
            elif tail:
                if index > 0:
                    previous = parent[index - 1]
                    previous.tail = (previous.tail or "") + tail
                else:
                    parent.text = (parent.text or "") + tail


def _plain_text(root: ElementTree.Element) -> str:
    """Return the text of a parsed fragment, blocks separated, entities decoded."""
    pieces: list[str] = []

    def walk(element: ElementTree.Element) -> None:
        if not isinstance(element.tag, str):  # a comment
            if element.tail:
                pieces.append(element.tail)
            return
        block = element.tag.lower() in BLOCK_TAGS
        if block:
            pieces.append("\n")
        if element.text:
            pieces.append(element.text)
        for child in element:
            walk(child)
        if block:
            pieces.append("\n")
        if element.tail:
            pieces.append(element.tail)

    walk(root)
    # The parser left entities as written (consume_entities=False).
    text = html.unescape("".join(pieces))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


class _UrlFilter(html5lib_shim.Filter):
    """Make URLs absolute and re-check them; mark links and images."""

    def __init__(self, source: Any, base_url: str | None):
        super().__init__(source)
        self.base_url = base_url

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EmptyTag"):
                token["data"] = self._attributes(token["name"], token["data"])
            yield token

    def _attributes(self, tag: str, attributes: dict[tuple[str | None, str], str]) -> dict[tuple[str | None, str], str]:
        result: dict[tuple[str | None, str], str] = {}
        for (namespace, name), value in attributes.items():
            if name in URL_ATTRIBUTES:
                absolute = safe_url(value, self.base_url)
                if absolute is None:
                    continue
                value = absolute
            elif name == "srcset":
                value = self._srcset(value)
                if not value:
                    continue
            result[(namespace, name)] = value
        if tag == "a" and (None, "href") in result:
            result[(None, "rel")] = "noopener noreferrer"
        if tag == "img":
            if (None, "src") not in result and (None, "srcset") not in result:
                return result
            result[(None, "loading")] = "lazy"
            result[(None, "decoding")] = "async"
        return result

    def _srcset(self, value: str) -> str:
        candidates = []
        for candidate in value.split(","):
            parts = candidate.split()
            if not parts:
                continue
            url = safe_url(parts[0], self.base_url)
            if url and urlsplit(url).scheme in ("http", "https"):
                candidates.append(" ".join([url, *parts[1:2]]))
        return ", ".join(candidates)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    @classmethod
    def extract(cls, markup: str) -> str:
        extractor = cls()
        extractor.feed(markup)
        extractor.close()
        return "".join(extractor.parts)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "template"):
            self.skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self.skip_depth:
            self.skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)
